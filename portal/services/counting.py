"""Counting toward four: the one owner of the counting rules (product.md, "Counting toward four").

Every page and report asks this module; none counts for itself.

- A contact is a pupil's attendance at a delivered session of a type that counts toward the target
  (catalogue.OfferType.counts_toward_target) that the careers lead recorded as meaningful (all four Gatsby
  criteria). Attendance at a non-meaningful session is shown, not counted.
- Counts are kept per academic year (1 September – 31 August, named by the year it starts in) and
  cumulatively from Year 7: sessions attended in a primary year group (Reception–Year 6) are not counted
  toward the secondary target.
- Target: the area's contact_target (default 4). With the area's "distinct providers" setting, repeat
  contacts with one provider count once (cumulatively once overall; in a year once that year).
- Benchmark 5: at least one contact this academic year; two for a college's students.

The totals on Pupil (contacts, last_contact_on) and PupilYearCount are kept here from the register entries,
whenever a register is recorded or corrected, or an area's rules change. So are the per-school totals the
coordinator's overview reads (SchoolTotal, SchoolYearTotal: refresh_schools), whenever a school's pupils,
their totals or its registers change: explicitly after the set-based statements here and in services/pupils.py,
and, for changes made through ORM objects (a pupil added, edited or marked as left by hand), by noting the
schools at each flush and refreshing them just before the transaction commits. A register recorded or corrected
refreshes only the rows it can change: its pupils' year groups and the session's academic year(s)
(refresh_pupils(academic_years=...)); everything else refreshes the whole school.
"""
import functools
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    case,
    cast,
    delete,
    distinct,
    event,
    exists,
    extract,
    false,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from portal.catalogue import OFFER_TYPES
from portal.extensions import db
from portal.models import (
    Area,
    Match,
    Offer,
    Organisation,
    Pupil,
    PupilStatus,
    PupilYearCount,
    RegisterEntry,
    SchoolTotal,
    SchoolYearTotal,
    SessionRecord,
)
from portal.services.sql_lists import in_list
from portal.vocab import PHASE_YEARS

FIRST_COUNTED_YEAR = 7  # counting toward the target starts in Year 7
COLLEGE_PHASE = "college"


FIRST_MONTH = 9  # an academic year runs from 1 September


def academic_year(on: date) -> int:
    """The academic year a date falls in, named by the calendar year it starts in: 2025-09-01 → 2025."""
    return on.year if on.month >= FIRST_MONTH else on.year - 1


def academic_year_sql(on):
    """academic_year as SQL over a date column."""
    return cast(extract("year", on), Integer) - case((extract("month", on) < FIRST_MONTH, 1), else_=0)


def current_academic_year(today: date | None = None) -> int:
    return academic_year(today or date.today())


def academic_year_label(year: int) -> str:
    """2025 → '2025/26'."""
    return f"{year}/{(year + 1) % 100:02d}"


def academic_year_bounds(year: int) -> tuple[date, date]:
    return date(year, 9, 1), date(year + 1, 8, 31)


def target_applies(phase: str | None) -> bool:
    """Whether a school of this phase teaches any year counted toward the target (Year 7 on). A primary school
    does not: its encounters are primary reach (kits and primary sessions), reported apart."""
    years = PHASE_YEARS.get(phase or "")
    return years is None or max(years) >= FIRST_COUNTED_YEAR


def benchmark5_required(school: Organisation) -> int:
    """Meaningful encounters a pupil needs this academic year for Benchmark 5: two in colleges, else one."""
    return 2 if school.phase == COLLEGE_PHASE else 1


def target(area: Area) -> int:
    return area.contact_target


def buckets(area: Area) -> list[int]:
    """The progress buckets for an area: 0, 1, …, target − 1 and then target-or-more (the last one)."""
    return list(range(target(area) + 1))


def bucket_label(bucket: int, area: Area) -> str:
    return f"{bucket}+" if bucket >= target(area) else str(bucket)


_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def target_text(area: Area) -> str:
    """The area's target in running text ("counted toward four"): a word up to ten, as product.md writes it,
    then a numeral. Tables and headings use bucket_label ("4+"), which reads wrongly inside a sentence."""
    n = target(area)
    return _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)


def who_to_send_order():
    """'Who to send' (product.md): furthest from the target first, at-risk and disadvantaged pupils before
    others, then the longest since their last contact (never contacted first); the reference breaks ties so
    the order is stable. An ORDER BY for a select over Pupil."""
    return (Pupil.contacts.asc(), Pupil.at_risk.desc(), Pupil.disadvantaged.desc(),
            Pupil.last_contact_on.is_(None).desc(), Pupil.last_contact_on.asc(), Pupil.reference.asc())


