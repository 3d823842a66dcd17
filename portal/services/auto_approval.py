"""Auto-approval, as the levy transfer service does it: a provider opts an offer in, and a proposal for it that
meets every criterion is approved without a coordinator, at once or after the delay the provider chose (0 to 42
days), unless a coordinator steps in first.

A proposal "meets every criterion" when, at the moment it would be approved:
- the offer is opted in (Offer.auto_approve) and published;
- the match is still proposed;
- every hard constraint still holds: the offer has at least the match's allocation left; the offer's dates and
  the request's dates have not passed and still overlap; the request is still open (or partly matched); the
  provider and the school are both verified; the offer's year groups and the request's overlap;
- the offer's sector is one the request asked for, or the request asked for any sector;
- the allocation covers all the request's still-unplaced pupils (places, classes): there is no partial
  auto-approval, so a proposal for part of a request always waits for a coordinator.
`unmet()` is the one place that says so; it names the first criterion that fails, in plain words.

How it runs:
- where a proposal is created (engine runs, a school requesting an offer, a provider offering to meet a request)
  `schedule()` sets Match.auto_approve_at to now + the offer's delay, or leaves it None (it waits for a
  coordinator). A delay of 0 is "at once": the creating use case calls `run_due(only=...)` right after it commits;
- `run_due()` (`flask match auto-approve`, every few minutes) approves each due proposal in its own transaction,
  through the same capacity-guarded path as a coordinator (services.matches.approve_match with by=None). That
  path's conditional UPDATE only fires while status = 'proposed' AND auto_approve_at IS NOT NULL AND
  auto_approve_at <= now, so a coordinator's hold, reject or approve that commits first wins. The criteria are
  checked again first: when one no longer holds (the offer filled up, the provider opted out, ...) the proposal
  stays proposed, auto_approve_at is cleared, the history says why and the area's coordinators are mailed;
- a coordinator steps in by approving, rejecting or changing the allocation (services.matches clears
  auto_approve_at) or with "Hold for review" (`hold()`): the proposal then waits for a coordinator like any other.
"""
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from portal import policy
from portal.errors import InvalidState, NotAllowed
from portal.extensions import db
from portal.models import (
    HOLDS_CAPACITY,
    Match,
    MatchStatus,
    Offer,
    OfferStatus,
    OrgStatus,
    SchoolRequest,
    User,
    UserStatus,
    utcnow,
)
from portal.models.users import coordinator_areas
from portal.services import audit, browse, mail, match_transitions
from portal.services.db_locks import write_transaction
from portal.services.school_requests import EDITABLE, held_allocation
from portal.vocab import Role

HOLD_NOTE = "held for review"
AUTO_NOTE = "auto-approved: the offer opted in"
MAX_DELAY_DAYS = 42

_matches = Match.__table__


# --- the criteria ------------------------------------------------------------------------------------------------

def unmet(match: Match, offer: Offer, school_request: SchoolRequest, *, today: date,
          held: int | None = None) -> str | None:
    """The first criterion the proposal does not meet, in plain words; None when it meets every one. `held`: what
    the request's matches holding capacity already have (read here when not given)."""
    if not offer.auto_approve:
        return "the offer is not opted in to auto-approval"
    if offer.status != OfferStatus.PUBLISHED:
        return f"the offer is {offer.status}, not published"
    if match.status != MatchStatus.PROPOSED:
        return "the match is no longer proposed"
    if offer.places_left < match.allocation:
        return (f"the offer has only {browse.quantity(offer.type, max(offer.places_left, 0))} left, and this match "
                f"is for {match.allocation}")
    if offer.ends_on < today:
        return "the offer's dates have passed"
    if school_request.ends_on < today:
        return "the school's dates have passed"
    if offer.starts_on > school_request.ends_on or school_request.starts_on > offer.ends_on:
        return "the offer's dates and the school's dates do not overlap"
    if school_request.status not in EDITABLE:
        return "the school's request is no longer open"
    if offer.provider.status != OrgStatus.VERIFIED:
        return "the provider is not verified"
    if school_request.school.status != OrgStatus.VERIFIED:
        return "the school is not verified"
    if not offer.year_mask & school_request.year_mask:
        return "the offer's year groups and the school's do not overlap"
    if school_request.sectors and offer.sector not in school_request.sectors:
        return "the offer's sector is not one the school asked for"
    needed = school_request.pupils - (held_allocation(school_request) if held is None else held)
    if match.allocation < needed:
        return f"it covers {match.allocation} of the {needed} the school still needs (no partial auto-approval)"
    if match.allocation > needed:
        return f"it is for {match.allocation} but the school now needs only {max(needed, 0)}"
    return None


