"""The NEET internship rota in a real browser, axe-core on every page: the coordinator creates a programme (a week
that is not a Monday is refused beside the field first), adds two interns, builds the rota, reads the engine's
report, moves one intern's week to another provider, and approves; the provider then sees its interns' weeks by
reference only, and the approval mail reaches it through real SMTP."""
from datetime import date, timedelta

import pyotp
import pytest
from playwright.sync_api import expect

from portal import geo
from portal.extensions import db
from portal.models import Intern, Offer, Placement, utcnow
from portal.vocab import Role
from tests.browser.test_marketplace import arrive, error_summary_links_to, flash, go_to, sign_in, sign_out
from tests.factories import make_area, make_offer, make_provider, make_user

pytestmark = pytest.mark.browser

COORDINATOR_EMAIL = "coordinator.burnley@example.org"
PROVIDER_EMAIL = "pat.mentor@pennine-aero.example"
PROVIDERS = ("Pennine Aerostructures Ltd", "Calder Foods Ltd", "Burnley General Hospital", "Weavers Digital Ltd",
             "Towneley Retail Ltd")


def first_monday() -> date:
    today = date.today()
    return today - timedelta(days=today.weekday()) + timedelta(weeks=3)


def seed(live_server, secret: str) -> None:
    """Burnley: its coordinator, and five providers in Burnley each offering an internship week for the next months
    (two interns a week); the first provider has a contact."""
    burnley = geo.exact_matches("Burnley")[0]

    def create():
        area = make_area("Burnley")
        make_user(Role.COORDINATOR, areas=[area], email=COORDINATOR_EMAIL, name="Rachel Holden",
                  totp_secret=secret, totp_enabled_at=utcnow())
        for k, name in enumerate(PROVIDERS):
            provider = make_provider(area, name=name, town="Burnley", latitude=burnley.latitude + 0.01 * k,
                                     longitude=burnley.longitude)
            if k == 0:
                make_user(Role.PROVIDER, organisation=provider, email=PROVIDER_EMAIL, name="Pat Mentor")
            make_offer(provider, type="internship_week", title=f"A week at {name.split()[0]}", delivery="workplace",
                       year_groups=(), sessions=1, per_session=2, capacity=2, starts_on=date.today(),
                       ends_on=date.today() + timedelta(days=120), mentor_name=f"Mentor {k + 1}", paid=True,
                       weekly_wage_pence=20_000)
        db.session.commit()

    live_server.run(create)