def benchmark5_met(contacts_this_year: int, school: Organisation) -> bool:
    return contacts_this_year >= benchmark5_required(school)


def benchmark5_required_sql(phase):
    """benchmark5_required as a SQL expression on a school's phase column."""
    return case((phase == COLLEGE_PHASE, 2), else_=1)


def first_year_group(school: Organisation) -> int:
    """The first year group a school teaches, by its phase: Year 7 in a secondary school, Year 12 in a college."""
    return min(PHASE_YEARS.get(school.phase or "", (0,)))


def roll_in_year(school: Organisation, year: int, *, today: date):
    """Which of the school's pupils were on roll in academic year `year`, and in which year group then.

    Returns (conditions, year group), a WHERE clause and a column over Pupil for grouped queries. This academic
    year: the pupils on roll now, in their year group now. An earlier year: the pupils on roll now and those who
    left on or after that year's first day; a pupil on roll was a year lower for each rollover since, and a
    leaver a year lower for each academic year between that one and the one they left in (a leaver's year group
    stays as it was when they left: services/pupils.py's rollover moves only pupils on roll). Pupils who would
    then have been below the school's first year group were not at the school yet, and a leaver without a
    leaving date cannot be placed in an earlier year; both are left out.
    """
    of_school = Pupil.school_id == school.id
    current = current_academic_year(today)
    if year >= current:
        return (of_school, Pupil.status == PupilStatus.ON_ROLL), Pupil.year_group
    left_in = academic_year_sql(Pupil.left_on)
    then = case((Pupil.status == PupilStatus.ON_ROLL, Pupil.year_group - (current - year)),
                else_=Pupil.year_group - (left_in - year))
    on_roll_then = or_(Pupil.status == PupilStatus.ON_ROLL, Pupil.left_on >= academic_year_bounds(year)[0])
    return (of_school, on_roll_then, then >= first_year_group(school)), then


# --- keeping the totals ------------------------------------------------------------------------------------------
# Helpers inside the caller's use case: they add and flush, never commit. Every statement is set-based (an UPDATE
# or INSERT ... SELECT over all the pupils concerned), so the number of statements does not grow with pupils.

_entries = RegisterEntry.__table__
_pupils = Pupil.__table__
_years = PupilYearCount.__table__
_orgs = Organisation.__table__
_areas = Area.__table__
CHUNK = 500  # pupil ids per IN list (well under every driver's parameter limit)


def counts_toward_target(offer_type_code: str) -> bool:
    kind = OFFER_TYPES.get(offer_type_code)
    return bool(kind and kind.counts_toward_target)


def mark_entries(match: Match, attended=None, *, pupil_ids=None) -> list[int]:
    """Set each register entry's held_on, academic_year and counted from the session's record (one UPDATE).

    counted = attended AND the record is meaningful (all four criteria) AND the offer's type counts toward the
    target AND the pupil was in Year 7 or above when sent. `attended`: the pupils who attended, when the caller
    records attendance in the same UPDATE (the others on the register did not); None leaves it as it is. Returns
    the ids of the pupils on the register (`pupil_ids`, when the caller has them already: no query).
    """
    db.session.flush()
    record = db.session.get(SessionRecord, match.id)
    params = {"mark_match": match.id}
    who = "kept" if attended is None else "these" if attended else "nobody"
    if who == "these":
        params["mark_attended"] = sorted(set(attended))
    if record is not None:
        params |= {"mark_held_on": record.held_on, "mark_year": academic_year(record.held_on)}
    counts = bool(record is not None and record.meaningful and counts_toward_target(match.offer.type))
    db.session.execute(_mark_statement(who, record is not None, counts), params)
    _forget(RegisterEntry, lambda entry: entry.match_id == match.id)
    if pupil_ids is not None:
        return sorted(set(pupil_ids))
    return list(db.session.scalars(select(RegisterEntry.pupil_id).where(RegisterEntry.match_id == match.id)))


@functools.cache
def _mark_statement(who: str, recorded: bool, counts: bool):
    """mark_entries' UPDATE of one match's entries (the `mark_match` parameter), built once per shape: `who`
    attended is "kept" (as the entries say), "nobody" or "these" (the `mark_attended` parameter); `recorded`: the
    session has a record (its date in `mark_held_on`, its academic year in `mark_year`); `counts`: it is
    meaningful and of a type that counts toward the target."""
    if who == "kept":
        went = _entries.c.attended.is_(True)
        values = {}
    else:
        went = in_list(_entries.c.pupil_id, "mark_attended") if who == "these" else false()
        values = {"attended": went}
    if not recorded:
        values |= {"held_on": None, "academic_year": None, "counted": False}
    else:
        counted = (case((and_(went, _entries.c.year_group >= FIRST_COUNTED_YEAR), True), else_=False)
                   if counts else False)
        values |= {"held_on": bindparam("mark_held_on", type_=_entries.c.held_on.type),
                   "academic_year": bindparam("mark_year", type_=_entries.c.academic_year.type), "counted": counted}
    return (update(_entries).where(_entries.c.match_id == bindparam("mark_match"), _differs(_entries, values))
            .values(**values))


