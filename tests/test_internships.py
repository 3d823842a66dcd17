"""The NEET internship programme's first half: programmes, interns, the rota from the database (run, edit,
approve), providers' weeks and marking them completed, and the pages' access and privacy."""
import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import AuditEvent, Intern, InternshipProgramme, Offer, OutboxMessage, Placement
from portal.services import internships
from portal.services.pupils import REFERENCE_ALPHABET
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_user

TWO_STEP = {"totp_secret": "JBSWY3DPEHPK3PXP", "totp_enabled_at": datetime(2026, 1, 1)}
REFERENCE = re.compile(f"^I[{REFERENCE_ALPHABET}]{{8}}$")


def next_monday(weeks_ahead: int = 2) -> date:
    today = date.today()
    return today - timedelta(days=today.weekday()) + timedelta(weeks=weeks_ahead)


def programme_values(week1: date | None = None, **changes) -> dict:
    week1 = week1 or next_monday()
    values = {"name": "Spring cohort", "coaching_on": week1 - timedelta(days=3), "week1_on": week1,
              "week2_on": week1 + timedelta(weeks=1), "week3_on": week1 + timedelta(weeks=2),
              "week4_on": week1 + timedelta(weeks=3), "final_coaching_on": week1 + timedelta(weeks=3, days=4)}
    values.update(changes)
    return values


def intern_values(**changes) -> dict:
    values = {"display_name": "Alex Example", "age_band": "18-19", "town": "Burnley", "latitude": 53.8,
              "longitude": -2.23333, "max_travel_miles": 10, "neet_months": 7, "sectors": []}
    values.update(changes)
    return values


def week_offer(provider, week1: date, *, per_week: int = 1, weeks: int = 4, **fields):
    """An internship week offer whose dates cover the first `weeks` programme weeks."""
    return make_offer(provider, type="internship_week", delivery="workplace", year_groups=(), sessions=1,
                      per_session=per_week, capacity=per_week, starts_on=week1,
                      ends_on=week1 + timedelta(weeks=weeks - 1, days=4), mentor_name=f"Mentor of {provider.name}",
                      paid=True, weekly_wage_pence=20_000, **fields)


@pytest.fixture
def w(app):
    """Burnley: its coordinator, four providers (one with a user) each offering the four weeks, a programme."""
    area, other_area = make_area("Burnley"), make_area("Preston")
    coordinator = make_user(Role.COORDINATOR, areas=[area], **TWO_STEP)
    other_coordinator = make_user(Role.COORDINATOR, areas=[other_area], **TWO_STEP)
    providers = [make_provider(area, name=f"Provider {k}") for k in "ABCD"]
    provider_user = make_user(Role.PROVIDER, organisation=providers[0])
    other_provider_user = make_user(Role.PROVIDER, organisation=providers[1])
    week1 = next_monday()
    offers = [week_offer(p, week1) for p in providers]
    db.session.commit()
    programme = internships.create_programme(area.id, programme_values(week1), by=coordinator)
    return type("W", (), dict(area=area, other_area=other_area, coordinator=coordinator,
                              other_coordinator=other_coordinator, providers=providers, provider_user=provider_user,
                              other_provider_user=other_provider_user, week1=week1, offers=offers,
                              programme=programme))


def live(programme) -> list[Placement]:
    return list(db.session.scalars(select(Placement).where(Placement.programme_id == programme.id,
                                                           Placement.status != "cancelled")
                                   .order_by(Placement.intern_id, Placement.week_no)))


# --- programmes ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"name": " "}, "name", "Enter the cohort's name"),
    ({"coaching_on": None}, "coaching_on", "pre-start coaching"),
    ({"week2_on": None}, "week2_on", "Monday of placement week 2"),
    ({"week1_on": next_monday() + timedelta(days=1)}, "week1_on", "must start on a Monday"),
    ({"week3_on": next_monday() + timedelta(weeks=1)}, "week3_on", "at least a week after week 2"),
    ({"coaching_on": next_monday() + timedelta(days=2)}, "coaching_on", "on or before the first"),
    ({"final_coaching_on": next_monday() + timedelta(weeks=3, days=1)}, "final_coaching_on", "Friday of the fourth"),
])
def test_programme_rules(app, changes, field, words):
    problems = internships.programme_problems(programme_values(next_monday(), **changes))
    assert field in problems and words in problems[field]
    assert internships.programme_problems(programme_values(next_monday())) == {}


