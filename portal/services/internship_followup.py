"""The NEET internship programme after the rota: weekly feedback from mentors and interns, coaching and signposting,
the control group, follow-ups of EET/NEET status at 3, 6 and 12 months, and the evaluation that compares the two
groups.

Feedback links: a random token per placement and side; the database keeps only its sha256, so a copy of the
database opens no form. The mentor's link is mailed to the provider's contacts; the intern's link is made on the
coordinator's request and shown once to hand on (the portal keeps no intern contact details), which replaces any
earlier intern link for that week.

Coaching attendance is kept on the intern (pre_start_coached_at, final_coached_at), recorded once each with an
audit event saying who recorded it.
"""
import hashlib
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from portal import policy
from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import (
    FOLLOW_UP_MONTHS,
    FollowUp,
    FollowUpStatus,
    Intern,
    InternshipProgramme,
    Placement,
    PlacementFeedback,
    PlacementStatus,
    ProgrammeStatus,
    User,
    UserStatus,
    utcnow,
)
from portal.models.users import coordinator_areas
from portal.services import audit, mail
from portal.services.db_locks import write_transaction
from portal.services.evaluation_stats import Difference, newcombe_difference
from portal.vocab import Role

MENTOR, INTERN = "mentor", "intern"
SIDE_LABELS = {MENTOR: "Mentor", INTERN: "Intern"}
FEEDBACK_LINK_DAYS = 28  # a feedback link works for four weeks after it was made
SEND_WINDOW_DAYS = 14  # a week that ended longer ago than this gets no feedback request (e.g. a late first run)
LIVE_PLACEMENTS = (PlacementStatus.APPROVED, PlacementStatus.COMPLETED)
TEXT_MAX = 2000
NAME_MAX, TOWN_MAX = 120, 120
NEET_MONTHS_MAX = 120
AGE_BANDS = (("16-17", "16 to 17"), ("18-19", "18 to 19"), ("20-24", "20 to 24"))
COACHING = {"pre_start": "Pre-start coaching", "final": "Final coaching day"}
COACHING_ACTION = "intern.coaching_recorded"
FOLLOW_UP_LABELS = {FollowUpStatus.EET: "In education, employment or training (EET)",
                    FollowUpStatus.NEET: "Not in education, employment or training (NEET)",
                    FollowUpStatus.NOT_KNOWN: "Not known"}
MIN_KNOWN = 10  # fewer than this with a known status in either group: too few to conclude anything
_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and copied by hand


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _require(user: User, programme: InternshipProgramme) -> None:
    if not policy.can_follow_up_programme(user, programme):
        raise NotAllowed("Only a coordinator of this programme's area can do that.")


def week_ends_on(programme: InternshipProgramme, week_no: int) -> date:
    """The Friday of a placement week (weeks start on a Monday)."""
    return programme.week_starts[week_no - 1] + timedelta(days=4)


def programme_ends_on(programme: InternshipProgramme) -> date:
    return week_ends_on(programme, 4)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day if it has no such day (31 May + 3 → 31 August,
    30 November + 3 → 28 or 29 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    return min(day.replace(year=year, month=month, day=1) + timedelta(days=day.day - 1),
               next_month - timedelta(days=1))


# --- weekly feedback ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FeedbackRun:
    created: int
    mailed: int


def _provider_contacts(provider_id: int) -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.organisation_id == provider_id, User.role == Role.PROVIDER,
                           User.status == UserStatus.ACTIVE).order_by(User.id)
    ))


