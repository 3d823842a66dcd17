"""The counting rules, case by case (product.md "Counting toward four"; services/counting.py owns them)."""
from datetime import date, datetime

import pytest
from sqlalchemy import event, select

from portal.extensions import db
from portal.models import Match, MatchStatus, Pupil, PupilYearCount, RegisterEntry, SessionRecord
from portal.services import admin, counting, registers
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_pupil, make_request, make_school, make_user

MEANINGFUL = dict(purpose_shared=True, learning_outcomes=True, two_way=True, time_to_reflect=True)


@pytest.fixture
def world(app):
    area = make_area()
    school = make_school(area)
    provider = make_provider(area)
    return area, school, provider


def held(school, provider, on: date, pupils, *, attended=None, type="careers_talk", criteria=None,
         year_groups=tuple(range(0, 14))):
    """A recorded session on `on` with these pupils sent (all attended unless `attended` says who)."""
    offer = make_offer(provider, type=type, year_groups=year_groups)
    request = make_request(school, year_groups=year_groups)
    match = Match(offer_id=offer.id, request_id=request.id, area_id=school.area_id, allocation=max(len(pupils), 1),
                  origin="school_asked", status=MatchStatus.RECORDED,
                  session_starts_at=datetime.combine(on, datetime.min.time().replace(hour=10)), session_minutes=60)
    db.session.add(match)
    db.session.flush()
    db.session.add(SessionRecord(match_id=match.id, held_on=on, **(MEANINGFUL if criteria is None else criteria)))
    went = pupils if attended is None else attended
    for pupil in pupils:
        db.session.add(RegisterEntry(match_id=match.id, pupil_id=pupil.id, school_id=school.id,
                                     provider_id=provider.id, year_group=pupil.year_group, attended=pupil in went))
    db.session.flush()
    counting.refresh_pupils(counting.mark_entries(match))
    return match


def year_counts(pupil) -> dict[int, tuple[int, int]]:
    return {row.academic_year: (row.contacts, row.attended) for row in db.session.scalars(
        select(PupilYearCount).where(PupilYearCount.pupil_id == pupil.id))}


def test_a_meaningful_attended_session_of_a_counting_type_is_a_contact(world):
    _area, school, provider = world
    pupil, absent = make_pupil(school), make_pupil(school)
    held(school, provider, date(2025, 10, 1), [pupil, absent], attended=[pupil])
    assert (pupil.contacts, pupil.last_contact_on) == (1, date(2025, 10, 1))
    assert year_counts(pupil) == {2025: (1, 1)}
    assert (absent.contacts, absent.last_contact_on, year_counts(absent)) == (0, None, {})


@pytest.mark.parametrize("missing", sorted(MEANINGFUL))
def test_a_session_missing_any_criterion_is_shown_but_not_counted(world, missing):
    _area, school, provider = world
    pupil = make_pupil(school)
    held(school, provider, date(2025, 10, 1), [pupil], criteria={**MEANINGFUL, missing: False})
    assert pupil.contacts == 0 and pupil.last_contact_on is None
    assert year_counts(pupil) == {2025: (0, 1)}  # attended, not counted
    [row] = counting.pupil_timeline(pupil)
    assert row.attended is True and row.meaningful is False and row.counted is False
    assert row.why_not.startswith("Not a meaningful encounter") and counting.CRITERIA[missing] in row.why_not


def test_a_type_that_does_not_count_is_not_counted(world):
    _area, school, provider = world
    pupil = make_pupil(school, year_group=11)
    held(school, provider, date(2025, 10, 1), [pupil], type="apprenticeship_vacancy")
    assert pupil.contacts == 0 and year_counts(pupil) == {2025: (0, 1)}
    [row] = counting.pupil_timeline(pupil)
    assert (row.counted, row.why_not) == (False, "This kind of encounter does not count toward the target")
    assert row.type_label == "Apprenticeship vacancy"


def test_distinct_providers_counts_a_repeat_provider_once(world):
    area, school, provider = world
    other = make_provider(area)
    pupil = make_pupil(school)
    for on, who in ((date(2025, 10, 1), provider), (date(2025, 11, 1), provider), (date(2026, 1, 10), other),
                    (date(2026, 10, 1), provider)):
        held(school, who, on, [pupil])
    assert pupil.contacts == 4 and year_counts(pupil) == {2025: (3, 3), 2026: (1, 1)}
    area.distinct_providers = True
    counting.recount_area(area)
    assert pupil.contacts == 2  # provider once, other once
    assert year_counts(pupil) == {2025: (2, 3), 2026: (1, 1)}  # in a year: once that year
    timeline = counting.pupil_timeline(pupil)
    assert [row.counted for row in timeline] == [True, False, True, False]
    assert "Repeat with this provider" in timeline[1].why_not
    assert pupil.last_contact_on == date(2026, 10, 1)


