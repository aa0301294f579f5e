"""The report as a PDF, from the same content model as the HTML (fpdf2, pure Python).

fpdf2's built-in Helvetica needs no font file and no system package; it covers
Latin-1, which holds every name the report uses ("Sjögren's disease"). Other
characters are spelt in ASCII (``\u2265`` as ``>=``), never dropped silently.
The creation date is the screening's, so the same screening gives the same bytes.
"""

from __future__ import annotations

from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from screening.output.report.answers_text import QuotedAnswer
from screening.output.report.content import Reason, ReportContent, SuspicionLine

_SPELT = str.maketrans(
    {
        "\u2265": ">=",
        "\u2264": "<=",
        "\u2013": "-",
        "\u2014": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u2192": "->",
        "\u00b7": "-",
        "\u2022": "-",
        "\u00d7": "x",
        "\u00b5": "u",
    }
)
_TIER_COLOUR = {
    "urgent": (185, 28, 28),
    "high": (194, 65, 12),
    "moderate": (161, 98, 7),
    "low": (107, 114, 128),
}


def _latin1(text: str) -> str:
    return text.translate(_SPELT).encode("latin-1", "replace").decode("latin-1")


class _Page:
    """A thin writer: headings, paragraphs and indented answer lists."""

    def __init__(self, created: datetime) -> None:
        self.pdf = FPDF(format="A4")
        self.pdf.set_creation_date(created)
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.set_margins(18, 15, 18)
        self.pdf.add_page()

    def text(self, text: str, *, size: float = 10, style: str = "", indent: float = 0) -> None:
        self.pdf.set_font("Helvetica", style, size)
        width = self.pdf.epw - indent
        for line in self._wrapped(_latin1(text), width):
            self.pdf.set_x(self.pdf.l_margin + indent)
            self.pdf.cell(width, size * 0.5, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def _wrapped(self, text: str, width: float) -> list[str]:
        """Word-wrapped lines, measured a word at a time.

        fpdf2's multi_cell measures the line again for every character it adds, which
        made the PDF cost over 100 ms of CPU per screening; this is linear.
        """
        space = self.pdf.get_string_width(" ")
        lines: list[str] = []
        words: list[str] = []
        used = 0.0
        for word in text.split():
            size = self.pdf.get_string_width(word)
            if words and used + space + size > width:
                lines.append(" ".join(words))
                words, used = [], 0.0
            used += (space if words else 0.0) + size
            words.append(word)
        return [*lines, " ".join(words)] if words else lines or [""]

    def heading(self, text: str) -> None:
        self.pdf.ln(3)
        self.text(text, size=12, style="B")
        y = self.pdf.get_y()
        self.pdf.set_draw_color(200, 200, 200)
        self.pdf.line(self.pdf.l_margin, y, self.pdf.l_margin + self.pdf.epw, y)
        self.pdf.ln(1)

    def answers(self, answers: tuple[QuotedAnswer, ...]) -> None:
        for item in answers:
            self.text(f"{item.question}  {item.answer}", size=9, indent=5)

    def reason(self, reason: Reason) -> None:
        self.text(reason.label, style="B")
        self.answers(reason.answers)
        if reason.source:
            self.text(f"Source: {reason.source}", size=8, indent=5)

    def suspicion(self, line: SuspicionLine) -> None:
        self.text(f"{line.level.capitalize()}: {line.condition}", style="B")
        if line.raised_by:
            self.text("Raised by:", size=9, indent=3)
            self.answers(line.raised_by)
        if line.lowered_by:
            self.text("Lowered by:", size=9, indent=3)
            self.answers(line.lowered_by)
        if line.modifiers:
            self.text("Modifiers applied: " + "; ".join(line.modifiers), size=9, indent=3)


def render_pdf(content: ReportContent, created: datetime) -> bytes:
    page = _Page(created)
    pdf = page.pdf
    pdf.set_fill_color(*_TIER_COLOUR.get(content.tier, _TIER_COLOUR["low"]))
    pdf.rect(pdf.l_margin - 6, pdf.get_y(), 3, 24, style="F")
    page.text(content.title, size=9)
    page.text(content.tier_display, size=18, style="B")
    page.text(f"Due: {content.due}", style="B")
    page.text(
        f"{content.patient} - answers {content.response} - screened {content.screened_at}", size=8
    )
    if content.summary:
        pdf.ln(2)
        page.text(content.summary)
    page.heading("Why, in the patient's own answers")
    for reason in content.why:
        page.reason(reason)
    if not content.why:
        page.text("No rule raised the tier above its default.")
    if content.patterns:
        page.heading("Pattern")
        for pattern in content.patterns:
            page.reason(pattern)
    page.heading("Suspicions, most suspected first")
    for line in content.ranked:
        page.suspicion(line)
    if not content.ranked:
        page.text("No condition is suspected on these answers.")
    if content.listed:
        page.text("Listed, not ranked (too few independent answers to lead)", style="I")
        for line in content.listed:
            page.suspicion(line)
    if content.alternatives:
        page.heading("Other causes weighed")
        for reason in content.alternatives:
            page.reason(reason)
    if content.unanswered:
        page.heading("Unanswered questions that matter")
        for item in content.unanswered:
            page.text(f"{item.question}: {item.why}", size=9)
    page.heading("Suggested work-up")
    for section in content.workup:
        page.text(section.title, style="B")
        for step in section.steps:
            page.text(f"- {step.name}: {step.why}" if step.why else f"- {step.name}", indent=3)
    if not content.workup:
        page.text("No work-up proposed by the screen.")
    if content.sources:
        page.heading("Sources")
        for n, source in enumerate(content.sources, 1):
            page.text(f"{n}. {source}", size=8)
    pdf.ln(3)
    page.text(content.decision_support, style="B")
    page.text(f"Knowledge base: {content.knowledge}. Generated by NeuroScreen.", size=8)
    return bytes(pdf.output())
