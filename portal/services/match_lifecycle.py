"""A match after approval: both sides accept (or one declines), the session is scheduled, reminders are mailed,
and a match can be cancelled or a no-show recorded.

Every status change goes through services.match_transitions (a conditional UPDATE whose row count is checked) in a
write_transaction(), and commits once. Lock order as in services.matches: the request's row, then the match's, then
the offer's. Places go back to the offer with ONE conditional UPDATE (`allocated - :n ... WHERE allocated >= :n`),
never a read-modify-write.
"""
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select, update

from portal import policy
from portal.catalogue import Delivery
from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import Match, MatchStatus, Offer, Organisation, SchoolRequest, User, UserStatus, utcnow
from portal.models.users import coordinator_areas
from portal.services import audit, browse, mail, match_transitions, registers
from portal.services.db_locks import write_transaction
from portal.services.matches import REASON_MAX, REASON_MIN, label_for, match_label
from portal.services.proposals import proposal_message
from portal.services.school_requests import match_status_label, refresh_request_status
from portal.vocab import Role

PROVIDER, SCHOOL = "provider", "school"
SIDE_LABELS = {PROVIDER: "the provider", SCHOOL: "the school"}
CANCELLABLE = (MatchStatus.APPROVED, MatchStatus.CONFIRMED, MatchStatus.SCHEDULED)
MINUTES_MIN, MINUTES_MAX = 10, 600
PLACE_MAX, LINK_MAX, CONTACT_MAX = 300, 500, 200
NO_SHOW_DAYS = 90
WEEK, DAY = timedelta(days=7), timedelta(days=1)

_matches = Match.__table__
_offers = Offer.__table__


# --- who is who ----------------------------------------------------------------------------------------------------

def side_of(user: User, match: Match) -> str | None:
    """'provider' for the offer's provider contacts, 'school' for the school's careers leads, else None."""
    if user.role == Role.PROVIDER and policy.can_manage_offer(user, match.offer):
        return PROVIDER
    if user.role == Role.CAREERS_LEAD and policy.can_manage_request(user, match.request):
        return SCHOOL
    return None


def may_see(user: User, match: Match) -> bool:
    return policy.can_see_match(user, match)


def _other(side: str) -> str:
    return SCHOOL if side == PROVIDER else PROVIDER


@dataclass(frozen=True)
class Action:
    label: str
    endpoint: str
    post: bool = False  # a button (POST form) rather than a link to a confirmation page
    hidden: tuple[tuple[str, str], ...] = ()
    args: tuple[tuple[str, str], ...] = ()  # the address's query string (next=match: come back to this page)


def _accepted_at(match: Match, side: str) -> datetime | None:
    return match.provider_accepted_at if side == PROVIDER else match.school_accepted_at


def actions_for(user: User, match: Match, *, now: datetime | None = None) -> list[Action]:
    """What this user may do to the match now, in the order the page shows them."""
    now = now or datetime.now()
    side = side_of(user, match)
    coordinator = policy.can_decide_match(user, match)
    status = match.status
    actions = []
    if coordinator and status == MatchStatus.PROPOSED:
        actions.append(Action("Approve", "matches.approve", post=True, args=(("next", "match"),)))
        actions.append(Action("Reject", "matches.reject"))
    if side and status == MatchStatus.APPROVED:
        if _accepted_at(match, side) is None:
            actions.append(Action("Accept", "matches.accept", post=True))
        actions.append(Action("Decline", "matches.decline"))
    if (side or coordinator) and status == MatchStatus.CONFIRMED:
        actions.append(Action("Schedule the session", "matches.schedule"))
    if (side or coordinator) and status == MatchStatus.SCHEDULED:
        actions.append(Action("Change the session", "matches.schedule"))
    if (side or coordinator) and status in CANCELLABLE:
        actions.append(Action("Cancel", "matches.cancel"))
    if status == MatchStatus.SCHEDULED and match.session_starts_at and match.session_starts_at < now:
        for absent in (PROVIDER, SCHOOL):
            if coordinator or side == _other(absent):
                actions.append(Action(f"Record that {SIDE_LABELS[absent]} did not turn up", "matches.no_show",
                                      post=True, hidden=(("side", absent),)))
    started = match.session_starts_at is not None and match.session_starts_at <= now
    if policy.can_keep_register(user, match):  # registers (4/6): the rules are services.registers'
        if status in registers.FILLABLE:
            actions.append(Action("Choose who goes", "registers.register"))
        if started and status in registers.RECORDABLE:
            actions.append(Action("Correct attendance" if status == MatchStatus.RECORDED else "Record attendance",
                                  "registers.attendance"))
    if (policy.can_confirm_delivery(user, match) and started and status in registers.CONFIRMABLE
            and match.delivery_confirmed_at is None):
        actions.append(Action("Confirm delivery", "registers.confirm_delivery", post=True))
    return actions