def send_feedback_requests(*, now: datetime | None = None) -> FeedbackRun:
    """After each placement week's Friday, make the mentor's and the intern's feedback links once each, and mail
    the mentor's to the provider's contacts. Run daily from a scheduler. Commits once."""
    now = now or utcnow()
    today = now.date()
    created = mailed = 0
    with write_transaction():
        rows = db.session.execute(
            select(Placement, InternshipProgramme)
            .join(InternshipProgramme, InternshipProgramme.id == Placement.programme_id)
            .where(Placement.status.in_(LIVE_PLACEMENTS),
                   InternshipProgramme.status.in_((ProgrammeStatus.ROTA_APPROVED, ProgrammeStatus.COMPLETED)))
            .order_by(Placement.id)
        ).all()
        due = [(placement, programme) for placement, programme in rows
               if timedelta(0) <= today - week_ends_on(programme, placement.week_no) <= timedelta(SEND_WINDOW_DAYS)]
        if not due:
            return FeedbackRun(0, 0)
        existing = set(db.session.execute(
            select(PlacementFeedback.placement_id, PlacementFeedback.side)
            .where(PlacementFeedback.placement_id.in_([placement.id for placement, _ in due]))
        ).all())
        for placement, programme in due:
            for side in (MENTOR, INTERN):
                if (placement.id, side) in existing:
                    continue
                raw = secrets.token_urlsafe(32)
                db.session.add(PlacementFeedback(placement_id=placement.id, side=side, token_hash=_digest(raw),
                                                 sent_at=now))
                created += 1
                if side == MENTOR:
                    mailed += _mail_mentor_link(placement, programme, raw)
        try:
            db.session.commit()
        except IntegrityError:  # another run made them first: theirs stand
            db.session.rollback()
            return FeedbackRun(0, 0)
    return FeedbackRun(created, mailed)


def _mail_mentor_link(placement: Placement, programme: InternshipProgramme, raw: str) -> int:
    contacts = _provider_contacts(placement.provider_id)
    url = mail.link("feedback.form", token=raw)
    subject = f"How did week {placement.week_no} go? Feedback on intern {placement.intern.reference}"
    for contact in contacts:
        mail.queue_mail(contact.email, subject, "placement_feedback_request", name=contact.name, url=url,
                        reference=placement.intern.reference, week_no=placement.week_no,
                        week_starts=programme.week_starts[placement.week_no - 1],
                        mentor_name=placement.offer.mentor_name if placement.offer else None,
                        provider_name=placement.provider.name, programme_name=programme.name,
                        days=FEEDBACK_LINK_DAYS)
    return len(contacts)


@dataclass(frozen=True)
class FeedbackLink:
    """What a feedback link leads to: `state` is "open", "done", "expired" or "unknown"."""

    state: str
    feedback: PlacementFeedback | None = None

    @property
    def heading(self) -> str:
        feedback = self.feedback
        if feedback is None:
            return "Feedback"
        return f"Week {feedback.placement.week_no} at {feedback.placement.provider.name}"


def feedback_link(raw: str) -> FeedbackLink:
    """The feedback row a link opens, and whether it can still be filled in."""
    feedback = db.session.scalar(select(PlacementFeedback).where(PlacementFeedback.token_hash == _digest(raw or "")))
    if feedback is None:
        return FeedbackLink("unknown")
    if feedback.submitted_at is not None:
        return FeedbackLink("done", feedback)
    if feedback.sent_at + timedelta(days=FEEDBACK_LINK_DAYS) <= utcnow():
        return FeedbackLink("expired", feedback)
    return FeedbackLink("open", feedback)


