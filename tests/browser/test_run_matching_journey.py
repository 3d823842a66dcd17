"""Matching on a demo area, in a real browser with axe-core on every page: Preston's coordinator presses "Run
matching" (which queues a run; the worker runs it), reads each proposal's reasons, approves one and rejects another
with a reason; the provider (who sees the match on its offer's page) and the careers lead accept; the session is
scheduled; `flask reminders send`, a week before, mails both sides through real SMTP.

Preston, because there the demo has logins on both sides of an engine proposal: the Riversway careers lead and
Docklands Digital's contact. (In Burnley the one school with a login already has its request matched directly.)"""
import re
from datetime import date, datetime, time, timedelta

import pyotp
import pytest
from playwright.sync_api import Page, expect

from portal.extensions import db
from portal.models import Match, MatchOrigin, MatchStatus, User, utcnow
from portal.services import demo, jobs
from tests.browser import test_marketplace
from tests.browser.test_marketplace import arrive, error_summary_links_to, flash, go_to, sign_out
from tests.smtp import text_body

pytestmark = pytest.mark.browser

second_page = test_marketplace.second_page  # the fixture: another person at another computer

COORDINATOR_EMAIL = f"coordinator.preston@{demo.DEMO_DOMAIN}"
PROVIDER_EMAIL = f"partnerships@docklands-digital.{demo.DEMO_DOMAIN}"
LEAD_EMAIL = f"careers@riversway.{demo.DEMO_DOMAIN}"
SCHOOL = "Riversway High School"
OFFER = "Ask a software tester: a live online question time"  # Docklands Digital's, virtual
REJECTED_SCHOOL = "Deepdale Fields Academy"
LABEL = f"{OFFER} for {SCHOOL}"
ENGINE = "Proposed by matching"


def sign_in(page: Page, live_server, email: str, *, welcome: str, totp_secret: str | None = None) -> None:
    """As tests.browser.test_marketplace.sign_in, with the demo's shared password."""
    page.goto(live_server.path("auth.login"))
    arrive(page, "Sign in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if totp_secret:
        arrive(page, "Enter your two-step code")
        page.get_by_label("Code").fill(pyotp.TOTP(totp_secret).now())
        page.get_by_role("button", name="Continue").click()
    arrive(page, f"Welcome, {welcome}")


def seed_demo_area(live_server) -> str:
    """`flask seed-demo`, and two-step already set up for Preston's coordinator (the demo asks at first sign-in)."""
    secret = pyotp.random_base32()

    def seed():
        demo.seed_demo()
        coordinator = db.session.scalar(db.select(User).filter_by(email=COORDINATOR_EMAIL))
        coordinator.totp_secret, coordinator.totp_enabled_at = secret, utcnow()
        db.session.commit()

    live_server.run(seed)
    return secret


def engine_row(page: Page, school: str, offer: str | None = None):
    """The queue's row of the proposal matching made for this school (the demo also has direct requests)."""
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=ENGINE, exact=True)).filter(
        has_text=school)
    return row.filter(has_text=offer) if offer else row


def status_of(page: Page):
    return page.get_by_role("region", name="The match").locator("dt", has_text=re.compile("^Status$")).locator(
        "xpath=following-sibling::dd[1]")


def a_weekday_ahead(days: int) -> date:
    day = date.today() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def engine_matches() -> list[tuple[str, str, int]]:
    rows = db.session.scalars(db.select(Match).filter_by(origin=MatchOrigin.ENGINE).order_by(Match.id))
    return [(m.request.school.name, m.status, m.allocation) for m in rows]


