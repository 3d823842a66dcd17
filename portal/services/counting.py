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
whenever a register is recorded or corrected, or an area's rules change.
"""
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, delete, distinct, func, insert, select, update
from sqlalchemy.orm import aliased

from portal.catalogue import OFFER_TYPES
from portal.extensions import db
from portal.models import Area, Match, Offer, Organisation, Pupil, PupilYearCount, RegisterEntry, SessionRecord

FIRST_COUNTED_YEAR = 7  # counting toward the target starts in Year 7
COLLEGE_PHASE = "college"


def academic_year(on: date) -> int:
    """The academic year a date falls in, named by the calendar year it starts in: 2025-09-01 → 2025."""
    return on.year if on.month >= 9 else on.year - 1


def current_academic_year(today: date | None = None) -> int:
    return academic_year(today or date.today())


def academic_year_label(year: int) -> str:
    """2025 → '2025/26'."""
    return f"{year}/{(year + 1) % 100:02d}"


def academic_year_bounds(year: int) -> tuple[date, date]:
    return date(year, 9, 1), date(year + 1, 8, 31)


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


def who_to_send_order():
    """'Who to send' (product.md): furthest from the target first, at-risk and disadvantaged pupils before
    others, then the longest since their last contact (never contacted first); the reference breaks ties so
    the order is stable. An ORDER BY for a select over Pupil."""
    return (Pupil.contacts.asc(), Pupil.at_risk.desc(), Pupil.disadvantaged.desc(),
            Pupil.last_contact_on.is_(None).desc(), Pupil.last_contact_on.asc(), Pupil.reference.asc())


def benchmark5_met(contacts_this_year: int, school: Organisation) -> bool:
    return contacts_this_year >= benchmark5_required(school)


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


def mark_entries(match: Match) -> list[int]:
    """Set each register entry's held_on, academic_year and counted from the session's record (one UPDATE).

    counted = attended AND the record is meaningful (all four criteria) AND the offer's type counts toward the
    target AND the pupil was in Year 7 or above when sent. Returns the ids of the pupils on the register.
    """
    db.session.flush()
    record = db.session.get(SessionRecord, match.id)
    if record is None:
        values = {"held_on": None, "academic_year": None, "counted": False}
    else:
        counts = record.meaningful and counts_toward_target(match.offer.type)
        counted = (case((and_(_entries.c.attended.is_(True), _entries.c.year_group >= FIRST_COUNTED_YEAR), True),
                        else_=False) if counts else False)
        values = {"held_on": record.held_on, "academic_year": academic_year(record.held_on), "counted": counted}
    db.session.execute(update(_entries).where(_entries.c.match_id == match.id).values(**values))
    _forget(RegisterEntry, lambda entry: entry.match_id == match.id)
    return list(db.session.scalars(select(RegisterEntry.pupil_id).where(RegisterEntry.match_id == match.id)))


def refresh_pupils(pupil_ids) -> None:
    """Recompute these pupils' kept totals from their register entries: Pupil.contacts and last_contact_on, and
    their PupilYearCount rows. A handful of set-based statements per CHUNK pupils, never one per pupil."""
    ids = sorted(set(pupil_ids))
    for start in range(0, len(ids), CHUNK):
        _refresh(_pupils.c.id.in_(ids[start:start + CHUNK]))
    _forget_pupils(set(ids))


def recount_area(area: Area) -> None:
    """Recompute the totals of every pupil of the area's schools, after its contact_target or distinct_providers
    setting changed (the same statements as refresh_pupils, over the whole area at once)."""
    school_ids = select(_orgs.c.id).where(_orgs.c.area_id == area.id)
    _refresh(_pupils.c.school_id.in_(school_ids))
    _forget_pupils(None)


def _refresh(which) -> None:
    db.session.flush()
    counted = and_(_entries.c.pupil_id == _pupils.c.id, _entries.c.counted.is_(True))
    distinct_rule = (select(_areas.c.distinct_providers)
                     .select_from(_orgs.join(_areas, _orgs.c.area_id == _areas.c.id))
                     .where(_orgs.c.id == _pupils.c.school_id).scalar_subquery())
    every = select(func.count()).select_from(_entries).where(counted).scalar_subquery()
    providers = select(func.count(distinct(_entries.c.provider_id))).select_from(_entries).where(counted)
    last = select(func.max(_entries.c.held_on)).select_from(_entries).where(counted).scalar_subquery()
    db.session.execute(
        update(_pupils).where(which).values(
            contacts=case((distinct_rule.is_(True), providers.scalar_subquery()), else_=every),
            last_contact_on=last,
        )
    )
    # Per academic year: delete and re-insert this set's rows from one grouped SELECT.
    db.session.execute(delete(_years).where(_years.c.pupil_id.in_(select(_pupils.c.id).where(which))))
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
    db.session.execute(insert(_years).from_select(["pupil_id", "academic_year", "contacts", "attended"], per_year))


def _forget(cls, keep) -> None:
    """Expire the session's copies of rows changed behind the ORM's back (no queries)."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, cls) and keep(obj):
            db.session.expire(obj)


def _forget_pupils(ids: set[int] | None) -> None:
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Pupil) and (ids is None or obj.id in ids):
            db.session.expire(obj, ["contacts", "last_contact_on", "year_counts"])
        elif isinstance(obj, PupilYearCount) and (ids is None or obj.pupil_id in ids):
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
