"""The fictional demo installation: two Lancashire areas, their schools, providers and a login per role.

Every school, provider, person, URN, phone number and web address here is invented. Towns and their
coordinates are real (from the offline gazetteer). URNs use the 99xxxx range, which no school has;
phone numbers use Ofcom's 01632 960xxx drama range; websites use the reserved `.example` domain.

`seed_demo` only ever adds what is missing, keyed by natural keys (area name, URN, organisation
name, email), so running it twice changes nothing and never undoes edits made in the portal.
"""
import functools
import re
from dataclasses import dataclass, field

from sqlalchemy import select

from portal import geo
from portal.extensions import db
from portal.models import (
    Area,
    Organisation,
    OrganisationSector,
    OrgKind,
    OrgStatus,
    SchoolYearSize,
    User,
    UserStatus,
    utcnow,
)
from portal.services.passwords import hash_password
from portal.vocab import Role

DEMO_PASSWORD = "encounters-demo-2026"  # noqa: S105 (printed on purpose: it is the demo's shared password)
DEMO_DOMAIN = "demo.encounters.test"

# An area's places are looked up near its centre town: the gazetteer has several Prestons and Wartons.
AREA_CENTRES = {"Burnley": "Burnley", "Preston": "Preston"}
MAX_MILES_FROM_CENTRE = 15.0


@dataclass(frozen=True)
class SchoolSpec:
    name: str
    urn: str
    phase: str
    town: str
    area: str
    year_sizes: dict[int, int]


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    provider_kind: str
    sectors: tuple[str, ...]
    size_band: str
    levy_payer: bool
    town: str
    area: str
    slug: str
    safeguarding_contact: str
    status: str = OrgStatus.VERIFIED


@dataclass(frozen=True)
class UserSpec:
    email: str
    name: str
    role: Role
    organisation: str | None = None  # organisation name
    areas: tuple[str, ...] = field(default=())
    status: str = UserStatus.ACTIVE
    note: str = ""


def _secondary(y7: int, y8: int, y9: int, y10: int, y11: int, sixth_form: tuple[int, int] | None = None):
    sizes = dict(zip(range(7, 12), (y7, y8, y9, y10, y11), strict=True))
    if sixth_form:
        sizes.update({12: sixth_form[0], 13: sixth_form[1]})
    return sizes


SCHOOLS: tuple[SchoolSpec, ...] = (
    # Burnley area (Burnley, Padiham and the Pendle towns)
    SchoolSpec("Brun Valley High School", "990101", "secondary", "Burnley", "Burnley",
               _secondary(210, 205, 198, 190, 186, sixth_form=(112, 96))),
    SchoolSpec("Calder Bank Community College", "990102", "secondary", "Padiham", "Burnley",
               _secondary(150, 148, 142, 139, 131)),
    SchoolSpec("Pendleside High School", "990103", "secondary", "Nelson", "Burnley",
               _secondary(180, 176, 171, 168, 160)),
    SchoolSpec("Boulsworth Academy", "990104", "secondary", "Colne", "Burnley",
               _secondary(165, 158, 160, 152, 149, sixth_form=(74, 68))),
    SchoolSpec("Towneley Fields Primary School", "990201", "primary", "Burnley", "Burnley",
               dict(enumerate((60, 60, 58, 59, 57, 60, 56)))),
    # Preston area (Preston, South Ribble and Chorley)
    SchoolSpec("Riversway High School", "990105", "secondary", "Preston", "Preston",
               _secondary(240, 236, 229, 224, 218, sixth_form=(140, 126))),
    SchoolSpec("Deepdale Fields Academy", "990106", "secondary", "Preston", "Preston",
               _secondary(186, 180, 177, 172, 169)),
    SchoolSpec("Worden Vale High School", "990107", "secondary", "Leyland", "Preston",
               _secondary(200, 196, 190, 188, 181, sixth_form=(95, 88))),
    SchoolSpec("Astley Brook Academy", "990108", "secondary", "Chorley", "Preston",
               _secondary(128, 125, 122, 121, 120)),
    SchoolSpec("Millbrook Primary School", "990202", "primary", "Preston", "Preston",
               dict(enumerate((30, 29, 30, 28, 30, 27, 29)))),
    SchoolSpec("Preston Riverside College", "990301", "college", "Preston", "Preston",
               {12: 1450, 13: 1320, 14: 640}),
)

