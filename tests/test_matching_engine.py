"""The matching engine on its own: plain data in, pairings out. No app, no database.

Each hard rule is checked with a pair that breaks only that rule; capacities, keep-together groups and the
optimum are checked on random instances (Hypothesis) against an independent model solved by networkx.
"""
import ast
import math
import random
import sys
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.geo import miles_between
from portal.matching import (
    Held,
    History,
    Instance,
    InstanceError,
    OfferInput,
    Paired,
    RequestInput,
    Result,
    SchoolInput,
    Weights,
    YearFigures,
    solve,
)
from portal.matching.weights import SCALE

TODAY = date(2025, 1, 15)
SCHOOL = (53.7890, -2.2480)  # Burnley
NEAR = (53.8000, -2.2000)  # about 2.1 miles away
FAR = (53.7630, -2.7030)  # Preston, about 18.7 miles away
Y9, Y10, Y11 = 1 << 9, 1 << 10, 1 << 11

PROPERTY = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def offer(**changes) -> OfferInput:
    base = OfferInput(
        id=1, provider_id=100, area_id=1, type="careers_talk", sector="engineering", delivery="in_school",
        capacity=60, per_session=30, starts_on=date(2025, 2, 1), ends_on=date(2025, 3, 31),
        year_mask=Y9 | Y10, latitude=NEAR[0], longitude=NEAR[1], max_travel_miles=10,
    )
    return replace(base, **changes)


def request(**changes) -> RequestInput:
    base = RequestInput(
        id=1, school_id=10, area_id=1, wanted_types=("careers_talk",), year_mask=Y9 | Y10, pupils=30,
        starts_on=date(2025, 2, 10), ends_on=date(2025, 3, 10), deliveries=("in_school",),
        created_on=TODAY - timedelta(days=23), sectors=("engineering",), max_travel_miles=10,
    )
    return replace(base, **changes)


def school(**changes) -> SchoolInput:
    base = SchoolInput(id=10, latitude=SCHOOL[0], longitude=SCHOOL[1],
                       years=(YearFigures(9, 100, 60, 5), YearFigures(10, 100, 62, 10)))
    return replace(base, **changes)


def instance(offers=None, requests=None, schools=None, **changes) -> Instance:
    return Instance(
        today=TODAY, offers=tuple(offers if offers is not None else [offer()]),
        requests=tuple(requests if requests is not None else [request()]),
        schools=tuple(schools if schools is not None else [school()]),
        sector_labels={"engineering": "Engineering and manufacturing", "digital": "Digital"},
        type_labels={"careers_talk": "careers talk", "workplace_visit": "workplace visit"}, **changes,
    )


def placed(result: Result) -> dict[tuple[int, int], int]:
    return {(p.request_id, p.offer_id): p.allocation for p in result.proposals}


def only_unmatched_reason(result: Result) -> str:
    assert not result.proposals
    (unmatched,) = result.unmatched
    return unmatched.reasons_text


# --- each hard rule, broken alone -----------------------------------------------------------------------------

def test_a_pair_meeting_every_rule_is_proposed_with_its_reasons():
    result = solve(instance())
    assert placed(result) == {(1, 1): 30}
    assert not result.unmatched
    (proposal,) = result.proposals
    assert proposal.reasons_text == (
        "Engineering and manufacturing, a sector the school asked for · 2.1 miles · Years 9–10 eligible · "
        "61% of the school's Years 9–10 have fewer than four contacts · 8% at risk of NEET · waiting 23 days"
    )
    assert proposal.value == pytest.approx(proposal.value_per_unit * 30)
    assert result.totals.units_placed == 30 and result.totals.objective == pytest.approx(proposal.value)