def test_distinct_providers_on_from_the_start(world):
    area, school, provider = world
    area.distinct_providers = True
    pupil = make_pupil(school)
    held(school, provider, date(2025, 10, 1), [pupil])
    held(school, provider, date(2025, 10, 2), [pupil])
    assert pupil.contacts == 1 and year_counts(pupil) == {2025: (1, 2)}


@pytest.mark.parametrize(("on", "year"), [(date(2025, 8, 31), 2024), (date(2025, 9, 1), 2025),
                                          (date(2026, 8, 31), 2025), (date(2026, 9, 1), 2026)])
def test_academic_years_run_from_1_september_to_31_august(world, on, year):
    _area, school, provider = world
    pupil = make_pupil(school)
    held(school, provider, on, [pupil])
    assert year_counts(pupil) == {year: (1, 1)}
    assert db.session.scalars(select(RegisterEntry.academic_year)).one() == year
    assert counting.academic_year(on) == year


def test_counting_starts_in_year_7(world):
    _area, school, provider = world
    pupil = make_pupil(school, year_group=6)
    held(school, provider, date(2025, 6, 1), [pupil])  # sent in Year 6
    assert pupil.contacts == 0 and year_counts(pupil) == {2024: (0, 1)}
    [row] = counting.pupil_timeline(pupil)
    assert row.why_not.startswith("Before Year 7")
    pupil.year_group = 7
    held(school, provider, date(2025, 9, 20), [pupil])
    assert pupil.contacts == 1 and year_counts(pupil) == {2024: (0, 1), 2025: (1, 1)}


def test_rollover_does_not_change_history(world):
    area, school, provider = world
    pupil = make_pupil(school, year_group=9)
    held(school, provider, date(2025, 10, 1), [pupil])
    pupil.year_group = 10  # the year-end rollover, or a correction of the roster
    db.session.flush()
    counting.refresh_pupils([pupil.id])
    assert pupil.contacts == 1 and year_counts(pupil) == {2025: (1, 1)}
    assert db.session.scalars(select(RegisterEntry.year_group)).one() == 9
    pupil.year_group = 6  # even a move below Year 7 keeps what was counted when the pupil was sent
    db.session.flush()
    counting.recount_area(area)
    assert pupil.contacts == 1


def test_leavers_keep_their_counts(world):
    area, school, provider = world
    pupil = make_pupil(school, year_group=11)
    held(school, provider, date(2025, 10, 1), [pupil])
    pupil.status, pupil.left_on = "left", date(2026, 7, 20)
    db.session.flush()
    counting.recount_area(area)
    assert pupil.contacts == 1 and year_counts(pupil) == {2025: (1, 1)}


def _recorded_by_service(app, school, provider):
    """A scheduled, past session with two pupils, recorded through services.registers (as the school)."""
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    offer = make_offer(provider)
    request = make_request(school)
    match = Match(offer_id=offer.id, request_id=request.id, area_id=school.area_id, allocation=5,
                  origin="school_asked", status=MatchStatus.SCHEDULED,
                  session_starts_at=datetime(2025, 11, 5, 10), session_minutes=60)
    db.session.add(match)
    one, two = make_pupil(school), make_pupil(school)
    db.session.commit()
    registers.set_register(match, [one.id, two.id], by=lead)
    registers.record_attendance(match, [one.id, two.id], registers.Checklist(**MEANINGFUL), by=lead)
    return lead, match, one, two


def test_corrections_lower_the_counts(app, world):
    _area, school, provider = world
    lead, match, one, two = _recorded_by_service(app, school, provider)
    assert (one.contacts, two.contacts) == (1, 1)
    registers.record_attendance(match, [one.id], registers.Checklist(**MEANINGFUL), by=lead)  # two did not go
    assert (one.contacts, two.contacts) == (1, 0)
    assert year_counts(two) == {} and two.last_contact_on is None
    registers.record_attendance(match, [one.id], registers.Checklist(**{**MEANINGFUL, "two_way": False}), by=lead)
    assert one.contacts == 0 and year_counts(one) == {2025: (0, 1)}
    registers.record_attendance(match, [one.id, two.id], registers.Checklist(**MEANINGFUL), by=lead)
    assert (one.contacts, two.contacts) == (1, 1)


