"""The fictional demo installation: two Lancashire areas, their schools, providers and a login per role, and a
living marketplace: offers across every type, open requests from schools and a few proposed matches; a NEET
internship programme with its rota approved, a levy account with an open pledge and an application to it, and a
primary school's kit request.

Every school, provider, person, URN, phone number and web address here is invented. Towns and their
coordinates are real (from the offline gazetteer). URNs use the 99xxxx range, which no school has;
phone numbers use Ofcom's 01632 960xxx drama range; websites use the reserved `.example` domain.

`seed_demo` only ever adds what is missing, keyed by natural keys (area name, URN, organisation
name, email; an offer by provider and title, a request by school and title, a match by offer and
request), so running it twice changes nothing and never undoes edits made in the portal.

Offer and request dates are days after the day of the first seed, so a fresh demo never looks stale;
a later seed leaves them where they are. Every offer and request passes the same rules the portal's
forms apply (offers.offer_problems, school_requests.problems, the proposal rules) before it is added.
"""
import functools
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from portal import catalogue, geo
from portal.catalogue import Delivery
from portal.extensions import db
from portal.models import (
    Area,
    InternshipProgramme,
    KitRequest,
    LevyEntry,
    Match,
    MatchEvent,
    MatchOrigin,
    MatchStatus,
    Offer,
    OfferStatus,
    Organisation,
    OrganisationSector,
    OrgKind,
    OrgStatus,
    Pledge,
    PledgeApplication,
    PriorityCohort,
    Pupil,
    PupilStatus,
    RegisterEntry,
    RequestStatus,
    SchoolRequest,
    SchoolYearSize,
    User,
    UserStatus,
    utcnow,
)
from portal.services import counting, destinations, internships, kits, levy, pledges, proposals, registers, reports
from portal.services import offers as offer_rules
from portal.services import pupils as pupil_service
from portal.services import school_requests as request_rules
from portal.services.levy_projection import add_months
from portal.services.passwords import hash_password
from portal.services.roster_import import RosterRow
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
    names_opt_in: bool = False  # store pupils' display names (set when the school is first added)


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
               _secondary(210, 205, 198, 190, 186, sixth_form=(112, 96)), names_opt_in=True),
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
    UserSpec(f"careers@millbrook.{DEMO_DOMAIN}", "Sarah Tomlinson", Role.CAREERS_LEAD,
             organisation="Millbrook Primary School", note="Millbrook Primary School, Preston (primary kits)"),
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


# --- the marketplace: offers, requests and proposed matches ------------------------------------------------------

SAFEGUARDING_DECLARATIONS = frozenset({"supervised_throughout", "risk_assessment_done", "liability_insurance",
                                       "safeguarding_contact"})


def _pence(pounds: int) -> int:
    return pounds * 100


@dataclass(frozen=True)
class OfferSpec:
    """A demo offer. Dates are days after the day of the first seed: it starts `starts_in` days on (the next
    weekday) and runs for `runs_for` days. Offers counted in pupils give sessions × per_session; the others
    give `capacity` (places or classes). A `timedelta` among the details is a date that many days on
    (the weekday before, if it falls at a weekend)."""

    provider: str
    type: str
    title: str
    description: str
    sector: str
    years: tuple[int, ...]
    starts_in: int
    runs_for: int
    sessions: int = 1
    per_session: int = 1
    capacity: int | None = None
    travel: int | None = None  # miles the provider will travel to schools (needed for in-school delivery)
    delivery: str | None = None  # None: the type's usual delivery
    open_to_all_areas: bool = False
    declared: frozenset[str] = SAFEGUARDING_DECLARATIONS
    accessibility: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    status: str = OfferStatus.PUBLISHED


def _years(first: int, last: int) -> tuple[int, ...]:
    return tuple(range(first, last + 1))


_PENNINE = "Pennine Aerostructures Ltd"
_HAPTON = "Hapton Automotive Components Ltd"
_NHS = "East Pennine Hospitals NHS Trust"
_DOCKLANDS = "Docklands Digital Ltd"
_RIBBLE_UNI = "University of the Ribble"

NHS_TALK = "More than doctors and nurses: careers in the NHS"
PENNINE_VISIT = "Inside an aircraft factory: site visit for Years 9 and 10"
RIBBLE_TALK = "Is university for me? A talk for Years 10 to 13"
WHEN_I_GROW_UP = "'When I Grow Up' resource kit for KS1 classes"
INTERNSHIP_WEEK_TITLE = "Paid internship week: {}"  # a Burnley provider's week in the NEET internship programme


def _internship_week(provider: str, team: str, sector: str, mentor: str, description: str) -> OfferSpec:
    """A paid week for two interns at a time, open through the programme's weeks (needs the safeguarding
    declarations to publish, like every workplace offer)."""
    return OfferSpec(provider, "internship_week", INTERNSHIP_WEEK_TITLE.format(team), description, sector, (),
                     starts_in=7, runs_for=90, capacity=2,
                     details={"paid": True, "mentor_name": mentor, "weekly_wage_pence": _pence(250),
                              "council_contribution_pence": _pence(100)})


