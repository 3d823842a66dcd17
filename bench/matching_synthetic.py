"""Synthetic matching instances: a region (5 areas around Lancashire) and England in one batch.

Plain engine dataclasses, no database: the engine's own time is what bench/matching.py measures. One seeded
random generator per instance, so every run builds the same instance.
"""
import random
from datetime import date, timedelta

from portal.catalogue import OFFER_TYPES, SECONDARY_PHASES, Delivery, Unit
from portal.matching import (
    Held,
    History,
    Instance,
    OfferInput,
    RequestInput,
    SchoolInput,
    YearFigures,
)
from portal.vocab import PHASE_YEARS, SECTORS

SEED = 20240905
TODAY = date(2025, 1, 15)  # fixed, so waiting days and past dates are the same on every run

REGION_AREAS = [
    ("Burnley", 53.789, -2.248),
    ("Preston", 53.763, -2.703),
    ("Blackburn", 53.748, -2.482),
    ("Lancaster", 54.047, -2.801),
    ("Blackpool", 53.817, -3.036),
]
# Types secondary schools and colleges can ask for (not primary kits, not internship weeks).
TYPES = [code for code, kind in OFFER_TYPES.items() if kind.phases & SECONDARY_PHASES]
SECTOR_CODES = list(SECTORS)
DELIVERIES = [str(d) for d in Delivery]


def _jitter(rng: random.Random, latitude: float, longitude: float, spread_miles: float) -> tuple[float, float]:
    return (round(latitude + rng.gauss(0, spread_miles / 2 / 69.0), 5),
            round(longitude + rng.gauss(0, spread_miles / 2 / 41.0), 5))


def _england_areas(rng: random.Random, count: int) -> list[tuple[str, float, float]]:
    """Area centres scattered over England's rough extent (Cornwall to Northumberland)."""
    areas = []
    while len(areas) < count:
        latitude, longitude = rng.uniform(50.2, 55.6), rng.uniform(-5.3, 1.6)
        # a crude coastline: the south-west peninsula is narrow, the north is narrow, East Anglia juts out
        if (latitude < 51.2 and longitude < -3.0 and latitude > 50.2 + (longitude + 5.3) * 0.2) or (
                latitude > 54.5 and not -3.3 < longitude < -1.3) or (longitude > 0.5 and not 51.7 < latitude < 53.0):
            continue
        areas.append((f"Area {len(areas) + 1}", round(latitude, 4), round(longitude, 4)))
    return areas


