"""Retention (issue 7; product.md "Privacy and safeguarding"): a leaver's pupil-level rows go after the area's
retention period. `flask retention run`, daily.

Who goes: pupils whose status is left and who left `Area.retention_years` academic years ago
(counting.retention_due; 1, the default, keeps them to the end of the academic year after the one they left in).
A leaver with no leaving date recorded is judged by the date their row last changed (Pupil.updated_at), which
is when they were marked as left unless someone edited them later (or a recount of the area's totals touched the
row: such a leaver is kept longer, never removed early). Pupils on roll are never touched.

What goes, per pupil, in one transaction per school: the pupils row (with its reference, identifier hash,
display name, flags and post-16 destination), its pupil_year_counts and every register_entries row of that
pupil. Then counting.refresh_schools recomputes the school's kept overview totals, and one audit event
"retention.run" per school records the counts removed (never a reference, name or pupil id).

Why deleted rather than aggregated: the figures of past periods are distinct-pupil counts over any period a
coordinator chooses ("pupils reached" in the termly report, a provider's pupils reached and first contacts),
which no per-school, per-year total can give back exactly, and no existing table fits a per-school aggregate
(SchoolYearTotal is derived: refresh_schools recomputes it from the register entries each time). The
register entries cannot stay without their pupil (register_entries.pupil_id is NOT NULL with a foreign key),
and keeping an "anonymised" pupil row per leaver would still link one person's sessions together. So the
rows are deleted, and these figures, for periods that include a removed pupil's sessions, drop by what those
pupils contributed:

- the termly impact report: schools reached, providers engaged, pupils reached, encounters held, meaningful
  encounters counted, and per school its sessions (counted from the register), pupils and encounters;
- a provider's impact: schools and pupils reached, first contacts, and pupils per offer;
- primary reach (counting.primary_reach): pupils and attendances at sessions below Year 7;
- the overview's providers engaged per school and academic year (SchoolYearTotal.providers);
- a past session's register lists fewer pupils.

Unchanged: sessions held (session records stay, with their matches), every "now" figure (pupils on roll, at the
target, at risk, Benchmark 5 for pupils on roll: leavers are in none of them) and the recent leavers and
their not-known destinations (recent means this academic year or the one before, so a leaver with a leaving
date has stopped being recent before the earliest retention point; a leaver with none is recent until removed).
Keeping the past figures exactly would need a schema change: see the report of issue 7. Not touched: the
append-only audit log, whose earlier pupil events (pupil.add, pupil.edit, pupil.left) name the pupil's reference.
"""
from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlalchemy import delete, func, inspect, or_, select

from portal.extensions import db
from portal.models import Area, Organisation, Pupil, PupilStatus, PupilYearCount, RegisterEntry
from portal.services import audit, counting
from portal.services.db_locks import write_transaction

RETENTION_MIN_YEARS = 1  # the CHECK on areas.retention_years: the earliest any area removes a leaver
CHUNK = counting.CHUNK


@dataclass
class SchoolRemoval:
    school_id: int
    school_name: str
    area_id: int
    area_name: str
    pupils: int = 0
    year_counts: int = 0
    register_entries: int = 0
    destinations: int = 0  # of the pupils, those with a post-16 destination recorded

    def counts_text(self) -> str:
        """Counts only: what the audit event and the command print."""
        return (f"{self.pupils} pupil{'' if self.pupils == 1 else 's'}, {self.register_entries} register "
                f"entr{'y' if self.register_entries == 1 else 'ies'}, {self.year_counts} yearly "
                f"count{'' if self.year_counts == 1 else 's'}, {self.destinations} "
                f"destination{'' if self.destinations == 1 else 's'}")


@dataclass
class RetentionSummary:
    today: date
    dry_run: bool
    schools: list[SchoolRemoval] = field(default_factory=list)

    @property
    def pupils(self) -> int:
        return sum(school.pupils for school in self.schools)

    @property
    def register_entries(self) -> int:
        return sum(school.register_entries for school in self.schools)

    def lines(self) -> list[str]:
        verb = "Would remove" if self.dry_run else "Removed"
        lines = [f"{school.area_name} / {school.school_name}: {school.counts_text()}" for school in self.schools]
        lines.append(f"{verb} {self.pupils} leaver{'' if self.pupils == 1 else 's'}' pupil-level rows "
                     f"from {len(self.schools)} school{'' if len(self.schools) == 1 else 's'} "
                     f"(as of {self.today.isoformat()})." + (" Dry run: nothing deleted." if self.dry_run else ""))
        return lines


def _left_on(left_on: date | None, updated_at: datetime) -> date:
    return left_on if left_on is not None else updated_at.date()


