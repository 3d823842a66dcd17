"""The weights of matching, in one place.

The value of giving one pupil (or place, or class) of an offer to a request is a sum of points:

    base
  + sector        × (1 if the offer's sector is one the school asked for, `any_sector_share` if it asked for
                     any sector, 0 otherwise)
  + distance      × (1 − miles / distance_scale_miles, never below 0), or `virtual_distance_share` when
                     the encounter is virtual (or in person with no limit and no location to measure)
  + need          × the share of the school's pupils in the requested year groups below the target (the
                     area's number of contacts)
                     (until counting exists: without any contact)
  + at_risk       × the at-risk share of those pupils, counted in full from `at_risk_full_share` up
  + waiting       × days the request has waited / waiting_cap_days (capped at 1)
  − repeat        × earlier live or recent matches between the school and this provider (at most repeat_cap)

Unknown need figures count as `unknown_need_share` (neither favoured nor forgotten). Pairs whose value is not
above zero are never proposed.

On top of that, each provider pays a load penalty per unit on its total allocation (what approved matches
already hold plus this run): `load_tiers` are (up to this many units, points per unit) with rising points, so
one provider is not swamped with schools ("employer fatigue"). A pairing is made only if its value beats the
penalty of the tier it lands in.

An area may override any of these (Weights.from_dict / with_overrides); docs/matching.md has the table.
"""
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

SCALE = 10  # points are kept to a tenth (× SCALE, rounded half to even) as integers for the solver

# One line per weight, for the documentation table and for a settings page.
DESCRIPTIONS: dict[str, str] = {
    "base": "points for every unit placed at all: reaching pupils is the point",
    "sector": "an offer in a sector the school asked for",
    "any_sector_share": "share of `sector` when the school asked for any sector",
    "distance": "a provider next door (falls to 0 at distance_scale_miles)",
    "distance_scale_miles": "miles at which the distance points reach 0",
    "virtual_distance_share": "share of `distance` for a virtual encounter or an unmeasured distance",
    "need": "every pupil in the requested year groups below the target",
    "at_risk": "an at-risk share of at_risk_full_share or more",
    "at_risk_full_share": "at-risk share that earns the full at_risk points",
    "unknown_need_share": "share of need and at_risk when the school gave no figures",
    "waiting": "a request waiting waiting_cap_days or longer",
    "waiting_cap_days": "days after which waiting earns no more",
    "repeat": "points taken off per earlier live or recent match with the same provider",
    "repeat_cap": "most earlier matches counted",
    "load_tiers": "(up to units, points per unit) a provider pays on its total allocation; points rise",
    "per_school_sessions": "sessions of a pupil offer one school may take (cap = this × pupils per session)",
    "per_school_share": "share of a places or classes offer one school may take (1 = all)",
}


@dataclass(frozen=True)
class Weights:
    base: float = 40.0
    sector: float = 20.0
    any_sector_share: float = 0.5
    distance: float = 15.0
    distance_scale_miles: float = 25.0
    virtual_distance_share: float = 0.5
    need: float = 25.0
    at_risk: float = 10.0
    at_risk_full_share: float = 0.25
    unknown_need_share: float = 0.5
    waiting: float = 10.0
    waiting_cap_days: int = 60
    repeat: float = 12.0
    repeat_cap: int = 3
    load_tiers: tuple[tuple[int | None, float], ...] = ((60, 0.0), (120, 8.0), (240, 20.0), (None, 45.0))
    per_school_sessions: int = 1
    per_school_share: float = 1.0

    def __post_init__(self) -> None:
        tiers = tuple((None if upto is None else int(upto), float(points)) for upto, points in self.load_tiers)
        object.__setattr__(self, "load_tiers", tiers)
        if not tiers or tiers[-1][0] is not None:
            raise ValueError("load_tiers must end with an open tier (None, points)")
        bounds = [upto for upto, _ in tiers[:-1]]
        if any(upto is None or upto <= 0 for upto in bounds) or bounds != sorted(set(bounds)):
            raise ValueError("load_tier bounds must be positive and rising")
        points = [p for _, p in tiers]
        if points != sorted(points) or points[0] < 0:
            raise ValueError("load_tier points must be non-negative and never fall (a convex penalty)")
        if self.distance_scale_miles <= 0 or self.waiting_cap_days <= 0 or self.at_risk_full_share <= 0:
            raise ValueError("scales must be positive")
        if self.per_school_sessions < 1 or not 0 < self.per_school_share <= 1:
            raise ValueError("per-school caps must allow at least one session or some share")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["load_tiers"] = [list(t) for t in self.load_tiers]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Weights":
        """Defaults with `data` laid over them (an area's overrides, or a whole exported set)."""
        return cls().with_overrides(data)

    def with_overrides(self, overrides: dict[str, Any]) -> "Weights":
        names = {f.name for f in fields(self)}
        unknown = set(overrides) - names
        if unknown:
            raise ValueError(f"unknown weights: {', '.join(sorted(unknown))}")
        changes = dict(overrides)
        if "load_tiers" in changes:
            changes["load_tiers"] = tuple(tuple(t) for t in changes["load_tiers"])
        return replace(self, **changes)


DEFAULT_WEIGHTS = Weights()
