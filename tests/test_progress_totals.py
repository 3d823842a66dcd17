"""The per-school totals the coordinator's overview reads (SchoolTotal, SchoolYearTotal) equal a count from scratch
after every kind of change: registers recorded and corrected, imports, rollover, leaving, hand edits, the area's
settings, a school's phase. The from-scratch count here walks the ORM objects in Python, sharing nothing with
the SQL in services/counting.py."""
from collections import Counter
from datetime import date, datetime

import pytest
from sqlalchemy import event, select, update

from portal.errors import ValidationFailed
from portal.extensions import db
from portal.models import (
    Match,
    MatchStatus,
    Organisation,
    Pupil,
    PupilYearCount,
    RegisterEntry,
    SchoolTotal,
    SchoolYearTotal,
    SessionRecord,
)
from portal.services import admin, counting, progress, pupils, registers
from portal.services.pupils import PupilDetails
from portal.services.roster_import import RosterRow
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_pupil, make_request, make_school, make_user

ALL_FOUR = registers.Checklist(purpose_shared=True, learning_outcomes=True, two_way=True, time_to_reflect=True)
NOT_TWO_WAY = registers.Checklist(purpose_shared=True, learning_outcomes=True, two_way=False, time_to_reflect=True)
SUMMER = date(2027, 7, 20)


def from_scratch() -> tuple[dict, dict]:
    """Every school's figures counted afresh from pupils, their year counts and the register entries."""
    db.session.expire_all()
    by_group: dict[tuple[int, int], list[int]] = {}
    by_year: dict[tuple[int, int], list[int]] = {}
    for pupil in db.session.scalars(select(Pupil)):
        if pupil.status != "on_roll":
            continue
        school = db.session.get(Organisation, pupil.school_id)
        at_target = pupil.contacts >= school.area.contact_target
        row = by_group.setdefault((pupil.school_id, pupil.year_group), [0, 0, 0, 0])
        row[0] += 1
        row[1] += at_target
        row[2] += pupil.at_risk
        row[3] += pupil.at_risk and at_target
        needed = 2 if school.phase == "college" else 1
        for year in db.session.scalars(select(PupilYearCount).where(PupilYearCount.pupil_id == pupil.id)):
            if year.contacts >= needed:
                by_year.setdefault((pupil.school_id, year.academic_year), [0, 0])[0] += 1
    engaged = {(e.school_id, e.academic_year, e.provider_id) for e in db.session.scalars(select(RegisterEntry))
               if e.attended and e.academic_year is not None}
    for (school_id, year), n in Counter((s, y) for s, y, _ in engaged).items():
        by_year.setdefault((school_id, year), [0, 0])[1] = n
    return ({key: tuple(row) for key, row in by_group.items()}, {key: tuple(row) for key, row in by_year.items()})


def kept() -> tuple[dict, dict]:
    db.session.expire_all()
    return (
        {(r.school_id, r.year_group): (r.pupils, r.at_target, r.at_risk, r.at_risk_at_target)
         for r in db.session.scalars(select(SchoolTotal))},
        {(r.school_id, r.academic_year): (r.b5_met, r.providers) for r in db.session.scalars(select(SchoolYearTotal))},
    )


def check() -> tuple[dict, dict]:
    """The kept totals equal the fresh count, row for row (no stale or empty rows either)."""
    fresh = from_scratch()
    assert kept() == fresh
    return fresh


@pytest.fixture
def world(app):
    area = make_area("Burnley")
    school, other = make_school(area, name="Burnley High"), make_school(area, name="Padiham Academy")
    provider, second = make_provider(area), make_provider(area)
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    db.session.commit()
    return {"area": area, "school": school, "other": other, "provider": provider, "second": second, "lead": lead}