def test_the_coordinator_creates_a_programme_after_fixing_an_error(w, client, login):
    login(w.coordinator)
    assert "New internship programme" in client.get("/internships/new").get_data(as_text=True)
    data = {key: value.isoformat() if isinstance(value, date) else value
            for key, value in programme_values(name="Autumn cohort").items()}
    data["area_id"] = str(w.area.id)
    bad = dict(data, week2_on=(w.week1 + timedelta(days=8)).isoformat())
    html = client.post("/internships/new", data=bad).get_data(as_text=True)
    assert "Week 2 must start on a Monday" in html and 'value="Autumn cohort"' in html
    assert db.session.scalar(select(func.count()).where(InternshipProgramme.name == "Autumn cohort")) == 0
    response = client.post("/internships/new", data=data)
    assert response.status_code == 302
    created = db.session.scalar(select(InternshipProgramme).where(InternshipProgramme.name == "Autumn cohort"))
    assert created.area_id == w.area.id and created.status == "draft"
    assert db.session.scalars(select(AuditEvent.action)).all().count("internship.programme_create") == 2
    # Another area is not offered, and refused if sent.
    html = client.post("/internships/new", data=dict(data, area_id=str(w.other_area.id))).get_data(as_text=True)
    assert "Choose one of your areas." in html


def test_programmes_are_for_their_areas_coordinators(w, client, login):
    login(w.other_coordinator)
    assert client.get(f"/internships/{w.programme.id}").status_code == 403
    assert "Spring cohort" not in client.get("/internships").get_data(as_text=True)
    with pytest.raises(NotAllowed):
        internships.run_rota(w.programme, by=w.other_coordinator)
    login(w.provider_user)
    assert client.get(f"/internships/{w.programme.id}").status_code == 403
    assert client.get("/internships").status_code == 403
    login(w.coordinator)
    assert "Spring cohort" in client.get("/internships").get_data(as_text=True)


def test_editing_the_weeks_of_a_proposed_rota_drops_it(w):
    internships.add_intern(w.programme, intern_values(), by=w.coordinator)
    internships.run_rota(w.programme, by=w.coordinator)
    assert live(w.programme)
    later = w.week1 + timedelta(weeks=1)
    internships.update_programme(w.programme, programme_values(later), by=w.coordinator)
    assert w.programme.status == "draft" and not live(w.programme) and w.programme.rota_report is None


# --- interns ------------------------------------------------------------------------------------------------

def test_adding_an_intern_through_the_form(w, client, login):
    login(w.coordinator)
    url = f"/internships/{w.programme.id}/interns/new"
    html = client.post(url, data={"display_name": "Sam Example", "town": "Burnley", "max_travel_miles": "far"}
                       ).get_data(as_text=True)
    assert "Choose the age band." in html and "Enter a whole number" in html and 'value="Sam Example"' in html
    assert db.session.scalar(select(func.count()).select_from(Intern)) == 0
    response = client.post(url, data={"display_name": "Sam Example", "age_band": "16-17", "town": "Burnley",
                                      "max_travel_miles": "12", "neet_months": "9", "sectors": ["health"]})
    assert response.status_code == 302
    intern = db.session.scalar(select(Intern))
    assert REFERENCE.match(intern.reference)
    assert (intern.town, intern.latitude, intern.max_travel_miles, intern.neet_months, intern.sectors) == (
        "Burnley", 53.8, 12, 9, ["health"])
    assert not intern.is_control and intern.area_id == w.area.id
    page = client.get(f"/internships/{w.programme.id}").get_data(as_text=True)
    assert intern.reference in page and "Sam Example" in page
    # Editing keeps the reference; the name never goes to the audit log.
    edit = f"/internships/{w.programme.id}/interns/{intern.id}/edit"
    assert 'value="Sam Example"' in client.get(edit).get_data(as_text=True)
    client.post(edit, data={"display_name": "", "age_band": "20-24", "town": "Colne", "max_travel_miles": "5",
                            "neet_months": "0"})
    db.session.refresh(intern)
    assert intern.display_name is None and intern.town == "Colne" and intern.sectors is None
    assert all("Sam" not in (d or "") for d in db.session.scalars(select(AuditEvent.detail)))


