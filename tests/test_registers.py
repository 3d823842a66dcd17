"""Registers: who goes (who-to-send order, places), attendance and corrections, the provider's confirmation,
history and audit rows, and that providers never see pupils."""
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import AuditEvent, Match, MatchEvent, MatchStatus, Pupil, RegisterEntry, SessionRecord
from portal.services import registers
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_pupil, make_request, make_school, make_user

ALL_FOUR = registers.Checklist(purpose_shared=True, learning_outcomes=True, two_way=True, time_to_reflect=True)


class World:
    def __init__(self, *, starts_in: timedelta, status=MatchStatus.SCHEDULED, allocation=3):
        self.area = make_area()
        self.school = make_school(self.area, names_opt_in=True)
        self.provider_org = make_provider(self.area)
        self.lead = make_user(Role.CAREERS_LEAD, organisation=self.school)
        self.provider = make_user(Role.PROVIDER, organisation=self.provider_org)
        self.coordinator = make_user(Role.COORDINATOR, areas=[self.area])
        offer = make_offer(self.provider_org, year_groups=(9, 10, 11))
        request = make_request(self.school, year_groups=(8, 9, 10))  # both allow Years 9 and 10 only
        self.match = Match(offer_id=offer.id, request_id=request.id, area_id=self.area.id, allocation=allocation,
                           origin="school_asked", status=status, session_minutes=60, session_place="Hall",
                           session_contact="Ms Lead 01234",
                           session_starts_at=(datetime.now() + starts_in).replace(microsecond=0))
        db.session.add(self.match)
        db.session.flush()


@pytest.fixture
def past(app) -> World:
    world = World(starts_in=-timedelta(hours=2))
    db.session.commit()
    return world


@pytest.fixture
def future(app) -> World:
    world = World(starts_in=timedelta(days=3))
    db.session.commit()
    return world


def pupils(world, n, **fields):
    made = [make_pupil(world.school, **fields) for _ in range(n)]
    db.session.commit()
    return made


def audit_actions(match) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_type == "match",
                                                                   AuditEvent.object_id == match.id)
                                   .order_by(AuditEvent.id)))


def events(match) -> list[tuple[str | None, str, str | None]]:
    return [(e.from_status, e.to_status, e.note) for e in db.session.scalars(
        select(MatchEvent).where(MatchEvent.match_id == match.id).order_by(MatchEvent.id))]


# --- suggest --------------------------------------------------------------------------------------------------------

def test_suggest_puts_pupils_furthest_from_four_first_and_respects_places(app):
    world = World(starts_in=timedelta(days=3), allocation=4)
    s = world.school
    plain = make_pupil(s, reference="PLAIN", contacts=1, last_contact_on=date(2025, 1, 1))
    waited = make_pupil(s, reference="WAITED", contacts=1, last_contact_on=date(2024, 1, 1))
    at_risk = make_pupil(s, reference="ATRISK", contacts=1, at_risk=True, last_contact_on=date(2025, 6, 1))
    poor = make_pupil(s, reference="POOR", contacts=1, disadvantaged=True, last_contact_on=date(2025, 6, 1))
    none = make_pupil(s, reference="NONE", contacts=0, year_group=10)
    make_pupil(s, reference="THREE", contacts=3)
    make_pupil(s, reference="YEAR11", contacts=0, year_group=11)  # the request is not for Year 11
    make_pupil(s, reference="YEAR8", contacts=0, year_group=8)  # the offer is not for Year 8
    make_pupil(s, reference="LEFT", contacts=0, status="left", left_on=date(2025, 7, 1))
    make_pupil(make_school(world.area), reference="ELSEWHERE", contacts=0)
    db.session.commit()
    assert [p.reference for p in registers.suggest(world.match)] == ["NONE", "ATRISK", "POOR", "WAITED"]
    assert [p.reference for p in registers.candidates(world.match)] == [
        "NONE", "ATRISK", "POOR", "WAITED", "PLAIN", "THREE"]
    assert {none, at_risk, poor, waited} == set(registers.suggest(world.match)) and plain


# --- set_register ---------------------------------------------------------------------------------------------------