def scheduled(school, provider, on: datetime) -> Match:
    years = (7, 8, 9, 10, 11)
    match = Match(offer_id=make_offer(provider, year_groups=years).id,
                  request_id=make_request(school, year_groups=years).id, area_id=school.area_id,
                  allocation=10, origin="school_asked", status=MatchStatus.SCHEDULED, session_starts_at=on,
                  session_minutes=60)
    db.session.add(match)
    db.session.commit()
    return match


def roster(*rows: tuple[str, int] | tuple[str, int, bool]) -> list[RosterRow]:
    return [RosterRow(line=n + 2, identifier=r[0], year_group=r[1], at_risk=r[2] if len(r) > 2 else False)
            for n, r in enumerate(rows)]


def pupil_ids(school, *identifiers: str) -> list[int]:
    return [db.session.scalar(select(Pupil.id).where(Pupil.school_id == school.id,
                                                     Pupil.identifier_hash == pupils.identifier_hash(school.id, i)))
            for i in identifiers]


def test_registers_recorded_and_corrected(world):
    school, lead = world["school"], world["lead"]
    pupils.import_roster(school, roster(("1", 9), ("2", 9, True), ("3", 10)), full_roster=True, by=lead)
    one, two, three = pupil_ids(school, "1", "2", "3")
    groups, years = check()
    assert groups == {(school.id, 9): (2, 0, 1, 0), (school.id, 10): (1, 0, 0, 0)} and years == {}

    first = scheduled(school, world["provider"], datetime(2025, 11, 5, 10))
    registers.set_register(first, [one, two, three], by=lead)
    check()  # sent, not yet recorded: nothing engaged
    registers.record_attendance(first, [one, two, three], ALL_FOUR, by=lead)
    _groups, years = check()
    assert years == {(school.id, 2025): (3, 1)}

    second = scheduled(school, world["second"], datetime(2026, 1, 14, 10))
    registers.set_register(second, [one, two], by=lead)
    registers.record_attendance(second, [two], NOT_TWO_WAY, by=lead)
    _groups, years = check()
    assert years == {(school.id, 2025): (3, 2)}  # not meaningful: engaged, not counted

    registers.record_attendance(first, [one], ALL_FOUR, by=lead)  # a correction: two and three did not go
    _groups, years = check()
    assert years == {(school.id, 2025): (1, 2)}
    registers.record_attendance(second, [], ALL_FOUR, by=lead)  # nobody went after all
    _groups, years = check()
    assert years == {(school.id, 2025): (1, 1)}


def test_many_sessions_reach_the_target_and_the_overview_reads_it(world):
    area, school, lead = world["area"], world["school"], world["lead"]
    pupils.import_roster(school, roster(("1", 9, True), ("2", 9)), full_roster=True, by=lead)
    one, two = pupil_ids(school, "1", "2")
    for n in range(4):
        match = scheduled(school, world["provider"], datetime(2025, 10, 1 + 7 * n, 10))
        registers.set_register(match, [one, two] if n < 3 else [one], by=lead)
        registers.record_attendance(match, [one, two] if n < 3 else [one], ALL_FOUR, by=lead)
    groups, years = check()
    assert groups == {(school.id, 9): (2, 1, 1, 1)} and years == {(school.id, 2025): (2, 1)}
    overview = progress.area_overview(area, today=date(2026, 3, 1))
    row = next(s for s in overview.schools if s.school.id == school.id)
    assert (row.on_roll, row.at_target, row.at_risk_at_target, row.b5_met, row.providers) == (2, 1, 1, 2, 1)
    assert row.at_target_by_year == {9: 1}
    empty = next(s for s in overview.schools if s.school.id == world["other"].id)
    assert (empty.on_roll, empty.b5_met, empty.providers) == (0, 0, 0)
    assert progress.area_overview(area, today=date(2026, 3, 1), year=2024).schools[0].b5_met == 0