def _leavers_query(today: date):
    """Leavers who may be due in any area (a cheap filter by the shortest retention an area can set)."""
    cutoff = counting.academic_year_bounds(counting.academic_year(today) - RETENTION_MIN_YEARS)[0]
    return (select(Pupil.id, Pupil.school_id, Pupil.left_on, Pupil.updated_at, Area.retention_years)
            .join(Organisation, Organisation.id == Pupil.school_id).join(Area, Area.id == Organisation.area_id)
            .where(Pupil.status == PupilStatus.LEFT,
                   or_(Pupil.left_on < cutoff,
                       Pupil.left_on.is_(None) & (Pupil.updated_at < datetime.combine(cutoff, time.min)))))


def _due(rows, today: date) -> list[int]:
    return sorted(pupil_id for pupil_id, _school, left_on, updated_at, years in rows
                  if counting.retention_due(_left_on(left_on, updated_at), years, today))


def due_by_school(today: date) -> dict[int, list[int]]:
    """{school id: ids of its pupils past their area's retention point}, schools in id order."""
    by_school: dict[int, list[int]] = {}
    for pupil_id, school_id, left_on, updated_at, years in db.session.execute(
            _leavers_query(today).order_by(Pupil.school_id, Pupil.id)):
        if counting.retention_due(_left_on(left_on, updated_at), years, today):
            by_school.setdefault(school_id, []).append(pupil_id)
    return by_school


def _count(model, column, ids: list[int], *where) -> int:
    total = 0
    for start in range(0, len(ids), CHUNK):
        total += db.session.scalar(
            select(func.count()).select_from(model).where(column.in_(ids[start:start + CHUNK]), *where)) or 0
    return total


def _measure(removal: SchoolRemoval, ids: list[int]) -> None:
    removal.pupils = len(ids)
    removal.year_counts = _count(PupilYearCount, PupilYearCount.pupil_id, ids)
    removal.register_entries = _count(RegisterEntry, RegisterEntry.pupil_id, ids)
    removal.destinations = _count(Pupil, Pupil.id, ids, Pupil.destination.is_not(None))


def _forget(gone: set[int]) -> None:
    """Drop the session's copies of the deleted rows, without loading them (they may be expired)."""
    for obj in list(db.session.identity_map.values()):
        state = inspect(obj)
        if isinstance(obj, Pupil | PupilYearCount):
            pupil_id = state.identity[0]  # the pupil's id; a yearly count's key starts with it
        elif isinstance(obj, RegisterEntry):
            pupil_id = state.dict.get("pupil_id")
            if pupil_id is None:  # expired: its pupil is not known without a query
                db.session.expunge(obj)
                continue
        else:
            continue
        if pupil_id in gone:
            db.session.expunge(obj)


def _remove_school(removal: SchoolRemoval, today: date) -> None:
    """Delete one school's due leavers' rows, refresh its totals, audit the counts; one transaction."""
    with write_transaction():
        school_id = removal.school_id
        # Again inside the transaction, locked: a leaver put back on roll meanwhile stays.
        rows = db.session.execute(
            _leavers_query(today).where(Pupil.school_id == school_id).order_by(Pupil.id).with_for_update(of=Pupil)
        ).all()
        ids = _due(rows, today)
        if not ids:
            db.session.rollback()
            return
        _measure(removal, ids)
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            db.session.execute(delete(RegisterEntry).where(RegisterEntry.pupil_id.in_(chunk)))
            db.session.execute(delete(PupilYearCount).where(PupilYearCount.pupil_id.in_(chunk)))
            db.session.execute(delete(Pupil).where(Pupil.id.in_(chunk)))
        _forget(set(ids))
        counting.refresh_schools([school_id])
        school = db.session.get(Organisation, school_id)
        audit.record("retention.run", target=school, area_id=removal.area_id,
                     detail=f"removed past retention: {removal.counts_text()}")
        db.session.commit()


def run(*, today: date | None = None, dry_run: bool = False) -> RetentionSummary:
    """Remove every area's leavers' pupil-level rows past the area's retention point (see the module docstring).

    One transaction per school; with dry_run, only count what would go (nothing written, nothing audited).
    Running it again the same day removes nothing more."""
    today = today or date.today()
    summary = RetentionSummary(today=today, dry_run=dry_run)
    due = due_by_school(today)
    if not due:
        db.session.rollback()
        return summary
    names = {org_id: (name, area_id, area_name) for org_id, name, area_id, area_name in db.session.execute(
        select(Organisation.id, Organisation.name, Area.id, Area.name)
        .join(Area, Area.id == Organisation.area_id).where(Organisation.id.in_(sorted(due))))}
    for school_id, ids in due.items():
        name, area_id, area_name = names[school_id]
        removal = SchoolRemoval(school_id=school_id, school_name=name, area_id=area_id, area_name=area_name)
        if dry_run:
            _measure(removal, ids)
        else:
            _remove_school(removal, today)
        if removal.pupils:
            summary.schools.append(removal)
    if dry_run:
        db.session.rollback()
    summary.schools.sort(key=lambda s: (s.area_name.lower(), s.school_name.lower(), s.school_id))
    return summary
