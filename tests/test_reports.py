"""Reports: the termly impact report (page, notes, CSV, validation), Benchmark 5 and the audited pupils CSV."""
import csv
import io
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, ReportNote
from portal.services import reports
from portal.vocab import Role
from tests.factories import make_area, make_provider, make_school, make_user
from tests.test_progress import TWO_STEP, YEAR, YEAR_START, held_session, pupil

PERIOD_START, PERIOD_END = YEAR_START, date(YEAR, 12, 31)


@pytest.fixture
def world(app):
    area = make_area("Pendle")
    school, other = make_school(area, name="Nelson High"), make_school(area, name="Colne Park")
    outside = make_school(make_area(), name="Faraway School")
    pupils = [pupil(school, year_group=9, contacts=n) for n in (0, 1, 4, 6)]
    theirs = [pupil(other, year_group=10, contacts=n) for n in (2, 4)]
    far = pupil(outside, year_group=9, contacts=4)
    pupil(school, year_group=11, status="left", left_on=YEAR_START)  # not known (never recorded)
    pupil(other, year_group=11, status="left", left_on=YEAR_START, destination="eet")
    p1, p2 = make_provider(area), make_provider(area)
    held_session(p1, school, YEAR_START, pupils[:3])  # 3 encounters, counted
    held_session(p2, school, YEAR_START, pupils[2:], counted=False)  # 2 attended, not meaningful
    held_session(p1, other, YEAR_START, theirs)  # 2 encounters
    held_session(p1, outside, YEAR_START, [far])  # another area: not in the report
    held_session(p1, school, date(YEAR - 1, 11, 1), pupils[:1])  # before the period
    coordinator = make_user(Role.COORDINATOR, areas=[area], **TWO_STEP)
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    db.session.commit()
    return area, school, other, coordinator, lead


def test_termly_report_figures(world):
    area, *_ = world
    report = reports.termly_report(area, PERIOD_START, PERIOD_END, today=PERIOD_START)
    assert (report.sessions, report.schools, report.providers) == (3, 2, 2)
    assert (report.pupils_reached, report.encounters, report.contacts) == (6, 7, 5)
    assert (report.on_roll, report.at_target, report.target_label) == (6, 3, "4+")
    assert (report.leavers, report.not_known) == (2, 1)
    assert [(s.name, s.sessions, s.pupils, s.encounters) for s in report.by_school] == [
        ("Colne Park", 1, 2, 2), ("Nelson High", 2, 4, 5)]


def test_current_term_by_fixed_dates():
    assert reports.current_term(date(2025, 10, 5)) == (date(2025, 9, 1), date(2025, 12, 31))
    assert reports.current_term(date(2026, 2, 5)) == (date(2026, 1, 1), date(2026, 3, 31))
    assert reports.current_term(date(2026, 6, 5)) == (date(2026, 4, 1), date(2026, 8, 31))


def test_termly_page_notes_and_print_stylesheet(client, login, world):
    area, _school, _other, coordinator, _lead = world
    login(coordinator)
    url = f"/reports/areas/{area.id}/termly?start={PERIOD_START.isoformat()}&end={PERIOD_END.isoformat()}"
    html = client.get(url).get_data(as_text=True)
    assert "Encounters held (attendances)" in html and "Colne Park" in html
    response = client.post(url, data={"planned_activity": "Careers fair in March.\n=Visit every school."})
    assert response.status_code == 302
    note = db.session.scalars(select(ReportNote)).one()
    assert (note.area_id, note.period_start, note.period_end) == (area.id, PERIOD_START, PERIOD_END)
    assert note.planned_activity.startswith("Careers fair")
    assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "report_note.saved")).one()
    assert "Careers fair in March." in client.get(url).get_data(as_text=True)
    client.post(url, data={"planned_activity": "Changed."})  # saved again: the same note
    db.session.expire_all()
    assert db.session.scalars(select(ReportNote)).one().planned_activity == "Changed."
    css = (Path(client.application.static_folder) / "css" / "portal.css").read_text()
    assert "@media print" in css and "no-print" in html


