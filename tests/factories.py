"""Small make_* functions that build valid objects. They add and flush; the test decides on commits."""
import functools
import itertools

from werkzeug.security import generate_password_hash

from portal.extensions import db
from portal.models import Area, Organisation, OrganisationSector, OrgKind, OrgStatus, SchoolYearSize, User, utcnow
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
