"""Reports (issue 4/6): an area's termly impact report, a school's Benchmark 5 report and its pupils' counts CSV.

Figures are aggregates over the register entries and the totals services/counting.py keeps; the rules themselves
(target, Benchmark 5, academic years) are asked of counting.py. Every export of pupil-level data is audited.
"""
import csv
import io
from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, case, func, select
from sqlalchemy.exc import IntegrityError

from portal.errors import NotAllowed, StaleEdit, ValidationFailed
from portal.extensions import db
from portal.models import (
    Area,
    Match,
    Organisation,
    OrgKind,
    Pupil,
    PupilStatus,
    PupilYearCount,
    RegisterEntry,
    ReportNote,
    SessionRecord,
    User,
)
from portal.services import audit, counting, destinations
from portal.services.db_locks import write_transaction
from portal.vocab import Role, year_label

NOTE_MAX = 5000
LONGEST_PERIOD_DAYS = 366 * 2


# --- periods -------------------------------------------------------------------------------------------------------

def current_term(today: date) -> tuple[date, date]:
    """The school term a date falls in, by fixed dates: autumn (September–December), spring (January–March) and
    summer (April–August). A coordinator can choose any other period."""
    if today.month >= 9:
        return date(today.year, 9, 1), date(today.year, 12, 31)
    if today.month <= 3:
        return date(today.year, 1, 1), date(today.year, 3, 31)
    return date(today.year, 4, 1), date(today.year, 8, 31)


def parse_period(start: str | None, end: str | None, *, today: date) -> tuple[date, date, dict[str, str]]:
    """The period from the query string (YYYY-MM-DD), defaulting to the current term; errors per field.

    With errors the current term is returned for the figures and the errors are shown beside the fields."""
    default_start, default_end = current_term(today)
    errors: dict[str, str] = {}

    def parse(value, name, default):
        if value is None or value.strip() == "":
            return default
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            errors[name] = "Enter a date as YYYY-MM-DD, for example 2025-09-01."
            return None

    first = parse(start, "start", default_start)
    last = parse(end, "end", default_end)
    if first and last and not errors:
        if last < first:
            errors["end"] = "The end of the period must be on or after its start."
        elif (last - first).days > LONGEST_PERIOD_DAYS:
            errors["end"] = "Choose a period of two years or less."
    if errors:
        return default_start, default_end, errors
    return first, last, errors


# --- the termly impact report ----------------------------------------------------------------------------------------

@dataclass
class SchoolActivity:
    school_id: int
    name: str
    sessions: int
    pupils: int
    encounters: int


@dataclass
class TermlyReport:
    area: Area
    start: date
    end: date
    sessions: int
    schools: int
    providers: int
    pupils_reached: int
    encounters: int
    contacts: int
    on_roll: int
    at_target: int
    target_label: str
    leavers: int
    not_known: int
    note: ReportNote | None
    by_school: list[SchoolActivity]

    @property
    def planned_activity(self) -> str:
        return self.note.planned_activity if self.note else ""

    def rows(self) -> list[tuple[str, int | str]]:
        """(figure, value) in the order the page and the CSV show them."""
        return [
            ("Sessions held", self.sessions),
            ("Schools reached", self.schools),
            ("Providers engaged", self.providers),
            ("Pupils reached", self.pupils_reached),
            ("Encounters held (attendances)", self.encounters),
            ("Meaningful encounters counted toward the target", self.contacts),
            (f"Pupils on roll at {self.target_label} contacts (now)", self.at_target),
            ("Pupils on roll (now)", self.on_roll),
            ("Recent leavers", self.leavers),
            ("Recent leavers whose destination is not known", self.not_known),
        ]


def termly_report(area: Area, start: date, end: date, *, today: date) -> TermlyReport:
    """Activity in an area's schools between two dates (inclusive), and where its pupils stand now."""
    in_area = select(Organisation.id).where(Organisation.area_id == area.id, Organisation.kind == OrgKind.SCHOOL)
    sessions = db.session.scalar(
        select(func.count()).select_from(SessionRecord).join(Match, Match.id == SessionRecord.match_id)
        .where(Match.area_id == area.id, SessionRecord.held_on.between(start, end))
    ) or 0
    held = (RegisterEntry.school_id.in_(in_area), RegisterEntry.held_on.between(start, end),
            RegisterEntry.attended.is_(True))
    schools, providers, pupils, encounters, contacts = db.session.execute(
        select(func.count(func.distinct(RegisterEntry.school_id)), func.count(func.distinct(RegisterEntry.provider_id)),
               func.count(func.distinct(RegisterEntry.pupil_id)), func.count(),
               func.sum(case((RegisterEntry.counted, 1), else_=0)))
        .where(*held)
    ).one()
    by_school = [
        SchoolActivity(school_id, name, n_sessions, n_pupils, n_encounters)
        for school_id, name, n_sessions, n_pupils, n_encounters in db.session.execute(
            select(Organisation.id, Organisation.name, func.count(func.distinct(RegisterEntry.match_id)),
                   func.count(func.distinct(RegisterEntry.pupil_id)), func.count())
            .join(Organisation, Organisation.id == RegisterEntry.school_id)
            .where(*held).group_by(Organisation.id, Organisation.name).order_by(Organisation.name, Organisation.id)
        )
    ]
    top = counting.target(area)
    on_roll, at_target = db.session.execute(
        select(func.count(), func.sum(case((Pupil.contacts >= top, 1), else_=0)))
        .where(Pupil.school_id.in_(in_area), Pupil.status == PupilStatus.ON_ROLL)
    ).one()
    leavers = not_known = 0
    for _school_id, n_leavers, n_not_known in db.session.execute(
            destinations.not_known_by_school(in_area, today=today)):
        leavers += n_leavers
        not_known += int(n_not_known or 0)
    return TermlyReport(
        area=area, start=start, end=end, sessions=sessions, schools=schools or 0, providers=providers or 0,
        pupils_reached=pupils or 0, encounters=encounters or 0, contacts=int(contacts or 0), on_roll=on_roll or 0,
        at_target=int(at_target or 0), target_label=counting.bucket_label(top, area), leavers=leavers,
        not_known=not_known, note=find_note(area, start, end), by_school=by_school,
    )


