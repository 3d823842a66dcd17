"""Pupils: a school's roster — imports from its MIS export, hand edits, leavers, and the year-end rollover.

Least data (product.md, "Privacy and safeguarding"): the school's own identifier is kept only as a keyed hash
(HMAC-SHA256 under PUPIL_ID_KEY, with the school in the message, so one admission number at two schools gives two
unrelated hashes); everyone outside the school sees only the random reference; a display name is stored only
while the school opts in. Pupils are never deleted here: those who leave are marked as left.
"""
import hashlib
import hmac
import re
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import Select, bindparam, insert, or_, select, update
from sqlalchemy.orm.exc import StaleDataError

from portal import policy, vocab
from portal.errors import InvalidState, NotAllowed, NotFound, StaleEdit, ValidationFailed
from portal.extensions import db
from portal.models import (
    AuditEvent,
    Organisation,
    Pupil,
    PupilStatus,
    PupilYearCount,
    RosterMapping,
    RosterUpload,
    User,
    utcnow,
)
from portal.services import audit, counting, roster_import
from portal.services.db_locks import write_transaction
from portal.services.roster_import import RosterRow

PER_PAGE = 50
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: references are read aloud and copied
REFERENCE_LENGTH = 8
UPLOAD_LIFETIME = timedelta(days=1)
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
LAST_YEAR = 14

STALE_MESSAGE = "This pupil was changed by someone else while you were editing. Your changes are below: " \
                "check them and save again."
FLAG_LABELS = {"disadvantaged": "Disadvantaged", "send": "SEND", "at_risk": "At risk of NEET"}
STATUS_LABELS = {PupilStatus.ON_ROLL: "On roll", PupilStatus.LEFT: "Left"}


# --- identity -----------------------------------------------------------------------------------------------------

def _pupil_key() -> bytes:
    key = current_app.config.get("PUPIL_ID_KEY")
    if key:
        return key.encode()
    # Unset (development, tests): derived from SECRET_KEY, never SECRET_KEY itself.
    return hmac.new(current_app.config["SECRET_KEY"].encode(), b"encounters pupil identifier key",
                    hashlib.sha256).digest()


def identifier_hash(school_id: int, identifier: str, *, key: bytes | None = None) -> str:
    """The keyed hash a pupil is recognised by on the next import; the identifier itself is never stored."""
    message = f"{school_id}:{roster_import.normalise_identifier(identifier)}".encode()
    return hmac.new(key or _pupil_key(), message, hashlib.sha256).hexdigest()


def _random_reference() -> str:
    # 32 letters: each random byte modulo 32 picks one without bias (256 is a multiple of 32).
    return "P" + "".join(REFERENCE_ALPHABET[byte % 32] for byte in secrets.token_bytes(REFERENCE_LENGTH))


def new_references(count: int) -> list[str]:
    """`count` fresh references, none already in use (checked in one query per thousand)."""
    references: set[str] = set()
    while len(references) < count:
        wanted = {_random_reference() for _ in range(count - len(references))} - references
        batch = sorted(wanted)
        for start in range(0, len(batch), 1000):
            chunk = batch[start:start + 1000]
            wanted -= set(db.session.scalars(select(Pupil.reference).where(Pupil.reference.in_(chunk))))
        references |= wanted
    return list(references)


# --- access -------------------------------------------------------------------------------------------------------

def _check_roster(user: User, school: Organisation) -> None:
    if not policy.can_manage_roster(user, school):
        raise NotAllowed("Only the school's careers leads can change its pupils.")


def school_years(school: Organisation) -> tuple[int, ...]:
    """The year groups a school's pupils may be in: its phase's (Reception to Year 14 if it has none)."""
    return vocab.PHASE_YEARS.get(school.phase or "", tuple(range(0, LAST_YEAR + 1)))


