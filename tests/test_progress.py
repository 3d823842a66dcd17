"""Progress toward four: the careers lead's school, the coordinator's area, a provider's impact, destinations."""
import re
from contextlib import contextmanager
from datetime import date, timedelta

import pyotp
import pytest
from sqlalchemy import event, select

from portal.extensions import db
from portal.models import AuditEvent, Match, Pupil, PupilYearCount, RegisterEntry, SessionRecord, utcnow
from portal.services import counting, destinations, progress
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_pupil, make_request, make_school, make_user

TODAY = date.today()
YEAR = counting.current_academic_year(TODAY)
YEAR_START = counting.academic_year_bounds(YEAR)[0]
TWO_STEP = {"totp_secret": pyotp.random_base32(), "totp_enabled_at": utcnow()}


def pupil(school, *, contacts=0, this_year=None, **fields):
    """A pupil with kept totals set directly (as services/counting.py would keep them)."""
    made = make_pupil(school, contacts=contacts, **fields)
    if this_year is not None:
        db.session.add(PupilYearCount(pupil_id=made.id, academic_year=YEAR, contacts=this_year,
                                      attended=max(this_year, 1)))
        db.session.flush()
    return made


def held_session(provider, school, held_on, attended, *, counted=True, absent=()):
    """A delivered session of one of the provider's offers at the school, with its register recorded."""
    offer = make_offer(provider, year_groups=(7, 8, 9, 10, 11))
    school_request = make_request(school, year_groups=(7, 8, 9, 10, 11))
    match = Match(offer_id=offer.id, request_id=school_request.id, area_id=school.area_id, allocation=30,
                  origin="engine", status="scheduled")
    db.session.add(match)
    db.session.flush()
    db.session.add(SessionRecord(match_id=match.id, held_on=held_on, purpose_shared=counted,
                                 learning_outcomes=counted, two_way=counted, time_to_reflect=counted))
    for p in attended:
        db.session.add(RegisterEntry(match_id=match.id, pupil_id=p.id, school_id=school.id, provider_id=provider.id,
                                     year_group=p.year_group, attended=True, held_on=held_on,
                                     academic_year=counting.academic_year(held_on), counted=counted))
    for p in absent:
        db.session.add(RegisterEntry(match_id=match.id, pupil_id=p.id, school_id=school.id, provider_id=provider.id,
                                     year_group=p.year_group, attended=False, held_on=held_on,
                                     academic_year=counting.academic_year(held_on), counted=False))
    db.session.flush()
    return match


@contextmanager
def count_queries():
    statements: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)


@pytest.fixture
def school_world(app):
    area = make_area("Burnley")
    school = make_school(area, name="Burnley High")
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    # Year 9: 0, 1, 4, 5 contacts; Year 10: 2, 3 contacts. Benchmark 5 (one this year): two in Year 9, one in 10.
    pupils = {
        "a": pupil(school, reference="PA0000001", year_group=9, contacts=0),
        "b": pupil(school, reference="PB0000001", year_group=9, contacts=1, this_year=1,
                   last_contact_on=TODAY - timedelta(days=3)),
        "c": pupil(school, reference="PC0000001", year_group=9, contacts=4, this_year=2),
        "d": pupil(school, reference="PD0000001", year_group=9, contacts=5, this_year=0),
        "e": pupil(school, reference="PE0000001", year_group=10, contacts=2, at_risk=True,
                   last_contact_on=TODAY - timedelta(days=30)),
        "f": pupil(school, reference="PF0000001", year_group=10, contacts=3, this_year=1),
        "left": pupil(school, reference="PL0000001", year_group=11, contacts=0, status="left", left_on=TODAY),
    }
    db.session.commit()
    return area, school, lead, pupils