def submit_feedback(raw: str, *, rating: int, went_well: str | None, to_improve: str | None,
                    ip: str | None = None) -> PlacementFeedback:
    """Store the answers of a feedback link, once. The link is the authority: no account is needed."""
    if rating not in range(1, 6):
        raise ValidationFailed("Choose a rating from 1 to 5.", field="rating")
    went_well, to_improve = _text(went_well, "went_well"), _text(to_improve, "to_improve")
    now = utcnow()
    with write_transaction():
        changed = db.session.execute(
            update(PlacementFeedback)
            .where(PlacementFeedback.token_hash == _digest(raw or ""), PlacementFeedback.submitted_at.is_(None),
                   PlacementFeedback.sent_at > now - timedelta(days=FEEDBACK_LINK_DAYS))
            .values(submitted_at=now, rating=rating, went_well=went_well, to_improve=to_improve)
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            db.session.rollback()
            raise InvalidState("This feedback link has already been used or has expired.")
        feedback = db.session.scalar(select(PlacementFeedback).where(PlacementFeedback.token_hash == _digest(raw)))
        audit.record("placement_feedback.submitted", ip=ip, target=feedback,
                     area_id=_programme_of(feedback).area_id,
                     detail=f"{feedback.side}, week {feedback.placement.week_no}")
        db.session.commit()
    return feedback


def _programme_of(feedback: PlacementFeedback) -> InternshipProgramme:
    return db.session.get(InternshipProgramme, feedback.placement.programme_id)


def _text(value: str | None, field_name: str, limit: int = TEXT_MAX) -> str | None:
    value = (value or "").strip()
    if len(value) > limit:
        raise ValidationFailed(f"Keep it to {limit} characters or fewer.", field=field_name)
    return value or None


@dataclass(frozen=True)
class FeedbackRow:
    placement: Placement
    mentor: PlacementFeedback | None
    intern: PlacementFeedback | None


def feedback_rows(programme: InternshipProgramme) -> list[FeedbackRow]:
    """Every live placement of the programme with its two feedback forms (None: not sent yet), by intern and week."""
    placements = list(db.session.scalars(
        select(Placement).join(Intern, Intern.id == Placement.intern_id)
        .where(Placement.programme_id == programme.id, Placement.status.in_(LIVE_PLACEMENTS))
        .order_by(Intern.reference, Placement.week_no)
    ))
    by_side = {(f.placement_id, f.side): f for f in db.session.scalars(
        select(PlacementFeedback).where(PlacementFeedback.placement_id.in_([p.id for p in placements]))
    )} if placements else {}
    return [FeedbackRow(p, by_side.get((p.id, MENTOR)), by_side.get((p.id, INTERN))) for p in placements]


def new_intern_link(feedback: PlacementFeedback, *, by: User, ip: str | None = None) -> str:
    """Make a fresh link to the intern's form for the coordinator to hand on; any earlier one stops working.
    Returns the link's token (kept nowhere but in the link)."""
    programme = _programme_of(feedback)
    _require(by, programme)
    if feedback.side != INTERN:
        raise InvalidState("Only the intern's link is handed on by the coordinator; the mentor's is mailed.")
    raw = secrets.token_urlsafe(32)
    with write_transaction():
        changed = db.session.execute(
            update(PlacementFeedback)
            .where(PlacementFeedback.id == feedback.id, PlacementFeedback.submitted_at.is_(None))
            .values(token_hash=_digest(raw), sent_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            db.session.rollback()
            raise InvalidState("The intern has already given their feedback for this week.")
        audit.record("placement_feedback.intern_link_made", actor=by, ip=ip, target=feedback,
                     area_id=programme.area_id)
        db.session.commit()
    db.session.refresh(feedback)
    return raw


# --- coaching and signposting ------------------------------------------------------------------------------------

def _programme_intern(intern: Intern, by: User) -> None:
    _require(by, intern.programme)
    if intern.is_control:
        raise InvalidState("Control-group members are not on the programme: no coaching or signposting.")


COACHING_COLUMNS = {"pre_start": "pre_start_coached_at", "final": "final_coached_at"}


def coaching_recorded(programme: InternshipProgramme) -> dict[int, dict[str, datetime]]:
    """For each intern, the coaching sessions recorded as attended and when."""
    found: dict[int, dict[str, datetime]] = defaultdict(dict)
    for intern in programme.interns:
        for session, column in COACHING_COLUMNS.items():
            if getattr(intern, column) is not None:
                found[intern.id][session] = getattr(intern, column)
    return found


def record_coaching(intern: Intern, session: str, *, by: User, ip: str | None = None) -> None:
    """Record that the intern attended the pre-start coaching or the final coaching day. Commits once."""
    _programme_intern(intern, by)
    if session not in COACHING:
        raise ValidationFailed("Choose the pre-start coaching or the final coaching day.")
    if session == "final" and intern.programme.status != ProgrammeStatus.COMPLETED \
            and date.today() < programme_ends_on(intern.programme):
        raise InvalidState("The final coaching day comes after the fourth week.")
    column = getattr(Intern, COACHING_COLUMNS[session])
    with write_transaction():
        # One conditional UPDATE: recorded once, even when two coordinators press at the same moment.
        done = db.session.execute(
            update(Intern).where(Intern.id == intern.id, column.is_(None)).values({column: utcnow()})
        ).rowcount
        if not done:
            db.session.rollback()
            raise InvalidState(f"{COACHING[session]} is already recorded for {intern.reference}.")
        audit.record(COACHING_ACTION, actor=by, ip=ip, target=intern, area_id=intern.area_id, detail=session)
        db.session.commit()
    db.session.refresh(intern)


def save_signposting(intern: Intern, note: str | None, *, by: User, ip: str | None = None) -> Intern:
    """The next opportunity the intern was pointed to. Commits once."""
    _programme_intern(intern, by)
    note = _text(note, "note")
    with write_transaction():
        intern = db.session.get(Intern, intern.id)
        intern.signposting_note = note
        audit.record("intern.signposting_saved", actor=by, ip=ip, target=intern, area_id=intern.area_id)
        db.session.commit()
    return intern


# --- the control group -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ControlMember:
    age_band: str
    neet_months: int
    display_name: str | None = None
    town: str | None = None


def _new_reference() -> str:
    while True:
        reference = "C" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
        if db.session.scalar(select(func.count()).select_from(Intern).where(Intern.reference == reference)) == 0:
            return reference


def control_group(programme: InternshipProgramme) -> list[Intern]:
    return list(db.session.scalars(
        select(Intern).where(Intern.programme_id == programme.id, Intern.is_control.is_(True)).order_by(Intern.id)
    ))


def programme_interns(programme: InternshipProgramme) -> list[Intern]:
    return list(db.session.scalars(
        select(Intern).where(Intern.programme_id == programme.id, Intern.is_control.is_(False)).order_by(Intern.id)
    ))


def add_control_member(programme: InternshipProgramme, member: ControlMember, *, by: User,
                       ip: str | None = None) -> Intern:
    """Add a comparable young person not on the programme to its control group: the same minimal data as an
    intern, follow-ups at the same points, never a placement. Commits once."""
    _require(by, programme)
    if member.age_band not in dict(AGE_BANDS):
        raise ValidationFailed("Choose an age band.", field="age_band")
    if not 0 <= member.neet_months <= NEET_MONTHS_MAX:
        raise ValidationFailed(f"Give a number of months from 0 to {NEET_MONTHS_MAX}.", field="neet_months")
    display_name = _text(member.display_name, "display_name", NAME_MAX)
    town = _text(member.town, "town", TOWN_MAX)
    with write_transaction():
        programme = db.session.get(InternshipProgramme, programme.id)
        intern = Intern(programme_id=programme.id, area_id=programme.area_id, reference=_new_reference(),
                        display_name=display_name, is_control=True, age_band=member.age_band,
                        neet_months=member.neet_months, town=town)
        db.session.add(intern)
        db.session.flush()
        if programme.status == ProgrammeStatus.COMPLETED:
            _add_follow_ups(programme, [intern])
        audit.record("intern.control_added", actor=by, ip=ip, target=intern, area_id=programme.area_id,
                     detail=f"programme {programme.id}")
        db.session.commit()
    return intern


# --- completing the programme and the follow-ups -----------------------------------------------------------------

def _add_follow_ups(programme: InternshipProgramme, interns: list[Intern]) -> int:
    ends = programme_ends_on(programme)
    have = set(db.session.execute(
        select(FollowUp.intern_id, FollowUp.months).where(FollowUp.intern_id.in_([i.id for i in interns]))
    ).all()) if interns else set()
    added = 0
    for intern in interns:
        for months in FOLLOW_UP_MONTHS:
            if (intern.id, months) not in have:
                db.session.add(FollowUp(intern_id=intern.id, months=months, due_on=add_months(ends, months)))
                added += 1
    return added


def complete_programme(programme: InternshipProgramme, *, by: User, ip: str | None = None) -> int:
    """Mark a programme whose rota was approved as completed, and plan the follow-ups at 3, 6 and 12 months after
    the fourth week for every intern and every control-group member. Returns how many follow-ups were planned."""
    _require(by, programme)
    with write_transaction():
        changed = db.session.execute(
            update(InternshipProgramme)
            .where(InternshipProgramme.id == programme.id, InternshipProgramme.status == ProgrammeStatus.ROTA_APPROVED)
            .values(status=ProgrammeStatus.COMPLETED, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed != 1:
            db.session.rollback()
            raise InvalidState("Only a programme whose rota was approved can be completed"
                               + (": this one is already completed." if programme.status == ProgrammeStatus.COMPLETED
                                  else "."))
        interns = list(db.session.scalars(select(Intern).where(Intern.programme_id == programme.id)))
        added = _add_follow_ups(programme, interns)
        audit.record("internship_programme.completed", actor=by, ip=ip, target=programme, area_id=programme.area_id,
                     detail=f"{added} follow-ups planned")
        db.session.commit()
    db.session.refresh(programme)
    return added


@dataclass(frozen=True)
class FollowUpRow:
    intern: Intern
    follow_up: FollowUp
    due: bool


def follow_up_rows(programme: InternshipProgramme, months: int, *, today: date) -> list[FollowUpRow]:
    """The programme's interns, then its control group, with their follow-up at `months`."""
    rows = db.session.execute(
        select(Intern, FollowUp).join(FollowUp, FollowUp.intern_id == Intern.id)
        .where(Intern.programme_id == programme.id, FollowUp.months == months)
        .order_by(Intern.is_control, Intern.id)
    ).all()
    return [FollowUpRow(intern, follow_up, follow_up.due_on <= today) for intern, follow_up in rows]


def record_follow_ups(programme: InternshipProgramme, months: int, statuses: dict[int, str], *, by: User,
                      today: date, ip: str | None = None) -> int:
    """Save the EET / NEET / not known answers at one follow-up point ({follow-up id: status or ""}); only
    follow-ups that are due can be answered. Returns how many changed. Commits once."""
    _require(by, programme)
    if months not in FOLLOW_UP_MONTHS:
        raise ValidationFailed("There is no follow-up at that point.")
    allowed = {status.value for status in FollowUpStatus}
    now = utcnow()
    changed = 0
    with write_transaction():
        rows = {row.follow_up.id: row for row in follow_up_rows(programme, months, today=today)}
        for follow_up_id, status in statuses.items():
            row = rows.get(follow_up_id)
            status = status or None
            if row is None or (status is not None and status not in allowed):
                db.session.rollback()
                raise ValidationFailed("Choose EET, NEET or not known for each young person.")
            if row.follow_up.status == status:
                continue
            if not row.due:
                db.session.rollback()
                raise ValidationFailed(f"The {months}-month follow-up of {row.intern.reference} is not due until "
                                       f"{row.follow_up.due_on:%-d %B %Y}.")
            row.follow_up.status, row.follow_up.recorded_at, row.follow_up.recorded_by_id = status, now, by.id
            changed += 1
        if changed:
            audit.record("follow_ups.recorded", actor=by, ip=ip, target=programme, area_id=programme.area_id,
                         detail=f"{changed} at {months} months")
        db.session.commit()
    return changed


def remind_due_follow_ups(*, now: datetime | None = None) -> int:
    """Mail each area's coordinators, once, about follow-ups that have fallen due and have no answer yet.
    Run daily from a scheduler. Returns how many mails were queued. Commits once."""
    now = now or utcnow()
    with write_transaction():
        rows = db.session.execute(
            select(FollowUp, InternshipProgramme)
            .join(Intern, Intern.id == FollowUp.intern_id)
            .join(InternshipProgramme, InternshipProgramme.id == Intern.programme_id)
            .where(FollowUp.due_on <= now.date(), FollowUp.status.is_(None), FollowUp.reminded_at.is_(None))
            .order_by(InternshipProgramme.id, FollowUp.months)
        ).all()
        by_area: dict[int, dict[tuple[int, int], list[FollowUp]]] = defaultdict(lambda: defaultdict(list))
        programmes: dict[int, InternshipProgramme] = {}
        for follow_up, programme in rows:
            by_area[programme.area_id][(programme.id, follow_up.months)].append(follow_up)
            programmes[programme.id] = programme
        sent = 0
        for area_id, groups in by_area.items():
            coordinators = list(db.session.scalars(
                select(User).join(coordinator_areas, coordinator_areas.c.user_id == User.id)
                .where(coordinator_areas.c.area_id == area_id, User.role == Role.COORDINATOR,
                       User.status == UserStatus.ACTIVE).order_by(User.id)
            ))
            if not coordinators:
                continue  # left unreminded: mailed once the area has a coordinator
            items = [{"programme": programmes[pid].name, "months": months, "count": len(due),
                      "url": mail.link("internship_followup.follow_ups", programme_id=pid, months=months)}
                     for (pid, months), due in groups.items()]
            total = sum(item["count"] for item in items)
            for coordinator in coordinators:
                mail.queue_mail(coordinator.email, f"Internship follow-ups due: {total} young "
                                f"{'person' if total == 1 else 'people'}", "follow_ups_due",
                                name=coordinator.name, items=items)
                sent += 1
            for due in groups.values():
                for follow_up in due:
                    follow_up.reminded_at = now
        db.session.commit()
    return sent


# --- the evaluation ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GroupRate:
    eet: int
    neet: int
    not_known: int  # recorded as not known
    unrecorded: int  # nothing recorded yet

    @property
    def known(self) -> int:
        return self.eet + self.neet

    @property
    def unknown(self) -> int:
        return self.not_known + self.unrecorded

    @property
    def total(self) -> int:
        return self.known + self.unknown

    @property
    def rate(self) -> float | None:
        return self.eet / self.known if self.known else None


@dataclass(frozen=True)
class PointResult:
    months: int
    due_on: date | None
    due: bool
    programme: GroupRate
    control: GroupRate
    difference: Difference | None
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Evaluation:
    points: list[PointResult]
    interns: int
    controls: int
    interns_placed: int
    weeks_completed: int

    @property
    def contacts(self) -> int:
        """Each completed week is a contact for the intern (four providers, four contacts)."""
        return self.weeks_completed


def _rate(follow_ups: list[FollowUp]) -> GroupRate:
    statuses = [f.status for f in follow_ups]
    return GroupRate(eet=statuses.count(FollowUpStatus.EET), neet=statuses.count(FollowUpStatus.NEET),
                     not_known=statuses.count(FollowUpStatus.NOT_KNOWN), unrecorded=statuses.count(None))


def _warnings(programme: GroupRate, control: GroupRate, difference: Difference | None) -> list[str]:
    warnings = []
    small = [name for name, group in (("the programme group", programme), ("the control group", control))
             if group.known < MIN_KNOWN]
    if small:
        warnings.append(f"Too few to conclude anything: fewer than {MIN_KNOWN} young people with a known status in "
                        f"{' and '.join(small)}.")
    if difference is not None and difference.could_be_chance:
        warnings.append("The interval includes 0: the difference could be chance.")
    return warnings


def evaluation(programme: InternshipProgramme, *, today: date) -> Evaluation:
    """The programme's own figures, and at each follow-up point the EET rates of the programme and control groups
    (of those with a known status) with the difference's 95% interval (Newcombe's hybrid score interval).
    Every intern counts, withdrawn ones too: comparing the groups as they were formed keeps drop-outs from
    flattering the programme."""
    interns = db.session.scalars(select(Intern).where(Intern.programme_id == programme.id)).all()
    follow_ups = db.session.scalars(
        select(FollowUp).join(Intern, Intern.id == FollowUp.intern_id).where(Intern.programme_id == programme.id)
    ).all()
    control_ids = {intern.id for intern in interns if intern.is_control}
    points = []
    for months in FOLLOW_UP_MONTHS:
        at = [f for f in follow_ups if f.months == months]
        ours = _rate([f for f in at if f.intern_id not in control_ids])
        theirs = _rate([f for f in at if f.intern_id in control_ids])
        difference = (newcombe_difference(ours.eet, ours.known, theirs.eet, theirs.known)
                      if ours.known and theirs.known else None)
        due_on = min((f.due_on for f in at), default=None)
        points.append(PointResult(months, due_on, due_on is not None and due_on <= today, ours, theirs, difference,
                                  _warnings(ours, theirs, difference)))
    placed = db.session.scalar(
        select(func.count(func.distinct(Placement.intern_id)))
        .where(Placement.programme_id == programme.id, Placement.status.in_(LIVE_PLACEMENTS))
    ) or 0
    completed = db.session.scalar(
        select(func.count()).select_from(Placement)
        .where(Placement.programme_id == programme.id, Placement.status == PlacementStatus.COMPLETED)
    ) or 0
    return Evaluation(points, interns=len(interns) - len(control_ids), controls=len(control_ids),
                      interns_placed=placed, weeks_completed=completed)