def _differs(table, values: dict):
    """Only the rows where one of the values would change: an UPDATE that leaves the other rows alone writes no
    page (SQLite) and no row version (PostgreSQL) for them. A correction usually changes one or two pupils of a
    register; setting the same values on the rest was most of what it wrote."""
    return or_(*(table.c[name].is_distinct_from(value) for name, value in values.items()))


def refresh_pupils(pupil_ids, *, academic_years=None, entry_schools=()) -> None:
    """Recompute these pupils' kept totals from their register entries: Pupil.contacts and last_contact_on, and
    their PupilYearCount rows. A handful of set-based statements per CHUNK pupils, never one per pupil. Their
    schools' overview totals (refresh_schools) follow when the transaction commits: the whole schools, or, when
    the caller passes `academic_years`, only what these changes can reach.

    `academic_years` (with `entry_schools`) is the caller's word that the only register entries changed in this
    transaction are these pupils' entries, of the schools `entry_schools`, whose academic year was and is one of
    `academic_years` (a register recorded or corrected: the session's year, before and after). Then only the
    SchoolTotal rows of the pupils' year groups and the SchoolYearTotal rows of those academic years are refreshed
    (a school also noted whole in the transaction is refreshed whole)."""
    ids = sorted(set(pupil_ids))
    for start in range(0, len(ids), CHUNK):
        _refresh(_pupils_refresh(), {"pupil_ids": ids[start:start + CHUNK]})
    _forget_pupils(set(ids))
    # Their schools' overview totals are refreshed once, just before the transaction commits (_refresh_noted).
    if academic_years is None:
        db.session.info.setdefault(_PUPILS_NOTED, set()).update(ids)
    else:
        narrow = db.session.info.setdefault(_NARROW_NOTED, {"pupils": set(), "years": set(), "schools": set()})
        narrow["pupils"].update(ids)
        narrow["years"].update(year for year in academic_years if year is not None)
        narrow["schools"].update(entry_schools)


def recount_area(area: Area) -> None:
    """Recompute the totals of every pupil of the area's schools, after its contact_target or distinct_providers
    setting changed (the same statements as refresh_pupils, over the whole area at once)."""
    school_ids = select(_orgs.c.id).where(_orgs.c.area_id == area.id)
    _refresh(_refresh_statements(_pupils.c.school_id.in_(school_ids)), {})
    _forget_pupils(None)
    _refresh_schools(_school_statements(lambda column: column.in_(school_ids), by_group=False, by_year=False), {})


def _refresh(statements: tuple, params: dict) -> None:
    db.session.flush()
    for statement in statements:
        db.session.execute(statement, params)


@functools.cache
def _pupils_refresh() -> tuple:
    """_refresh_statements for the pupils whose ids are the `pupil_ids` parameter: built once, as every register
    recorded runs them (building and keying them anew cost more than SQLite took to run them). These change only
    the rows whose totals differ (at most CHUNK pupils' at a time, so the per-year rows computed twice are few)."""
    return _refresh_statements(in_list(_pupils.c.id, "pupil_ids"), only_changes=True)


