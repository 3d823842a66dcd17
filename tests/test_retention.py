"""Retention (issue 7): leavers' pupil-level rows go after the area's retention period, tested with a moved clock."""
from datetime import date, datetime

import pytest
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.models import AuditEvent, Pupil, PupilYearCount, RegisterEntry, SchoolTotal, SchoolYearTotal
from portal.services import admin as admin_service
from portal.services import counting, reports, retention
from portal.vocab import Role
from tests.factories import make_area, make_provider, make_pupil, make_school, make_user
from tests.test_progress import held_session

LEFT_ON = date(2025, 7, 20)  # 2024/25: kept to 31 August 2026 by default
HELD_ON = date(2025, 3, 10)  # a session in 2024/25, while the leavers were on roll
KEPT_TO, GONE_FROM = date(2026, 8, 31), date(2026, 9, 1)


@pytest.mark.parametrize("left_on, years, today, due", [
    (LEFT_ON, 1, KEPT_TO, False),
    (LEFT_ON, 1, GONE_FROM, True),
    (date(2024, 9, 1), 1, KEPT_TO, False),  # first day of 2024/25: the same academic year
    (date(2025, 8, 31), 1, GONE_FROM, True),  # last day of 2024/25
    (date(2025, 9, 1), 1, GONE_FROM, False),  # left in 2025/26: kept to 31 August 2027
    (LEFT_ON, 2, date(2027, 8, 31), False),
    (LEFT_ON, 2, date(2027, 9, 1), True),
    (LEFT_ON, 10, date(2035, 9, 1), True),
    (LEFT_ON, 10, date(2035, 8, 31), False),
])
def test_retention_due_at_the_end_of_the_academic_year(left_on, years, today, due):
    assert counting.retention_due(left_on, years, today) is due


@pytest.fixture
def world(app):
    area = make_area("Pendle")
    far_area = make_area("Ribble", retention_years=2)
    school, other = make_school(area, name="Nelson High"), make_school(area, name="Colne Park")
    far = make_school(far_area, name="Clitheroe Grammar")
    w = type("World", (), {})()
    w.area, w.far_area, w.school, w.other, w.far = area, far_area, school, other, far
    w.stays = make_pupil(school, reference="PSTAYS001", year_group=10, at_risk=True)
    w.leaver = make_pupil(school, reference="PLEAVE001", year_group=11, status="left", left_on=LEFT_ON,
                          destination="eet", display_name="Ada Pupil")
    w.no_date = make_pupil(school, reference="PNODATE01", year_group=11, status="left")
    w.later = make_pupil(school, reference="PLATER001", year_group=11, status="left", left_on=date(2025, 9, 2))
    w.other_leaver = make_pupil(other, reference="POTHER001", year_group=11, status="left", left_on=LEFT_ON)
    w.far_leaver = make_pupil(far, reference="PFAR00001", year_group=11, status="left", left_on=LEFT_ON)
    w.provider = make_provider(area)
    w.lone_provider = make_provider(area)
    held_session(w.provider, school, HELD_ON, [w.stays, w.leaver, w.no_date, w.later])
    held_session(w.lone_provider, school, HELD_ON, [w.leaver])  # only a removed pupil went
    held_session(w.provider, other, HELD_ON, [w.other_leaver])
    held_session(w.provider, far, HELD_ON, [w.far_leaver])
    everyone = [w.stays, w.leaver, w.no_date, w.later, w.other_leaver, w.far_leaver]
    counting.refresh_pupils([p.id for p in everyone])
    counting.refresh_schools([school.id, other.id, far.id])
    # No leaving date recorded: judged by when the row last changed (the recount above changed it, so set it).
    db.session.execute(update(Pupil).where(Pupil.id == w.no_date.id).values(updated_at=datetime(2025, 7, 20, 10)))
    db.session.commit()
    w.ids = {name: getattr(w, name).id for name in ("stays", "leaver", "no_date", "later", "other_leaver",
                                                    "far_leaver")}
    return w