def scheduling_note(match: Match) -> str:
    """What the page says while the match has no session: what it waits for before it can be scheduled."""
    status = match.status
    if status == MatchStatus.PROPOSED:
        return "Not scheduled yet: it waits for the coordinator's approval, then both sides accept it."
    if status == MatchStatus.APPROVED:
        waiting = [label for side, label in SIDE_LABELS.items() if _accepted_at(match, side) is None]
        return f"Not scheduled yet: it waits for {' and '.join(waiting)} to accept it."
    if status == MatchStatus.CONFIRMED:
        return "Both sides have accepted: either side can now schedule it."
    return f"Not scheduled: this match is {match_status_label(status).lower()}."


# --- what the page shows ---------------------------------------------------------------------------------------------

def _when(value: datetime | None) -> str:
    return value.strftime("%A %-d %B %Y, %H:%M") if value else ""


def acceptance(match: Match) -> list[tuple[str, str]]:
    return [(f"{label[4:].capitalize()}", f"Accepted {_when(_accepted_at(match, side))}"
             if _accepted_at(match, side) else "Not yet accepted") for side, label in SIDE_LABELS.items()]


def session_facts(match: Match) -> list[tuple[str, str]]:
    if match.session_starts_at is None:
        return []
    rows = [("Starts", _when(match.session_starts_at)), ("Length", f"{match.session_minutes} minutes")]
    if match.session_place:
        rows.append(("Place", match.session_place))
    if match.session_link:
        rows.append(("Video link", match.session_link))
    if match.session_contact:
        rows.append(("Contact on the day", match.session_contact))
    return rows


@dataclass(frozen=True)
class HistoryRow:
    at: str
    at_iso: str
    who: str
    change: str
    note: str


def _change(event) -> tuple[str, str]:
    """(change, note) as the history shows them: an event that left the status as it was (one side accepting, a
    hold, a new allocation) reads as its note ("Accepted by the school"), never "Approved → Approved"."""
    note = event.note or ""
    if event.from_status == event.to_status and note:
        return note[:1].upper() + note[1:], ""
    before = match_status_label(event.from_status) if event.from_status else "New"
    return f"{before} → {match_status_label(event.to_status)}", note


def history(match: Match) -> list[HistoryRow]:
    rows = []
    for event in match.events:
        change, note = _change(event)
        rows.append(HistoryRow(at=_when(event.at), at_iso=event.at.isoformat(),
                               who=event.actor.name if event.actor else "The portal", change=change, note=note))
    return rows


def facts(match: Match) -> list[tuple[str, str]]:
    offer = match.offer
    rows = [
        ("Offer", f"{offer.title} ({browse.type_label(offer.type)})"),
        ("Provider", offer.provider.name),
        ("School", match.request.school.name),
        ("Allocation", browse.quantity(offer.type, match.allocation)),
        ("Offer dates", browse.date_range(offer.starts_on, offer.ends_on)),
        ("School's dates", school_dates(match)),
        ("Status", match_status_label(match.status)),
    ]
    if match.reasons:
        rows.append(("Reasons", match.reasons))
    message = proposal_message(match)
    if message:  # the side it was written to reads it here too (the proposal's mail is easily lost)
        rows.append((message.label, message.text))
    if match.no_show_side:
        rows.append(("Did not turn up", SIDE_LABELS[match.no_show_side].capitalize()))
    return rows