@pytest.mark.parametrize(("changes", "why"), [
    ({"offer": {"type": "workplace_visit"}}, "no offer of that type (careers talk)"),
    ({"offer": {"year_mask": Y11}}, "year groups not served: no careers talk offer within reach is for Years 9–10"),
    ({"offer": {"starts_on": date(2025, 3, 11), "ends_on": date(2025, 4, 30)}}, "none in those dates (10 Feb"),
    ({"request": {"starts_on": date(2025, 1, 1), "ends_on": date(2025, 1, 14)},
      "offer": {"starts_on": date(2024, 12, 1)}}, "its dates have passed"),
    ({"offer": {"delivery": "virtual"}}, "no careers talk offer delivered in school"),
    ({"offer": {"latitude": FAR[0], "longitude": FAR[1], "max_travel_miles": 15},
      "request": {"max_travel_miles": None}}, "none within the providers' travelling distances"),
    ({"offer": {"latitude": FAR[0], "longitude": FAR[1], "max_travel_miles": None},
      "request": {"max_travel_miles": 15}}, "none within its distance: pupils travel up to 15 miles"),
    ({"offer": {"delivery": "workplace", "latitude": FAR[0], "longitude": FAR[1], "max_travel_miles": None},
      "request": {"deliveries": ("workplace",), "max_travel_miles": 15}}, "none within its distance"),
    ({"offer": {"allocated": 60}}, "every suitable offer is already full"),
    ({"offer": {"area_id": 2}}, "no offer of that type (careers talk) in the area or open to all areas"),
])
def test_each_hard_rule_alone_rules_the_pair_out(changes, why):
    result = solve(instance([offer(**changes.get("offer", {}))], [request(**changes.get("request", {}))]))
    assert why in only_unmatched_reason(result)


def test_nothing_to_match_is_an_empty_result_not_an_error():
    assert solve(instance([], [])).totals.units_placed == 0
    assert not solve(instance([offer()], [])).proposals
    assert "no offer of that type" in only_unmatched_reason(solve(instance([], [request()])))
    settled = solve(instance(requests=[request(held=30)]))
    assert not settled.proposals and not settled.unmatched


def test_an_offer_open_to_all_areas_crosses_areas():
    assert placed(solve(instance([offer(area_id=2, open_to_all_areas=True)]))) == {(1, 1): 30}


def test_virtual_offers_ignore_distance_and_in_person_needs_a_location_when_anyone_sets_a_limit():
    far_virtual = offer(delivery="virtual", latitude=FAR[0] + 3, longitude=FAR[1], max_travel_miles=1)
    result = solve(instance([far_virtual], [request(deliveries=("virtual",))]))
    assert placed(result) == {(1, 1): 30}
    assert "virtual" in result.proposals[0].reasons
    unlocated = [school(latitude=None, longitude=None)]
    assert "the school has no location" in only_unmatched_reason(solve(instance(schools=unlocated)))
    no_limits = solve(instance([offer(max_travel_miles=None)], [request(max_travel_miles=None)], unlocated))
    assert placed(no_limits) == {(1, 1): 30}
    assert "in school, distance not known" in no_limits.proposals[0].reasons


def test_both_sides_limits_hold_for_in_person_and_the_boundary_is_inclusive():
    miles = miles_between(*SCHOOL, *FAR)
    at = offer(latitude=FAR[0], longitude=FAR[1], max_travel_miles=math.ceil(miles))
    assert placed(solve(instance([at], [request(max_travel_miles=math.ceil(miles))]))) == {(1, 1): 30}
    assert not solve(instance([at], [request(max_travel_miles=math.floor(miles))])).proposals
    provider_limit = replace(at, max_travel_miles=math.floor(miles))
    assert not solve(instance([provider_limit], [request(max_travel_miles=None)])).proposals


def test_sector_is_a_preference_not_a_rule():
    asked, other = offer(id=1), offer(id=2, sector="digital")
    values = {}
    for sectors in (("engineering",), ()):
        for o in (asked, other):
            (p,) = solve(instance([o], [request(sectors=sectors)])).proposals
            values[sectors, o.sector] = p.value_per_unit
            fit = p.reasons[0]
            if not sectors:
                assert fit.endswith("(the school asked for any sector)")
            elif o.sector == "digital":
                assert fit == "Digital, not one of the sectors the school asked for"
    assert values[("engineering",), "engineering"] > values[(), "engineering"] == values[(), "digital"]
    assert values[(), "digital"] > values[("engineering",), "digital"]


# --- capacities -----------------------------------------------------------------------------------------------