def _refresh_statements(which, *, only_changes: bool = False) -> tuple:
    """The statements that recompute the kept totals of the pupils `which` picks: their contacts and last contact
    (one UPDATE), then their per-year rows (DELETE, and INSERT ... SELECT from the register entries).

    `only_changes`: the UPDATE leaves pupils whose totals are right as they are, the DELETE removes only the
    per-year rows that are wrong or no longer due, and the INSERT adds only the rows then missing (the same result,
    with fewer rows written)."""
    counted = and_(_entries.c.pupil_id == _pupils.c.id, _entries.c.counted.is_(True))
    distinct_rule = (select(_areas.c.distinct_providers)
                     .select_from(_orgs.join(_areas, _orgs.c.area_id == _areas.c.id))
                     .where(_orgs.c.id == _pupils.c.school_id).scalar_subquery())
    every = select(func.count()).select_from(_entries).where(counted).scalar_subquery()
    providers = select(func.count(distinct(_entries.c.provider_id))).select_from(_entries).where(counted)
    last = select(func.max(_entries.c.held_on)).select_from(_entries).where(counted).scalar_subquery()
    values = {"contacts": case((distinct_rule.is_(True), providers.scalar_subquery()), else_=every),
              "last_contact_on": last}
    totals = update(_pupils).where(which, *([_differs(_pupils, values)] if only_changes else [])).values(**values)
    # Per academic year, from one grouped SELECT: a whole recount deletes this set's rows and inserts them again;
    # with only_changes, only the rows that differ from it are deleted and only the missing ones inserted.
    forget_years = delete(_years).where(_years.c.pupil_id.in_(select(_pupils.c.id).where(which)))
    is_counted = _entries.c.counted.is_(True)
    year_providers = func.count(distinct(case((is_counted, _entries.c.provider_id))))
    per_year = (
        select(
            _entries.c.pupil_id,
            _entries.c.academic_year,
            case((_areas.c.distinct_providers.is_(True), year_providers),
                 else_=func.sum(case((is_counted, 1), else_=0))),
            func.count(),
        )
        .select_from(_entries.join(_pupils, _pupils.c.id == _entries.c.pupil_id)
                     .join(_orgs, _orgs.c.id == _pupils.c.school_id).join(_areas, _areas.c.id == _orgs.c.area_id))
        .where(which, _entries.c.attended.is_(True), _entries.c.academic_year.is_not(None))
        .group_by(_entries.c.pupil_id, _entries.c.academic_year, _areas.c.distinct_providers)
    )
    columns = ["pupil_id", "academic_year", "contacts", "attended"]
    if not only_changes:
        return totals, forget_years, insert(_years).from_select(columns, per_year)
    due = per_year.subquery()
    same = select(due.c[0]).where(*(due.c[n] == _years.c[name] for n, name in enumerate(columns)))
    forget_years = forget_years.where(~exists(same))
    missing = select(*due.c).where(~exists().where(_years.c.pupil_id == due.c[0], _years.c.academic_year == due.c[1]))
    return totals, forget_years, insert(_years).from_select(columns, missing)


# --- the per-school totals of the coordinator's overview ---------------------------------------------------------

_school_totals = SchoolTotal.__table__
_school_years = SchoolYearTotal.__table__
_SCHOOLS_NOTED = "encounters_progress_schools"
_PUPILS_NOTED = "encounters_progress_pupils"
_AREAS_NOTED = "encounters_progress_areas"
_NARROW_NOTED = "encounters_progress_narrow"  # refresh_pupils(academic_years=...): pupils, years, entries' schools


def refresh_schools(school_ids, *, session: Session | None = None) -> None:
    """Recompute the SchoolTotal and SchoolYearTotal rows of these schools from their pupils, the pupils'
    kept totals and the register entries (from scratch: whatever changed, the rows equal a fresh count). Seven
    statements per CHUNK schools, whatever the number of pupils."""
    ids = sorted(set(school_ids))
    for start in range(0, len(ids), CHUNK):
        _refresh_schools(_schools_by_id(False, False), {"school_ids": ids[start:start + CHUNK]}, session=session)


@dataclass(frozen=True)
class _SchoolStatements:
    """What _refresh_schools runs for the schools its `which` picked (see _school_statements)."""

    lock: Any
    forget_totals: Any
    totals: Any
    providers_engaged: Any
    benchmark5: Any
    forget_years: Any
    years: Any


