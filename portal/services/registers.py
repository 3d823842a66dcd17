"""Registers: who a school sends to a session, who attended, how it went, and the provider's confirmation.

- Before the session is recorded the school's careers lead chooses who goes (the portal suggests pupils in
  counting.who_to_send_order(); places are respected; a pupil is on a register at most once).
- After the session starts the careers lead records who attended and the meaningful-encounter checklist; the
  same call again later is a correction, audited with what changed. Counting's totals follow at once.
- The provider confirms delivery from its side. Providers only ever see counts, never pupils.

Each public function that changes something is one use case in a write_transaction() and commits once.
"""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, delete, func, or_, select
from sqlalchemy.orm import contains_eager

from portal import policy
from portal.catalogue import OFFER_TYPES, Unit
from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import Area, Match, MatchStatus, Pupil, PupilStatus, RegisterEntry, SessionRecord, User, utcnow
from portal.models.year_groups import describe, from_mask
from portal.services import audit, counting, match_transitions
from portal.services.db_locks import write_transaction
from portal.services.school_requests import match_status_label
from portal.vocab import year_label

CLASS_PLACES = 35  # an allocation counted in classes (primary kits) is a class's worth of pupils each
REFLECTIONS_MAX = 2000
FILLABLE = (MatchStatus.CONFIRMED, MatchStatus.SCHEDULED, MatchStatus.DELIVERED)
RECORDABLE = (MatchStatus.SCHEDULED, MatchStatus.DELIVERED, MatchStatus.RECORDED)
CONFIRMABLE = (MatchStatus.SCHEDULED, MatchStatus.DELIVERED, MatchStatus.RECORDED)

# --- who may ---------------------------------------------------------------------------------------------------------

def is_school_lead(user: User, match: Match) -> bool:
    """The school's careers leads keep its registers (they alone see its pupils)."""
    return policy.can_keep_register(user, match)


def is_provider(user: User, match: Match) -> bool:
    return policy.can_confirm_delivery(user, match)


# --- what a register holds -------------------------------------------------------------------------------------

def places(match: Match) -> int:
    """How many pupils the match's register may hold."""
    kind = OFFER_TYPES.get(match.offer.type)
    return match.allocation * (CLASS_PLACES if kind and kind.unit == Unit.CLASSES else 1)


def allowed_years(match: Match) -> list[int]:
    """Year groups both the offer and the request are for."""
    return from_mask(match.offer.year_mask & match.request.year_mask)


def record_for(match: Match) -> SessionRecord | None:
    return db.session.get(SessionRecord, match.id)


def entries(match: Match) -> list[RegisterEntry]:
    """The register's entries with their pupils, in who-to-send order (one query: the pupils are joined in)."""
    return list(db.session.scalars(
        select(RegisterEntry).join(RegisterEntry.pupil).options(contains_eager(RegisterEntry.pupil))
        .where(RegisterEntry.match_id == match.id).order_by(*counting.who_to_send_order())))


def _eligible(match: Match):
    return (Pupil.school_id == match.request.school_id, Pupil.status == PupilStatus.ON_ROLL,
            Pupil.year_group.in_(allowed_years(match) or [-1]))


def candidates(match: Match) -> list[Pupil]:
    """Every pupil who could go, in who-to-send order: on roll at the school in an allowed year group, and anyone
    already on the register (who may since have left or moved year). One query."""
    on_register = select(RegisterEntry.pupil_id).where(RegisterEntry.match_id == match.id)
    return list(db.session.scalars(select(Pupil).where(or_(and_(*_eligible(match)), Pupil.id.in_(on_register)))
                                   .order_by(*counting.who_to_send_order())))


def suggest(match: Match) -> list[Pupil]:
    """Who to send: on-roll pupils of the school in the allowed year groups, furthest from the target first, up
    to the places (one query)."""
    query = select(Pupil).where(*_eligible(match)).order_by(*counting.who_to_send_order()).limit(places(match))
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class Summary:
    """Counts only: safe for the provider and the coordinators."""

    sent: int
    attended: int
    recorded: bool
    meaningful: bool | None
    places: int
    target: str  # the area's target in words (counting.target_text)

    @property
    def left(self) -> int:
        return max(self.places - self.sent, 0)


