"""The internship rota engine (portal/matching/rota.py): its rules, and its optimum against an independent
brute-force exact solver on hundreds of small random instances."""
import functools
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal import geo
from portal.matching import rota
from portal.matching.rota import RotaIntern, RotaOffer

PROPERTY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Around Preston: 0.1 degree of latitude is about 7 miles.
LAT, LON = 53.76, -2.70


def intern(id_, dlat=0.0, dlon=0.0, miles=20, neet=0, sectors=(), ref=None):
    return RotaIntern(id=id_, reference=ref or f"I{id_:08d}", latitude=LAT + dlat, longitude=LON + dlon,
                      max_travel_miles=miles, neet_months=neet, sectors=frozenset(sectors))


def offer(id_, provider, dlat=0.0, dlon=0.0, per_week=1, weeks=(1, 2, 3, 4), sector="engineering"):
    return RotaOffer(id=id_, provider_id=provider, provider_name=f"Provider {provider}", sector=sector,
                     latitude=LAT + dlat, longitude=LON + dlon, capacity={w: per_week for w in weeks})


def check_rules(interns, offers, result):
    """Every rule the rota must hold, checked from scratch (distances from portal.geo, not the engine)."""
    by_offer = {o.id: o for o in offers}
    by_intern = {i.id: i for i in interns}
    seen_weeks, seen_providers, load = set(), set(), {}
    for p in result.placements:
        o, i = by_offer[p.offer_id], by_intern[p.intern_id]
        assert p.provider_id == o.provider_id
        assert (p.intern_id, p.week_no) not in seen_weeks, "two placements in one week"
        assert (p.intern_id, p.provider_id) not in seen_providers, "the same provider twice"
        seen_weeks.add((p.intern_id, p.week_no))
        seen_providers.add((p.intern_id, p.provider_id))
        load[o.id, p.week_no] = load.get((o.id, p.week_no), 0) + 1
        assert load[o.id, p.week_no] <= o.capacity.get(p.week_no, 0), "over the week's capacity"
        miles = geo.miles_between(i.latitude, i.longitude, o.latitude, o.longitude)
        assert i.max_travel_miles is None or miles <= i.max_travel_miles + 1e-9, "beyond the travel limit"
    placed = {i.id: sum(1 for p in result.placements if p.intern_id == i.id) for i in interns}
    assert {s.intern_id for s in result.shortfalls} == {k for k, v in placed.items() if v < 4}
    assert result.full == sum(1 for v in placed.values() if v == 4)


# --- the rules on hand-made cases ---------------------------------------------------------------------

def test_four_distinct_providers_each():
    interns = [intern(1), intern(2)]
    offers = [offer(10 + p, p, per_week=2) for p in range(1, 5)]
    result = rota.solve(interns, offers)
    assert result.optimal and result.full == 2 and not result.shortfalls
    for who in (1, 2):
        mine = [p for p in result.placements if p.intern_id == who]
        assert sorted(p.week_no for p in mine) == [1, 2, 3, 4]
        assert len({p.provider_id for p in mine}) == 4
    check_rules(interns, offers, result)


def test_two_offers_of_one_provider_count_as_one_provider():
    interns = [intern(1)]
    offers = [offer(1, 1), offer(2, 1), offer(3, 2), offer(4, 3)]  # offers 1 and 2 are the same provider
    result = rota.solve(interns, offers)
    assert len(result.placements) == 3
    assert len({p.provider_id for p in result.placements}) == 3
    [short] = result.shortfalls
    assert "Fewer than four different providers are within reach (3 within 20 miles)" in " ".join(short.reasons)


def test_weekly_capacity_is_held():
    interns = [intern(k) for k in range(1, 4)]
    offers = [offer(10 + p, p, per_week=1) for p in range(1, 5)]  # four places a week for three interns
    result = rota.solve(interns, offers)
    assert result.full == 3
    check_rules(interns, offers, result)
    tight = [offer(10 + p, p, per_week=1, weeks=(1, 2)) for p in range(1, 5)]  # weeks 3 and 4 closed
    result = rota.solve(interns, tight)
    check_rules(interns, tight, result)
    assert {p.week_no for p in result.placements} == {1, 2}
    assert len(result.placements) == 6  # three interns, four places in each of two weeks... limited by interns