def test_the_lead_sets_and_changes_the_register_within_the_places(future):
    a, b, c, d = pupils(future, 4)
    change = registers.set_register(future.match, [a.id, b.id], by=future.lead)
    assert (change.added, change.removed, change.total) == (2, 0, 2)
    change = registers.set_register(future.match, [b.id, c.id, d.id], by=future.lead)
    assert (change.added, change.removed, change.total) == (2, 1, 3)
    assert set(registers.register_ids(future.match)) == {b.id, c.id, d.id}
    with pytest.raises(ValidationFailed, match="at most 3 pupils"):
        registers.set_register(future.match, [a.id, b.id, c.id, d.id], by=future.lead)
    assert set(registers.register_ids(future.match)) == {b.id, c.id, d.id}  # nothing half-written
    entry = db.session.scalars(select(RegisterEntry).where(RegisterEntry.pupil_id == b.id)).one()
    assert (entry.school_id, entry.provider_id, entry.year_group, entry.attended, entry.counted) == (
        future.school.id, future.provider_org.id, 9, None, False)
    assert audit_actions(future.match) == ["register.set", "register.set"]


@pytest.mark.parametrize("who", ["other_school", "wrong_year", "left"])
def test_pupils_who_cannot_go_are_refused(future, who):
    ok = pupils(future, 1)[0]
    bad = {
        "other_school": lambda: make_pupil(make_school(future.area)),
        "wrong_year": lambda: make_pupil(future.school, year_group=11),
        "left": lambda: make_pupil(future.school, status="left", left_on=date(2025, 7, 1)),
    }[who]()
    db.session.commit()
    with pytest.raises(ValidationFailed) as error:
        registers.set_register(future.match, [ok.id, bad.id], by=future.lead)
    assert error.value.field == "pupil_ids"
    assert registers.register_ids(future.match) == []


def test_a_pupil_is_on_a_register_at_most_once(future):
    a = pupils(future, 1)[0]
    with pytest.raises(ValidationFailed, match="only once"):
        registers.set_register(future.match, [a.id, a.id], by=future.lead)
    registers.set_register(future.match, [a.id], by=future.lead)
    db.session.add(RegisterEntry(match_id=future.match.id, pupil_id=a.id, school_id=future.school.id,
                                 provider_id=future.provider_org.id, year_group=9))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_only_the_schools_leads_choose_who_goes(future):
    a = pupils(future, 1)[0]
    other_lead = make_user(Role.CAREERS_LEAD, organisation=make_school(future.area))
    db.session.commit()
    for user in (future.provider, future.coordinator, other_lead):
        with pytest.raises(NotAllowed):
            registers.set_register(future.match, [a.id], by=user)


def test_no_register_before_confirmation(app):
    world = World(starts_in=timedelta(days=3), status=MatchStatus.APPROVED)
    a = pupils(world, 1)[0]
    with pytest.raises(InvalidState):
        registers.set_register(world.match, [a.id], by=world.lead)


# --- attendance -----------------------------------------------------------------------------------------------------

def test_attendance_cannot_be_recorded_before_the_session_starts(future):
    a = pupils(future, 1)[0]
    registers.set_register(future.match, [a.id], by=future.lead)
    with pytest.raises(InvalidState, match="not started"):
        registers.record_attendance(future.match, [a.id], ALL_FOUR, by=future.lead)
    assert db.session.get(SessionRecord, future.match.id) is None
    assert db.session.get(Match, future.match.id).status == MatchStatus.SCHEDULED