def test_one_school_gets_at_most_one_session_of_an_offer_across_its_requests():
    o = offer(capacity=120, per_session=30)
    mine = [request(id=i, pupils=30) for i in (1, 2, 3)]
    theirs = request(id=4, school_id=11, pupils=60)
    schools = [school(), school(id=11, latitude=NEAR[0], longitude=NEAR[1] + 0.01)]
    result = solve(instance([o], [*mine, theirs], schools))
    by_school = {10: 0, 11: 0}
    for p in result.proposals:
        by_school[10 if p.request_id < 4 else 11] += p.allocation
    assert by_school == {10: 30, 11: 30}
    short = {u.request_id: u.reasons_text for u in result.unmatched}
    assert len(short) == 3
    assert "30 of 60 placed" in short[4]
    held = solve(instance([o], mine, held=(Held(10, 1, 20),)))
    assert sum(p.allocation for p in held.proposals) == 10
    assert solve(instance([replace(o, per_school_cap=75)], mine)).totals.units_placed == 75


def test_a_request_already_matched_with_an_offer_gets_the_rest_from_other_offers():
    best = offer(id=1, capacity=60)
    other = offer(id=2, provider_id=101, capacity=60, latitude=53.8300, longitude=-2.1900)  # about 4 miles
    assert placed(solve(instance([best, other]))) == {(1, 1): 30}
    # A coordinator cut the request's match with the best offer to 12: the other 18 come from elsewhere, not as a
    # second match with the same offer.
    cut = {"requests": [request(held=12)], "held": (Held(10, 1, 12),), "paired": (Paired(1, 1),)}
    assert placed(solve(instance([best, other], **cut))) == {(1, 2): 18}
    assert only_unmatched_reason(solve(instance([best], **cut))) == (
        "already matched with each suitable offer that has room: how many that match takes is a coordinator's "
        "decision")


def test_capacity_goes_where_it_is_worth_most_and_the_rest_are_told_why():
    needy = school(years=(YearFigures(10, 100, 90, 20),))
    settled = school(id=11, latitude=SCHOOL[0], longitude=SCHOOL[1] + 0.01, years=(YearFigures(10, 100, 10, 0),))
    requests = [request(id=1, year_mask=Y10), request(id=2, school_id=11, year_mask=Y10)]
    result = solve(instance([offer(capacity=30)], requests, [needy, settled]))
    assert placed(result) == {(1, 1): 30}
    assert [(u.request_id, u.reasons_text) for u in result.unmatched] == [(2, "capacity taken by other schools")]


# --- keep together --------------------------------------------------------------------------------------------

def test_a_group_that_must_stay_together_is_placed_whole_or_not_at_all():
    halves = [offer(id=1, capacity=25, per_session=25), offer(id=2, capacity=25, per_session=25, provider_id=101)]
    together = request(pupils=40, keep_together=True)
    assert solve(instance(halves, [replace(together, keep_together=False)])).totals.units_placed == 40
    split = solve(instance(halves, [together]))
    assert "could not be kept together: no single suitable offer had room for the whole group of 40" in (
        only_unmatched_reason(split))
    whole = solve(instance([*halves, offer(id=3, capacity=40, per_session=40, provider_id=102)], [together]))
    assert placed(whole) == {(1, 3): 40}


def test_keep_together_rounding_hands_freed_capacity_to_others():
    first = request(id=1, pupils=40, keep_together=True, created_on=TODAY - timedelta(days=60))
    second = request(id=2, school_id=11, pupils=25)
    offers = [offer(id=1, capacity=25, per_session=25), offer(id=2, capacity=25, per_session=25, provider_id=101)]
    schools = [school(), school(id=11, latitude=NEAR[0], longitude=NEAR[1] + 0.01)]
    result = solve(instance(offers, [first, second], schools))
    assert sum(p.allocation for p in result.proposals if p.request_id == 2) == 25
    assert [u.request_id for u in result.unmatched] == [1]


# --- variety and load -----------------------------------------------------------------------------------------