def _school_statements(which, *, by_group: bool, by_year: bool) -> _SchoolStatements:
    """The statements of _refresh_schools. `which(column)`: the condition that picks the schools by a school id
    column. `by_group`: only the SchoolTotal rows of the year groups in the `year_groups` parameter; `by_year`:
    only the SchoolYearTotal rows of the academic years in the `academic_years` parameter (the other rows are
    left as they are)."""
    on_roll = and_(which(_pupils.c.school_id), _pupils.c.status == PupilStatus.ON_ROLL.value)
    in_groups = (which(_school_totals.c.school_id),)
    pupils_in_groups = on_roll
    if by_group:
        in_groups += (in_list(_school_totals.c.year_group, "year_groups"),)
        pupils_in_groups = and_(on_roll, in_list(_pupils.c.year_group, "year_groups"))
    at_target = _pupils.c.contacts >= _areas.c.contact_target  # target(area)
    at_risk = _pupils.c.at_risk.is_(True)
    totals = insert(_school_totals).from_select(
        ["school_id", "year_group", "pupils", "at_target", "at_risk", "at_risk_at_target"],
        select(_pupils.c.school_id, _pupils.c.year_group, func.count(),
               func.sum(case((at_target, 1), else_=0)), func.sum(case((at_risk, 1), else_=0)),
               func.sum(case((and_(at_risk, at_target), 1), else_=0)))
        .select_from(_pupils.join(_orgs, _orgs.c.id == _pupils.c.school_id)
                     .join(_areas, _areas.c.id == _orgs.c.area_id))
        .where(pupils_in_groups)
        .group_by(_pupils.c.school_id, _pupils.c.year_group))
    b5 = select(_pupils.c.school_id, _years.c.academic_year, func.count()).select_from(
        _pupils.join(_years, _years.c.pupil_id == _pupils.c.id).join(_orgs, _orgs.c.id == _pupils.c.school_id)
    ).where(on_roll, _years.c.contacts >= benchmark5_required_sql(_orgs.c.phase))
    # A provider is engaged in a year when a pupil attended one of its sessions at the school, meaningful or not.
    engaged = (select(_entries.c.school_id, _entries.c.academic_year, _entries.c.provider_id).distinct()
               .where(which(_entries.c.school_id), _entries.c.attended.is_(True),
                      _entries.c.academic_year.is_not(None)))
    in_school_years = (which(_school_years.c.school_id),)
    if by_year:
        b5 = b5.where(in_list(_years.c.academic_year, "academic_years"))
        engaged = engaged.where(in_list(_entries.c.academic_year, "academic_years"))
        in_school_years += (in_list(_school_years.c.academic_year, "academic_years"),)
    engaged = engaged.subquery()
    return _SchoolStatements(
        lock=_lock_statement(which),
        forget_totals=delete(_school_totals).where(*in_groups),
        totals=totals,
        providers_engaged=select(engaged.c.school_id, engaged.c.academic_year, func.count())
        .group_by(engaged.c.school_id, engaged.c.academic_year),
        benchmark5=b5.group_by(_pupils.c.school_id, _years.c.academic_year),
        forget_years=delete(_school_years).where(*in_school_years),
        years=insert(_school_years),
    )


@functools.cache
def _schools_by_id(by_group: bool, by_year: bool) -> _SchoolStatements:
    """_school_statements for the schools whose ids are the `school_ids` parameter: built once, as every register
    recorded runs them (building and keying them anew cost more than SQLite took to run them)."""
    return _school_statements(lambda column: in_list(column, "school_ids"),
                              by_group=by_group, by_year=by_year)


def _refresh_schools(statements: _SchoolStatements, params: dict, *, session: Session | None = None,
                     totals: bool = True, years: bool = True) -> None:
    """Run _school_statements with these parameters: `totals` False leaves every SchoolTotal row as it is (no year
    group to refresh), `years` False every SchoolYearTotal row."""
    session = session or db.session()
    session.flush()
    session.execute(statements.lock, params)
    if totals:
        session.execute(statements.forget_totals, params)
        session.execute(statements.totals, params)
    if not years:
        _expunge_school_totals(session)
        return
    rows: dict[tuple[int, int], dict] = {}

    def row(school_id: int, year: int) -> dict:
        return rows.setdefault((school_id, year), {"school_id": school_id, "academic_year": year,
                                                   "b5_met": 0, "providers": 0})

    for school_id, year, n in session.execute(statements.benchmark5, params):
        row(school_id, year)["b5_met"] = n
    for school_id, year, n in session.execute(statements.providers_engaged, params):
        row(school_id, year)["providers"] = n
    session.execute(statements.forget_years, params)
    if rows:
        session.execute(statements.years, list(rows.values()))
    _expunge_school_totals(session)


def _lock_statement(which):
    """PostgreSQL: one refresh of a school at a time (two registers of one school recorded at once would otherwise
    both delete and re-insert its rows). Ascending ids, so two refreshes never wait for each other in a circle.
    (SQLite drops FOR UPDATE: the write transaction already holds the database's one write lock.)"""
    return select(_orgs.c.id).where(which(_orgs.c.id)).order_by(_orgs.c.id).with_for_update()


def _expunge_school_totals(session: Session) -> None:
    for obj in list(session.identity_map.values()):
        if isinstance(obj, SchoolTotal | SchoolYearTotal):
            session.expunge(obj)


@event.listens_for(Session, "after_flush")
def _note_schools(session: Session, flush_context) -> None:
    """Note the schools whose overview totals a flush of ORM objects may have changed (no queries)."""
    schools: set[int] = session.info.setdefault(_SCHOOLS_NOTED, set())
    pupils: set[int] = session.info.setdefault(_PUPILS_NOTED, set())
    changed = [(obj, True) for obj in session.new] + [(obj, True) for obj in session.deleted] + \
              [(obj, False) for obj in session.dirty]
    for obj, whole in changed:
        if isinstance(obj, Pupil):
            if whole or _changed(obj, "school_id", "status", "year_group", "at_risk", "contacts"):
                schools.update(_values(obj, "school_id"))
        elif isinstance(obj, PupilYearCount):
            pupils.update(_values(obj, "pupil_id"))
        elif isinstance(obj, RegisterEntry):
            if whole or _changed(obj, "school_id", "provider_id", "attended", "academic_year"):
                schools.update(_values(obj, "school_id"))
        elif isinstance(obj, Organisation) and not whole and _changed(obj, "phase", "area_id"):
            schools.add(obj.id)  # Benchmark 5 needs two in colleges; the target is the area's
        elif isinstance(obj, Area) and not whole and _changed(obj, "contact_target"):
            session.info.setdefault(_AREAS_NOTED, set()).add(obj.id)