@dataclass(frozen=True)
class NoShowRow:
    match_id: int
    label: str
    absent: str
    starts: str


def recent_no_shows(user: User, *, now: datetime | None = None) -> list[NoShowRow]:
    """No-shows of the user's areas whose session was in the last NO_SHOW_DAYS days (one query, of the columns the
    rows show: the queue page asks on every view, and most days there are none)."""
    now = now or datetime.now()
    query = (  # the only organisation joined is the school: no alias needed (building one costs on every view)
        select(Match.id, Offer.title, Organisation.name, Match.no_show_side, Match.session_starts_at)
        .join(Offer, Offer.id == Match.offer_id)
        .join(SchoolRequest, SchoolRequest.id == Match.request_id)
        .join(Organisation, Organisation.id == SchoolRequest.school_id)
        .where(Match.status == MatchStatus.NO_SHOW, Match.session_starts_at >= now - timedelta(days=NO_SHOW_DAYS))
        .order_by(Match.session_starts_at.desc(), Match.id.desc()).limit(50)
    )
    areas = policy.visible_area_ids(user)
    if areas is not None:
        query = query.where(Match.area_id.in_(areas or {-1}))
    return [NoShowRow(match_id=match_id, label=label_for(title, school_name),
                      absent=SIDE_LABELS.get(side or "", "").capitalize(), starts=_when(starts))
            for match_id, title, school_name, side, starts in db.session.execute(query)]


# --- helpers inside a use case's transaction ----------------------------------------------------------------------

def _lock(match: Match) -> Match:
    """Request row, then match row (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE has locked everything)."""
    match_transitions.lock_request(match.request_id)
    return db.session.scalars(
        select(Match).where(Match.id == match.id).with_for_update().execution_options(populate_existing=True)
    ).one()


def _free_places(match: Match) -> None:
    """Give the match's places back to its offer in one conditional UPDATE (never below zero)."""
    offer_id, allocation = match.offer_id, match.allocation
    result = db.session.execute(
        update(_offers)
        .where(_offers.c.id == offer_id, _offers.c.allocated >= allocation)
        .values(allocated=_offers.c.allocated - allocation, version=_offers.c.version + 1, updated_at=utcnow())
    )
    if result.rowcount != 1:
        raise InvalidState("The offer's places do not add up: nothing was changed. Tell your coordinator.")
    db.session.expire(match.offer)  # changed behind the ORM's back (allocated, version)


def _members(organisation_id: int, role: Role) -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.organisation_id == organisation_id, User.role == role,
                           User.status == UserStatus.ACTIVE).order_by(User.id)))


def _coordinators(area_id: int) -> list[User]:
    return list(db.session.scalars(
        select(User).join(coordinator_areas, coordinator_areas.c.user_id == User.id)
        .where(coordinator_areas.c.area_id == area_id, User.role == Role.COORDINATOR,
               User.status == UserStatus.ACTIVE).order_by(User.id)))


def _mail(match: Match, template: str, subject: str, *, sides=(PROVIDER, SCHOOL), coordinators: bool = False,
          **extra) -> None:
    context = {
        "label": match_label(match),
        "offer_title": match.offer.title,
        "provider_name": match.offer.provider.name,
        "school_name": match.request.school.name,
        "amount": browse.quantity(match.offer.type, match.allocation),
        "session": session_facts(match),
        "url": mail.link("matches.view", match_id=match.id),
        **extra,
    }
    people = []
    if PROVIDER in sides:
        people += _members(match.offer.provider_id, Role.PROVIDER)
    if SCHOOL in sides:
        people += _members(match.request.school_id, Role.CAREERS_LEAD)
    if coordinators:
        people += _coordinators(match.area_id)
    for person in people:
        mail.queue_mail(person.email, subject, template, name=person.name, **context)


