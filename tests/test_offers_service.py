"""The offers service: every validation rule, the status lifecycle, version checks, duplication and counts."""
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from portal import catalogue
from portal.errors import InvalidState, NotAllowed, StaleEdit, ValidationFailed
from portal.extensions import db
from portal.models import AuditEvent, Match, Offer
from portal.services import offers
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user

TODAY = date(2026, 3, 2)

DETAILS = {
    "placement_days": 5,
    "mentoring_sessions": 6,
    "virtual_link_note": "Emailed to the school after confirmation",
    "apprenticeship_standard": "Engineering technician",
    "apprenticeship_level": 3,
    "weekly_wage_pence": 25_000,
    "closing_date": TODAY + timedelta(days=30),
    "funding_amount_pence": 900_000,
    "levy_expires_on": TODAY + timedelta(days=200),
    "kit_stock": 10,
    "mentor_name": "Morgan Mentor",
    "council_contribution_pence": 10_000,
}


def values(type_code: str = "careers_talk", **changes) -> dict:
    """Valid service values for an offer of this type (as the form would give them)."""
    kind = catalogue.offer_type(type_code)
    years = {"primary_kit": [1, 2], "internship_week": []}.get(type_code, [9, 10])
    result = {
        "title": "Meet our engineers", "description": "Apprentices talk about their work.",
        "sector": "engineering", "delivery": str(kind.default_delivery), "open_to_all_areas": False,
        "sessions": 2, "per_session": 30, "capacity": 4,
        "starts_on": TODAY + timedelta(days=7), "ends_on": TODAY + timedelta(days=60),
        "year_groups": years, "max_travel_miles": 15, "accessibility_notes": "",
        "supervised_throughout": True, "risk_assessment_done": True, "liability_insurance": True,
        "safeguarding_contact": "Sam Safe 01282 000000",
        **{name: DETAILS[name] for name in kind.details},
    }
    result.update(changes)
    return result


def problems(type_code: str = "careers_talk", *, original=None, publishing=False, **changes) -> dict[str, str]:
    kind = catalogue.offer_type(type_code)
    clean = offers.clean_values(kind, values(type_code, **changes))
    return offers.offer_problems(kind, clean, today=TODAY, original=original, publishing=publishing)


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("offer.%"))
                                   .order_by(AuditEvent.id)))


def reload(offer: Offer) -> Offer:
    db.session.rollback()
    return db.session.get(Offer, offer.id)


# --- the rules, one by one (pure: no database) ----------------------------------------------------

@pytest.mark.parametrize("type_code", list(catalogue.OFFER_TYPES))
def test_valid_values_of_every_type_pass_even_for_publishing(type_code):
    assert problems(type_code, publishing=True) == {}