def _changed(obj, *names: str) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _values(obj, name: str) -> set[int]:
    """An attribute's value now and before this flush (a pupil moved between schools counts for both)."""
    history = inspect(obj).attrs[name].history
    return {value for value in (*history.added, *history.unchanged, *history.deleted) if value is not None}


@event.listens_for(Session, "before_commit")
def _refresh_noted(session: Session) -> None:
    """Refresh the noted schools' overview totals inside the transaction about to commit."""
    for _ in range(3):  # the refresh itself changes no ORM objects: one pass, a second to be sure
        session.flush()
        schools = session.info.pop(_SCHOOLS_NOTED, set())
        pupils = session.info.pop(_PUPILS_NOTED, set())
        areas = session.info.pop(_AREAS_NOTED, set())
        narrow = session.info.pop(_NARROW_NOTED, None)
        if not schools and not pupils and not areas and not narrow:
            return
        for column, ids in ((_pupils.c.id, sorted(pupils)), (_orgs.c.area_id, sorted(areas))):
            table = column.table
            key = table.c.school_id if table is _pupils else table.c.id
            for start in range(0, len(ids), CHUNK):
                schools.update(session.scalars(select(key).distinct().where(in_list(column, "ids")),
                                               {"ids": ids[start:start + CHUNK]}))
        by_scope: dict[frozenset[int], list[int]] = {}  # the narrow schools, by the year groups to refresh
        for school_id, groups in sorted(_narrow_groups(session, narrow, schools).items() if narrow else ()):
            by_scope.setdefault(frozenset(groups), []).append(school_id)
        if bool(schools) + len(by_scope) > 1:
            # More than one refresh below: lock all their schools first, in ascending order (as _refresh_schools
            # does), so that two transactions never wait for each other in a circle.
            every = sorted(schools.union(*by_scope.values()))
            for start in range(0, len(every), CHUNK):
                session.execute(_schools_by_id(False, False).lock, {"school_ids": every[start:start + CHUNK]})
        refresh_schools(schools, session=session)
        for groups, ids in by_scope.items():
            for start in range(0, len(ids), CHUNK):
                _refresh_schools(_schools_by_id(True, True),
                                 {"school_ids": ids[start:start + CHUNK], "year_groups": sorted(groups),
                                  "academic_years": sorted(narrow["years"])},
                                 session=session, totals=bool(groups), years=bool(narrow["years"]))


def _narrow_groups(session: Session, narrow: dict, whole: set[int]) -> dict[int, set[int]]:
    """The schools of refresh_pupils' narrow notes (the pupils' schools now and the entries' schools), each with
    the year groups its noted pupils are in now; schools refreshed whole anyway are left out. One query per CHUNK
    pupils (the same one the whole refresh asks for its pupils' schools)."""
    groups: dict[int, set[int]] = {}
    ids = sorted(narrow["pupils"])
    for start in range(0, len(ids), CHUNK):
        for school_id, year_group in session.execute(
            select(_pupils.c.school_id, _pupils.c.year_group).distinct()
            .where(in_list(_pupils.c.id, "ids")), {"ids": ids[start:start + CHUNK]}
        ):
            groups.setdefault(school_id, set()).add(year_group)
    for school_id in narrow["schools"]:
        groups.setdefault(school_id, set())
    return {school_id: year_groups for school_id, year_groups in groups.items() if school_id not in whole}