# --- listing and one pupil ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PupilFilters:
    year_group: int | None = None
    form_group: str | None = None
    flag: str | None = None  # one of FLAG_LABELS
    status: str | None = PupilStatus.ON_ROLL  # None: all
    search: str | None = None


def pupils_query(school: Organisation, filters: PupilFilters, *, names: bool) -> Select:
    """The school's pupils, filtered; ordered by year, form, then name (if stored) and reference."""
    query = select(Pupil).where(Pupil.school_id == school.id)
    if filters.status:
        query = query.where(Pupil.status == filters.status)
    if filters.year_group is not None:
        query = query.where(Pupil.year_group == filters.year_group)
    if filters.form_group:
        query = query.where(Pupil.form_group == filters.form_group)
    if filters.flag in FLAG_LABELS:
        query = query.where(getattr(Pupil, filters.flag).is_(True))
    if filters.search:
        term = filters.search.strip()
        pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        matches = [Pupil.reference == term.upper()]
        if names:
            matches.append(Pupil.display_name.ilike(pattern, escape="\\"))
        query = query.where(or_(*matches))
    order = [Pupil.year_group, Pupil.form_group]
    if names:
        order.append(Pupil.display_name)
    return query.order_by(*order, Pupil.reference)


def form_groups(school: Organisation) -> list[str]:
    """The school's form groups in natural order: 7A, 7B, 10A, 13D (year number first, then the letters)."""
    return sorted(db.session.scalars(
        select(Pupil.form_group).where(Pupil.school_id == school.id, Pupil.form_group.is_not(None))
        .distinct()), key=natural_key)


def natural_key(text: str) -> tuple:
    """Sorts the numbers in text by value, the rest case-blind: "7A" < "10A" (plain string order puts 10A first)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
                 for part in re.split(r"(\d+)", text) if part)


def flags_text(pupil: Pupil) -> str:
    return ", ".join(label for name, label in FLAG_LABELS.items() if getattr(pupil, name)) or "None"


@dataclass(frozen=True)
class PupilRow:
    id: int
    reference: str
    name: str
    year: str
    form: str
    flags: str
    contacts: int
    status: str


def rows_for(pupils: Iterable[Pupil], *, names: bool) -> list[PupilRow]:
    """What the list shows per pupil; names only when the school stores them."""
    return [PupilRow(p.id, p.reference, (p.display_name or "") if names else "", vocab.year_label(p.year_group),
                     p.form_group or "", flags_text(p) if any((p.disadvantaged, p.send, p.at_risk)) else "",
                     p.contacts, STATUS_LABELS.get(p.status, p.status)) for p in pupils]


@dataclass(frozen=True)
class YearTotal:
    label: str
    contacts: int
    attended: int


def year_totals(pupil: Pupil) -> list[YearTotal]:
    """The pupil's contacts and sessions attended per academic year, newest first (from the kept totals)."""
    rows = db.session.scalars(select(PupilYearCount).where(PupilYearCount.pupil_id == pupil.id)
                              .order_by(PupilYearCount.academic_year.desc()))
    return [YearTotal(counting.academic_year_label(row.academic_year), row.contacts, row.attended) for row in rows]


def facts(pupil: Pupil, *, names: bool) -> list[tuple[str, str]]:
    items = [("Reference", pupil.reference)]
    if names and pupil.display_name:
        items.append(("Name", pupil.display_name))
    items += [
        ("Year group", vocab.year_label(pupil.year_group)),
        ("Form group", pupil.form_group or "Not recorded"),
        ("Flags", flags_text(pupil)),
        ("Status", STATUS_LABELS.get(pupil.status, pupil.status)
         + (f" (left on {pupil.left_on:%-d %B %Y})" if pupil.left_on else "")),
    ]
    return items


# --- hand edits ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PupilDetails:
    """What the add and edit forms give. `identifier` None on an edit keeps the current one."""

    year_group: int
    identifier: str | None = None
    form_group: str | None = None
    display_name: str | None = None
    disadvantaged: bool = False
    send: bool = False
    at_risk: bool = False