def test_a_provider_the_school_has_had_recently_scores_lower():
    offers = [offer(id=1, provider_id=100, capacity=30), offer(id=2, provider_id=101, capacity=30)]
    assert placed(solve(instance(offers, history=(History(10, 100, 2),)))) == {(1, 2): 30}
    assert placed(solve(instance(offers, history=(History(10, 101, 1),)))) == {(1, 1): 30}
    pinned = solve(instance(offers[:1], history=(History(10, 100, 2),)))
    assert "already 2 live or recent matches with this provider" in pinned.proposals[0].reasons


def test_load_tiers_spread_pupils_over_providers():
    weights = Weights(load_tiers=((30, 0.0), (None, 200.0)))
    busy = [offer(id=1, provider_id=100, capacity=90, per_session=90, allocated=0)]
    quiet = [offer(id=2, provider_id=101, capacity=90, per_session=90, sector="digital")]
    requests = [request(id=1, pupils=60, sectors=("engineering",))]
    assert placed(solve(instance(busy + quiet, requests))) == {(1, 1): 60}
    spread = solve(instance(busy + quiet, requests, weights=weights))
    assert placed(spread) == {(1, 1): 30, (1, 2): 30}
    assert spread.totals.load_penalty == 0


def test_weights_are_validated_and_overridable():
    with pytest.raises(ValueError, match="unknown weights"):
        Weights().with_overrides({"sectr": 1})
    with pytest.raises(ValueError, match="convex"):
        Weights(load_tiers=((10, 5.0), (None, 1.0)))
    with pytest.raises(ValueError, match="open tier"):
        Weights(load_tiers=((10, 0.0),))
    tuned = Weights.from_dict({"sector": 0, "load_tiers": [[50, 0], [None, 10]]})
    assert tuned.sector == 0 and tuned.load_tiers == ((50, 0.0), (None, 10.0)) and tuned.base == Weights().base


# --- determinism and the instance format ----------------------------------------------------------------------

def _busy_instance(seed: int) -> Instance:
    rng = random.Random(seed)
    schools = [school(id=10 + i, latitude=SCHOOL[0] + rng.uniform(-0.1, 0.1),
                      longitude=SCHOOL[1] + rng.uniform(-0.1, 0.1)) for i in range(6)]
    offers = [offer(id=i + 1, provider_id=100 + i % 4, capacity=rng.choice([10, 30, 60]), per_session=10,
                    sector=rng.choice(["engineering", "digital"]), year_mask=rng.choice([Y9, Y10, Y9 | Y10]),
                    latitude=NEAR[0] + rng.uniform(-0.1, 0.1), longitude=NEAR[1] + rng.uniform(-0.1, 0.1))
              for i in range(12)]
    requests = [request(id=i + 1, school_id=10 + i % 6, pupils=rng.choice([10, 20, 30]),
                        keep_together=rng.random() < 0.3, year_mask=rng.choice([Y9, Y10]),
                        created_on=TODAY - timedelta(days=rng.randint(0, 60))) for i in range(30)]
    return instance(offers, requests, schools, history=(History(10, 100, 1), History(11, 101, 3)),
                    held=(Held(12, 3, 5),), paired=(Paired(2, 4), Paired(7, 1)))


def test_the_same_input_gives_the_same_output_whatever_its_order():
    inst = _busy_instance(7)
    first = solve(inst).to_dict(timings=False)
    assert first["proposals"] and first["unmatched"]
    assert solve(inst).to_dict(timings=False) == first
    rng = random.Random(1)
    shuffled = replace(inst, offers=tuple(rng.sample(inst.offers, len(inst.offers))),
                       requests=tuple(rng.sample(inst.requests, len(inst.requests))),
                       schools=tuple(reversed(inst.schools)), history=tuple(reversed(inst.history)))
    assert solve(shuffled).to_dict(timings=False) == first


def test_an_instance_survives_json_and_solves_the_same():
    inst = _busy_instance(3)
    text = inst.to_json(indent=2)
    again = Instance.from_json(text)
    assert again == inst
    assert again.to_json(indent=2) == text
    result = solve(inst)
    assert solve(again).to_dict(timings=False) == result.to_dict(timings=False)
    assert Result.from_json(result.to_json()) == result


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.update(version=99), "version 99"),
    (lambda d: d.update(format="something else"), "not an encounters.matching.instance"),
    (lambda d: d["offers"][0].update(colour="red"), "unknown offer fields: colour"),
    (lambda d: d["requests"][0].update(school_id=999), "school 999 is not in the instance"),
])
def test_a_broken_instance_is_refused_with_a_reason(mutate, message):
    data = instance().to_dict()
    mutate(data)
    with pytest.raises(InstanceError, match=message):
        solve(Instance.from_dict(data))


