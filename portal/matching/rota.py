"""The NEET internship rota: four one-week placements per intern at four different providers, solved exactly.

Pure: dataclasses in, dataclasses out (no Flask, no models), like portal.matching.engine. The service
(portal/services/internships.py) builds the input from the database and stores the result.

The model (OR-Tools CP-SAT), one boolean x[i, o, w] per intern i, offer o and week w where the offer is open
in week w (capacity left) and its workplace is within the intern's travel limit:

    each intern, each week:          Σ_o x[i, o, w] ≤ 1           (one placement a week)
    each intern, each provider:      Σ_{o of p, w} x[i, o, w] ≤ 1  (never the same provider twice)
    each offer, each week:           Σ_i x[i, o, w] ≤ interns per week left
    full[i] ≤ Σ_o x[i, o, w] for each week w                       (full[i]: all four weeks placed)

Only the intern's travel limit applies: interns travel to the workplace, so an offer's "how far we travel"
(max_travel_miles, meant for in-school visits) says nothing here. An intern without a limit may go any
distance; an intern or workplace without a location can be placed nowhere (there is no distance to check).

The objective is lexicographic, made exact by weights (each level outweighs everything below it):
    1. the number of interns with all four weeks placed,
    2. then the number of placements,
    3. then fit: Σ fit_points(intern, offer) — sector interest, closeness, and how long the intern has been
       NEET (longer NEET first: their placements are worth more when places are short).
Deterministic: one worker, fixed seed; a time limit, with the status reported if not proven optimal. With
linearization level 2 (the LP relaxation at every node) 120 interns × 150 offers solve to a proven optimum in
seconds on one core; without it, minutes.
"""
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

WEEKS = (1, 2, 3, 4)
EARTH_RADIUS_MILES = 3958.8

# Fit points of one placement (whole numbers, so the optimum is exact).
SECTOR_MATCH, SECTOR_ANY, SECTOR_OTHER = 40, 20, 0
CLOSENESS_MAX = 30  # at the intern's door; 0 at the edge of their travel limit
UNLIMITED_REFERENCE_MILES = 50  # closeness is measured against this when the intern gave no limit
NEET_MAX = 24  # one point a month NEET, up to two years
FIT_MAX = SECTOR_MATCH + CLOSENESS_MAX + NEET_MAX
TIME_LIMIT_SECONDS = 60.0
LINEARIZATION = 2


@dataclass(frozen=True)
class RotaIntern:
    id: int
    reference: str
    latitude: float | None
    longitude: float | None
    max_travel_miles: int | None  # None: no limit given
    neet_months: int = 0
    sectors: frozenset[str] = frozenset()  # empty: any sector


@dataclass(frozen=True)
class RotaOffer:
    id: int
    provider_id: int
    provider_name: str
    sector: str
    latitude: float | None  # the workplace (the provider's location)
    longitude: float | None
    capacity: Mapping[int, int] = field(default_factory=dict)  # week_no -> interns it can still take that week


@dataclass(frozen=True)
class RotaPlacement:
    intern_id: int
    week_no: int
    offer_id: int
    provider_id: int
    miles: float
    score: int
    reasons: str


@dataclass(frozen=True)
class Shortfall:
    """An intern placed in fewer than four weeks, and why."""

    intern_id: int
    reference: str
    weeks_placed: int
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RotaResult:
    placements: tuple[RotaPlacement, ...]
    shortfalls: tuple[Shortfall, ...]
    status: str  # "OPTIMAL", "FEASIBLE" (time limit reached: the best found), or another CP-SAT status
    interns: int
    full: int  # interns with all four weeks placed
    fit: int

    @property
    def optimal(self) -> bool:
        return self.status == "OPTIMAL"

    @property
    def key(self) -> tuple[int, int, int]:
        """The lexicographic objective: (interns fully placed, placements, fit)."""
        return (self.full, len(self.placements), self.fit)

    def report(self) -> str:
        """Plain text for the coordinator: totals, then every intern not fully placed and why."""
        lines = [f"{self.full} of {self.interns} interns have all four weeks placed; "
                 f"{len(self.placements)} placements in all."]
        if not self.optimal:
            lines.append(f"The solver stopped before proving this the best rota (status: {self.status}).")
        if not self.shortfalls:
            lines.append("Every intern is fully placed.")
        for short in self.shortfalls:
            lines.append(f"{short.reference}: {short.weeks_placed} of 4 weeks placed. " + " ".join(short.reasons))
        return "\n".join(lines)