def _check_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise ValidationFailed(f"Give a reason of {REASON_MIN} to {REASON_MAX} characters.", field="reason")
    return reason


def _not_now(match: Match, doing: str) -> InvalidState:
    return InvalidState(f"This match is {match_status_label(match.status).lower()}, so it cannot be {doing}.")


# --- use cases ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Acceptance:
    already: bool
    confirmed: bool


def accept_match(match: Match, *, by: User, ip: str | None = None, now: datetime | None = None) -> Acceptance:
    """The user's side accepts an approved match; once both sides have, it is confirmed. Idempotent per side."""
    side = side_of(by, match)
    if side is None:
        raise NotAllowed("Only the provider's contacts or the school's careers leads can accept this match.")
    column = _matches.c.provider_accepted_at if side == PROVIDER else _matches.c.school_accepted_at
    with write_transaction():
        match = _lock(match)
        if _accepted_at(match, side) is not None:
            return Acceptance(already=True, confirmed=match.status != MatchStatus.APPROVED)
        if match.status != MatchStatus.APPROVED:
            raise _not_now(match, "accepted")
        result = db.session.execute(
            update(_matches).where(_matches.c.id == match.id, _matches.c.status == MatchStatus.APPROVED,
                                   column.is_(None)).values({column: now or utcnow(), "updated_at": utcnow()}))
        if result.rowcount != 1:
            raise InvalidState("This match changed meanwhile. Look at it again.")
        match_transitions.record_event(match, MatchStatus.APPROVED, MatchStatus.APPROVED, by=by,
                                       note=f"accepted by {SIDE_LABELS[side]}")
        db.session.refresh(match)
        confirmed = bool(match.provider_accepted_at and match.school_accepted_at)
        if confirmed and not match_transitions.move_and_record(match, MatchStatus.APPROVED, MatchStatus.CONFIRMED,
                                                               by=by, note="both sides accepted"):
            raise InvalidState("This match changed meanwhile. Look at it again.")
        audit.record("match.accept", actor=by, ip=ip, target=match, area_id=match.area_id,
                     detail=f"{side}{'; confirmed' if confirmed else ''}")
        _mail(match, "match_accepted", f"Accepted: {match_label(match)}", sides=(_other(side),),
              side=SIDE_LABELS[side], confirmed=confirmed)
        db.session.commit()
    return Acceptance(already=False, confirmed=confirmed)


def decline_match(match: Match, *, by: User, reason: str, ip: str | None = None) -> Match:
    """The user's side declines an approved match with a reason; its places go back to the offer. Commits once."""
    side = side_of(by, match)
    if side is None:
        raise NotAllowed("Only the provider's contacts or the school's careers leads can decline this match.")
    reason = _check_reason(reason)
    with write_transaction():
        match = _lock(match)
        if not match_transitions.move_and_record(match, MatchStatus.APPROVED, MatchStatus.DECLINED, by=by,
                                                 note=f"declined by {SIDE_LABELS[side]}: {reason}"):
            raise _not_now(match, "declined")
        _free_places(match)
        refresh_request_status(match.request)
        audit.record("match.decline", actor=by, ip=ip, target=match, area_id=match.area_id,
                     detail=f"{side}: {reason}")
        _mail(match, "match_declined", f"Declined: {match_label(match)}", sides=(_other(side),), coordinators=True,
              side=SIDE_LABELS[side], reason=reason)
        db.session.commit()
    return match


@dataclass(frozen=True)
class SessionDetails:
    starts_at: datetime | None
    minutes: int | None
    place: str | None
    link: str | None
    contact: str | None


class SessionInvalid(ValidationFailed):
    """The session details break one or more rules; `problems` maps form field to message."""

    def __init__(self, problems: dict[str, str]):
        field, message = next(iter(problems.items()))
        super().__init__(message, field=field)
        self.problems = problems