RULES = [
    # (type, changes, field, words in the message)
    ("careers_talk", {"title": ""}, "title", "Enter a title."),
    ("careers_talk", {"title": "   "}, "title", "Enter a title."),
    ("careers_talk", {"title": "x" * 161}, "title", "160 characters or fewer"),
    ("careers_talk", {"description": "x" * 5001}, "description", "5,000 characters or fewer"),
    ("careers_talk", {"sector": "astrology"}, "sector", "Choose a sector"),
    ("careers_talk", {"sector": None}, "sector", "Choose a sector"),
    ("careers_talk", {"delivery": "teleport"}, "delivery", "Choose how the offer is delivered."),
    ("careers_talk", {"sessions": 0}, "sessions", "number of sessions, 1 or more"),
    ("careers_talk", {"sessions": None}, "sessions", "number of sessions, 1 or more"),
    ("careers_talk", {"sessions": 10_001}, "sessions", "at most 10,000 sessions"),
    ("careers_talk", {"per_session": 0}, "per_session", "pupils per session, 1 or more"),
    ("careers_talk", {"per_session": -3}, "per_session", "pupils per session, 1 or more"),
    ("careers_talk", {"per_session": 10_001}, "per_session", "at most 10,000 pupils per session"),
    ("careers_talk", {"sessions": 200, "per_session": 100}, "per_session", "at most 10,000 pupils"),
    ("work_experience", {"capacity": 0}, "capacity", "number of places, 1 or more"),
    ("work_experience", {"capacity": None}, "capacity", "number of places, 1 or more"),
    ("work_experience", {"capacity": 10_001}, "capacity", "at most 10,000 places"),
    ("primary_kit", {"capacity": 0}, "capacity", "number of classes, 1 or more"),
    ("careers_talk", {"starts_on": None}, "starts_on", "Enter the first date"),
    ("careers_talk", {"ends_on": None}, "ends_on", "Enter the last date"),
    ("careers_talk", {"starts_on": TODAY - timedelta(days=1)}, "starts_on", "cannot be in the past"),
    ("careers_talk", {"ends_on": TODAY + timedelta(days=6)}, "ends_on", "same as or after the start date"),
    ("careers_talk", {"year_groups": []}, "year_groups", "Choose at least one year group."),
    ("work_experience", {"year_groups": [3, 9]}, "year_groups",
     "Year 3 does not suit a work experience placement: choose from Years 7–14."),
    ("primary_kit", {"year_groups": [2, 9, 10]}, "year_groups",
     "Years 9–10 do not suit a primary resource kit: choose from Reception and Years 1–6."),
    ("internship_week", {"year_groups": [11]}, "year_groups", "they take no year groups"),
    ("careers_talk", {"max_travel_miles": None}, "max_travel_miles", "how far you will travel"),
    ("careers_talk", {"max_travel_miles": 0}, "max_travel_miles", "from 1 to 1,000 miles"),
    ("workplace_visit", {"max_travel_miles": 1001}, "max_travel_miles", "from 1 to 1,000 miles"),
    ("careers_talk", {"accessibility_notes": "x" * 2001}, "accessibility_notes", "2,000 characters"),
    ("careers_talk", {"safeguarding_contact": "x" * 201}, "safeguarding_contact", "200 characters"),
    ("work_experience", {"placement_days": None}, "placement_days", "Enter the number of days"),
    ("work_experience", {"placement_days": 0}, "placement_days", "from 1 to 20"),
    ("work_experience", {"placement_days": 21}, "placement_days", "from 1 to 20"),
    ("mentoring", {"mentoring_sessions": None}, "mentoring_sessions", "Enter the number of mentoring sessions"),
    ("mentoring", {"mentoring_sessions": 51}, "mentoring_sessions", "from 1 to 50"),
    ("apprenticeship_vacancy", {"apprenticeship_level": 1}, "apprenticeship_level", "from 2 to 7"),
    ("apprenticeship_vacancy", {"apprenticeship_level": 8}, "apprenticeship_level", "from 2 to 7"),
    ("levy_place", {"apprenticeship_level": None}, "apprenticeship_level", "Enter the apprenticeship level"),
    ("apprenticeship_vacancy", {"apprenticeship_standard": ""}, "apprenticeship_standard",
     "Enter the apprenticeship standard"),
    ("levy_place", {"apprenticeship_standard": "x" * 161}, "apprenticeship_standard", "160 characters"),
    ("apprenticeship_vacancy", {"weekly_wage_pence": None}, "weekly_wage_pence", "Enter the weekly wage"),
    ("apprenticeship_vacancy", {"weekly_wage_pence": -1}, "weekly_wage_pence", "from £0 to £10,000"),
    ("apprenticeship_vacancy", {"closing_date": None}, "closing_date", "Enter the closing date"),
    ("apprenticeship_vacancy", {"closing_date": TODAY - timedelta(days=1)}, "closing_date",
     "cannot be in the past"),
    ("levy_place", {"funding_amount_pence": None}, "funding_amount_pence", "Enter the levy funding"),
    ("levy_place", {"funding_amount_pence": 0}, "funding_amount_pence", "more than £0"),
    ("levy_place", {"funding_amount_pence": -500}, "funding_amount_pence", "more than £0"),
    ("levy_place", {"levy_expires_on": None}, "levy_expires_on", "Enter the date the levy funds expire"),
    ("primary_kit", {"kit_stock": 0}, "kit_stock", "from 1 to 10,000"),
    ("primary_kit", {"kit_stock": None}, "kit_stock", "Enter the number of kits"),
    ("virtual_encounter", {"virtual_link_note": "  "}, "virtual_link_note", "how the joining link will be shared"),
    ("virtual_encounter", {"virtual_link_note": "x" * 301}, "virtual_link_note", "300 characters"),
]


@pytest.mark.parametrize(("type_code", "changes", "field", "message"), RULES,
                         ids=[f"{t}-{f}-{i}" for i, (t, _c, f, _m) in enumerate(RULES)])
def test_each_rule_names_its_field(type_code, changes, field, message):
    found = problems(type_code, **changes)
    assert field in found, found
    assert message in found[field]


