"""Build and solve: the global assignment of offers to requests as one min-cost flow.

    source ─needed─▶ request ─min(needed, left, school cap), −value─▶ offer ─left─▶ provider ─tiers─▶ sink
    source ─────────────────────── bypass (cost 0: "leave it unplaced") ──────────────────────────────▶ sink

Where one school has several requests that could use the same offer, their arcs meet first in a
(school, offer) node whose arc on to the offer carries the per-school cap, so the cap holds per school, not
per request. Each provider's arcs to the sink are its load tiers: parallel arcs of rising cost, which a
min-cost flow fills cheapest first, so the convex load penalty is modelled exactly. Minimising cost maximises
the total value less the load penalty; the bypass means nothing is ever forced.

Everything is arrays: pairs come from a sorted join of request rows (request × wanted type × accepted
delivery) against offers grouped by (area, type, delivery) — or (type, delivery) for offers open to all
areas — with in-person groups sorted by latitude so that a request only meets offers in its latitude band
(a great-circle distance is never less than the latitude difference), then exact checks on the survivors.
See docs/matching.md.
"""
import math
import time
from dataclasses import dataclass
from datetime import date
from itertools import chain
from operator import attrgetter

import numpy as np
from ortools.graph.python import min_cost_flow

from portal.matching import reasons as words
from portal.matching.gc_pause import gc_paused
from portal.matching.model import (
    DELIVERIES,
    NEED_BASES,
    UNIT_PUPILS,
    UNITS,
    VIRTUAL,
    Instance,
    InstanceError,
    Proposal,
    Result,
    Timings,
    Totals,
    Unmatched,
)
from portal.matching.weights import SCALE, Weights

EARTH_RADIUS_MILES = 3958.8
MILES_PER_DEGREE = EARTH_RADIUS_MILES * math.pi / 180  # along a meridian: the least a degree of latitude can be
CHUNK = 1_500_000  # candidate pairs checked at a time (bounds memory on a national run)
VIRTUAL_CODE = DELIVERIES.index(VIRTUAL)
YEARS = 15  # Reception to Year 14, as portal.models.year_groups
FUNNEL = ("of_type", "delivered", "in_reach", "in_years", "in_dates", "with_room", "with_school_room", "unpaired",
          "worth_it")


def unit_vectors(latitude: np.ndarray, longitude: np.ndarray) -> np.ndarray:
    """Points on the unit sphere as three rows (x, y, z), shape (3, n); nan where there is no location."""
    phi, lam = np.radians(latitude), np.radians(longitude)
    return np.ascontiguousarray(np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)]))


