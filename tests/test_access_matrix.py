"""Every route, visited as every kind of user: the answer must be the one this table expects.

The table is written from the product's rules, independently of portal/policy.py, so a wrong rule
fails here. A route that exists in the app but not in this table (or the reverse) fails
test_matrix_covers_every_route: adding a route means deciding who may reach it.
"""
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from types import SimpleNamespace

import pyotp
import pytest
import sqlalchemy as sa

from portal import create_app
from portal.extensions import db
from portal.models import Match, Offer, Organisation, Pupil, RosterUpload, SchoolRequest, User, utcnow
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user

ROLES = ("anonymous", "provider", "careers_lead", "coordinator", "other_coordinator", "admin")
ALLOW, DENY = "allow", "deny"


@dataclass
class World:
    users: dict[str, User | None]
    provider_org: Organisation
    school: Organisation
    other_provider: Organisation
    pending_user: User
    area_id: int
    school_request: SchoolRequest
    other_school: Organisation
    other_request: SchoolRequest
    offer: Offer
    draft_offer: Offer
    other_offer: Offer
    proposed_match: Match
    other_match: Match
    pupil: Pupil
    other_pupil: Pupil
    upload: RosterUpload
    other_upload: RosterUpload


@pytest.fixture(scope="module")
def world_template(sqlite_template, tmp_path_factory):
    """The world is built once into a SQLite file; every case starts from a copy of it (the matrix has over a
    thousand cases, and building the world each time would dominate the run). The cases read the world through
    plain snapshots of its rows, taken while it was built."""
    path = tmp_path_factory.mktemp("matrix") / "world.db"
    shutil.copyfile(sqlite_template, path)
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        snapshot = _snapshot(_build_world())
        db.session.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.session.remove()
        db.engine.dispose()
    return path, snapshot


@pytest.fixture
def database(world_template, tmp_path) -> dict:
    """Overrides conftest's: a fresh copy of the built world instead of an empty database (SQLite only; the
    rules do not depend on the database)."""
    path = tmp_path / "test.db"
    shutil.copyfile(world_template[0], path)
    return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"}


@pytest.fixture
def world(app, world_template):
    return world_template[1]


def _row(obj):
    """A model instance as a plain namespace of its columns (users keep get_id for signing in)."""
    if obj is None or not hasattr(obj, "__mapper__"):
        return obj
    values = {attr.key: getattr(obj, attr.key) for attr in obj.__mapper__.column_attrs}
    if isinstance(obj, User):
        user_id = obj.get_id()
        values["get_id"] = lambda: user_id
    return SimpleNamespace(**values)


def _snapshot(w: World) -> SimpleNamespace:
    values = {name: _row(value) for name, value in vars(w).items() if name != "users"}
    values["users"] = {role: _row(user) for role, user in w.users.items()}
    return SimpleNamespace(**values)


def _build_world() -> World:
    burnley, preston = make_area("Burnley"), make_area("Preston")
    provider_org = make_provider(burnley)
    school = make_school(burnley)
    other_provider = make_provider(preston)
    two_step = {"totp_secret": pyotp.random_base32(), "totp_enabled_at": utcnow()}
    users = {
        "anonymous": None,
        "provider": make_user(Role.PROVIDER, organisation=provider_org),
        "careers_lead": make_user(Role.CAREERS_LEAD, organisation=school),
        "coordinator": make_user(Role.COORDINATOR, areas=[burnley], **two_step),
        "other_coordinator": make_user(Role.COORDINATOR, areas=[preston], **two_step),
        "admin": make_user(Role.ADMIN, **two_step),
    }
    pending_org = make_provider(burnley, status="pending")
    pending_user = make_user(Role.PROVIDER, organisation=pending_org, status="pending")
    school_request = make_request(school)
    other_school = make_school(preston)
    other_request = make_request(other_school)
    offer = make_offer(provider_org, status="published")
    draft_offer = make_offer(provider_org, status="draft")
    other_offer = make_offer(other_provider, status="draft")
    proposed_match = Match(offer_id=offer.id, request_id=school_request.id, area_id=burnley.id, allocation=5,
                           origin="engine")
    other_match = Match(offer_id=other_offer.id, request_id=other_request.id, area_id=preston.id, allocation=5,
                        origin="engine")
    pupil = Pupil(school_id=school.id, reference="PMATRIX01", identifier_hash="matrix-1", year_group=9)
    other_pupil = Pupil(school_id=other_school.id, reference="PMATRIX02", identifier_hash="matrix-2", year_group=9)
    upload = RosterUpload(token="matrix-upload-token", school_id=school.id, filename="roster.csv",
                          content=b"Adno,Year\n1,9\n")
    other_upload = RosterUpload(token="matrix-other-upload", school_id=other_school.id, filename="roster.csv",
                                content=b"Adno,Year\n1,9\n")
    db.session.add_all([proposed_match, other_match, pupil, other_pupil, upload, other_upload])
    db.session.commit()
    w = World(users, provider_org, school, other_provider, pending_user, burnley.id,
              school_request, other_school, other_request, offer, draft_offer, other_offer,
              proposed_match, other_match, pupil, other_pupil, upload, other_upload)
    for extend in (_internship_world, _placement_world, _pledge_world, _kit_world):
        extend(w, db)
    db.session.commit()
    return w


