"""Small make_* functions that build valid objects. They add and flush; the test decides on commits."""
import functools
import itertools
from datetime import date, timedelta

from werkzeug.security import generate_password_hash

from portal.extensions import db
from portal.models import (
    Area,
    Offer,
    Organisation,
    OrganisationSector,
    OrgKind,
    OrgStatus,
    SchoolRequest,
    SchoolYearSize,
    User,
    utcnow,
)
from portal.vocab import Role

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


@functools.cache
def password_hash(password: str = PASSWORD) -> str:
    """scrypt is deliberately slow: hash the shared test password once per run."""
    return generate_password_hash(password, method="scrypt")


def make_area(name: str | None = None, **fields) -> Area:
    area = Area(name=name or f"Area {next(_seq)}", **fields)
    db.session.add(area)
    db.session.flush()
    return area


def make_provider(
    area: Area | None = None, *, name: str | None = None, sectors=("engineering",), **fields
) -> Organisation:
    n = next(_seq)
    org = Organisation(
        kind=OrgKind.PROVIDER,
        name=name or f"Provider {n} Ltd",
        area=area or make_area(),
        status=fields.pop("status", OrgStatus.VERIFIED),
        provider_kind=fields.pop("provider_kind", "employer"),
        size_band=fields.pop("size_band", "medium"),
        town=fields.pop("town", "Burnley"),
        latitude=fields.pop("latitude", 53.78),
        longitude=fields.pop("longitude", -2.24),
        **fields,
    )
    org.sectors = [OrganisationSector(sector=s) for s in sectors]
    db.session.add(org)
    db.session.flush()
    return org


def make_school(area: Area | None = None, *, name: str | None = None, urn: str | None = None,
                phase: str = "secondary", year_sizes: dict[int, int] | None = None, **fields) -> Organisation:
    n = next(_seq)
    org = Organisation(
        kind=OrgKind.SCHOOL,
        name=name or f"School {n}",
        area=area or make_area(),
        status=fields.pop("status", OrgStatus.VERIFIED),
        urn=urn or f"{100000 + n:06d}",
        phase=phase,
        town=fields.pop("town", "Burnley"),
        latitude=fields.pop("latitude", 53.79),
        longitude=fields.pop("longitude", -2.25),
        **fields,
    )
    sizes = year_sizes if year_sizes is not None else {y: 150 for y in range(7, 12)}
    org.year_sizes = [SchoolYearSize(year_group=y, pupils=p) for y, p in sizes.items()]
    db.session.add(org)
    db.session.flush()
    return org


def make_user(role: Role = Role.PROVIDER, *, organisation: Organisation | None = None, areas=(),
              email: str | None = None, password: str = PASSWORD, status: str = "active",
              confirmed: bool = True, **fields) -> User:
    n = next(_seq)
    if organisation is None and role in (Role.PROVIDER, Role.CAREERS_LEAD):
        organisation = make_provider() if role == Role.PROVIDER else make_school()
    user = User(
        email=(email or f"user{n}@example.org").lower(),
        name=fields.pop("name", f"Test User {n}"),
        password_hash=password_hash(password),
        role=role,
        status=status,
        organisation=organisation,
        email_confirmed_at=utcnow() if confirmed else None,
        **fields,
    )
    user.areas = list(areas)
    db.session.add(user)
    db.session.flush()
    return user