def build(*, areas: list[tuple[str, float, float]], schools: int, providers: int, offers: int, requests: int,
          seed: int = SEED, label: str = "") -> Instance:
    rng = random.Random(seed)
    n_areas = len(areas)

    provider_rows = []
    for n in range(providers):
        area = n % n_areas
        _, lat, lon = areas[area]
        latitude, longitude = _jitter(rng, lat, lon, 12)
        located = rng.random() >= 0.02  # a few providers gave no location
        provider_rows.append((n + 1, area + 1, latitude if located else None, longitude if located else None))

    school_rows, school_phase = [], {}
    for n in range(schools):
        area = n % n_areas
        _, lat, lon = areas[area]
        latitude, longitude = _jitter(rng, lat, lon, 8)
        phase = "college" if n % 6 == 5 else "secondary"
        years = []
        for year in PHASE_YEARS[phase]:
            pupils = rng.randint(120, 260) if phase == "secondary" else rng.randint(300, 900)
            below = round(pupils * rng.uniform(0.15, 0.95))
            years.append(YearFigures(year, pupils, below, round(pupils * rng.uniform(0.0, 0.18))))
        sid = 100_000 + n + 1
        school_phase[sid] = (phase, area + 1)
        school_rows.append(SchoolInput(sid, latitude, longitude, tuple(years) if rng.random() > 0.05 else ()))

    offer_rows = []
    for n in range(offers):
        pid, area, latitude, longitude = provider_rows[rng.randrange(providers)]
        code = rng.choice(TYPES)
        kind = OFFER_TYPES[code]
        years = sorted({y for phase in kind.phases & SECONDARY_PHASES for y in PHASE_YEARS[phase]})
        chosen = rng.sample(years, k=min(len(years), rng.randint(1, 4)))
        delivery = str(kind.default_delivery) if rng.random() < 0.8 else rng.choice(DELIVERIES)
        if kind.unit == Unit.PUPILS:
            sessions, per_session = rng.randint(1, 6), rng.choice([5, 10, 15, 30, 30, 60])
            capacity = sessions * per_session
        else:
            sessions, per_session = 1, 1
            capacity = rng.randint(1, 10)
        starts = TODAY + timedelta(days=rng.randint(-30, 150))
        offer_rows.append(OfferInput(
            id=n + 1, provider_id=pid, area_id=area, type=code, sector=rng.choice(SECTOR_CODES), delivery=delivery,
            capacity=capacity, allocated=rng.randint(0, capacity) if rng.random() < 0.3 else 0,
            unit=str(kind.unit), per_session=per_session, starts_on=starts,
            ends_on=starts + timedelta(days=rng.randint(7, 180)), year_mask=sum(1 << y for y in chosen),
            latitude=latitude, longitude=longitude,
            max_travel_miles=None if rng.random() < 0.1 else rng.choice([5, 10, 20, 30]),
            open_to_all_areas=delivery == "virtual" and rng.random() < 0.3,
        ))

    school_ids = [s.id for s in school_rows]
    request_rows, held = [], []
    for n in range(requests):
        sid = rng.choice(school_ids)
        phase, area = school_phase[sid]
        wanted = rng.sample(TYPES, k=1 if rng.random() < 0.7 else rng.randint(2, 3))
        years = PHASE_YEARS[phase]
        first = rng.randrange(len(years))
        span = 1 if rng.random() < 0.7 else 2
        year_mask = sum(1 << y for y in years[first:first + span])
        units = {OFFER_TYPES[t].unit for t in wanted}
        pupils = rng.randint(1, 4) if units == {Unit.PLACES} else rng.choice([10, 15, 20, 25, 30, 30, 60])
        deliveries = {str(OFFER_TYPES[t].default_delivery) for t in wanted}
        if rng.random() < 0.4:
            deliveries.add(rng.choice(DELIVERIES))
        starts = TODAY + timedelta(days=rng.randint(-10, 120))
        rid = n + 1
        held_units = rng.randint(1, pupils - 1) if pupils > 1 and rng.random() < 0.1 else 0
        request_rows.append(RequestInput(
            id=rid, school_id=sid, area_id=area, wanted_types=tuple(sorted(wanted)),
            sectors=() if rng.random() < 0.5 else tuple(sorted(rng.sample(SECTOR_CODES, k=rng.randint(1, 3)))),
            year_mask=year_mask, pupils=pupils, held=held_units, starts_on=starts,
            ends_on=starts + timedelta(days=rng.randint(14, 90)), deliveries=tuple(sorted(deliveries)),
            created_on=TODAY - timedelta(days=rng.randint(0, 90)),
            max_travel_miles=rng.choice([None, 5, 10, 15, 20]), keep_together=rng.random() < 0.2,
        ))

    history = []
    for sid in school_ids:
        for pid in rng.sample(range(1, providers + 1), k=min(providers, 5)):
            history.append(History(sid, pid, rng.randint(1, 3)))
    for _ in range(len(offer_rows) // 20):
        offer = offer_rows[rng.randrange(len(offer_rows))]
        held.append(Held(rng.choice(school_ids), offer.id, rng.randint(1, 10)))

    return Instance(
        today=TODAY, offers=tuple(offer_rows), requests=tuple(request_rows), schools=tuple(school_rows),
        history=tuple(history), held=tuple(held), label=label,
        sector_labels=dict(SECTORS), type_labels={code: kind.label for code, kind in OFFER_TYPES.items()},
    )


def region(seed: int = SEED) -> Instance:
    """About 85 secondary schools and colleges, 2,000 providers, 10,000 offers and 20,000 requests in 5 areas."""
    return build(areas=REGION_AREAS, schools=85, providers=2000, offers=10_000, requests=20_000, seed=seed,
                 label="synthetic region: 5 areas around Lancashire")


def england(seed: int = SEED) -> Instance:
    """England in one batch: 150 areas, 3,500 schools and colleges, 16,000 providers, 40,000 offers, 100,000
    requests."""
    rng = random.Random(seed)
    return build(areas=_england_areas(rng, 150), schools=3500, providers=16_000, offers=40_000, requests=100_000,
                 seed=seed + 1, label="synthetic England: 150 areas")