def test_coordinator_runs_matching_on_the_demo_area_and_a_proposal_becomes_a_reminded_session(
        page, second_page, live_server):
    secret = seed_demo_area(live_server)

    # The coordinator opens the queue: only the demo's direct requests so far.
    sign_in(page, live_server, COORDINATOR_EMAIL, welcome="Imran Patel", totp_secret=secret)
    go_to(page, "Proposals", "Proposed matches")
    expect(page.get_by_role("cell", name=ENGINE, exact=True)).to_have_count(0)

    # Run matching: the button queues a run, the worker (`flask jobs work`) runs it, and the engine proposes
    # pairings, each with its reasons in plain words.
    page.get_by_role("button", name="Run matching").click()
    arrive(page, "Proposed matches")
    expect(flash(page)).to_contain_text("Matching for Preston is queued: the proposals appear here when it has run")
    runs = page.get_by_role("region", name="Latest matching runs")
    expect(runs).to_contain_text("Matching for Preston is queued.")
    assert live_server.run(engine_matches) == []
    assert live_server.run(lambda: jobs.work(once=True)) == jobs.WorkResult(done=1)
    page.reload()
    arrive(page, "Proposed matches")
    expect(runs).to_contain_text(re.compile(r"Matching for Preston proposed \d+ pairings"))
    proposed = live_server.run(engine_matches)
    assert len(proposed) >= 2, proposed
    expect(page.get_by_role("cell", name=ENGINE, exact=True)).to_have_count(len(proposed))

    chosen = engine_row(page, SCHOOL, OFFER)
    expect(chosen).to_have_count(1)
    reasons = chosen.get_by_role("listitem")
    expect(reasons.filter(has_text="Digital, a sector the school asked for")).to_have_count(1)
    expect(reasons.filter(has_text=re.compile("^virtual$"))).to_have_count(1)
    expect(reasons.filter(has_text="Year 12 eligible")).to_have_count(1)
    expect(reasons.filter(has_text=re.compile(r"of the school's Year 12 have"))).to_have_count(1)
    # the school's roster (4/6) gives the at-risk share; the allocation covers what the request still needs (a
    # provider's waiting offer to meet it already speaks for 90 of the 120), so no "N of the M asked for"
    expect(reasons.filter(has_text=re.compile(r"^\d+% at risk of NEET$"))).to_have_count(1)
    expect(reasons.filter(has_text=re.compile(r"^\d+ of the \d+ asked for$"))).to_have_count(0)
    other = engine_row(page, REJECTED_SCHOOL)
    expect(other).to_have_count(1)
    expect(other.get_by_role("listitem").filter(has_text=re.compile(r"\bmiles\b"))).to_have_count(1)

    # Approve the software tester's question time for Riversway ...
    chosen.get_by_role("button", name=re.compile("^Approve")).click()
    arrive(page, "Proposed matches")
    expect(flash(page)).to_contain_text(f"{LABEL} is approved")
    expect(engine_row(page, SCHOOL, OFFER)).to_have_count(0)

    # ... and reject Deepdale's CV clinic, which needs a reason (refused beside the field without one).
    engine_row(page, REJECTED_SCHOOL).get_by_role("link", name=re.compile("^Reject")).click()
    arrive(page, re.compile("^Reject"))
    page.get_by_role("button", name="Reject match").click()
    arrive(page, re.compile("^Reject"))
    error_summary_links_to(page, "Give a reason: it is emailed to the provider and the school.", "reason")
    page.get_by_label("Reason").fill("Deepdale's Year 11 mock interviews are already arranged with the council.")
    page.get_by_role("button", name="Reject match").click()
    arrive(page, "Proposed matches")
    expect(flash(page)).to_contain_text("is rejected")
    expect(engine_row(page, REJECTED_SCHOOL)).to_have_count(0)
    sign_out(page)

    def approved_id() -> int:
        return db.session.scalar(db.select(Match.id).filter_by(origin=MatchOrigin.ENGINE, status=MatchStatus.APPROVED))

    match_id = live_server.run(approved_id)
    match_url = live_server.path("matches.view", match_id=match_id)
    statuses = {(school, status) for school, status, _ in live_server.run(engine_matches)}
    assert (SCHOOL, "approved") in statuses and (REJECTED_SCHOOL, "rejected") in statuses

    # The provider finds the match on the offer's page and accepts it.
    sign_in(page, live_server, PROVIDER_EMAIL, welcome="Josh Parkinson")
    page.goto(live_server.path("offers.index"))
    arrive(page, re.compile("offers", re.IGNORECASE))
    page.get_by_role("link", name=OFFER, exact=True).first.click()
    arrive(page, OFFER)
    listed = page.get_by_role("region", name="Matches for this offer").get_by_role("row").filter(has_text=SCHOOL)
    expect(listed.filter(has_text="Approved")).to_have_count(1)
    page.locator(f'a[href="{match_url}"]').click()
    arrive(page, LABEL)
    expect(status_of(page)).to_have_text("Approved")
    page.get_by_role("button", name="Accept").click()
    arrive(page, LABEL)
    expect(flash(page)).to_contain_text("The match is confirmed once the other side accepts too.")

    # The careers lead accepts: confirmed. She schedules the session.
    lead = second_page
    sign_in(lead, live_server, LEAD_EMAIL, welcome="Mohammed Iqbal")
    lead.goto(match_url)
    arrive(lead, LABEL)
    lead.get_by_role("button", name="Accept").click()
    arrive(lead, LABEL)
    expect(flash(lead)).to_contain_text("the match is confirmed")
    expect(status_of(lead)).to_have_text("Confirmed")
    lead.get_by_role("link", name="Schedule the session").click()
    arrive(lead, f"Schedule {LABEL}")
    session_day = a_weekday_ahead(20)  # the request and the offer run from two weeks ahead
    lead.get_by_label("Date", exact=True).fill(session_day.isoformat())
    lead.get_by_label("Start time").fill("09:15")
    lead.get_by_label("Length in minutes").fill("40")
    lead.get_by_label("Video link").fill("https://meet.example.org/docklands-riversway")
    lead.get_by_label("Contact on the day").fill("Mohammed Iqbal, sixth-form office")
    lead.get_by_role("button", name="Save the session").click()
    arrive(lead, LABEL)
    expect(flash(lead)).to_contain_text("The session is scheduled")
    expect(status_of(lead)).to_have_text("Scheduled")

    page.reload()
    arrive(page, LABEL)
    expect(status_of(page)).to_have_text("Scheduled")

    # A week before, `flask reminders send` mails both sides through the SMTP server.
    now = datetime.combine(session_day, time(9, 15)) - timedelta(days=6, hours=23)
    def send_reminders():
        return live_server.app.test_cli_runner().invoke(args=["reminders", "send", "--now", now.isoformat()])

    result = live_server.run(send_reminders)
    assert result.exit_code == 0, result.output
    assert "Sent 1 reminder." in result.output
    reminders = [m for m in live_server.deliver_mail() if m["Subject"].startswith("Next week")]
    for address in (PROVIDER_EMAIL, LEAD_EMAIL):
        mine = [m for m in reminders if address in m["To"].lower()]
        assert len(mine) == 1, f"expected one reminder to {address}, got {[m['Subject'] for m in reminders]}"
        assert OFFER in mine[0]["Subject"] and OFFER in text_body(mine[0])
    assert "Sent 0 reminders." in live_server.run(send_reminders).output  # once only