def test_intern_rules(app):
    problems = internships.intern_problems(intern_values(age_band="25+", latitude=None, max_travel_miles=0,
                                                         neet_months=-1, sectors=["astrology"]))
    assert set(problems) == {"age_band", "town", "max_travel_miles", "neet_months", "sectors"}
    assert internships.intern_problems(intern_values()) == {}


def test_withdrawing_cancels_the_weeks_not_done(w, client, login):
    intern = internships.add_intern(w.programme, intern_values(), by=w.coordinator)
    internships.run_rota(w.programme, by=w.coordinator)
    assert len(live(w.programme)) == 4
    login(w.coordinator)
    url = f"/internships/{w.programme.id}/interns/{intern.id}/withdraw"
    assert "Withdraw intern" in client.get(url).get_data(as_text=True)
    assert client.post(url).status_code == 302
    db.session.refresh(intern)
    assert intern.status == "withdrawn" and not live(w.programme)


# --- the rota -------------------------------------------------------------------------------------------------

def test_the_rota_from_the_database(w):
    a = internships.add_intern(w.programme, intern_values(neet_months=20), by=w.coordinator)
    b = internships.add_intern(w.programme, intern_values(neet_months=3), by=w.coordinator)
    far = make_provider(w.area, name="Far Ltd", latitude=54.9, longitude=-1.5)
    week_offer(far, w.week1, per_week=5)
    elsewhere = make_provider(w.other_area, name="Elsewhere Ltd")
    week_offer(elsewhere, w.week1, per_week=5)  # another area, not open to all: not used
    week_offer(make_provider(w.area, name="Draft Ltd"), w.week1, per_week=5, status="draft")
    db.session.commit()
    result = internships.run_rota(w.programme, by=w.coordinator)
    assert result.optimal and result.full == 2
    placements = live(w.programme)
    assert len(placements) == 8 and {p.status for p in placements} == {"proposed"}
    for who in (a, b):
        mine = [p for p in placements if p.intern_id == who.id]
        assert len({p.provider_id for p in mine}) == 4
    assert {p.provider_id for p in placements} == {p.id for p in w.providers}
    assert w.programme.status == "rota_proposed" and "2 of 2 interns" in w.programme.rota_report
    # Running again replaces the proposal rather than adding to it.
    internships.run_rota(w.programme, by=w.coordinator)
    assert len(live(w.programme)) == 8
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "internship.rota_run")) == 2


def test_weeks_outside_an_offers_dates_and_other_programmes_places_are_respected(w):
    # Provider D's offer ends before week 4; another programme in the same weeks already holds provider C's place.
    w.offers[3].ends_on = w.week1 + timedelta(weeks=2, days=4)
    db.session.commit()
    other = internships.create_programme(w.area.id, programme_values(w.week1, name="Parallel"), by=w.coordinator)
    someone = internships.add_intern(other, intern_values(), by=w.coordinator)
    db.session.add(Placement(programme_id=other.id, intern_id=someone.id, offer_id=w.offers[2].id,
                             provider_id=w.providers[2].id, week_no=1, status="approved"))
    db.session.commit()
    capacity = internships.weekly_capacity(w.programme, w.offers)
    assert capacity[w.offers[3].id] == {1: 1, 2: 1, 3: 1, 4: 0}
    assert capacity[w.offers[2].id] == {1: 0, 2: 1, 3: 1, 4: 1}
    internships.add_intern(w.programme, intern_values(), by=w.coordinator)
    internships.run_rota(w.programme, by=w.coordinator)
    assert (w.offers[3].id, 4) not in {(p.offer_id, p.week_no) for p in live(w.programme)}
    assert (w.offers[2].id, 1) not in {(p.offer_id, p.week_no) for p in live(w.programme)}


def test_the_report_says_who_could_not_be_placed(w):
    internships.add_intern(w.programme, intern_values(), by=w.coordinator)
    far = internships.add_intern(w.programme, intern_values(town="Preston", latitude=53.76, longitude=-2.7),
                                 by=w.coordinator)
    internships.run_rota(w.programme, by=w.coordinator)
    assert f"{far.reference}: 0 of 4 weeks placed." in w.programme.rota_report
    assert "Fewer than four different providers are within reach (0 within 10 miles)" in w.programme.rota_report