@pytest.mark.parametrize("changes", [
    {"weekly_wage_pence": 0},  # an unpaid-looking 0 is allowed: some vacancies state the wage elsewhere
    {"levy_expires_on": TODAY + timedelta(days=900)},  # far in the future: no warning
    {"levy_expires_on": TODAY - timedelta(days=1)},  # the date is a fact to record, not a rule
    {"apprenticeship_level": 2},
    {"apprenticeship_level": 7},
])
def test_values_at_the_edges_are_accepted(changes):
    type_code = "levy_place" if "levy_expires_on" in changes else "apprenticeship_vacancy"
    assert problems(type_code, **changes) == {}


@pytest.mark.parametrize("delivery", ["workplace", "virtual"])
def test_a_travel_limit_is_only_required_for_offers_delivered_in_school(delivery):
    assert problems("careers_talk", delivery=delivery, max_travel_miles=None) == {}


def test_an_internship_week_needs_no_year_groups():
    assert problems("internship_week", year_groups=[]) == {}


def test_starting_today_is_not_in_the_past():
    assert problems(starts_on=TODAY) == {}


def test_an_edit_that_keeps_a_past_start_date_is_allowed_but_changing_it_to_the_past_is_not():
    running = Offer(starts_on=TODAY - timedelta(days=30), allocated=0, closing_date=None)
    assert problems(original=running, starts_on=TODAY - timedelta(days=30)) == {}
    assert "starts_on" in problems(original=running, starts_on=TODAY - timedelta(days=29))


def test_capacity_cannot_go_below_what_is_allocated():
    original = Offer(starts_on=TODAY + timedelta(days=7), allocated=50)
    found = problems(original=original, sessions=2, per_session=20)
    assert found == {"sessions": "50 pupils already allocated on this offer: the capacity cannot go below 50."}
    assert problems(original=original, sessions=2, per_session=25) == {}
    places = Offer(starts_on=TODAY + timedelta(days=7), allocated=3)
    assert "cannot go below 3" in problems("work_experience", original=places, capacity=2)["capacity"]


@pytest.mark.parametrize("type_code", ["workplace_visit", "work_experience", "internship_week"])
@pytest.mark.parametrize("missing", ["supervised_throughout", "risk_assessment_done", "liability_insurance",
                                     "safeguarding_contact"])
def test_visits_and_placements_need_every_safeguarding_declaration_to_publish(type_code, missing):
    empty = "" if missing == "safeguarding_contact" else False
    assert problems(type_code, **{missing: empty}) == {}  # a draft may be saved without it
    found = problems(type_code, publishing=True, **{missing: empty})
    assert list(found) == [missing]
    assert "cannot be published until you" in found[missing]


def test_each_missing_declaration_gets_its_own_message():
    found = problems("workplace_visit", publishing=True, supervised_throughout=False, risk_assessment_done=False,
                     liability_insurance=False, safeguarding_contact="  ")
    assert found == {
        "supervised_throughout": "A workplace visit cannot be published until you confirm that your volunteers "
                                 "are supervised by school staff throughout.",
        "risk_assessment_done": "A workplace visit cannot be published until you confirm that a risk assessment "
                                "has been done.",
        "liability_insurance": "A workplace visit cannot be published until you confirm that you hold employers' "
                               "liability insurance.",
        "safeguarding_contact": "A workplace visit cannot be published until you name your safeguarding contact.",
    }


def test_a_careers_talk_may_be_published_without_declarations():
    assert problems("careers_talk", publishing=True, supervised_throughout=False, risk_assessment_done=False,
                    liability_insurance=False, safeguarding_contact="") == {}


def test_an_offer_whose_dates_have_passed_cannot_be_published():
    running = Offer(starts_on=TODAY - timedelta(days=30), allocated=0)
    found = problems(original=running, publishing=True, starts_on=running.starts_on,
                     ends_on=TODAY - timedelta(days=1))
    assert found == {"ends_on": "The end date has passed: change the dates before publishing."}


def test_clean_values_works_out_capacity_from_the_unit_and_drops_other_types_details():
    pupils = offers.clean_values(catalogue.offer_type("careers_talk"),
                                 values("careers_talk", sessions=3, per_session=25, kit_stock=5, title="  Hi  "))
    assert (pupils["capacity"], pupils["kit_stock"], pupils["title"]) == (75, None, "Hi")
    places = offers.clean_values(catalogue.offer_type("work_experience"), values("work_experience", capacity=6))
    assert (places["sessions"], places["per_session"], places["capacity"]) == (1, 6, 6)
    assert places["placement_days"] == 5


# --- use cases (database) -------------------------------------------------------------------------