def test_the_engine_imports_nothing_from_the_web_layer_or_the_models():
    allowed = {"numpy", "ortools", "portal"} | sys.stdlib_module_names
    for path in (Path(__file__).parent.parent / "portal" / "matching").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                assert top in allowed, f"{path}: {name}"
                assert top != "portal" or name.startswith("portal.matching"), f"{path}: {name}"


# --- random instances: capacities, keep-together, and the optimum against networkx ----------------------------

TYPES = ("careers_talk", "mentoring")
SECTORS = ("engineering", "digital", "health")
DELIVERIES = ("in_school", "workplace", "virtual")
YEARS = (9, 10, 11)


@st.composite
def instances(draw, keep_together: bool = True) -> Instance:
    """Small, dense instances: one or two schools with several requests each, so that offers are contested,
    per-school caps bind across requests, and distances sit near the limits."""
    n_schools = draw(st.integers(1, 2))
    coord = st.tuples(st.floats(53.75, 53.85), st.floats(-2.35, -2.15))
    limit = st.one_of(st.none(), st.integers(1, 8))
    mask = st.sets(st.sampled_from(YEARS), min_size=1).map(lambda ys: sum(1 << y for y in ys))
    area = st.sampled_from((1, 1, 1, 2))
    day = st.integers(-5, 20).map(lambda d: TODAY + timedelta(days=d))
    schools = []
    for i in range(n_schools):
        lat, lon = draw(coord)
        located = draw(st.sampled_from((True, True, True, False)))
        years = tuple(YearFigures(y, p, draw(st.integers(0, p)), draw(st.integers(0, p)))
                      for y in YEARS if (p := draw(st.integers(0, 40))))
        schools.append(SchoolInput(10 + i, lat if located else None, lon if located else None, years))
    providers = [(100 + i, *draw(coord)) for i in range(draw(st.integers(1, 3)))]
    offers = []
    for i in range(draw(st.integers(0, 5))):
        pid, lat, lon = draw(st.sampled_from(providers))
        start = draw(day)
        capacity = draw(st.integers(1, 40))
        offers.append(OfferInput(
            id=i + 1, provider_id=pid, area_id=draw(area), type=draw(st.sampled_from(TYPES)),
            sector=draw(st.sampled_from(SECTORS)), delivery=draw(st.sampled_from(DELIVERIES)), capacity=capacity,
            allocated=draw(st.sampled_from((0, 0, draw(st.integers(0, capacity))))),
            unit=draw(st.sampled_from(("pupils", "pupils", "places"))), per_session=draw(st.integers(1, 20)),
            starts_on=start, ends_on=start + timedelta(days=draw(st.integers(5, 40))), year_mask=draw(mask),
            latitude=lat, longitude=lon, max_travel_miles=draw(limit),
            open_to_all_areas=draw(st.booleans()), per_school_cap=draw(st.one_of(st.none(), st.integers(0, 30))),
        ))
    requests = []
    for i in range(draw(st.integers(0, 8))):
        start = draw(day)
        pupils = draw(st.integers(1, 40))
        requests.append(RequestInput(
            id=i + 1, school_id=10 + draw(st.integers(0, n_schools - 1)), area_id=draw(area),
            wanted_types=tuple(draw(st.sets(st.sampled_from(TYPES), min_size=1))),
            sectors=tuple(draw(st.sets(st.sampled_from(SECTORS), max_size=2))), year_mask=draw(mask),
            pupils=pupils, held=draw(st.sampled_from((0, 0, draw(st.integers(0, pupils))))), starts_on=start,
            ends_on=start + timedelta(days=draw(st.integers(5, 40))),
            deliveries=tuple(draw(st.sets(st.sampled_from(DELIVERIES), min_size=2))),
            created_on=TODAY - timedelta(days=draw(st.integers(0, 90))), max_travel_miles=draw(limit),
            keep_together=keep_together and draw(st.booleans()),
        ))
    history = tuple(History(s.id, pid, draw(st.integers(1, 4)))
                    for s in schools for pid, _, _ in providers if draw(st.booleans()))
    held = tuple(Held(draw(st.sampled_from(schools)).id, o.id, draw(st.integers(1, 10)))
                 for o in offers if draw(st.booleans()))
    # Pairs already matched: offers that would fit the request, often, so the rule binds.
    paired = ()
    if requests and offers:
        pairs = st.tuples(st.sampled_from([r.id for r in requests]), st.sampled_from([o.id for o in offers]))
        paired = tuple(Paired(r, o) for r, o in sorted(draw(st.sets(pairs, max_size=3))))
    tiers = draw(st.sampled_from([Weights().load_tiers, ((5, 0.0), (15, 30.0), (None, 90.0)), ((None, 0.0),)]))
    weights = Weights(load_tiers=tiers, repeat=draw(st.sampled_from([12.0, 40.0])))
    return Instance(today=TODAY, offers=tuple(offers), requests=tuple(requests), schools=tuple(schools),
                    weights=weights, history=history, held=held, paired=paired)


