"""The demo data: realistic, idempotent, and every advertised login works."""
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select

from portal import catalogue, geo
from portal.catalogue import Delivery
from portal.extensions import db
from portal.models import (
    Area,
    Intern,
    InternshipProgramme,
    KitRequest,
    KitRequestStatus,
    LevyEntry,
    LevySpend,
    Match,
    MatchOrigin,
    MatchStatus,
    Offer,
    OfferStatus,
    Organisation,
    OrgKind,
    OrgStatus,
    Placement,
    PlacementStatus,
    Pledge,
    PriorityCohort,
    ProgrammeStatus,
    Pupil,
    PupilStatus,
    RegisterEntry,
    RequestStatus,
    SchoolRequest,
    SessionRecord,
    User,
    UserStatus,
)
from portal.services import browse, counting, demo, internships, levy, pledges, progress, registers, reports
from portal.services import offers as offer_rules
from portal.services import school_requests as request_rules
from portal.services.passwords import password_problems, verify_password
from portal.vocab import PHASE_YEARS, Role

# A generous box around the United Kingdom (Scilly to Shetland, Northern Ireland to Lowestoft).
UK_LATITUDE = (49.8, 60.9)
UK_LONGITUDE = (-8.7, 1.8)


def row_counts() -> dict[str, int]:
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


def test_seeding_twice_changes_nothing(app):
    assert demo.seed_demo() is True
    first = row_counts()
    assert demo.seed_demo() is False
    assert row_counts() == first
    assert first["areas"] == 2
    assert first["organisations"] >= 30
    assert first["offers"] == len(demo.OFFERS) + len(demo.SESSIONS) and len(demo.OFFERS) >= 30
    assert first["school_requests"] == len(demo.REQUESTS) + len(demo.SESSIONS) and len(demo.REQUESTS) == 8
    assert first["matches"] == len(demo.MATCHES) + len(demo.SESSIONS) and len(demo.MATCHES) == 3
    assert first["pupils"] == sum(sum(spec.year_sizes[y] for y in demo.ROSTER_YEARS) + len(demo.LEAVERS)
                                  for spec in demo.SCHOOLS if spec.name in demo.ROSTERS)


def test_only_if_empty_leaves_an_installation_with_areas_alone(app):
    db.session.add(Area(name="Elsewhere"))
    db.session.commit()
    assert demo.seed_demo(only_if_empty=True) is False
    assert db.session.scalar(select(func.count(Organisation.id))) == 0
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_every_demo_login_exists_is_active_and_takes_the_demo_password(app):
    demo.seed_demo()
    assert password_problems(demo.DEMO_PASSWORD) == []
    roles, hashes = set(), set()
    for _label, email, _note in demo.DEMO_LOGINS:
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None, email
        assert user.status == UserStatus.ACTIVE
        assert user.email_confirmed_at is not None
        hashes.add(user.password_hash)
        if user.organisation is not None:
            assert user.organisation.status == OrgStatus.VERIFIED
        roles.add(user.role)
    assert roles == set(Role)
    assert len(hashes) == 1  # one scrypt hash, shared
    assert verify_password(hashes.pop(), demo.DEMO_PASSWORD)


def test_staff_logins_say_two_step_is_set_up_at_first_sign_in(app):
    demo.seed_demo()
    for label, email, note in demo.DEMO_LOGINS:
        user = db.session.scalar(select(User).where(User.email == email))
        if user.role in (Role.COORDINATOR, Role.ADMIN):
            assert not user.two_step_enabled
            assert "two-step set-up at first sign-in" in note, label


def test_coordinators_cover_their_areas(app):
    demo.seed_demo()
    areas_of = {
        u.email: {a.name for a in u.areas}
        for u in db.session.scalars(select(User).where(User.role == Role.COORDINATOR))
    }
    assert areas_of[f"coordinator.burnley@{demo.DEMO_DOMAIN}"] == {"Burnley"}
    assert areas_of[f"coordinator.preston@{demo.DEMO_DOMAIN}"] == {"Preston"}
    assert areas_of[f"coordinator@{demo.DEMO_DOMAIN}"] == {"Burnley", "Preston"}