def chord_miles(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Great-circle miles between unit vectors (3, n): 2R·asin(chord/2), the haversine formula without its
    trigonometry per pair (the same distance as portal.geo.miles_between, to rounding); nan without a location."""
    square = np.zeros(u.shape[1])
    for axis in range(3):
        step = u[axis] - v[axis]
        square += step * step
    return 2 * EARTH_RADIUS_MILES * np.arcsin(np.minimum(1.0, np.sqrt(square) / 2))


def _pair_miles(r_unit: np.ndarray, r: np.ndarray, o_unit: np.ndarray, o: np.ndarray) -> np.ndarray:
    """chord_miles between requests `r` and offers `o`, without building the (3, n) copies: the same arithmetic
    in the same order, so the same miles to the last bit."""
    square = np.zeros(len(o))
    for axis in range(3):
        step = r_unit[axis][r]
        step -= o_unit[axis][o]
        step *= step
        square += step
    return 2 * EARTH_RADIUS_MILES * np.arcsin(np.minimum(1.0, np.sqrt(square) / 2))


def points(value) -> np.ndarray:
    """Points to the solver's integers: × SCALE, rounded half to even (np.rint), the same everywhere."""
    return np.rint(np.asarray(value, dtype=np.float64) * SCALE).astype(np.int64)


# --- the instance as arrays ------------------------------------------------------------------------------------

@dataclass
class _Arrays:
    """Requests (those still needing something, by id) and offers (by id) as parallel arrays."""

    instance: Instance
    weights: Weights
    today: int
    requests: list
    offers: list
    type_codes: list[str]
    sector_codes: list[str]
    # requests
    r_school: np.ndarray
    r_area: np.ndarray
    r_wanted: np.ndarray  # bool (R, T)
    r_accepts: np.ndarray  # bool (R, 3)
    r_sectors: np.ndarray  # bool (R, S)
    r_any_sector: np.ndarray
    r_years: np.ndarray
    r_start: np.ndarray
    r_end: np.ndarray
    r_needed: np.ndarray
    r_limit: np.ndarray  # inf: no limit
    r_lat: np.ndarray  # nan: no location
    r_lon: np.ndarray
    r_unit: np.ndarray
    r_keep: np.ndarray
    r_points: np.ndarray  # int: need + at risk + waiting points (per unit)
    r_below: np.ndarray  # share, nan when unknown
    r_risk: np.ndarray
    r_waited: np.ndarray
    # offers
    o_provider: np.ndarray
    o_area: np.ndarray
    o_open: np.ndarray
    o_type: np.ndarray
    o_sector: np.ndarray
    o_delivery: np.ndarray
    o_years: np.ndarray
    o_start: np.ndarray
    o_end: np.ndarray
    o_left: np.ndarray
    o_school_cap: np.ndarray
    o_limit: np.ndarray
    o_lat: np.ndarray
    o_lon: np.ndarray
    o_unit: np.ndarray
    p_load: np.ndarray  # per provider: units already held by approved matches
    n_areas: int
    n_providers: int
    history_keys: np.ndarray  # school * P + provider, sorted
    history_counts: np.ndarray
    held_keys: np.ndarray  # school * O + offer, sorted
    held_units: np.ndarray
    paired_keys: np.ndarray  # request * O + offer (their indices) of pairs already matched, sorted


def _unique_ids(items, what: str) -> None:
    ids = list(map(_ID, items))
    if len(set(ids)) != len(ids):
        raise InstanceError(f"duplicate {what} ids")


_ID = attrgetter("id")
_REQUEST_COLUMNS = attrgetter("school_id", "area_id", "year_mask", "pupils", "held", "starts_on", "ends_on",
                              "created_on", "max_travel_miles", "keep_together", "wanted_types", "deliveries",
                              "sectors")
_OFFER_COLUMNS = attrgetter("provider_id", "area_id", "type", "sector", "delivery", "capacity", "allocated", "unit",
                            "per_session", "year_mask", "starts_on", "ends_on", "latitude", "longitude",
                            "max_travel_miles", "open_to_all_areas", "per_school_cap")


def _columns(items: list, get: attrgetter, width: int) -> list[tuple]:
    """The fields `get` reads, as one tuple per field (in `items` order)."""
    return list(zip(*map(get, items), strict=True)) if items else [()] * width


def _check_offers(offers: list) -> None:
    for o in offers:
        if o.delivery not in DELIVERIES or o.unit not in UNITS:
            raise InstanceError(f"offer {o.id}: unknown delivery {o.delivery!r} or unit {o.unit!r}")
        if o.capacity < 0 or o.allocated < 0 or o.per_session < 1:
            raise InstanceError(f"offer {o.id}: capacity, allocated and per_session cannot be negative")


def _check_requests(requests: list, school_index: dict) -> None:
    for r in requests:
        if r.school_id not in school_index:
            raise InstanceError(f"request {r.id}: school {r.school_id} is not in the instance")
        if set(r.deliveries) - set(DELIVERIES):
            raise InstanceError(f"request {r.id}: unknown delivery in {r.deliveries!r}")


def _arrays(instance: Instance) -> _Arrays:
    w = instance.weights
    if instance.need_basis not in NEED_BASES:
        raise InstanceError(f"unknown need basis {instance.need_basis!r}")
    for group, what in ((instance.offers, "offer"), (instance.requests, "request"), (instance.schools, "school")):
        _unique_ids(group, what)
    schools = sorted(instance.schools, key=_ID)
    school_index = {s.id: i for i, s in enumerate(schools)}
    offers = sorted(instance.offers, key=_ID)
    requests = sorted((r for r in instance.requests if r.pupils > r.held), key=_ID)  # needed > 0
    (o_provider_id, o_area_id, o_type_code, o_sector_code, o_delivery_code, o_capacity, o_allocated, o_unit,
     o_per_session, o_year_mask, o_starts, o_ends, o_latitude, o_longitude, o_max_miles, o_open,
     o_cap) = _columns(offers, _OFFER_COLUMNS, 17)
    (r_school_id, r_area_id, r_year_mask, r_pupils, r_held, r_starts, r_ends, r_created, r_max_miles, r_keep,
     r_wanted_codes, r_deliveries, r_sector_codes) = _columns(requests, _REQUEST_COLUMNS, 13)
    # The rules at once, and rule by rule (for the message) only when one is broken.
    try:
        offers_ok = not offers or (set(o_delivery_code) <= set(DELIVERIES) and set(o_unit) <= set(UNITS)
                                   and min(o_capacity) >= 0 and min(o_allocated) >= 0 and min(o_per_session) >= 1)
    except TypeError:
        offers_ok = False
    if not offers_ok:
        _check_offers(offers)
    if not set(r_school_id) <= school_index.keys() or not set(chain.from_iterable(r_deliveries)) <= set(DELIVERIES):
        _check_requests(requests, school_index)

    type_codes = sorted(set(o_type_code) | set(chain.from_iterable(r_wanted_codes)))
    sector_codes = sorted(set(o_sector_code) | set(chain.from_iterable(r_sector_codes)))
    t_index = {c: i for i, c in enumerate(type_codes)}
    s_index = {c: i for i, c in enumerate(sector_codes)}
    area_ids = sorted(set(o_area_id) | set(r_area_id))
    a_index = {a: i for i, a in enumerate(area_ids)}
    provider_ids = sorted(set(o_provider_id))
    p_index = {p: i for i, p in enumerate(provider_ids)}
    d_index = {d: i for i, d in enumerate(DELIVERIES)}
    n_r, n_o, n_t, n_s = len(requests), len(offers), len(type_codes), len(sector_codes)

    def ints(values, index=None) -> np.ndarray:
        return np.fromiter(values if index is None else map(index.__getitem__, values), dtype=np.int64,
                           count=len(values))

    def days(values) -> np.ndarray:
        return np.fromiter(map(date.toordinal, values), dtype=np.int64, count=len(values))

    def limits(values) -> np.ndarray:
        return np.array([inf if v is None else v for v in values], dtype=np.float64).reshape(-1)

    def place(latitudes, longitudes) -> tuple[np.ndarray, np.ndarray]:
        lat = [nan if la is None or lo is None else la for la, lo in zip(latitudes, longitudes, strict=True)]
        lon = [nan if la is None or lo is None else lo for la, lo in zip(latitudes, longitudes, strict=True)]
        return np.array(lat, dtype=np.float64).reshape(-1), np.array(lon, dtype=np.float64).reshape(-1)

    inf = float("inf")
    nan = float("nan")
    s_lat, s_lon = place([s.latitude for s in schools], [s.longitude for s in schools])
    s_pupils = np.zeros((len(schools), YEARS), dtype=np.int64)
    s_below = np.zeros_like(s_pupils)
    s_risk = np.zeros_like(s_pupils)
    year_rows = [s.years for s in schools]
    figures = list(chain.from_iterable(year_rows))
    if figures:
        y_school = np.repeat(np.arange(len(schools)), [len(y) for y in year_rows])
        y_year, y_pupils, y_below, y_risk = (np.array(c, dtype=np.int64) for c in _columns(
            figures, attrgetter("year", "pupils", "below_target", "at_risk"), 4))
        ok = (y_year >= 0) & (y_year < YEARS)
        at = (y_school[ok], y_year[ok])
        np.add.at(s_pupils, at, np.maximum(0, y_pupils[ok]))
        np.add.at(s_below, at, np.maximum(0, y_below[ok]))
        np.add.at(s_risk, at, np.maximum(0, y_risk[ok]))

    r_school = ints(r_school_id, school_index)

    def flags(width: int, codes: tuple, index: dict) -> np.ndarray:
        matrix = np.zeros((n_r, width), dtype=bool)
        matrix[np.repeat(np.arange(n_r), [len(c) for c in codes]), ints(list(chain.from_iterable(codes)), index)] = True
        return matrix

    r_wanted = flags(n_t, r_wanted_codes, t_index)
    r_accepts = flags(len(DELIVERIES), r_deliveries, d_index)
    r_sectors = flags(max(n_s, 1), r_sector_codes, s_index)
    r_years = ints(r_year_mask)
    bits = ((r_years[:, None] >> np.arange(YEARS)) & 1).astype(bool)
    pupils = (s_pupils[r_school] * bits).sum(axis=1)
    known = pupils > 0
    safe = np.where(known, pupils, 1)
    r_below = np.where(known, np.minimum(1.0, (s_below[r_school] * bits).sum(axis=1) / safe), nan)
    r_risk = np.where(known, np.minimum(1.0, (s_risk[r_school] * bits).sum(axis=1) / safe), nan)
    today = instance.today.toordinal()
    r_waited = np.maximum(0, today - days(r_created))
    need_share = np.where(known, r_below, w.unknown_need_share)
    risk_share = np.where(known, np.minimum(1.0, r_risk / w.at_risk_full_share), w.unknown_need_share)
    r_points = (points(w.need * need_share) + points(w.at_risk * risk_share)
                + points(w.waiting * np.minimum(r_waited, w.waiting_cap_days) / w.waiting_cap_days))

    def per_school_cap(cap, unit, per_session, capacity) -> int:
        if cap is not None:
            return max(0, cap)
        if unit == UNIT_PUPILS:
            return w.per_school_sessions * per_session
        return max(1, math.floor(w.per_school_share * capacity))

    o_provider = ints(o_provider_id, p_index)
    o_lat, o_lon = place(o_latitude, o_longitude)
    o_allocated_ = ints(o_allocated)
    p_load = np.bincount(o_provider, weights=o_allocated_, minlength=len(provider_ids)).astype(np.int64)

    n_p = len(provider_ids)
    history = {}
    for h in instance.history:
        if h.school_id in school_index and h.provider_id in p_index and h.matches > 0:
            key = school_index[h.school_id] * n_p + p_index[h.provider_id]
            history[key] = history.get(key, 0) + h.matches
    offer_index = {o.id: i for i, o in enumerate(offers)}
    held = {}
    for h in instance.held:
        if h.school_id in school_index and h.offer_id in offer_index and h.units > 0:
            key = school_index[h.school_id] * n_o + offer_index[h.offer_id]
            held[key] = held.get(key, 0) + h.units

    request_index = {r.id: i for i, r in enumerate(requests)}
    paired = {request_index[p.request_id] * n_o + offer_index[p.offer_id] for p in instance.paired
              if p.request_id in request_index and p.offer_id in offer_index}

    return _Arrays(
        instance=instance, weights=w, today=today, requests=requests, offers=offers,
        type_codes=type_codes, sector_codes=sector_codes,
        r_school=r_school, r_area=ints(r_area_id, a_index),
        r_wanted=r_wanted, r_accepts=r_accepts, r_sectors=r_sectors, r_any_sector=~r_sectors.any(axis=1),
        r_years=r_years, r_start=days(r_starts), r_end=days(r_ends),
        r_needed=ints(r_pupils) - ints(r_held),
        r_limit=limits(r_max_miles),
        r_lat=s_lat[r_school], r_lon=s_lon[r_school],
        r_unit=np.ascontiguousarray(unit_vectors(s_lat, s_lon)[:, r_school]),
        r_keep=np.fromiter(r_keep, dtype=bool, count=n_r),
        r_points=r_points, r_below=r_below, r_risk=r_risk, r_waited=r_waited,
        o_provider=o_provider, o_area=ints(o_area_id, a_index),
        o_open=np.fromiter(o_open, dtype=bool, count=n_o),
        o_type=ints(o_type_code, t_index),
        o_sector=ints(o_sector_code, s_index),
        o_delivery=ints(o_delivery_code, d_index),
        o_years=ints(o_year_mask), o_start=days(o_starts), o_end=days(o_ends),
        o_left=np.maximum(0, ints(o_capacity) - o_allocated_),
        o_school_cap=np.fromiter(map(per_school_cap, o_cap, o_unit, o_per_session, o_capacity), dtype=np.int64,
                                 count=n_o),
        o_limit=limits(o_max_miles),
        o_lat=o_lat, o_lon=o_lon,
        o_unit=unit_vectors(o_lat, o_lon), p_load=p_load, n_areas=len(area_ids), n_providers=n_p,
        history_keys=np.array(sorted(history), dtype=np.int64),
        history_counts=np.array([history[k] for k in sorted(history)], dtype=np.int64),
        held_keys=np.array(sorted(held), dtype=np.int64),
        held_units=np.array([held[k] for k in sorted(held)], dtype=np.int64),
        paired_keys=np.array(sorted(paired), dtype=np.int64),
    )


def _lookup(keys: np.ndarray, table_keys: np.ndarray, table_values: np.ndarray) -> np.ndarray:
    """table_values at keys (0 where absent); table_keys sorted."""
    if len(table_keys) == 0:
        return np.zeros(len(keys), dtype=np.int64)
    at = np.minimum(np.searchsorted(table_keys, keys), len(table_keys) - 1)
    return np.where(table_keys[at] == keys, table_values[at], 0)


# --- feasible pairs --------------------------------------------------------------------------------------------

@dataclass
class _Pairs:
    """Feasible pairs with positive value, sorted by (request, offer), and each request's funnel counts (the
    offers left after each hard rule in turn; in_reach and in_years are exact only where in_dates is 0, since
    the reasons only ask which count is the first zero)."""

    r: np.ndarray
    o: np.ndarray
    miles: np.ndarray  # nan: virtual or unmeasured
    value: np.ndarray  # int points per unit
    school_cap: np.ndarray  # the per-school cap left for this (school, offer)
    sector_fit: np.ndarray  # 2 asked, 1 any, 0 other
    repeat: np.ndarray
    funnel: dict[str, np.ndarray]


def _pairs(a: _Arrays) -> _Pairs:
    n_r, n_o = len(a.r_needed), len(a.o_left)
    n_t, n_d = len(a.type_codes), len(DELIVERIES)
    local_keys = a.n_areas * n_t * n_d
    o_key = np.where(a.o_open, local_keys + a.o_type * n_d + a.o_delivery,
                     (a.o_area * n_t + a.o_type) * n_d + a.o_delivery)
    n_keys = local_keys + n_t * n_d

    # Offers of the wanted types in reach (area or open), and of those the ones delivered in an accepted way:
    # counted from per-key tallies, so offers the latitude band skips still count here.
    tally = np.bincount(o_key, minlength=n_keys)
    local = tally[:local_keys].reshape(a.n_areas, n_t, n_d)
    open_ = tally[local_keys:].reshape(n_t, n_d)
    reach = local[a.r_area] + open_[None] if n_r else np.zeros((0, n_t, n_d), dtype=np.int64)
    of_type = (reach * a.r_wanted[:, :, None]).sum(axis=(1, 2))
    rows_mask = a.r_wanted[:, :, None] & a.r_accepts[:, None, :]
    delivered = (reach * rows_mask).sum(axis=(1, 2))

    # Offers sorted by (key, latitude); virtual and unlocated offers need no band.
    in_person = a.o_delivery != VIRTUAL_CODE
    located = ~np.isnan(a.o_lat)
    o_latp = np.where(in_person & located, a.o_lat + 90.0, np.where(in_person, 500.0, 0.0))
    order = np.lexsort((np.arange(n_o), o_latp, o_key))
    composite = o_key[order] * 1000.0 + o_latp[order]
    key_limit = np.full(n_keys, -np.inf)
    np.maximum.at(key_limit, o_key, a.o_limit)

    # Request rows: one per (request, wanted type, accepted delivery), against local and open offers.
    each_r, each_t, each_d = np.nonzero(rows_mask)
    row_r = np.concatenate([each_r, each_r]).astype(np.int32)
    row_d = np.concatenate([each_d, each_d])
    row_key = np.concatenate([(a.r_area[each_r] * n_t + each_t) * n_d + each_d, local_keys + each_t * n_d + each_d])
    band = np.minimum(a.r_limit[row_r], key_limit[row_key])
    band = np.where((row_d == VIRTUAL_CODE) | np.isnan(a.r_lat[row_r]), np.inf, band)
    finite = np.isfinite(band)
    degrees = np.where(finite, band, 0.0) / MILES_PER_DEGREE * (1 + 1e-9) + 1e-6  # a margin for rounding
    latp = np.nan_to_num(a.r_lat[row_r]) + 90.0
    base = row_key * 1000.0
    low = base + np.where(finite, np.maximum(latp - degrees, -0.5), -0.5)
    high = base + np.where(finite, np.minimum(latp + degrees, 999.5), 999.5)
    lo = np.searchsorted(composite, low, side="left")
    hi = np.searchsorted(composite, high, side="right")
    counts = hi - lo
    order = order.astype(np.int32)

    is_person = row_d != VIRTUAL_CODE
    # The integer rules per offer in the sorted order (and per request) in narrow types, so the checks below
    # read them in runs: years, and dates as max(starts) <= min(ends) >= today split by side (each side's dates
    # valid and not past — an offer's end is -1 otherwise — and each side starting before the other ends).
    masks = np.concatenate([a.o_years, a.r_years])
    narrow = np.int16 if not len(masks) or (masks.min() >= 0 and masks.max() < 2 ** 15) else np.int64  # 15 years
    s_years = a.o_years[order].astype(narrow)
    s_start = a.o_start[order].astype(np.int32)  # day ordinals fit
    s_end = np.where((a.o_end >= a.today) & (a.o_start <= a.o_end), a.o_end, -1)[order].astype(np.int32)
    r_years, r_start, r_end = a.r_years.astype(narrow), a.r_start.astype(np.int32), a.r_end.astype(np.int32)
    r_live = (a.r_end >= a.today) & (a.r_start <= a.r_end)

    def chunks(rows_all: np.ndarray):
        """Rows in runs of about CHUNK candidate pairs: the rows, their counts, and the candidates' positions in
        `order`."""
        cumulative = np.cumsum(counts[rows_all])
        cuts = np.searchsorted(cumulative, np.arange(CHUNK, int(cumulative[-1]) if len(cumulative) else 0, CHUNK))
        for rows in np.split(rows_all, cuts):
            c = counts[rows]
            total = int(c.sum())
            if total:
                yield rows, c, np.arange(total) - np.repeat(np.cumsum(c) - c - lo[rows], c)

    def within(r: np.ndarray, o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """In-person pairs: their miles, and which are within both sides' distances."""
        miles = _pair_miles(a.r_unit, r, a.o_unit, o)
        return miles, np.where(np.isnan(miles), np.isinf(a.r_limit[r]) & np.isinf(a.o_limit[o]),
                               (miles <= a.r_limit[r]) & (miles <= a.o_limit[o]))

    # Every hard rule at once, the integer ones first, so miles are worked out only for the candidates that
    # pass them.
    kept_r, kept_o, kept_miles = [], [], []
    for person in (True, False):  # in-person rows need distances; virtual rows none
        for rows, c, pos in chunks(np.flatnonzero((is_person == person) & r_live[row_r])):
            rr = row_r[rows]
            ok = (np.repeat(r_years[rr], c) & s_years[pos]) != 0
            ok &= np.repeat(r_start[rr], c) <= s_end[pos]
            ok &= s_start[pos] <= np.repeat(r_end[rr], c)
            at = np.flatnonzero(ok)
            r, o = np.repeat(rr, c)[at], order[pos[at]]
            if person:
                miles, ok = within(r, o)
                r, o, miles = r[ok], o[ok], miles[ok]
            else:
                miles = np.full(len(r), np.nan)
            kept_r.append(r)
            kept_o.append(o)
            kept_miles.append(miles)

    r = np.concatenate(kept_r) if kept_r else np.zeros(0, dtype=np.int32)
    o = np.concatenate(kept_o) if kept_o else np.zeros(0, dtype=np.int32)
    miles = np.concatenate(kept_miles) if kept_miles else np.zeros(0)
    sort = np.argsort(r.astype(np.int64) * max(n_o, 1) + o)  # by (request, offer); each pair once
    r, o, miles = r[sort].astype(np.int64), o[sort].astype(np.int64), miles[sort]
    in_dates = np.bincount(r, minlength=n_r)

    # The reasons name the first rule that leaves a request nothing, so the counts before the dates matter only
    # where no pair is left: counted rule by rule (reach, then years) for those requests alone. Elsewhere they
    # stand at in_dates, a lower bound that is never zero.
    in_reach, in_years = in_dates.copy(), in_dates.copy()
    bare = in_dates == 0
    in_reach[bare] = in_years[bare] = 0
    for rows, c, pos in chunks(np.flatnonzero(bare[row_r])):
        r_, o_ = np.repeat(row_r[rows], c), order[pos]
        ok = np.repeat(~is_person[rows], c)  # virtual: every offer is in reach
        person = ~ok
        ok[person] = within(r_[person], o_[person])[1]
        r_, o_ = r_[ok], o_[ok]
        in_reach += np.bincount(r_, minlength=n_r)
        in_years += np.bincount(r_[(a.r_years[r_] & a.o_years[o_]) != 0], minlength=n_r)

    room = a.o_left[o] > 0
    with_room = np.bincount(r[room], minlength=n_r)
    school_cap = np.maximum(0, a.o_school_cap[o] - _lookup(a.r_school[r] * n_o + o, a.held_keys, a.held_units))
    room &= school_cap > 0
    with_school_room = np.bincount(r[room], minlength=n_r)
    # A request is matched with an offer once: where they already have a live match (Paired), how many it takes is
    # a person's decision, and the rest of the request goes to other offers.
    if len(a.paired_keys):
        room &= ~np.isin(r * n_o + o, a.paired_keys)
    unpaired = np.bincount(r[room], minlength=n_r)
    r, o, miles, school_cap = r[room], o[room], miles[room], school_cap[room]

    w = a.weights
    asked = a.r_sectors[r, a.o_sector[o]] if len(r) else np.zeros(0, dtype=bool)
    sector_fit = np.where(a.r_any_sector[r], 1, np.where(asked, 2, 0))
    sector_share = np.where(sector_fit == 2, 1.0, np.where(sector_fit == 1, w.any_sector_share, 0.0))
    distance_share = np.where(np.isnan(miles), w.virtual_distance_share,
                              np.maximum(0.0, 1.0 - np.nan_to_num(miles) / w.distance_scale_miles))
    repeat = _lookup(a.r_school[r] * a.n_providers + a.o_provider[o], a.history_keys, a.history_counts)
    value = (points(w.base) + points(w.sector * sector_share) + points(w.distance * distance_share)
             + a.r_points[r] - points(w.repeat * np.minimum(repeat, w.repeat_cap)))
    good = value > 0
    worth_it = np.bincount(r[good], minlength=n_r)
    funnel = dict(zip(FUNNEL, (of_type, delivered, in_reach, in_years, in_dates, with_room, with_school_room,
                               unpaired, worth_it), strict=True))
    return _Pairs(r=r[good], o=o[good], miles=miles[good], value=value[good], school_cap=school_cap[good],
                  sector_fit=sector_fit[good], repeat=repeat[good], funnel=funnel)


# --- the flow network ------------------------------------------------------------------------------------------

def tier_penalty(load: np.ndarray, added: np.ndarray, weights: Weights) -> np.ndarray:
    """Integer points the load tiers charge for `added` units on top of `load` already held, per provider."""
    total = np.zeros(len(load), dtype=np.int64)
    lower = 0
    for upto, cost in weights.load_tiers:
        upper = np.inf if upto is None else upto
        units = np.clip(np.minimum(load + added, upper) - np.maximum(load, lower), 0, None)
        total += units.astype(np.int64) * int(points(cost))
        lower = upper
    return total


@dataclass
class _Network:
    """Arc arrays for one solve, laid out in blocks: sources, pairs, (school, offer), offers, tiers, bypass."""

    tails: np.ndarray
    heads: np.ndarray
    caps: np.ndarray
    costs: np.ndarray
    supply: int
    pairs: np.ndarray  # which pairs have arcs (in the pair_arcs block, in this order)
    pair_arcs: slice
    n_nodes: int


@dataclass
class _Layout:
    """Which nodes and arcs the pairs use; fixed for every solve of one instance."""

    pair_head: np.ndarray  # offer node, or the pair's (school, offer) node
    pair_group: np.ndarray  # index of the pair's (school, offer) node, -1 when the cap cannot bind
    group_offer: np.ndarray
    group_cap: np.ndarray
    n_nodes_base: int
    grouped: np.ndarray  # the pairs with a (school, offer) node


def _layout(a: _Arrays, p: _Pairs) -> _Layout:
    """(school, offer) nodes, only where the per-school cap can bind: several of the school's requests could
    together take more than the cap, and the cap is below what the offer has left (else the offer's own arc
    already holds it)."""
    n_r, n_o = len(a.r_needed), len(a.o_left)
    offer_node = 2 + n_r + p.o
    key = a.r_school[p.r] * n_o + p.o
    unique, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.reshape(-1)
    reach = np.bincount(inverse, weights=np.minimum(np.minimum(a.r_needed[p.r], a.o_left[p.o]), p.school_cap),
                        minlength=len(unique))
    cap = np.zeros(len(unique), dtype=p.school_cap.dtype)
    cap[inverse] = p.school_cap  # the same for every pair of one (school, offer)
    offer = (unique % max(n_o, 1)).astype(np.int64)
    shared = (reach > cap) & (cap < a.o_left[offer])
    group_of_unique = np.where(shared, np.cumsum(shared) - 1, -1)
    pair_group = group_of_unique[inverse].astype(np.int64)
    n_base = 2 + n_r + n_o + a.n_providers
    pair_head = np.where(pair_group >= 0, n_base + pair_group, offer_node)
    return _Layout(pair_head=pair_head, pair_group=pair_group, group_offer=offer[shared],
                   group_cap=cap[shared].astype(np.int64), n_nodes_base=n_base + int(shared.sum()),
                   grouped=np.flatnonzero(pair_group >= 0))


def _network(a: _Arrays, p: _Pairs, lay: _Layout, *, pair_cap: np.ndarray, needed: np.ndarray,
             left: np.ndarray, group_cap: np.ndarray, load: np.ndarray) -> _Network:
    """Arcs for the pairs with `pair_cap` > 0, requests still needing `needed`, offers with `left`, (school,
    offer) caps `group_cap`, and providers already carrying `load`."""
    n_r, n_o = len(a.r_needed), len(a.o_left)
    offer_node = 2 + n_r + np.arange(n_o)
    provider_node = 2 + n_r + n_o + np.arange(a.n_providers)
    pairs = np.flatnonzero(pair_cap > 0)
    pr, po, pg = p.r[pairs], p.o[pairs], lay.pair_group[pairs]
    rs = np.flatnonzero(np.bincount(pr, minlength=n_r))  # np.unique, for small non-negative integers
    os_ = np.flatnonzero(np.bincount(po, minlength=n_o))
    gs = np.flatnonzero(np.bincount(pg[pg >= 0], minlength=len(group_cap)))
    supply = int(needed[rs].sum())
    providers = np.flatnonzero(np.bincount(a.o_provider[os_], minlength=a.n_providers))
    provider_left = np.bincount(a.o_provider[os_], weights=left[os_], minlength=a.n_providers).astype(np.int64)

    tails, heads, caps, costs = [], [], [], []

    def block(t, h, c, k):
        c = np.asarray(c, dtype=np.int64)
        caps.append(c)
        tails.append(np.broadcast_to(np.asarray(t, dtype=np.int32), c.shape))
        heads.append(np.broadcast_to(np.asarray(h, dtype=np.int32), c.shape))
        costs.append(np.broadcast_to(np.asarray(k, dtype=np.int64), c.shape))

    block(np.zeros(len(rs)), 2 + rs, needed[rs], 0)
    block(2 + pr, lay.pair_head[pairs], pair_cap[pairs], -p.value[pairs])
    block(lay.n_nodes_base - len(lay.group_cap) + gs, offer_node[lay.group_offer[gs]], group_cap[gs], 0)
    block(offer_node[os_], provider_node[a.o_provider[os_]], left[os_], 0)
    lower = 0
    for upto, cost in a.weights.load_tiers:
        if upto is None:
            cap = provider_left[providers]
        else:
            cap = np.clip(upto - np.maximum(load[providers], lower), 0, None)
            lower = upto
        keep = cap > 0
        block(provider_node[providers[keep]], 1, cap[keep], int(points(cost)))
    block([0], [1], [supply], 0)
    return _Network(tails=np.concatenate(tails), heads=np.concatenate(heads), caps=np.concatenate(caps),
                    costs=np.concatenate(costs), supply=supply, pairs=pairs,
                    pair_arcs=slice(len(rs), len(rs) + len(pairs)), n_nodes=lay.n_nodes_base)


def _solve(net: _Network, n_pairs: int) -> np.ndarray:
    """Flows on every pair in an optimal solution (0 on pairs left out of the network)."""
    flows = np.zeros(n_pairs, dtype=np.int64)
    if net.supply == 0:
        return flows
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(net.tails, net.heads, net.caps, net.costs)
    supplies = np.zeros(net.n_nodes, dtype=np.int64)
    supplies[0], supplies[1] = net.supply, -net.supply
    flow.set_nodes_supplies(np.arange(net.n_nodes, dtype=np.int32), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"min-cost flow did not solve: status {status}")
    flows[net.pairs] = flow.flows(np.arange(net.pair_arcs.start, net.pair_arcs.stop, dtype=np.int32))
    return flows


# --- keep together ---------------------------------------------------------------------------------------------

def _used(a: _Arrays, p: _Pairs, lay: _Layout, flows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Units the flows take per request, per offer and per (school, offer) group."""
    return (np.bincount(p.r, weights=flows, minlength=len(a.r_needed)).astype(np.int64),
            np.bincount(p.o, weights=flows, minlength=len(a.o_left)).astype(np.int64),
            np.bincount(lay.pair_group[lay.grouped], weights=flows[lay.grouped], minlength=len(lay.group_cap)).astype(
                np.int64))


def _keep_together(a: _Arrays, p: _Pairs, lay: _Layout, flows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Round the relaxed solution so no keep-together group is split: whole on one offer, or not at all.

    Groups the solve placed whole on one offer keep their place. The others, oldest request first (then by
    id), go whole to the suitable offer with the most value per unit (then the lowest offer id) that still
    has room for all of them, given every other request's flows; if none has, they stay unplaced.
    Returns the flows with every keep-together request rounded, and which of them found no whole place.
    """
    keep_pair = a.r_keep[p.r]
    not_whole = np.zeros(len(a.r_needed), dtype=bool)
    if not keep_pair.any():
        return flows, not_whole
    needed = a.r_needed
    placed, _, _ = _used(a, p, lay, flows)
    arcs_used = np.bincount(p.r[flows > 0], minlength=len(needed))
    whole = a.r_keep & (arcs_used == 1) & (placed == needed)
    rounded = np.where(keep_pair & ~whole[p.r], 0, flows)
    _, offer_used, group_used = _used(a, p, lay, rounded)
    offer_room = a.o_left - offer_used
    group_room = lay.group_cap - group_used
    todo = np.flatnonzero(a.r_keep & ~whole)
    created = np.array([a.requests[i].created_on.toordinal() for i in todo], dtype=np.int64)
    starts = np.searchsorted(p.r, todo, side="left")
    lengths = np.searchsorted(p.r, todo, side="right") - starts
    # Their pairs that could ever take the whole group (rooms only shrink from here), best first per request: by
    # value, then in pair order (the lowest offer id), so the first that still has room is the one to take.
    span = np.arange(int(lengths.sum())) + np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    run = np.repeat(np.arange(len(todo)), lengths)
    units, group = needed[todo][run], lay.pair_group[span]
    fits = (p.school_cap[span] >= units) & (offer_room[p.o[span]] >= units)
    if len(group_room):
        fits &= (group < 0) | (group_room[np.maximum(group, 0)] >= units)
    pick = np.flatnonzero(fits)
    pick = pick[np.lexsort((pick, -p.value[span[pick]], run[pick]))]
    first = np.searchsorted(run[pick], np.arange(len(todo)), side="left").tolist()
    last = np.searchsorted(run[pick], np.arange(len(todo)), side="right").tolist()
    pair_of, offer_of, group_of = span[pick].tolist(), p.o[span[pick]].tolist(), group[pick].tolist()
    room, room_in_group, need = offer_room.tolist(), group_room.tolist(), needed.tolist()
    todo_list, lengths_list = todo.tolist(), lengths.tolist()
    for j in np.lexsort((todo, created)).tolist():
        i = todo_list[j]
        for k in range(first[j], last[j]):
            g = group_of[k]
            if room[offer_of[k]] >= need[i] and (g < 0 or room_in_group[g] >= need[i]):
                rounded[pair_of[k]] = need[i]
                room[offer_of[k]] -= need[i]
                if g >= 0:
                    room_in_group[g] -= need[i]
                break
        else:
            not_whole[i] = lengths_list[j] > 0
    return rounded, not_whole


# --- the run ---------------------------------------------------------------------------------------------------

def solve(instance: Instance) -> Result:
    """The best set of pairings for the instance, each with its reasons, and why the rest were not placed."""
    with gc_paused():  # the run makes many small objects and no cycles: see gc_pause.py
        return _best(instance)


def _best(instance: Instance) -> Result:
    started = time.perf_counter()
    a = _arrays(instance)
    p = _pairs(a)
    lay = _layout(a, p)
    pair_cap = np.minimum(np.minimum(a.r_needed[p.r], a.o_left[p.o]), p.school_cap)
    net = _network(a, p, lay, pair_cap=pair_cap, needed=a.r_needed, left=a.o_left, group_cap=lay.group_cap,
                   load=a.p_load)
    built = time.perf_counter()

    relaxed = _solve(net, len(p.r))
    flows, not_whole = _keep_together(a, p, lay, relaxed)
    if not np.array_equal(flows, relaxed):
        # Keep what is placed, and give the capacity the rounding freed to requests still short (a smaller solve).
        placed, offer_used, group_used = _used(a, p, lay, flows)
        needed = np.where(a.r_keep, 0, a.r_needed - placed)
        left = a.o_left - offer_used
        group_cap = lay.group_cap - group_used
        school_left = np.where(lay.pair_group >= 0, group_cap[np.maximum(lay.pair_group, 0)] if len(group_cap)
                               else 0, p.school_cap - flows)
        cap = np.minimum(np.minimum(needed[p.r], left[p.o]), school_left)
        load = a.p_load + np.bincount(a.o_provider[p.o], weights=flows, minlength=a.n_providers).astype(np.int64)
        net = _network(a, p, lay, pair_cap=cap, needed=needed, left=left, group_cap=group_cap, load=load)
        flows = flows + _solve(net, len(p.r))
    solved = time.perf_counter()

    proposals, unmatched, totals = _explain(a, p, lay, flows, not_whole)
    explained = time.perf_counter()
    timings = Timings(build_seconds=round(built - started, 4), solve_seconds=round(solved - built, 4),
                      explain_seconds=round(explained - solved, 4), total_seconds=round(explained - started, 4))
    return Result(proposals=proposals, unmatched=unmatched, totals=totals, timings=timings)


def _explain(a: _Arrays, p: _Pairs, lay: _Layout, flows: np.ndarray, not_whole: np.ndarray):
    inst, w = a.instance, a.weights
    n_r = len(a.r_needed)
    placed, used, group_used = _used(a, p, lay, flows)
    added = np.bincount(a.o_provider[p.o], weights=flows, minlength=a.n_providers).astype(np.int64)
    penalty = int(tier_penalty(a.p_load, added, w).sum())
    value = int((flows * p.value).sum())

    # Reasons from parts worded once: per request (need, waiting), per (sector, fit), then per pairing.
    fit_words = (words.SECTOR_OTHER, words.SECTOR_ANY, words.SECTOR_ASKED)
    chosen = np.flatnonzero(flows > 0)
    pr, po = p.r[chosen], p.o[chosen]
    below, risk, waited, needed = a.r_below.tolist(), a.r_risk.tolist(), a.r_waited.tolist(), a.r_needed.tolist()
    request_parts = {}
    for i in np.unique(pr).tolist():
        req = a.requests[i]
        request_parts[i] = words.request_reasons(
            req.year_mask, None if math.isnan(below[i]) else below[i], None if math.isnan(risk[i]) else risk[i],
            inst.need_basis, waited[i], inst.target_text)
    sector_parts = {}
    for code, fit in set(zip(a.o_sector[po].tolist(), p.sector_fit[chosen].tolist(), strict=True)):
        label = a.sector_codes[code]
        sector_parts[code, fit] = words.sector_reason(inst.sector_labels.get(label, label), fit_words[fit])
    r_list, o_list = pr.tolist(), po.tolist()
    o_sector, o_delivery = a.o_sector.tolist(), [o.delivery for o in a.offers]
    reasons = words.pairs_reasons(
        [sector_parts[o_sector[o], fit] for o, fit in zip(o_list, p.sector_fit[chosen].tolist(), strict=True)],
        [o_delivery[o] for o in o_list], [None if math.isnan(m) else m for m in p.miles[chosen].tolist()],
        (a.r_years[pr] & a.o_years[po]).tolist(), [request_parts[i] for i in r_list], p.repeat[chosen].tolist(),
        flows[chosen].tolist(), a.r_needed[pr].tolist())
    r_id, o_id = [r.id for r in a.requests], [o.id for o in a.offers]
    proposals = [Proposal(request_id=r_id[i], offer_id=o_id[o], allocation=allocation,
                          value_per_unit=value_per_unit / SCALE, value=value_per_unit * allocation / SCALE,
                          reasons=text)
                 for i, o, allocation, value_per_unit, text in zip(
                     r_list, o_list, flows[chosen].tolist(), p.value[chosen].tolist(), reasons, strict=True)]

    # Why requests with pairs were not (fully) placed: look at their pairs after the run.
    offer_full = used >= a.o_left
    group_full = group_used >= lay.group_cap
    school_full = np.where(lay.pair_group >= 0, group_full[np.maximum(lay.pair_group, 0)] if len(group_full)
                           else False, flows >= p.school_cap)
    blocked_offer = np.bincount(p.r[offer_full[p.o]], minlength=n_r)
    blocked_any = np.bincount(p.r[offer_full[p.o] | school_full], minlength=n_r)
    pairs_of = np.bincount(p.r, minlength=n_r)
    f = p.funnel
    unmatched = []
    short = np.flatnonzero(placed < a.r_needed)
    type_words, delivery_words = {}, {}  # per wanted types and per deliveries, as requests repeat them
    columns = zip(short.tolist(), placed[short].tolist(), not_whole[short].tolist(), pairs_of[short].tolist(),
                  blocked_offer[short].tolist(), blocked_any[short].tolist(), np.isnan(a.r_lat[short]).tolist(),
                  *(f[name][short].tolist() for name in FUNNEL), strict=True)
    for (i, units, no_whole, pairs, by_offer, by_any, unlocated, of_type, delivered, in_reach, in_years, in_dates,
         with_room, with_school_room, unpaired, worth_it) in columns:
        req = a.requests[i]
        after = None
        if no_whole:
            after = words.AFTER_NOT_WHOLE
        elif pairs:
            after = (words.AFTER_TAKEN if by_offer == pairs
                     else words.AFTER_SCHOOL_SHARE if by_any == pairs else words.AFTER_BUSY)
        wanted, accepted = req.wanted_types, req.deliveries
        if wanted not in type_words:
            type_words[wanted] = tuple(inst.type_labels.get(t, t) for t in sorted(set(wanted)))
        if accepted not in delivery_words:
            delivery_words[accepted] = tuple(d for d in DELIVERIES if d in accepted)
        funnel = words.Funnel(
            type_labels=type_words[wanted], deliveries=delivery_words[accepted],
            request_years=req.year_mask, starts_on=req.starts_on, ends_on=req.ends_on, today=inst.today,
            max_travel_miles=req.max_travel_miles, school_located=not unlocated, of_type=of_type,
            delivered=delivered, in_reach=in_reach, in_years=in_years, in_dates=in_dates, with_room=with_room,
            with_school_room=with_school_room, unpaired=unpaired, worth_it=worth_it, needed=needed[i], placed=units,
            after=after,
        )
        unmatched.append(Unmatched(request_id=req.id, needed=needed[i], placed=units,
                                   reasons=words.unmatched_reasons(funnel)))

    totals = Totals(
        requests=n_r, offers=int((a.o_left > 0).sum()), pairs=len(p.r), units_needed=int(a.r_needed.sum()),
        units_placed=int(flows.sum()), total_value=value / SCALE, load_penalty=penalty / SCALE,
        objective=(value - penalty) / SCALE,
    )
    return tuple(proposals), tuple(unmatched), totals


__all__ = ["chord_miles", "solve", "tier_penalty", "unit_vectors"]