PROVIDERS: tuple[ProviderSpec, ...] = (
    # Burnley area: aerospace and automotive manufacturing, digital, the hospital trust
    ProviderSpec("Pennine Aerostructures Ltd", "employer", ("engineering",), "large", True, "Burnley", "Burnley",
                 "pennine-aero", "Karen Lord, HR business partner, 01632 960101"),
    ProviderSpec("Hapton Automotive Components Ltd", "employer", ("engineering",), "large", True, "Hapton",
                 "Burnley", "hapton-automotive", "Gareth Pilling, early careers manager, 01632 960102"),
    ProviderSpec("Calder Precision Engineering", "employer", ("engineering",), "medium", False, "Padiham",
                 "Burnley", "calder-precision", "Maria Nowak, operations director, 01632 960103"),
    ProviderSpec("Weavers Yard Software Ltd", "employer", ("digital",), "medium", False, "Burnley", "Burnley",
                 "weavers-yard", "Tom Heap, people lead, 01632 960104"),
    ProviderSpec("Brunside Digital", "employer", ("digital", "creative"), "small", False, "Burnley", "Burnley",
                 "brunside", "Aisha Rahman, director, 01632 960105"),
    ProviderSpec("East Pennine Hospitals NHS Trust", "employer", ("health",), "large", True, "Burnley", "Burnley",
                 "east-pennine-nhs", "Lesley Greenwood, named safeguarding lead, 01632 960106"),
    ProviderSpec("Pendle Building Contractors Ltd", "employer", ("construction",), "medium", False, "Nelson",
                 "Burnley", "pendle-building", "Steve Hartley, site safety manager, 01632 960107"),
    ProviderSpec("Boulsworth Homes", "employer", ("construction",), "small", False, "Colne", "Burnley",
                 "boulsworth-homes", "Janet Dean, office manager, 01632 960108"),
    ProviderSpec("Towneley Retail Group", "employer", ("retail",), "large", True, "Burnley", "Burnley",
                 "towneley-retail", "Craig Barnes, regional HR manager, 01632 960109"),
    ProviderSpec("Pennine Fire and Rescue Service", "employer", ("public_services",), "large", True, "Burnley",
                 "Burnley", "pennine-fire", "Station Manager Nadia Hussain, 01632 960110"),
    ProviderSpec("Canalside Credit Union", "employer", ("finance",), "small", False, "Burnley", "Burnley",
                 "canalside-cu", "Peter Whittam, manager, 01632 960111"),
    ProviderSpec("Padiham Logistics Ltd", "employer", ("transport",), "medium", False, "Padiham", "Burnley",
                 "padiham-logistics", "Ryan Sutcliffe, depot manager, 01632 960112"),
    ProviderSpec("Barrowford Hill Farm", "employer", ("land_based",), "micro", False, "Barrowford", "Burnley",
                 "barrowford-hill-farm", "Ellen Moorhouse, partner, 01632 960113"),
    ProviderSpec("Calder Valley College", "college", ("education", "engineering", "construction"), "large", True,
                 "Burnley", "Burnley", "calder-valley-college", "Safeguarding team, 01632 960114"),
    # Preston area: aerospace at Warton, commercial vehicles at Leyland, the university and the city centre
    ProviderSpec("Ribble Aerospace Systems", "employer", ("engineering", "digital"), "large", True, "Warton",
                 "Preston", "ribble-aerospace", "Dr Helen Carr, education outreach lead, 01632 960201"),
    ProviderSpec("Northway Commercial Vehicles Ltd", "employer", ("engineering", "transport"), "large", True,
                 "Leyland", "Preston", "northway-cv", "Mark Fielding, apprenticeship manager, 01632 960202"),
    ProviderSpec("Docklands Digital Ltd", "employer", ("digital",), "medium", False, "Preston", "Preston",
                 "docklands-digital", "Sophie Kelly, head of people, 01632 960203"),
    ProviderSpec("Fishergate Financial Services", "employer", ("finance",), "large", True, "Preston", "Preston",
                 "fishergate-financial", "Andrew Bamber, early careers lead, 01632 960204"),
    ProviderSpec("Guild Care Homes", "employer", ("health",), "medium", False, "Preston", "Preston",
                 "guild-care", "Bernadette Walsh, registered manager, 01632 960205"),
    ProviderSpec("Avenham Hotel and Kitchen", "employer", ("hospitality",), "medium", False, "Preston", "Preston",
                 "avenham-hotel", "Luca Rossi, general manager, 01632 960206"),
    ProviderSpec("Flag Market Studio", "employer", ("creative",), "micro", False, "Preston", "Preston",
                 "flag-market-studio", "Chloe Marsden, founder, 01632 960207"),
    ProviderSpec("Chorley Civil Engineering Ltd", "employer", ("construction",), "medium", False, "Chorley",
                 "Preston", "chorley-civils", "Dave Rigby, health and safety manager, 01632 960208"),
    ProviderSpec("Preston East Distribution Ltd", "employer", ("transport", "retail"), "large", True, "Preston",
                 "Preston", "preston-east", "Kerry Singh, site HR manager, 01632 960209"),
    ProviderSpec("Goosnargh Growers", "employer", ("land_based",), "small", False, "Goosnargh", "Preston",
                 "goosnargh-growers", "Bill Cross, owner, 01632 960210"),
    ProviderSpec("Central Lancashire Council Services", "employer", ("public_services",), "large", True, "Preston",
                 "Preston", "central-lancs-council", "Youth services safeguarding officer, 01632 960211"),
    ProviderSpec("University of the Ribble", "university", ("education", "health", "digital", "creative"), "large",
                 True, "Preston", "Preston", "ribble-university", "Widening participation team, 01632 960212"),
    ProviderSpec("Northpoint Training", "training_provider", ("construction", "hospitality", "digital"), "small",
                 False, "Preston", "Preston", "northpoint-training", "Imogen Hayes, safeguarding lead, 01632 960213"),
    # Signed up and confirmed their email, waiting in the Burnley coordinator's verification queue.
    ProviderSpec("Lowerhouse Joinery Ltd", "employer", ("construction",), "micro", False, "Burnley", "Burnley",
                 "lowerhouse-joinery", "Dan Riley, director, 01632 960115", status=OrgStatus.PENDING),
)