def summary(match: Match) -> Summary:
    sent, attended = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((RegisterEntry.attended.is_(True), 1), else_=0)), 0))
        .where(RegisterEntry.match_id == match.id)).one()
    record = record_for(match)
    return Summary(sent=sent, attended=int(attended), recorded=record is not None,
                   meaningful=record.meaningful if record else None, places=places(match), target=target_text(match))


def target_text(match: Match) -> str:
    """The target of the match's area, in words, for the register's and the match page's sentences."""
    return counting.target_text(db.session.get(Area, match.area_id))


@dataclass(frozen=True)
class PupilRow:
    """A pupil as the school's careers lead sees them on a register (never shown to anyone else)."""

    id: int
    reference: str
    name: str
    year: str
    form: str
    contacts: int
    flags: str
    last_contact: str
    ticked: bool


def _flags(pupil: Pupil) -> str:
    return ", ".join(label for on, label in ((pupil.at_risk, "At risk of NEET"), (pupil.disadvantaged, "Disadvantaged"),
                                             (pupil.send, "SEND"), (not pupil.on_roll, "Left")) if on)


def pupil_rows(pupils, ticked: set[int], *, names: bool) -> list[PupilRow]:
    """`names`: the school has opted in to storing names (else a leftover name is never shown)."""
    return [PupilRow(id=p.id, reference=p.reference, name=(p.display_name or "") if names else "",
                     year=year_label(p.year_group),
                     form=p.form_group or "", contacts=p.contacts, flags=_flags(p),
                     last_contact=p.last_contact_on.strftime("%-d %b %Y") if p.last_contact_on else "Never",
                     ticked=p.id in ticked) for p in pupils]


def register_ids(match: Match) -> list[int]:
    return list(db.session.scalars(select(RegisterEntry.pupil_id).where(RegisterEntry.match_id == match.id)))


def can_fill(match: Match) -> bool:
    return match.status in FILLABLE and record_for(match) is None


def can_record(match: Match, now: datetime | None = None) -> bool:
    return match.status in RECORDABLE and has_started(match, now)


def has_started(match: Match, now: datetime | None = None) -> bool:
    return match.session_starts_at is not None and match.session_starts_at <= (now or datetime.now())


@dataclass(frozen=True)
class Panel:
    """The register's summary on the match page: counts only."""

    summary: Summary
    delivery: str


def panel(user: User, match: Match) -> Panel | None:
    """The register's summary for the match page: counts only (the actions to fill or record it are the page's
    actions, from match_lifecycle.actions_for)."""
    if match.status not in (*FILLABLE, MatchStatus.RECORDED):
        return None
    confirmed = match.delivery_confirmed_at
    delivery = (f"Confirmed by the provider on {confirmed.strftime('%-d %B %Y')}" if confirmed
                else "Not confirmed by the provider yet")
    return Panel(summary=summary(match), delivery=delivery)


# --- use cases -----------------------------------------------------------------------------------------------------

def _lock(match_id: int, request_id: int) -> Match:
    """The request's row, then the match's, fresh (the ids are read before the transaction: the view's copy of the
    match is expired by then, and reading them from it would cost a query)."""
    match_transitions.lock_request(request_id)
    return db.session.scalars(
        select(Match).where(Match.id == match_id).with_for_update().execution_options(populate_existing=True)
    ).one()


def _not_now(match: Match, doing: str) -> InvalidState:
    return InvalidState(f"This match is {match_status_label(match.status).lower()}, so {doing}.")


@dataclass(frozen=True)
class RegisterChange:
    added: int
    removed: int
    total: int