def test_a_pending_provider_signup_waits_for_verification(app):
    demo.seed_demo()
    user = db.session.scalar(select(User).where(User.email == demo.PENDING_SIGNUP_EMAIL))
    assert user.status == UserStatus.PENDING
    assert user.email_confirmed_at is not None
    assert user.role == Role.PROVIDER
    assert user.organisation.status == OrgStatus.PENDING
    assert user.organisation.area.name == "Burnley"
    assert demo.PENDING_SIGNUP_EMAIL not in {email for _, email, _ in demo.DEMO_LOGINS}


def test_organisations_are_located_in_the_uk_near_their_area(app):
    demo.seed_demo()
    organisations = db.session.scalars(select(Organisation)).all()
    for org in organisations:
        assert UK_LATITUDE[0] <= org.latitude <= UK_LATITUDE[1], org.name
        assert UK_LONGITUDE[0] <= org.longitude <= UK_LONGITUDE[1], org.name
        centre = demo.area_centre(org.area.name)
        assert geo.miles(org, centre) <= demo.MAX_MILES_FROM_CENTRE, org.name
    assert {org.area.name for org in organisations} == {"Burnley", "Preston"}


def test_schools_and_providers_look_like_the_real_thing(app):
    demo.seed_demo()
    schools = db.session.scalars(select(Organisation).where(Organisation.kind == OrgKind.SCHOOL)).all()
    phases = [s.phase for s in schools]
    assert phases.count("secondary") >= 8 and phases.count("primary") == 2 and phases.count("college") == 1
    for school in schools:
        assert len(school.urn) == 6 and school.urn.isdigit()
        years = {y.year_group: y.pupils for y in school.year_sizes}
        assert set(years) <= set(PHASE_YEARS[school.phase]), school.name
        if school.phase == "secondary":
            assert all(120 <= years[y] <= 240 for y in range(7, 12)), school.name
    providers = db.session.scalars(select(Organisation).where(Organisation.kind == OrgKind.PROVIDER)).all()
    assert len(providers) >= 25
    assert {"employer", "university", "college", "training_provider"} <= {p.provider_kind for p in providers}
    sectors = {code for p in providers for code in p.sector_codes}
    assert {"engineering", "digital", "health", "construction", "retail", "public_services"} <= sectors
    for provider in providers:
        assert provider.safeguarding_contact, provider.name
        assert provider.levy_payer == (provider.size_band == "large"), provider.name