def test_editing_the_rota(w, client, login):
    a = internships.add_intern(w.programme, intern_values(), by=w.coordinator)
    b = internships.add_intern(w.programme, intern_values(), by=w.coordinator)
    internships.run_rota(w.programme, by=w.coordinator)
    spare = week_offer(make_provider(w.area, name="Spare Ltd"), w.week1)  # offered after the rota was built
    db.session.commit()
    week1_a = next(p for p in live(w.programme) if p.intern_id == a.id and p.week_no == 1)
    # A provider the intern already has in another week is refused.
    other_week = next(p for p in live(w.programme) if p.intern_id == a.id and p.week_no == 2)
    with pytest.raises(ValidationFailed, match="already has a week at"):
        internships.move_placement(w.programme, a, 1, other_week.offer_id, by=w.coordinator)
    # Through the page: move a's week 1 to the spare offer.
    login(w.coordinator)
    url = f"/internships/{w.programme.id}/rota/{a.id}/1"
    assert "Spare Ltd" in client.get(url).get_data(as_text=True)
    html = client.post(url, data={"offer_id": str(other_week.offer_id)}).get_data(as_text=True)
    assert "already has a week at" in html
    assert client.post(url, data={"offer_id": str(spare.id)}).status_code == 302
    moved = next(p for p in live(w.programme) if p.intern_id == a.id and p.week_no == 1)
    assert moved.offer_id == spare.id and moved.id != week1_a.id and moved.reasons.startswith("Chosen by")
    # The spare offer's one place in week 1 is now a's: b cannot have it too.
    with pytest.raises(ValidationFailed, match="is full in week 1"):
        internships.move_placement(w.programme, b, 1, spare.id, by=w.coordinator)
    internships.move_placement(w.programme, b, 2, spare.id, by=w.coordinator)  # week 2 has room
    assert client.post(url, data={"offer_id": ""}).status_code == 302
    assert not [p for p in live(w.programme) if p.intern_id == a.id and p.week_no == 1]
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "internship.rota_edit")) == 3
    assert client.get(f"/internships/{w.programme.id}/rota/{a.id}/5").status_code == 404


def test_approving_tells_the_providers_references_only(w, client, login, mailbox):
    intern = internships.add_intern(w.programme, intern_values(display_name="Alex Example"), by=w.coordinator)
    internships.run_rota(w.programme, by=w.coordinator)
    login(w.coordinator)
    assert client.post(f"/internships/{w.programme.id}/rota/approve").status_code == 302
    db.session.refresh(w.programme)
    assert w.programme.status == "rota_approved"
    assert {p.status for p in live(w.programme)} == {"approved"}
    messages = db.session.scalars(select(OutboxMessage)).all()
    assert {m.recipient for m in messages} == {w.provider_user.email, w.other_provider_user.email}
    for message in messages:
        assert intern.reference in message.body_text and "Alex" not in message.body_text + message.body_html
        assert "Mentor of Provider" in message.body_text
    with pytest.raises(InvalidState):
        internships.approve_rota(w.programme, by=w.coordinator)
    with pytest.raises(InvalidState):
        internships.run_rota(w.programme, by=w.coordinator)
    printable = client.get(f"/internships/{w.programme.id}/print").get_data(as_text=True)
    assert "Alex Example" in printable and "Mentor of Provider A" in printable
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "internship.rota_approve")) == 1


def test_providers_see_their_weeks_and_mark_them_completed(w, client, login):
    intern = internships.add_intern(w.programme, intern_values(display_name="Alex Example"), by=w.coordinator)
    internships.run_rota(w.programme, by=w.coordinator)
    internships.approve_rota(w.programme, by=w.coordinator)
    mine = next(p for p in live(w.programme) if p.provider_id == w.providers[0].id)
    login(w.provider_user)
    html = client.get("/internships/placements").get_data(as_text=True)
    assert intern.reference in html and "Alex" not in html
    assert "Mark week completed" not in html  # the week has not ended
    assert client.post(f"/internships/placements/{mine.id}/complete").status_code == 302
    db.session.refresh(mine)
    assert mine.status == "approved"
    monday = w.programme.week_starts[mine.week_no - 1]
    with pytest.raises(InvalidState):
        internships.complete_placement(mine, by=w.provider_user, today=monday + timedelta(days=3))
    internships.complete_placement(mine, by=w.provider_user, today=monday + timedelta(days=4))
    assert mine.status == "completed" and mine.completed_at is not None
    assert internships.intern_contacts(intern) == 1
    # Another provider may not, nor another area's coordinator.
    theirs = next(p for p in live(w.programme) if p.provider_id == w.providers[2].id)
    login(w.other_provider_user)
    assert client.post(f"/internships/placements/{theirs.id}/complete").status_code == 403
    theirs_page = client.get("/internships/placements").get_data(as_text=True)
    assert "Mentor of Provider B" in theirs_page and "Mentor of Provider A" not in theirs_page  # their own weeks only
    with pytest.raises(NotAllowed):
        internships.complete_placement(theirs, by=w.other_coordinator, today=date.max - timedelta(days=10))
    internships.complete_placement(theirs, by=w.coordinator, today=date.max - timedelta(days=10))
    assert internships.intern_contacts(intern) == 2