def _internship_world(w, db):
    """A Burnley programme (w.programme, rota approved) with an intern placed at w.provider_org and the intern's
    feedback row (w.intern_feedback); the same in Preston (w.other_programme, w.other_intern,
    w.other_intern_feedback)."""
    from portal.models import Intern, InternshipProgramme, Placement, PlacementFeedback

    monday = date.today() - timedelta(days=date.today().weekday())

    def programme_in(area_id, provider, offer, tag):
        programme = InternshipProgramme(
            area_id=area_id, name=f"Matrix cohort {tag}", coaching_on=monday - timedelta(days=7), week1_on=monday,
            week2_on=monday + timedelta(weeks=1), week3_on=monday + timedelta(weeks=2),
            week4_on=monday + timedelta(weeks=3), status="rota_approved")
        db.session.add(programme)
        db.session.flush()
        intern = Intern(programme_id=programme.id, area_id=area_id, reference=f"IMATRIX{tag}", age_band="18-19",
                        neet_months=3)
        db.session.add(intern)
        db.session.flush()
        placement = Placement(programme_id=programme.id, intern_id=intern.id, offer_id=offer.id,
                              provider_id=provider.id, week_no=1, status="approved")
        db.session.add(placement)
        db.session.flush()
        feedback = PlacementFeedback(placement_id=placement.id, side="intern",
                                     token_hash=f"matrix-{tag}".ljust(64, "0"))
        db.session.add(feedback)
        db.session.flush()
        return programme, intern, feedback

    w.programme, w.intern, w.intern_feedback = programme_in(w.area_id, w.provider_org, w.offer, "1")
    w.other_programme, w.other_intern, w.other_intern_feedback = programme_in(
        w.other_school.area_id, w.other_provider, w.other_offer, "2")


def _placement_world(w, db):
    """The placements I2's programmes hold: w.placement (Burnley, at w.provider_org) and w.other_placement
    (Preston, at w.other_provider)."""
    from sqlalchemy import select

    from portal.models import Placement

    w.placement = db.session.scalar(select(Placement).where(Placement.intern_id == w.intern.id))
    w.other_placement = db.session.scalar(select(Placement).where(Placement.intern_id == w.other_intern.id))


def _pledge_world(w, db):
    from tests.factories import make_pledge, make_pledge_application, make_provider

    burnley_payer = make_provider(w.provider_org.area, name="Matrix Levy Payer Ltd", levy_payer=True)
    w.pledge = make_pledge(burnley_payer, title="Matrix pledge")
    w.pledge_application = make_pledge_application(w.pledge, w.provider_org)
    preston_payer = make_provider(w.other_provider.area, name="Preston Levy Payer Ltd", levy_payer=True)
    w.other_pledge = make_pledge(preston_payer, title="Closed Preston pledge", status="closed")
    db.session.commit()


def _kit_world(w, db):
    from portal.models import KitRequest
    from tests.factories import make_offer, make_school

    w.school.phase = "all_through"
    kit_fields = {"type": "primary_kit", "year_groups": (0, 1, 2), "sessions": 1, "per_session": 1, "capacity": 5,
                  "kit_stock": 5}
    w.kit = make_offer(w.provider_org, title="Matrix kit", **kit_fields)
    w.other_kit = make_offer(w.other_provider, title="Preston kit", **kit_fields)  # Preston only
    other_primary = make_school(w.other_school.area, phase="primary")
    w.kit_request = KitRequest(offer_id=w.kit.id, school_id=w.school.id, area_id=w.school.area_id,
                               class_name="Oak class", year_group=1, pupils=28)
    w.other_kit_request = KitRequest(offer_id=w.other_kit.id, school_id=other_primary.id,
                                     area_id=other_primary.area_id, class_name="Far class", year_group=2, pupils=25)
    db.session.add_all([w.kit_request, w.other_kit_request])
    db.session.commit()