def test_recording_moves_the_match_counts_and_audits(past):
    a, b = pupils(past, 2)
    registers.set_register(past.match, [a.id, b.id], by=past.lead)
    outcome = registers.record_attendance(past.match, [a.id], ALL_FOUR, "Good questions", by=past.lead)
    assert (outcome.corrected, outcome.attended, outcome.sent) == (False, 1, 2)
    assert db.session.get(Match, past.match.id).status == MatchStatus.RECORDED
    assert (a.contacts, b.contacts) == (1, 0)
    record = db.session.get(SessionRecord, past.match.id)
    assert record.meaningful and record.reflections == "Good questions"
    assert record.held_on == past.match.session_starts_at.date()
    assert events(past.match)[-1] == ("scheduled", "recorded", "attendance recorded: 1 of 2 attended")
    with pytest.raises(InvalidState, match="already recorded"):
        registers.set_register(past.match, [a.id], by=past.lead)
    with pytest.raises(ValidationFailed):
        registers.record_attendance(past.match, [a.id, 999999], ALL_FOUR, by=past.lead)

    # A correction: b went after all, and there was no time to reflect.
    checklist = registers.Checklist(purpose_shared=True, learning_outcomes=True, two_way=True)
    outcome = registers.record_attendance(past.match, [a.id, b.id], checklist, "Good questions", by=past.lead)
    assert outcome.corrected and outcome.changes == ("attended 1 → 2 (+1, −0)", "time to reflect: yes → no")
    assert (a.contacts, b.contacts) == (0, 0)
    assert events(past.match)[-1] == ("recorded", "recorded", "attendance corrected")
    assert audit_actions(past.match)[-2:] == ["register.record", "register.correct"]
    detail = db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "register.correct")).one()
    assert "time to reflect: yes → no" in detail

    # The same call again changes nothing and logs nothing.
    outcome = registers.record_attendance(past.match, [a.id, b.id], checklist, "Good questions", by=past.lead)
    assert outcome.corrected and outcome.changes == ()
    assert audit_actions(past.match).count("register.correct") == 1


def test_nobody_on_the_register_cannot_be_recorded(past):
    with pytest.raises(ValidationFailed, match="Nobody"):
        registers.record_attendance(past.match, [], ALL_FOUR, by=past.lead)


# --- the provider's confirmation --------------------------------------------------------------------------------------

def test_the_provider_confirms_delivery_after_the_start(future, past):
    with pytest.raises(InvalidState, match="not started"):
        registers.confirm_delivery(future.match, by=future.provider)
    with pytest.raises(NotAllowed):
        registers.confirm_delivery(past.match, by=past.lead)
    assert registers.confirm_delivery(past.match, by=past.provider).already is False
    match = db.session.get(Match, past.match.id)
    assert match.status == MatchStatus.DELIVERED and match.delivery_confirmed_by_id == past.provider.id
    assert match.delivery_confirmed_at is not None
    assert events(match)[-1] == ("scheduled", "delivered", "delivery confirmed by the provider")
    assert registers.confirm_delivery(match, by=past.provider).already is True
    assert audit_actions(match) == ["match.confirm_delivery"]
    # The school records after the provider confirmed: delivered → recorded.
    a = pupils(past, 1)[0]
    registers.set_register(match, [a.id], by=past.lead)
    registers.record_attendance(match, [a.id], ALL_FOUR, by=past.lead)
    assert events(match)[-1][:2] == ("delivered", "recorded")


def test_confirming_after_recording_keeps_it_recorded(past):
    a = pupils(past, 1)[0]
    registers.set_register(past.match, [a.id], by=past.lead)
    registers.record_attendance(past.match, [a.id], ALL_FOUR, by=past.lead)
    registers.confirm_delivery(past.match, by=past.provider)
    match = db.session.get(Match, past.match.id)
    assert match.status == MatchStatus.RECORDED and match.delivery_confirmed_at is not None
    assert events(match)[-1] == ("recorded", "recorded", "delivery confirmed by the provider")


# --- the pages ------------------------------------------------------------------------------------------------------

