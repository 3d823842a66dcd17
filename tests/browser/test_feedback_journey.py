"""The weekly feedback of an internship placement in a real browser, axe-core on every page: after the week's Friday
the mentor's link reaches the provider through real SMTP; the form refuses an answer without a rating (beside the
field and in the error summary), then takes the answer once; the coordinator reads it on the programme's feedback
page."""
from datetime import date, datetime, time, timedelta

import pyotp
import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Intern, InternshipProgramme, Placement, utcnow
from portal.services import internship_followup
from portal.vocab import Role
from tests.browser.test_marketplace import arrive, error_summary_links_to, flash, sign_in
from tests.factories import make_area, make_offer, make_provider, make_user

pytestmark = pytest.mark.browser

MENTOR_EMAIL = "dee.mentor@acme-engineering.example"
COORDINATOR_EMAIL = "coordinator.burnley@example.org"


def seed_programme(live_server, secret: str) -> tuple[int, datetime]:
    """Burnley's spring cohort, rota approved, one intern placed at Acme Engineering in week 1 (which ended last
    Friday or earlier this week). Returns the programme's id and the moment the week's feedback is due."""

    def create():
        area = make_area("Burnley")
        provider = make_provider(area, name="Acme Engineering Ltd")
        make_user(Role.PROVIDER, organisation=provider, email=MENTOR_EMAIL, name="Dee Mentor")
        make_user(Role.COORDINATOR, areas=[area], email=COORDINATOR_EMAIL, name="Rachel Holden",
                  totp_secret=secret, totp_enabled_at=utcnow())
        monday = date.today() - timedelta(days=date.today().weekday()) - timedelta(weeks=1)
        programme = InternshipProgramme(
            area_id=area.id, name="Spring cohort", coaching_on=monday - timedelta(days=7), week1_on=monday,
            week2_on=monday + timedelta(weeks=1), week3_on=monday + timedelta(weeks=2),
            week4_on=monday + timedelta(weeks=3), status="rota_approved")
        db.session.add(programme)
        db.session.flush()
        intern = Intern(programme_id=programme.id, area_id=area.id, reference="IJOURNEY1", display_name="Alex",
                        age_band="18-19", neet_months=7)
        db.session.add(intern)
        db.session.flush()
        offer = make_offer(provider, type="internship_week", mentor_name="Dee Mentor", paid=True)
        db.session.add(Placement(programme_id=programme.id, intern_id=intern.id, offer_id=offer.id,
                                 provider_id=provider.id, week_no=1, status="approved"))
        db.session.commit()
        return programme.id, datetime.combine(internship_followup.week_ends_on(programme, 1), time(17, 0))

    return live_server.run(create)


def test_the_mentor_answers_from_the_mailed_link_and_the_coordinator_reads_it(page, live_server):
    secret = pyotp.random_base32()
    programme_id, friday = seed_programme(live_server, secret)
    live_server.run(lambda: internship_followup.send_feedback_requests(now=friday))

    messages = live_server.mail_to(MENTOR_EMAIL)
    assert len(messages) == 1 and "How did week 1 go?" in messages[0]["Subject"]
    link = live_server.link_in(messages[0])

    # The mentor opens the link, without an account, and forgets the rating first.
    page.goto(link)
    arrive(page, "Feedback: Week 1 at Acme Engineering Ltd")
    page.get_by_label("What went well?").fill("Keen, asked good questions")
    page.get_by_role("button", name="Send feedback").click()
    arrive(page, "Feedback: Week 1 at Acme Engineering Ltd")
    error_summary_links_to(page, "Choose a rating from 1 to 5.", "rating")
    expect(page.get_by_label("What went well?")).to_have_value("Keen, asked good questions")

    page.get_by_label("4 — good").check()
    page.get_by_label("What could be better?").fill("More time on the shop floor")
    page.get_by_role("button", name="Send feedback").click()
    arrive(page, "Feedback given")
    expect(flash(page)).to_contain_text("Thank you: your feedback has been saved.")

    # A second visit says it is done.
    page.goto(link)
    arrive(page, "Feedback given")
    expect(page.get_by_role("button", name="Send feedback")).to_have_count(0)

    # The coordinator reads it on the programme's feedback page.
    sign_in(page, live_server, COORDINATOR_EMAIL, welcome="Rachel Holden", totp_secret=secret)
    page.goto(live_server.path("internship_followup.feedback", programme_id=programme_id))
    arrive(page, "Weekly feedback")
    table = page.get_by_role("table")
    expect(table).to_contain_text("4 out of 5")
    expect(table).to_contain_text("Keen, asked good questions")
    expect(table).to_contain_text("More time on the shop floor")
    expect(page.get_by_role("button", name="Make the intern's link for IJOURNEY1, week 1")).to_be_visible()


def test_coaching_control_group_completion_and_evaluation_pages(page, live_server):
    """The coordinator's other pages, each checked by axe: coaching recorded, a control-group member added (a bad
    number refused beside the field first), the programme completed, the follow-ups and the evaluation shown."""
    secret = pyotp.random_base32()
    programme_id, _friday = seed_programme(live_server, secret)
    sign_in(page, live_server, COORDINATOR_EMAIL, welcome="Rachel Holden", totp_secret=secret)
    page.goto(live_server.path("internship_followup.interns", programme_id=programme_id))
    arrive(page, "Interns and coaching")
    page.get_by_role("button", name="Record pre-start coaching for IJOURNEY1").click()
    arrive(page, "Interns and coaching")
    expect(flash(page)).to_contain_text("Pre-start coaching recorded for IJOURNEY1.")
    page.get_by_role("link", name="Add signposting for IJOURNEY1").click()
    arrive(page, "Signposting for IJOURNEY1")
    page.get_by_label("Next opportunity").fill("Level 2 engineering at Burnley College")
    page.get_by_role("button", name="Save signposting").click()
    arrive(page, "Interns and coaching")
    expect(page.get_by_role("table")).to_contain_text("Level 2 engineering at Burnley College")

    nav = page.get_by_role("navigation", name="This programme")
    nav.get_by_role("link", name="Control group").click()
    arrive(page, "Control group")
    page.get_by_label("Age").select_option("18-19")
    page.get_by_label("How long NEET, in months").fill("500")
    page.get_by_role("button", name="Add to the control group").click()
    arrive(page, "Control group")
    error_summary_links_to(page, "Enter a whole number of months from 0 to 120.", "neet_months")
    page.get_by_label("How long NEET, in months").fill("8")
    page.get_by_role("button", name="Add to the control group").click()
    arrive(page, "Control group")
    expect(flash(page)).to_contain_text("added to the control group")

    nav.get_by_role("link", name="Complete the programme").click()
    arrive(page, "Complete Spring cohort")
    page.get_by_role("button", name="Complete the programme").click()
    arrive(page, "Evaluation")
    expect(flash(page)).to_contain_text("6 follow-ups planned")
    page.get_by_role("navigation", name="This programme").get_by_role("link", name="3-month follow-up").click()
    arrive(page, "3-month follow-up")
    expect(page.get_by_role("table")).to_contain_text("Not due yet")