def session_problems(match: Match, details: SessionDetails, *, now: datetime) -> dict[str, str]:
    offer = match.offer
    problems = {}
    if details.starts_at is None:
        problems["day"] = "Enter the date and start time."
    elif details.starts_at <= now:
        problems["day"] = "The session must start in the future."
    elif message := _outside_dates(match, details.starts_at.date()):
        problems["day"] = message
    if details.minutes is None or not MINUTES_MIN <= details.minutes <= MINUTES_MAX:
        problems["minutes"] = f"Enter a length of {MINUTES_MIN} to {MINUTES_MAX} minutes."
    if offer.delivery == Delivery.VIRTUAL:
        link = details.link or ""
        if not link:
            problems["link"] = "Enter the video link: this offer is delivered online."
        elif urlsplit(link).scheme != "https" or not urlsplit(link).netloc or len(link) > LINK_MAX:
            problems["link"] = f"Enter a video link starting https:// (at most {LINK_MAX} characters)."
    elif not details.place or len(details.place) > PLACE_MAX:
        problems["place"] = f"Enter where the session takes place (at most {PLACE_MAX} characters)."
    if not details.contact or len(details.contact) > CONTACT_MAX:
        problems["contact"] = f"Enter who to ask for on the day (at most {CONTACT_MAX} characters)."
    return problems


def _outside_dates(match: Match, day: date) -> str | None:
    """Why the day is outside the offer's dates or the school's dates for the request (None if within both): a
    session the offer cannot run on, or the school did not ask for, is not one either side agreed to."""
    offer, school_request = match.offer, match.request
    if offer.starts_on <= day <= offer.ends_on:
        if school_request.starts_on <= day <= school_request.ends_on:
            return None
        message = f"The session must be within the school's dates: {school_dates(match)}."
    else:
        message = f"The session must be within the offer's dates: {browse.date_range(offer.starts_on, offer.ends_on)}."
    first, last = max(offer.starts_on, school_request.starts_on), min(offer.ends_on, school_request.ends_on)
    if first > last:
        return f"{message} The offer's dates and the school's dates do not overlap, so no day suits both."
    return f"{message} Days that suit both: {browse.date_range(first, last)}."


def school_dates(match: Match) -> str:
    return browse.date_range(match.request.starts_on, match.request.ends_on)


def schedule_match(match: Match, details: SessionDetails, *, by: User, ip: str | None = None,
                   now: datetime | None = None) -> Match:
    """Set (or change) the session of a confirmed match; a change clears the reminders sent. Commits once."""
    now = now or datetime.now()
    if not may_see(by, match):
        raise NotAllowed("Only the provider, the school or the area's coordinator can schedule this match.")
    problems = session_problems(match, details, now=now)
    if problems:
        raise SessionInvalid(problems)
    virtual = match.offer.delivery == Delivery.VIRTUAL
    values = {"session_starts_at": details.starts_at, "session_minutes": details.minutes,
              "session_place": None if virtual else details.place, "session_link": details.link if virtual else None,
              "session_contact": details.contact, "reminded_week_at": None, "reminded_day_at": None}
    with write_transaction():
        match = _lock(match)
        before = match.status
        if before not in (MatchStatus.CONFIRMED, MatchStatus.SCHEDULED):
            raise _not_now(match, "scheduled")
        if not match_transitions.move(match.id, before, MatchStatus.SCHEDULED, **values):
            raise InvalidState("This match changed meanwhile. Look at it again.")
        rescheduled = before == MatchStatus.SCHEDULED
        match_transitions.record_event(match, before, MatchStatus.SCHEDULED, by=by,
                                       note="rescheduled" if rescheduled else None)
        db.session.refresh(match)
        audit.record("match.schedule", actor=by, ip=ip, target=match, area_id=match.area_id,
                     detail=f"{'rescheduled' if rescheduled else 'scheduled'} for {details.starts_at.isoformat()}")
        _mail(match, "match_scheduled", f"{'New time' if rescheduled else 'Scheduled'}: {match_label(match)}",
              rescheduled=rescheduled)
        db.session.commit()
    return match