@pytest.fixture
def world(app):
    burnley, preston = make_area("Burnley"), make_area("Preston")
    provider = make_provider(burnley, name="Calder Engineering")
    people = {
        "provider": make_user(Role.PROVIDER, organisation=provider),
        "other_provider": make_user(Role.PROVIDER, organisation=make_provider(burnley, name="Pendle Foods")),
        "coordinator": make_user(Role.COORDINATOR, areas=[burnley]),
        "other_coordinator": make_user(Role.COORDINATOR, areas=[preston]),
        "admin": make_user(Role.ADMIN),
    }
    db.session.commit()
    return {"burnley": burnley, "preston": preston, "org": provider, **people}


def create(world, type_code="careers_talk", *, by="provider", publish=False, **changes) -> Offer:
    return offers.create_offer(world["org"], by=world[by], offer_type=type_code,
                               values=values(type_code, **changes), publish=publish, ip="192.0.2.1", today=TODAY)


def test_a_provider_creates_a_draft(world):
    offer = create(world, "work_experience", capacity=4)
    offer = reload(offer)
    assert (offer.status, offer.type, offer.capacity, offer.sessions, offer.per_session) == (
        "draft", "work_experience", 4, 1, 4)
    assert (offer.area_id, offer.provider_id, offer.allocated) == (world["burnley"].id, world["org"].id, 0)
    assert offer.year_groups == [9, 10] and offer.placement_days == 5
    assert offer.created_by_id == world["provider"].id and offer.published_at is None
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "offer.create"))
    assert (event.object_id, event.area_id, event.ip) == (offer.id, world["burnley"].id, "192.0.2.1")


def test_save_and_publish_publishes_at_once(world):
    offer = reload(create(world, "levy_place", publish=True))
    assert offer.status == "published" and offer.published_at is not None
    assert (offer.funding_amount_pence, offer.levy_expires_on) == (900_000, TODAY + timedelta(days=200))
    assert audit_actions() == ["offer.create", "offer.publish"]


def test_creating_with_a_broken_rule_writes_nothing(world):
    with pytest.raises(offers.OfferInvalid) as caught:
        create(world, "workplace_visit", publish=True, title="", liability_insurance=False)
    assert set(caught.value.problems) == {"title", "liability_insurance"}
    db.session.rollback()
    assert db.session.scalar(select(sa.func.count(Offer.id))) == 0
    assert audit_actions() == []


def test_an_unknown_type_is_refused(world):
    with pytest.raises(ValidationFailed):
        offers.create_offer(world["org"], by=world["provider"], offer_type="juggling", values=values())


@pytest.mark.parametrize(("who", "allowed"), [("provider", True), ("other_provider", False),
                                              ("coordinator", True), ("other_coordinator", False),
                                              ("admin", True)])
def test_who_may_create_for_a_provider(world, who, allowed):
    if allowed:
        assert create(world, by=who).provider_id == world["org"].id
    else:
        with pytest.raises(NotAllowed):
            create(world, by=who)


def test_an_unverified_provider_may_draft_but_not_publish(world):
    world["org"].status = "pending"
    db.session.commit()
    offer = create(world)
    assert offer.status == "draft"
    with pytest.raises(NotAllowed, match="not verified"):
        create(world, publish=True)
    with pytest.raises(NotAllowed, match="not verified"):
        offers.change_status(offer, "publish", by=world["provider"], today=TODAY)


def test_an_edit_applies_and_is_audited(world):
    offer = create(world)
    offers.update_offer(offer, by=world["coordinator"], expected_version=1, ip="192.0.2.9", today=TODAY,
                        values=values(title="Engineers in school", sessions=3, year_groups=[8, 9]))
    offer = reload(offer)
    assert (offer.title, offer.capacity, offer.year_groups, offer.version) == ("Engineers in school", 90, [8, 9], 2)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "offer.update")).one()
    assert event.actor_id == world["coordinator"].id and event.area_id == world["burnley"].id
    assert "title" in event.detail and "year_groups" in event.detail


def test_saving_without_changes_writes_nothing(world):
    offer = create(world)
    offers.update_offer(offer, by=world["provider"], expected_version=1, values=values(), today=TODAY)
    assert reload(offer).version == 1
    assert audit_actions() == ["offer.create"]