_TWO_STEP = "two-step set-up at first sign-in"

USERS: tuple[UserSpec, ...] = (
    UserSpec(f"admin@{DEMO_DOMAIN}", "Sam Whitaker", Role.ADMIN, note=f"all areas; {_TWO_STEP}"),
    UserSpec(f"coordinator@{DEMO_DOMAIN}", "Jo Ashworth", Role.COORDINATOR, areas=("Burnley", "Preston"),
             note=f"Burnley and Preston; {_TWO_STEP}"),
    UserSpec(f"coordinator.burnley@{DEMO_DOMAIN}", "Rachel Holden", Role.COORDINATOR, areas=("Burnley",),
             note=f"Burnley; {_TWO_STEP}"),
    UserSpec(f"coordinator.preston@{DEMO_DOMAIN}", "Imran Patel", Role.COORDINATOR, areas=("Preston",),
             note=f"Preston; {_TWO_STEP}"),
    UserSpec(f"careers@brun-valley.{DEMO_DOMAIN}", "Claire Duckworth", Role.CAREERS_LEAD,
             organisation="Brun Valley High School", note="Brun Valley High School, Burnley"),
    UserSpec(f"careers@riversway.{DEMO_DOMAIN}", "Mohammed Iqbal", Role.CAREERS_LEAD,
             organisation="Riversway High School", note="Riversway High School, Preston"),
    UserSpec(f"careers@preston-riverside.{DEMO_DOMAIN}", "Fiona Leach", Role.CAREERS_LEAD,
             organisation="Preston Riverside College", note="Preston Riverside College"),
    UserSpec(f"partnerships@pennine-aero.{DEMO_DOMAIN}", "Neil Crabtree", Role.PROVIDER,
             organisation="Pennine Aerostructures Ltd", note="Pennine Aerostructures Ltd, Burnley"),
    UserSpec(f"partnerships@east-pennine-nhs.{DEMO_DOMAIN}", "Gemma Threlfall", Role.PROVIDER,
             organisation="East Pennine Hospitals NHS Trust", note="East Pennine Hospitals NHS Trust, Burnley"),
    UserSpec(f"partnerships@docklands-digital.{DEMO_DOMAIN}", "Josh Parkinson", Role.PROVIDER,
             organisation="Docklands Digital Ltd", note="Docklands Digital Ltd, Preston"),
    UserSpec(f"partnerships@ribble-university.{DEMO_DOMAIN}", "Dr Priya Nair", Role.PROVIDER,
             organisation="University of the Ribble", note="University of the Ribble, Preston"),
    # Pending: email confirmed, waiting for a coordinator (not a login until verified).
    UserSpec(f"dan@lowerhouse-joinery.{DEMO_DOMAIN}", "Dan Riley", Role.PROVIDER,
             organisation="Lowerhouse Joinery Ltd", status=UserStatus.PENDING),
)