def _clean(details: PupilDetails, school: Organisation, *, adding: bool) -> PupilDetails:
    identifier = roster_import.normalise_identifier(details.identifier or "") or None
    if adding and not identifier:
        raise ValidationFailed("Enter the pupil's identifier from your MIS, e.g. their admission number.",
                               field="identifier")
    if identifier and len(identifier) > roster_import.IDENTIFIER_MAX:
        raise ValidationFailed(f"The identifier can be at most {roster_import.IDENTIFIER_MAX} characters.",
                               field="identifier")
    if details.year_group not in school_years(school):
        raise ValidationFailed("Choose a year group your school teaches.", field="year_group")
    form_group = (details.form_group or "").strip() or None
    if form_group and len(form_group) > roster_import.FORM_GROUP_MAX:
        raise ValidationFailed(f"A form group can be at most {roster_import.FORM_GROUP_MAX} characters.",
                               field="form_group")
    name = " ".join((details.display_name or "").split()) or None
    if name and len(name) > roster_import.DISPLAY_NAME_MAX:
        raise ValidationFailed(f"A name can be at most {roster_import.DISPLAY_NAME_MAX} characters.",
                               field="display_name")
    return PupilDetails(year_group=details.year_group, identifier=identifier, form_group=form_group,
                        display_name=name if school.names_opt_in else None, disadvantaged=bool(details.disadvantaged),
                        send=bool(details.send), at_risk=bool(details.at_risk))


def _identifier_taken(school: Organisation, hashed: str, *, other_than: int | None = None) -> Pupil | None:
    query = select(Pupil).where(Pupil.school_id == school.id, Pupil.identifier_hash == hashed)
    if other_than is not None:
        query = query.where(Pupil.id != other_than)
    return db.session.scalar(query)


def add_pupil(school: Organisation, details: PupilDetails, *, by: User, ip: str | None = None) -> Pupil:
    """Add one pupil by hand (a new arrival before the next import). Commits once."""
    _check_roster(by, school)
    details = _clean(details, school, adding=True)
    with write_transaction():
        hashed = identifier_hash(school.id, details.identifier)
        existing = _identifier_taken(school, hashed)
        if existing is not None:
            raise ValidationFailed(f"A pupil with this identifier is already on your roster ({existing.reference}).",
                                   field="identifier")
        pupil = Pupil(school_id=school.id, reference=new_references(1)[0], identifier_hash=hashed,
                      year_group=details.year_group, form_group=details.form_group,
                      display_name=details.display_name, disadvantaged=details.disadvantaged, send=details.send,
                      at_risk=details.at_risk, status=PupilStatus.ON_ROLL)
        db.session.add(pupil)
        db.session.flush()
        audit.record("pupil.add", actor=by, ip=ip, target=pupil, area_id=school.area_id,
                     detail=f"{pupil.reference}, {vocab.year_label(pupil.year_group)}")
        db.session.commit()
    return pupil


def edit_pupil(pupil: Pupil, details: PupilDetails, *, expected_version: int, by: User,
               ip: str | None = None) -> Pupil:
    """Change a pupil's year, form, name and flags (and identifier, if a new one is given). Version-checked."""
    school = pupil.school
    _check_roster(by, school)
    details = _clean(details, school, adding=False)
    try:
        with write_transaction():
            if pupil.version != expected_version:
                raise StaleEdit(STALE_MESSAGE)
            changed = []
            if details.identifier:
                hashed = identifier_hash(school.id, details.identifier)
                if hashed != pupil.identifier_hash:
                    if _identifier_taken(school, hashed, other_than=pupil.id) is not None:
                        raise ValidationFailed("Another pupil on your roster has this identifier.",
                                               field="identifier")
                    pupil.identifier_hash = hashed
                    changed.append("identifier")
            for name in ("year_group", "form_group", "display_name", "disadvantaged", "send", "at_risk"):
                value = getattr(details, name)
                if name == "display_name" and not school.names_opt_in:
                    value = None
                if getattr(pupil, name) != value:
                    setattr(pupil, name, value)
                    changed.append(name.replace("_", " "))
            if not changed:
                return pupil
            # The audit log names fields, never values: no names or identifiers in it.
            audit.record("pupil.edit", actor=by, ip=ip, target=pupil, area_id=school.area_id,
                         detail=f"{pupil.reference}: changed " + ", ".join(changed))
            db.session.commit()
    except StaleDataError as error:
        raise StaleEdit(STALE_MESSAGE) from error
    return pupil