def find_note(area: Area, start: date, end: date) -> ReportNote | None:
    return db.session.scalar(select(ReportNote).where(ReportNote.area_id == area.id, ReportNote.period_start == start,
                                                      ReportNote.period_end == end))


def save_note(area: Area, start: date, end: date, text: str, *, by: User, ip: str | None = None) -> ReportNote:
    """Save the coordinator's planned-activity notes for an area and a period. Audited; commits once."""
    from portal import policy

    if by.role not in (Role.COORDINATOR, Role.ADMIN) or not policy.can_see_area(by, area.id):
        raise NotAllowed("Only a coordinator of this area can write its report notes.")
    text = (text or "").strip()
    if len(text) > NOTE_MAX:
        raise ValidationFailed(f"Keep the planned activity to {NOTE_MAX} characters or fewer.",
                               field="planned_activity")
    with write_transaction():
        note = find_note(area, start, end)
        if note is None:
            note = ReportNote(area_id=area.id, period_start=start, period_end=end)
            db.session.add(note)
        note.planned_activity = text
        note.updated_by_id = by.id
        audit.record("report_note.saved", actor=by, ip=ip, target=note, area_id=area.id,
                     detail=f"{start.isoformat()} to {end.isoformat()}: {len(text)} characters")
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            raise StaleEdit("Someone else saved notes for this period meanwhile. Check them and save again.",
                            field="planned_activity") from None
    return note


def _csv(rows: list[list]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def _cell(value):
    """Text that a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def termly_csv(report: TermlyReport) -> str:
    rows: list[list] = [["Area", report.area.name], ["Period start", report.start.isoformat()],
                        ["Period end", report.end.isoformat()], [], ["Figure", "Value"]]
    rows += [[name, value] for name, value in report.rows()]
    rows += [[], ["School", "Sessions", "Pupils reached", "Encounters held"]]
    rows += [[s.name, s.sessions, s.pupils, s.encounters] for s in report.by_school]
    rows += [[], ["Planned activity", report.planned_activity]]
    return _csv(rows)


# --- a school's reports ----------------------------------------------------------------------------------------------

def _check_lead(school: Organisation, by: User) -> None:
    if by.role != Role.CAREERS_LEAD or by.organisation_id != school.id:
        raise NotAllowed("Only the school's careers leads can export its pupils.")


PUPILS_CSV_HEADER = ["Reference", "Name", "Year group", "Form", "Disadvantaged", "SEND", "At risk of NEET", "Status",
                     "Contacts to date", "Contacts this academic year", "Benchmark 5"]


def pupils_csv(school: Organisation, *, by: User, today: date, ip: str | None = None) -> tuple[str, int]:
    """The school's pupils' counts as CSV (names only while the school opts in). Audited as pupils.exported with
    the row count; commits once. Returns (csv text, rows)."""
    _check_lead(school, by)
    year = counting.current_academic_year(today)
    with write_transaction():
        result = db.session.execute(
            select(Pupil, PupilYearCount.contacts)
            .outerjoin(PupilYearCount, and_(PupilYearCount.pupil_id == Pupil.id, PupilYearCount.academic_year == year))
            .where(Pupil.school_id == school.id)
            .order_by(Pupil.status.desc(), Pupil.year_group, Pupil.form_group, Pupil.reference)
        )
        names = school.names_opt_in
        rows = [PUPILS_CSV_HEADER]
        for pupil, this_year in result:
            this_year = this_year or 0
            rows.append([
                pupil.reference, (pupil.display_name or "") if names else "", year_label(pupil.year_group),
                pupil.form_group or "", _yes(pupil.disadvantaged), _yes(pupil.send), _yes(pupil.at_risk),
                "On roll" if pupil.on_roll else "Left", pupil.contacts, this_year,
                "Met" if counting.benchmark5_met(this_year, school) else "Not met",
            ])
        count = len(rows) - 1
        audit.record("pupils.exported", actor=by, ip=ip, target=school, area_id=school.area_id,
                     detail=f"{count} rows (pupils' counts CSV, {counting.academic_year_label(year)})")
        db.session.commit()
    return _csv(rows), count


def _yes(flag: bool) -> str:
    return "Yes" if flag else "No"