def test_the_programme_page_shows_the_rota(w, client, login):
    internships.add_intern(w.programme, intern_values(), by=w.coordinator)
    login(w.coordinator)
    page = client.get(f"/internships/{w.programme.id}").get_data(as_text=True)
    assert "Build the rota" in page and "Approve the rota" not in page
    assert client.post(f"/internships/{w.programme.id}/rota/run").status_code == 302
    page = client.get(f"/internships/{w.programme.id}").get_data(as_text=True)
    assert "1 of 1 interns have all four weeks placed" in page and "Approve the rota" in page
    assert "Provider A" in page and "Mentor of Provider" in page


# --- internship weeks on the offer form -----------------------------------------------------------------------

def _week_values(**changes) -> dict:
    values = {"title": "A week with us", "description": "", "sector": "engineering", "delivery": "workplace",
              "capacity": 2, "starts_on": next_monday(), "ends_on": next_monday() + timedelta(days=60),
              "year_groups": [], "max_travel_miles": None, "auto_approve_delay_days": 0,
              "mentor_name": "Morgan Mentor", "paid": True, "weekly_wage_pence": 20_000,
              "council_contribution_pence": 5_000}
    values.update(changes)
    return values


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"mentor_name": ""}, "mentor_name", "name of the intern's mentor"),
    ({"weekly_wage_pence": None}, "weekly_wage_pence", "Enter the weekly wage"),
    ({"council_contribution_pence": 30_000}, "council_contribution_pence", "cannot be more than the weekly wage"),
    ({"council_contribution_pence": -1}, "council_contribution_pence", "from £0"),
])
def test_internship_week_details(app, changes, field, words):
    from portal import catalogue
    from portal.services import offers

    kind = catalogue.offer_type("internship_week")
    problems = offers.offer_problems(kind, offers.clean_values(kind, _week_values(**changes)))
    assert field in problems and words in problems[field]
    clean = offers.clean_values(kind, _week_values(paid=False, weekly_wage_pence=30_000))
    assert offers.offer_problems(kind, clean) == {}
    assert clean["weekly_wage_pence"] is None and clean["paid"] is False and clean["per_session"] == 2
    talk = catalogue.offer_type("careers_talk")
    assert offers.clean_values(talk, {"paid": True, "mentor_name": "x"})["paid"] is False


def test_the_offer_form_asks_for_the_internship_details(w, client, login):
    login(w.provider_user)
    html = client.get("/offers/new?type=internship_week").get_data(as_text=True)
    for label in ("Interns per week", "Mentor&#39;s name", "The week is paid", "Weekly wage",
                  "The council&#39;s weekly wage contribution"):
        assert label in html
    data = {"title": "A week with us", "sector": "engineering", "delivery": "workplace",
            "starts_on": next_monday().isoformat(), "ends_on": (next_monday() + timedelta(days=60)).isoformat(),
            "capacity": "3", "mentor_name": "", "paid": "y", "weekly_wage": "", "council_contribution": "£50",
            "auto_approve_delay_days": "0"}
    html = client.post("/offers/new?type=internship_week", data=data).get_data(as_text=True)
    assert "Enter the name of the intern" in html and "Enter the weekly wage" in html
    response = client.post("/offers/new?type=internship_week",
                           data=dict(data, mentor_name="Morgan Mentor", weekly_wage="250"))
    assert response.status_code == 302
    offer = db.session.scalar(select(Offer).where(Offer.title == "A week with us"))
    assert (offer.mentor_name, offer.paid, offer.weekly_wage_pence, offer.council_contribution_pence,
            offer.per_session) == ("Morgan Mentor", True, 25_000, 5_000, 3)
    page = client.get(f"/offers/{offer.id}").get_data(as_text=True)
    assert "Morgan Mentor" in page and "£250" in page