def test_seed_demo_command(runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "Demo data loaded." in result.output
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0
    assert "already present" in again.output
    if_empty = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "already present" in if_empty.output


def test_demo_logins_command_prints_every_login(runner):
    result = runner.invoke(args=["demo-logins", "--port", "5123"])
    assert result.exit_code == 0
    assert "http://127.0.0.1:5123" in result.output
    assert demo.DEMO_PASSWORD in result.output
    for _role, email, _note in demo.DEMO_LOGINS:
        assert email in result.output


def test_readme_lists_every_demo_login():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert f"`{demo.DEMO_PASSWORD}`" in readme
    for role, email, note in demo.DEMO_LOGINS:
        assert f"| {role} | `{email}` | {note} |" in readme


# --- the marketplace ----------------------------------------------------------------------------------------------

def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def history_titles() -> set[str]:
    return {spec.title for spec in demo.SESSIONS}


def history_request_titles() -> set[str]:
    return {f"Request for: {spec.title}" for spec in demo.SESSIONS}


def marketplace_offers() -> list[Offer]:
    """The offers of the living marketplace (not the closed ones the demo's past and coming sessions came from)."""
    return [o for o in db.session.scalars(select(Offer)) if o.title not in history_titles()]


def _snapshot() -> dict:
    offers = {(o.provider_id, o.title): (o.starts_on, o.ends_on, o.closing_date, o.levy_expires_on, o.version)
              for o in db.session.scalars(select(Offer))}
    requests = {(r.school_id, r.title): (r.starts_on, r.ends_on, r.version)
                for r in db.session.scalars(select(SchoolRequest))}
    matches = {(m.offer_id, m.request_id): (m.status, m.created_at) for m in db.session.scalars(select(Match))}
    return {"offers": offers, "requests": requests, "matches": matches}


def test_a_later_seed_moves_no_dates(app):
    first_day = date.today()
    assert demo.seed_demo(today=first_day) is True
    before = _snapshot()
    assert demo.seed_demo(today=first_day + timedelta(days=40)) is False
    assert _snapshot() == before


def test_every_demo_offer_passes_the_offer_rules(app):
    demo.seed_demo()
    today = date.today()
    offers = marketplace_offers()
    by_status = {status: [o for o in offers if o.status == status] for status in OfferStatus}
    assert len(by_status[OfferStatus.PUBLISHED]) >= 25
    assert len(by_status[OfferStatus.DRAFT]) == 2
    assert len(by_status[OfferStatus.PAUSED]) == 1
    assert not by_status[OfferStatus.CLOSED]
    for offer in offers:
        kind = catalogue.offer_type(offer.type)
        # As the offers service checks a new offer: published (and paused, which must pass them to reopen) ones
        # against the publishing rules too.
        values = offer_rules.clean_values(kind, offer_rules.stored_values(offer))
        assert values == offer_rules.stored_values(offer), offer.title
        problems = offer_rules.offer_problems(kind, values, today=today,
                                              publishing=offer.status != OfferStatus.DRAFT)
        assert problems == {}, (offer.title, problems)
        assert offer.provider.status == OrgStatus.VERIFIED
        assert offer.area_id == offer.provider.area_id
        assert offer.sector in offer.provider.sector_codes, offer.title
        assert offer.allocated == 0
        assert offer.capacity == offer.sessions * offer.per_session
        if offer.status != OfferStatus.DRAFT:
            assert offer.published_at is not None
    # A draft waits for what publishing needs: the farm visit has no risk assessment yet.
    farm = next(o for o in by_status[OfferStatus.DRAFT] if o.type == "workplace_visit")
    assert not farm.safeguarding_complete
    assert offer_rules.offer_problems(catalogue.offer_type(farm.type), offer_rules.stored_values(farm),
                                      today=today, publishing=True) == {
        "risk_assessment_done": "A workplace visit cannot be published until you confirm that a risk assessment "
                                "has been done."}


def test_demo_offers_cover_the_main_types_with_their_details(app):
    demo.seed_demo()
    today = date.today()
    offers = marketplace_offers()
    published = [o for o in offers if o.status == OfferStatus.PUBLISHED]
    assert {o.type for o in published} == set(catalogue.OFFER_TYPES)
    for offer in offers:
        assert 0 <= (offer.starts_on - today).days <= 42, offer.title  # starting within the next weeks
        assert 28 <= (offer.ends_on - offer.starts_on).days <= 125, offer.title  # running for 1 to 4 months
        assert offer.starts_on.weekday() < 5 and offer.ends_on.weekday() < 5, offer.title
        if offer.delivery == Delivery.IN_SCHOOL:
            assert offer.max_travel_miles, offer.title
    for offer in published:
        if offer.type in ("workplace_visit", "work_experience"):
            assert offer.safeguarding_complete, offer.title
        if offer.type == "work_experience":
            assert 1 <= offer.placement_days <= 10
    levy = [o for o in published if o.type == "levy_place"]
    assert len(levy) == 2
    assert all(o.funding_amount_pence and o.provider.levy_payer for o in levy)
    assert any(90 <= (o.levy_expires_on - today).days <= 183 for o in levy)  # expiring in 3 to 6 months
    assert all(o.ends_on <= o.levy_expires_on for o in levy)
    vacancy = next(o for o in published if o.type == "apprenticeship_vacancy")
    assert today <= vacancy.closing_date <= vacancy.ends_on and vacancy.weekly_wage_pence
    kit = next(o for o in published if o.type == "primary_kit")
    assert "When I Grow Up" in kit.title and kit.year_groups == [1, 2] and kit.kit_stock >= 1
    virtual = [o for o in published if o.type == "virtual_encounter"]
    assert virtual and all(o.open_to_all_areas and o.delivery == Delivery.VIRTUAL for o in virtual)
    assert {o.area_id for o in published} == {a.id for a in db.session.scalars(select(Area))}


def test_demo_requests_are_open_varied_and_valid(app):
    demo.seed_demo()
    today = date.today()
    requests = [r for r in db.session.scalars(select(SchoolRequest)) if r.title not in history_request_titles()]
    assert len(requests) == 8
    for school_request in requests:
        assert school_request.status == RequestStatus.OPEN
        assert school_request.area_id == school_request.school.area_id
        details = request_rules.RequestDetails.of(school_request)
        assert request_rules.problems(details, school=school_request.school, today=today) == [], \
            school_request.title
        assert 0 <= (school_request.starts_on - today).days <= 42
    assert sum(r.keep_together for r in requests) == 1
    assert any(r.priority == PriorityCohort.AT_RISK for r in requests)
    assert len({r.school_id for r in requests}) == 8
    assert {r.school.phase for r in requests} == {"primary", "secondary", "college"}
    assert len({code for r in requests for code in r.wanted_types}) >= 6
    assert len({r.area_id for r in requests}) == 2


def test_demo_proposals_fit_their_offers_and_requests(app):
    demo.seed_demo()
    matches = [m for m in db.session.scalars(select(Match)) if m.offer.title not in history_titles()]
    assert len(matches) == 3
    assert {m.origin for m in matches} == {MatchOrigin.SCHOOL_ASKED, MatchOrigin.PROVIDER_OFFERED}
    for match in matches:
        assert match.status == MatchStatus.PROPOSED
        assert match.area_id == match.request.area_id
        assert browse.could_serve(match.offer, match.request)
        assert 1 <= match.allocation <= min(match.offer.places_left, match.request.pupils)
        assert [(e.from_status, e.to_status) for e in match.events] == [(None, MatchStatus.PROPOSED)]
        assert match.events[0].actor_id == match.created_by_id is not None
        actor = db.session.get(User, match.created_by_id)
        side = match.request.school if match.origin == MatchOrigin.SCHOOL_ASKED else match.offer.provider
        assert actor.organisation_id == side.id


def test_the_brun_valley_careers_lead_finds_offers(app, client, login):
    demo.seed_demo()
    login(_user(f"careers@brun-valley.{demo.DEMO_DOMAIN}"))
    page = client.get("/browse/offers")
    assert page.status_code == 200
    assert "No offers" not in page.get_data(as_text=True)
    nhs = client.get("/browse/offers", query_string={"q": "NHS"}).get_data(as_text=True)
    assert demo.NHS_TALK in nhs
    # Open to all areas: a Preston provider's virtual session is found from Burnley; its visits are not.
    tester = client.get("/browse/offers", query_string={"q": "software tester"}).get_data(as_text=True)
    assert "Ask a software tester" in tester
    warton = client.get("/browse/offers", query_string={"q": "Warton"}).get_data(as_text=True)
    assert "Engineering work experience week at Warton" not in warton
    assert "No offers match these filters" in warton


def test_the_burnley_coordinator_sees_the_proposals_of_burnley(app, client, login):
    demo.seed_demo()
    login(_user(f"coordinator.burnley@{demo.DEMO_DOMAIN}"))
    page = client.get("/matches")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "2 proposed matches" in html
    assert "Brun Valley High School" in html and "Calder Bank Community College" in html
    assert "Riversway High School" not in html


def test_every_demo_provider_login_has_open_requests_to_answer(app, client, login):
    demo.seed_demo()
    for _role, email, _note in demo.DEMO_LOGINS:
        user = _user(email)
        if user.role == Role.PROVIDER:
            offers = browse.provider_offers(user.organisation)
            assert browse.servable_request_ids(offers, today=date.today()), email
    login(_user(f"partnerships@pennine-aero.{demo.DEMO_DOMAIN}"))
    page = client.get("/browse/requests")
    assert page.status_code == 200
    assert "Calder Bank Community College" in page.get_data(as_text=True)


# --- pupils, sessions and progress ----------------------------------------------------------------------------------

def _school(name: str) -> Organisation:
    return db.session.scalar(select(Organisation).where(Organisation.name == name))


def _counted_from_scratch(pupil_ids=None, *, year: int | None = None) -> dict[int, int]:
    """Each pupil's contacts recounted from the raw rows, without the totals or the `counted` flags: attended, at a
    session recorded with all four criteria, of a type that counts, in Year 7 or above (the demo's areas count every
    provider's sessions)."""
    rows = db.session.execute(
        select(RegisterEntry.pupil_id, RegisterEntry.year_group, SessionRecord, Offer.type)
        .join(SessionRecord, SessionRecord.match_id == RegisterEntry.match_id)
        .join(Match, Match.id == RegisterEntry.match_id).join(Offer, Offer.id == Match.offer_id)
        .where(RegisterEntry.attended.is_(True))).all()
    counts: dict[int, int] = {}
    for pupil_id, year_group, record, type_code in rows:
        if (record.purpose_shared and record.learning_outcomes and record.two_way and record.time_to_reflect
                and catalogue.offer_type(type_code).counts_toward_target and year_group >= 7
                and (year is None or counting.academic_year(record.held_on) == year)):
            counts[pupil_id] = counts.get(pupil_id, 0) + 1
    return counts


def test_the_demo_schools_with_a_careers_lead_have_a_roster_and_leavers(app):
    demo.seed_demo()
    for name in demo.ROSTERS:
        school = _school(name)
        pupils = db.session.scalars(select(Pupil).where(Pupil.school_id == school.id)).all()
        on_roll = [p for p in pupils if p.status == PupilStatus.ON_ROLL]
        sizes = next(spec.year_sizes for spec in demo.SCHOOLS if spec.name == name)
        assert {y: sum(p.year_group == y for p in on_roll) for y in demo.ROSTER_YEARS} == {
            y: sizes[y] for y in demo.ROSTER_YEARS}  # the school's year sizes
        assert {p.year_group for p in on_roll} == set(demo.ROSTER_YEARS)
        for flag in ("disadvantaged", "send", "at_risk"):
            assert 0 < sum(getattr(p, flag) for p in on_roll) < len(on_roll) / 3, (name, flag)
        leavers = [p for p in pupils if p.status == PupilStatus.LEFT]
        assert sorted(p.destination for p in leavers) == sorted(demo.LEAVERS)
        assert all(p.left_on and p.left_on < date.today() for p in leavers)
        # Names only where the school opted in: Brun Valley did, Riversway did not.
        assert all(p.display_name for p in pupils) == school.names_opt_in
        assert any(p.display_name for p in pupils) == school.names_opt_in
    assert _school("Brun Valley High School").names_opt_in and not _school("Riversway High School").names_opt_in


def test_the_demo_totals_equal_a_count_from_scratch(app):
    demo.seed_demo()
    today = date.today()
    this_year = counting.current_academic_year(today)
    everything = _counted_from_scratch()
    this_years = _counted_from_scratch(year=this_year)
    assert sum(everything.values()) > sum(this_years.values()) > 0  # earlier years too
    for name in demo.ROSTERS:
        school = _school(name)
        pupils = db.session.scalars(select(Pupil).where(Pupil.school_id == school.id)).all()
        assert {p.id: p.contacts for p in pupils} == {p.id: everything.get(p.id, 0) for p in pupils}
        summary = progress.school_progress(school, today=today)
        on_roll = [p for p in pupils if p.status == PupilStatus.ON_ROLL]
        assert summary.totals.total == len(on_roll)
        assert summary.totals.counts == [sum(1 for p in on_roll if min(everything.get(p.id, 0), 4) == bucket)
                                         for bucket in range(5)]
        assert all(summary.totals.counts), (name, summary.totals.counts)  # pupils at 0, 1, 2, 3 and 4+
        assert summary.totals.b5_met == sum(1 for p in on_roll if this_years.get(p.id, 0) >= 1) > 0
        assert 0 < summary.below_target < len(on_roll)


def test_some_demo_sessions_were_not_meaningful_or_missed(app):
    demo.seed_demo()
    records = db.session.scalars(select(SessionRecord)).all()
    past = [s for s in demo.SESSIONS if s.days_ago >= 0]
    assert len(records) == len(past)
    assert sum(not r.meaningful for r in records) == sum(not s.meaningful for s in past) >= 2
    entries = db.session.scalars(select(RegisterEntry)).all()
    assert any(e.attended is False for e in entries) and any(e.attended and not e.counted for e in entries)
    assert all(m.status == MatchStatus.RECORDED and m.delivery_confirmed_at for m in db.session.scalars(
        select(Match).join(SessionRecord, SessionRecord.match_id == Match.id))
        if m.offer.provider_id in {u.organisation_id for u in db.session.scalars(
            select(User).where(User.role == Role.PROVIDER))})


def test_the_coordinator_report_and_provider_impact_show_the_demo_activity(app):
    demo.seed_demo()
    today = date.today()
    for area in db.session.scalars(select(Area)):
        overview = progress.area_overview(area, today=today)
        with_roster = [s for s in overview.schools if s.on_roll]
        assert [s.school.name for s in with_roster] == [n for n in demo.ROSTERS if _school(n).area_id == area.id]
        for school in with_roster:
            assert school.b5_met > 0 and school.providers > 0 and school.at_risk > 0
            assert (school.leavers, school.not_known) == (len(demo.LEAVERS), demo.LEAVERS.count("not_known"))
        start, end = reports.current_term(today)
        report = reports.termly_report(area, start, end, today=today)
        held = {pupil: n for pupil, n in _counted_from_scratch(year=counting.current_academic_year(today)).items()
                if db.session.get(Pupil, pupil).school.area_id == area.id}
        assert report.sessions > 0 and report.pupils_reached > 0 and report.at_target > 0
        assert report.contacts == sum(held.values()) > 0  # this term's sessions are all in this academic year
        assert report.encounters > report.contacts or area.name == "Preston"
    for _role, email, _note in demo.DEMO_LOGINS:
        user = _user(email)
        if user.role == Role.PROVIDER:
            impact = progress.provider_impact(user.organisation, today=today)
            assert impact.sessions > 0 and impact.schools == 1 and impact.pupils_reached > 0, email


def test_a_demo_session_is_coming_up_for_the_lead_to_fill(app, client, login):
    demo.seed_demo()
    coming = [s for s in demo.SESSIONS if s.days_ago < 0]
    assert {s.school for s in coming} == set(demo.ROSTERS)
    for spec in coming:
        match = db.session.scalar(select(Match).join(Offer).where(Offer.title == spec.title))
        assert match.status == MatchStatus.SCHEDULED and match.session_starts_at.date() > date.today()
        assert registers.register_ids(match) == [] and registers.can_fill(match)
        assert len(registers.suggest(match)) == spec.pupils
    login(_user(f"careers@brun-valley.{demo.DEMO_DOMAIN}"))
    match = db.session.scalar(select(Match).join(Offer).where(Offer.title == coming[0].title))
    assert "Choose who goes" in client.get(f"/matches/{match.id}").get_data(as_text=True)
    assert client.get(f"/matches/{match.id}/register").status_code == 200


def test_the_demo_logins_see_numbers_on_their_progress_pages(app, client, login):
    demo.seed_demo()
    burnley = db.session.scalar(select(Area).where(Area.name == "Burnley"))
    pages = {
        f"careers@brun-valley.{demo.DEMO_DOMAIN}": ["/progress", "/pupils", "/destinations", "/reports/benchmark5"],
        f"careers@riversway.{demo.DEMO_DOMAIN}": ["/progress", "/pupils"],
        f"coordinator.burnley@{demo.DEMO_DOMAIN}": [f"/progress/areas/{burnley.id}",
                                                   f"/reports/areas/{burnley.id}/termly"],
        f"partnerships@pennine-aero.{demo.DEMO_DOMAIN}": ["/impact"],
    }
    for email, urls in pages.items():
        login(_user(email))
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (email, url)
    login(_user(f"careers@brun-valley.{demo.DEMO_DOMAIN}"))
    html = client.get("/progress").get_data(as_text=True)
    assert "Year 11" in html
    pupil = db.session.scalars(select(Pupil).where(Pupil.school_id == _school("Brun Valley High School").id,
                                                   Pupil.contacts >= 4)).first()
    page = client.get(f"/pupils/{pupil.id}").get_data(as_text=True)
    timeline = counting.pupil_timeline(pupil)
    assert sum(row.counted for row in timeline) == pupil.contacts >= 4
    assert pupil.display_name in page and all(row.provider_name in page for row in timeline)


# --- the NEET internship programme, the levy account and its pledge, a primary kit ----------------------------------

def _org(name: str) -> Organisation:
    return db.session.scalar(select(Organisation).where(Organisation.name == name))


def _programme() -> InternshipProgramme:
    return db.session.scalar(select(InternshipProgramme).where(InternshipProgramme.name == demo.INTERNSHIP_PROGRAMME))


def _pledge() -> Pledge:
    return db.session.scalar(select(Pledge).where(Pledge.title == demo.PLEDGE_TITLE))


def test_the_demo_internship_programme_has_interns_by_reference_and_an_approved_rota(app):
    demo.seed_demo()
    today = date.today()
    programme = _programme()
    assert programme.area_id == db.session.scalar(select(Area.id).where(Area.name == demo.INTERNSHIP_AREA))
    assert programme.status == ProgrammeStatus.ROTA_APPROVED
    assert programme.week1_on.weekday() == 0 and programme.week1_on > today
    interns = db.session.scalars(select(Intern).where(Intern.programme_id == programme.id)).all()
    assert len(interns) == len(demo.INTERN_SPECS) >= 4
    for intern in interns:
        assert intern.status == "active" and not intern.is_control
        assert intern.display_name is None  # pseudonymous: the reference is all anyone sees
        assert intern.reference.startswith("I") and len(intern.reference) == 1 + internships.REFERENCE_LENGTH
        placements = [p for p in intern.placements if p.status == PlacementStatus.APPROVED]
        assert sorted(p.week_no for p in placements) == [1, 2, 3, 4], intern.reference
        assert len({p.provider_id for p in placements}) == 4, intern.reference  # four different providers
        for placement in placements:
            offer = placement.offer
            assert offer.type == "internship_week" and offer.status == OfferStatus.PUBLISHED
            assert offer.area_id == programme.area_id and offer.provider.status == OrgStatus.VERIFIED
            assert internships.week_available(offer, programme.week_starts[placement.week_no - 1])
    # No week at any offer takes more interns than it has room for.
    load: dict[tuple[int, int], int] = {}
    for placement in db.session.scalars(select(Placement).where(Placement.programme_id == programme.id)):
        load[placement.offer_id, placement.week_no] = load.get((placement.offer_id, placement.week_no), 0) + 1
    assert all(n <= db.session.get(Offer, offer_id).per_session for (offer_id, _), n in load.items())
    assert {o.type for o in marketplace_offers() if o.status == OfferStatus.PUBLISHED} >= {"internship_week"}


def test_the_internship_pages_show_the_programme_to_its_coordinator_and_the_weeks_to_a_provider(app, client, login):
    demo.seed_demo()
    programme = _programme()
    references = [i.reference for i in db.session.scalars(select(Intern).where(Intern.programme_id == programme.id))]
    login(_user(f"coordinator.burnley@{demo.DEMO_DOMAIN}"))
    index = client.get("/internships")
    assert index.status_code == 200
    assert demo.INTERNSHIP_PROGRAMME in index.get_data(as_text=True)
    page = client.get(f"/internships/{programme.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert all(reference in html for reference in references)
    assert "Pennine Aerostructures Ltd" in html
    assert client.get(f"/internships/{programme.id}/print").status_code == 200

    login(_user(f"partnerships@pennine-aero.{demo.DEMO_DOMAIN}"))
    weeks = client.get("/internships/placements")
    assert weeks.status_code == 200
    html = weeks.get_data(as_text=True)
    theirs = db.session.scalars(select(Placement).where(
        Placement.programme_id == programme.id, Placement.provider_id == _org("Pennine Aerostructures Ltd").id))
    theirs = list(theirs)
    assert theirs and all(p.intern.reference in html for p in theirs)
    assert "aerospace assembly" in html
    assert client.get(f"/internships/{programme.id}").status_code == 403  # the programme is the coordinator's

    login(_user(f"coordinator.preston@{demo.DEMO_DOMAIN}"))  # another area's coordinator
    assert demo.INTERNSHIP_PROGRAMME not in client.get("/internships").get_data(as_text=True)
    assert client.get(f"/internships/{programme.id}").status_code == 403


def test_the_demo_levy_account_has_entries_a_spend_and_an_open_pledge_with_an_application(app):
    demo.seed_demo()
    today = date.today()
    pledger = _org(demo.LEVY_PLEDGER)
    entries = db.session.scalars(select(LevyEntry).where(LevyEntry.provider_id == pledger.id)).all()
    assert sorted(e.amount_pence for e in entries) == sorted(amount for _months, amount in demo.LEVY_ENTRIES)
    assert all(e.month < levy.first_of_month(today) for e in entries)
    spends = db.session.scalars(select(LevySpend).where(LevySpend.provider_id == pledger.id)).all()
    assert [(s.amount_pence, s.note) for s in spends] == [demo.LEVY_SPEND[1:]]
    pledge = _pledge()
    assert pledge.provider_id == pledger.id and pledge.status == "open"
    # The 50% rule: at most half of the funds entered in the 12 months before this month.
    assert pledge.amount_pence <= pledges.most_pledgeable(pledger, today=today)[1]
    [application] = pledge.applications
    assert application.applicant.name == demo.PLEDGE_APPLICANT and not application.applicant.levy_payer
    assert application.status == "awaiting_approval" and application.meets_criteria
    assert pledge.remaining_pence == pledge.amount_pence  # nothing reserved until the pledger approves


def test_the_demo_levy_place_expiring_in_about_four_months_is_what_the_account_and_levy_at_risk_show(
        app, client, login):
    """The levy-funded place says its funds expire in about four months: the account projects the same (nothing
    within 3 months, something within 6), and the Burnley coordinators see Pennine under levy at risk."""
    demo.seed_demo()
    today = date.today()
    pledger = _org(demo.LEVY_PLEDGER)
    [place] = db.session.scalars(select(Offer).where(Offer.provider_id == pledger.id, Offer.type == "levy_place")).all()
    assert 90 <= (place.levy_expires_on - today).days <= 183
    account = levy.account(pledger, today=today)
    assert account.within_soon == 0 and account.within_later > 0
    [at_risk] = [row for row in levy.expiring(None, today=today) if row.provider_id == pledger.id]
    assert at_risk.within_later == account.within_later
    login(_user(f"coordinator.burnley@{demo.DEMO_DOMAIN}"))
    page = client.get("/levy/at-risk")
    assert page.status_code == 200 and demo.LEVY_PLEDGER in page.get_data(as_text=True)


def test_the_levy_and_pledge_pages_show_the_demo_pledge(app, client, login):
    demo.seed_demo()
    pledge, pledger = _pledge(), _org(demo.LEVY_PLEDGER)
    login(_user(f"partnerships@pennine-aero.{demo.DEMO_DOMAIN}"))
    account = client.get("/levy")
    assert account.status_code == 200
    assert "Calder Valley College" in account.get_data(as_text=True)  # the spend's note
    mine = client.get("/pledges")
    assert mine.status_code == 200 and demo.PLEDGE_TITLE in mine.get_data(as_text=True)
    page = client.get(f"/pledges/{pledge.id}")
    assert page.status_code == 200
    assert demo.PLEDGE_APPLICANT in page.get_data(as_text=True)

    login(_user(f"partnerships@docklands-digital.{demo.DEMO_DOMAIN}"))
    theirs = client.get("/pledges")
    assert theirs.status_code == 200 and demo.PLEDGE_TITLE in theirs.get_data(as_text=True)
    assert client.get(f"/pledges/{pledge.id}").status_code == 200

    login(_user(f"coordinator.burnley@{demo.DEMO_DOMAIN}"))
    area = client.get("/pledges/area")
    assert area.status_code == 200 and demo.PLEDGE_TITLE in area.get_data(as_text=True)
    assert client.get(f"/levy/providers/{pledger.id}").status_code == 200


def test_the_demo_primary_school_has_asked_for_a_kit(app, client, login):
    demo.seed_demo()
    school = _org(demo.KIT_SCHOOL)
    assert school.phase == "primary"
    [kit_request] = db.session.scalars(select(KitRequest).where(KitRequest.school_id == school.id)).all()
    assert kit_request.status == KitRequestStatus.REQUESTED and kit_request.class_name == demo.KIT_CLASS
    offer = kit_request.offer
    assert offer.title == demo.WHEN_I_GROW_UP and offer.provider.name == demo.KIT_PROVIDER
    spec = next(s for s in demo.OFFERS if s.title == demo.WHEN_I_GROW_UP)
    assert offer.kit_stock == spec.details["kit_stock"] - 1  # one kit taken from the stock
    lead = _user(f"careers@millbrook.{demo.DEMO_DOMAIN}")
    assert lead.organisation_id == school.id and lead.role == Role.CAREERS_LEAD
    assert kit_request.requested_by_id == lead.id
    assert ("Careers lead", lead.email, "Millbrook Primary School, Preston (primary kits)") in demo.DEMO_LOGINS
    login(lead)
    page = client.get("/kits")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert demo.KIT_CLASS in html and "When I Grow Up" in html
    login(_user(f"coordinator.preston@{demo.DEMO_DOMAIN}"))
    assert client.get("/kits/reach").status_code == 200


def test_seeding_with_if_empty_adds_the_programme_pledge_and_kit_once(runner):
    first = runner.invoke(args=["seed-demo", "--if-empty"])
    assert first.exit_code == 0 and "Demo data loaded." in first.output, first.output
    counts = row_counts()
    for table in ("internship_programmes", "interns", "placements", "levy_entries", "levy_spends", "pledges",
                  "pledge_applications", "kit_requests"):
        assert counts[table] >= 1, table
    again = runner.invoke(args=["seed-demo", "--if-empty"])
    assert again.exit_code == 0 and "already present" in again.output
    assert demo.seed_demo() is False  # without --if-empty too: every part is keyed and already there
    assert row_counts() == counts