def test_the_coordinator_builds_edits_and_approves_the_rota(page, live_server):
    secret = pyotp.random_base32()
    seed(live_server, secret)
    monday = first_monday()

    sign_in(page, live_server, COORDINATOR_EMAIL, welcome="Rachel Holden", totp_secret=secret)
    go_to(page, "Internships", "Internship programmes")
    page.get_by_role("link", name="Create a programme").click()
    arrive(page, "New internship programme")
    page.get_by_label("Cohort name").fill("Spring 2027 cohort")
    page.get_by_label("Pre-start coaching date").fill((monday - timedelta(days=3)).isoformat())
    page.get_by_label("Week 1 starts (a Monday)").fill(monday.isoformat())
    page.get_by_label("Week 2 starts (a Monday)").fill((monday + timedelta(days=8)).isoformat())  # a Tuesday
    page.get_by_label("Week 3 starts (a Monday)").fill((monday + timedelta(weeks=2)).isoformat())
    page.get_by_label("Week 4 starts (a Monday)").fill((monday + timedelta(weeks=3)).isoformat())
    page.get_by_role("button", name="Save programme").click()
    arrive(page, "New internship programme")
    error_summary_links_to(page, f"Week 2 must start on a Monday: {(monday + timedelta(days=8)):%a} "
                                 f"{(monday + timedelta(days=8)).day} {(monday + timedelta(days=8)):%b %Y} is a "
                                 "Tuesday.", "week2_on")
    expect(page.get_by_label("Cohort name")).to_have_value("Spring 2027 cohort")
    page.get_by_label("Week 2 starts (a Monday)").fill((monday + timedelta(weeks=1)).isoformat())
    page.get_by_role("button", name="Save programme").click()
    arrive(page, "Spring 2027 cohort")
    expect(flash(page)).to_contain_text("Add its interns next")

    for name, band, miles, months in (("Alex Example", "18 to 19", "10", "14"), ("Sam Example", "16 to 17", "8", "3")):
        page.get_by_role("link", name="Add an intern").click()
        arrive(page, "Add an intern")
        page.get_by_label("Name (optional)").fill(name)
        page.get_by_label(band).check()
        page.get_by_label("Town or village").fill("Burnley")
        page.get_by_label("How far they can travel (miles)").fill(miles)
        page.get_by_label("How long NEET (months)").fill(months)
        page.get_by_role("button", name="Save intern").click()
        arrive(page, "Spring 2027 cohort")
        expect(flash(page)).to_contain_text("is added")
    interns = page.get_by_role("table", name="Interns on Spring 2027 cohort")
    expect(interns).to_contain_text("Alex Example")
    expect(interns).to_contain_text("Sam Example")

    page.get_by_role("button", name="Build the rota").click()
    arrive(page, "Spring 2027 cohort")
    expect(flash(page)).to_contain_text("2 of 2 interns fully placed")
    expect(page.locator(".rota-report")).to_contain_text("2 of 2 interns have all four weeks placed")
    expect(page.locator(".rota-report")).to_contain_text("Every intern is fully placed.")
    rota = page.get_by_role("table", name="The rota: one row per intern, one column per placement week")
    expect(rota).to_contain_text("Proposed")

    # Move Alex's week 1 to the provider Alex does not have yet.
    def alex_and_spare():
        alex = db.session.scalar(db.select(Intern).filter_by(display_name="Alex Example"))
        used = {p.provider_id for p in db.session.scalars(db.select(Placement).filter_by(intern_id=alex.id))}
        spare = db.session.scalar(db.select(Offer).where(Offer.provider_id.not_in(used)).order_by(Offer.id))
        return alex.reference, f"{spare.provider.name}: {spare.title}", spare.provider.name

    reference, spare_label, spare_name = live_server.run(alex_and_spare)
    page.get_by_role("link", name=f"Change week 1 for {reference}").click()
    arrive(page, f"Week 1 for {reference}")
    page.get_by_label("Placement this week").select_option(label=spare_label)
    page.get_by_role("button", name="Save placement").click()
    arrive(page, "Spring 2027 cohort")
    expect(flash(page)).to_contain_text(f"{reference}'s week 1 is changed")
    alex_row = rota.get_by_role("row").filter(has_text=reference)
    expect(alex_row).to_contain_text(spare_name)
    expect(alex_row).to_contain_text("Chosen by the coordinator")

    page.get_by_role("button", name="Approve the rota").click()
    arrive(page, "Spring 2027 cohort")
    expect(flash(page)).to_contain_text("The rota is approved")
    expect(rota).to_contain_text("Approved")
    page.get_by_role("link", name="Printable list to hand to the interns").click()
    arrive(page, "Spring 2027 cohort: placements for the interns")
    expect(page.get_by_role("heading", name=f"Alex Example ({reference})")).to_be_visible()
    sign_out(page)

    # The provider was told by mail, references only, and sees its weeks.
    messages = live_server.mail_to(PROVIDER_EMAIL)
    assert len(messages) == 1 and "Interns are coming to you" in messages[0]["Subject"]
    body = messages[0].get_body(("plain",)).get_content()
    assert "Mentor 1" in body and "Example" not in body
    sign_in(page, live_server, PROVIDER_EMAIL, welcome="Pat Mentor")
    go_to(page, "Internship weeks", "Internship weeks")
    weeks = page.get_by_role("table", name="Your approved and completed internship weeks")
    expect(weeks).to_contain_text("Spring 2027 cohort")
    expect(weeks).to_contain_text("Mentor 1")
    expect(weeks).not_to_contain_text("Example")
    expect(page.get_by_role("button", name="Mark week completed")).to_have_count(0)  # the weeks are ahead