def test_an_edit_from_an_older_version_is_refused(world):
    offer = create(world)
    offers.update_offer(offer, by=world["provider"], expected_version=1, values=values(title="First"), today=TODAY)
    with pytest.raises(StaleEdit, match="changed by someone else"):
        offers.update_offer(offer, by=world["coordinator"], expected_version=1, values=values(title="Second"),
                            today=TODAY)
    assert reload(offer).title == "First"


def test_a_concurrent_update_between_load_and_save_is_a_stale_edit(world):
    offer = create(world)
    assert offer.version == 1
    with db.engine.begin() as other:
        other.execute(sa.text("UPDATE offers SET title = 'Theirs', version = version + 1 WHERE id = :id"),
                      {"id": offer.id})
    with pytest.raises(StaleEdit):
        offers.update_offer(offer, by=world["provider"], expected_version=1, values=values(title="Ours"),
                            today=TODAY)
    assert reload(offer).title == "Theirs"


def test_capacity_below_allocated_is_refused(world):
    offer = create(world)
    offer.allocated = 40
    db.session.commit()
    with pytest.raises(offers.OfferInvalid) as caught:
        offers.update_offer(offer, by=world["provider"], expected_version=offer.version,
                            values=values(sessions=1, per_session=30), today=TODAY)
    assert "cannot go below 40" in caught.value.problems["sessions"]
    assert reload(offer).capacity == 60


def test_editing_a_published_offer_keeps_it_published_and_checks_the_publishing_rules(world):
    offer = create(world, "workplace_visit", publish=True)
    with pytest.raises(offers.OfferInvalid) as caught:
        offers.update_offer(offer, by=world["provider"], expected_version=offer.version, today=TODAY,
                            values=values("workplace_visit", risk_assessment_done=False))
    assert list(caught.value.problems) == ["risk_assessment_done"]
    offers.update_offer(offer, by=world["provider"], expected_version=offer.version, today=TODAY,
                        values=values("workplace_visit", title="New title"))
    offer = reload(offer)
    assert (offer.title, offer.status) == ("New title", "published")


def test_a_draft_edit_may_drop_declarations_and_publish_on_the_same_save(world):
    offer = create(world, "workplace_visit", liability_insurance=False)
    offers.update_offer(offer, by=world["provider"], expected_version=offer.version, today=TODAY,
                        values=values("workplace_visit"), publish=True)
    assert reload(offer).status == "published"
    assert audit_actions() == ["offer.create", "offer.update", "offer.publish"]


def test_a_closed_offer_cannot_be_edited(world):
    offer = make_offer(world["org"], status="closed")
    db.session.commit()
    with pytest.raises(InvalidState):
        offers.update_offer(offer, by=world["provider"], expected_version=offer.version, values=values(),
                            today=TODAY)


def test_another_provider_cannot_edit_duplicate_or_change_status(world):
    offer = create(world)
    with pytest.raises(NotAllowed):
        offers.update_offer(offer, by=world["other_provider"], expected_version=1, values=values(title="Mine"))
    with pytest.raises(NotAllowed):
        offers.duplicate_offer(offer, by=world["other_provider"])
    with pytest.raises(NotAllowed):
        offers.change_status(offer, "publish", by=world["other_provider"])
    offer = reload(offer)
    assert (offer.title, offer.status) == ("Meet our engineers", "draft")


# --- status -------------------------------------------------------------------------------------

VALID = [("draft", "publish", "published"), ("published", "pause", "paused"), ("paused", "reopen", "published"),
         ("published", "close", "closed"), ("paused", "close", "closed")]


@pytest.mark.parametrize(("start", "action", "end"), VALID)
def test_valid_status_changes(world, start, action, end):
    offer = make_offer(world["org"], status=start)
    db.session.commit()
    offers.change_status(offer, action, by=world["provider"], ip="192.0.2.1")
    offer = reload(offer)
    assert offer.status == end
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == f"offer.{action}"))
    assert (event.object_id, event.area_id) == (offer.id, world["burnley"].id)
    if end == "published":
        assert offer.published_at is not None


INVALID = [(start, action) for start in ("draft", "published", "paused", "closed") for action in offers.TRANSITIONS
           if (start, action) not in {(s, a) for s, a, _e in VALID}]


@pytest.mark.parametrize(("start", "action"), INVALID)
def test_invalid_status_changes_change_nothing(world, start, action):
    offer = make_offer(world["org"], status=start)
    db.session.commit()
    with pytest.raises(InvalidState):
        offers.change_status(offer, action, by=world["provider"])
    assert reload(offer).status == start
    assert audit_actions() == []