def test_travel_limit_is_the_interns_and_the_offer_limit_does_not_apply():
    far = offer(4, 4, dlat=0.5)  # about 35 miles north
    offers = [offer(1, 1), offer(2, 2), offer(3, 3), far]
    result = rota.solve([intern(1, miles=20)], offers)
    assert 4 not in {p.offer_id for p in result.placements}
    assert result.shortfalls[0].weeks_placed == 3
    result = rota.solve([intern(1, miles=40)], offers)
    assert result.full == 1


def test_unlimited_travel_and_missing_locations():
    offers = [offer(k, k, dlat=k) for k in range(1, 5)]
    assert rota.solve([intern(1, miles=None)], offers).full == 1
    nowhere = RotaIntern(id=1, reference="I1", latitude=None, longitude=None, max_travel_miles=None)
    result = rota.solve([nowhere], offers)
    assert not result.placements
    assert "No town is recorded" in result.shortfalls[0].reasons[0]
    homeless = RotaOffer(id=9, provider_id=9, provider_name="P", sector="x", latitude=None, longitude=None,
                         capacity={1: 5})
    assert not rota.within_reach(intern(1, miles=None), homeless)


def test_full_interns_come_before_more_placements_elsewhere():
    # Three providers reachable by both interns, a fourth only by intern 1: both cannot be full, so intern 1 is.
    interns = [intern(1, miles=30), intern(2, miles=5, neet=24)]
    offers = [offer(1, 1), offer(2, 2), offer(3, 3), offer(4, 4, dlat=0.3)]
    result = rota.solve(interns, offers)
    assert result.full == 1
    assert len([p for p in result.placements if p.intern_id == 1]) == 4
    check_rules(interns, offers, result)


def test_sector_interest_and_longer_neet_win_ties():
    offers = [offer(k, k, sector="health" if k == 1 else "retail", weeks=(1,)) for k in (1, 2)]
    result = rota.solve([intern(1, sectors={"health"})], offers)
    assert [p.offer_id for p in result.placements] == [1]
    assert "sector of interest (health)" in result.placements[0].reasons
    one_place = [offer(1, 1, weeks=(1,))]
    result = rota.solve([intern(1, neet=2), intern(2, neet=14)], one_place)
    assert [p.intern_id for p in result.placements] == [2]


def test_report_when_the_cohort_cannot_be_placed_fully():
    interns = [intern(1, ref="IAAAAAAAA"), intern(2, ref="IBBBBBBBB"), intern(3, dlat=2.0, ref="ICCCCCCCC")]
    offers = [offer(10 + p, p, per_week=1, weeks=(1, 2, 3)) for p in range(1, 5)]  # nothing in week 4
    result = rota.solve(interns, offers)
    report = result.report()
    assert "0 of 3 interns have all four weeks placed" in report
    assert "IAAAAAAAA: 3 of 4 weeks placed. Week 4: no offer within 20 miles is available that week." in report
    assert "ICCCCCCCC: 0 of 4 weeks placed." in report
    assert "Fewer than four different providers are within reach (0 within 20 miles)" in report

    crowded = [intern(k) for k in range(1, 6)]
    offers = [offer(10 + p, p, per_week=1) for p in range(1, 5)]  # four places a week, five interns
    result = rota.solve(crowded, offers)
    assert result.full == 4
    [short] = result.shortfalls
    assert short.weeks_placed == 0
    assert all("taken by other interns" in r for r in short.reasons)
    assert len(short.reasons) == 4


def test_deterministic():
    interns = [intern(k, dlat=0.01 * k, neet=k % 3) for k in range(1, 9)]
    offers = [offer(10 + p, p, dlon=0.02 * p, per_week=2, sector=("health", "retail")[p % 2]) for p in range(1, 7)]
    first = rota.solve(interns, offers)
    for _ in range(3):
        assert rota.solve(list(reversed(interns)), list(reversed(offers))) == first


def test_bad_input_is_refused():
    with pytest.raises(rota.RotaError):
        rota.solve([intern(1), intern(1)], [])
    with pytest.raises(rota.RotaError):
        rota.solve([intern(1)], [RotaOffer(1, 1, "P", "x", LAT, LON, capacity={5: 1})])


# --- the optimum against a brute-force exact solver -----------------------------------------------------

