"""A region of pupils with four years of encounters, for the progress pages' benchmark (bench/progress.py).

Deterministic (one seeded random generator; dates relative to `today`). Rows go in with bulk inserts
(executemany of dicts, batched; ids given here), never the ORM per row. At full size:

- one area; 50 secondary schools with 90,000 pupils on roll in Years 7–11 (school 1 has exactly 1,800:
  360 per year group), plus the three previous Year 11 cohorts as leavers (status "left");
- 600 providers, 2,000 offers (500 per academic year; 4% of a type that does not count toward the target);
- 20,000 sessions over four academic years (the current one up to yesterday): a match in status "recorded"
  with its request and its SessionRecord (85% meaningful: all four Gatsby criteria ticked);
- ~600,000 register entries: 5–55 pupils per session from one or two year groups of its school, 92% attended,
  with the denormalised fields as services/counting.py sets them (`counted` = attended, meaningful, of a type
  that counts, Year 7 or above);
- a careers lead at school 1, a coordinator of the area and a provider user.

The kept totals (Pupil.contacts / last_contact_on, PupilYearCount, and the overview's SchoolTotal and
SchoolYearTotal) are left empty by `build`; `fill_totals` fills them with counting.recount_area. `Expected` holds
totals computed while generating, to check the pupils' totals; the schools' are checked against grouped queries
over every pupil and register entry.
"""
import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import Integer, cast, func, insert, select, text

from portal.catalogue import OFFER_TYPES
from portal.extensions import db
from portal.models import Area, Match, Offer, Organisation, SchoolRequest, SchoolTotal, SchoolYearTotal, User, utcnow
from portal.models.pupils import Pupil, PupilYearCount
from portal.models.registers import RegisterEntry, SessionRecord
from portal.models.users import coordinator_areas
from portal.models.year_groups import to_mask
from portal.services import counting

SEED = 20261122
CENTRE = (53.79, -2.25)  # where the bench borough's places are scattered around (Burnley)
PASSWORD_HASH = "scrypt:32768:8:1$bench$not-a-real-hash"
LEAD_EMAIL = "lead@progress.bench.example"
COORDINATOR_EMAIL = "coordinator@progress.bench.example"
PROVIDER_EMAIL = "provider@progress.bench.example"
BATCH = 10_000
YEARS = range(7, 12)  # secondary year groups on roll
HISTORY_YEARS = 4  # academic years of sessions, the current one included
COUNTING_TYPES = [code for code, kind in OFFER_TYPES.items() if kind.counts_toward_target and kind.phases
                  and code != "primary_kit"]
NOT_COUNTING_TYPE = "enterprise_adviser"
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass
class Expected:
    """Totals the generator knows, to check the kept totals against."""

    contacts: int = 0  # sum of Pupil.contacts over every pupil
    pupils_at_target: int = 0  # pupils with contacts >= 4
    year_rows: int = 0  # PupilYearCount rows (pupil-years with at least one attended session)
    year_contacts: int = 0  # sum of PupilYearCount.contacts
    year_attended: int = 0  # sum of PupilYearCount.attended
    last_contact_sum: int = 0  # sum of last_contact_on as ordinals, over pupils with one


@dataclass
class Region:
    area_id: int
    schools: int
    pupils_on_roll: int
    leavers: int
    providers: int
    offers: int
    sessions: int
    entries: int
    lead_id: int
    coordinator_id: int
    provider_user_id: int
    school_id: int  # the careers lead's school
    school_pupils: int
    provider_id: int  # the provider user's organisation
    expected: Expected = field(default_factory=Expected)


def _batched(session, table, rows: list[dict]) -> None:
    for start in range(0, len(rows), BATCH):
        session.execute(insert(table), rows[start:start + BATCH])


def _weekday_between(rng: random.Random, first: date, last: date) -> date:
    day = first + timedelta(days=rng.randrange((last - first).days + 1))
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return max(day, first)