def test_imports_leaving_returning_and_rollover(world):
    school, lead = world["school"], world["lead"]
    pupils.import_roster(school, roster(("1", 9), ("2", 10), ("3", 11)), full_roster=True, by=lead)
    one, two, three = pupil_ids(school, "1", "2", "3")
    match = scheduled(school, world["provider"], datetime(2025, 11, 5, 10))
    registers.set_register(match, [one, two, three], by=lead)
    registers.record_attendance(match, [one, two, three], ALL_FOUR, by=lead)
    check()
    pupils.import_roster(school, roster(("1", 10, True), ("2", 10)), full_roster=True, by=lead)  # 3 left, 1 moved
    groups, years = check()
    assert groups == {(school.id, 10): (2, 0, 1, 0)} and years == {(school.id, 2025): (2, 1)}
    pupils.import_roster(school, roster(("3", 11), ("4", 7)), full_roster=False, by=lead)  # 3 is back; 4 is new
    groups, years = check()
    assert years == {(school.id, 2025): (3, 1)} and groups[(school.id, 7)] == (1, 0, 0, 0)
    pupils.rollover(school, apply=True, today=SUMMER)
    groups, years = check()
    assert set(groups) == {(school.id, 8), (school.id, 11)}
    assert years == {(school.id, 2025): (2, 1)}  # Year 11 left: their Benchmark 5 no longer on roll


def test_hand_edits_and_marking_as_left(world):
    school, lead = world["school"], world["lead"]
    pupil = pupils.add_pupil(school, PupilDetails(year_group=8, identifier="77"), by=lead)
    assert check()[0] == {(school.id, 8): (1, 0, 0, 0)}
    with pytest.raises(ValidationFailed):
        pupils.add_pupil(school, PupilDetails(year_group=8, identifier="77"), by=lead)
    check()
    pupils.edit_pupil(pupil, PupilDetails(year_group=9, at_risk=True), expected_version=pupil.version, by=lead)
    assert check()[0] == {(school.id, 9): (1, 0, 1, 0)}
    pupils.mark_left(pupil, by=lead)
    assert check() == ({}, {})


def test_area_settings_and_college_phase(world):
    area, school, other, lead = world["area"], world["school"], world["other"], world["lead"]
    pupils.import_roster(school, roster(("1", 9), ("2", 9)), full_roster=True, by=lead)
    one, two = pupil_ids(school, "1", "2")
    for n in range(2):
        match = scheduled(school, world["provider"], datetime(2025, 10, 1 + 7 * n, 10))
        registers.set_register(match, [one, two], by=lead)
        registers.record_attendance(match, [one] if n else [one, two], ALL_FOUR, by=lead)
    admin_user = make_user(Role.ADMIN)
    db.session.commit()
    assert check()[0] == {(school.id, 9): (2, 0, 0, 0)}
    admin.update_area_settings(area, contact_target=2, distinct_providers=False,
                               proposal_expiry_days=area.proposal_expiry_days, by=admin_user, ip=None)
    assert check()[0] == {(school.id, 9): (2, 1, 0, 0)}
    admin.update_area_settings(area, contact_target=2, distinct_providers=True,
                               proposal_expiry_days=area.proposal_expiry_days, by=admin_user, ip=None)
    assert check()[0] == {(school.id, 9): (2, 0, 0, 0)}  # one provider twice counts once
    admin.update_area_settings(area, contact_target=2, distinct_providers=False,
                               proposal_expiry_days=area.proposal_expiry_days, by=admin_user, ip=None)
    db.session.get(Organisation, school.id).phase = "college"  # now two a year for Benchmark 5
    db.session.commit()
    assert check()[1] == {(school.id, 2025): (1, 1)}
    db.session.get(Organisation, school.id).area_id = make_area(contact_target=1).id  # moved to a lower target
    db.session.commit()
    assert check()[0] == {(school.id, 9): (2, 2, 0, 0)}
    assert other.id not in {s for s, _ in check()[0]}