def test_school_progress_counts_pupils_per_bucket_and_benchmark5(school_world):
    _area, school, _lead, _pupils = school_world
    summary = progress.school_progress(school, today=TODAY)
    assert summary.bucket_labels == ["0", "1", "2", "3", "4+"]
    assert [(r.year_group, r.counts, r.total, r.b5_met) for r in summary.rows] == [
        (9, [1, 1, 0, 0, 2], 4, 2),
        (10, [0, 0, 1, 1, 0], 2, 1),
    ]
    assert summary.totals.counts == [1, 1, 1, 1, 2]
    assert (summary.totals.total, summary.totals.b5_met, summary.totals.b5_not_met) == (6, 3, 3)
    assert summary.below_target == 4  # the leaver is not on roll


def test_college_needs_two_for_benchmark5_and_target_comes_from_the_area(app):
    area = make_area(contact_target=2)
    college = make_school(area, phase="college")
    pupil(college, year_group=12, contacts=1, this_year=1)
    pupil(college, year_group=12, contacts=3, this_year=2)
    db.session.commit()
    summary = progress.school_progress(college, today=TODAY)
    assert summary.bucket_labels == ["0", "1", "2+"]
    assert summary.rows[0].counts == [0, 1, 1]
    assert summary.rows[0].b5_met == 1


def test_progress_page_shows_chart_table_and_who_to_send(client, login, school_world):
    _area, _school, lead, pupils = school_world
    login(lead)
    response = client.get("/progress")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<svg" in html and 'role="img"' in html and "style=" not in html
    assert "<caption>Pupils on roll at each number of contacts to date, by year group</caption>" in html
    # Below four in who-to-send order: 0 contacts, then 1, then 2 (at risk), then 3.
    refs = re.findall(r'<a href="/pupils/(\d+)">(P\w+)</a>', html)
    assert [ref for _id, ref in refs] == ["PA0000001", "PB0000001", "PE0000001", "PF0000001"]
    assert refs[0][0] == str(pupils["a"].id)
    assert "PC0000001" not in html and "PL0000001" not in html


def test_progress_page_year_chooser_and_bad_year(client, login, school_world):
    _area, _school, lead, _pupils = school_world
    login(lead)
    assert client.get(f"/progress?year={YEAR - 1}").status_code == 200
    assert client.get("/progress?year=nonsense").status_code == 200
    assert client.get("/progress?page=999").status_code == 200


def _bulk_pupils(school, n, offset):
    db.session.add_all(
        Pupil(school_id=school.id, reference=f"PQ{offset + i:07d}", identifier_hash=f"bulk-{offset + i}",
              year_group=7 + i % 5, contacts=i % 6, at_risk=i % 7 == 0)
        for i in range(n)
    )
    db.session.flush()
    db.session.add_all(PupilYearCount(pupil_id=p.id, academic_year=YEAR, contacts=1, attended=1)
                       for p in db.session.scalars(select(Pupil).where(Pupil.school_id == school.id,
                                                                       Pupil.reference.like("PQ%"),
                                                                       Pupil.contacts > 2)))
    db.session.commit()


def test_progress_page_query_count_does_not_grow_with_pupils(client, login, app):
    area = make_area()
    small, big = make_school(area), make_school(area)
    small_lead, big_lead = make_user(Role.CAREERS_LEAD, organisation=small), make_user(Role.CAREERS_LEAD,
                                                                                       organisation=big)
    _bulk_pupils(small, 10, 0)
    _bulk_pupils(big, 200, 1000)
    counts = []
    for lead in (small_lead, big_lead):
        login(lead)
        client.get("/progress")  # warm up
        with count_queries() as statements:
            assert client.get("/progress").status_code == 200
        counts.append(statements)
    assert len(counts[0]) == len(counts[1]) <= 12
    if db.engine.dialect.name == "postgresql":  # a page's pupils as one array parameter (sql_lists.py)
        assert counts[0] == counts[1]