def brute_force(interns, offers) -> tuple[int, int, int]:
    """The best (interns fully placed, placements, fit) by trying every rota: each intern in turn takes any
    assignment of weeks to reachable offers at distinct providers, memoised on the capacity left."""
    weeks = (1, 2, 3, 4)
    slots = [(o, w) for o in offers for w in weeks]
    start = tuple(o.capacity.get(w, 0) for o, w in slots)
    index = {(o.id, w): k for k, (o, w) in enumerate(slots)}

    def assignments(person):
        reach = [o for o in offers if rota.within_reach(person, o)]
        for choice in itertools.product([None, *reach], repeat=4):
            picked = [o for o in choice if o is not None]
            if len({o.provider_id for o in picked}) != len(picked):
                continue
            yield [(o, w) for o, w in zip(choice, weeks, strict=True) if o is not None]

    options = [list(assignments(person)) for person in interns]

    @functools.cache
    def best(k: int, left: tuple[int, ...]) -> tuple[int, int, int]:
        if k == len(interns):
            return (0, 0, 0)
        top = None
        for plan in options[k]:
            room = list(left)
            ok = True
            for o, w in plan:
                room[index[o.id, w]] -= 1
                ok = ok and room[index[o.id, w]] >= 0
            if not ok:
                continue
            rest = best(k + 1, tuple(room))
            fit = sum(rota.fit_points(interns[k], o) for o, _w in plan)
            key = (rest[0] + (len(plan) == 4), rest[1] + len(plan), rest[2] + fit)
            top = key if top is None or key > top else top
        return top

    return best(0, start)


@st.composite
def instances(draw):
    n_interns = draw(st.integers(1, 3))
    n_offers = draw(st.integers(1, 5))
    n_providers = draw(st.integers(1, n_offers))
    sectors = ("health", "retail", "digital")
    interns = [
        RotaIntern(id=k, reference=f"I{k}", latitude=LAT + draw(st.floats(-0.3, 0.3)),
                   longitude=LON + draw(st.floats(-0.4, 0.4)),
                   max_travel_miles=draw(st.one_of(st.none(), st.integers(0, 40))),
                   neet_months=draw(st.integers(0, 30)),
                   sectors=frozenset(draw(st.sets(st.sampled_from(sectors), max_size=2))))
        for k in range(1, n_interns + 1)
    ]
    offers = [
        RotaOffer(id=100 + k, provider_id=draw(st.integers(1, n_providers)), provider_name="P",
                  sector=draw(st.sampled_from(sectors)), latitude=LAT + draw(st.floats(-0.3, 0.3)),
                  longitude=LON + draw(st.floats(-0.4, 0.4)),
                  capacity=draw(st.dictionaries(st.sampled_from((1, 2, 3, 4)), st.integers(0, 2))))
        for k in range(n_offers)
    ]
    return interns, offers


@PROPERTY
@given(instances())
def test_optimum_matches_brute_force(instance):
    interns, offers = instance
    result = rota.solve(interns, offers)
    assert result.optimal
    check_rules(interns, offers, result)
    assert result.fit == sum(rota.fit_points(next(i for i in interns if i.id == p.intern_id),
                                             next(o for o in offers if o.id == p.offer_id))
                             for p in result.placements)
    assert result.key == brute_force(interns, offers)


def random_cohort(seed: int, n: int, m: int):
    import random

    rng = random.Random(seed)
    interns = [RotaIntern(k, f"I{k}", LAT + rng.uniform(-.3, .3), LON + rng.uniform(-.4, .4),
                          rng.choice([5, 10, 15, 20]), rng.randint(0, 30),
                          frozenset(rng.sample(["health", "retail", "digital"], rng.randint(0, 2))))
               for k in range(n)]
    offers = [RotaOffer(1000 + k, rng.randint(1, m * 2 // 3), "P", rng.choice(["health", "retail", "digital"]),
                        LAT + rng.uniform(-.3, .3), LON + rng.uniform(-.4, .4),
                        {w: rng.randint(0, 2) for w in (1, 2, 3, 4)})
              for k in range(m)]
    return interns, offers


def test_a_large_cohort_is_solved_to_a_proven_optimum():
    interns, offers = random_cohort(1, 60, 80)
    result = rota.solve(interns, offers)
    assert result.optimal
    check_rules(interns, offers, result)
    assert result.full > 40


def test_a_rota_not_proven_optimal_says_so():
    interns, offers = random_cohort(2, 150, 200)
    result = rota.solve(interns, offers, time_limit=0.01)
    assert not result.optimal
    check_rules(interns, offers, result)
    assert f"status: {result.status}" in result.report()
