"""The outbox page in a browser, in Chinese and in English: what happened to each message."""
from __future__ import annotations

from tests.web.test_outbox_console import fates  # noqa: F401 - the fixture: sent, moved, parked messages


def test_a_marketer_reads_what_happened_to_each_message(live_server, make, page, shot, fates):  # noqa: F811
    make.staff("marketer", username="mk-outbox", password="marketer-pass-1")
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "mk-outbox")
    page.fill("#password", "marketer-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")
    page.goto(f"{live_server.url}/console/outbox/?status=pending")
    assert "改用短信" in page.inner_text("[data-testid=outbox]")
    shot(page, "outbox-pending-zh", full_page=True)
    page.goto(f"{live_server.url}/console/outbox/?status=parked&lang=en")
    assert "Parked: no channel can carry it" in page.inner_text("[data-testid=outbox]")
    shot(page, "outbox-parked-en", full_page=True)
    page.goto(f"{live_server.url}/console/outbox/mass")
    shot(page, "outbox-mass-en", full_page=True)