# (role label, email, note) for the README and `flask demo-logins`: everyone who can sign in.
DEMO_LOGINS: tuple[tuple[str, str, str], ...] = tuple(
    (u.role.label, u.email, u.note) for u in USERS if u.status == UserStatus.ACTIVE
)
PENDING_SIGNUP_EMAIL = f"dan@lowerhouse-joinery.{DEMO_DOMAIN}"


def area_centre(area_name: str) -> geo.Place:
    return geo.exact_matches(AREA_CENTRES[area_name])[0]


def locate(town: str, area_name: str) -> geo.Place:
    """The gazetteer place called `town` nearest the area's centre (there are several Wartons and Prestons)."""
    centre = area_centre(area_name)
    matches = geo.exact_matches(town)
    if not matches:
        raise ValueError(f"demo data: {town!r} is not in the gazetteer")
    place = min(matches, key=lambda p: geo.miles(p, centre))
    if geo.miles(place, centre) > MAX_MILES_FROM_CENTRE:
        raise ValueError(f"demo data: {town!r} is not near {area_name}")
    return place


@functools.cache
def _demo_password_hash() -> str:
    """scrypt is slow on purpose: hash the shared password once, and only when a user is being created."""
    return hash_password(DEMO_PASSWORD)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


class _Seeder:
    """Get-or-create by natural key; remembers whether it added anything."""

    def __init__(self):
        self.created = False

    def add(self, obj) -> None:
        db.session.add(obj)
        self.created = True

    def area(self, name: str) -> Area:
        area = db.session.scalar(select(Area).where(Area.name == name))
        if area is None:
            area = Area(name=name)
            self.add(area)
        return area

    def school(self, spec: SchoolSpec, area: Area) -> Organisation:
        school = db.session.scalar(select(Organisation).where(Organisation.urn == spec.urn))
        if school is None:
            place = locate(spec.town, spec.area)
            school = Organisation(
                kind=OrgKind.SCHOOL, name=spec.name, area=area, status=OrgStatus.VERIFIED,
                urn=spec.urn, phase=spec.phase,
                town=place.name, latitude=place.latitude, longitude=place.longitude,
                website=f"https://www.{_slug(spec.name)}.example",
            )
            school.year_sizes = [SchoolYearSize(year_group=y, pupils=n) for y, n in sorted(spec.year_sizes.items())]
            self.add(school)
        return school

    def provider(self, spec: ProviderSpec, area: Area) -> Organisation:
        provider = db.session.scalar(
            select(Organisation).where(Organisation.kind == OrgKind.PROVIDER, Organisation.name == spec.name)
        )
        if provider is None:
            place = locate(spec.town, spec.area)
            provider = Organisation(
                kind=OrgKind.PROVIDER, name=spec.name, area=area, status=spec.status,
                provider_kind=spec.provider_kind, size_band=spec.size_band, levy_payer=spec.levy_payer,
                safeguarding_contact=spec.safeguarding_contact,
                town=place.name, latitude=place.latitude, longitude=place.longitude,
                website=f"https://www.{spec.slug}.example",
            )
            provider.sectors = [OrganisationSector(sector=s) for s in spec.sectors]
            self.add(provider)
        return provider

    def user(self, spec: UserSpec, organisations: dict[str, Organisation], areas: dict[str, Area]) -> User:
        user = db.session.scalar(select(User).where(User.email == spec.email))
        if user is None:
            user = User(
                email=spec.email, name=spec.name, role=spec.role, status=spec.status,
                password_hash=_demo_password_hash(), email_confirmed_at=utcnow(),
                organisation=organisations[spec.organisation] if spec.organisation else None,
            )
            user.areas = [areas[name] for name in spec.areas]
            self.add(user)
        return user


def seed_demo(only_if_empty: bool = False) -> bool:
    """Add the demo areas, organisations and users that are missing; True if anything was added."""
    if only_if_empty and db.session.scalar(select(Area.id).limit(1)) is not None:
        return False
    seeder = _Seeder()
    areas = {name: seeder.area(name) for name in AREA_CENTRES}
    organisations: dict[str, Organisation] = {}
    for school in SCHOOLS:
        organisations[school.name] = seeder.school(school, areas[school.area])
    for provider in PROVIDERS:
        organisations[provider.name] = seeder.provider(provider, areas[provider.area])
    for user in USERS:
        seeder.user(user, organisations, areas)
    db.session.commit()
    return seeder.created