@event.listens_for(Session, "after_transaction_end")
def _forget_noted(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(_SCHOOLS_NOTED, None)
        session.info.pop(_PUPILS_NOTED, None)
        session.info.pop(_AREAS_NOTED, None)
        session.info.pop(_NARROW_NOTED, None)


def _forget(cls, keep) -> None:
    """Expire the session's copies of rows changed behind the ORM's back (no queries)."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, cls) and keep(obj):
            db.session.expire(obj)


def _forget_pupils(ids: set[int] | None) -> None:
    # By identity key (class, primary key): reading obj.id of an already expired pupil would load its row.
    for (cls, key, _), obj in list(db.session.identity_map.items()):
        if issubclass(cls, Pupil) and (ids is None or key[0] in ids):
            db.session.expire(obj, ["contacts", "last_contact_on", "year_counts"])
        elif issubclass(cls, PupilYearCount) and (ids is None or key[0] in ids):  # key: (pupil_id, academic_year)
            db.session.expunge(obj)


# --- a pupil's timeline -------------------------------------------------------------------------------------------

CRITERIA = {
    "purpose_shared": "purpose shared",
    "learning_outcomes": "learning outcomes",
    "two_way": "two-way interaction",
    "time_to_reflect": "time to reflect",
}


@dataclass(frozen=True)
class TimelineRow:
    match_id: int
    on: date | None  # the session's date (its scheduled date until recorded)
    academic_year: str
    type_label: str
    provider_name: str
    year_group: int
    attended: bool | None  # None until the register is recorded
    meaningful: bool | None  # None until the session is recorded
    counted: bool  # adds to the pupil's total
    why_not: str  # why it does not count ("" when it does)


def pupil_timeline(pupil: Pupil) -> list[TimelineRow]:
    """Every session the pupil was sent to, oldest first, with whether it counted and why not (one query)."""
    provider = aliased(Organisation)
    rows = db.session.execute(
        select(RegisterEntry, Match.session_starts_at, Offer.type, provider.name, SessionRecord)
        .join(Match, Match.id == RegisterEntry.match_id).join(Offer, Offer.id == Match.offer_id)
        .join(provider, provider.id == RegisterEntry.provider_id)
        .outerjoin(SessionRecord, SessionRecord.match_id == RegisterEntry.match_id)
        .where(RegisterEntry.pupil_id == pupil.id)
        .order_by(func.coalesce(RegisterEntry.held_on, func.date(Match.session_starts_at)), RegisterEntry.id)
    ).all()
    distinct_rule = pupil.school.area.distinct_providers
    providers_counted: set[int] = set()
    timeline = []
    for entry, starts_at, type_code, provider_name, record in rows:
        on = entry.held_on or (starts_at.date() if starts_at else None)
        counted, why_not = entry.counted, ""
        if record is None or entry.attended is None:
            why_not = "Attendance not recorded yet"
        elif not entry.attended:
            why_not = "Did not attend"
        elif not record.meaningful:
            missing = [label for name, label in CRITERIA.items() if not getattr(record, name)]
            why_not = "Not a meaningful encounter: no " + ", no ".join(missing)
        elif not counts_toward_target(type_code):
            why_not = "This kind of encounter does not count toward the target"
        elif entry.year_group < FIRST_COUNTED_YEAR:
            why_not = "Before Year 7: counting starts in Year 7"
        if counted and distinct_rule:
            if entry.provider_id in providers_counted:
                counted, why_not = False, "Repeat with this provider: the area counts each provider once"
            providers_counted.add(entry.provider_id)
        timeline.append(TimelineRow(
            match_id=entry.match_id, on=on,
            academic_year=academic_year_label(academic_year(on)) if on else "",
            type_label=OFFER_TYPES[type_code].label if type_code in OFFER_TYPES else type_code,
            provider_name=provider_name, year_group=entry.year_group, attended=entry.attended,
            meaningful=record.meaningful if record else None, counted=counted, why_not=why_not))
    return timeline


def benchmark5_met_sql(contacts_this_year, school: Organisation):
    """benchmark5_met as a SQL condition on a this-year contacts column, for grouped progress queries (helper F)."""
    return contacts_this_year >= benchmark5_required(school)


# --- primary encounters (5/6), counted apart from the secondary target --------------------------------------------
# A primary encounter is a class's use of a resource kit (a KitRequest marked used: its class's pupils) or a pupil's
# attendance at a session in a year group below Year 7. Neither ever enters Pupil.contacts, PupilYearCount or the
# secondary progress figures: mark_entries already leaves entries below Year 7 uncounted, and kits have no pupils.

@dataclass(frozen=True)
class PrimarySchoolReach:
    school_id: int
    school_name: str
    area_id: int
    kits_used: int  # kit requests used in the period
    classes: int  # distinct classes (name and year group) that used a kit
    kit_pupils: int  # pupils in those classes (each class counted once, at its largest recorded size)
    session_pupils: int  # distinct pupils who attended a session in Reception–Year 6
    session_attendances: int  # attended register entries in Reception–Year 6

    @property
    def pupils(self) -> int:
        """Pupils reached: the classes' pupils plus pupils who attended sessions below Year 7."""
        return self.kit_pupils + self.session_pupils


@dataclass(frozen=True)
class PrimaryReach:
    start: date
    end: date
    schools: list[PrimarySchoolReach]
    primary_schools: int  # schools of the areas with primary years (primary, all-through, special)
    pupil_encounters: int  # every used kit's class size plus every attended entry below Year 7

    @property
    def schools_reached(self) -> int:
        return len(self.schools)

    @property
    def kits_used(self) -> int:
        return sum(s.kits_used for s in self.schools)

    @property
    def classes(self) -> int:
        return sum(s.classes for s in self.schools)

    @property
    def pupils(self) -> int:
        return sum(s.pupils for s in self.schools)


def primary_reach(area_ids, *, start: date, end: date) -> PrimaryReach:
    """Primary encounters in the areas (None: every area) between start and end, both included, per school and in
    total: kits used (by the date the school recorded use), classes and pupils reached. Three grouped queries."""
    from datetime import datetime, time, timedelta

    from portal.catalogue import PRIMARY_PHASES
    from portal.models import KitRequest, KitRequestStatus, OrgKind

    kits = KitRequest.__table__
    since, until = datetime.combine(start, time.min), datetime.combine(end + timedelta(days=1), time.min)
    class_key = func.lower(func.trim(kits.c.class_name))
    kit_query = (select(kits.c.school_id, class_key, kits.c.year_group, func.count(), func.max(kits.c.pupils),
                        func.sum(kits.c.pupils))
                 .where(kits.c.status == KitRequestStatus.USED, kits.c.used_at >= since, kits.c.used_at < until)
                 .group_by(kits.c.school_id, class_key, kits.c.year_group))
    entry_query = (select(_entries.c.school_id, func.count(), func.count(distinct(_entries.c.pupil_id)))
                   .select_from(_entries.join(_orgs, _orgs.c.id == _entries.c.school_id))
                   .where(_entries.c.attended.is_(True), _entries.c.year_group < FIRST_COUNTED_YEAR,
                          _entries.c.held_on >= start, _entries.c.held_on <= end)
                   .group_by(_entries.c.school_id))
    schools_query = select(func.count()).select_from(_orgs).where(_orgs.c.kind == OrgKind.SCHOOL,
                                                                   _orgs.c.phase.in_(sorted(PRIMARY_PHASES)))
    if area_ids is not None:
        ids = sorted(set(area_ids)) or [-1]
        kit_query = kit_query.where(kits.c.area_id.in_(ids))
        entry_query = entry_query.where(_orgs.c.area_id.in_(ids))
        schools_query = schools_query.where(_orgs.c.area_id.in_(ids))

    tally: dict[int, dict[str, int]] = {}

    def of(school_id: int) -> dict[str, int]:
        return tally.setdefault(school_id, dict.fromkeys(
            ("kits_used", "classes", "kit_pupils", "session_pupils", "session_attendances", "encounters"), 0))

    for school_id, _name, _year, used, largest, every in db.session.execute(kit_query):
        row = of(school_id)
        row["kits_used"] += used
        row["classes"] += 1
        row["kit_pupils"] += largest
        row["encounters"] += every
    for school_id, attendances, pupils in db.session.execute(entry_query):
        row = of(school_id)
        row["session_attendances"] += attendances
        row["session_pupils"] += pupils
        row["encounters"] += attendances
    names = {org_id: (name, area_id) for org_id, name, area_id in db.session.execute(
        select(_orgs.c.id, _orgs.c.name, _orgs.c.area_id).where(_orgs.c.id.in_(sorted(tally) or [-1])))}
    schools = sorted(
        (PrimarySchoolReach(school_id=school_id, school_name=names[school_id][0], area_id=names[school_id][1],
                            **{k: v for k, v in row.items() if k != "encounters"})
         for school_id, row in tally.items()),
        key=lambda s: (s.school_name.lower(), s.school_id))
    return PrimaryReach(start=start, end=end, schools=schools, primary_schools=db.session.scalar(schools_query) or 0,
                        pupil_encounters=sum(row["encounters"] for row in tally.values()))


def intern_contacts_count(intern_id: int) -> int:
    """NEET internships (5/6): each completed placement week is one contact for the intern (four weeks at four
    different providers: four contacts). Proposed, approved and cancelled weeks count nothing."""
    from portal.models import Placement, PlacementStatus

    return db.session.scalar(select(func.count()).select_from(Placement).where(
        Placement.intern_id == intern_id, Placement.status == PlacementStatus.COMPLETED)) or 0


# --- retention (product.md "Privacy and safeguarding"; services/retention.py) ---------------------------------------

def retention_due(left_on: date, retention_years: int, today: date) -> bool:
    """Whether a leaver's pupil-level rows are past the area's retention period: they left `retention_years`
    academic years ago. 1 (the default) keeps them to the end of the academic year after the one they left in:
    a pupil who left in July 2025 (2024/25) is kept until 31 August 2026 and due from 1 September 2026."""
    return academic_year(today) > academic_year(left_on) + retention_years
