"""A primary resource kit in a real browser, with axe-core on every page: a primary careers lead asks for a kit for
one class (an invalid year group first, refused beside the field with the rest kept), the provider marks it sent
(the school is mailed through real SMTP), the school records that the class used it, and the coordinator's primary
reach page shows one class, apart from the secondary target of four."""
import re

import pyotp
import pytest
from playwright.sync_api import expect

from portal.extensions import db
from portal.models import Offer, utcnow
from portal.vocab import Role
from tests.browser.test_marketplace import arrive, error_summary_links_to, flash, go_to, sign_in, sign_out
from tests.factories import make_area, make_offer, make_provider, make_school, make_user
from tests.smtp import text_body

pytestmark = pytest.mark.browser

PROVIDER_EMAIL = "amina@pennine-books.example"
LEAD_EMAIL = "gareth.lord@padiham-st-leonards.example"
COORDINATOR_EMAIL = "coordinator.burnley@example.org"
KIT_TITLE = "When I Grow Up: a KS1 careers kit"
SCHOOL_NAME = "Padiham St Leonard's Primary School"


def seed(live_server, secret: str) -> int:
    def create() -> int:
        area = make_area("Burnley")
        provider = make_provider(area, name="Pennine Books Ltd")
        make_user(Role.PROVIDER, organisation=provider, email=PROVIDER_EMAIL, name="Amina Hussain")
        school = make_school(area, name=SCHOOL_NAME, phase="primary", year_sizes={1: 30, 2: 30})
        make_user(Role.CAREERS_LEAD, organisation=school, email=LEAD_EMAIL, name="Gareth Lord")
        make_user(Role.COORDINATOR, email=COORDINATOR_EMAIL, name="Rachel Holden", areas=[area],
                  totp_secret=secret, totp_enabled_at=utcnow())
        kit = make_offer(provider, type="primary_kit", title=KIT_TITLE, year_groups=(0, 1, 2), sessions=1,
                         per_session=1, capacity=2, kit_stock=2,
                         description="Dressing-up, picture cards and a story about jobs people do.")
        db.session.commit()
        return kit.id

    return live_server.run(create)


def test_a_class_asks_for_a_kit_uses_it_and_the_coordinator_sees_it(page, live_server):
    secret = pyotp.random_base32()
    kit_id = seed(live_server, secret)

    # The primary careers lead finds the kit and asks for one for Oak class: no year group chosen at first.
    sign_in(page, live_server, LEAD_EMAIL, welcome="Gareth Lord")
    go_to(page, "Kits", "Primary resource kits")
    page.get_by_role("link", name=f"Ask for “{KIT_TITLE}”").click()
    arrive(page, f"Ask for “{KIT_TITLE}”")
    page.get_by_label("Class name").fill("Oak class")
    page.get_by_label("Pupils in the class").fill("28")
    page.get_by_label("Note for the provider").fill("Please send it to the school office.")
    page.get_by_role("button", name="Ask for the kit").click()
    arrive(page, f"Ask for “{KIT_TITLE}”")  # axe also runs with the errors shown
    error_summary_links_to(page, "Choose a year group your school teaches, from Reception to Year 6.", "year_group")
    expect(page.get_by_label("Year group")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Class name")).to_have_value("Oak class")
    expect(page.get_by_label("Pupils in the class")).to_have_value("28")
    assert live_server.run(lambda: db.session.get(Offer, kit_id).kit_stock) == 2  # nothing taken

    page.get_by_label("Year group").select_option(label="Year 1")
    page.get_by_role("button", name="Ask for the kit").click()
    arrive(page, "Primary resource kits")
    expect(flash(page)).to_contain_text(f"Requested “{KIT_TITLE}” for Oak class")
    requests = page.get_by_role("table", name="Kit requests, newest first")
    expect(requests).to_contain_text("Oak class (Year 1)")
    expect(requests).to_contain_text("Requested")
    assert live_server.run(lambda: db.session.get(Offer, kit_id).kit_stock) == 1
    sign_out(page)

    # The provider was mailed, sees the request (school and class size, no pupils) and marks it sent.
    to_provider = live_server.mail_to(PROVIDER_EMAIL)
    assert len(to_provider) == 1 and "Oak class" in text_body(to_provider[0])
    sign_in(page, live_server, PROVIDER_EMAIL, welcome="Amina Hussain")
    go_to(page, "Kit requests", "Kit requests")
    row = page.get_by_role("row", name=re.compile("Oak class"))
    expect(row).to_contain_text(SCHOOL_NAME)
    expect(row).to_contain_text("28")
    row.get_by_role("button", name=re.compile("^Mark as sent")).click()
    arrive(page, "Kit requests")
    expect(flash(page)).to_contain_text("Marked as sent")
    expect(page.get_by_role("row", name=re.compile("Oak class"))).to_contain_text("Sent")
    sign_out(page)

    # The school is mailed; the careers lead records that the class used the kit (a confirmation step first).
    to_school = [m for m in live_server.mail_to(LEAD_EMAIL) if m["Subject"].startswith("Kit on its way")]
    assert len(to_school) == 1
    sign_in(page, live_server, LEAD_EMAIL, welcome="Gareth Lord")
    page.goto(live_server.link_in(to_school[0]))
    arrive(page, "Primary resource kits")
    page.get_by_role("link", name=re.compile("^Record that the class used it")).click()
    arrive(page, "Record that the class used the kit")
    page.get_by_role("button", name="Yes, the class used it").click()
    arrive(page, "Primary resource kits")
    expect(flash(page)).to_contain_text("was used")
    expect(page.get_by_role("table", name="Kit requests, newest first")).to_contain_text("Used")
    sign_out(page)

    # The coordinator's primary reach: one class, one school, labelled apart from the secondary target.
    sign_in(page, live_server, COORDINATOR_EMAIL, welcome="Rachel Holden", totp_secret=secret)
    go_to(page, "Primary reach", "Primary reach")
    expect(page.locator(".lead")).to_contain_text("separate from the secondary target of four")
    totals = page.get_by_role("table", name=re.compile("^Primary encounters"))
    expect(totals.get_by_role("row", name=re.compile("^Classes reached"))).to_contain_text("1")
    expect(totals.get_by_role("row", name=re.compile("^Schools reached"))).to_contain_text("1 of 1")
    school_row = page.get_by_role("table", name="Primary reach by school in the period").get_by_role(
        "row", name=re.compile(SCHOOL_NAME))
    expect(school_row).to_contain_text("28")