def test_termly_csv(client, login, world):
    area, _school, _other, coordinator, _lead = world
    login(coordinator)
    reports.save_note(area, PERIOD_START, PERIOD_END, "=HYPERLINK(1)", by=coordinator)
    response = client.get(f"/reports/areas/{area.id}/termly.csv?start={PERIOD_START}&end={PERIOD_END}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    figures = {row[0]: row[1] for row in rows if len(row) == 2}
    assert figures["Sessions held"] == "3" and figures["Pupils reached"] == "6"
    assert figures["Encounters held (attendances)"] == "7"
    assert figures["Recent leavers whose destination is not known"] == "1"
    assert figures["Planned activity"] == "'=HYPERLINK(1)"  # never run as a formula
    assert ["Nelson High", "2", "4", "5"] in rows


@pytest.mark.parametrize(("start", "end", "field", "message"), [
    ("2025-13-01", "2025-12-31", "start", "Enter a date as YYYY-MM-DD"),
    ("2025-09-01", "yesterday", "end", "Enter a date as YYYY-MM-DD"),
    ("2025-12-01", "2025-09-01", "end", "on or after its start"),
    ("2020-01-01", "2025-01-01", "end", "two years or less"),
])
def test_termly_period_is_validated_beside_the_field(client, login, world, start, end, field, message):
    area, _school, _other, coordinator, _lead = world
    login(coordinator)
    response = client.get(f"/reports/areas/{area.id}/termly?start={start}&end={end}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html and message in html
    assert f'value="{start}"' in html  # what was typed is kept
    assert client.get(f"/reports/areas/{area.id}/termly.csv?start={start}&end={end}").status_code == 400
    assert client.post(f"/reports/areas/{area.id}/termly?start={start}&end={end}",
                       data={"planned_activity": "x"}).status_code == 400
    assert db.session.scalar(select(ReportNote)) is None


def test_termly_note_too_long(client, login, world):
    area, _school, _other, coordinator, _lead = world
    login(coordinator)
    response = client.post(f"/reports/areas/{area.id}/termly", data={"planned_activity": "x" * 5001})
    assert response.status_code == 400
    assert "5000 characters or fewer" in response.get_data(as_text=True)
    assert db.session.scalar(select(ReportNote)) is None


def test_termly_report_refused_outside_the_coordinators_areas(client, login, world):
    area = world[0]
    stranger = make_user(Role.COORDINATOR, areas=[make_area()], **TWO_STEP)
    db.session.commit()
    login(stranger)
    assert client.get(f"/reports/areas/{area.id}/termly").status_code == 403
    assert client.get(f"/reports/areas/{area.id}/termly.csv").status_code == 403


def test_benchmark5_report(client, login, app):
    area = make_area()
    school = make_school(area)
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    pupil(school, year_group=8, contacts=1, this_year=1)
    pupil(school, year_group=8, contacts=0)
    pupil(school, year_group=8, contacts=0, this_year=0)
    db.session.commit()
    login(lead)
    html = client.get("/reports/benchmark5").get_data(as_text=True)
    assert "<caption>Benchmark 5 by year group" in html
    assert '<th scope="row">Year 8</th><td class="text-end">3</td><td class="text-end">1</td>' in html
    assert '<td class="text-end">2</td><td class="text-end">33</td>' in html


def test_pupils_csv_contents_and_audit(client, login, app):
    area = make_area()
    school = make_school(area, names_opt_in=True)
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    pupil(school, reference="PCSV00001", year_group=9, form_group="9B", contacts=3, this_year=2,
          display_name="=cmd|' /C calc'!A0", at_risk=True)
    pupil(school, reference="PCSV00002", year_group=10, contacts=0, disadvantaged=True, send=True)
    pupil(make_school(area), reference="POTHER001", year_group=9)
    db.session.commit()
    login(lead)
    response = client.get("/reports/pupils.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == reports.PUPILS_CSV_HEADER
    assert rows[1] == ["PCSV00001", "'=cmd|' /C calc'!A0", "Year 9", "9B", "No", "No", "Yes", "On roll", "3", "2",
                       "Met"]
    assert rows[2] == ["PCSV00002", "", "Year 10", "", "Yes", "Yes", "No", "On roll", "0", "0", "Not met"]
    assert len(rows) == 3
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "pupils.exported")).one()
    assert event.actor_id == lead.id and event.object_id == school.id and event.detail.startswith("2 rows")


def test_pupils_csv_leaves_names_out_without_opt_in(client, login, app):
    school = make_school(make_area())
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    pupil(school, reference="PCSV00003", display_name="Stale Name")
    db.session.commit()
    login(lead)
    assert "Stale Name" not in client.get("/reports/pupils.csv").get_data(as_text=True)


def test_pupils_csv_and_benchmark5_refused_to_others(client, login, world):
    _area, _school, _other, coordinator, _lead = world
    provider = make_user(Role.PROVIDER, organisation=make_provider())
    db.session.commit()
    for user in (coordinator, provider):
        login(user)
        assert client.get("/reports/pupils.csv").status_code == 403
        assert client.get("/reports/benchmark5").status_code == 403
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "pupils.exported")) is None