def test_recount_after_the_admin_changes_the_area_setting(app, world):
    area, school, provider = world
    pupil = make_pupil(school)
    held(school, provider, date(2025, 10, 1), [pupil])
    held(school, provider, date(2025, 10, 8), [pupil])
    admin_user = make_user(Role.ADMIN)
    db.session.commit()
    assert pupil.contacts == 2
    admin.update_area_settings(area, contact_target=5, distinct_providers=True,
                               proposal_expiry_days=area.proposal_expiry_days, by=admin_user, ip=None)
    assert db.session.get(Pupil, pupil.id).contacts == 1
    admin.update_area_settings(area, contact_target=5, distinct_providers=False,
                               proposal_expiry_days=area.proposal_expiry_days, by=admin_user, ip=None)
    assert db.session.get(Pupil, pupil.id).contacts == 2


def test_recount_area_leaves_other_areas_alone(world):
    area, school, provider = world
    other_area = make_area()
    other_school = make_school(other_area)
    here, there = make_pupil(school), make_pupil(other_school)
    held(school, provider, date(2025, 10, 1), [here])
    held(school, provider, date(2025, 10, 2), [here])
    held(other_school, provider, date(2025, 10, 1), [there])
    held(other_school, provider, date(2025, 10, 2), [there])
    area.distinct_providers = other_area.distinct_providers = True
    counting.recount_area(area)
    assert here.contacts == 1 and there.contacts == 2


def test_benchmark5_needs_two_in_colleges(world):
    area, school, _provider = world
    college = make_school(area, phase="college")
    assert counting.benchmark5_required(school) == 1 and counting.benchmark5_required(college) == 2
    assert counting.benchmark5_met(1, school) and not counting.benchmark5_met(1, college)


def _statements_to_refresh(school, provider, n: int) -> int:
    pupils = [make_pupil(school) for _ in range(n)]
    held(school, provider, date(2025, 10, 1), pupils)
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        counting.refresh_pupils([p.id for p in pupils])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert {p.contacts for p in pupils} == {1}
    return len(statements)


def test_refresh_pupils_query_count_does_not_grow_with_pupils(world):
    _area, school, provider = world
    few = _statements_to_refresh(school, provider, 10)
    many = _statements_to_refresh(school, provider, 100)
    assert few == many
    assert few <= 4


def test_a_correction_writes_only_the_rows_it_changes(app, world):
    """A correction of one pupil's attendance on a register of five: the UPDATEs and the per-year rows touch that
    pupil alone (the rest already hold the right totals), and every total still equals a fresh count."""
    _area, school, provider = world
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    offer, request = make_offer(provider), make_request(school)
    match = Match(offer_id=offer.id, request_id=request.id, area_id=school.area_id, allocation=5,
                  origin="school_asked", status=MatchStatus.SCHEDULED,
                  session_starts_at=datetime(2025, 11, 5, 10), session_minutes=60)
    db.session.add(match)
    pupils = [make_pupil(school) for _ in range(5)]
    held(school, provider, date(2025, 10, 1), pupils)  # an earlier contact each, so every pupil has year rows
    db.session.commit()
    ids = [pupil.id for pupil in pupils]
    registers.set_register(match, ids, by=lead)
    registers.record_attendance(match, ids, registers.Checklist(**MEANINGFUL), by=lead)
    written: dict[str, int] = {}

    def rowcount(conn, cursor, statement, parameters, context, executemany):
        words = statement.split()
        verb, table = words[0], words[2] if words[0] in ("DELETE", "INSERT") else words[1]
        if verb in ("UPDATE", "DELETE", "INSERT") and table in ("pupils", "register_entries", "pupil_year_counts"):
            written[f"{verb} {table}"] = written.get(f"{verb} {table}", 0) + cursor.rowcount

    event.listen(db.engine, "after_cursor_execute", rowcount)
    try:
        registers.record_attendance(match, ids[1:], registers.Checklist(**MEANINGFUL), by=lead)  # one did not go
    finally:
        event.remove(db.engine, "after_cursor_execute", rowcount)
    assert written == {"UPDATE register_entries": 1, "UPDATE pupils": 1, "DELETE pupil_year_counts": 1,
                       "INSERT pupil_year_counts": 1}
    db.session.expire_all()
    assert [db.session.get(Pupil, i).contacts for i in ids] == [1, 2, 2, 2, 2]
    assert year_counts(pupils[0]) == {2025: (1, 1)} and year_counts(pupils[1]) == {2025: (2, 2)}