def _pts(x: float) -> int:
    return round(x * SCALE)


def _school_cap(o: OfferInput, w: Weights) -> int:
    if o.per_school_cap is not None:
        return o.per_school_cap
    if o.unit == "pupils":
        return w.per_school_sessions * o.per_session
    return max(1, math.floor(w.per_school_share * o.capacity))


def reference_pairs(inst: Instance) -> dict[tuple[int, int], tuple[int, int]]:
    """(request, offer) -> (value per unit, per-school cap left): every rule written out plainly, pair by pair."""
    w, schools = inst.weights, {s.id: s for s in inst.schools}
    paired = {(p.request_id, p.offer_id) for p in inst.paired}
    held, history = {}, {}
    for h in inst.held:
        held[h.school_id, h.offer_id] = held.get((h.school_id, h.offer_id), 0) + h.units
    for h in inst.history:
        history[h.school_id, h.provider_id] = history.get((h.school_id, h.provider_id), 0) + h.matches
    pairs = {}
    for r in inst.requests:
        s = schools[r.school_id]
        figures = [y for y in s.years if r.year_mask >> y.year & 1]
        pupils = sum(y.pupils for y in figures)
        if pupils:
            need = min(1.0, sum(y.below_target for y in figures) / pupils)
            risk = min(1.0, min(1.0, sum(y.at_risk for y in figures) / pupils) / w.at_risk_full_share)
        else:
            need = risk = w.unknown_need_share
        waited = max(0, (inst.today - r.created_on).days)
        request_points = (_pts(w.need * need) + _pts(w.at_risk * risk)
                          + _pts(w.waiting * min(waited, w.waiting_cap_days) / w.waiting_cap_days))
        for o in inst.offers:
            miles = None
            if o.delivery != "virtual" and None not in (s.latitude, o.latitude):
                miles = miles_between(s.latitude, s.longitude, o.latitude, o.longitude)
            limits = [x for x in (r.max_travel_miles, o.max_travel_miles) if x is not None]
            school_cap = max(0, _school_cap(o, w) - held.get((s.id, o.id), 0))
            feasible = (
                r.needed > 0 and o.type in r.wanted_types and r.year_mask & o.year_mask
                and max(r.starts_on, o.starts_on) <= min(r.ends_on, o.ends_on) and min(r.ends_on, o.ends_on) >= TODAY
                and o.delivery in r.deliveries and (o.area_id == r.area_id or o.open_to_all_areas)
                and (o.delivery == "virtual" or (all(miles <= x for x in limits) if miles is not None else not limits))
                and o.left > 0 and school_cap > 0 and (r.id, o.id) not in paired
            )
            if not feasible:
                continue
            fit = w.any_sector_share if not r.sectors else 1.0 if o.sector in r.sectors else 0.0
            closeness = w.virtual_distance_share if miles is None else max(0.0, 1.0 - miles / w.distance_scale_miles)
            value = (_pts(w.base) + _pts(w.sector * fit) + _pts(w.distance * closeness) + request_points
                     - _pts(w.repeat * min(history.get((s.id, o.provider_id), 0), w.repeat_cap)))
            if value > 0:
                pairs[r.id, o.id] = (value, school_cap)
    return pairs


