"""The engine's plain data: what goes in (an Instance) and what comes out (a Result), and their JSON form.

Everything here is a frozen dataclass of ids, numbers, dates and strings, so an instance can be written to a
file, read back and solved again with the same result. The JSON layout is the "instance format" described in
docs/matching.md; FORMAT_VERSION changes whenever a field changes meaning or is removed.
"""
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any

from portal.matching.weights import Weights

INSTANCE_FORMAT = "encounters.matching.instance"
RESULT_FORMAT = "encounters.matching.result"
FORMAT_VERSION = 1

IN_SCHOOL = "in_school"
WORKPLACE = "workplace"
VIRTUAL = "virtual"
DELIVERIES = (IN_SCHOOL, WORKPLACE, VIRTUAL)
IN_PERSON = frozenset({IN_SCHOOL, WORKPLACE})

UNIT_PUPILS = "pupils"
UNITS = ("pupils", "places", "classes")

NEED_BELOW_FOUR = "below_four"  # counting (4/6) exists: pupils with fewer than four contacts
NEED_NO_CONTACTS = "no_contacts"  # until then: pupils with no recorded contact
NEED_BASES = (NEED_BELOW_FOUR, NEED_NO_CONTACTS)
DEFAULT_TARGET_TEXT = "four"  # an area's contact target in words, unless the instance says otherwise


class InstanceError(ValueError):
    """An instance the engine cannot solve: a wrong format or version, an unknown school, a bad number."""


@dataclass(frozen=True)
class YearFigures:
    """One year group of a school, in counts: its pupils, those below the target (or without contacts), at risk."""

    year: int
    pupils: int
    below_target: int = 0
    at_risk: int = 0


@dataclass(frozen=True)
class SchoolInput:
    """A school or college: where it is (None when it gave no location) and its need figures per year group."""

    id: int
    latitude: float | None = None
    longitude: float | None = None
    years: tuple[YearFigures, ...] = ()


@dataclass(frozen=True)
class OfferInput:
    """A published offer with capacity left. `allocated` is what approved matches already hold."""

    id: int
    provider_id: int
    area_id: int
    type: str
    sector: str
    delivery: str  # in_school, workplace or virtual
    capacity: int  # in the type's unit: sessions × per_session pupils, places or classes
    starts_on: date
    ends_on: date
    year_mask: int  # bit n = Year n (0 = Reception), as portal.models.year_groups
    allocated: int = 0
    unit: str = UNIT_PUPILS
    per_session: int = 1
    latitude: float | None = None  # the provider's location
    longitude: float | None = None
    max_travel_miles: float | None = None  # None: no limit on the provider's side
    open_to_all_areas: bool = False
    per_school_cap: int | None = None  # most one school may get from this offer; None: Weights decides

    @property
    def left(self) -> int:
        return max(0, self.capacity - self.allocated)


@dataclass(frozen=True)
class RequestInput:
    """A live request. `held` is what the school's approved matches already give it; the engine places the rest."""

    id: int
    school_id: int
    area_id: int
    wanted_types: tuple[str, ...]
    year_mask: int
    pupils: int
    starts_on: date
    ends_on: date
    deliveries: tuple[str, ...]
    created_on: date
    sectors: tuple[str, ...] = ()  # empty: any sector
    held: int = 0
    max_travel_miles: float | None = None  # None: no limit on the school's side
    keep_together: bool = False  # the group must not be split across offers

    @property
    def needed(self) -> int:
        return max(0, self.pupils - self.held)


@dataclass(frozen=True)
class History:
    """Live or recent matches between a school and a provider (for variety: not the same provider again and again)."""

    school_id: int
    provider_id: int
    matches: int


@dataclass(frozen=True)
class Held:
    """Units a school already holds from an offer through approved matches (counted against the per-school cap)."""

    school_id: int
    offer_id: int
    units: int


@dataclass(frozen=True)
class Paired:
    """A request and an offer that already have a live match the run keeps (approved, or a proposal a school,
    a provider or a coordinator made or took in hand): the engine does not pair them again. How many that match
    takes is a person's decision; the rest of the request goes to other offers."""

    request_id: int
    offer_id: int