OFFERS: tuple[OfferSpec, ...] = (
    # --- Burnley area ---
    OfferSpec(
        _PENNINE, "careers_talk", "From apprentice to aerospace engineer: an assembly talk",
        "Two of our engineers, one who joined us as a 16-year-old apprentice and one who came through university, "
        "tell pupils how the wing parts we make in Burnley end up on aircraft all over the world.\n\n"
        "The talk lasts 25 minutes with 10 minutes for questions. Every pupil gets a one-page sheet of routes into "
        "engineering to talk over in form time afterwards.",
        "engineering", _years(7, 11), starts_in=7, runs_for=110, sessions=4, per_session=180, travel=15,
    ),
    OfferSpec(
        _PENNINE, "workplace_visit", PENNINE_VISIT,
        "A group of up to 20 pupils spends a morning at our Burnley site: a guided walk round the assembly hall, a "
        "go on the composite lay-up training rig and a question-and-answer session with our apprentices.\n\n"
        "We provide safety glasses and high-visibility vests. Pupils come in school uniform with no jewellery. "
        "Visits run from 9:30 to 12:30, Tuesday to Thursday.",
        "engineering", (9, 10), starts_in=14, runs_for=90, sessions=4, per_session=20,
        accessibility="Step-free route round the assembly hall and a lift to the viewing gallery. Ear defenders "
                      "are provided and a quiet room is available.",
    ),
    OfferSpec(
        _PENNINE, "levy_place", "Levy-funded place: engineering technician apprenticeship",
        "Some of our apprenticeship levy funds will expire unless they are used. Through a levy transfer we will pay "
        "the full training costs for two school or college leavers to start an engineering technician "
        "apprenticeship with a small or medium-sized engineering firm near Burnley.\n\n"
        "Careers leads: tell us about pupils leaving Year 11 or Year 13 who want a hands-on engineering career and "
        "we will introduce them to firms in our supply chain.",
        "engineering", (11, 12, 13), starts_in=21, runs_for=90, capacity=2,
        details={"funding_amount_pence": _pence(24_000), "apprenticeship_standard": "Engineering technician",
                 "apprenticeship_level": 3, "levy_expires_on": timedelta(days=122)},
    ),
    OfferSpec(
        _PENNINE, "mock_interviews", "Mock interviews with our engineering managers",
        "Fifteen-minute practice interviews with the managers who take on our apprentices. Each pupil gets written "
        "feedback on what went well and one thing to work on before a real interview.",
        "engineering", (11, 12, 13), starts_in=28, runs_for=60, sessions=2, per_session=16, travel=12,
        status=OfferStatus.DRAFT,
    ),
    OfferSpec(
        _HAPTON, "apprenticeship_vacancy", "Apprentice maintenance technician (Level 3)",
        "Three apprenticeships on our Hapton site, keeping the presses and robot cells running. Four days a week "
        "with us and one day at Calder Valley College. You need GCSE maths and English at grade 4 or above, or to "
        "be working towards them.\n\n"
        "The wage rises each year, and apprentices who complete are offered a permanent job.",
        "engineering", (11, 12, 13), starts_in=0, runs_for=45, capacity=3,
        details={"apprenticeship_standard": "Maintenance and operations engineering technician",
                 "apprenticeship_level": 3, "weekly_wage_pence": _pence(320), "closing_date": timedelta(days=42)},
    ),
    OfferSpec(
        _HAPTON, "work_experience", "Work experience on the production line",
        "A week with our production and quality teams. Pupils shadow a team leader, help with quality checks and "
        "tell our site manager what they have learned on the Friday afternoon.\n\n"
        "Hours are 8:30 to 3:30. We provide safety boots and protective clothing, and each pupil has a named "
        "supervisor throughout.",
        "engineering", (10, 12), starts_in=28, runs_for=120, capacity=4, details={"placement_days": 5},
    ),
    OfferSpec(
        "Calder Precision Engineering", "enterprise_challenge", "Design a better bike clamp: an enterprise challenge",
        "Teams of five work on a real brief from one of our customers: a bike clamp that costs less to make. Our "
        "engineers set the challenge in the morning, visit the teams with prototype parts and judge the pitches "
        "after lunch.\n\n"
        "It takes a full school day. We bring the materials; the school provides a room with tables for six teams.",
        "engineering", (8, 9), starts_in=10, runs_for=100, sessions=3, per_session=30, travel=10,
    ),
    OfferSpec(
        "Weavers Yard Software Ltd", "mentoring", "Code club mentoring for Years 10 and 12",
        "One of our developers meets the same pupil at school for an hour every fortnight, six times in all. They "
        "help with a small coding project of the pupil's choosing and talk about routes into software jobs, with "
        "and without a degree.",
        "digital", (10, 12), starts_in=14, runs_for=120, capacity=6, travel=8, details={"mentoring_sessions": 6},
    ),
    OfferSpec(
        "Brunside Digital", "virtual_encounter", "Live from the studio: how games and apps get made",
        "A 45-minute live session from our studio in Burnley. Pupils watch a game being built, meet an artist, a "
        "developer and a tester, and put their questions to them in the chat or on camera.\n\n"
        "Open to schools in every area. All you need is a classroom screen, a webcam and a microphone.",
        "creative", _years(7, 11), starts_in=7, runs_for=110, sessions=4, per_session=60, open_to_all_areas=True,
        details={"virtual_link_note": "We email a Microsoft Teams link to the careers lead once the date is "
                                      "confirmed."},
    ),
    OfferSpec(
        _NHS, "careers_talk", NHS_TALK,
        "The NHS employs people in more than 350 different roles, from paramedics and physiotherapists to "
        "electricians, accountants and chefs. Staff from three of them talk about their jobs, how they got there "
        "and what they wish they had known at school.\n\n"
        "The talk lasts 40 minutes including questions and suits a class or half a year group.",
        "health", _years(8, 11), starts_in=5, runs_for=115, sessions=8, per_session=60, travel=15,
    ),
    OfferSpec(
        _NHS, "work_experience", "Hospital work experience: clinical and support roles",
        "Four days in our Burnley hospital: a day each on a ward, in the pharmacy, in the laboratories and with "
        "the estates team who keep the buildings running.\n\n"
        "Students must be 16 or over. Our occupational health team sends a short form to fill in before the "
        "placement. Students do not see patients' records.",
        "health", (12, 13), starts_in=35, runs_for=90, capacity=6, details={"placement_days": 4},
        accessibility="The hospital is step-free throughout. Tell us about any medical needs in advance.",
    ),
    OfferSpec(
        _NHS, "mock_interviews", "Interview practice for health and care courses",
        "Practice interviews for pupils applying for health and social care courses, nursing degrees or "
        "healthcare apprenticeships, led by staff who sit on real interview panels. Each pupil gets written "
        "feedback.",
        "health", (11, 12, 13), starts_in=14, runs_for=100, sessions=3, per_session=15, travel=15,
    ),
    OfferSpec(
        "Pendle Building Contractors Ltd", "workplace_visit", "Hard hats on: a visit to a live building site",
        "Twelve pupils spend two hours on one of our housing sites in Nelson with the site manager, a bricklayer "
        "and a quantity surveyor. We provide hard hats, boots, gloves and vests in all sizes.\n\n"
        "Paused while the site moves to its next phase: we will reopen it as soon as it is safe to visit.",
        "construction", (10, 11), starts_in=21, runs_for=60, sessions=2, per_session=12,
        accessibility="The site has uneven ground and is not step-free. Tell us about any access needs and we "
                      "will plan a route.",
        status=OfferStatus.PAUSED,
    ),
    OfferSpec(
        "Towneley Retail Group", "careers_fair", "Retail careers stand at your school's careers fair",
        "Our store managers, a buyer and someone from our head office marketing team bring a stand to your careers "
        "fair: jobs from the shop floor to head office, our apprenticeships and what we look for on an "
        "application form.",
        "retail", _years(9, 13), starts_in=14, runs_for=120, per_session=250, travel=20,
    ),
    OfferSpec(
        "Pennine Fire and Rescue Service", "careers_talk", "People who help us: firefighters visit your school",
        "A crew from our Burnley station visits Reception and Key Stage 1 classes: what firefighters do all day, "
        "how they keep people safe and what it takes to join. Children try on a helmet and a jacket.\n\n"
        "If the fire engine can park on site, each class gets to look inside it. A crew can be called away to an "
        "emergency at short notice; we will rearrange if that happens.",
        "public_services", _years(0, 4), starts_in=7, runs_for=100, sessions=6, per_session=30, travel=12,
    ),
    OfferSpec(
        "Canalside Credit Union", "careers_talk", "Money skills and careers in finance",
        "A lesson on budgeting, saving and borrowing, run by our staff, followed by how they came to work in "
        "finance and what a credit union does differently from a bank.",
        "finance", (10, 11), starts_in=10, runs_for=90, sessions=4, per_session=30, travel=8,
    ),
    OfferSpec(
        "Calder Valley College", "enterprise_adviser", "Enterprise adviser: a senior leader for your careers programme",
        "Our deputy principal for curriculum will work alongside one secondary school's careers leader for the "
        "long term: meeting every half-term, helping plan the careers programme against the Gatsby Benchmarks and "
        "opening doors to employers we work with.",
        "education", _years(7, 11), starts_in=14, runs_for=120, capacity=1, travel=10,
    ),
    OfferSpec(
        "Barrowford Hill Farm", "workplace_visit", "A morning on a working hill farm",
        "A morning on our sheep and beef farm above Barrowford: caring for the animals, looking after the land and "
        "the jobs in farming that are not what people expect, from vets to drone surveying.",
        "land_based", (7, 8), starts_in=21, runs_for=45, sessions=2, per_session=15,
        declared=SAFEGUARDING_DECLARATIONS - {"risk_assessment_done"},  # still to do: why it is a draft
        status=OfferStatus.DRAFT,
    ),
    # The NEET internship programme's weeks (see INTERN_SPECS): five Burnley providers, two interns a week each.
    _internship_week(_PENNINE, "aerospace assembly", "engineering", "Liam Greenhalgh, production team leader",
                     "A week on the wing assembly line with one of our team leaders: safety induction on Monday, "
                     "then drilling, fitting and quality checks alongside our apprentices. Hours 8:00 to 4:00; boots "
                     "and overalls provided."),
    _internship_week(_NHS, "hospital support services", "health", "Anita Shah, volunteer services manager",
                     "A week in the hospital's support teams: portering, the patient meal service and medical "
                     "records, with time to talk to our apprentices in healthcare support and business admin."),
    _internship_week("Weavers Yard Software Ltd", "software testing", "digital", "Tom Heap, people lead",
                     "A week in our test team: learning how we check an app before it goes live, writing test "
                     "cases for a real feature and showing what you found to the developers on Friday."),
    _internship_week("Pendle Building Contractors Ltd", "on site", "construction",
                     "Steve Hartley, site safety manager",
                     "A week on one of our house-building sites in Nelson with the site manager: setting out, "
                     "bricklaying and joinery, and a day with the estimating team in the office. PPE provided."),
    _internship_week("Towneley Retail Group", "store and warehouse", "retail", "Craig Barnes, regional HR manager",
                     "A week across our Burnley store and its warehouse: deliveries, stock control, the shop floor "
                     "and a morning with the store manager on how the shop is run."),
    # --- Preston area ---
    OfferSpec(
        "Ribble Aerospace Systems", "work_experience", "Engineering work experience week at Warton",
        "A week in our systems engineering and test teams at Warton: pupils work on a small design task with a "
        "graduate engineer, see flight test data being analysed and present their work to the team.\n\n"
        "We provide a minibus from Preston station each morning and evening.",
        "engineering", (10, 12), starts_in=30, runs_for=120, capacity=8, details={"placement_days": 5},
        accessibility="Step-free buildings. Security checks on arrival take about 15 minutes.",
    ),
    OfferSpec(
        "Northway Commercial Vehicles Ltd", "levy_place",
        "Levy-funded place: heavy vehicle service technician apprenticeship",
        "We will transfer levy funds to pay the training for a young person starting a heavy vehicle service and "
        "maintenance apprenticeship with one of the independent garages we work with in Central Lancashire.",
        "engineering", (11, 12, 13), starts_in=21, runs_for=120, capacity=1,
        details={"funding_amount_pence": _pence(18_000),
                 "apprenticeship_standard": "Heavy vehicle service and maintenance technician",
                 "apprenticeship_level": 3, "levy_expires_on": timedelta(days=274)},
    ),
    OfferSpec(
        _DOCKLANDS, "mock_interviews", "CV clinic and mock interviews for digital roles",
        "Our developers and recruiters look over pupils' CVs with them, then run short practice interviews for "
        "apprenticeships and junior digital jobs, with written feedback for every pupil.",
        "digital", (11, 12, 13), starts_in=10, runs_for=90, sessions=3, per_session=20, travel=10,
    ),
    OfferSpec(
        _DOCKLANDS, "virtual_encounter", "Ask a software tester: a live online question time",
        "A software tester and a product designer spend 40 minutes answering pupils' questions live: what they "
        "do all day, how they got into tech and what they would study if they started again.\n\n"
        "Open to schools in every area.",
        "digital", _years(9, 13), starts_in=14, runs_for=100, sessions=3, per_session=90, open_to_all_areas=True,
        details={"virtual_link_note": "We send a Zoom link to the careers lead a week before the session."},
    ),
    OfferSpec(
        "Fishergate Financial Services", "mentoring", "Money and careers mentoring for sixth formers",
        "Ten of our staff each mentor one sixth former over five meetings at school: applications, interviews and "
        "what working in financial services is really like, including our school-leaver programme.",
        "finance", (12, 13), starts_in=21, runs_for=120, capacity=10, travel=12,
        details={"mentoring_sessions": 5},
    ),
    OfferSpec(
        "Guild Care Homes", "workplace_visit", "A morning in a care home",
        "Small groups meet our carers, nurses, activities coordinator and cook, and spend time with residents who "
        "enjoy talking to young people about their own working lives.",
        "health", _years(10, 13), starts_in=14, runs_for=90, sessions=2, per_session=8,
        accessibility="Step-free throughout, with an accessible toilet.",
    ),
    OfferSpec(
        "Avenham Hotel and Kitchen", "enterprise_challenge", "Pop-up restaurant enterprise challenge",
        "Teams plan a pop-up restaurant, from menu and costs to marketing, with our head chef and events manager. "
        "The winning team's dish goes on our specials board for a week.",
        "hospitality", (9, 10), starts_in=21, runs_for=100, sessions=2, per_session=32, travel=8,
    ),
    OfferSpec(
        "Flag Market Studio", "careers_talk", "Making a living as a freelance illustrator",
        "Our founder shows the books, adverts and album covers she has drawn, and talks honestly about finding "
        "work, setting prices and running a small business in the creative industries.",
        "creative", _years(9, 13), starts_in=7, runs_for=80, sessions=4, per_session=30, travel=10,
    ),
    OfferSpec(
        "Chorley Civil Engineering Ltd", "primary_kit", WHEN_I_GROW_UP,
        "A box for one Key Stage 1 class: a picture book about the people who build roads and bridges, "
        "child-sized hard hats and high-visibility vests, job picture cards and a 45-minute lesson plan.\n\n"
        "One of our engineers can come and read the story with the class. The kit is the school's to keep.",
        "construction", (1, 2), starts_in=7, runs_for=120, capacity=12, travel=20, details={"kit_stock": 12},
    ),
    OfferSpec(
        "Preston East Distribution Ltd", "workplace_visit", "Behind the scenes at a regional distribution centre",
        "See how a parcel gets from a lorry to a shop shelf: a walk round our warehouse, the robotic picking "
        "system and the transport office, then questions with our apprentices and managers.",
        "transport", _years(9, 11), starts_in=14, runs_for=100, sessions=3, per_session=20,
        accessibility="Step-free, with a viewing gallery over the picking floor.",
    ),
    OfferSpec(
        "Central Lancashire Council Services", "careers_fair",
        "Council careers stand: the jobs that keep Preston going",
        "Staff from social work, planning, highways, libraries and environmental health bring a stand to your "
        "careers fair, with our apprenticeships and graduate scheme.",
        "public_services", _years(9, 13), starts_in=14, runs_for=120, per_session=300, travel=15,
    ),
    OfferSpec(
        _RIBBLE_UNI, "careers_talk", RIBBLE_TALK,
        "Our widening participation team explains what university is like, how student finance works and what "
        "degree apprenticeships are, with a current student from the area.\n\n"
        "Suits a class, a year group or a parents' evening.",
        "education", _years(10, 13), starts_in=7, runs_for=120, sessions=6, per_session=90, travel=25,
    ),
    OfferSpec(
        _RIBBLE_UNI, "workplace_visit", "Health simulation suite visit on campus",
        "Pupils try out our hospital ward simulation suite with nursing, midwifery and paramedic lecturers and "
        "students, then have lunch on campus.",
        "health", _years(10, 13), starts_in=21, runs_for=100, sessions=3, per_session=30,
        accessibility="Step-free campus. We can pay travel costs for schools more than ten miles away.",
    ),
    OfferSpec(
        "Northpoint Training", "careers_talk", "Apprenticeships explained: a talk for Years 10 and 11",
        "What an apprenticeship is, how pay and training work, and how to apply, with two of our current "
        "construction apprentices.",
        "construction", (10, 11), starts_in=10, runs_for=100, sessions=4, per_session=60, travel=15,
    ),
)