def cancel_match(match: Match, *, by: User, reason: str, ip: str | None = None) -> Match:
    """Cancel an approved, confirmed or scheduled match; its places go back to the offer. Commits once."""
    if not may_see(by, match):
        raise NotAllowed("Only the provider, the school or the area's coordinator can cancel this match.")
    reason = _check_reason(reason)
    with write_transaction():
        match = _lock(match)
        before = match.status
        if before not in CANCELLABLE or not match_transitions.move_and_record(
                match, before, MatchStatus.CANCELLED, by=by, note=reason):
            raise _not_now(match, "cancelled")
        _free_places(match)
        refresh_request_status(match.request)
        audit.record("match.cancel", actor=by, ip=ip, target=match, area_id=match.area_id,
                     detail=f"from {before}: {reason}")
        _mail(match, "match_cancelled", f"Cancelled: {match_label(match)}", coordinators=True, reason=reason,
              by_name=by.name)
        db.session.commit()
    return match


def record_no_show(match: Match, absent: str, *, by: User, ip: str | None = None,
                   now: datetime | None = None) -> Match:
    """Record that one side did not turn up to a session that has started. Commits once.

    The places stay allocated: the session's time has passed, so nobody else could have used them, and the
    offer's count of places given stays true to what was set aside.
    """
    now = now or datetime.now()
    if absent not in SIDE_LABELS:
        raise ValidationFailed("Choose the side that did not turn up.", field="side")
    if not (policy.can_decide_match(by, match) or side_of(by, match) == _other(absent)):
        raise NotAllowed("Only the other side or the area's coordinator can record a no-show.")
    with write_transaction():
        match = _lock(match)
        if match.status != MatchStatus.SCHEDULED:
            raise _not_now(match, "marked as a no-show")
        if match.session_starts_at is None or match.session_starts_at > now:
            raise InvalidState("The session has not started yet.")
        if not match_transitions.move(match.id, MatchStatus.SCHEDULED, MatchStatus.NO_SHOW, no_show_side=absent):
            raise InvalidState("This match changed meanwhile. Look at it again.")
        match_transitions.record_event(match, MatchStatus.SCHEDULED, MatchStatus.NO_SHOW, by=by,
                                       note=f"{SIDE_LABELS[absent]} did not turn up")
        db.session.refresh(match)
        audit.record("match.no_show", actor=by, ip=ip, target=match, area_id=match.area_id, detail=absent)
        db.session.commit()
    return match


def send_reminders(*, now: datetime | None = None) -> int:
    """Mail the week-before and day-before reminders that are due; returns how many reminders (matches) were sent.

    A session scheduled less than a day ahead gets the day-before reminder only (reminded_week_at is set too).
    Each reminder is claimed with a conditional UPDATE, so two runs at once never send one twice. Commits once.
    """
    now = now or datetime.now()
    sent = 0
    with write_transaction():
        due = list(db.session.scalars(
            select(Match).where(Match.status == MatchStatus.SCHEDULED, Match.session_starts_at > now,
                                Match.session_starts_at <= now + WEEK,
                                Match.reminded_week_at.is_(None) | Match.reminded_day_at.is_(None))
            .order_by(Match.session_starts_at, Match.id)))
        for match in due:
            if match.session_starts_at <= now + DAY and match.reminded_day_at is None:
                kind, where = "day", _matches.c.reminded_day_at.is_(None)
                values = {"reminded_day_at": now, "reminded_week_at": match.reminded_week_at or now}
            elif match.reminded_week_at is None:
                kind, where = "week", _matches.c.reminded_week_at.is_(None)
                values = {"reminded_week_at": now}
            else:
                continue
            claimed = db.session.execute(
                update(_matches).where(_matches.c.id == match.id, _matches.c.status == MatchStatus.SCHEDULED, where)
                .values(**values))
            if claimed.rowcount != 1:
                continue
            _mail(match, "session_reminder",
                  f"{'Tomorrow' if kind == 'day' else 'Next week'}: {match_label(match)}", kind=kind)
            sent += 1
        db.session.commit()
    return sent