@dataclass(frozen=True)
class Instance:
    """Everything one run needs; `today` fixes how long requests have waited and which dates are past."""

    today: date
    offers: tuple[OfferInput, ...]
    requests: tuple[RequestInput, ...]
    schools: tuple[SchoolInput, ...]
    weights: Weights = field(default_factory=Weights)
    history: tuple[History, ...] = ()
    held: tuple[Held, ...] = ()
    paired: tuple[Paired, ...] = ()
    need_basis: str = NEED_BELOW_FOUR
    target_text: str = DEFAULT_TARGET_TEXT  # the area's target in words, for reasons ("fewer than four contacts")
    sector_labels: dict[str, str] = field(default_factory=dict)  # code -> words for reasons; codes if absent
    type_labels: dict[str, str] = field(default_factory=dict)
    label: str = ""  # free text for people: the area, when it was exported

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": INSTANCE_FORMAT,
            "version": FORMAT_VERSION,
            "label": self.label,
            "today": self.today.isoformat(),
            "need_basis": self.need_basis,
            "target_text": self.target_text,
            "weights": self.weights.to_dict(),
            "sector_labels": dict(sorted(self.sector_labels.items())),
            "type_labels": dict(sorted(self.type_labels.items())),
            "schools": [_school_dict(s) for s in sorted(self.schools, key=lambda s: s.id)],
            "offers": [_plain(o) for o in sorted(self.offers, key=lambda o: o.id)],
            "requests": [_plain(r) for r in sorted(self.requests, key=lambda r: r.id)],
            "history": [[h.school_id, h.provider_id, h.matches]
                        for h in sorted(self.history, key=lambda h: (h.school_id, h.provider_id))],
            "held": [[h.school_id, h.offer_id, h.units]
                     for h in sorted(self.held, key=lambda h: (h.school_id, h.offer_id))],
            "paired": sorted([p.request_id, p.offer_id] for p in self.paired),
        }

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Instance":
        _check_format(data, INSTANCE_FORMAT)
        try:
            return cls(
                today=date.fromisoformat(data["today"]),
                offers=tuple(_offer(o) for o in data["offers"]),
                requests=tuple(_request(r) for r in data["requests"]),
                schools=tuple(_school(s) for s in data["schools"]),
                weights=Weights.from_dict(data.get("weights") or {}),
                history=tuple(History(int(s), int(p), int(n)) for s, p, n in data.get("history", [])),
                held=tuple(Held(int(s), int(o), int(n)) for s, o, n in data.get("held", [])),
                paired=tuple(Paired(int(r), int(o)) for r, o in data.get("paired", [])),
                need_basis=data.get("need_basis", NEED_BELOW_FOUR),
                target_text=data.get("target_text", DEFAULT_TARGET_TEXT),
                sector_labels=dict(data.get("sector_labels") or {}),
                type_labels=dict(data.get("type_labels") or {}),
                label=data.get("label", ""),
            )
        except InstanceError:
            raise
        except (KeyError, TypeError, ValueError) as error:
            raise InstanceError(f"not a valid instance: {error!r}") from error

    @classmethod
    def from_json(cls, text: str) -> "Instance":
        try:
            data = json.loads(text)
        except ValueError as error:
            raise InstanceError(f"not JSON: {error}") from error
        return cls.from_dict(data)


@dataclass(frozen=True)
class Proposal:
    """A pairing the engine proposes: `allocation` units of the offer for the request, worth `value` in all."""

    request_id: int
    offer_id: int
    allocation: int
    value_per_unit: float
    value: float
    reasons: tuple[str, ...]

    @property
    def reasons_text(self) -> str:
        return " · ".join(self.reasons)


@dataclass(frozen=True)
class Unmatched:
    """A request the engine could not place in full: how many units are left unplaced, and why."""

    request_id: int
    needed: int
    placed: int
    reasons: tuple[str, ...]

    @property
    def reasons_text(self) -> str:
        return " · ".join(self.reasons)


@dataclass(frozen=True)
class Totals:
    requests: int = 0  # requests with something still needed
    offers: int = 0  # offers with capacity left
    pairs: int = 0  # feasible request-offer pairs (arcs the solver saw)
    units_needed: int = 0
    units_placed: int = 0
    total_value: float = 0.0  # sum of the proposals' values
    load_penalty: float = 0.0  # what the provider-load tiers cost
    objective: float = 0.0  # total_value - load_penalty: what the solver maximised


