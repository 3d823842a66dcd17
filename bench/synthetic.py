"""A region-sized synthetic catalogue: five areas around Lancashire, their providers, schools and published offers.

Deterministic (one seeded random generator), and written with bulk inserts (one executemany per table, ids
given here), so 10,000 offers take a second or two rather than a minute of ORM objects.
"""
import random
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import insert

from portal.catalogue import OFFER_TYPES, PRIMARY_PHASES, Delivery
from portal.extensions import db
from portal.models import Area, Offer, Organisation, OrganisationSector, User, utcnow
from portal.models.year_groups import to_mask
from portal.vocab import PHASE_YEARS, SECTORS

SEED = 20240905

# (name, latitude, longitude) of each area's centre.
AREAS = [
    ("Burnley", 53.789, -2.248),
    ("Preston", 53.763, -2.703),
    ("Blackburn", 53.748, -2.482),
    ("Lancaster", 54.047, -2.801),
    ("Blackpool", 53.817, -3.036),
]
TOWNS = {
    "Burnley": ["Burnley", "Padiham", "Nelson", "Colne", "Brierfield"],
    "Preston": ["Preston", "Fulwood", "Penwortham", "Longridge", "Leyland"],
    "Blackburn": ["Blackburn", "Darwen", "Accrington", "Great Harwood", "Clitheroe"],
    "Lancaster": ["Lancaster", "Morecambe", "Carnforth", "Heysham", "Garstang"],
    "Blackpool": ["Blackpool", "Fleetwood", "Lytham St Annes", "Poulton-le-Fylde", "Thornton"],
}
WORDS = ["engineering", "robotics", "nursing", "software", "construction", "design", "finance", "logistics",
         "hospitality", "retail", "farming", "energy", "aerospace", "media", "law", "science", "apprentice"]
SCHOOL_TYPE_CODES = [code for code, kind in OFFER_TYPES.items() if kind.phases]

PASSWORD_HASH = "scrypt:32768:8:1$bench$not-a-real-hash"
LEAD_EMAIL = "lead@bench.example"


@dataclass(frozen=True)
class Catalogue:
    areas: int
    providers: int
    schools: int
    offers: int
    lead_id: int
    school_id: int


def _jitter(rng: random.Random, latitude: float, longitude: float, spread_miles: float) -> tuple[float, float]:
    """A point roughly within `spread_miles` of a centre (normal, so most are close)."""
    return (round(latitude + rng.gauss(0, spread_miles / 2 / 69.0), 5),
            round(longitude + rng.gauss(0, spread_miles / 2 / 41.0), 5))


def build(*, providers: int = 2000, offers: int = 10_000, schools: int = 85, seed: int = SEED,
          today: date | None = None) -> Catalogue:
    """Fill an empty database (schema already created) with the catalogue; commits once."""
    rng = random.Random(seed)
    today = today or date.today()
    now = utcnow()
    session = db.session

    session.execute(insert(Area), [{"id": i + 1, "name": name} for i, (name, _, _) in enumerate(AREAS)])

    provider_rows, sector_rows = [], []
    for n in range(providers):
        area_index = n % len(AREAS)
        name, lat, lon = AREAS[area_index]
        latitude, longitude = _jitter(rng, lat, lon, 12)
        if rng.random() < 0.02:  # a few providers gave no location
            latitude = longitude = None
        provider_rows.append({
            "id": n + 1, "kind": "provider", "name": f"{rng.choice(WORDS).title()} {name} Ltd {n + 1}",
            "area_id": area_index + 1, "status": "verified", "town": rng.choice(TOWNS[name]),
            "latitude": latitude, "longitude": longitude, "provider_kind": "employer",
            "size_band": rng.choice(["micro", "small", "medium", "large"]),
        })
        sector_rows.append({"organisation_id": n + 1, "sector": rng.choice(list(SECTORS))})
    session.execute(insert(Organisation), provider_rows)
    session.execute(insert(OrganisationSector), sector_rows)

    school_rows = []
    for n in range(schools):
        area_index = n % len(AREAS)
        name, lat, lon = AREAS[area_index]
        latitude, longitude = _jitter(rng, lat, lon, 8)
        school_rows.append({
            "id": providers + n + 1, "kind": "school", "name": f"{rng.choice(TOWNS[name])} School {n + 1}",
            "area_id": area_index + 1, "status": "verified", "town": name, "latitude": latitude,
            "longitude": longitude, "urn": f"{500000 + n:06d}", "phase": "primary" if n % 4 == 3 else "secondary",
        })
    session.execute(insert(Organisation), school_rows)

    offer_rows = []
    for n in range(offers):
        provider = provider_rows[rng.randrange(providers)]
        code = rng.choice(SCHOOL_TYPE_CODES)
        kind = OFFER_TYPES[code]
        years = sorted({year for phase in kind.phases for year in PHASE_YEARS[phase]}
                       if not kind.phases <= PRIMARY_PHASES else set(range(0, 7)))
        chosen = sorted(rng.sample(years, k=min(len(years), rng.randint(1, 4))))
        delivery = kind.default_delivery if rng.random() < 0.8 else rng.choice(list(Delivery))
        sessions, per_session = rng.randint(1, 6), rng.choice([1, 5, 10, 15, 30, 60])
        capacity = sessions * per_session
        starts = today + timedelta(days=rng.randint(-30, 150))
        word = rng.choice(WORDS)
        offer_rows.append({
            "id": n + 1, "provider_id": provider["id"], "area_id": provider["area_id"], "type": code,
            "title": f"{kind.label}: {word} with {provider['name']}",
            "description": f"A {word} encounter. Pupils meet people who work in {rng.choice(WORDS)} "
                           f"and {rng.choice(WORDS)}; questions welcome.",
            "sector": rng.choice(list(SECTORS)), "delivery": str(delivery), "status": "published",
            "open_to_all_areas": delivery == Delivery.VIRTUAL and rng.random() < 0.5,
            "sessions": sessions, "per_session": per_session, "capacity": capacity,
            "allocated": rng.randint(0, capacity) if rng.random() < 0.3 else 0,
            "starts_on": starts, "ends_on": starts + timedelta(days=rng.randint(7, 180)),
            "year_mask": to_mask(chosen), "max_travel_miles": rng.choice([5, 10, 20, 30]),
            "supervised_throughout": True, "risk_assessment_done": True, "liability_insurance": True,
            "safeguarding_contact": "Safeguarding lead", "virtual_link_note": "Emailed after confirmation",
            "placement_days": 5, "mentoring_sessions": 6, "kit_stock": 20,
            "published_at": now - timedelta(days=rng.randint(0, 60)),
        })
    session.execute(insert(Offer), offer_rows)

    school = school_rows[0]  # a Burnley secondary
    lead_id = 1
    session.execute(insert(User), [{
        "id": lead_id, "email": LEAD_EMAIL, "name": "Bench Lead", "password_hash": PASSWORD_HASH,
        "role": "careers_lead", "status": "active", "organisation_id": school["id"], "email_confirmed_at": now,
    }])
    session.commit()
    return Catalogue(areas=len(AREAS), providers=providers, schools=schools, offers=offers, lead_id=lead_id,
                     school_id=school["id"])
