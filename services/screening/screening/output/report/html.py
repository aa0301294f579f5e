"""The report as one HTML page (Jinja2, autoescaped: answers and labels are text)."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined

from screening.output.report.content import ReportContent

_ENVIRONMENT = Environment(
    loader=PackageLoader("screening.output.report", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(content: ReportContent) -> str:
    """The self-contained page: inline style, no script, no external resource."""
    return _ENVIRONMENT.get_template("report.html.j2").render(r=content)