def due_at(match: Match, offer: Offer, now: datetime) -> datetime | None:
    """When the proposal approves itself: now + the offer's delay (0 days: at once), or None when it does not
    meet every criterion (it waits for a coordinator)."""
    school_request = match.request or db.session.get(SchoolRequest, match.request_id)
    if unmet(match, offer, school_request, today=now.date()) is not None:
        return None
    return now + timedelta(days=offer.auto_approve_delay_days or 0)


def schedule(match: Match, now: datetime | None = None) -> datetime | None:
    """Set the new proposal's auto_approve_at (inside the creating use case's transaction; flushes, commits
    nothing). Returns it, so the caller knows whether to run it at once after committing."""
    now = now or utcnow()
    offer = match.offer or db.session.get(Offer, match.offer_id)
    if not offer.auto_approve:
        return None  # the common case: no need to look further
    db.session.flush()
    match.auto_approve_at = due_at(match, offer, now)
    return match.auto_approve_at


def schedule_all(new: list[Match], now: datetime | None = None) -> list[int]:
    """`schedule` for many new proposals (an engine run), looking only at those whose offer opted in. Set-based:
    the opted-in offers with their providers, the requests with their schools and what each request already
    holds are read in one query each, not per proposal. Returns the ids of those due at once, to run after the
    creating transaction commits."""
    now = now or utcnow()
    if not new:
        return []
    offers = {offer.id: offer for offer in db.session.scalars(
        select(Offer).where(Offer.id.in_({match.offer_id for match in new}), Offer.auto_approve.is_(True))
        .options(selectinload(Offer.provider)))}
    chosen = [match for match in new if match.offer_id in offers]
    if not chosen:
        return []
    db.session.flush()
    request_ids = {match.request_id for match in chosen}
    requests = {school_request.id: school_request for school_request in db.session.scalars(
        select(SchoolRequest).where(SchoolRequest.id.in_(request_ids)).options(selectinload(SchoolRequest.school)))}
    held = dict(db.session.execute(
        select(Match.request_id, func.sum(Match.allocation))
        .where(Match.request_id.in_(request_ids), Match.status.in_(HOLDS_CAPACITY))
        .group_by(Match.request_id)).all())
    due_now = []
    for match in chosen:
        offer = offers[match.offer_id]
        reason = unmet(match, offer, requests[match.request_id], today=now.date(),
                       held=int(held.get(match.request_id) or 0))
        match.auto_approve_at = None if reason else now + timedelta(days=offer.auto_approve_delay_days or 0)
        if match.auto_approve_at is not None and match.auto_approve_at <= now:
            due_now.append(match.id)
    return due_now


def is_due_now(match: Match, now: datetime | None = None) -> bool:
    return match.auto_approve_at is not None and match.auto_approve_at <= (now or utcnow())


def waiting_text(match: Match, offer: Offer) -> str:
    """What the queue says about a proposal that will approve itself ("" when it waits for a coordinator)."""
    if match.auto_approve_at is None or not offer.auto_approve:
        return ""
    if match.auto_approve_at <= utcnow():
        return "Approves itself at once"
    return f"Approves itself on {browse.day(match.auto_approve_at.date())}"


# --- a coordinator steps in ----------------------------------------------------------------------------------------

def _clear(match_id: int, *, by_coordinator: bool = False) -> bool:
    """Clear a proposal's auto_approve_at if it is still set and still proposed: True if this transaction did. A
    coordinator doing so takes the proposal in hand (adjusted_at): a new matching run keeps it as it is."""
    now = utcnow()
    result = db.session.execute(
        update(_matches)
        .where(_matches.c.id == match_id, _matches.c.status == MatchStatus.PROPOSED,
               _matches.c.auto_approve_at.is_not(None))
        .values(auto_approve_at=None, updated_at=now, **({"adjusted_at": now} if by_coordinator else {}))
    )
    return result.rowcount == 1


def hold(match: Match, *, by: User, ip: str | None = None) -> bool:
    """A coordinator holds a proposal for review: it no longer approves itself. Commits once.

    Returns False (changing nothing) when it was not waiting to approve itself anyway."""
    if not policy.can_decide_match(by, match):
        raise NotAllowed("Only a coordinator of this school's area can decide on this match.")
    with write_transaction():
        cleared = _clear(match.id, by_coordinator=True)
        db.session.refresh(match)
        if not cleared:
            db.session.rollback()
            if match.status != MatchStatus.PROPOSED:
                raise InvalidState("This match is no longer proposed, so there is nothing to hold.")
            return False
        match_transitions.record_event(match, MatchStatus.PROPOSED, MatchStatus.PROPOSED, by=by, note=HOLD_NOTE)
        audit.record("match.hold", actor=by, ip=ip, target=match, area_id=match.area_id,
                     detail=f"offer {match.offer_id} for request {match.request_id}: auto-approval held for review")
        db.session.commit()
    return True