def test_register_page_ticks_the_suggestion_and_saves_the_lead_s_choice(client, login, future):
    a, b, c, d = pupils(future, 4)
    a.contacts = 3
    b.display_name = "Ada Sentinel"
    db.session.commit()
    login(future.lead)
    page = client.get(f"/matches/{future.match.id}/register").get_data(as_text=True)
    assert "3 places; 0 on the register; 3 left" in page
    assert "Ada Sentinel" in page
    for pupil in (b, c, d):
        assert f'value="{pupil.id}" id="pupil-{pupil.id}" checked' in page
    assert f'value="{a.id}" id="pupil-{a.id}">' in page  # furthest from four are suggested; a has 3
    response = client.post(f"/matches/{future.match.id}/register", data={"pupil_ids": [a.id, b.id, c.id, d.id]})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Choose at most 3 pupils" in page
    assert f'value="{a.id}" id="pupil-{a.id}" checked' in page  # the lead's ticks are kept
    response = client.post(f"/matches/{future.match.id}/register", data={"pupil_ids": [a.id, b.id]})
    assert response.status_code == 302
    assert set(registers.register_ids(future.match)) == {a.id, b.id}
    view = client.get(f"/matches/{future.match.id}").get_data(as_text=True)
    assert "2 of 3 places" in view and "Choose who goes" in view


def test_attendance_page_refuses_before_the_start_and_records_after(client, login, future, past):
    login(future.lead)
    assert "has not started yet" in client.get(f"/matches/{future.match.id}/attendance").get_data(as_text=True)
    login(past.lead)
    a, b = pupils(past, 2)
    registers.set_register(past.match, [a.id, b.id], by=past.lead)
    page = client.get(f"/matches/{past.match.id}/attendance").get_data(as_text=True)
    assert f'id="attended-{a.id}" checked' in page and f'id="attended-{b.id}" checked' in page
    assert "Two-way interaction" in page and "Time to reflect" in page
    response = client.post(f"/matches/{past.match.id}/attendance",
                           data={"attended": [a.id], "purpose_shared": "y", "learning_outcomes": "y",
                                 "two_way": "y", "time_to_reflect": "y", "reflections": "Lively"})
    assert response.status_code == 302
    assert (db.session.get(Pupil, a.id).contacts, db.session.get(Pupil, b.id).contacts) == (1, 0)
    page = client.get(f"/matches/{past.match.id}/attendance").get_data(as_text=True)
    assert f'id="attended-{a.id}" checked' in page and f'id="attended-{b.id}">' in page


def test_provider_and_coordinator_see_counts_never_pupils(client, login, past):
    a, b = pupils(past, 2, display_name="Zed Sentinel")
    registers.set_register(past.match, [a.id, b.id], by=past.lead)
    registers.record_attendance(past.match, [a.id], ALL_FOUR, by=past.lead)
    sentinels = [a.reference, b.reference, "Zed Sentinel"]
    for user in (past.provider, past.coordinator):
        login(user)
        page = client.get(f"/matches/{past.match.id}").get_data(as_text=True)
        assert "2 of 3 places" in page and "<dd class=\"col-sm-9\">1</dd>" in page
        for sentinel in sentinels:
            assert sentinel not in page
        for path in ("register", "attendance"):
            response = client.get(f"/matches/{past.match.id}/{path}")
            assert response.status_code == 403
            assert not any(s in response.get_data(as_text=True) for s in sentinels)
    login(past.provider)
    response = client.post(f"/matches/{past.match.id}/confirm-delivery", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "delivery is confirmed" in page and not any(s in page for s in sentinels)
    assert db.session.get(Match, past.match.id).delivery_confirmed_at is not None


def test_match_page_offers_the_register_actions_to_each_side(client, login, past):
    login(past.lead)
    page = client.get(f"/matches/{past.match.id}").get_data(as_text=True)
    assert "Choose who goes" in page and "Record attendance" in page and "Confirm delivery" not in page
    login(past.provider)
    page = client.get(f"/matches/{past.match.id}").get_data(as_text=True)
    assert "Confirm delivery" in page and "Choose who goes" not in page and "Record attendance" not in page


def test_the_pupil_page_shows_the_timeline_with_why_not_counted(client, login, past):
    a = pupils(past, 1)[0]
    registers.set_register(past.match, [a.id], by=past.lead)
    registers.record_attendance(past.match, [a.id], registers.Checklist(purpose_shared=True), by=past.lead)
    login(past.lead)
    page = client.get(f"/pupils/{a.id}").get_data(as_text=True)
    assert "Timeline of encounters" in page and past.provider_org.name in page
    assert "No: Not a meaningful encounter: no learning outcomes, no two-way interaction, no time to reflect" in page