class RotaError(ValueError):
    """The input breaks the engine's assumptions (duplicate ids, bad weeks or capacities)."""


# --- the pieces the objective is made of ------------------------------------------------------------

def miles_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle miles (haversine), as portal.geo.miles_between."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlam = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(a)))


def distance(intern: RotaIntern, offer: RotaOffer) -> float | None:
    """Miles from the intern's town to the workplace; None when either has no location."""
    if None in (intern.latitude, intern.longitude, offer.latitude, offer.longitude):
        return None
    return miles_between(intern.latitude, intern.longitude, offer.latitude, offer.longitude)


def within_reach(intern: RotaIntern, offer: RotaOffer) -> bool:
    """The workplace is within the intern's travel limit (the offer's own limit does not apply)."""
    miles = distance(intern, offer)
    if miles is None:
        return False
    return intern.max_travel_miles is None or miles <= intern.max_travel_miles


def fit_points(intern: RotaIntern, offer: RotaOffer) -> int:
    """One placement's fit: sector interest, closeness within the travel limit, months NEET."""
    sector = SECTOR_OTHER
    if not intern.sectors:
        sector = SECTOR_ANY
    elif offer.sector in intern.sectors:
        sector = SECTOR_MATCH
    miles = distance(intern, offer) or 0.0
    limit = intern.max_travel_miles if intern.max_travel_miles is not None else UNLIMITED_REFERENCE_MILES
    closeness = CLOSENESS_MAX if limit <= 0 else round(CLOSENESS_MAX * max(0.0, 1 - miles / limit))
    return sector + closeness + min(max(intern.neet_months, 0), NEET_MAX)


def fit_reasons(intern: RotaIntern, offer: RotaOffer) -> str:
    miles = distance(intern, offer) or 0.0
    parts = []
    if not intern.sectors:
        parts.append(f"any sector ({offer.sector})")
    elif offer.sector in intern.sectors:
        parts.append(f"sector of interest ({offer.sector})")
    else:
        parts.append(f"not a sector of interest ({offer.sector}), the best left")
    limit = f" of {intern.max_travel_miles}" if intern.max_travel_miles is not None else ""
    parts.append(f"{miles:.1f} miles{limit}")
    if intern.neet_months:
        parts.append(f"NEET {intern.neet_months} month{'' if intern.neet_months == 1 else 's'}")
    return "; ".join(parts)


def open_weeks(offer: RotaOffer) -> list[int]:
    return [w for w in WEEKS if offer.capacity.get(w, 0) > 0]


def _check(interns: list[RotaIntern], offers: list[RotaOffer]) -> None:
    if len({i.id for i in interns}) != len(interns):
        raise RotaError("Intern ids must be unique.")
    if len({o.id for o in offers}) != len(offers):
        raise RotaError("Offer ids must be unique.")
    for offer in offers:
        for week, count in offer.capacity.items():
            if week not in WEEKS or count < 0:
                raise RotaError(f"Offer {offer.id}: capacity must be for weeks 1–4 and not negative.")


# --- solve --------------------------------------------------------------------------------------------