def test_area_overview_query_count_does_not_grow_with_pupils(client, login, app):
    """Nor do its statements grow with the schools: the same texts for an area of one school and of four (the
    schools named by a subquery, not a parameter each, which SQLAlchemy renders anew and psycopg re-splits on
    every request, and PostgreSQL parses and plans per length)."""
    small_area, big_area = make_area(), make_area()
    coordinator = make_user(Role.COORDINATOR, areas=[small_area, big_area], **TWO_STEP)
    _bulk_pupils(make_school(small_area), 10, 0)
    for n in range(4):
        _bulk_pupils(make_school(big_area), 50, 2000 + 100 * n)
    login(coordinator)
    counts = []
    for area in (small_area, big_area):
        client.get(f"/progress/areas/{area.id}")
        with count_queries() as statements:
            assert client.get(f"/progress/areas/{area.id}").status_code == 200
        counts.append(statements)
    assert counts[0] == counts[1]


@pytest.fixture
def area_world(school_world):
    area, school, lead, pupils = school_world
    other = make_school(area, name="Padiham Academy")
    pupil(other, year_group=9, contacts=4, at_risk=True, this_year=1)
    pupil(other, year_group=9, contacts=1, at_risk=True)
    for n in range(6):
        pupil(other, year_group=11, status="left", left_on=TODAY, destination="not_known" if n < 5 else "eet")
    pupil(other, year_group=11, status="left", left_on=date(YEAR - 3, 7, 20))  # an old cohort: not counted
    provider_one, provider_two = make_provider(area), make_provider(area)
    held_session(provider_one, school, YEAR_START, [pupils["b"], pupils["c"]])
    held_session(provider_two, school, YEAR_START, [pupils["c"]], counted=False)
    held_session(provider_two, school, YEAR_START, [], absent=[pupils["a"]])  # nobody attended: not engaged
    held_session(provider_one, school, date(YEAR - 1, 10, 1), [pupils["d"]])  # last year
    other_lead = make_user(Role.CAREERS_LEAD, organisation=other)
    coordinator = make_user(Role.COORDINATOR, areas=[area], **TWO_STEP)
    db.session.commit()
    return area, school, other, lead, other_lead, coordinator, (provider_one, provider_two)


def test_area_overview_figures_per_school(area_world):
    area, school, other, *_ = area_world
    overview = progress.area_overview(area, today=TODAY)
    rows = {s.school.id: s for s in overview.schools}
    burnley, padiham = rows[school.id], rows[other.id]
    assert (burnley.on_roll, burnley.at_target, burnley.at_target_by_year) == (6, 2, {9: 2, 10: 0})
    assert (burnley.b5_met, burnley.at_risk, burnley.at_risk_at_target) == (3, 1, 0)
    assert burnley.providers == 2  # provider_two's attended-but-not-meaningful session still engages the school
    assert (burnley.leavers, burnley.not_known) == (1, 1)
    assert (padiham.on_roll, padiham.at_target, padiham.b5_met) == (2, 1, 1)
    assert (padiham.at_risk, padiham.at_risk_at_target, padiham.at_risk_pct) == (2, 1, 50)
    assert (padiham.leavers, padiham.not_known, padiham.many_not_known) == (6, 5, True)
    assert overview.year_groups == [9, 10]
    assert overview.totals.on_roll == 8


def test_not_knowns_count_recent_leavers_and_those_who_left_on_no_recorded_date(app):
    """Recent leavers: left this academic year or the one before, or on a date nobody recorded; older cohorts are
    history. Each kind is counted apart and added up (two index ranges), for each school asked about."""
    area = make_area("Leavers")
    school, other = make_school(area, name="Counted High"), make_school(area, name="Elsewhere")
    today = date(2026, 3, 1)  # academic year 2025: recent since 1 September 2024
    for left_on, destination in [(date(2026, 2, 1), "not_known"), (date(2026, 2, 1), "eet"),
                                 (date(2025, 7, 20), None), (date(2024, 9, 1), "eet"), (None, "not_known"),
                                 (None, None), (date(2024, 7, 20), "not_known"), (date(2023, 7, 20), None)]:
        make_pupil(school, year_group=11, status="left", left_on=left_on, destination=destination)
    make_pupil(school, year_group=11, destination=None)  # on roll: not a leaver
    make_pupil(other, year_group=11, status="left", left_on=None, destination="not_known")
    db.session.commit()
    rows = {school_id: (int(leavers), int(not_known)) for school_id, leavers, not_known in
            db.session.execute(destinations.not_known_by_school([school.id, other.id], today=today))}
    assert rows == {school.id: (6, 4), other.id: (1, 1)}
    assert db.session.execute(destinations.not_known_by_school([-1], today=today)).all() == []