def present(w) -> set[str]:
    db.session.expire_all()
    ids = set(db.session.scalars(select(Pupil.id)))
    return {name for name, pupil_id in w.ids.items() if pupil_id in ids}


def rows_of(pupil_id: int) -> tuple[int, int]:
    return (db.session.scalar(select(func.count()).select_from(RegisterEntry)
                              .where(RegisterEntry.pupil_id == pupil_id)),
            db.session.scalar(select(func.count()).select_from(PupilYearCount)
                              .where(PupilYearCount.pupil_id == pupil_id)))


def audits() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.run")
                                   .order_by(AuditEvent.id)))


ALL = {"stays", "leaver", "no_date", "later", "other_leaver", "far_leaver"}


def test_leavers_are_kept_until_the_retention_point_and_gone_after_it(world):
    assert rows_of(world.ids["leaver"]) == (2, 1)
    assert retention.run(today=KEPT_TO).pupils == 0
    assert present(world) == ALL and audits() == []

    summary = retention.run(today=GONE_FROM)

    # Left in 2024/25 (or last changed then, with no leaving date): gone. Left in 2025/26, on roll, or in an area
    # that keeps two years: kept.
    assert present(world) == {"stays", "later", "far_leaver"}
    for name in ("leaver", "no_date", "other_leaver"):
        assert rows_of(world.ids[name]) == (0, 0)
    assert rows_of(world.ids["stays"]) == (1, 1)
    assert (summary.pupils, summary.register_entries, len(summary.schools)) == (3, 4, 2)
    assert retention.run(today=GONE_FROM).pupils == 0  # a second run removes nothing more
    assert len(audits()) == 2

    assert retention.run(today=date(2027, 8, 31)).pupils == 0  # Ribble keeps two years
    assert present(world) == {"stays", "later", "far_leaver"}
    retention.run(today=date(2027, 9, 1))
    assert present(world) == {"stays"}  # the later leaver's year is over, and Ribble's two years


def test_pupils_on_roll_are_never_touched(world):
    stays = db.session.get(Pupil, world.ids["stays"])
    before = (stays.version, stays.contacts, stays.updated_at, rows_of(stays.id))
    retention.run(today=date(2040, 9, 1))
    db.session.expire_all()
    stays = db.session.get(Pupil, world.ids["stays"])
    assert (stays.version, stays.contacts, stays.updated_at, rows_of(stays.id)) == before
    assert present(world) == {"stays"}


def test_the_area_setting_is_respected_after_an_admin_changes_it(world):
    admin = make_user(Role.ADMIN)
    db.session.commit()
    admin_service.update_area_settings(world.area, contact_target=4, distinct_providers=False,
                                       proposal_expiry_days=14, retention_years=2, by=admin, ip=None)
    assert retention.run(today=GONE_FROM).pupils == 0
    assert retention.run(today=date(2027, 9, 1)).pupils == 4  # the 2024/25 leavers of both areas
    assert present(world) == {"stays", "later"}  # the later leaver (2025/26) stays to 31 August 2028 now