def mark_left(pupil: Pupil, *, by: User, ip: str | None = None, today: date | None = None) -> Pupil:
    """Mark a pupil as left (after the confirmation page). Their record and contacts stay. Commits once."""
    _check_roster(by, pupil.school)
    with write_transaction():
        if pupil.status == PupilStatus.LEFT:
            raise InvalidState(f"{pupil.reference} is already marked as left.")
        pupil.status = PupilStatus.LEFT
        pupil.left_on = today or date.today()
        audit.record("pupil.left", actor=by, ip=ip, target=pupil, area_id=pupil.school.area_id,
                     detail=f"{pupil.reference} marked as left")
        db.session.commit()
    return pupil


def forget_names(school: Organisation) -> int:
    """Delete every stored pupil name of a school (it turned names off). Adds to the caller's transaction."""
    result = db.session.execute(update(Pupil).where(Pupil.school_id == school.id, Pupil.display_name.is_not(None))
                                .values(display_name=None).execution_options(synchronize_session="fetch"))
    return result.rowcount or 0


# --- imports ------------------------------------------------------------------------------------------------------

@dataclass
class ImportSummary:
    added: int = 0
    updated: int = 0
    returned: int = 0  # back on roll (included in updated)
    left: int = 0
    unchanged: int = 0
    names_ignored: bool = False

    @property
    def message(self) -> str:
        parts = [f"{self.added} added", f"{self.updated} updated", f"{self.left} marked as left",
                 f"{self.unchanged} unchanged"]
        text = "Roster imported: " + ", ".join(parts) + "."
        if self.returned:
            text += f" {self.returned} of those updated {'is' if self.returned == 1 else 'are'} back on roll."
        if self.names_ignored:
            text += " Names were not stored: your school has not chosen to store pupils' names."
        return text


def _row_values(row: RosterRow, names: bool) -> dict:
    return {"year_group": row.year_group, "form_group": row.form_group,
            "display_name": row.display_name if names else None, "disadvantaged": row.disadvantaged,
            "send": row.send, "at_risk": row.at_risk}