def set_register(match: Match, pupil_ids, *, by: User, ip: str | None = None) -> RegisterChange:
    """Replace the register with these pupils. Only the school's careers leads, while the match is confirmed,
    scheduled or delivered and before attendance is recorded; never more pupils than places; only on-roll pupils
    of the school in the allowed year groups (pupils already on the register may stay). Commits once."""
    if not is_school_lead(by, match):
        raise NotAllowed("Only the school's careers leads can choose who goes.")
    ids = [int(i) for i in pupil_ids]
    if len(set(ids)) != len(ids):
        raise ValidationFailed("A pupil can be on the register only once.", field="pupil_ids")
    locking = match.id, match.request_id
    with write_transaction():
        match = _lock(*locking)
        if record_for(match) is not None:
            raise InvalidState("Attendance is already recorded: correct it on the attendance page instead.")
        if match.status not in FILLABLE:
            raise _not_now(match, "its register cannot be changed")
        limit = places(match)
        if len(ids) > limit:
            raise ValidationFailed(f"Choose at most {limit} pupils: this match has {limit} places "
                                   f"({len(ids)} chosen).", field="pupil_ids")
        current = {e.pupil_id: e for e in db.session.scalars(
            select(RegisterEntry).where(RegisterEntry.match_id == match.id))}
        new_ids = [i for i in ids if i not in current]
        pupils = {p.id: p for p in db.session.scalars(select(Pupil).where(Pupil.id.in_(new_ids or [-1])))}
        years = set(allowed_years(match))
        problems = []
        for pupil_id in new_ids:
            pupil = pupils.get(pupil_id)
            if pupil is None or pupil.school_id != match.request.school_id:
                problems.append("a pupil who is not on your school's roll")
            elif not pupil.on_roll:
                problems.append(f"{pupil.reference}, who has left")
            elif pupil.year_group not in years:
                problems.append(f"{pupil.reference}, who is not in {describe(years)}")
        if problems:
            raise ValidationFailed("These pupils cannot go: " + "; ".join(dict.fromkeys(problems)) + ".",
                                   field="pupil_ids")
        removed = [i for i in current if i not in ids]
        if removed:
            db.session.execute(delete(RegisterEntry).where(RegisterEntry.match_id == match.id,
                                                           RegisterEntry.pupil_id.in_(removed)))
            for pupil_id in removed:
                db.session.expunge(current[pupil_id])
        for pupil_id in new_ids:
            pupil = pupils[pupil_id]
            db.session.add(RegisterEntry(match_id=match.id, pupil_id=pupil.id, school_id=pupil.school_id,
                                         provider_id=match.offer.provider_id, year_group=pupil.year_group,
                                         added_by_id=by.id))
        change = RegisterChange(added=len(new_ids), removed=len(removed), total=len(ids))
        if change.added or change.removed:
            audit.record("register.set", actor=by, ip=ip, target=match, area_id=match.area_id,
                         detail=f"{change.total} on the register (+{change.added}, −{change.removed})")
        db.session.commit()
    return change


@dataclass(frozen=True)
class Checklist:
    """The four Gatsby criteria of a meaningful encounter."""

    purpose_shared: bool = False
    learning_outcomes: bool = False
    two_way: bool = False
    time_to_reflect: bool = False

    @property
    def meaningful(self) -> bool:
        return self.purpose_shared and self.learning_outcomes and self.two_way and self.time_to_reflect


@dataclass(frozen=True)
class Recording:
    corrected: bool  # attendance had been recorded before
    changes: tuple[str, ...]  # what this call changed (empty: nothing)
    attended: int
    sent: int