def test_totals_set_through_orm_objects_are_refreshed_at_commit(world):
    """Kept pupil totals written directly through the ORM (as fixtures do) still reach the school totals."""
    school = world["school"]
    made = make_pupil(school, year_group=10, contacts=5, at_risk=True)
    db.session.add(PupilYearCount(pupil_id=made.id, academic_year=2025, contacts=1, attended=1))
    db.session.commit()
    assert check() == ({(school.id, 10): (1, 1, 1, 1)}, {(school.id, 2025): (1, 0)})
    made.contacts = 0
    db.session.commit()
    assert check()[0] == {(school.id, 10): (1, 0, 1, 0)}
    made.year_group = 11
    db.session.rollback()  # a rolled-back change leaves the totals alone
    assert check()[0] == {(school.id, 10): (1, 0, 1, 0)}


def test_refresh_schools_statements_do_not_grow_with_pupils(world):
    def statements_for(school, n: int) -> int:
        for _ in range(n):
            make_pupil(school, contacts=1)
        db.session.commit()
        seen = []

        def count(conn, cursor, statement, parameters, context, executemany):
            seen.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            counting.refresh_schools([school.id])
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(seen)

    few, many = statements_for(world["school"], 3), statements_for(world["other"], 60)
    assert few == many <= 7
    check()


# --- a register recorded or corrected refreshes only the rows it can change -----------------------------------------

SPOILT = 99


def spoil(school, *, year_group: int | None = None, academic_year: int | None = None) -> None:
    """Write a wrong figure into a kept row behind counting's back: only a refresh that reaches the row mends it."""
    if year_group is not None:
        db.session.execute(update(SchoolTotal).where(SchoolTotal.school_id == school.id,
                                                     SchoolTotal.year_group == year_group).values(pupils=SPOILT))
    if academic_year is not None:
        db.session.execute(update(SchoolYearTotal).where(SchoolYearTotal.school_id == school.id,
                                                         SchoolYearTotal.academic_year == academic_year)
                           .values(b5_met=SPOILT))
    db.session.commit()


def spoilt(school, *, year_group: int | None = None, academic_year: int | None = None) -> tuple[dict, dict]:
    """The kept rows, which must equal a fresh count except for the spoilt ones, left as they were (returned)."""
    fresh, rows = from_scratch(), kept()
    left = ({key: row for key, row in rows[0].items() if key != (school.id, year_group)},
            {key: row for key, row in rows[1].items() if key != (school.id, academic_year)})
    assert left == ({key: row for key, row in fresh[0].items() if key != (school.id, year_group)},
                    {key: row for key, row in fresh[1].items() if key != (school.id, academic_year)})
    return rows


def test_a_correction_refreshes_only_its_pupils_year_groups_and_its_academic_year(world):
    area, school, lead = world["area"], world["school"], world["lead"]
    area.contact_target = 1
    db.session.commit()
    pupils.import_roster(school, roster(("1", 9), ("2", 9), ("3", 8)), full_roster=True, by=lead)
    one, two, three = pupil_ids(school, "1", "2", "3")
    earlier = scheduled(school, world["second"], datetime(2024, 11, 5, 10))  # 2024/25, Year 8
    registers.set_register(earlier, [three], by=lead)
    registers.record_attendance(earlier, [three], ALL_FOUR, by=lead)
    match = scheduled(school, world["provider"], datetime(2025, 11, 5, 10))  # 2025/26, Year 9 when sent
    registers.set_register(match, [one, two], by=lead)
    registers.record_attendance(match, [one, two], ALL_FOUR, by=lead)
    pupils.rollover(school, apply=True, today=SUMMER)  # one and two are in Year 10 now, three in Year 9
    groups, years = check()
    assert groups == {(school.id, 10): (2, 2, 0, 0), (school.id, 9): (1, 1, 0, 0)}
    assert years == {(school.id, 2024): (1, 1), (school.id, 2025): (2, 1)}

    spoil(school, year_group=9, academic_year=2024)
    registers.record_attendance(match, [one], ALL_FOUR, by=lead)  # a correction: two did not go
    groups, years = spoilt(school, year_group=9, academic_year=2024)
    assert groups[(school.id, 9)][0] == SPOILT and years[(school.id, 2024)][0] == SPOILT  # not touched
    assert groups[(school.id, 10)] == (2, 1, 0, 0)  # the pupils' year group now, not when they were sent
    assert years[(school.id, 2025)] == (1, 1)
    counting.refresh_schools([school.id])
    db.session.commit()
    check()