def reference_optimum(inst: Instance) -> int:
    """The best objective (in solver points), from a graph built afresh and solved by networkx's network simplex:
    a (school, offer) node for every pair, one node per load tier."""
    pairs = reference_pairs(inst)
    requests = {r.id: r for r in inst.requests}
    offers = {o.id: o for o in inst.offers}
    g = nx.DiGraph()
    supply = sum(requests[r].needed for r in {r for r, _ in pairs})
    g.add_node("source", demand=-supply)
    g.add_node("sink", demand=supply)
    g.add_edge("source", "sink", capacity=supply, weight=0)
    for (rid, oid), (value, school_cap) in pairs.items():
        r, o = requests[rid], offers[oid]
        g.add_edge("source", ("r", rid), capacity=r.needed, weight=0)
        g.add_edge(("r", rid), ("so", r.school_id, oid), capacity=min(r.needed, o.left), weight=-value)
        g.add_edge(("so", r.school_id, oid), ("o", oid), capacity=school_cap, weight=0)
        g.add_edge(("o", oid), ("p", o.provider_id), capacity=o.left, weight=0)
    for pid in {offers[oid].provider_id for _, oid in pairs}:
        load = sum(o.allocated for o in inst.offers if o.provider_id == pid)
        lower = 0
        for k, (upto, cost) in enumerate(inst.weights.load_tiers):
            upper = supply if upto is None else upto
            cap = supply if upto is None else max(0, upper - max(load, lower))
            if cap:
                g.add_edge(("p", pid), ("tier", pid, k), capacity=cap, weight=_pts(cost))
                g.add_edge(("tier", pid, k), "sink", capacity=cap, weight=0)
            lower = upper
    cost, _ = nx.network_simplex(g)
    return -cost


def check_capacities(inst: Instance, result: Result) -> None:
    requests = {r.id: r for r in inst.requests}
    offers = {o.id: o for o in inst.offers}
    feasible = reference_pairs(inst)
    per_offer, per_request, per_school_offer = {}, {}, {}
    for p in result.proposals:
        assert p.allocation > 0 and (p.request_id, p.offer_id) in feasible
        per_offer[p.offer_id] = per_offer.get(p.offer_id, 0) + p.allocation
        per_request[p.request_id] = per_request.get(p.request_id, 0) + p.allocation
        key = requests[p.request_id].school_id, p.offer_id
        per_school_offer[key] = per_school_offer.get(key, 0) + p.allocation
    assert all(units <= offers[o].left for o, units in per_offer.items())
    assert all(units <= requests[r].needed for r, units in per_request.items())
    for (sid, oid), units in per_school_offer.items():
        rid = next(p.request_id for p in result.proposals if p.offer_id == oid
                   and requests[p.request_id].school_id == sid)
        assert units <= feasible[rid, oid][1]
    for r in inst.requests:
        mine = [p for p in result.proposals if p.request_id == r.id]
        if r.keep_together:
            assert not mine or (len(mine) == 1 and mine[0].allocation == r.needed)
    short = {u.request_id: u for u in result.unmatched}
    for r in inst.requests:
        if r.needed and per_request.get(r.id, 0) < r.needed:
            assert short[r.id].reasons and short[r.id].placed == per_request.get(r.id, 0)
        else:
            assert r.id not in short
    assert result.totals.units_placed == sum(per_offer.values())


@PROPERTY
@given(instances())
def test_capacities_are_never_exceeded_and_groups_never_split(inst):
    check_capacities(inst, solve(inst))


@PROPERTY
@given(instances(keep_together=False))
def test_the_assignment_is_optimal_against_an_independent_solver(inst):
    result = solve(inst)
    check_capacities(inst, result)
    assert round(result.totals.objective * SCALE) == reference_optimum(inst)
    assert result.totals.pairs == len(reference_pairs(inst))