def test_area_overview_page_shows_references_never_names(client, login, area_world):
    area, school, _other, _lead, _other_lead, coordinator, _providers = area_world
    p = pupil(school, year_group=9, display_name="Winifred Hiddenname")
    school.names_opt_in = True
    db.session.commit()
    login(coordinator)
    html = client.get(f"/progress/areas/{area.id}").get_data(as_text=True)
    assert "Padiham Academy" in html and "Send reminder" in html
    assert "Winifred" not in html and p.reference not in html
    assert client.get("/progress/areas").status_code == 302  # one area: straight to it


def test_area_overview_refused_to_another_areas_coordinator(client, login, area_world):
    area = area_world[0]
    stranger = make_user(Role.COORDINATOR, areas=[make_area()], **TWO_STEP)
    db.session.commit()
    login(stranger)
    assert client.get(f"/progress/areas/{area.id}").status_code == 403
    assert client.post(f"/progress/areas/{area.id}/schools/{area_world[2].id}/remind").status_code == 403


def test_reminder_mails_the_schools_careers_leads_and_is_audited(client, login, area_world, mailbox):
    area, _school, other, _lead, other_lead, coordinator, _providers = area_world
    login(coordinator)
    response = client.post(f"/progress/areas/{area.id}/schools/{other.id}/remind")
    assert response.status_code == 302
    messages = mailbox()
    assert [m["To"] for m in messages] == [other_lead.email]
    assert "5 not known" in messages[0]["Subject"]
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "destinations.reminder_sent")).one()
    assert event.object_id == other.id and event.area_id == area.id and "5 of 6" in event.detail


def test_reminder_refused_without_not_knowns(client, login, area_world, mailbox):
    area, school, *_rest = area_world
    coordinator = area_world[5]
    for p in db.session.scalars(select(Pupil).where(Pupil.school_id == school.id, Pupil.status == "left")):
        p.destination = "eet"
    db.session.commit()
    login(coordinator)
    response = client.post(f"/progress/areas/{area.id}/schools/{school.id}/remind", follow_redirects=True)
    assert "no leavers whose destination is not known" in response.get_data(as_text=True)
    assert mailbox() == []
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "destinations.reminder_sent")) is None


def test_provider_impact_counts_only(area_world, client, login):
    _area, _school, _other, _lead, _other_lead, _coordinator, (provider_one, provider_two) = area_world
    # provider_one: this year one session, pupils b and c reached, both counted. b and c had no earlier contact.
    impact = progress.provider_impact(provider_one, today=TODAY)
    assert (impact.sessions, impact.schools, impact.pupils_reached, impact.first_contacts) == (1, 1, 2, 2)
    # provider_two: two sessions held, c reached (not meaningful), nobody's first contact.
    impact = progress.provider_impact(provider_two, today=TODAY)
    assert (impact.sessions, impact.schools, impact.pupils_reached, impact.first_contacts) == (2, 1, 1, 0)
    last_year = progress.provider_impact(provider_one, today=TODAY, year=YEAR - 1)
    assert (last_year.sessions, last_year.pupils_reached, last_year.first_contacts) == (1, 1, 1)