@dataclass(frozen=True)
class RequestSpec:
    """A demo request from a school; dates are days after the first seed, like an offer's."""

    school: str
    title: str
    wanted_types: tuple[str, ...]
    sectors: tuple[str, ...]  # empty: any sector
    years: tuple[int, ...]
    pupils: int
    starts_in: int
    runs_for: int
    deliveries: tuple[str, ...]
    travel: int | None = None  # how far pupils can go to a workplace
    keep_together: bool = False
    priority: str = PriorityCohort.NONE
    notes: str | None = None
    days_ago: int = 3  # when it was posted


_IN_SCHOOL, _WORKPLACE, _VIRTUAL = Delivery.IN_SCHOOL.value, Delivery.WORKPLACE.value, Delivery.VIRTUAL.value

REQUESTS: tuple[RequestSpec, ...] = (
    # Burnley area
    RequestSpec(  # as "Request this offer" makes it (see MATCHES)
        "Brun Valley High School", f"Request for: {NHS_TALK}", ("careers_talk",), ("health",), (9,), 60,
        starts_in=14, runs_for=31, deliveries=(_IN_SCHOOL,), keep_together=True, days_ago=2,
    ),
    RequestSpec(
        "Calder Bank Community College", "Year 10 engineering visit for pupils at risk of NEET",
        ("workplace_visit", "work_experience"), ("engineering",), (10,), 30, starts_in=14, runs_for=75,
        deliveries=(_WORKPLACE,), travel=10, priority=PriorityCohort.AT_RISK,
        notes="A group who enjoy practical subjects and have had few encounters so far. Two pupils need step-free "
              "access.",
        days_ago=6,
    ),
    RequestSpec(
        "Pendleside High School", "Interview practice, talks or careers fair stands for Year 11",
        ("mock_interviews", "careers_talk", "careers_fair"), (), (11,), 90, starts_in=10, runs_for=60,
        deliveries=(_IN_SCHOOL, _VIRTUAL), priority=PriorityCohort.FURTHEST_FROM_FOUR,
        notes="Our mock exam weeks are best avoided; Wednesday afternoons suit us best.", days_ago=4,
    ),
    RequestSpec(
        "Boulsworth Academy", "Sixth-form work experience in engineering or digital",
        ("work_experience",), ("engineering", "digital"), (12,), 8, starts_in=21, runs_for=100,
        deliveries=(_WORKPLACE,), travel=15,
        notes="Students can travel by bus to Burnley and Padiham; a few drive.", days_ago=9,
    ),
    RequestSpec(
        "Towneley Fields Primary School", "People who help us: a visitor for Years 1 and 2",
        ("careers_talk", "virtual_encounter"), (), (1, 2), 60, starts_in=7, runs_for=60,
        deliveries=(_IN_SCHOOL, _VIRTUAL), notes="Our topic this half-term is People Who Help Us.", days_ago=5,
    ),
    # Preston area
    RequestSpec(
        "Riversway High School", "Year 12 talks on university and degree apprenticeships",
        ("careers_talk", "virtual_encounter"), ("education", "digital"), (12,), 120, starts_in=14, runs_for=60,
        deliveries=(_IN_SCHOOL, _VIRTUAL), days_ago=8,
    ),
    RequestSpec(
        "Deepdale Fields Academy", "CV help and interview practice for Year 11",
        ("mock_interviews",), (), (11,), 45, starts_in=14, runs_for=70, deliveries=(_IN_SCHOOL,),
        priority=PriorityCohort.DISADVANTAGED, notes="Pupils eligible for the pupil premium first.", days_ago=3,
    ),
    RequestSpec(
        "Preston Riverside College", "Health and care placements or visits for Level 3 students",
        ("work_experience", "workplace_visit"), ("health",), (12, 13), 12, starts_in=21, runs_for=90,
        deliveries=(_WORKPLACE,), travel=12,
        notes="Students on the Level 3 health and social care course; all are 16 or over.", days_ago=7,
    ),
)