def everyone():
    return dict.fromkeys(ROLES, ALLOW)


def only(*roles):
    return {role: ALLOW if role in roles else DENY for role in ROLES}


SIGNED_IN = only(*ROLES[1:])
STAFF = only("coordinator", "other_coordinator", "admin")
MEMBERS = only("provider", "careers_lead")
ADMIN = only("admin")
OFFER_MANAGERS = only("provider", "coordinator", "admin")

# endpoint -> (method, path built from the world, expected outcome per role)
MATRIX = {
    "main.index": ("GET", lambda w: "/", everyone()),
    "main.healthz": ("GET", lambda w: "/healthz", everyone()),
    "signup.start": ("GET", lambda w: "/signup", everyone()),
    "signup.provider": ("GET", lambda w: "/signup/provider", everyone()),
    "signup.careers_lead": ("GET", lambda w: "/signup/careers-lead", everyone()),
    "signup.find_school": ("GET", lambda w: "/signup/find-school?q=School", everyone()),
    "signup.confirm_email": ("GET", lambda w: "/signup/confirm/not-a-real-token", everyone()),
    "signup.check_email": ("GET", lambda w: "/signup/check-email", everyone()),
    "auth.login": ("GET", lambda w: "/login", everyone()),
    "auth.login_two_step": ("GET", lambda w: "/login/two-step", everyone()),
    "auth.logout": ("POST", lambda w: "/logout", SIGNED_IN),
    "auth.forgot_password": ("GET", lambda w: "/password/forgot", everyone()),
    "auth.reset_password": ("GET", lambda w: "/password/reset/not-a-real-token", everyone()),
    "auth.account": ("GET", lambda w: "/account", SIGNED_IN),
    "auth.change_password": ("GET", lambda w: "/account/password", SIGNED_IN),
    "auth.two_step_setup": ("GET", lambda w: "/account/two-step", SIGNED_IN),
    "auth.two_step_disable": ("POST", lambda w: "/account/two-step/disable", SIGNED_IN),
    "auth.recovery_codes": ("GET", lambda w: "/account/two-step/recovery-codes", SIGNED_IN),
    "organisations.places": ("GET", lambda w: "/places?q=Burn", everyone()),
    "organisations.mine": ("GET", lambda w: "/organisation", MEMBERS),
    "organisations.index": ("GET", lambda w: "/organisations", STAFF),
    # A provider's profile: its own members, its area's coordinator, admins. Never a school, never Preston.
    "organisations.view": ("GET", lambda w: f"/organisations/{w.provider_org.id}",
                           only("provider", "coordinator", "admin")),
    "organisations.edit": ("GET", lambda w: f"/organisations/{w.provider_org.id}/edit",
                           only("provider", "coordinator", "admin")),
    "verification.queue": ("GET", lambda w: "/verification", STAFF),
    "verification.approve": ("POST", lambda w: f"/verification/users/{w.pending_user.id}/approve",
                             only("coordinator", "admin")),
    "verification.reject": ("GET", lambda w: f"/verification/users/{w.pending_user.id}/reject",
                            only("coordinator", "admin")),
    "audit.index": ("GET", lambda w: "/audit", STAFF),
    # Offers: the provider's contacts and its area's coordinators manage; careers leads see published ones.
    "offers.index": ("GET", lambda w: "/offers", only("provider", "coordinator", "other_coordinator", "admin")),
    "offers.create": ("GET", lambda w: f"/offers/new?provider_id={w.provider_org.id}", OFFER_MANAGERS),
    "offers.view": ("GET", lambda w: f"/offers/{w.offer.id}", only("provider", "careers_lead", "coordinator", "admin")),
    "offers.edit": ("GET", lambda w: f"/offers/{w.offer.id}/edit", OFFER_MANAGERS),
    "offers.duplicate": ("POST", lambda w: f"/offers/{w.offer.id}/duplicate", OFFER_MANAGERS),
    "offers.change_status": ("POST", lambda w: f"/offers/{w.offer.id}/status", OFFER_MANAGERS),
    # Finding each other: careers leads browse and ask; providers see open requests and offer.
    "browse.offers": ("GET", lambda w: "/browse/offers", only("careers_lead", "coordinator", "other_coordinator",
                                                              "admin")),
    "browse.request_offer": ("GET", lambda w: f"/browse/offers/{w.offer.id}/request", only("careers_lead")),
    "browse.digest": ("POST", lambda w: "/browse/digest", only("careers_lead")),
    "browse.open_requests": ("GET", lambda w: "/browse/requests", only("provider")),
    "browse.offer_to_meet": ("GET", lambda w: f"/browse/requests/{w.school_request.id}/offer", only("provider")),
    "matches.index": ("GET", lambda w: "/matches", STAFF),
    # Deciding on a proposal: coordinators of the school's area, and admins.
    "matches.approve": ("POST", lambda w: f"/matches/{w.proposed_match.id}/approve", only("coordinator", "admin")),
    "matches.hold": ("POST", lambda w: f"/matches/{w.proposed_match.id}/hold", only("coordinator", "admin")),
    # Pupils: the school's own careers leads only — never providers, coordinators or admins (coordinators see
    # references in progress pages, not the roster).
    "pupils.index": ("GET", lambda w: "/pupils", only("careers_lead")),
    "pupils.create": ("GET", lambda w: "/pupils/new", only("careers_lead")),
    "pupils.view": ("GET", lambda w: f"/pupils/{w.pupil.id}", only("careers_lead")),
    "pupils.edit": ("GET", lambda w: f"/pupils/{w.pupil.id}/edit", only("careers_lead")),
    "pupils.leave": ("GET", lambda w: f"/pupils/{w.pupil.id}/leave", only("careers_lead")),
    "pupils.upload": ("GET", lambda w: "/pupils/import", only("careers_lead")),
    "pupils.mapping": ("GET", lambda w: f"/pupils/import/{w.upload.token}", only("careers_lead")),
    # Registers: the school's own careers leads choose who goes and record attendance (pupils are theirs alone);
    # the offer's provider confirms delivery. Coordinators and other providers never see a register.
    "registers.register": ("GET", lambda w: f"/matches/{w.proposed_match.id}/register", only("careers_lead")),
    "registers.attendance": ("GET", lambda w: f"/matches/{w.proposed_match.id}/attendance", only("careers_lead")),
    "registers.confirm_delivery": ("POST", lambda w: f"/matches/{w.proposed_match.id}/confirm-delivery",
                                   only("provider")),
    # Progress (4/6): a careers lead sees their own school; coordinators their areas (admins all); a provider its
    # own offers' impact, counts only. Destinations and the school's reports are the careers lead's alone.
    "progress.index": ("GET", lambda w: "/progress", only("careers_lead")),
    "progress.destinations": ("GET", lambda w: "/destinations", only("careers_lead")),
    "progress.areas": ("GET", lambda w: "/progress/areas", STAFF),
    "progress.area": ("GET", lambda w: f"/progress/areas/{w.area_id}", only("coordinator", "admin")),
    "progress.remind": ("POST", lambda w: f"/progress/areas/{w.area_id}/schools/{w.school.id}/remind",
                        only("coordinator", "admin")),
    "progress.impact": ("GET", lambda w: "/impact", only("provider")),
    "reports.termly": ("GET", lambda w: f"/reports/areas/{w.area_id}/termly", only("coordinator", "admin")),
    "reports.termly_csv": ("GET", lambda w: f"/reports/areas/{w.area_id}/termly.csv", only("coordinator", "admin")),
    "reports.benchmark5": ("GET", lambda w: "/reports/benchmark5", only("careers_lead")),
    "reports.pupils_csv": ("GET", lambda w: "/reports/pupils.csv", only("careers_lead")),
    "matches.approve_many": ("POST", lambda w: "/matches/approve", STAFF),
    "matches.run": ("POST", lambda w: "/matches/run", STAFF),
    "matches.reject": ("GET", lambda w: f"/matches/{w.proposed_match.id}/reject", only("coordinator", "admin")),
    "matches.change_allocation": ("GET", lambda w: f"/matches/{w.proposed_match.id}/allocation",
                                  only("coordinator", "admin")),
    # After approval: the match's two sides and its area's coordinators; accept and decline are the sides' own.
    "matches.view": ("GET", lambda w: f"/matches/{w.proposed_match.id}", only("provider", "careers_lead",
                                                                              "coordinator", "admin")),
    # A provider's or careers lead's own matches (their organisation's alone); coordinators have the queue.
    "matches.mine": ("GET", lambda w: "/matches/mine", MEMBERS),
    "matches.accept": ("POST", lambda w: f"/matches/{w.proposed_match.id}/accept", MEMBERS),
    "matches.decline": ("GET", lambda w: f"/matches/{w.proposed_match.id}/decline", MEMBERS),
    "matches.schedule": ("GET", lambda w: f"/matches/{w.proposed_match.id}/schedule",
                         only("provider", "careers_lead", "coordinator", "admin")),
    "matches.cancel": ("GET", lambda w: f"/matches/{w.proposed_match.id}/cancel",
                       only("provider", "careers_lead", "coordinator", "admin")),
    "matches.no_show": ("POST", lambda w: f"/matches/{w.proposed_match.id}/no-show",
                        only("provider", "careers_lead", "coordinator", "admin")),
    # Requests: the school's careers leads and its area's coordinators; never providers.
    "school_requests.index": ("GET", lambda w: "/requests", only("careers_lead", "coordinator", "other_coordinator",
                                                                 "admin")),
    "school_requests.create": ("GET", lambda w: f"/requests/new?school_id={w.school.id}",
                               only("careers_lead", "coordinator", "admin")),
    "school_requests.view": ("GET", lambda w: f"/requests/{w.school_request.id}",
                             only("careers_lead", "coordinator", "admin")),
    "school_requests.edit": ("GET", lambda w: f"/requests/{w.school_request.id}/edit",
                             only("careers_lead", "coordinator", "admin")),
    "school_requests.withdraw": ("GET", lambda w: f"/requests/{w.school_request.id}/withdraw",
                                 only("careers_lead", "coordinator", "admin")),
    # NEET internship programmes (5/6): coordinators of the programme's area and admins; interns' names are theirs
    # alone. Providers see only their own placements (references only) and mark their weeks completed.
    "internships.index": ("GET", lambda w: "/internships", STAFF),
    "internships.create": ("GET", lambda w: "/internships/new", STAFF),
    "internships.programme": ("GET", lambda w: f"/internships/{w.programme.id}", only("coordinator", "admin")),
    "internships.edit": ("GET", lambda w: f"/internships/{w.programme.id}/edit", only("coordinator", "admin")),
    "internships.add_intern": ("GET", lambda w: f"/internships/{w.programme.id}/interns/new",
                               only("coordinator", "admin")),
    "internships.edit_intern": ("GET", lambda w: f"/internships/{w.programme.id}/interns/{w.intern.id}/edit",
                                only("coordinator", "admin")),
    "internships.withdraw_intern": ("GET", lambda w: f"/internships/{w.programme.id}/interns/{w.intern.id}/withdraw",
                                    only("coordinator", "admin")),
    "internships.run_rota": ("POST", lambda w: f"/internships/{w.programme.id}/rota/run", only("coordinator", "admin")),
    "internships.move": ("GET", lambda w: f"/internships/{w.programme.id}/rota/{w.intern.id}/1",
                         only("coordinator", "admin")),
    "internships.approve": ("POST", lambda w: f"/internships/{w.programme.id}/rota/approve",
                            only("coordinator", "admin")),
    "internships.printable": ("GET", lambda w: f"/internships/{w.programme.id}/print", only("coordinator", "admin")),
    "internships.provider_placements": ("GET", lambda w: "/internships/placements", only("provider")),
    "internships.complete": ("POST", lambda w: f"/internships/placements/{w.placement.id}/complete",
                             only("provider", "coordinator", "admin")),
    # NEET internships after the rota (5/6): the programme's area's coordinators and admins; never providers or
    # careers leads (interns' names are coordinators' alone). The feedback form is public: its link is the key.
    "internship_followup.interns": ("GET", lambda w: f"/internships/programmes/{w.programme.id}/coaching",
                                    only("coordinator", "admin")),
    "internship_followup.coaching": ("POST", lambda w: f"/internships/interns/{w.intern.id}/coaching",
                                     only("coordinator", "admin")),
    "internship_followup.signposting": ("GET", lambda w: f"/internships/interns/{w.intern.id}/signposting",
                                        only("coordinator", "admin")),
    "internship_followup.feedback": ("GET", lambda w: f"/internships/programmes/{w.programme.id}/feedback",
                                     only("coordinator", "admin")),
    "internship_followup.intern_link": ("POST", lambda w: f"/internships/feedback/{w.intern_feedback.id}/intern-link",
                                        only("coordinator", "admin")),
    "internship_followup.control_group": ("GET", lambda w: f"/internships/programmes/{w.programme.id}/control-group",
                                          only("coordinator", "admin")),
    "internship_followup.complete": ("GET", lambda w: f"/internships/programmes/{w.programme.id}/complete",
                                     only("coordinator", "admin")),
    "internship_followup.follow_ups": ("GET", lambda w: f"/internships/programmes/{w.programme.id}/follow-ups/3",
                                       only("coordinator", "admin")),
    "internship_followup.evaluation": ("GET", lambda w: f"/internships/programmes/{w.programme.id}/evaluation",
                                       only("coordinator", "admin")),
    "feedback.form": ("GET", lambda w: "/feedback/not-a-real-token", everyone()),
    # Apprenticeship levy (5/6): a provider's own levy account (entries and spends are its own users' alone);
    # coordinators see levy at risk in their areas and, read only, the account of a provider of their area.
    "levy.account": ("GET", lambda w: "/levy", only("provider")),
    "levy.add_entry": ("POST", lambda w: "/levy/entries", only("provider")),
    "levy.add_spend": ("POST", lambda w: "/levy/spends", only("provider")),
    "levy.provider_account": ("GET", lambda w: f"/levy/providers/{w.provider_org.id}",
                              only("provider", "coordinator", "admin")),
    "levy.at_risk": ("GET", lambda w: "/levy/at-risk", STAFF),
    # Levy transfer pledges (5/6): smaller employers (the matrix's provider) browse and apply, accept or withdraw
    # their own; only the pledger closes and decides (so nobody here); coordinators of the pledger's area read.
    "pledges.index": ("GET", lambda w: "/pledges", only("provider")),
    "pledges.area": ("GET", lambda w: "/pledges/area", STAFF),
    "pledges.create": ("GET", lambda w: "/pledges/new", only()),  # the matrix's provider does not pay the levy
    "pledges.view": ("GET", lambda w: f"/pledges/{w.pledge.id}", only("provider", "coordinator", "admin")),
    "pledges.apply": ("GET", lambda w: f"/pledges/{w.pledge.id}/apply", only("provider")),
    "pledges.close": ("GET", lambda w: f"/pledges/{w.pledge.id}/close", only()),
    "pledges.approve": ("POST", lambda w: f"/pledges/applications/{w.pledge_application.id}/approve", only()),
    "pledges.reject": ("GET", lambda w: f"/pledges/applications/{w.pledge_application.id}/reject", only()),
    "pledges.use": ("GET", lambda w: f"/pledges/applications/{w.pledge_application.id}/use", only()),
    "pledges.accept": ("POST", lambda w: f"/pledges/applications/{w.pledge_application.id}/accept",
                       only("provider")),
    "pledges.withdraw": ("GET", lambda w: f"/pledges/applications/{w.pledge_application.id}/withdraw",
                         only("provider")),
    # Primary resource kits (5/6): careers leads of schools with primary years ask for kits and record their use;
    # the kit's provider sends them and sees requests for its kits (school names and class sizes, no pupils);
    # either side cancels; coordinators see their areas' primary reach.
    "kits.index": ("GET", lambda w: "/kits", only("careers_lead")),
    "kits.request_kit": ("GET", lambda w: f"/kits/{w.kit.id}/request", only("careers_lead")),
    "kits.mark_sent": ("POST", lambda w: f"/kits/requests/{w.kit_request.id}/sent", only("provider")),
    "kits.mark_used": ("GET", lambda w: f"/kits/requests/{w.kit_request.id}/used", only("careers_lead")),
    "kits.cancel": ("GET", lambda w: f"/kits/requests/{w.kit_request.id}/cancel", MEMBERS),
    "kits.provider_requests": ("GET", lambda w: "/kits/requests", only("provider")),
    "kits.reach": ("GET", lambda w: "/kits/reach", STAFF),
    "admin.area_weights": ("GET", lambda w: f"/admin/areas/{w.area_id}/weights", ADMIN),
    "admin.areas": ("GET", lambda w: "/admin/areas", ADMIN),
    "admin.area_edit": ("GET", lambda w: f"/admin/areas/{w.area_id}", ADMIN),
    "admin.users": ("GET", lambda w: "/admin/users", ADMIN),
    "admin.user_edit": ("GET", lambda w: f"/admin/users/{w.pending_user.id}", ADMIN),
}