@dataclass(frozen=True)
class Timings:
    build_seconds: float = 0.0  # pairs, values and the graph
    solve_seconds: float = 0.0  # the min-cost-flow solve(s) and the keep-together rounding
    explain_seconds: float = 0.0  # reasons
    total_seconds: float = 0.0


@dataclass(frozen=True)
class Result:
    proposals: tuple[Proposal, ...]
    unmatched: tuple[Unmatched, ...]
    totals: Totals
    timings: Timings = field(default_factory=Timings)

    def to_dict(self, *, timings: bool = True) -> dict[str, Any]:
        data = {
            "format": RESULT_FORMAT,
            "version": FORMAT_VERSION,
            "totals": asdict(self.totals),
            "proposals": [{**asdict(p), "reasons": list(p.reasons)} for p in self.proposals],
            "unmatched": [{**asdict(u), "reasons": list(u.reasons)} for u in self.unmatched],
        }
        if timings:
            data["timings"] = asdict(self.timings)
        return data

    def to_json(self, *, indent: int | None = None, timings: bool = True) -> str:
        return json.dumps(self.to_dict(timings=timings), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Result":
        _check_format(data, RESULT_FORMAT)
        try:
            return cls(
                proposals=tuple(Proposal(**{**p, "reasons": tuple(p["reasons"])}) for p in data["proposals"]),
                unmatched=tuple(Unmatched(**{**u, "reasons": tuple(u["reasons"])}) for u in data["unmatched"]),
                totals=Totals(**data["totals"]),
                timings=Timings(**data.get("timings", {})),
            )
        except (KeyError, TypeError) as error:
            raise InstanceError(f"not a valid result: {error!r}") from error

    @classmethod
    def from_json(cls, text: str) -> "Result":
        return cls.from_dict(json.loads(text))


# --- JSON helpers ----------------------------------------------------------------------------------------------

def _check_format(data: Any, expected: str) -> None:
    if not isinstance(data, dict) or data.get("format") != expected:
        raise InstanceError(f"not an {expected} document")
    if data.get("version") != FORMAT_VERSION:
        raise InstanceError(f"{expected} version {data.get('version')!r}: this engine reads version {FORMAT_VERSION}")


def _plain(obj) -> dict[str, Any]:
    out = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _school_dict(school: SchoolInput) -> dict[str, Any]:
    return {
        "id": school.id, "latitude": school.latitude, "longitude": school.longitude,
        "years": [[y.year, y.pupils, y.below_target, y.at_risk] for y in sorted(school.years, key=lambda y: y.year)],
    }


def _school(data: dict[str, Any]) -> SchoolInput:
    return SchoolInput(
        id=int(data["id"]), latitude=_number_or_none(data.get("latitude")),
        longitude=_number_or_none(data.get("longitude")),
        years=tuple(YearFigures(int(y), int(p), int(b), int(r)) for y, p, b, r in data.get("years", [])),
    )


_OFFER_FIELDS = {f.name for f in fields(OfferInput)}
_REQUEST_FIELDS = {f.name for f in fields(RequestInput)}


def _known(data: dict[str, Any], names: set[str], what: str) -> dict[str, Any]:
    unknown = set(data) - names
    if unknown:
        raise InstanceError(f"unknown {what} fields: {', '.join(sorted(unknown))}")
    return dict(data)


def _offer(data: dict[str, Any]) -> OfferInput:
    d = _known(data, _OFFER_FIELDS, "offer")
    d["starts_on"], d["ends_on"] = date.fromisoformat(d["starts_on"]), date.fromisoformat(d["ends_on"])
    for name in ("latitude", "longitude", "max_travel_miles"):
        d[name] = _number_or_none(d.get(name))
    return OfferInput(**d)


def _request(data: dict[str, Any]) -> RequestInput:
    d = _known(data, _REQUEST_FIELDS, "request")
    for name in ("starts_on", "ends_on", "created_on"):
        d[name] = date.fromisoformat(d[name])
    for name in ("wanted_types", "deliveries", "sectors"):
        d[name] = tuple(d.get(name, ()))
    d["max_travel_miles"] = _number_or_none(d.get("max_travel_miles"))
    return RequestInput(**d)


def _number_or_none(value) -> float | None:
    """A number as written (10 stays 10, so an instance writes back exactly as it was read), or None."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise InstanceError(f"not a number: {value!r}")
    return value
