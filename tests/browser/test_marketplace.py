"""The marketplace in a real browser, mail read from the real SMTP server, axe-core on every page.

A provider publishes a levy-funded apprenticeship place and a workplace visit; a careers lead finds the
visit by distance and requests it; a provider offers to meet a school's open request; a coordinator sees
the proposals, and one disappears when the school withdraws its request.
"""
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pyotp
import pytest
from playwright.sync_api import Page, expect

from portal import geo
from portal.extensions import db
from portal.models import Area, Match, MatchStatus, Offer, Organisation, SchoolRequest, User, utcnow
from portal.services import proposals
from portal.services.proposals import MeetingOffer, OfferRequest
from portal.vocab import Role
from tests.browser import axe_check
from tests.factories import PASSWORD, make_area, make_offer, make_provider, make_request, make_school, make_user
from tests.smtp import text_body

pytestmark = pytest.mark.browser

PROVIDER_EMAIL = "neil@pennine-aero.example"
LEAD_EMAIL = "joanne.whittaker@padiham-high.example"
COORDINATOR_EMAIL = "coordinator.burnley@example.org"
SENTINEL = "SENTINEL-NOTES"
VISIT_TITLE = "Factory floor visit: how aircraft wings are made"
FAR_VISIT_TITLE = "Riverside warehouse visit"
TALK_TITLE = "Meet our engineering apprentices"


@dataclass(frozen=True)
class World:
    provider_id: int
    school_id: int
    far_school_id: int
    far_provider_id: int


def seed_world(live_server) -> World:
    """Burnley: a verified provider in Burnley with a contact, a school in Padiham (about 3 miles away) with a
    careers lead, a school in Preston (about 19 miles away) and a provider there too."""
    burnley, padiham, preston = (geo.exact_matches(town)[0] for town in ("Burnley", "Padiham", "Preston"))

    def create() -> World:
        area = make_area("Burnley")
        provider = make_provider(area, name="Pennine Aerostructures Ltd", town="Burnley",
                                 latitude=burnley.latitude, longitude=burnley.longitude)
        make_user(Role.PROVIDER, organisation=provider, email=PROVIDER_EMAIL, name="Neil Crabtree")
        school = make_school(area, name="Padiham Green High School", town="Padiham",
                             latitude=padiham.latitude, longitude=padiham.longitude)
        make_user(Role.CAREERS_LEAD, organisation=school, email=LEAD_EMAIL, name="Joanne Whittaker")
        far_school = make_school(area, name="Ribbleton Academy", town="Preston",
                                 latitude=preston.latitude, longitude=preston.longitude)
        far_provider = make_provider(area, name="Ribble Logistics Ltd", town="Preston",
                                     latitude=preston.latitude, longitude=preston.longitude)
        db.session.commit()
        return World(provider.id, school.id, far_school.id, far_provider.id)

    return live_server.run(create)


def arrive(page: Page, heading: str | re.Pattern) -> None:
    """We are on the page with this <h1>, and axe-core finds nothing serious or critical on it."""
    expect(page.locator("h1")).to_have_text(heading)
    axe_check(page)


def sign_in(page: Page, live_server, email: str, *, welcome: str, totp_secret: str | None = None) -> None:
    page.goto(live_server.path("auth.login"))
    arrive(page, "Sign in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if totp_secret:
        arrive(page, "Enter your two-step code")
        page.get_by_label("Code").fill(pyotp.TOTP(totp_secret).now())
        page.get_by_role("button", name="Continue").click()
    arrive(page, f"Welcome, {welcome}")


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_contain_text("You have signed out")
    axe_check(page)


def go_to(page: Page, nav_label: str, heading: str | re.Pattern) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=nav_label, exact=True).click()
    arrive(page, heading)


def flash(page: Page):
    return page.get_by_role("status")