# --- running what is due -------------------------------------------------------------------------------------------

@dataclass
class RunSummary:
    approved: list[int] = field(default_factory=list)
    stopped: list[tuple[int, str]] = field(default_factory=list)  # (match id, why it was left for a coordinator)
    skipped: list[int] = field(default_factory=list)  # a coordinator (or another run) got there first

    @property
    def message(self) -> str:
        text = f"{len(self.approved)} auto-approved"
        if self.stopped:
            text += f"; {len(self.stopped)} left for a coordinator"
        if self.skipped:
            text += f"; {len(self.skipped)} decided by someone else first"
        return text


def _coordinators(area_id: int) -> list[User]:
    return list(db.session.scalars(
        select(User).join(coordinator_areas, coordinator_areas.c.user_id == User.id)
        .where(coordinator_areas.c.area_id == area_id, User.role == Role.COORDINATOR,
               User.status == UserStatus.ACTIVE).order_by(User.id)))


def _stop(match: Match, reason: str) -> bool:
    """Inside a write transaction: the proposal no longer approves itself; history, audit, the coordinators told.
    Commits when it cleared it; False (nothing changed) when someone stepped in first."""
    if not _clear(match.id):
        db.session.rollback()
        return False
    db.session.refresh(match)
    note = f"not auto-approved: {reason}; left for a coordinator"
    match_transitions.record_event(match, MatchStatus.PROPOSED, MatchStatus.PROPOSED, by=None, note=note)
    audit.record("match.auto_approval_stopped", target=match, area_id=match.area_id, detail=note)
    offer, school = match.offer, match.request.school
    for coordinator in _coordinators(match.area_id):
        mail.queue_mail(coordinator.email, f"Needs your decision: {offer.title} for {school.name}",
                        "auto_approval_stopped", name=coordinator.name, offer_title=offer.title,
                        provider_name=offer.provider.name, school_name=school.name,
                        amount=browse.quantity(offer.type, match.allocation), reason=reason,
                        url=mail.link("matches.view", match_id=match.id))
    db.session.commit()
    return True


def _check_one(match: Match, now: datetime) -> str | None:
    """Re-check the criteria under the lock; return "skip", "stopped" or None (go on and approve)."""
    with write_transaction():
        school_request = match_transitions.lock_request(match.request_id)
        db.session.refresh(match)
        if match.status != MatchStatus.PROPOSED or not is_due_now(match, now):
            return "skip"
        reason = unmet(match, match.offer, school_request, today=now.date())
        if reason is None:
            return None
        return "stopped" if _stop(match, reason) else "skip"


def run_due(*, now: datetime | None = None, only: Iterable[int] | None = None) -> RunSummary:
    """Approve every proposal due by `now` (naive UTC), each in its own transaction; `only` limits it to some ids
    (a use case running its own "at once" proposal). Running it twice approves nothing twice."""
    from portal.services import matches  # matches imports proposals, which calls this module: import late

    now = now or utcnow()
    summary = RunSummary()
    query = (select(Match.id)
             .where(Match.status == MatchStatus.PROPOSED, Match.auto_approve_at.is_not(None),
                    Match.auto_approve_at <= now)
             .order_by(Match.auto_approve_at, Match.id))
    if only is not None:
        query = query.where(Match.id.in_(list(only) or [-1]))
    ids = list(db.session.scalars(query))
    db.session.rollback()  # end the read: each match is a use case of its own
    for match_id in ids:
        match = db.session.get(Match, match_id)
        outcome = _check_one(match, now)
        if outcome == "skip":
            summary.skipped.append(match_id)
            continue
        if outcome == "stopped":
            summary.stopped.append((match_id, _last_note(match)))
            continue
        try:
            approval = matches.approve_match(match, by=None, due_by=now, today=now.date())
        except matches.NotApprovable as error:
            if error.short == matches.NOT_DUE:
                summary.skipped.append(match_id)
                continue
            reason = error.message.rstrip(".")
            with write_transaction():
                stopped = _stop(match, reason[:1].lower() + reason[1:])
            if stopped:
                summary.stopped.append((match_id, _last_note(match)))
            else:
                summary.skipped.append(match_id)
        else:
            (summary.skipped if approval.already else summary.approved).append(match_id)
    return summary


def _last_note(match: Match) -> str:
    """The latest history note of a match (why it was left for a coordinator)."""
    db.session.expire(match, ["events"])
    return match.events[-1].note if match.events else ""