@dataclass(frozen=True)
class MatchSpec:
    """A proposed match, as a careers lead requesting an offer or a provider offering to meet a request makes it."""

    provider: str
    offer_title: str
    school: str
    request_title: str
    allocation: int
    origin: str
    message: str | None = None
    days_ago: int = 1


MATCHES: tuple[MatchSpec, ...] = (
    MatchSpec(_NHS, NHS_TALK, "Brun Valley High School", f"Request for: {NHS_TALK}", 60, MatchOrigin.SCHOOL_ASKED,
              "Could you come to a Year 9 assembly on a Tuesday morning? Our hall seats 200.", days_ago=2),
    MatchSpec(_PENNINE, PENNINE_VISIT, "Calder Bank Community College",
              "Year 10 engineering visit for pupils at risk of NEET", 20, MatchOrigin.PROVIDER_OFFERED,
              "We can take 20 on one morning and can meet the minibus at the gate. The route round the hall is "
              "step-free.", days_ago=1),
    MatchSpec(_RIBBLE_UNI, RIBBLE_TALK, "Riversway High School",
              "Year 12 talks on university and degree apprenticeships", 90, MatchOrigin.PROVIDER_OFFERED,
              "We could give the talk twice to groups of 45, or once in your hall.", days_ago=3),
)

# Who created what: a provider's or school's own login where the demo has one, else a coordinator of the area
# (coordinators may act on an organisation's behalf).
AREA_COORDINATORS = {"Burnley": f"coordinator.burnley@{DEMO_DOMAIN}", "Preston": f"coordinator.preston@{DEMO_DOMAIN}"}