def import_roster(school: Organisation, rows: Sequence[RosterRow], *, full_roster: bool, by: User | None,
                  ip: str | None = None, today: date | None = None, mapping: Mapping[str, str] | None = None,
                  upload: RosterUpload | None = None) -> ImportSummary:
    """Upsert a clean file's rows by identifier hash. A full roster marks pupils missing from it as left (never
    deleted); a pupil who was left and is in the file is back on roll. One transaction, with the remembered
    mapping and the upload's deletion. `by` None: a command or benchmark, not a person."""
    if by is not None:
        _check_roster(by, school)
    today = today or date.today()
    names = bool(school.names_opt_in)
    key = _pupil_key()
    summary = ImportSummary(names_ignored=not names and any(row.display_name for row in rows))
    table = Pupil.__table__
    columns = ("year_group", "form_group", "display_name", "disadvantaged", "send", "at_risk")
    with write_transaction():
        # Plain rows and Core statements, not ORM objects: 5,000 pupils import in well under the 2 s the issue asks.
        existing = {r.identifier_hash: r for r in db.session.execute(
            select(table.c.id, table.c.identifier_hash, table.c.status, *(table.c[name] for name in columns))
            .where(table.c.school_id == school.id))}
        hashed_rows = [(identifier_hash(school.id, row.identifier, key=key), row) for row in rows]
        references = iter(new_references(sum(1 for hashed, _ in hashed_rows if hashed not in existing)))
        now = utcnow()
        inserts, updates, seen = [], [], set()
        for hashed, row in hashed_rows:
            seen.add(hashed)
            values = _row_values(row, names)
            current = existing.get(hashed)
            if current is None:
                inserts.append({"school_id": school.id, "reference": next(references), "identifier_hash": hashed,
                                "status": PupilStatus.ON_ROLL.value, "contacts": 0, "version": 1,
                                "created_at": now, "updated_at": now, **values})
                continue
            returning = current.status == PupilStatus.LEFT
            if returning or any(getattr(current, name) != values[name] for name in columns):
                updates.append({"pupil_id": current.id, **{f"new_{name}": values[name] for name in columns}})
                summary.updated += 1
                summary.returned += returning
            else:
                summary.unchanged += 1
        summary.added = len(inserts)
        if inserts:  # RETURNING makes SQLAlchemy send a thousand rows per statement ("insertmanyvalues")
            db.session.execute(insert(table).returning(table.c.id), inserts)
        if updates:
            # Every row named in the file is on roll afterwards; the version moves so an open edit form is told.
            db.session.execute(
                update(table).where(table.c.id == bindparam("pupil_id")).values(
                    status=PupilStatus.ON_ROLL.value, left_on=None, version=table.c.version + 1, updated_at=now,
                    **{name: bindparam(f"new_{name}") for name in columns}),
                updates)
        if full_roster:
            gone = [r.id for hashed, r in existing.items() if hashed not in seen and r.status == PupilStatus.ON_ROLL]
            for start in range(0, len(gone), 1000):
                db.session.execute(update(table).where(table.c.id.in_(gone[start:start + 1000])).values(
                    status=PupilStatus.LEFT.value, left_on=today, version=table.c.version + 1, updated_at=now))
            summary.left = len(gone)
        counting.refresh_schools([school.id])  # the coordinator's overview totals (Core statements above)
        db.session.expire_all()
        if mapping is not None:
            _remember_mapping(school, mapping, by)
        if upload is not None:
            db.session.delete(upload)
        audit.record("pupils.import", actor=by, ip=ip, target=school, area_id=school.area_id,
                     detail=f"{'full roster' if full_roster else 'partial'}: {summary.added} added, "
                            f"{summary.updated} updated ({summary.returned} back on roll), {summary.left} left, "
                            f"{summary.unchanged} unchanged")
        db.session.commit()
    return summary


def _remember_mapping(school: Organisation, mapping: Mapping[str, str], by: User | None) -> None:
    cleaned = {name: heading for name, heading in mapping.items() if name in roster_import.FIELDS and heading}
    row = db.session.get(RosterMapping, school.id)
    if row is None:
        db.session.add(RosterMapping(school_id=school.id, mapping=cleaned, updated_by_id=getattr(by, "id", None)))
    elif row.mapping != cleaned:
        row.mapping = cleaned
        row.updated_by_id = getattr(by, "id", None)


def save_mapping(school: Organisation, mapping: Mapping[str, str], *, by: User) -> None:
    """Remember how this school's export maps to our fields, for its next upload. Commits once."""
    _check_roster(by, school)
    with write_transaction():
        _remember_mapping(school, mapping, by)
        db.session.commit()


def remembered_mapping(school: Organisation) -> dict[str, str] | None:
    row = db.session.get(RosterMapping, school.id)
    return dict(row.mapping) if row is not None else None