def make_offer(provider: Organisation | None = None, *, type: str = "careers_talk", status: str = "published",
               year_groups=(9, 10), starts_in_days: int = 7, lasts_days: int = 60, **fields) -> Offer:
    """A valid offer (published by default) with safeguarding declared, running from next week for two months."""
    provider = provider or make_provider()
    today = date.today()
    sessions = fields.pop("sessions", 2)
    per_session = fields.pop("per_session", 30)
    offer = Offer(
        provider=provider,
        area_id=provider.area_id,
        type=type,
        title=fields.pop("title", f"Offer {next(_seq)}"),
        description=fields.pop("description", "Meet the people who build things."),
        sector=fields.pop("sector", "engineering"),
        delivery=fields.pop("delivery", "in_school"),
        status=status,
        sessions=sessions,
        per_session=per_session,
        capacity=fields.pop("capacity", sessions * per_session),
        starts_on=fields.pop("starts_on", today + timedelta(days=starts_in_days)),
        ends_on=fields.pop("ends_on", today + timedelta(days=starts_in_days + lasts_days)),
        max_travel_miles=fields.pop("max_travel_miles", 20),
        supervised_throughout=True,
        risk_assessment_done=True,
        liability_insurance=True,
        safeguarding_contact=fields.pop("safeguarding_contact", "Sam Safe"),
        published_at=utcnow() if status == "published" else None,
        **fields,
    )
    offer.year_groups = year_groups
    db.session.add(offer)
    db.session.flush()
    return offer


def make_request(school: Organisation | None = None, *, wanted_types=("careers_talk",), year_groups=(9, 10),
                 pupils: int = 30, starts_in_days: int = 7, lasts_days: int = 60, **fields) -> SchoolRequest:
    """An open request for a talk to 30 pupils in Years 9-10 over the next two months."""
    school = school or make_school()
    today = date.today()
    school_request = SchoolRequest(
        school=school,
        area_id=school.area_id,
        title=fields.pop("title", f"Request {next(_seq)}"),
        wanted_types=list(wanted_types),
        sectors=list(fields.pop("sectors", [])),
        pupils=pupils,
        starts_on=fields.pop("starts_on", today + timedelta(days=starts_in_days)),
        ends_on=fields.pop("ends_on", today + timedelta(days=starts_in_days + lasts_days)),
        deliveries=list(fields.pop("deliveries", ["in_school", "workplace", "virtual"])),
        max_travel_miles=fields.pop("max_travel_miles", 15),
        **fields,
    )
    school_request.year_groups = year_groups
    db.session.add(school_request)
    db.session.flush()
    return school_request


def make_pupil(school: Organisation, **fields):
    """A pupil on roll in Year 9 with a unique reference and identifier hash."""
    from portal.models import Pupil

    n = next(_seq)
    pupil = Pupil(school_id=school.id, reference=fields.pop("reference", f"P{n:08d}"),
                  identifier_hash=fields.pop("identifier_hash", f"hash-{n}"),
                  year_group=fields.pop("year_group", 9), **fields)
    db.session.add(pupil)
    db.session.flush()
    return pupil


def make_pledge(provider: Organisation, *, amount_pence: int = 500_000, **fields):
    """An open levy transfer pledge from a (levy-paying) provider, with no criteria and no auto-approval unless
    given; the 50% rule is the service's (services.pledges.create_pledge), not checked here."""
    from portal.models import Pledge

    provider.levy_payer = True
    pledge = Pledge(provider_id=provider.id, area_id=provider.area_id,
                    title=fields.pop("title", f"Pledge {next(_seq)}"),
                    amount_pence=amount_pence, remaining_pence=fields.pop("remaining_pence", amount_pence),
                    last_year_funds_pence=fields.pop("last_year_funds_pence", amount_pence * 2),
                    auto_approve=fields.pop("auto_approve", False), **fields)
    db.session.add(pledge)
    db.session.flush()
    return pledge


def make_pledge_application(pledge, applicant: Organisation, *, amount_pence: int = 100_000, **fields):
    """An application awaiting approval, made now, expiring in three months."""
    from portal.models import PledgeApplication

    now = utcnow()
    application = PledgeApplication(
        pledge_id=pledge.id, applicant_id=applicant.id, standard=fields.pop("standard", "Engineering technician"),
        level=fields.pop("level", 3), apprentices=fields.pop("apprentices", 1), amount_pence=amount_pence,
        starts_on=fields.pop("starts_on", date.today() + timedelta(days=60)),
        meets_criteria=fields.pop("meets_criteria", True),
        expires_at=fields.pop("expires_at", now + timedelta(days=90)),
        **fields)
    db.session.add(application)
    db.session.flush()
    return application