def record_attendance(match: Match, attended_ids, checklist: Checklist, reflections: str | None = None, *,
                      by: User, ip: str | None = None, now: datetime | None = None) -> Recording:
    """Record (or correct) who attended and whether the session was meaningful, after it started. The match moves
    to recorded; the pupils' counts follow. Commits once."""
    now = now or datetime.now()
    if not is_school_lead(by, match):
        raise NotAllowed("Only the school's careers leads can record attendance.")
    reflections = (reflections or "").strip() or None
    if reflections and len(reflections) > REFLECTIONS_MAX:
        raise ValidationFailed(f"Keep the reflections to {REFLECTIONS_MAX} characters.", field="reflections")
    attended = {int(i) for i in attended_ids}
    locking = match.id, match.request_id
    with write_transaction():
        match = _lock(*locking)
        if match.status not in RECORDABLE:
            raise _not_now(match, "attendance cannot be recorded")
        if match.session_starts_at is None or match.session_starts_at > now:
            raise InvalidState("The session has not started yet: record attendance after it.")
        register = list(db.session.scalars(select(RegisterEntry).where(RegisterEntry.match_id == match.id)))
        if not register:
            raise ValidationFailed("Nobody is on the register: choose who went first.", field="attended")
        on_register = {e.pupil_id for e in register}
        if not attended <= on_register:
            raise ValidationFailed("Mark attendance only for pupils on the register.", field="attended")
        record = record_for(match)
        corrected = record is not None
        changes = []
        now_attending = sum(1 for e in register if e.pupil_id in attended)
        if corrected:
            was = {e.pupil_id for e in register if e.attended}
            if was != attended:
                changes.append(f"attended {len(was)} → {len(attended)} (+{len(attended - was)}, "
                               f"−{len(was - attended)})")
            for name, label in counting.CRITERIA.items():
                if getattr(record, name) != getattr(checklist, name):
                    changes.append(f"{label}: {'yes' if getattr(record, name) else 'no'} → "
                                   f"{'yes' if getattr(checklist, name) else 'no'}")
            if (record.reflections or None) != reflections:
                changes.append("reflections changed")
        else:
            record = SessionRecord(match_id=match.id, held_on=match.session_starts_at.date(), recorded_by_id=by.id)
            db.session.add(record)
            changes.append(f"attended {now_attending} of {len(register)}; "
                           f"{'meaningful' if checklist.meaningful else 'not meaningful'}")
        if corrected and not changes:
            return Recording(corrected=True, changes=(), attended=now_attending, sent=len(register))
        for name in counting.CRITERIA:
            setattr(record, name, getattr(checklist, name))
        record.reflections = reflections
        record.updated_at = utcnow()
        # The academic years this register's entries were counted in, and the one they are counted in now (a
        # session's date may have moved): the only overview totals this can change, with the pupils' year groups.
        years = {e.academic_year for e in register} | {counting.academic_year(record.held_on)}
        schools = {e.school_id for e in register}
        before = match.status
        if before != MatchStatus.RECORDED:
            if not match_transitions.move_and_record(match, before, MatchStatus.RECORDED, by=by,
                                                     note=f"attendance recorded: {now_attending} of "
                                                          f"{len(register)} attended"):
                raise InvalidState("This match changed meanwhile. Look at it again.")
        else:
            match_transitions.record_event(match, before, before, by=by, note="attendance corrected")
        db.session.flush()
        # Attendance is set by mark_entries' UPDATE, with what counts (not through the entries: a flush of them
        # would note the whole school's overview totals for a refresh).
        counting.refresh_pupils(counting.mark_entries(match, attended, pupil_ids=on_register),
                                academic_years=years, entry_schools=schools)
        audit.record("register.correct" if corrected else "register.record", actor=by, ip=ip, target=match,
                     area_id=match.area_id, detail="; ".join(changes))
        db.session.commit()
    return Recording(corrected=corrected, changes=tuple(changes), attended=now_attending, sent=len(register))


@dataclass(frozen=True)
class Confirmation:
    already: bool


def confirm_delivery(match: Match, *, by: User, ip: str | None = None, now: datetime | None = None) -> Confirmation:
    """The provider confirms the session was delivered, after it started: a scheduled match moves to delivered
    (one already recorded stays recorded). Idempotent. Commits once."""
    now = now or datetime.now()
    if not is_provider(by, match):
        raise NotAllowed("Only the provider's contacts can confirm delivery.")
    locking = match.id, match.request_id
    with write_transaction():
        match = _lock(*locking)
        if match.delivery_confirmed_at is not None:
            return Confirmation(already=True)
        if match.status not in CONFIRMABLE:
            raise _not_now(match, "its delivery cannot be confirmed")
        if match.session_starts_at is None or match.session_starts_at > now:
            raise InvalidState("The session has not started yet: confirm delivery after it.")
        before = match.status
        after = MatchStatus.DELIVERED if before == MatchStatus.SCHEDULED else before
        if not match_transitions.move(match.id, before, after, delivery_confirmed_at=now,
                                      delivery_confirmed_by_id=by.id):
            raise InvalidState("This match changed meanwhile. Look at it again.")
        match_transitions.record_event(match, before, after, by=by, note="delivery confirmed by the provider")
        db.session.refresh(match)
        audit.record("match.confirm_delivery", actor=by, ip=ip, target=match, area_id=match.area_id,
                     detail=f"{before} → {after}")
        db.session.commit()
    return Confirmation(already=False)