def test_first_contact_is_not_counted_when_the_pupil_met_someone_before(area_world):
    _area, school, _other, *_rest, (_provider_one, provider_two) = area_world
    d = db.session.scalar(select(Pupil).where(Pupil.reference == "PD0000001"))  # met provider_one last year
    held_session(provider_two, school, YEAR_START, [d])
    db.session.commit()
    assert progress.provider_impact(provider_two, today=TODAY).first_contacts == 0


def test_impact_page_for_the_provider(client, login, area_world):
    provider_one = area_world[6][0]
    user = make_user(Role.PROVIDER, organisation=provider_one)
    db.session.commit()
    login(user)
    html = client.get("/impact").get_data(as_text=True)
    assert "Pupils reached" in html
    assert "PB0000001" not in html and "PC0000001" not in html


# --- destinations ------------------------------------------------------------------------------------------------

def test_destinations_page_saves_in_one_go_and_audits(client, login, area_world):
    _area, _school, other, _lead, other_lead, *_rest = area_world
    login(other_lead)
    html = client.get("/destinations").get_data(as_text=True)
    leavers = list(db.session.scalars(destinations.leavers_query(other)))
    assert len(leavers) == 7
    assert all(p.reference in html for p in leavers)
    form = {f"d_{p.id}": (p.destination or "") for p in leavers}
    form[f"d_{leavers[0].id}"] = "neet"
    form[f"d_{leavers[1].id}"] = "eet"
    response = client.post("/destinations", data=form)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Pupil, leavers[0].id).destination == "neet"
    assert db.session.get(Pupil, leavers[1].id).destination_recorded_at is not None
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "destinations.recorded")).one()
    assert event.detail.startswith("2 leavers")


def test_destinations_bad_value_saves_nothing(client, login, area_world):
    other_lead = area_world[4]
    login(other_lead)
    leavers = list(db.session.scalars(destinations.leavers_query(area_world[2])))
    before = {p.id: p.destination for p in leavers}
    form = {f"d_{p.id}": "eet" for p in leavers}
    form[f"d_{leavers[2].id}"] = "astronaut"
    response = client.post("/destinations", data=form)
    assert response.status_code == 400
    assert "Not a valid choice" in response.get_data(as_text=True)
    db.session.expire_all()
    assert {p.id: db.session.get(Pupil, p.id).destination for p in leavers} == before
    assert sum(1 for v in before.values() if v != "eet") == 6
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "destinations.recorded")) is None


def test_destinations_service_refuses_another_schools_pupils(area_world):
    _area, school, other, lead, *_rest = area_world
    theirs = db.session.scalars(destinations.leavers_query(other)).first()
    assert theirs.destination == "not_known"
    from portal.errors import InvalidState, NotAllowed

    with pytest.raises(NotAllowed):
        destinations.record_destinations(other, {theirs.id: "eet"}, by=lead)
    with pytest.raises(InvalidState):
        destinations.record_destinations(school, {theirs.id: "eet"}, by=lead)
    db.session.expire_all()
    assert db.session.get(Pupil, theirs.id).destination == "not_known"


def test_progress_reads_the_totals_counting_keeps(app):
    """End to end with services/counting.py: registers recorded, totals refreshed, progress moves."""
    area = make_area()
    school, provider = make_school(area), make_provider(area)
    first, second = make_pupil(school, year_group=9), make_pupil(school, year_group=9)
    meaningful = held_session(provider, school, YEAR_START, [first, second])
    shallow = held_session(provider, school, YEAR_START, [first], counted=False)
    for match in (meaningful, shallow):
        counting.refresh_pupils(counting.mark_entries(match))
    db.session.commit()
    summary = progress.school_progress(school, today=TODAY)
    assert summary.rows[0].counts == [0, 2, 0, 0, 0]  # the non-meaningful session is shown, not counted
    assert summary.rows[0].b5_met == 2
    impact = progress.provider_impact(provider, today=TODAY)
    assert (impact.sessions, impact.pupils_reached, impact.first_contacts) == (2, 2, 2)