def solve(interns: Iterable[RotaIntern], offers: Iterable[RotaOffer], *,
          time_limit: float = TIME_LIMIT_SECONDS) -> RotaResult:
    interns = sorted(interns, key=lambda i: i.id)
    offers = sorted(offers, key=lambda o: o.id)
    _check(interns, offers)
    # Imported on the first solve: CP-SAT brings pandas (about 0.6 s and 40 MB), which a web worker needs only if a
    # coordinator runs a rota (tests/test_web_worker_imports.py).
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    x: dict[tuple[int, int, int], cp_model.IntVar] = {}  # (intern index, offer index, week) -> placed
    points: dict[tuple[int, int], int] = {}
    for i, intern in enumerate(interns):
        for o, offer in enumerate(offers):
            if not within_reach(intern, offer):
                continue
            points[i, o] = fit_points(intern, offer)
            for week in open_weeks(offer):
                x[i, o, week] = model.new_bool_var(f"x_{intern.id}_{offer.id}_{week}")

    by_intern_week: dict[tuple[int, int], list] = {}
    by_intern_provider: dict[tuple[int, int], list] = {}
    by_offer_week: dict[tuple[int, int], list] = {}
    by_intern: dict[int, list] = {}
    for (i, o, week), var in x.items():
        by_intern_week.setdefault((i, week), []).append(var)
        by_intern_provider.setdefault((i, offers[o].provider_id), []).append(var)
        by_offer_week.setdefault((o, week), []).append(var)
        by_intern.setdefault(i, []).append(var)
    for group in (by_intern_week, by_intern_provider):
        for variables in group.values():
            if len(variables) > 1:
                model.add_at_most_one(variables)
    for (o, week), variables in by_offer_week.items():
        if len(variables) > offers[o].capacity[week]:
            model.add(sum(variables) <= offers[o].capacity[week])
    full = {}
    for i in by_intern:
        if len({week for (ii, week) in by_intern_week if ii == i}) == len(WEEKS):
            full[i] = model.new_bool_var(f"full_{interns[i].id}")
            for week in WEEKS:  # tighter than 4·full ≤ Σx: full needs a placement in every week
                model.add(full[i] <= sum(by_intern_week[i, week]))

    n = len(interns)
    count_weight = FIT_MAX * 4 * n + 1  # one more placement beats any fit
    full_weight = count_weight * (4 * n + 1)  # one more intern fully placed beats any count and fit
    model.maximize(
        full_weight * sum(full.values())
        + count_weight * sum(x.values())
        + sum(points[i, o] * var for (i, o, _w), var in x.items())
    )
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.linearization_level = LINEARIZATION
    code = solver.solve(model)
    status = solver.status_name(code)
    chosen: list[tuple[int, int, int]] = []
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chosen = sorted(key for key, var in x.items() if solver.boolean_value(var))
    placements = []
    weeks_of: dict[int, set[int]] = {}
    for i, o, week in chosen:
        intern, offer = interns[i], offers[o]
        weeks_of.setdefault(i, set()).add(week)
        placements.append(RotaPlacement(
            intern_id=intern.id, week_no=week, offer_id=offer.id, provider_id=offer.provider_id,
            miles=round(distance(intern, offer) or 0.0, 1), score=points[i, o], reasons=fit_reasons(intern, offer),
        ))
    placements.sort(key=lambda p: (p.intern_id, p.week_no))
    shortfalls = tuple(
        Shortfall(intern.id, intern.reference, len(weeks_of.get(i, ())),
                  explain(intern, offers, weeks_of.get(i, set()), chosen_providers(placements, intern.id)))
        for i, intern in enumerate(interns) if len(weeks_of.get(i, ())) < 4
    )
    return RotaResult(
        placements=tuple(placements), shortfalls=shortfalls, status=status, interns=n,
        full=sum(1 for i in range(n) if len(weeks_of.get(i, ())) == 4),
        fit=sum(p.score for p in placements),
    )


def chosen_providers(placements: Iterable[RotaPlacement], intern_id: int) -> set[int]:
    return {p.provider_id for p in placements if p.intern_id == intern_id}


def explain(intern: RotaIntern, offers: list[RotaOffer], placed_weeks: set[int], providers_used: set[int]
            ) -> tuple[str, ...]:
    """Why an intern has fewer than four weeks: per missing week, the first reason that holds."""
    if intern.latitude is None or intern.longitude is None:
        return ("No town is recorded for this intern, so no workplace can be checked against their travel limit.",)
    reachable = [o for o in offers if within_reach(intern, o)]
    limit = (f"within {intern.max_travel_miles} miles" if intern.max_travel_miles is not None
             else "with a location")
    reasons = []
    providers = {o.provider_id for o in reachable}
    if len(providers) < 4:
        reasons.append(f"Fewer than four different providers are within reach ({len(providers)} {limit}): "
                       "nobody may go to the same provider twice.")
    for week in WEEKS:
        if week in placed_weeks:
            continue
        open_now = [o for o in reachable if o.capacity.get(week, 0) > 0]
        if not open_now:
            reasons.append(f"Week {week}: no offer {limit} is available that week.")
        elif all(o.provider_id in providers_used for o in open_now):
            reasons.append(f"Week {week}: the only offers within reach are at providers already in this "
                           "intern's rota.")
        else:
            reasons.append(f"Week {week}: all offers within reach that week are taken by other interns "
                           "(or their providers are needed in other weeks).")
    return tuple(reasons)