def _school_sizes(rng: random.Random, schools: int, pupils: int, lead_school_pupils: int) -> list[int]:
    """Pupils on roll per school (a multiple of 5, one year group in five each); school 1 gets exactly
    `lead_school_pupils`, the rest share the remainder unevenly."""
    others = schools - 1
    weights = [rng.uniform(0.55, 1.45) for _ in range(others)]
    remainder = pupils - lead_school_pupils
    sizes = [int(remainder * w / sum(weights)) // 5 * 5 for w in weights]
    sizes[-1] += remainder - sum(sizes)
    return [lead_school_pupils, *sizes]


def build(*, schools: int = 50, pupils: int = 90_000, lead_school_pupils: int = 1_800, providers: int = 600,
          offers_per_year: int = 500, sessions: int = 20_000, seed: int = SEED,
          today: date | None = None) -> Region:
    """Fill an empty database (schema already created); commits once. Kept totals are not filled here."""
    rng = random.Random(seed)
    today = today or date.today()
    now = utcnow()
    session = db.session
    current = counting.current_academic_year(today)
    years = [current - back for back in range(HISTORY_YEARS - 1, -1, -1)]  # oldest first

    area_id = 1
    session.execute(insert(Area), [{"id": area_id, "name": "Bench Borough"}])

    # Providers, then schools (ids follow on), each somewhere in a borough ~35 miles by ~25 (its own random stream,
    # so the rest of the region is what it was before they had places): browsing then sorts nearest first, as it does
    # for any school with a postcode.
    place = random.Random(seed + 1)

    def spot() -> dict:
        return {"latitude": round(CENTRE[0] + place.uniform(-0.18, 0.18), 5),
                "longitude": round(CENTRE[1] + place.uniform(-0.42, 0.42), 5)}

    provider_rows = [{
        "id": n + 1, "kind": "provider", "name": f"Bench Provider {n + 1}", "area_id": area_id,
        "status": "verified", "provider_kind": "employer", "size_band": rng.choice(["small", "medium", "large"]),
        "created_at": now, "updated_at": now, "version": 1, **spot(),
    } for n in range(providers)]
    _batched(session, Organisation, provider_rows)
    sizes = _school_sizes(rng, schools, pupils, lead_school_pupils)
    school_ids = [providers + n + 1 for n in range(schools)]
    _batched(session, Organisation, [{
        "id": school_id, "kind": "school", "name": f"Bench School {n + 1}", "area_id": area_id,
        "status": "verified", "urn": f"{700000 + n:06d}", "phase": "secondary", "names_opt_in": n == 0,
        "created_at": now, "updated_at": now, "version": 1, **spot(),
    } for n, school_id in enumerate(school_ids)])

    # Pupils. cohort v = the year group a pupil is in now, or would be (12–14: left after Year 11 one to three
    # years ago). In academic year y their year group was v - (current - y).
    pupil_rows = []
    by_cohort: dict[tuple[int, int], list[int]] = {}
    references: set[str] = set()
    pupil_id = 0
    leavers = 0
    for n, school_id in enumerate(school_ids):
        per_year = sizes[n] // 5
        for cohort in range(7, 11 + HISTORY_YEARS):
            ids = []  # leaver cohorts are the size of a year group too
            for _ in range(per_year + (sizes[n] - per_year * 5 if cohort == 11 else 0)):
                pupil_id += 1
                while True:
                    reference = "".join(rng.choices(REFERENCE_ALPHABET, k=9))
                    if reference not in references:
                        references.add(reference)
                        break
                left = cohort > 11
                leavers += left
                pupil_rows.append({
                    "id": pupil_id, "school_id": school_id, "reference": reference,
                    "identifier_hash": hashlib.sha256(f"{school_id}:{pupil_id}".encode()).hexdigest(),
                    "year_group": min(cohort, 11), "form_group": f"{min(cohort, 11)}{rng.choice('ABCDEF')}",
                    "display_name": f"Pupil {pupil_id}" if n == 0 else None,
                    "disadvantaged": rng.random() < 0.25, "send": rng.random() < 0.12,
                    "at_risk": rng.random() < 0.08,
                    "status": "left" if left else "on_roll",
                    "left_on": date(current - (cohort - 11) + 1, 7, 20) if left else None,
                    "destination": rng.choice(["eet", "eet", "eet", "neet", "not_known"]) if left else None,
                    "contacts": 0, "last_contact_on": None,
                    "created_at": now, "updated_at": now, "version": 1,
                })
                ids.append(pupil_id)
            by_cohort[(school_id, cohort)] = ids
    _batched(session, Pupil, pupil_rows)
    on_roll = pupil_id - leavers
    del pupil_rows, references

    # Offers: a pool per academic year, valid over that year.
    offer_rows = []
    pools: dict[int, list[dict]] = {}
    for year in years:
        first, last = counting.academic_year_bounds(year)
        pool = []
        for _ in range(offers_per_year):
            code = NOT_COUNTING_TYPE if rng.random() < 0.04 else rng.choice(COUNTING_TYPES)
            row = {
                "id": len(offer_rows) + 1, "provider_id": rng.randint(1, providers), "area_id": area_id,
                "type": code, "title": f"{OFFER_TYPES[code].label} {len(offer_rows) + 1}", "description": "",
                "sector": "engineering", "delivery": str(OFFER_TYPES[code].default_delivery),
                "status": "published" if year == current else "closed", "open_to_all_areas": False,
                "auto_approve": False, "auto_approve_delay_days": 0,
                "sessions": 50, "per_session": 60, "capacity": 3000, "allocated": 0,
                "starts_on": first, "ends_on": last, "year_mask": to_mask(YEARS),
                "supervised_throughout": True, "risk_assessment_done": True, "liability_insurance": True,
                "safeguarding_contact": "Safeguarding lead", "placement_days": 5, "mentoring_sessions": 6,
                "virtual_link_note": "Emailed after confirmation", "apprenticeship_standard": None,
                "created_at": now, "updated_at": now, "version": 1,
                "published_at": datetime.combine(first, time(9)) - timedelta(days=30),
            }
            offer_rows.append(row)
            pool.append(row)
        pools[year] = pool
    _batched(session, Offer, offer_rows)

    # Sessions per academic year in proportion to the part of the year that has passed.
    yesterday = today - timedelta(days=1)
    spans = {}
    for year in years:
        first, last = counting.academic_year_bounds(year)
        last = min(last, yesterday)
        spans[year] = (first, last, max((last - first).days, 1))
    total_days = sum(span[2] for span in spans.values())
    per_year = {year: round(sessions * spans[year][2] / total_days) for year in years}
    per_year[years[0]] += sessions - sum(per_year.values())
    school_weights = sizes

    request_rows, match_rows, record_rows, entry_rows = [], [], [], []
    expected = Expected()
    contacts: dict[int, int] = {}
    last_contact: dict[int, date] = {}
    year_counts: dict[tuple[int, int], list[int]] = {}  # (pupil, year) -> [contacts, attended]
    provider_sessions: dict[int, int] = {}
    match_id = 0
    for year in years:
        first, last, _ = spans[year]
        for _ in range(per_year[year]):
            match_id += 1
            school_index = rng.choices(range(schools), weights=school_weights)[0]
            school_id = school_ids[school_index]
            offer = rng.choice(pools[year])
            held_on = _weekday_between(rng, first, last)
            groups = sorted(rng.sample(list(YEARS), k=rng.choice([1, 1, 1, 2])))
            eligible = [p for g in groups for p in by_cohort[(school_id, g + current - year)]]
            chosen = rng.sample(eligible, k=min(len(eligible), rng.randint(5, 55)))
            meaningful = rng.random() < 0.85
            missing = None if meaningful else rng.choice(
                ["purpose_shared", "learning_outcomes", "two_way", "time_to_reflect"])
            counts_type = OFFER_TYPES[offer["type"]].counts_toward_target
            provider_sessions[offer["provider_id"]] = provider_sessions.get(offer["provider_id"], 0) + 1
            request_rows.append({
                "id": match_id, "school_id": school_id, "area_id": area_id, "title": f"Request {match_id}",
                "wanted_types": [offer["type"]], "sectors": [], "year_mask": to_mask(groups),
                "pupils": len(chosen), "starts_on": first, "ends_on": counting.academic_year_bounds(year)[1],
                "deliveries": [], "keep_together": False, "priority": "none", "status": "fulfilled",
                "created_at": now, "updated_at": now, "version": 1,
            })
            starts_at = datetime.combine(held_on, time(10))
            match_rows.append({
                "id": match_id, "offer_id": offer["id"], "request_id": match_id, "area_id": area_id,
                "allocation": len(chosen), "status": "recorded", "origin": "school_asked",
                "created_at": now, "updated_at": now, "session_starts_at": starts_at, "session_minutes": 60,
                "delivery_confirmed_at": starts_at + timedelta(hours=3),
            })
            record = {"match_id": match_id, "held_on": held_on, "reflections": None,
                      "recorded_at": now, "updated_at": now}
            for criterion in ("purpose_shared", "learning_outcomes", "two_way", "time_to_reflect"):
                record[criterion] = criterion != missing
            record_rows.append(record)
            for pupil in chosen:
                year_group = _cohort_of(pupil, school_id, by_cohort, groups, current, year)
                attended = rng.random() < 0.92
                counted = attended and meaningful and counts_type and year_group >= counting.FIRST_COUNTED_YEAR
                entry_rows.append({
                    "id": len(entry_rows) + 1, "match_id": match_id, "pupil_id": pupil, "school_id": school_id,
                    "provider_id": offer["provider_id"], "year_group": year_group, "attended": attended,
                    "held_on": held_on, "academic_year": year, "counted": counted, "created_at": now,
                })
                if attended:
                    tally = year_counts.setdefault((pupil, year), [0, 0])
                    tally[1] += 1
                    if counted:
                        tally[0] += 1
                        contacts[pupil] = contacts.get(pupil, 0) + 1
                        if held_on > last_contact.get(pupil, date.min):
                            last_contact[pupil] = held_on
    _batched(session, SchoolRequest, request_rows)
    _batched(session, Match, match_rows)
    _batched(session, SessionRecord, record_rows)
    _batched(session, RegisterEntry, entry_rows)
    entries = len(entry_rows)
    del request_rows, match_rows, record_rows, entry_rows

    expected.contacts = sum(contacts.values())
    expected.pupils_at_target = sum(1 for c in contacts.values() if c >= 4)
    expected.year_rows = len(year_counts)
    expected.year_contacts = sum(t[0] for t in year_counts.values())
    expected.year_attended = sum(t[1] for t in year_counts.values())
    expected.last_contact_sum = sum(d.toordinal() for d in last_contact.values())

    # The provider user belongs to the provider with the most sessions (a busy one, for the impact page).
    busiest = max(sorted(provider_sessions), key=provider_sessions.__getitem__)
    session.execute(insert(User), [
        {"id": 1, "email": LEAD_EMAIL, "name": "Bench Lead", "password_hash": PASSWORD_HASH, "role": "careers_lead",
         "status": "active", "organisation_id": school_ids[0], "email_confirmed_at": now, "created_at": now},
        {"id": 2, "email": COORDINATOR_EMAIL, "name": "Bench Coordinator", "password_hash": PASSWORD_HASH,
         "role": "coordinator", "status": "active", "organisation_id": None, "email_confirmed_at": now,
         "created_at": now},
        {"id": 3, "email": PROVIDER_EMAIL, "name": "Bench Provider User", "password_hash": PASSWORD_HASH,
         "role": "provider", "status": "active", "organisation_id": busiest, "email_confirmed_at": now,
         "created_at": now},
    ])
    session.execute(insert(coordinator_areas), [{"user_id": 2, "area_id": area_id}])
    _advance_sequences(session)
    session.commit()
    return Region(area_id=area_id, schools=schools, pupils_on_roll=on_roll, leavers=leavers, providers=providers,
                  offers=len(offer_rows), sessions=match_id, entries=entries, lead_id=1, coordinator_id=2,
                  provider_user_id=3, school_id=school_ids[0], school_pupils=sizes[0], provider_id=busiest,
                  expected=expected)


def _cohort_of(pupil: int, school_id: int, by_cohort, groups, current: int, year: int) -> int:
    """The year group, in `year`, of a pupil chosen from one of `groups` (then) at the school."""
    for group in groups:
        ids = by_cohort[(school_id, group + current - year)]
        if ids[0] <= pupil <= ids[-1]:
            return group
    raise AssertionError("pupil not in the chosen year groups")


def _advance_sequences(session) -> None:
    """Ids were given here; on PostgreSQL move each sequence past them so later inserts do not collide."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for table in ("areas", "organisations", "pupils", "offers", "school_requests", "matches",
                  "register_entries", "users"):
        session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                             f"(SELECT coalesce(max(id), 1) FROM {table}))"))


def fill_totals(area_id: int) -> str:
    """Fill the kept totals for the area (the pupils' and the schools' of the overview); returns how."""
    counting.recount_area(db.session.get(Area, area_id))
    db.session.commit()
    return "counting.recount_area"


def check_totals(region: Region) -> list[str]:
    """Compare the kept totals with what the generator expects; returns the differences (empty when equal)."""
    session = db.session
    found = Expected(
        contacts=session.scalar(select(func.coalesce(func.sum(Pupil.contacts), 0))),
        pupils_at_target=session.scalar(select(func.count()).where(Pupil.contacts >= 4)),
        year_rows=session.scalar(select(func.count()).select_from(PupilYearCount)),
        year_contacts=session.scalar(select(func.coalesce(func.sum(PupilYearCount.contacts), 0))),
        year_attended=session.scalar(select(func.coalesce(func.sum(PupilYearCount.attended), 0))),
        last_contact_sum=sum(d.toordinal() for d in session.scalars(
            select(Pupil.last_contact_on).where(Pupil.last_contact_on.is_not(None)))),
    )
    wanted = region.expected
    return [f"{name}: expected {getattr(wanted, name)}, found {getattr(found, name)}"
            for name in wanted.__dataclass_fields__ if getattr(wanted, name) != getattr(found, name)
            ] + _check_school_totals(region.area_id)


def _check_school_totals(area_id: int) -> list[str]:
    """Compare the overview's kept per-school totals with grouped queries over every pupil and register entry."""
    session = db.session
    target = session.get(Area, area_id).contact_target
    schools = select(Organisation.id).where(Organisation.area_id == area_id, Organisation.kind == "school")
    on_roll = (Pupil.school_id.in_(schools), Pupil.status == "on_roll")
    at_target = Pupil.contacts >= target
    fresh_groups = {(s, y): (n, int(t), int(r), int(rt)) for s, y, n, t, r, rt in session.execute(
        select(Pupil.school_id, Pupil.year_group, func.count(), func.sum(cast(at_target, Integer)),
               func.sum(cast(Pupil.at_risk, Integer)), func.sum(cast(at_target & Pupil.at_risk, Integer)))
        .where(*on_roll).group_by(Pupil.school_id, Pupil.year_group))}
    fresh_years: dict[tuple[int, int], list[int]] = {}
    for school_id, year, n in session.execute(  # the bench's schools are secondary: one contact a year for B5
            select(Pupil.school_id, PupilYearCount.academic_year, func.count())
            .join(PupilYearCount, PupilYearCount.pupil_id == Pupil.id)
            .where(*on_roll, PupilYearCount.contacts >= 1).group_by(Pupil.school_id, PupilYearCount.academic_year)):
        fresh_years.setdefault((school_id, year), [0, 0])[0] = n
    for school_id, year, n in session.execute(
            select(RegisterEntry.school_id, RegisterEntry.academic_year,
                   func.count(func.distinct(RegisterEntry.provider_id)))
            .where(RegisterEntry.school_id.in_(schools), RegisterEntry.attended.is_(True))
            .group_by(RegisterEntry.school_id, RegisterEntry.academic_year)):
        fresh_years.setdefault((school_id, year), [0, 0])[1] = n
    kept_groups = {(r.school_id, r.year_group): (r.pupils, r.at_target, r.at_risk, r.at_risk_at_target)
                   for r in session.scalars(select(SchoolTotal).where(SchoolTotal.school_id.in_(schools)))}
    kept_years = {(r.school_id, r.academic_year): [r.b5_met, r.providers]
                  for r in session.scalars(select(SchoolYearTotal).where(SchoolYearTotal.school_id.in_(schools)))}
    problems = []
    if kept_groups != fresh_groups:
        problems.append(f"school totals per year group: {len(set(kept_groups.items()) ^ set(fresh_groups.items()))}"
                        " rows differ from a fresh count")
    if kept_years != fresh_years:
        problems.append(f"school totals per academic year: {len(kept_years)} kept, {len(fresh_years)} counted, "
                        "differing from a fresh count")
    return problems