def test_admin_tunes_an_areas_matching_weights(page, live_server):
    """The weights page passes axe with and without errors; a refused value keeps what was typed; saving shows the
    change, and the next run on the area uses it."""
    secret = pyotp.random_base32()

    def seed():
        demo.seed_demo()
        admin = db.session.scalar(db.select(User).filter_by(email=f"admin@{demo.DEMO_DOMAIN}"))
        admin.totp_secret, admin.totp_enabled_at = secret, utcnow()
        db.session.commit()

    live_server.run(seed)
    sign_in(page, live_server, f"admin@{demo.DEMO_DOMAIN}", welcome="Sam Whitaker", totp_secret=secret)
    page.goto(live_server.path("admin.areas"))
    arrive(page, re.compile("Areas"))
    page.get_by_role("link", name="Preston", exact=True).click()
    arrive(page, "Settings for Preston")
    page.get_by_role("link", name="Matching weights for Preston").click()
    arrive(page, "Matching weights for Preston")
    expect(page.get_by_label("Sector the school asked for")).to_have_value("20")

    page.get_by_label("Sector the school asked for").fill("-5")
    page.get_by_label("Row 2: points per unit").fill("0")
    page.get_by_label("Row 3: points per unit").fill("0")
    page.get_by_label("Row 1: points per unit").fill("3")
    page.get_by_role("button", name="Save weights").click()
    arrive(page, "Matching weights for Preston")  # axe with the errors shown
    error_summary_links_to(page, "Enter 0 or more.", "sector")
    error_summary_links_to(page, "Points per unit must be 0 or more and never fall from one row to the next.",
                           "load_tiers")
    expect(page.get_by_label("Sector the school asked for")).to_have_value("-5")

    page.get_by_label("Sector the school asked for").fill("60")
    page.get_by_label("Row 1: points per unit").fill("0")
    page.get_by_role("button", name="Save weights").click()
    arrive(page, "Matching weights for Preston")
    expect(flash(page)).to_contain_text("Matching weights for Preston saved.")
    expect(page.get_by_text("This area changes: load_tiers, sector.")).to_be_visible()

    def weights():
        from portal.services import matching

        return matching.build_instance(matching.area_named("Preston")).weights

    used = live_server.run(weights)
    assert used.sector == 60 and used.load_tiers == ((60, 0.0), (120, 0.0), (240, 0.0), (None, 45.0))

    page.get_by_role("button", name="Reset to defaults").click()
    arrive(page, "Reset the matching weights for Preston?")
    page.get_by_role("button", name="Reset to defaults").click()
    arrive(page, "Matching weights for Preston")
    expect(flash(page)).to_contain_text("Preston uses the default weights again.")
    assert live_server.run(weights).sector == 20