def test_an_unknown_action_is_refused(world):
    offer = make_offer(world["org"], status="draft")
    db.session.commit()
    with pytest.raises(InvalidState):
        offers.change_status(offer, "delete", by=world["provider"])


@pytest.mark.parametrize(("type_code", "blocked"), [("workplace_visit", True), ("work_experience", True),
                                                    ("careers_talk", False)])
def test_publishing_needs_safeguarding_for_visits_and_placements_only(world, type_code, blocked):
    extra = {"placement_days": 5} if type_code == "work_experience" else {}
    offer = make_offer(world["org"], type=type_code, status="draft", **extra)
    offer.supervised_throughout = offer.risk_assessment_done = offer.liability_insurance = False
    offer.safeguarding_contact = None
    db.session.commit()
    if blocked:
        with pytest.raises(offers.OfferInvalid) as caught:
            offers.change_status(offer, "publish", by=world["provider"])
        assert set(caught.value.problems) == set(offers.SAFEGUARDING)
        assert reload(offer).status == "draft"
    else:
        offers.change_status(offer, "publish", by=world["provider"])
        assert reload(offer).status == "published"


def test_reopening_checks_the_dates_again(world):
    offer = make_offer(world["org"], status="paused", starts_on=TODAY - timedelta(days=60),
                       ends_on=TODAY - timedelta(days=1))
    db.session.commit()
    with pytest.raises(offers.OfferInvalid) as caught:
        offers.change_status(offer, "reopen", by=world["provider"], today=TODAY)
    assert list(caught.value.problems) == ["ends_on"]


# --- duplicate ----------------------------------------------------------------------------------

def test_duplicate_makes_a_draft_copy_with_nothing_allocated(world):
    original = make_offer(world["org"], type="work_experience", status="published", placement_days=10,
                          title="x" * 160, sessions=1, per_session=5, allocated=3, open_to_all_areas=True)
    db.session.commit()
    copy = offers.duplicate_offer(original, by=world["coordinator"], ip="192.0.2.1")
    copy = db.session.get(Offer, copy.id)
    assert copy.id != original.id
    assert copy.title == ("Copy of " + "x" * 160)[:160]
    assert (copy.status, copy.allocated, copy.capacity, copy.placement_days) == ("draft", 0, 5, 10)
    assert (copy.year_groups, copy.open_to_all_areas, copy.version) == (original.year_groups, True, 1)
    assert copy.created_by_id == world["coordinator"].id and copy.published_at is None
    assert reload(original).allocated == 3
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "offer.duplicate"))
    assert (event.object_id, event.area_id, event.detail) == (copy.id, world["burnley"].id,
                                                              f"copy of offer {original.id}")


# --- counts ---------------------------------------------------------------------------------------

def add_match(offer, status, allocation=5):
    school_request = make_request(make_school(offer.provider.area))
    match = Match(offer=offer, request=school_request, area_id=school_request.area_id, allocation=allocation,
                  status=status, origin="school_asked")
    db.session.add(match)
    db.session.flush()
    return match


def test_match_counts_count_proposed_and_scheduled_per_offer(world):
    first, second, third = (make_offer(world["org"]) for _ in range(3))
    for status in ("proposed", "proposed", "scheduled", "approved", "rejected"):
        add_match(first, status)
    add_match(second, "scheduled")
    db.session.commit()
    counts = offers.match_counts([first.id, second.id, third.id])
    assert counts[first.id] == offers.MatchCounts(requests_waiting=2, upcoming_sessions=1)
    assert counts[second.id] == offers.MatchCounts(requests_waiting=0, upcoming_sessions=1)
    assert third.id not in counts
    assert offers.match_counts([]) == {}


def test_the_list_query_is_scoped_to_the_user(world):
    mine = make_offer(world["org"], status="draft")
    theirs = make_offer(world["other_provider"].organisation)
    preston = make_offer(make_provider(world["preston"]))
    db.session.commit()

    def ids(user, **filters):
        return {o.id for o in db.session.scalars(offers.offers_query(user, **filters))}

    assert ids(world["provider"]) == {mine.id}
    assert ids(world["coordinator"]) == {mine.id, theirs.id}
    assert ids(world["coordinator"], provider_id=mine.provider_id) == {mine.id}
    assert ids(world["coordinator"], status="published") == {theirs.id}
    assert ids(world["other_coordinator"]) == {preston.id}
    assert ids(world["admin"]) == {mine.id, theirs.id, preston.id}
    # A provider cannot widen its list with another provider's id.
    assert ids(world["provider"], provider_id=theirs.provider_id) == {mine.id}