# Object-level checks the route table cannot show: the same endpoint on an object of another area or kind.
OBJECT_CASES = [
    ("GET", lambda w: f"/organisations/{w.other_provider.id}", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/organisations/{w.other_provider.id}/edit", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/organisations/{w.school.id}", only("careers_lead", "coordinator", "admin")),
    ("GET", lambda w: f"/organisations/{w.school.id}/edit", only("careers_lead", "coordinator", "admin")),
    ("GET", lambda w: f"/offers/{w.draft_offer.id}", only("provider", "coordinator", "admin")),  # no drafts for schools
    ("GET", lambda w: f"/offers/{w.other_offer.id}", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/offers/{w.other_offer.id}/edit", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/offers/{w.other_offer.id}/duplicate", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/offers/{w.other_offer.id}/status", only("other_coordinator", "admin")),
    # A provider's own form (the id is ignored for providers); coordinators only for their areas' providers.
    ("GET", lambda w: f"/offers/new?provider_id={w.other_provider.id}", only("provider", "other_coordinator", "admin")),
    ("GET", lambda w: f"/browse/offers/{w.other_offer.id}/request", only()),  # another area's draft
    ("GET", lambda w: f"/browse/offers/{w.draft_offer.id}/request", only()),  # drafts cannot be asked for
    ("GET", lambda w: f"/browse/requests/{w.other_request.id}/offer", only()),  # another area's request
    ("POST", lambda w: f"/matches/{w.other_match.id}/approve", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/matches/{w.other_match.id}/hold", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/admin/areas/{w.area_id}/weights", only("admin")),
    ("GET", lambda w: f"/pupils/{w.other_pupil.id}", only()),
    ("GET", lambda w: f"/pupils/{w.other_pupil.id}/edit", only()),
    ("POST", lambda w: f"/pupils/{w.other_pupil.id}/edit", only()),
    ("GET", lambda w: f"/pupils/{w.other_pupil.id}/leave", only()),
    ("POST", lambda w: f"/pupils/{w.other_pupil.id}/leave", only()),
    ("GET", lambda w: f"/pupils/import/{w.other_upload.token}", only()),
    ("POST", lambda w: f"/pupils/import/{w.other_upload.token}", only()),
    ("GET", lambda w: f"/internships/{w.other_programme.id}", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/internships/{w.other_programme.id}/edit", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/internships/{w.other_programme.id}/edit", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/internships/{w.other_programme.id}/interns/new", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/internships/{w.other_programme.id}/interns/new", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/internships/{w.other_programme.id}/interns/{w.other_intern.id}/edit",
     only("other_coordinator", "admin")),
    ("POST", lambda w: f"/internships/{w.other_programme.id}/interns/{w.other_intern.id}/withdraw",
     only("other_coordinator", "admin")),
    ("POST", lambda w: f"/internships/{w.other_programme.id}/rota/run", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/internships/{w.other_programme.id}/rota/{w.other_intern.id}/1",
     only("other_coordinator", "admin")),
    ("POST", lambda w: f"/internships/{w.other_programme.id}/rota/approve", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/internships/{w.other_programme.id}/print", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/internships/placements/{w.other_placement.id}/complete",
     only("other_coordinator", "admin")),
    ("GET", lambda w: f"/internships/programmes/{w.other_programme.id}/coaching", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/internships/interns/{w.other_intern.id}/coaching", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/internships/interns/{w.other_intern.id}/signposting", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/internships/interns/{w.other_intern.id}/signposting", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/internships/programmes/{w.other_programme.id}/feedback", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/internships/feedback/{w.other_intern_feedback.id}/intern-link",
     only("other_coordinator", "admin")),
    ("GET", lambda w: f"/internships/programmes/{w.other_programme.id}/control-group",
     only("other_coordinator", "admin")),
    ("POST", lambda w: f"/internships/programmes/{w.other_programme.id}/control-group",
     only("other_coordinator", "admin")),
    ("GET", lambda w: f"/internships/programmes/{w.other_programme.id}/complete", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/internships/programmes/{w.other_programme.id}/complete", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/internships/programmes/{w.other_programme.id}/follow-ups/3",
     only("other_coordinator", "admin")),
    ("POST", lambda w: f"/internships/programmes/{w.other_programme.id}/follow-ups/3",
     only("other_coordinator", "admin")),
    ("GET", lambda w: f"/internships/programmes/{w.other_programme.id}/evaluation", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/levy/providers/{w.other_provider.id}", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/levy/providers/{w.school.id}", only()),
    ("GET", lambda w: f"/pledges/{w.other_pledge.id}", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/pledges/{w.other_pledge.id}/apply", only()),
    ("POST", lambda w: f"/pledges/{w.other_pledge.id}/close", only()),
    ("POST", lambda w: f"/pledges/applications/{w.pledge_application.id}/approve", only()),
    ("POST", lambda w: f"/pledges/applications/{w.pledge_application.id}/reject", only()),
    ("GET", lambda w: f"/kits/{w.other_kit.id}/request", only()),  # another area's kit, not open to all areas
    ("POST", lambda w: f"/kits/{w.other_kit.id}/request", only()),
    ("POST", lambda w: f"/kits/requests/{w.other_kit_request.id}/sent", only()),
    ("GET", lambda w: f"/kits/requests/{w.other_kit_request.id}/used", only()),
    ("POST", lambda w: f"/kits/requests/{w.other_kit_request.id}/used", only()),
    ("GET", lambda w: f"/kits/requests/{w.other_kit_request.id}/cancel", only()),
    ("POST", lambda w: f"/kits/requests/{w.other_kit_request.id}/cancel", only()),
    ("GET", lambda w: f"/matches/{w.other_match.id}/register", only()),
    ("POST", lambda w: f"/matches/{w.other_match.id}/register", only()),
    ("GET", lambda w: f"/matches/{w.other_match.id}/attendance", only()),
    ("POST", lambda w: f"/matches/{w.other_match.id}/attendance", only()),
    ("POST", lambda w: f"/matches/{w.other_match.id}/confirm-delivery", only()),
    ("GET", lambda w: f"/progress/areas/{w.other_school.area_id}", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/progress/areas/{w.other_school.area_id}/schools/{w.other_school.id}/remind",
     only("other_coordinator", "admin")),
    ("GET", lambda w: f"/reports/areas/{w.other_school.area_id}/termly", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/reports/areas/{w.other_school.area_id}/termly", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/reports/areas/{w.other_school.area_id}/termly.csv", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/matches/{w.other_match.id}/reject", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/matches/{w.other_match.id}/reject", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/matches/{w.other_match.id}/allocation", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/matches/{w.other_match.id}/allocation", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/matches/{w.other_match.id}", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/matches/{w.other_match.id}/accept", only()),
    ("GET", lambda w: f"/matches/{w.other_match.id}/decline", only()),
    ("POST", lambda w: f"/matches/{w.other_match.id}/decline", only()),
    ("GET", lambda w: f"/matches/{w.other_match.id}/schedule", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/matches/{w.other_match.id}/schedule", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/matches/{w.other_match.id}/cancel", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/matches/{w.other_match.id}/cancel", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/matches/{w.other_match.id}/no-show", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/requests/{w.other_request.id}", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/requests/{w.other_request.id}/edit", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/requests/{w.other_request.id}/edit", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/requests/{w.other_request.id}/withdraw", only("other_coordinator", "admin")),
    ("POST", lambda w: f"/requests/{w.other_request.id}/withdraw", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/requests/new?school_id={w.other_school.id}", only("other_coordinator", "admin")),
    ("GET", lambda w: f"/requests/new?school_id={w.provider_org.id}", only()),  # not a school: refused to all
]

EXEMPT = {"static", "bootstrap.static"}  # files, not pages


def test_matrix_covers_every_route(app):
    from portal import policy

    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - EXEMPT
    assert endpoints - set(MATRIX) == set(), "routes without an expected answer in the access matrix"
    assert set(MATRIX) - endpoints == set(), "the matrix names routes the app does not have"
    assert endpoints - set(policy.ROUTE_RULES) == set(), "routes without a policy rule (refused to everyone)"


def _outcome(response, role: str) -> str:
    assert response.status_code < 500, f"{role}: server error {response.status_code}"
    location = response.headers.get("Location", "")
    if role == "anonymous" and response.status_code in (301, 302, 303) and "/login" in location:
        return DENY
    if response.status_code == 403:
        return DENY
    return ALLOW


def _visit(client, login, world, role, method, path):
    user = world.users[role]
    if user is not None:
        login(user)
    return client.open(path(world), method=method)


CASES = [(endpoint, role) for endpoint in MATRIX for role in ROLES]


@pytest.mark.sqlite_only  # the rules do not depend on the database; SQLite keeps the matrix quick
@pytest.mark.parametrize(("endpoint", "role"), CASES, ids=[f"{e}-{r}" for e, r in CASES])
def test_route_answers_each_role_as_expected(client, login, world, endpoint, role):
    method, path, expected = MATRIX[endpoint]
    response = _visit(client, login, world, role, method, path)
    assert _outcome(response, role) == expected[role], f"{method} {path(world)} as {role}: {response.status_code}"


OBJECT_IDS = [(i, role) for i in range(len(OBJECT_CASES)) for role in ROLES]


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("case", "role"), OBJECT_IDS, ids=[f"object{i}-{r}" for i, r in OBJECT_IDS])
def test_objects_of_other_organisations_and_areas_are_refused(client, login, world, case, role):
    method, path, expected = OBJECT_CASES[case]
    response = _visit(client, login, world, role, method, path)
    assert _outcome(response, role) == expected[role], f"{method} {path(world)} as {role}: {response.status_code}"


def test_unknown_endpoint_is_refused_to_everyone(app):
    """Deny by default: a route registered without a policy rule answers 403 even to an admin."""
    from portal import policy

    assert policy.rule_for("nowhere.secret") is None

    @app.get("/__unruled")
    def unruled():
        return "should never be seen"

    response = app.test_client().get("/__unruled")
    assert response.status_code == 403