def test_a_session_moved_to_another_academic_year_refreshes_both_years(world):
    school, lead = world["school"], world["lead"]
    pupils.import_roster(school, roster(("1", 9), ("2", 9)), full_roster=True, by=lead)
    one, two = pupil_ids(school, "1", "2")
    earlier = scheduled(school, world["second"], datetime(2024, 11, 5, 10))
    registers.set_register(earlier, [one], by=lead)
    registers.record_attendance(earlier, [one], ALL_FOUR, by=lead)
    match = scheduled(school, world["provider"], datetime(2026, 8, 20, 10))  # the last days of 2025/26
    registers.set_register(match, [one, two], by=lead)
    registers.record_attendance(match, [one, two], ALL_FOUR, by=lead)
    _groups, years = check()
    assert years == {(school.id, 2024): (1, 1), (school.id, 2025): (2, 1)}

    db.session.get(SessionRecord, match.id).held_on = date(2026, 9, 3)  # it took place in 2026/27 after all
    db.session.commit()
    spoil(school, academic_year=2024)
    registers.record_attendance(match, [one], ALL_FOUR, by=lead)
    _groups, years = spoilt(school, academic_year=2024)
    assert years == {(school.id, 2024): (SPOILT, 1), (school.id, 2026): (1, 1)}  # 2025/26 has nothing left
    counting.refresh_schools([school.id])
    db.session.commit()
    check()


def test_a_narrow_and_a_whole_note_for_one_school_refresh_the_whole_school(world):
    school, other, lead = world["school"], world["other"], world["lead"]
    other_lead = make_user(Role.CAREERS_LEAD, organisation=other)
    db.session.commit()
    pupils.import_roster(school, roster(("1", 9), ("2", 9), ("3", 11)), full_roster=True, by=lead)
    pupils.import_roster(other, roster(("8", 9),), full_roster=True, by=other_lead)
    one, two, three = pupil_ids(school, "1", "2", "3")
    (eight,) = pupil_ids(other, "8")
    earlier = scheduled(school, world["second"], datetime(2024, 11, 5, 10))
    registers.set_register(earlier, [three], by=lead)
    registers.record_attendance(earlier, [three], ALL_FOUR, by=lead)
    match = scheduled(school, world["provider"], datetime(2025, 11, 5, 10))
    registers.set_register(match, [one, two], by=lead)
    registers.record_attendance(match, [one, two], ALL_FOUR, by=lead)
    check()

    # One transaction: the register corrected (a narrow note) and a pupil of another year group edited by hand.
    spoil(school, year_group=11, academic_year=2024)
    counting.refresh_pupils(counting.mark_entries(match, [one]), academic_years={2025}, entry_schools={school.id})
    db.session.get(Pupil, three).at_risk = True
    db.session.commit()
    groups, _years = check()  # the spoilt rows were refreshed too
    assert groups[(school.id, 11)] == (1, 0, 1, 0)

    # A narrow note for one school and a whole one for another: each as noted.
    spoil(school, year_group=11, academic_year=2024)
    counting.refresh_pupils(counting.mark_entries(match, [one, two]), academic_years={2025},
                            entry_schools={school.id})
    db.session.get(Pupil, eight).at_risk = True
    db.session.commit()
    groups, years = spoilt(school, year_group=11, academic_year=2024)
    assert groups[(other.id, 9)] == (1, 0, 1, 0) and years[(school.id, 2025)] == (2, 1)
    counting.refresh_schools([school.id])
    db.session.commit()
    check()
