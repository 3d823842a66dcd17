"""A match after approval, in a real browser with axe-core on every page: the coordinator approves the visit the
school asked for, the provider and the careers lead each accept it, the careers lead schedules the session (a past
date is refused beside the field first), and the week-before reminder reaches both sides through real SMTP."""
import re
from datetime import date, datetime, time, timedelta

import pyotp
import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.models import Match
from portal.services import match_lifecycle
from tests.browser import test_marketplace
from tests.browser.test_marketplace import (
    COORDINATOR_EMAIL,
    LEAD_EMAIL,
    PROVIDER_EMAIL,
    VISIT_TITLE,
    arrive,
    error_summary_links_to,
    flash,
    go_to,
    seed_offers,
    seed_two_proposals,
    seed_world,
    sign_in,
    sign_out,
)
from tests.smtp import text_body

pytestmark = pytest.mark.browser

second_page = test_marketplace.second_page  # the fixture: another person at another computer

SCHOOL_NAME = "Padiham Green High School"
LABEL = f"{VISIT_TITLE} for {SCHOOL_NAME}"


def status_of(page: Page):
    """The Status value in the match's facts."""
    return page.get_by_role("region", name="The match").locator("dt", has_text=re.compile("^Status$")).locator(
        "xpath=following-sibling::dd[1]")


def a_weekday_ahead(days: int) -> date:
    day = date.today() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def test_approved_visit_is_accepted_scheduled_and_reminded(page, second_page, live_server):
    world = seed_world(live_server)
    offer_ids = seed_offers(live_server, world)
    secret = pyotp.random_base32()
    seed_two_proposals(live_server, world, offer_ids, secret)

    # The coordinator approves the visit the school asked for.
    sign_in(page, live_server, COORDINATOR_EMAIL, welcome="Rachel Holden", totp_secret=secret)
    go_to(page, "Proposals", "Proposed matches")
    page.get_by_role("button", name=re.compile(f"^Approve {re.escape(VISIT_TITLE)}")).click()
    arrive(page, "Proposed matches")
    expect(flash(page)).to_contain_text("is approved")
    sign_out(page)

    def visit_match_id() -> int:
        return db.session.scalar(db.select(Match.id).filter_by(offer_id=offer_ids[VISIT_TITLE]))

    match_url = f"{live_server.url}/matches/{live_server.run(visit_match_id)}"

    # The provider accepts.
    sign_in(page, live_server, PROVIDER_EMAIL, welcome="Neil Crabtree")
    page.goto(match_url)
    arrive(page, LABEL)
    expect(status_of(page)).to_have_text("Approved")
    page.get_by_role("button", name="Accept").click()
    arrive(page, LABEL)
    expect(flash(page)).to_contain_text("The match is confirmed once the other side accepts too.")
    expect(page.get_by_role("button", name="Accept")).to_have_count(0)
    expect(status_of(page)).to_have_text("Approved")

    # The careers lead, at the school, accepts too: the match is confirmed.
    lead = second_page
    sign_in(lead, live_server, LEAD_EMAIL, welcome="Joanne Whittaker")
    lead.goto(match_url)
    arrive(lead, LABEL)
    lead.get_by_role("button", name="Accept").click()
    arrive(lead, LABEL)
    expect(flash(lead)).to_contain_text("the match is confirmed")
    expect(status_of(lead)).to_have_text("Confirmed")

    # She schedules the session: a past date is refused beside the field, with everything else kept.
    lead.get_by_role("link", name="Schedule the session").click()
    arrive(lead, f"Schedule {LABEL}")
    lead.get_by_label("Date", exact=True).fill((date.today() - timedelta(days=1)).isoformat())
    lead.get_by_label("Start time").fill("10:00")
    lead.get_by_label("Length in minutes").fill("90")
    lead.get_by_label("Place").fill("Pennine Aerostructures, Widow Hill Road, Burnley, main reception")
    lead.get_by_label("Contact on the day").fill("Neil Crabtree, 01282 000000")
    lead.get_by_role("button", name="Save the session").click()
    arrive(lead, f"Schedule {LABEL}")  # axe also runs with the errors shown
    expect(lead.locator(".error-summary")).to_be_visible()
    error_summary_links_to(lead, "The session must start in the future.", "day")
    expect(lead.get_by_label("Date", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(lead.get_by_label("Contact on the day")).to_have_value("Neil Crabtree, 01282 000000")

    session_day = a_weekday_ahead(10)  # the offer runs from a week ahead for two months
    lead.get_by_label("Date", exact=True).fill(session_day.isoformat())
    lead.get_by_role("button", name="Save the session").click()
    arrive(lead, LABEL)
    expect(flash(lead)).to_contain_text("The session is scheduled")
    expect(status_of(lead)).to_have_text("Scheduled")
    expect(lead.get_by_role("region", name="The session")).to_contain_text("main reception")
    expect(lead.get_by_role("link", name="Change the session")).to_be_visible()

    # The provider sees it scheduled too.
    page.reload()
    arrive(page, LABEL)
    expect(status_of(page)).to_have_text("Scheduled")

    # Six days before the session, the reminders job mails both sides.
    now = datetime.combine(session_day, time(10, 0)) - timedelta(days=6)
    assert live_server.run(lambda: match_lifecycle.send_reminders(now=now)) == 1
    messages = live_server.deliver_mail()
    reminders = [m for m in messages if m["Subject"].startswith("Next week")]
    for address in (PROVIDER_EMAIL, LEAD_EMAIL):
        mine = [m for m in reminders if address in m["To"].lower()]
        assert len(mine) == 1, f"expected one reminder to {address}, got {[m['Subject'] for m in reminders]}"
        assert VISIT_TITLE in mine[0]["Subject"]
        assert VISIT_TITLE in text_body(mine[0])
    # Running it again sends nothing more.
    assert live_server.run(lambda: match_lifecycle.send_reminders(now=now)) == 0