def error_summary_links_to(page: Page, message: str, field_id: str) -> None:
    """The error summary lists the message as a link to the field, and the same message stands beside it."""
    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    link = summary.get_by_role("link", name=message)
    expect(link).to_have_attribute("href", f"#{field_id}")
    expect(page.locator(f"#{field_id}-error")).to_have_text(message)
    expect(page.locator(f"#{field_id}")).to_be_attached()


def day(value: date) -> str:
    return value.isoformat()


@pytest.fixture
def second_page(browser, live_server):
    """Another person at another computer: a browser context of its own, with its own cookies."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_provider_publishes_a_levy_funded_place_and_a_workplace_visit(page, live_server):
    seed_world(live_server)
    today = date.today()
    sign_in(page, live_server, PROVIDER_EMAIL, welcome="Neil Crabtree")

    go_to(page, "Offers", "Offers")
    expect(page.locator("main")).to_contain_text("No offers yet")
    page.get_by_role("link", name="Create an offer").first.click()
    arrive(page, "Create an offer")
    page.get_by_role("button", name="Continue").click()  # nothing chosen: told to choose
    arrive(page, "Create an offer")
    expect(page.get_by_role("alert")).to_contain_text("Choose the kind of offer.")
    page.get_by_label("Levy-funded apprenticeship place").check()
    page.get_by_role("button", name="Continue").click()
    arrive(page, "New offer: levy-funded apprenticeship place")

    page.get_by_label("Title", exact=True).fill("Level 3 engineering technician, levy-funded")
    page.get_by_label("Description", exact=True).fill("We fund a local employer's apprentice from our levy.")
    page.get_by_label("Sector").select_option(label="Engineering and manufacturing")
    expect(page.get_by_label("At the workplace")).to_be_checked()  # the type's usual delivery
    page.get_by_label("Places", exact=True).fill("2")
    page.get_by_label("First date it can run").fill(day(today + timedelta(days=30)))
    page.get_by_label("Last date it can run").fill(day(today + timedelta(days=10)))  # before the start: wrong
    page.get_by_label("Year 12", exact=True).check()
    page.get_by_label("Year 13", exact=True).check()
    page.get_by_label("Levy funding available (£)").fill("15,000")
    page.get_by_label("Apprenticeship standard").fill("Engineering technician")
    page.get_by_label("Apprenticeship level").fill("3")
    page.get_by_label("Date the levy funds expire").fill(day(today + timedelta(days=200)))
    page.get_by_role("button", name="Save and publish").click()

    arrive(page, "New offer: levy-funded apprenticeship place")
    error_summary_links_to(page, "The end date must be the same as or after the start date.", "ends_on")
    expect(page.get_by_label("Last date it can run")).to_have_attribute("aria-invalid", "true")
    # Everything else typed is still there.
    expect(page.get_by_label("Title", exact=True)).to_have_value("Level 3 engineering technician, levy-funded")
    expect(page.get_by_label("Year 13", exact=True)).to_be_checked()
    expect(page.get_by_label("Apprenticeship standard")).to_have_value("Engineering technician")
    page.get_by_label("Last date it can run").fill(day(today + timedelta(days=120)))
    page.get_by_role("button", name="Save and publish").click()

    arrive(page, "Level 3 engineering technician, levy-funded")
    expect(flash(page)).to_contain_text("published")
    details = page.get_by_role("region", name="Details")
    expect(details).to_contain_text("£15,000")
    expect(details).to_contain_text("Engineering technician")

    # A workplace visit, saved as a draft without the safeguarding declarations.
    go_to(page, "Offers", "Offers")
    page.get_by_role("link", name="Create an offer").first.click()
    arrive(page, "Create an offer")
    page.get_by_label("Workplace visit").check()
    page.get_by_role("button", name="Continue").click()
    arrive(page, "New offer: workplace visit")
    page.get_by_label("Title", exact=True).fill(VISIT_TITLE)
    page.get_by_label("Sector").select_option(label="Engineering and manufacturing")
    page.get_by_label("Number of sessions").fill("2")
    page.get_by_label("Pupils per session").fill("15")
    page.get_by_label("First date it can run").fill(day(today + timedelta(days=14)))
    page.get_by_label("Last date it can run").fill(day(today + timedelta(days=90)))
    page.get_by_label("Year 9", exact=True).check()
    page.get_by_label("Year 10", exact=True).check()
    page.get_by_role("button", name="Save draft").click()
    arrive(page, VISIT_TITLE)
    expect(flash(page)).to_contain_text("saved as a draft")

    # Publishing says what is missing.
    page.get_by_role("button", name="Publish").click()
    arrive(page, VISIT_TITLE)
    explained = flash(page)
    expect(explained).to_contain_text("This offer cannot be published yet")
    expect(explained).to_contain_text("supervised by school staff throughout")
    expect(explained).to_contain_text("risk assessment")
    expect(explained).to_contain_text("employers' liability insurance")
    expect(explained).to_contain_text("name your safeguarding contact")
    expect(page.get_by_role("region", name="At a glance")).to_contain_text("Draft")

    # The edit form shows the same, beside the fields, when publishing from it without them.
    page.get_by_role("link", name=f"Edit {VISIT_TITLE}").click()
    arrive(page, f"Edit {VISIT_TITLE}")
    page.get_by_role("button", name="Save and publish").click()
    arrive(page, f"Edit {VISIT_TITLE}")
    error_summary_links_to(
        page, "A workplace visit cannot be published until you confirm that a risk assessment has been done.",
        "risk_assessment_done")
    page.get_by_label("Our volunteers will be supervised by school staff throughout").check()
    page.get_by_label("We have done a risk assessment for this activity").check()
    page.get_by_label("We hold employers' liability insurance").check()
    page.get_by_label("Named safeguarding contact").fill("Neil Crabtree, 01632 960123")
    page.get_by_role("button", name="Save and publish").click()
    arrive(page, VISIT_TITLE)
    expect(page.get_by_role("region", name="At a glance")).to_contain_text("Published")

    go_to(page, "Offers", "Offers")
    levy = page.get_by_role("row", name=re.compile("Level 3 engineering technician"))
    expect(levy.locator("td")).to_have_text(
        [re.compile("Level 3 engineering technician"), "Levy-funded apprenticeship place", "Published",
         re.compile(".+"), "2 places", "2", "0", "0"])
    visit = page.get_by_role("row", name=re.compile(VISIT_TITLE))
    expect(visit.locator("td")).to_have_text(
        [VISIT_TITLE, "Workplace visit", "Published", re.compile(".+"), "30 pupils", "30", "0", "0"])


def seed_offers(live_server, world: World) -> dict[str, int]:
    """Published offers: the Burnley provider's workplace visit (30 pupils) and careers talk, and a visit
    from the provider in Preston; returns their ids by title."""

    def create() -> dict[str, int]:
        provider = db.session.get(Organisation, world.provider_id)
        far_provider = db.session.get(Organisation, world.far_provider_id)
        offers = [
            make_offer(provider, type="workplace_visit", title=VISIT_TITLE, delivery="workplace", sessions=2,
                       per_session=15, year_groups=(9, 10), max_travel_miles=None),
            make_offer(provider, title=TALK_TITLE, delivery="in_school", sessions=2, per_session=30,
                       year_groups=(9, 10, 11)),
            make_offer(far_provider, type="workplace_visit", title=FAR_VISIT_TITLE, delivery="workplace",
                       sector="transport", year_groups=(9, 10), max_travel_miles=None),
        ]
        db.session.commit()
        return {offer.title: offer.id for offer in offers}

    return live_server.run(create)


def test_careers_lead_finds_the_visit_by_distance_and_requests_it(page, live_server):
    world = seed_world(live_server)
    seed_offers(live_server, world)
    sign_in(page, live_server, LEAD_EMAIL, welcome="Joanne Whittaker")

    go_to(page, "Find offers", "Find offers")
    # Unfiltered, nearest first: both visits, the one 3 miles away before the one 20 miles away.
    titles = page.get_by_role("table").locator("tbody th")
    expect(titles).to_have_count(3)
    order = titles.all_inner_texts()
    assert order.index(VISIT_TITLE) < order.index(FAR_VISIT_TITLE)

    page.get_by_label("Type of encounter").select_option(label="Workplace visit")
    page.get_by_label("Within (miles)").fill("10")
    page.get_by_label("Sort").select_option(label="Nearest first")
    page.get_by_role("button", name="Search").click()
    arrive(page, "Find offers")
    # The search is in the address, so it can be bookmarked or shared.
    assert re.search(r"within=10", page.url) and re.search(r"sort=distance", page.url)
    assert re.search(r"type=workplace_visit", page.url)
    expect(page.get_by_label("Within (miles)")).to_have_value("10")
    result = page.get_by_role("row", name=re.compile(VISIT_TITLE))
    expect(result).to_contain_text("3.3 miles")
    expect(result).to_contain_text("30 pupils left")
    expect(result).to_contain_text("Pennine Aerostructures Ltd")
    expect(page.get_by_role("table")).not_to_contain_text(FAR_VISIT_TITLE)
    expect(page.get_by_role("table")).not_to_contain_text(TALK_TITLE)
    expect(page.locator("caption")).to_have_text("1 offer")

    result.get_by_role("link", name=VISIT_TITLE, exact=True).click()
    arrive(page, VISIT_TITLE)
    page.get_by_role("link", name="Request this offer").click()
    arrive(page, "Request this offer")

    # More pupils than there are places: told beside the field, the rest kept.
    page.get_by_label("Number of pupils").fill("31")
    page.get_by_label("Year 9", exact=True).check()
    page.get_by_label("Message to the provider").fill("Our Year 9 engineering club would love to come.")
    page.get_by_role("button", name="Send request").click()
    arrive(page, "Request this offer")
    error_summary_links_to(page, "Ask for 1 to 30: this offer has 30 pupils left.", "pupils")
    expect(page.get_by_label("Year 9", exact=True)).to_be_checked()
    expect(page.get_by_label("Message to the provider")).to_have_value(
        "Our Year 9 engineering club would love to come.")

    page.get_by_label("Number of pupils").fill("20")
    page.get_by_role("button", name="Send request").click()
    arrive(page, f"Request for: {VISIT_TITLE}")
    expect(flash(page)).to_contain_text("has been sent to Pennine Aerostructures Ltd")
    proposal = page.get_by_role("region", name="Proposals and matches").get_by_role(
        "row", name=re.compile(VISIT_TITLE))
    expect(proposal.locator("td")).to_have_text(
        [VISIT_TITLE, "Pennine Aerostructures Ltd", "20", "Proposed", re.compile("Padiham Green High School")])

    go_to(page, "Requests", "Requests")
    row = page.get_by_role("row", name=re.compile(VISIT_TITLE))
    expect(row.locator("td")).to_have_text(
        [f"Request for: {VISIT_TITLE}", "Workplace visit", "Year 9", "20", re.compile(".+"), re.compile(".+"), "1",
         "None yet"])
    sign_out(page)

    # The provider sees one request waiting on the visit; proposing holds no places yet.
    sign_in(page, live_server, PROVIDER_EMAIL, welcome="Neil Crabtree")
    go_to(page, "Offers", "Offers")
    visit = page.get_by_role("row", name=re.compile(VISIT_TITLE))
    expect(visit.locator("td")).to_have_text(
        [VISIT_TITLE, "Workplace visit", "Published", re.compile(".+"), "30 pupils", "30", "1", "0"])

    # And was told by mail.
    (message,) = live_server.mail_to(PROVIDER_EMAIL)
    assert message["Subject"] == f"Padiham Green High School has requested {VISIT_TITLE}"
    body = text_body(message)
    assert "20 pupils" in body and "Year 9" in body
    assert live_server.link_in(message) == live_server.url + live_server.path(
        "offers.view", offer_id=live_server.run(lambda: db.session.scalar(
            db.select(Offer.id).filter_by(title=VISIT_TITLE))))


def test_provider_offers_to_meet_an_open_request(page, live_server):
    world = seed_world(live_server)
    seed_offers(live_server, world)

    def requests():
        school = db.session.get(Organisation, world.school_id)
        far_school = db.session.get(Organisation, world.far_school_id)
        make_request(school, title="Year 9 talks about engineering", wanted_types=("careers_talk",),
                     year_groups=(9,), pupils=25, sectors=["engineering"],
                     notes=f"{SENTINEL}: two pupils in this group have an EHCP.")
        make_request(far_school, title="Talks for Year 10", wanted_types=("careers_talk",), year_groups=(10,),
                     pupils=40, notes=f"{SENTINEL}: ask for Mr Patel at reception.")
        # Nothing of theirs could serve this one: a mentoring request is not shown to them.
        make_request(school, title="Mentors for Year 11", wanted_types=("mentoring",), year_groups=(11,),
                     pupils=10, notes=SENTINEL)
        db.session.commit()

    live_server.run(requests)
    sign_in(page, live_server, PROVIDER_EMAIL, welcome="Neil Crabtree")
    go_to(page, "Open requests", "Open requests")
    expect(page.locator("caption")).to_contain_text("2 open requests")
    padiham = page.get_by_role("row", name=re.compile("Padiham Green High School"))
    expect(padiham).to_contain_text("Year 9")
    expect(padiham).to_contain_text("25 pupils")
    expect(padiham).to_contain_text("3.3 miles")
    expect(padiham).to_contain_text(TALK_TITLE)
    preston = page.get_by_role("row", name=re.compile("Ribbleton Academy"))
    expect(preston).to_contain_text("Year 10")
    expect(preston).to_contain_text("40 pupils")
    expect(page.locator("body")).not_to_contain_text(SENTINEL)
    expect(page.locator("body")).not_to_contain_text("Mentors for Year 11")

    padiham.get_by_role("link", name="Offer to meet Padiham Green High School's request").click()
    arrive(page, "Offer to meet this request")
    expect(page.locator("body")).not_to_contain_text(SENTINEL)
    offer_choice = page.get_by_label("Your offer")
    expect(offer_choice.locator("option")).to_have_text([f"{TALK_TITLE} (60 pupils left)"])
    expect(page.get_by_label("How many pupils you could take")).to_have_value("25")

    page.get_by_label("How many pupils you could take").fill("26")
    page.get_by_label("Message to the school").fill("Two engineers and a graduate apprentice, any Tuesday.")
    page.get_by_role("button", name="Send the offer").click()
    arrive(page, "Offer to meet this request")
    error_summary_links_to(
        page, "Offer 1 to 25: the school still needs 25 and your offer has 60 pupils left.", "allocation")
    expect(page.get_by_label("Message to the school")).to_have_value(
        "Two engineers and a graduate apprentice, any Tuesday.")
    expect(page.locator("body")).not_to_contain_text(SENTINEL)

    page.get_by_label("How many pupils you could take").fill("25")
    page.get_by_role("button", name="Send the offer").click()
    arrive(page, "Open requests")
    expect(flash(page)).to_contain_text(f"You have offered {TALK_TITLE} to Padiham Green High School")

    (message,) = live_server.mail_to(LEAD_EMAIL)
    assert message["Subject"] == f"Pennine Aerostructures Ltd has offered {TALK_TITLE} for your request"
    body = text_body(message)
    assert "25 pupils" in body and "any Tuesday" in body

    def proposal():
        match = db.session.scalar(db.select(Match))
        return match.status, match.allocation, match.request.title, match.offer.title

    assert live_server.run(proposal) == (MatchStatus.PROPOSED, 25, "Year 9 talks about engineering", TALK_TITLE)


def seed_two_proposals(live_server, world: World, offer_ids: dict[str, int], secret: str) -> None:
    """A Burnley coordinator (two-step on), the school asking for the visit, the provider offering its talk
    to the school in Preston: two proposals through the real services."""

    def proposals_in_play():
        area = db.session.scalar(db.select(Area).filter_by(name="Burnley"))
        make_user(Role.COORDINATOR, email=COORDINATOR_EMAIL, name="Rachel Holden", areas=[area],
                  totp_secret=secret, totp_enabled_at=utcnow())
        lead = db.session.scalar(db.select(User).filter_by(email=LEAD_EMAIL))
        contact = db.session.scalar(db.select(User).filter_by(email=PROVIDER_EMAIL))
        visit, talk = db.session.get(Offer, offer_ids[VISIT_TITLE]), db.session.get(Offer, offer_ids[TALK_TITLE])
        soon = date.today() + timedelta(days=10)
        # The school asks for the visit (this commits) ...
        proposals.request_offer(visit, OfferRequest(pupils=20, year_groups=[9], starts_on=soon,
                                                    ends_on=soon + timedelta(days=20)), by=lead)
        # ... and the provider offers its talk to the school in Preston.
        far_request = make_request(db.session.get(Organisation, world.far_school_id), title="Talks for Year 10",
                                   year_groups=(10,), pupils=40)
        proposals.offer_to_meet(far_request, MeetingOffer(offer=talk, allocation=40), by=contact)

    live_server.run(proposals_in_play)


def test_coordinator_sees_proposals_and_a_withdrawn_request_leaves_the_list(page, second_page, live_server):
    world = seed_world(live_server)
    offer_ids = seed_offers(live_server, world)
    secret = pyotp.random_base32()

    seed_two_proposals(live_server, world, offer_ids, secret)

    sign_in(page, live_server, COORDINATOR_EMAIL, welcome="Rachel Holden", totp_secret=secret)
    go_to(page, "Proposals", "Proposed matches")
    expect(page.locator("caption")).to_contain_text("2 proposed matches")
    asked = page.get_by_role("row", name=re.compile(VISIT_TITLE))
    expect(asked.locator("td").nth(0)).to_have_text("Pennine Aerostructures Ltd")
    expect(asked.locator("td").nth(1)).to_have_text("Padiham Green High School")
    expect(asked.locator("td").nth(2)).to_have_text("20 pupils")
    expect(asked.locator("td").nth(3)).to_have_text("School requested the offer")
    offered = page.get_by_role("row", name=re.compile(TALK_TITLE))
    expect(offered.locator("td").nth(1)).to_have_text("Ribbleton Academy")
    expect(offered.locator("td").nth(2)).to_have_text("40 pupils")
    expect(offered.locator("td").nth(3)).to_have_text("Provider offered to meet the request")

    # At the school, the careers lead withdraws the request for the visit: a confirmation step first.
    lead = second_page
    sign_in(lead, live_server, LEAD_EMAIL, welcome="Joanne Whittaker")
    go_to(lead, "Requests", "Requests")
    lead.get_by_role("link", name=f"Request for: {VISIT_TITLE}").click()
    arrive(lead, f"Request for: {VISIT_TITLE}")
    lead.get_by_role("link", name=f"Withdraw Request for: {VISIT_TITLE}").click()
    arrive(lead, "Withdraw this request?")
    expect(lead.locator("main")).to_contain_text("1 proposal is waiting now.")
    lead.get_by_role("link", name="Keep it").click()  # changing one's mind withdraws nothing
    arrive(lead, f"Request for: {VISIT_TITLE}")
    expect(lead.get_by_role("region", name="What is asked for")).to_contain_text("Open")
    lead.get_by_role("link", name=f"Withdraw Request for: {VISIT_TITLE}").click()
    arrive(lead, "Withdraw this request?")
    lead.get_by_role("button", name="Withdraw request").click()
    arrive(lead, f"Request for: {VISIT_TITLE}")
    expect(flash(lead)).to_contain_text("is withdrawn. 1 proposal waiting on it was withdrawn too.")
    expect(lead.get_by_role("region", name="What is asked for")).to_contain_text("Withdrawn")
    expect(lead.get_by_role("link", name=re.compile("^Withdraw"))).to_have_count(0)

    # The coordinator's list no longer shows it; the other proposal stays.
    page.reload()
    arrive(page, "Proposed matches")
    expect(page.locator("caption")).to_contain_text("1 proposed match")
    expect(page.get_by_role("table")).not_to_contain_text(VISIT_TITLE)
    expect(page.get_by_role("row", name=re.compile(TALK_TITLE))).to_contain_text("Ribbleton Academy")

    def request_status():
        return db.session.scalar(db.select(SchoolRequest.status).filter_by(title=f"Request for: {VISIT_TITLE}"))

    assert live_server.run(request_status) == "withdrawn"


def test_careers_lead_asks_for_an_encounter_and_edits_it(page, live_server):
    seed_world(live_server)
    today = date.today()
    sign_in(page, live_server, LEAD_EMAIL, welcome="Joanne Whittaker")
    go_to(page, "Requests", "Requests")
    expect(page.locator("main")).to_contain_text("There are no requests yet")
    page.get_by_role("link", name="Ask for an encounter").first.click()
    arrive(page, "Ask for an encounter")

    page.get_by_role("button", name="Post request").click()
    arrive(page, "Ask for an encounter")
    error_summary_links_to(page, "Enter a title, e.g. Year 10 engineering talk.", "title")
    error_summary_links_to(page, "Choose at least one type of encounter.", "wanted_types")

    page.get_by_label("Title", exact=True).fill("Year 10 engineering talks")
    page.get_by_label("Careers talk or assembly").check()
    page.get_by_label("Engineering and manufacturing").check()
    page.get_by_label("Year 10", exact=True).check()
    page.get_by_label("Number of pupils").fill("60")
    page.get_by_label("From", exact=True).fill(day(today + timedelta(days=14)))
    page.get_by_label("To", exact=True).fill(day(today + timedelta(days=60)))
    page.get_by_label("In school").check()
    page.get_by_label("Notes").fill("Two classes, in the hall after lunch.")
    page.get_by_role("button", name="Post request").click()
    arrive(page, "Year 10 engineering talks")
    expect(flash(page)).to_contain_text("is posted")
    expect(page.get_by_role("region", name="What is asked for")).to_contain_text("Careers talk or assembly")

    page.get_by_role("link", name="Edit Year 10 engineering talks").click()
    arrive(page, "Edit Year 10 engineering talks")
    page.get_by_label("Number of pupils").fill("0")
    page.get_by_role("button", name="Save changes").click()
    arrive(page, "Edit Year 10 engineering talks")
    error_summary_links_to(page, "Enter a number of pupils from 1 to 2000.", "pupils")
    page.get_by_label("Number of pupils").fill("90")
    page.get_by_role("button", name="Save changes").click()
    arrive(page, "Year 10 engineering talks")
    expect(page.get_by_role("region", name="What is asked for")).to_contain_text("90")


def test_provider_closes_an_offer_after_confirming(page, live_server):
    world = seed_world(live_server)
    offer_ids = seed_offers(live_server, world)
    sign_in(page, live_server, PROVIDER_EMAIL, welcome="Neil Crabtree")
    page.goto(live_server.path("offers.view", offer_id=offer_ids[TALK_TITLE]))
    arrive(page, TALK_TITLE)

    page.get_by_role("button", name="Close").click()
    arrive(page, f"Are you sure you want to close “{TALK_TITLE}”?")
    page.get_by_role("link", name="No, keep it open").click()
    arrive(page, TALK_TITLE)
    expect(page.get_by_role("region", name="At a glance")).to_contain_text("Published")

    page.get_by_role("button", name="Close").click()
    arrive(page, f"Are you sure you want to close “{TALK_TITLE}”?")
    page.get_by_role("button", name="Yes, close this offer").click()
    arrive(page, TALK_TITLE)
    expect(flash(page)).to_contain_text(f"{TALK_TITLE} is closed.")
    expect(page.get_by_role("region", name="At a glance")).to_contain_text("Closed")
    expect(page.get_by_role("link", name=f"Edit {TALK_TITLE}")).to_have_count(0)


def test_coordinator_approves_one_proposal_and_rejects_another_with_a_reason(page, live_server):
    """The approval queue end to end: approve takes places on the offer; a rejection needs a reason."""
    world = seed_world(live_server)
    offer_ids = seed_offers(live_server, world)
    secret = pyotp.random_base32()

    seed_two_proposals(live_server, world, offer_ids, secret)
    sign_in(page, live_server, COORDINATOR_EMAIL, welcome="Rachel Holden", totp_secret=secret)
    go_to(page, "Proposals", "Proposed matches")
    expect(page.locator("caption")).to_contain_text("2 proposed matches")

    page.get_by_role("button", name=re.compile(f"^Approve {re.escape(VISIT_TITLE)}")).click()
    arrive(page, "Proposed matches")
    expect(flash(page)).to_contain_text("is approved")
    expect(page.locator("caption")).to_contain_text("1 proposed match")

    page.get_by_role("link", name=re.compile(f"^Reject {re.escape(TALK_TITLE)}")).click()
    arrive(page, re.compile("^Reject"))
    page.get_by_role("button", name="Reject match").click()  # no reason: refused, beside the field
    arrive(page, re.compile("^Reject"))
    expect(page.locator(".error-summary")).to_be_visible()
    page.get_by_label(re.compile("reason", re.IGNORECASE)).fill("Ribbleton is further than the provider travels.")
    page.get_by_role("button", name="Reject match").click()
    arrive(page, "Proposed matches")
    expect(flash(page)).to_contain_text("is rejected")
    expect(page.locator("main")).to_contain_text("No")  # the empty state of the queue

    def outcome():
        visit = db.session.get(Offer, offer_ids[VISIT_TITLE])
        statuses = sorted(m.status for m in db.session.scalars(db.select(Match)))
        return visit.allocated, statuses

    assert live_server.run(outcome) == (20, ["approved", "rejected"])


def test_careers_lead_finds_the_requests_matching_could_not_place_and_reads_why(page, live_server):
    world = seed_world(live_server)
    reasons = "no offer of that type (Workplace visit) in the area or open to all areas"

    def requests():
        school = db.session.get(Organisation, world.school_id)
        waiting = make_request(school, title="Year 10 workplace visit")
        waiting.unplaced_reasons, waiting.unplaced_at = reasons, datetime(2026, 11, 20, 2, 0)
        make_request(school, title="Year 9 careers talk")
        db.session.commit()

    live_server.run(requests)
    sign_in(page, live_server, LEAD_EMAIL, welcome="Joanne Whittaker")
    go_to(page, "Requests", "Requests")
    marked = page.get_by_role("row", name=re.compile("Year 10 workplace visit"))
    expect(marked).to_contain_text("Not placed by matching")
    expect(page.get_by_role("row", name=re.compile("Year 9 careers talk"))).not_to_contain_text("Not placed")

    # The filter by keyboard: tick the box with the space bar, submit with Enter on the button.
    page.get_by_label("Only those matching could not place").focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Filter").focus()
    page.keyboard.press("Enter")
    arrive(page, "Requests")
    expect(page.get_by_label("Only those matching could not place")).to_be_checked()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Year 10 workplace visit").click()
    arrive(page, "Year 10 workplace visit")
    why = page.get_by_role("region", name="Not placed in full by matching")
    expect(why).to_contain_text(f"The matching runs since 20 Nov 2026 left it short: {reasons}.")