def test_a_dry_run_changes_nothing(world, runner):
    result = runner.invoke(args=["retention", "run", "--today", GONE_FROM.isoformat(), "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "Pendle / Nelson High: 2 pupils, 3 register entries, 2 yearly counts, 1 destination" in result.output
    assert "Pendle / Colne Park: 1 pupil, 1 register entry, 1 yearly count, 0 destinations" in result.output
    assert "Would remove 3 leavers' pupil-level rows from 2 schools (as of 2026-09-01). Dry run: nothing deleted." \
        in result.output
    assert present(world) == ALL and audits() == []
    assert rows_of(world.ids["leaver"]) == (2, 1)


def test_the_command_removes_and_audits_counts_only(world, runner):
    result = runner.invoke(args=["retention", "run", "--today", GONE_FROM.isoformat()])

    assert result.exit_code == 0, result.output
    assert "Removed 3 leavers' pupil-level rows from 2 schools (as of 2026-09-01)." in result.output
    nelson, colne = audits()
    assert (nelson.object_type, nelson.object_id, nelson.area_id, nelson.actor_id) == (
        "organisation", world.school.id, world.area.id, None)
    assert nelson.detail == ("removed past retention: 2 pupils, 3 register entries, 2 yearly counts, "
                             "1 destination")
    assert colne.object_id == world.other.id
    for event in (nelson, colne):
        for secret in ("PLEAVE001", "PNODATE01", "POTHER001", "Ada Pupil", "hash-"):
            assert secret not in event.detail


def test_a_bad_date_is_a_clear_error(world, runner):
    result = runner.invoke(args=["retention", "run", "--today", "1st September"])
    assert result.exit_code == 2 and "Give a date such as 2026-09-01." in result.output
    assert present(world) == ALL


def test_report_figures_change_only_as_documented(world):
    def figures():
        db.session.expire_all()
        report = reports.termly_report(world.area, date(2024, 9, 1), date(2025, 8, 31), today=GONE_FROM)
        totals = sorted((t.school_id, t.year_group, t.pupils, t.at_target, t.at_risk)
                        for t in db.session.scalars(select(SchoolTotal)))
        years = {(t.school_id, t.academic_year): (t.b5_met, t.providers)
                 for t in db.session.scalars(select(SchoolYearTotal))}
        return report, totals, years

    before, totals_before, years_before = figures()
    retention.run(today=GONE_FROM)
    after, totals_after, years_after = figures()

    # Unchanged: sessions held, everything about pupils on roll now.
    assert (after.sessions, after.on_roll, after.at_target) == (before.sessions, before.on_roll, before.at_target) \
        == (3, 1, 0)
    assert totals_after == totals_before
    # Recent leavers: the 2025/26 leaver stays; the leaver with no leaving date was recent until removed.
    assert (before.leavers, before.not_known, after.leavers, after.not_known) == (2, 2, 1, 1)
    # Changed as the module says: the removed pupils' attendances and the providers and schools only they reached.
    assert (before.schools, before.providers, before.pupils_reached, before.encounters) == (2, 2, 5, 6)
    assert (after.schools, after.providers, after.pupils_reached, after.encounters) == (1, 1, 2, 2)
    assert [(s.name, s.sessions, s.pupils, s.encounters) for s in after.by_school] == [("Nelson High", 1, 2, 2)]
    assert years_before[(world.school.id, 2024)] == (1, 2)
    assert years_after[(world.school.id, 2024)] == (1, 1)
    assert (world.other.id, 2024) not in years_after


def test_the_admin_sets_the_retention_years_audited(client, login):
    admin = make_user(Role.ADMIN)
    area = make_area("Burnley")
    db.session.commit()
    login(admin)
    url = f"/admin/areas/{area.id}"
    assert 'name="retention_years"' in client.get(url).get_data(as_text=True)

    response = client.post(url, data={"contact_target": "4", "proposal_expiry_days": "14", "retention_years": "11"})

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<div id="retention_years-error" class="invalid-feedback d-block">The number of years must be a whole ' \
           'number from 1 to 10.</div>' in html
    db.session.expire_all()
    assert db.session.get(type(area), area.id).retention_years == 1

    response = client.post(url, data={"contact_target": "4", "proposal_expiry_days": "14", "retention_years": "3"})

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(area), area.id).retention_years == 3
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "area.update")).all()
    assert event.detail == "retention_years: 1 → 3"


@pytest.mark.parametrize("value", [0, 11, -1])
def test_the_service_checks_the_retention_years(app, value):
    admin = make_user(Role.ADMIN)
    area = make_area()
    db.session.commit()
    with pytest.raises(admin_service.ValidationFailed) as error:
        admin_service.update_area_settings(area, contact_target=4, distinct_providers=False, proposal_expiry_days=14,
                                           retention_years=value, by=admin, ip=None)
    assert error.value.field == "retention_years"