def create_upload(school: Organisation, *, filename: str, content: bytes, by: User,
                  now: datetime | None = None) -> RosterUpload:
    """Keep an uploaded file for the mapping and preview steps; uploads older than a day are purged now."""
    _check_roster(by, school)
    if not content:
        raise ValidationFailed("The file is empty. Choose your roster's CSV file.", field="file")
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValidationFailed("The file is larger than 5 MB. Split it and upload each part.", field="file")
    now = now or utcnow()
    with write_transaction():
        old = db.session.scalars(select(RosterUpload).where(RosterUpload.created_at < now - UPLOAD_LIFETIME))
        for stale in old:
            db.session.delete(stale)
        upload = RosterUpload(token=secrets.token_urlsafe(32), school_id=school.id, uploaded_by_id=by.id,
                              filename=(filename or "roster.csv")[-200:], content=content, created_at=now)
        db.session.add(upload)
        db.session.commit()
    return upload


def find_upload(token: str, *, now: datetime | None = None) -> RosterUpload | None:
    """A waiting upload by its token, unless it is more than a day old."""
    upload = db.session.scalar(select(RosterUpload).where(RosterUpload.token == token))
    if upload is None or upload.created_at < (now or utcnow()) - UPLOAD_LIFETIME:
        return None
    return upload


@dataclass
class ImportOutcome:
    summary: ImportSummary | None = None
    problems: list[roster_import.Problem] = field(default_factory=list)


def import_upload(upload: RosterUpload, mapping: Mapping[str, str], *, full_roster: bool, by: User,
                  ip: str | None = None, today: date | None = None) -> ImportOutcome:
    """Read the whole upload with this mapping: every problem (and nothing imported, but the mapping remembered),
    or the import done and the upload deleted."""
    school = db.session.get(Organisation, upload.school_id)
    _check_roster(by, school)
    result = roster_import.parse(upload.content, mapping, years=school_years(school))
    if not result.ok:
        save_mapping(school, mapping, by=by)
        return ImportOutcome(problems=result.problems)
    summary = import_roster(school, result.rows, full_roster=full_roster, by=by, ip=ip, today=today,
                            mapping=mapping, upload=upload)
    return ImportOutcome(summary=summary)


# --- rollover -----------------------------------------------------------------------------------------------------

@dataclass
class SchoolRollover:
    school: Organisation
    last_year: int
    moves: dict[int, int] = field(default_factory=dict)  # year group -> pupils moving up from it
    leavers: dict[int, int] = field(default_factory=dict)  # year group -> pupils leaving from it
    already_done: bool = False

    @property
    def total_moving(self) -> int:
        return sum(self.moves.values())

    @property
    def total_leaving(self) -> int:
        return sum(self.leavers.values())

    def lines(self) -> list[str]:
        head = f"{self.school.name} (URN {self.school.urn}), last year group {vocab.year_label(self.last_year)}:"
        if self.already_done:
            return [head, "  already rolled over into this academic year: nothing to do"]
        out = [head]
        for year in sorted(set(self.moves) | set(self.leavers)):
            if self.moves.get(year):
                out.append(f"  {vocab.year_label(year)} \u2192 {vocab.year_label(year + 1)}: {self.moves[year]}")
            if self.leavers.get(year):
                out.append(f"  {vocab.year_label(year)} \u2192 left: {self.leavers[year]}")
        if len(out) == 1:
            out.append("  no pupils on roll")
        return out


@dataclass
class RolloverResult:
    into_year: int
    schools: list[SchoolRollover]
    applied: bool

    def lines(self) -> list[str]:
        verb = "Rolled over" if self.applied else "Preview of the rollover"
        out = [f"{verb} into {counting.academic_year_label(self.into_year)}:"]
        for school in self.schools:
            out.extend(school.lines())
        moving = sum(s.total_moving for s in self.schools if not s.already_done)
        leaving = sum(s.total_leaving for s in self.schools if not s.already_done)
        out.append(f"{'Moved up' if self.applied else 'Would move up'}: {moving}; "
                   f"{'left' if self.applied else 'would leave'}: {leaving}.")
        if not self.applied:
            out.append("Nothing has changed. Run again with --apply to do it.")
        return out