def _weekday_on_or_after(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _weekday_on_or_before(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def demo_dates(today: date, starts_in: int, runs_for: int) -> tuple[date, date]:
    """From the next weekday `starts_in` days on to the last weekday `runs_for` days after that."""
    starts_on = _weekday_on_or_after(today + timedelta(days=starts_in))
    return starts_on, max(starts_on, _weekday_on_or_before(starts_on + timedelta(days=runs_for)))


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
                urn=spec.urn, phase=spec.phase, names_opt_in=spec.names_opt_in,
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

    def offer(self, spec: OfferSpec, provider: Organisation, by: User | None, today: date) -> Offer:
        offer = db.session.scalar(select(Offer).where(Offer.provider_id == provider.id, Offer.title == spec.title))
        if offer is not None:
            return offer
        kind = catalogue.offer_type(spec.type)
        starts_on, ends_on = demo_dates(today, spec.starts_in, spec.runs_for)
        details = {name: _weekday_on_or_before(today + value) if isinstance(value, timedelta) else value
                   for name, value in spec.details.items()}
        declared = spec.declared
        values = offer_rules.clean_values(kind, {
            "title": spec.title, "description": spec.description, "sector": spec.sector,
            "delivery": spec.delivery or kind.default_delivery.value, "open_to_all_areas": spec.open_to_all_areas,
            "sessions": spec.sessions, "per_session": spec.per_session, "capacity": spec.capacity,
            "starts_on": starts_on, "ends_on": ends_on, "year_groups": list(spec.years),
            "max_travel_miles": spec.travel, "accessibility_notes": spec.accessibility,
            "supervised_throughout": "supervised_throughout" in declared,
            "risk_assessment_done": "risk_assessment_done" in declared,
            "liability_insurance": "liability_insurance" in declared,
            "safeguarding_contact": provider.safeguarding_contact if "safeguarding_contact" in declared else None,
            **details,
        })
        problems = offer_rules.offer_problems(kind, values, today=today,
                                              publishing=spec.status != OfferStatus.DRAFT)
        if problems:
            raise ValueError(f"demo offer {spec.title!r} breaks the offer rules: {problems}")
        years = values.pop("year_groups")
        offer = Offer(provider=provider, area_id=provider.area_id, type=kind.code, status=spec.status, allocated=0,
                      created_by_id=by.id if by else None, **values)
        offer.year_groups = years
        if spec.status != OfferStatus.DRAFT:
            offer.published_at = utcnow()
        self.add(offer)
        return offer

    def request(self, spec: RequestSpec, school: Organisation, by: User | None, today: date) -> SchoolRequest:
        school_request = db.session.scalar(
            select(SchoolRequest).where(SchoolRequest.school_id == school.id, SchoolRequest.title == spec.title)
        )
        if school_request is not None:
            return school_request
        starts_on, ends_on = demo_dates(today, spec.starts_in, spec.runs_for)
        details = request_rules.RequestDetails(
            title=spec.title, wanted_types=list(spec.wanted_types), sectors=list(spec.sectors),
            year_groups=list(spec.years), pupils=spec.pupils, starts_on=starts_on, ends_on=ends_on,
            deliveries=list(spec.deliveries), max_travel_miles=spec.travel, keep_together=spec.keep_together,
            priority=spec.priority, notes=spec.notes,
        )
        problems = request_rules.problems(details, school=school, today=today)
        if problems:
            raise ValueError(f"demo request {spec.title!r} breaks the request rules: {problems}")
        posted = utcnow() - timedelta(days=spec.days_ago)
        school_request = SchoolRequest(
            school=school, area_id=school.area_id, status=RequestStatus.OPEN, created_by_id=by.id if by else None,
            title=spec.title, wanted_types=list(spec.wanted_types), sectors=sorted(spec.sectors),
            deliveries=list(spec.deliveries), pupils=spec.pupils, starts_on=starts_on, ends_on=ends_on,
            max_travel_miles=spec.travel if _WORKPLACE in spec.deliveries else None,
            keep_together=spec.keep_together, priority=spec.priority, notes=spec.notes,
            created_at=posted, updated_at=posted,
        )
        school_request.year_groups = spec.years
        self.add(school_request)
        return school_request

    def match(self, spec: MatchSpec, offer: Offer, school_request: SchoolRequest, by: User | None,
              today: date) -> Match | None:
        """The proposed match, as proposals.request_offer or offer_to_meet would make it (without the mail). None
        when the proposal rules say no: only possible when the demo was seeded on an earlier day and the offer
        or the request was added afresh today."""
        match = db.session.scalar(
            select(Match).where(Match.offer_id == offer.id, Match.request_id == school_request.id)
        )
        if match is not None:
            return match
        if spec.origin == MatchOrigin.SCHOOL_ASKED:
            school = school_request.school
            asked = proposals.OfferRequest(pupils=spec.allocation, year_groups=school_request.year_groups,
                                           starts_on=school_request.starts_on, ends_on=school_request.ends_on,
                                           message=spec.message)
            refused = proposals.why_not_requestable(offer, school, today=today) or proposals.request_problems(
                offer, school, asked, today=today)
            reasons, note = f"Requested directly by {school.name}", "requested by the school"
        else:
            meeting = proposals.MeetingOffer(offer=offer, allocation=spec.allocation, message=spec.message)
            refused = proposals.meeting_problems(school_request, meeting, provider=offer.provider, today=today)
            reasons = (f"Offered by {offer.provider.name} · {catalogue.offer_type(offer.type).label} as wanted · "
                       "year groups and dates fit")
            note = "offered by the provider"
        if refused:
            return None
        proposed_at = utcnow() - timedelta(days=spec.days_ago)
        match = Match(
            offer=offer, request=school_request, area_id=school_request.area_id, allocation=spec.allocation,
            status=MatchStatus.PROPOSED, origin=spec.origin, reasons=reasons, message=spec.message,
            created_by_id=by.id if by else None, created_at=proposed_at, updated_at=proposed_at,
        )
        match.events.append(MatchEvent(actor_id=by.id if by else None, at=proposed_at, from_status=None,
                                       to_status=MatchStatus.PROPOSED, note=note))
        self.add(match)
        return match


def _member(organisation: Organisation, role: Role, users: dict[str, User]) -> User | None:
    """The organisation's first active demo login of this role, if the demo has one."""
    for user in users.values():
        if user.organisation is organisation and user.role == role and user.status == UserStatus.ACTIVE:
            return user
    return None


def _author(organisation: Organisation, role: Role, users: dict[str, User]) -> User | None:
    return _member(organisation, role, users) or users.get(AREA_COORDINATORS[organisation.area.name])


def seed_demo(only_if_empty: bool = False, today: date | None = None) -> bool:
    """Add the demo areas, organisations, users, offers, requests, proposed matches, pupils, the internship
    programme, the levy account and pledge, and the kit request that are missing; True if anything was added. Dates
    of new offers, requests and the rest count from `today` (default: the real today)."""
    if only_if_empty and db.session.scalar(select(Area.id).limit(1)) is not None:
        return False
    today = today or date.today()
    seeder = _Seeder()
    areas = {name: seeder.area(name) for name in AREA_CENTRES}
    organisations: dict[str, Organisation] = {}
    for school in SCHOOLS:
        organisations[school.name] = seeder.school(school, areas[school.area])
    for provider in PROVIDERS:
        organisations[provider.name] = seeder.provider(provider, areas[provider.area])
    users = {user.email: seeder.user(user, organisations, areas) for user in USERS}
    db.session.flush()  # ids and area ids for the natural keys below; still one commit

    offers: dict[tuple[str, str], Offer] = {}
    for spec in OFFERS:
        provider = organisations[spec.provider]
        offers[spec.provider, spec.title] = seeder.offer(spec, provider, _author(provider, Role.PROVIDER, users),
                                                         today)
    requests: dict[tuple[str, str], SchoolRequest] = {}
    for spec in REQUESTS:
        school = organisations[spec.school]
        requests[spec.school, spec.title] = seeder.request(spec, school, _author(school, Role.CAREERS_LEAD, users),
                                                           today)
    db.session.flush()
    for spec in MATCHES:
        offer, school_request = offers[spec.provider, spec.offer_title], requests[spec.school, spec.request_title]
        if spec.origin == MatchOrigin.SCHOOL_ASKED:
            by = _member(school_request.school, Role.CAREERS_LEAD, users)
        else:
            by = _member(offer.provider, Role.PROVIDER, users)
        seeder.match(spec, offer, school_request, by, today)
    db.session.commit()
    pupils_added = seed_pupils(users, today)
    extras_added = [seed_internships(users, today), seed_levy_and_pledge(users, today), seed_kit_request(users)]
    return seeder.created or pupils_added or any(extras_added)


# --- pupils and their encounters ----------------------------------------------------------------------------------
# The schools with a careers lead's demo login get a roster (a pupil for every place in their year sizes, Years 7
# to 13, and a few leavers) and some history: sessions held in the last two academic years and this term, some not
# meaningful, and one session coming up whose register the careers lead fills. Pupils come in through the roster
# import; this year's registers are set and recorded through services/registers.py (counting.py keeps the totals).
# A session of an earlier academic year has its entries added with the year group the pupils were in then (the
# register service checks today's year groups), and is then recorded through registers.record_attendance like any
# other. Brun Valley stores pupils' names; Riversway
# does not (the lead sees references only).

ROSTER_YEARS = (7, 8, 9, 10, 11, 12, 13)  # both schools have a sixth form
FIRST_NAMES = ("Aaliyah", "Ben", "Chloe", "Daniel", "Ella", "Faisal", "Grace", "Harry", "Isla", "Jack", "Keira",
               "Liam", "Maya", "Noah", "Olivia", "Priya", "Quinn", "Ruby", "Sami", "Tyler", "Umar", "Violet",
               "William", "Yasmin", "Zak", "Amelia", "Callum", "Hannah", "Josh", "Sophie", "Kian")
SURNAMES = ("Ahmed", "Barker", "Clegg", "Dawson", "Entwistle", "Fletcher", "Greenhalgh", "Hussain", "Ingham",
            "Jones", "Kay", "Lord", "Mahmood", "Nuttall", "Ormerod", "Pickup", "Rawcliffe", "Shah", "Taylor",
            "Walsh", "Whittaker", "Yousaf", "Ashworth", "Haworth", "Riley", "Smith", "Cowell", "Begum", "Holt")
LEAVERS = ("eet", "eet", "not_known")  # last summer's leavers (from Year 13) and their destinations
ROSTERS = {"Brun Valley High School": "BV", "Riversway High School": "RW"}  # admission number prefixes


@dataclass(frozen=True)
class SessionSpec:
    """A session a demo school had (or will have) with a provider. `years`: the year groups of the pupils then.
    When: `years_back` academic years ago on (month, day), or this term `days_ago` days ago (negative: coming
    up, scheduled with an empty register). `keen`: the pupils with the most contacts go, not the suggestion."""

    school: str
    provider: str
    type: str
    title: str
    sector: str
    years: tuple[int, ...]
    pupils: int
    years_back: int = 0
    on: tuple[int, int] | None = None
    days_ago: int = 0
    meaningful: bool = True
    keen: bool = False
    reflections: str | None = None


_BRUN, _RIVERSWAY = "Brun Valley High School", "Riversway High School"

SESSIONS: tuple[SessionSpec, ...] = (
    SessionSpec(_BRUN, _PENNINE, "careers_talk", "Brun Valley assembly: from apprentice to aerospace engineer",
                "engineering", (8, 9), 40, years_back=2, on=(2, 5)),
    SessionSpec(_BRUN, "Calder Precision Engineering", "enterprise_challenge",
                "Brun Valley enterprise day: design a better bike clamp", "engineering", (8, 9), 30, years_back=1,
                on=(11, 13)),
    SessionSpec(_BRUN, _NHS, "careers_talk", "Brun Valley: careers in the NHS for Years 9 and 10", "health", (9, 10),
                45, years_back=1, on=(3, 11), keen=True),
    SessionSpec(_BRUN, "Towneley Retail Group", "careers_fair", "Brun Valley summer careers fair: retail stand",
                "retail", (9, 10), 50, years_back=1, on=(6, 17), meaningful=False,
                reflections="A busy fair: pupils collected leaflets but there was no time to talk it over afterwards."),
    SessionSpec(_BRUN, _NHS, "careers_talk", "Brun Valley: more than doctors and nurses, Years 10 and 11", "health",
                (10, 11), 40, days_ago=20, keen=True,
                reflections="Pupils asked lots about nursing apprenticeships; follow up in form time."),
    SessionSpec(_BRUN, _HAPTON, "mock_interviews", "Brun Valley practice interviews for apprenticeships",
                "engineering", (10, 11), 25, days_ago=13, keen=True),
    SessionSpec(_BRUN, _PENNINE, "workplace_visit", "Brun Valley visit to the assembly hall", "engineering",
                (9, 10), 20, days_ago=9),
    # A Preston provider's online session, open to schools in every area.
    SessionSpec(_BRUN, _DOCKLANDS, "virtual_encounter", "Brun Valley online question time with a software tester",
                "digital", (10, 11), 30, days_ago=7),
    SessionSpec(_BRUN, "Brunside Digital", "virtual_encounter", "Brun Valley live from the studio: Years 7 and 8",
                "creative", (7, 8), 40, days_ago=5, meaningful=False,
                reflections="The stream dropped twice, so there was no time for reflection."),
    SessionSpec(_BRUN, _PENNINE, "workplace_visit", "Brun Valley visit to the assembly hall: second group",
                "engineering", (9, 10), 20, days_ago=-8),
    SessionSpec(_RIVERSWAY, _RIBBLE_UNI, "careers_talk", "Riversway: is university for me? (Years 9 and 10)",
                "education", (9, 10), 50, years_back=1, on=(1, 21)),
    SessionSpec(_RIVERSWAY, "Preston East Distribution Ltd", "workplace_visit",
                "Riversway visit to a distribution centre", "transport", (10,), 25, years_back=1, on=(3, 4),
                keen=True),
    SessionSpec(_RIVERSWAY, "Flag Market Studio", "virtual_encounter", "Riversway online studio tour",
                "creative", (9, 10), 60, years_back=1, on=(5, 14), meaningful=False),
    SessionSpec(_RIVERSWAY, "Chorley Civil Engineering Ltd", "mock_interviews",
                "Riversway CV clinic and mock interviews", "construction", (11,), 20, days_ago=14,
                keen=True),
    SessionSpec(_RIVERSWAY, _RIBBLE_UNI, "careers_talk", "Riversway: university and degree apprenticeships",
                "education", (10, 11), 45, days_ago=6, keen=True),
    SessionSpec(_RIVERSWAY, "Northway Commercial Vehicles Ltd", "careers_talk",
                "Riversway: careers in commercial vehicles for Year 11", "engineering", (11,), 15, days_ago=3,
                keen=True),
    SessionSpec(_RIVERSWAY, "Fishergate Financial Services", "careers_talk",
                "Riversway: a day in the life of a finance team", "finance", (9, 10), 30, days_ago=-10),
)


def _session_day(spec: SessionSpec, today: date) -> date:
    """A weekday: on (month, day) `years_back` academic years ago, or `days_ago` days ago but within this term (a
    demo seeded early in a term still shows this term's activity), or `-days_ago` days on."""
    if spec.on is not None:
        month, day = spec.on
        start = counting.academic_year_bounds(counting.current_academic_year(today) - spec.years_back)[0]
        return _weekday_on_or_before(date(start.year + (month < 9), month, day))
    if spec.days_ago < 0:
        return _weekday_on_or_after(today - timedelta(days=spec.days_ago))
    term_start = reports.current_term(today)[0]
    day = _weekday_on_or_before(today - timedelta(days=spec.days_ago))
    return day if day >= term_start else min(_weekday_on_or_after(term_start), today)


def _names(n: int) -> str:
    return f"{FIRST_NAMES[n % len(FIRST_NAMES)]} {SURNAMES[(n * 7 + n // len(FIRST_NAMES)) % len(SURNAMES)]}"


def _roster(prefix: str, year_sizes: dict[int, int]) -> list[RosterRow]:
    """A pupil for every place in the school's year sizes, Years 7 to 13, in forms of thirty, and last summer's
    three leavers (still Year 13 on the roster they are marked as left from). Every fourth pupil disadvantaged,
    every ninth SEND, every eleventh at risk of NEET."""
    years = [year for year in ROSTER_YEARS for _ in range(year_sizes[year])] + [ROSTER_YEARS[-1]] * len(LEAVERS)
    rows, place = [], 0
    for n, year in enumerate(years):
        place = place + 1 if n and years[n - 1] == year else 0
        rows.append(RosterRow(line=n + 2, identifier=f"{prefix}{n + 1:05d}", year_group=year,
                              form_group=f"{year}{'ABCDEFGHJK'[min(place // 30, 9)]}", display_name=_names(n),
                              disadvantaged=n % 4 == 1, send=n % 9 == 4, at_risk=n % 11 == 7))
    return rows


def _history_offer(spec: SessionSpec, provider: Organisation, day: date, by: User | None) -> Offer:
    """The provider's offer the session came from, closed: its one session's places all taken."""
    kind = catalogue.offer_type(spec.type)
    offer = Offer(provider=provider, area_id=provider.area_id, type=kind.code, status=OfferStatus.CLOSED,
                  title=spec.title, sector=spec.sector, delivery=kind.default_delivery.value,
                  description=f"A session for {spec.school}.", sessions=1, per_session=spec.pupils,
                  capacity=spec.pupils, allocated=spec.pupils, starts_on=day, ends_on=day,
                  max_travel_miles=15 if kind.default_delivery == Delivery.IN_SCHOOL else None,
                  supervised_throughout=True, risk_assessment_done=True, liability_insurance=True,
                  safeguarding_contact=provider.safeguarding_contact, created_by_id=by.id if by else None,
                  published_at=datetime.combine(day - timedelta(days=42), time(9)))
    offer.year_groups = list(spec.years)
    return offer


def _history_match(spec: SessionSpec, offer: Offer, school: Organisation, starts_at: datetime,
                   lead: User, provider_user: User | None, coordinator: User | None) -> Match:
    """The school's request, and the match between them: approved by the area's coordinator, accepted by both sides
    (the school first) and scheduled; each history row names who did it."""
    kind = catalogue.offer_type(spec.type)
    asked = starts_at - timedelta(days=35)
    school_request = SchoolRequest(
        school=school, area_id=school.area_id, title=f"Request for: {spec.title}", wanted_types=[kind.code],
        sectors=[], deliveries=[kind.default_delivery.value], pupils=spec.pupils,
        starts_on=starts_at.date(), ends_on=starts_at.date(), created_by_id=lead.id,
        status=RequestStatus.FULFILLED if spec.days_ago >= 0 else RequestStatus.MATCHED,
        max_travel_miles=15 if kind.default_delivery == Delivery.WORKPLACE else None,
        created_at=asked, updated_at=asked)
    school_request.year_groups = list(spec.years)
    virtual = kind.default_delivery == Delivery.VIRTUAL
    match = Match(
        offer=offer, request=school_request, area_id=school.area_id, allocation=spec.pupils,
        status=MatchStatus.SCHEDULED, origin=MatchOrigin.SCHOOL_ASKED, reasons=f"Requested directly by {school.name}",
        created_by_id=lead.id, created_at=asked, updated_at=asked,
        provider_accepted_at=asked + timedelta(days=3), school_accepted_at=asked + timedelta(days=2),
        session_starts_at=starts_at, session_minutes=60,
        session_place=None if virtual else ("Main hall" if kind.default_delivery == Delivery.IN_SCHOOL
                                            else f"{offer.provider.name}, {offer.provider.town}"),
        session_link="https://meet.example/encounters-demo" if virtual else None,
        session_contact=f"{lead.name}, careers lead",
    )
    for days, by, before, after, note in (
            (0, lead, None, MatchStatus.PROPOSED, "requested by the school"),
            (1, coordinator, MatchStatus.PROPOSED, MatchStatus.APPROVED, None),
            (2, lead, MatchStatus.APPROVED, MatchStatus.APPROVED, "accepted by the school"),
            (3, provider_user, MatchStatus.APPROVED, MatchStatus.APPROVED, "accepted by the provider"),
            (3, provider_user, MatchStatus.APPROVED, MatchStatus.CONFIRMED, "both sides accepted"),
            (4, lead, MatchStatus.CONFIRMED, MatchStatus.SCHEDULED, None)):
        match.events.append(MatchEvent(actor_id=by.id if by else None, at=asked + timedelta(days=days),
                                       from_status=before, to_status=after, note=note))
    return match


def _eligible_then(school: Organisation, spec: SessionSpec) -> list[Pupil]:
    """The on-roll pupils who were in the session's year groups then, in who-to-send order."""
    years = [year + spec.years_back for year in spec.years]
    return list(db.session.scalars(
        select(Pupil).where(Pupil.school_id == school.id, Pupil.status == PupilStatus.ON_ROLL,
                            Pupil.year_group.in_(years)).order_by(*counting.who_to_send_order())))


def _hold_session(spec: SessionSpec, school: Organisation, lead: User, provider_user: User | None,
                  coordinator: User | None, today: date) -> bool:
    """Add one session and (unless it is still to come) its register and attendance. False if already there."""
    provider = db.session.scalar(
        select(Organisation).where(Organisation.kind == OrgKind.PROVIDER, Organisation.name == spec.provider))
    if db.session.scalar(select(Offer.id).where(Offer.provider_id == provider.id, Offer.title == spec.title)):
        return False
    day = _session_day(spec, today)
    starts_at = datetime.combine(day, time(10))
    offer = _history_offer(spec, provider, day, provider_user)
    match = _history_match(spec, offer, school, starts_at, lead, provider_user, coordinator)
    db.session.add(match)
    db.session.commit()
    if spec.days_ago < 0:  # coming up: the careers lead chooses who goes
        return True
    if spec.years_back == 0:
        chosen = registers.suggest(match) if not spec.keen else registers.candidates(match)[::-1][:spec.pupils]
        registers.set_register(match, [p.id for p in chosen], by=lead)
    else:
        eligible = _eligible_then(school, spec)
        chosen = eligible[::-1][:spec.pupils] if spec.keen else eligible[:spec.pupils]
        for pupil in chosen:
            db.session.add(RegisterEntry(match_id=match.id, pupil_id=pupil.id, school_id=school.id,
                                         provider_id=provider.id, year_group=pupil.year_group - spec.years_back,
                                         added_by_id=lead.id))
        db.session.commit()
    attended = [p.id for n, p in enumerate(chosen) if n % 8 != 5]  # one in eight missed it
    checklist = registers.Checklist(purpose_shared=True, learning_outcomes=True, two_way=True,
                                    time_to_reflect=spec.meaningful)
    registers.record_attendance(match, attended, checklist, spec.reflections, by=lead,
                                now=starts_at + timedelta(hours=3))
    if provider_user is not None:
        registers.confirm_delivery(match, by=provider_user, now=starts_at + timedelta(hours=4))
    return True


def seed_pupils(users: dict[str, User], today: date) -> bool:
    """Rosters, leavers and sessions for the demo schools with a careers lead's login; True if anything was added.
    A school's roster is imported only while it has no pupils; a session is keyed by its offer's title."""
    created = False
    for school_name, prefix in ROSTERS.items():
        school = db.session.scalar(select(Organisation).where(Organisation.name == school_name,
                                                              Organisation.kind == OrgKind.SCHOOL))
        lead = _member(school, Role.CAREERS_LEAD, users)
        if db.session.scalar(select(Pupil.id).where(Pupil.school_id == school.id).limit(1)) is None:
            rows = _roster(prefix, next(spec.year_sizes for spec in SCHOOLS if spec.name == school_name))
            pupil_service.import_roster(school, rows, full_roster=True, by=lead, today=today)
            left_on = date(counting.current_academic_year(today), 7, 22)  # at the end of last summer term
            chosen = {}
            for row, destination in zip(rows[-len(LEAVERS):], LEAVERS, strict=True):
                pupil = db.session.scalar(select(Pupil).where(
                    Pupil.school_id == school.id,
                    Pupil.identifier_hash == pupil_service.identifier_hash(school.id, row.identifier)))
                pupil_service.mark_left(pupil, by=lead, today=left_on)
                chosen[pupil.id] = destination
            destinations.record_destinations(school, chosen, by=lead)
            created = True
        for spec in SESSIONS:
            if spec.school == school_name:
                provider = db.session.scalar(select(Organisation).where(Organisation.name == spec.provider))
                created |= _hold_session(spec, school, lead, _member(provider, Role.PROVIDER, users),
                                         users.get(AREA_COORDINATORS[school.area.name]), today)
    return created


# --- the NEET internship programme, a levy account and its pledge, a primary kit ------------------------------------
# Added through their services (internships, levy, pledges, kits), as the coordinator, the providers and the careers
# lead would through the portal, so every rule those use cases check holds (and their audit entries and mail are
# there too). Each is keyed by a natural key and skipped whole when it is already there, so a later seed adds
# nothing and moves no dates.

INTERNSHIP_AREA = "Burnley"
INTERNSHIP_PROGRAMME = "Burnley NEET internships: first cohort"


@dataclass(frozen=True)
class InternSpec:
    """An intern, held to the least data: no name (the coordinator knows who each reference is), an age band, the
    town they travel from and how far, months NEET and the sectors they are interested in."""

    age_band: str
    town: str
    max_travel_miles: int
    neet_months: int
    sectors: tuple[str, ...] = ()


INTERN_SPECS: tuple[InternSpec, ...] = (
    InternSpec("16-17", "Burnley", 8, 4, ("engineering",)),
    InternSpec("18-19", "Padiham", 10, 11, ("digital", "retail")),
    InternSpec("18-19", "Nelson", 10, 7, ("construction",)),
    InternSpec("20-24", "Colne", 12, 19, ("health",)),
    InternSpec("16-17", "Brierfield", 10, 3),
    InternSpec("20-24", "Burnley", 8, 26, ("engineering", "construction")),
)

LEVY_PLEDGER = _PENNINE
# (months before the month of the first seed, pence entered in the levy account then). The two oldest expire four
# and five months after it (funds expire 24 months after they enter), so the levy-funded place's "funds expire in
# about four months" is what the account and the coordinators' levy at risk show too; the spend takes the oldest.
LEVY_ENTRIES = ((20, _pence(10_200)), (19, _pence(10_380)), (6, _pence(10_450)), (5, _pence(10_120)),
                (4, _pence(9_880)), (3, _pence(10_610)), (2, _pence(10_300)), (1, _pence(10_040)))
LEVY_SPEND = (2, _pence(4_800), "Training for two engineering technician apprentices, Calder Valley College")
PLEDGE_TITLE = "Levy transfer for engineering and digital apprenticeships in Lancashire"
PLEDGE_APPLICANT = _DOCKLANDS
KIT_SCHOOL = "Millbrook Primary School"
KIT_PROVIDER = "Chorley Civil Engineering Ltd"
KIT_CLASS = "Hedgehog class"


def _monday_on_or_after(day: date) -> date:
    return day + timedelta(days=-day.weekday() % 7)


def seed_internships(users: dict[str, User], today: date) -> bool:
    """The Burnley programme: its weeks two weeks on, the interns, and the rota run by the engine and approved (so
    the coordinator sees a full rota and each provider the interns coming, by reference). True if anything was
    added; a programme already there is left as it is (the coordinator may have moved on since)."""
    area = db.session.scalar(select(Area).where(Area.name == INTERNSHIP_AREA))
    if db.session.scalar(select(InternshipProgramme.id).where(InternshipProgramme.area_id == area.id,
                                                              InternshipProgramme.name == INTERNSHIP_PROGRAMME)):
        return False
    coordinator = users[AREA_COORDINATORS[INTERNSHIP_AREA]]
    week1 = _monday_on_or_after(today + timedelta(days=14))
    weeks = {name: week1 + timedelta(weeks=n) for n, name in enumerate(internships.WEEK_FIELDS)}
    programme = internships.create_programme(area.id, {
        "name": INTERNSHIP_PROGRAMME, "coaching_on": week1 - timedelta(days=3), **weeks,
        "final_coaching_on": week1 + timedelta(weeks=4)}, by=coordinator)
    for spec in INTERN_SPECS:
        place = locate(spec.town, INTERNSHIP_AREA)
        internships.add_intern(programme, {
            "display_name": None, "age_band": spec.age_band, "town": place.name, "latitude": place.latitude,
            "longitude": place.longitude, "max_travel_miles": spec.max_travel_miles,
            "neet_months": spec.neet_months, "sectors": list(spec.sectors)}, by=coordinator)
    internships.run_rota(programme, by=coordinator)
    internships.approve_rota(programme, by=coordinator)
    return True


def seed_levy_and_pledge(users: dict[str, User], today: date) -> bool:
    """Pennine Aerostructures' levy account (six monthly entries and a spend), its open pledge, and Docklands
    Digital's application to it, waiting for Pennine's decision. True if anything was added."""
    pledger = db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.PROVIDER,
                                                           Organisation.name == LEVY_PLEDGER))
    pledger_user = _member(pledger, Role.PROVIDER, users)
    created = False
    if db.session.scalar(select(LevyEntry.id).where(LevyEntry.provider_id == pledger.id).limit(1)) is None:
        this_month = levy.first_of_month(today)
        for months_back, amount in LEVY_ENTRIES:
            levy.record_entry(pledger, month=add_months(this_month, -months_back), amount_pence=amount,
                              replace=False, by=pledger_user, today=today)
        months_back, amount, note = LEVY_SPEND
        levy.record_spend(pledger, month=add_months(this_month, -months_back), amount_pence=amount, note=note,
                          by=pledger_user, today=today)
        created = True
    pledge = db.session.scalar(select(Pledge).where(Pledge.provider_id == pledger.id, Pledge.title == PLEDGE_TITLE))
    if pledge is None:
        pledge = pledges.create_pledge(pledges.PledgeDetails(
            title=PLEDGE_TITLE, amount_pence=_pence(20_000),
            description="We will pay the apprenticeship training of smaller engineering and digital employers "
                        "near us, at levels 3 and 4. Tell us about the apprentice you want to take on.",
            max_distance_miles=30, sectors=["digital", "engineering"], levels=[3, 4], auto_approve=False,
        ), by=pledger_user, today=today)
        created = True
    applicant = db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.PROVIDER,
                                                             Organisation.name == PLEDGE_APPLICANT))
    if db.session.scalar(select(PledgeApplication.id).where(PledgeApplication.pledge_id == pledge.id,
                                                            PledgeApplication.applicant_id == applicant.id)) is None:
        pledges.apply(pledge, pledges.ApplicationDetails(
            standard="Software developer", level=4, apprentices=1, amount_pence=_pence(9_000),
            starts_on=_weekday_on_or_after(today + timedelta(days=60)), town="Preston",
            message="Our first apprentice: a Year 13 leaver from Preston who has done work experience with us."),
            by=_member(applicant, Role.PROVIDER, users))
        created = True
    return created


def seed_kit_request(users: dict[str, User]) -> bool:
    """Millbrook Primary's careers lead asks for the 'When I Grow Up' kit for a Year 1 class (one kit taken from
    the stock). True if it was added."""
    school = db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.SCHOOL,
                                                          Organisation.name == KIT_SCHOOL))
    provider = db.session.scalar(select(Organisation).where(Organisation.kind == OrgKind.PROVIDER,
                                                            Organisation.name == KIT_PROVIDER))
    offer = db.session.scalar(select(Offer).where(Offer.provider_id == provider.id, Offer.title == WHEN_I_GROW_UP))
    if db.session.scalar(select(KitRequest.id).where(KitRequest.school_id == school.id,
                                                     KitRequest.offer_id == offer.id)):
        return False
    kits.request_kit(offer, kits.KitOrder(KIT_CLASS, 1, 29, "Our topic after half-term is People Who Help Us."),
                     by=_member(school, Role.CAREERS_LEAD, users))
    return True
