"""What a person sees, in a real browser: Debian's Chromium driven by Playwright.

The console (sign in, the dead letter with the EHR's refusal, the replay button) and the
screening report (tier, due time, the patient's answers, the work-up). Screenshots go to
docs/screenshots/, which the README shows. Playwright never downloads a browser here: it
drives /usr/bin/chromium, and these tests skip, saying so, only where that is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from ehr_server import EhrServer
from support.console import dead_letter_and_delivered
from support.pipeline import register_notify, wait_for_states
from support.stack import TOKEN, Stack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Chromium is missing (apt-get install chromium); CI installs it",
)


@pytest.fixture
def page() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            yield context.new_page()
        finally:
            browser.close()


def test_console_and_report_as_an_operator_sees_them(
    page, pipeline: Stack, postgres_url: str, ehr_with_token: EhrServer
):
    from playwright.sync_api import expect

    delivered, dead = dead_letter_and_delivered(pipeline, postgres_url, ehr_with_token)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page.goto(f"{pipeline.notify_url}/console")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()

    problems = page.locator(f'#problems + table tr[data-response="{dead}"]')
    expect(problems).to_contain_text("dead-letter")
    expect(problems).to_contain_text("invalid_client")  # the EHR's OperationOutcome
    delivered_row = page.locator(f'#deliveries + table tr[data-response="{delivered}"]')
    expect(delivered_row).to_contain_text("urgent")
    expect(delivered_row).to_contain_text("Leading: Eosinophilic granulomatosis")
    expect(page.locator("#knowledge")).to_contain_text("neuroscreen-kb")
    page.screenshot(path=str(SCREENSHOTS / "console.png"), full_page=True)

    register_notify(ehr_with_token, pipeline)  # the operator fixed the registration
    problems.get_by_role("button", name="Replay").click()
    expect(page.get_by_role("status")).to_contain_text(f"Replay queued for response {dead}")
    assert wait_for_states(postgres_url, [dead], 60)[dead] == "notified"

    delivered_row.get_by_role("link", name="report").click()
    expect(page.locator("#tier")).to_have_text("Urgent: same-day assessment")
    expect(page.locator("#due")).to_contain_text("within 4 hours of screening")
    why = page.locator("#why")
    expect(why).to_contain_text("Have you suddenly been unable to lift your foot")
    expect(page.locator("#workup h3").first).to_have_text("Emergency: same-day assessment")
    expect(page.locator("#workup")).to_contain_text("ANCA with MPO and PR3 antibodies")
    expect(page.locator("#decision-support")).to_contain_text("not a diagnosis")
    page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True)