def rollover_target_year(today: date) -> int:
    """The academic year a rollover moves pupils into: done in June to August, the coming one; else the current."""
    current = counting.academic_year(today)
    return current + 1 if 6 <= today.month <= 8 else current


def last_year_group(school: Organisation, on_roll_years: Iterable[int]) -> int:
    """The school's last year group: the highest it records pupil numbers for, else its phase's last year —
    except that a secondary-age school with no pupils above Year 11 has no sixth form, so Year 11 leave."""
    on_roll = set(on_roll_years)
    recorded = {row.year_group for row in school.year_sizes}
    if recorded:
        return min(LAST_YEAR, max(recorded | on_roll))
    years = school_years(school)
    last = max(years)
    if 11 in years and last > 11 and not any(y > 11 for y in on_roll):
        return 11
    return last


def _already_rolled(school: Organisation, into_year: int) -> bool:
    marker = f"into {counting.academic_year_label(into_year)}"
    return db.session.scalar(
        select(AuditEvent.id).where(AuditEvent.action == "pupils.rollover", AuditEvent.object_type == "organisation",
                                    AuditEvent.object_id == school.id, AuditEvent.detail.like(f"{marker}%")).limit(1)
    ) is not None


def _plan(school: Organisation, counts: Counter, into_year: int) -> SchoolRollover:
    plan = SchoolRollover(school=school, last_year=last_year_group(school, counts))
    plan.already_done = _already_rolled(school, into_year)
    for year, pupils in counts.items():
        if year >= plan.last_year:
            plan.leavers[year] = pupils
        else:
            plan.moves[year] = pupils
    return plan


def rollover(school: Organisation | None = None, *, apply: bool, today: date | None = None) -> RolloverResult:
    """Year-end rollover for one school or all: Year N → N+1, the school's last year group → left.

    Without `apply` it only reports what it would do. A school already rolled over into this academic year is
    left alone (the audit log remembers), so running the command twice does not move pupils two years.
    """
    today = today or date.today()
    into_year = rollover_target_year(today)
    query = select(Organisation).where(Organisation.kind == "school").order_by(Organisation.name)
    if school is not None:
        query = query.where(Organisation.id == school.id)
    plans = []
    with write_transaction() if apply else nullcontext():
        for org in db.session.scalars(query).all():
            counts = Counter(db.session.scalars(select(Pupil.year_group).where(
                Pupil.school_id == org.id, Pupil.status == PupilStatus.ON_ROLL)))
            plan = _plan(org, counts, into_year)
            plans.append(plan)
            if not apply or plan.already_done or not counts:
                continue
            on_roll = (Pupil.school_id == org.id) & (Pupil.status == PupilStatus.ON_ROLL)
            # Leavers first, then everyone else up one year; version bumped so an open edit form is told.
            db.session.execute(update(Pupil).where(on_roll, Pupil.year_group >= plan.last_year).values(
                status=PupilStatus.LEFT, left_on=today, version=Pupil.version + 1, updated_at=utcnow()))
            db.session.execute(update(Pupil).where(on_roll, Pupil.year_group < plan.last_year).values(
                year_group=Pupil.year_group + 1, version=Pupil.version + 1, updated_at=utcnow()))
            counting.refresh_schools([org.id])  # the coordinator's overview totals (Core statements above)
            audit.record("pupils.rollover", target=org, area_id=org.area_id,
                         detail=f"into {counting.academic_year_label(into_year)}: {plan.total_moving} moved up, "
                                f"{plan.total_leaving} left")
        if apply:
            db.session.commit()
    return RolloverResult(into_year=into_year, schools=plans, applied=apply)


def school_by_urn(urn: str) -> Organisation:
    school = db.session.scalar(select(Organisation).where(Organisation.urn == urn, Organisation.kind == "school"))
    if school is None:
        raise NotFound(f"No school has URN {urn}.")
    return school
