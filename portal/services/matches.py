"""The coordinator's decisions on proposed matches: the approval queue, approve (one or several), reject, change
the allocation.

Capacity can never be over-allocated, whoever approves at the same moment:
- the match moves with a conditional `UPDATE matches ... WHERE id = :id AND status = 'proposed'` whose row count
  is checked, so however many people press Approve, it is approved (and its places taken) once;
- the offer's places are taken with ONE conditional
  `UPDATE offers SET allocated = allocated + :n ... WHERE id = :id AND allocated + :n <= capacity
  AND status = 'published'`; no row means full (or no longer published) and nothing changes. PostgreSQL locks
  the row and re-checks the WHERE after waiting (READ COMMITTED), so two approvals cannot share the last place;
- the CHECK constraint allocated <= capacity is the last line of defence (an IntegrityError reads as "full");
- on SQLite each use case starts with BEGIN IMMEDIATE (db_locks.write_transaction): writers queue behind the
  one write lock for up to the busy timeout instead of failing with "database is locked".

Lock order on PostgreSQL, so two use cases cannot deadlock: the request's row (SELECT ... FOR UPDATE, so two
approvals for one request count its places one after the other), then the match's, then the offer's. Withdrawing
and expiring a request (services.school_requests) take the request's row before its matches' too.
"""
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, contains_eager

from portal import paging, policy
from portal.catalogue import OFFER_TYPES, UNIT_LABELS, Unit
from portal.errors import InvalidState, NotAllowed, StaleEdit, ValidationFailed
from portal.extensions import db
from portal.models import (
    HOLDS_CAPACITY,
    Match,
    MatchStatus,
    Offer,
    OfferStatus,
    Organisation,
    SchoolRequest,
    User,
    UserStatus,
    utcnow,
)
from portal.services import audit, auto_approval, browse, mail, match_transitions
from portal.services.db_locks import write_transaction
from portal.services.proposals import origin_label, proposal_message
from portal.services.school_requests import (
    EDITABLE,
    held_allocation,
    match_status_label,
    refresh_request_status,
    request_status_label,
)
from portal.services.sql_lists import in_list
from portal.vocab import Role

PER_PAGE = 20
REASON_MIN, REASON_MAX = 5, 1000
SORTS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "value": "Highest value first",
    "school": "School, A to Z",
}
DEFAULT_SORT = "newest"

_offers = Offer.__table__
_matches = Match.__table__
# The queue joins organisations twice (the offer's provider, the request's school). Aliases made once: building one
# copies the table's columns, which on every view cost more than the query itself.
_school = aliased(Organisation, name="school")
_provider = aliased(Organisation, name="provider")
AUTO_NOTE = "auto-approved: the offer opted in"
NOT_DUE = "not due"  # NotApprovable.short when an auto-approval finds a coordinator stepped in first


class NotApprovable(InvalidState):
    """A match that cannot be approved now. `short` names the reason in a summary of several approvals."""

    def __init__(self, message: str, *, short: str, field: str | None = None):
        super().__init__(message, field=field)
        self.short = short


class OfferFull(NotApprovable):
    """The offer has fewer places left than the match needs."""

    def __init__(self, message: str):
        super().__init__(message, short="offer full")


# --- the queue ---------------------------------------------------------------------------------------------------

def sort_key(value: str | None) -> str:
    return value if value in SORTS else DEFAULT_SORT


def queue(user: User, *, sort: str = DEFAULT_SORT) -> Select:
    """The ids of the proposed matches of the user's areas (every area for admins), in the chosen order: a narrow
    select over `matches` alone (joined to the school only to sort by its name), cheap to page and to count.
    `queue_page` loads the page's matches with their offer, provider, request and school."""
    query = select(Match.id).where(Match.status == MatchStatus.PROPOSED)
    areas = policy.visible_area_ids(user)
    if areas is not None:
        query = query.where(Match.area_id.in_(areas or {-1}))
    sort = sort_key(sort)
    if sort == "school":
        query = (query.join(SchoolRequest, SchoolRequest.id == Match.request_id)
                 .join(_school, _school.id == SchoolRequest.school_id))
        return query.order_by(_school.name, Match.created_at, Match.id)
    orders = {
        "newest": (Match.created_at.desc(), Match.id.desc()),
        "oldest": (Match.created_at, Match.id),
        "value": (Match.score.desc().nulls_last(), Match.created_at, Match.id),
    }
    return query.order_by(*orders[sort])


def queue_page(user: User, *, sort: str = DEFAULT_SORT, page: int = 1) -> Pagination:
    """One page of the queue: the page's ids, the count (both over `matches` alone), then the page's matches with
    their offer, provider, request and school in one query, in the queue's order (three queries). Sorting and
    counting the narrow rows, not every proposal joined to four tables, keeps a queue of thousands cheap."""
    pagination = db.paginate(queue(user, sort=sort), page=paging.clamp(page), per_page=PER_PAGE, max_per_page=PER_PAGE,
                             error_out=False)
    pagination.items = _with_parts(pagination.items)
    return pagination


def _with_parts(ids: list[int]) -> list[Match]:
    """These matches, in this order, with offer, provider, request and school joined into one query (the ids as
    one list parameter: on PostgreSQL every page is then the same statement, under psycopg's 4,096 characters)."""
    if not ids:
        return []
    loaded = {match.id: match for match in db.session.scalars(
        select(Match)
        .join(Match.offer)
        .join(_provider, Offer.provider)
        .join(Match.request)
        .join(_school, SchoolRequest.school)
        .options(
            contains_eager(Match.offer).contains_eager(Offer.provider.of_type(_provider)),
            contains_eager(Match.request).contains_eager(SchoolRequest.school.of_type(_school)),
        )
        .where(in_list(Match.id, "ids")), {"ids": ids}
    )}
    return [loaded[match_id] for match_id in ids if match_id in loaded]


@dataclass(frozen=True)
class QueueRow:
    match_id: int
    offer_id: int
    offer_title: str
    offer_linkable: bool
    provider_name: str
    school_name: str
    request_id: int
    request_linkable: bool
    allocation: str
    origin: str
    value: str
    reasons: list[str]
    created: str
    created_iso: str
    label: str  # "Engineering talk for Burnley High", for buttons read out of context
    auto_approval: str = ""  # "Approves itself on 3 March 2027" when its offer opted in, else ""


def value_label(score: float | None) -> str:
    """The matching value in whole points with thousands commas ("2,724", "472"), so a column compares at a glance.

    A match's score is the engine's value for its whole allocation: points per unit placed times the units
    (docs/matching.md, "The value of a pairing")."""
    if score is None:
        return "Not scored"
    return f"{round(score):,}"


def reasons_of(match: Match) -> list[str]:
    return [part.strip() for part in (match.reasons or "").split("·") if part.strip()]


def label_for(offer_title: str, school_name: str) -> str:
    return f"{offer_title} for {school_name}"


def match_label(match: Match) -> str:
    return label_for(match.offer.title, match.request.school.name)


def allocation_text(match: Match) -> str:
    return browse.quantity(match.offer.type, match.allocation)


def _origin(match: Match) -> str:
    return origin_label(match.origin, adjusted=match.adjusted_at is not None)


def queue_rows(matches: list[Match], viewer: User) -> list[QueueRow]:
    """The queue's rows; an offer of another area (open to all areas) is named but not linked for its coordinator."""
    return [
        QueueRow(
            match_id=match.id,
            offer_id=match.offer_id,
            offer_title=match.offer.title,
            offer_linkable=policy.can_see_offer(viewer, match.offer),
            provider_name=match.offer.provider.name,
            school_name=match.request.school.name,
            request_id=match.request_id,
            request_linkable=policy.can_manage_request(viewer, match.request),
            allocation=browse.quantity(match.offer.type, match.allocation),
            origin=_origin(match),
            value=value_label(match.score),
            reasons=reasons_of(match),
            created=browse.day(match.created_at.date()),
            created_iso=match.created_at.isoformat(),
            label=match_label(match),
            auto_approval=auto_approval.waiting_text(match, match.offer),
        )
        for match in matches
    ]


def facts(match: Match) -> list[tuple[str, str]]:
    """What a coordinator reads before rejecting or changing a match."""
    school_request = match.request
    rows = [
        ("Offer", f"{match.offer.title} ({browse.type_label(match.offer.type)})"),
        ("Provider", match.offer.provider.name),
        ("School", school_request.school.name),
        ("Allocation", browse.quantity(match.offer.type, match.allocation)),
        ("The school asked for", browse.quantity(match.offer.type, school_request.pupils)),
        ("Offer places left", browse.quantity(match.offer.type, match.offer.places_left)),
        ("How it was proposed", _origin(match)),
        ("Value", value_label(match.score) + ("" if match.score is None else " matching points")),
    ]
    if match.reasons:
        rows.append(("Reasons", " · ".join(reasons_of(match))))
    message = proposal_message(match)
    if message:
        rows.append((message.label, message.text))
    return rows


# --- how much a match may be for ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AllocationLimit:
    needed: int  # what the request still needs, counting this match's own places if it holds them
    left: int  # what the offer has left, likewise
    unit_type: str  # the offer's type, for the unit's words

    @property
    def most(self) -> int:
        return max(min(self.needed, self.left), 0)

    def hint(self) -> str:
        needed = browse.quantity(self.unit_type, self.needed)
        left = browse.quantity(self.unit_type, self.left)
        if self.most < 1:
            return f"The school still needs {needed} and the offer has {left} left, so this match cannot be changed."
        return f"The school still needs {needed} and the offer has {left} left: enter 1 to {self.most}."


def allocation_limit(match: Match) -> AllocationLimit:
    """1 to min(what the request still needs, what the offer has left), counting the match's own places back in if
    it already holds them."""
    own = match.allocation if match.status in HOLDS_CAPACITY else 0
    school_request = match.request
    needed = school_request.pupils - held_allocation(school_request) + own
    return AllocationLimit(needed=needed, left=match.offer.places_left + own, unit_type=match.offer.type)


# --- helpers that stay inside a use case's transaction --------------------------------------------------------------

# The transition primitives are shared with the requests service (withdraw, expire).
_move = match_transitions.move
_record = match_transitions.record_event
_lock_request = match_transitions.lock_request


def offer_unit(offer_type: str) -> Unit:
    kind = OFFER_TYPES.get(offer_type)
    return kind.unit if kind else Unit.PUPILS


def _full_or_closed(offer_id: int, allocation: int) -> NotApprovable:
    """Why the conditional UPDATE of the offer found no row, from the offer as it is now."""
    offer = db.session.get(Offer, offer_id, populate_existing=True)
    if offer.status != OfferStatus.PUBLISHED:
        return NotApprovable(f"This offer is {offer.status}, so no more matches can be approved for it.",
                             short="offer not published")
    left = max(offer.places_left, 0)
    if left == 0:
        return OfferFull(f"This offer is full: no {UNIT_LABELS[offer_unit(offer.type)]} left.")
    return OfferFull(f"This offer is full: only {browse.quantity(offer.type, left)} left, and this match is "
                     f"for {allocation}.")


def _room_for(allocation: int):
    """The offer has room for the allocation (a function, so a test can remove it and meet the CHECK instead)."""
    return _offers.c.allocated + allocation <= _offers.c.capacity


def _take_places(offer: Offer, allocation: int) -> None:
    """Add the allocation to the offer in one conditional UPDATE; raise (changing nothing) if it does not fit."""
    offer_id = offer.id
    try:
        result = db.session.execute(
            update(_offers)
            .where(_offers.c.id == offer_id, _room_for(allocation), _offers.c.status == OfferStatus.PUBLISHED)
            .values(allocated=_offers.c.allocated + allocation, version=_offers.c.version + 1,
                    updated_at=utcnow())
        )
    except IntegrityError:  # the CHECK allocated <= capacity: only if the WHERE above were ever wrong
        db.session.rollback()
        raise _full_or_closed(offer_id, allocation) from None
    # The row changed behind the ORM's back (allocated and version): forget the loaded copy, so nothing issues a
    # stale versioned UPDATE and later reads see the new numbers.
    db.session.expire(offer)
    if result.rowcount != 1:
        raise _full_or_closed(offer_id, allocation)


@dataclass(frozen=True)
class _Sides:
    """Who hears of a decision on a match, as plain values read before its write transaction begins.

    Why before: the addressees are not what the decision changes, and reading them (two queries) while holding the
    write lock made every other approval wait for them too (on SQLite the lock is the whole database's)."""
    school_name: str
    provider_name: str
    contacts: list[tuple[str, str]]  # (email, name) of the provider's active contacts
    leads: list[tuple[str, str]]  # (email, name) of the school's active careers leads


def _sides(match: Match) -> _Sides:
    """Both organisations' names and both sides' people, in one query each."""
    provider_id, school_id = match.offer.provider_id, match.request.school_id
    names = dict(db.session.execute(
        select(Organisation.id, Organisation.name).where(Organisation.id.in_({provider_id, school_id}))).all())
    people = db.session.execute(
        select(User.email, User.name, User.organisation_id, User.role)
        .where(User.status == UserStatus.ACTIVE,
               or_(and_(User.organisation_id == provider_id, User.role == Role.PROVIDER),
                   and_(User.organisation_id == school_id, User.role == Role.CAREERS_LEAD)))
        .order_by(User.id)
    ).all()
    return _Sides(
        school_name=names[school_id], provider_name=names[provider_id],
        contacts=[(email, name) for email, name, org, role in people if org == provider_id and role == Role.PROVIDER],
        leads=[(email, name) for email, name, org, role in people if org == school_id and role == Role.CAREERS_LEAD])


def _mail_both_sides(match: Match, sides: _Sides, template: str, subject: str, **extra) -> None:
    offer, school_request = match.offer, match.request
    context = {
        "school_name": sides.school_name,
        "provider_name": sides.provider_name,
        "offer_title": offer.title,
        "type_label": browse.type_label(offer.type),
        "amount": browse.quantity(offer.type, match.allocation),
        "offer_dates": browse.date_range(offer.starts_on, offer.ends_on),
        "school_dates": browse.date_range(school_request.starts_on, school_request.ends_on),
        **extra,
    }
    for email, name in sides.contacts:
        mail.queue_mail(email, subject, template, name=name, for_provider=True,
                        url=mail.link("offers.view", offer_id=offer.id), **context)
    for email, name in sides.leads:
        mail.queue_mail(email, subject, template, name=name, for_provider=False,
                        url=mail.link("school_requests.view", request_id=school_request.id), **context)


def _check_may_decide(match: Match, by: User) -> None:
    if not policy.can_decide_match(by, match):
        raise NotAllowed("Only a coordinator of this school's area can decide on this match.")


# --- use cases ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Approval:
    match: Match
    already: bool  # it was approved before (by someone else, or a second press): nothing changed


def _move_if_due(match_id: int, due_by: datetime) -> bool:
    """The auto-approval's move: only while the match is proposed and still due to approve itself by `due_by`
    (a coordinator's hold, reject, change or approval clears auto_approve_at, so theirs wins)."""
    result = db.session.execute(
        update(_matches)
        .where(_matches.c.id == match_id, _matches.c.status == MatchStatus.PROPOSED,
               _matches.c.auto_approve_at.is_not(None), _matches.c.auto_approve_at <= due_by)
        .values(status=MatchStatus.APPROVED, auto_approve_at=None, updated_at=utcnow())
    )
    return result.rowcount == 1


def approve_match(match: Match, *, by: User | None, ip: str | None = None, today: date | None = None,
                  due_by: datetime | None = None) -> Approval:
    """Approve a proposed match and take its places on the offer, or refuse and change nothing. Commits once.

    Idempotent: approving a match that is already approved (or further on) changes nothing and says so.
    `by=None` is the portal itself auto-approving (services.auto_approval.run_due, which has checked the
    criteria): it needs `due_by`, and moves the match only while its auto_approve_at is set and not after it.
    """
    today = today or date.today()
    system = by is None
    if system and due_by is None:
        raise ValueError("an auto-approval needs due_by")
    if not system:
        _check_may_decide(match, by)
    match_id, request_id = match.id, match.request_id  # read now: the transaction starts with the match expired
    sides = _sides(match)
    with write_transaction():
        school_request = _lock_request(request_id)
        if system:
            moved = _move_if_due(match_id, due_by)
        else:
            moved = _move(match_id, MatchStatus.PROPOSED, MatchStatus.APPROVED, auto_approve_at=None)
        db.session.refresh(match)  # the status and allocation as they are now, under the lock
        if not moved:
            status = match.status
            db.session.rollback()
            if status in HOLDS_CAPACITY:
                return Approval(match, already=True)
            if system and status == MatchStatus.PROPOSED:
                raise NotApprovable("A coordinator stepped in first: it waits for them.", short=NOT_DUE)
            raise NotApprovable(f"This match is {match_status_label(status).lower()}, so it cannot be approved.",
                                short="no longer proposed")

        if school_request.status not in EDITABLE:
            raise NotApprovable(f"The school's request is {request_status_label(school_request.status).lower()}: "
                                "it needs nothing more.", short="request closed")
        offer = match.offer
        held = held_allocation(school_request)  # counting this match's places: it moved above
        needed = school_request.pupils - (held - match.allocation)
        if needed <= 0:
            raise NotApprovable("The school's request already has all it asked for.", short="request closed")
        if match.allocation > needed:
            raise NotApprovable(f"The school now needs only {browse.quantity(offer.type, needed)}: change "
                                "the allocation first.", short="more than the school needs")
        if offer.ends_on < today:
            raise NotApprovable("This offer's dates have passed.", short="offer ended")
        _take_places(offer, match.allocation)

        _record(match, MatchStatus.PROPOSED, MatchStatus.APPROVED, by=by, note=AUTO_NOTE if system else None)
        refresh_request_status(school_request, held=held)  # nothing of the request's has moved since: it is locked
        audit.record("match.auto_approved" if system else "match.approve", actor=by, ip=ip, target=match,
                     area_id=match.area_id,
                     detail=f"offer {offer.id} for request {school_request.id}: {match.allocation} "
                            f"({offer.allocated} of {offer.capacity} now allocated)")
        _mail_both_sides(match, sides, "match_approved", f"Approved: {offer.title} for {sides.school_name}",
                         auto=system)
        db.session.commit()
    return Approval(match, already=False)


def reject_match(match: Match, *, by: User, reason: str, ip: str | None = None) -> Match:
    """Reject a proposed match with a reason that is mailed to both sides. Commits once."""
    _check_may_decide(match, by)
    reason = (reason or "").strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise ValidationFailed(f"Give a reason of {REASON_MIN} to {REASON_MAX} characters.", field="reason")
    sides = _sides(match)
    with write_transaction():
        moved = _move(match.id, MatchStatus.PROPOSED, MatchStatus.REJECTED, auto_approve_at=None)
        db.session.refresh(match)
        if not moved:
            raise InvalidState(f"This match is {match_status_label(match.status).lower()}: there is nothing to "
                               "reject.")
        _record(match, MatchStatus.PROPOSED, MatchStatus.REJECTED, by=by, note=reason)
        refresh_request_status(match.request)
        audit.record("match.reject", actor=by, ip=ip, target=match, area_id=match.area_id,
                     detail=f"offer {match.offer_id} for request {match.request_id}: {reason}")
        _mail_both_sides(match, sides, "match_rejected", f"Not approved: {match.offer.title} for {sides.school_name}",
                         reason=reason)
        db.session.commit()
    return match


def change_allocation(match: Match, allocation: int, *, by: User, ip: str | None = None,
                      expected: int | None = None) -> Match:
    """Change how many pupils (places, classes) a proposed match is for. Commits once.

    `expected` is the allocation the coordinator saw: if someone changed it meanwhile, nothing is saved.
    """
    _check_may_decide(match, by)
    with write_transaction():
        db.session.refresh(match)
        if match.status != MatchStatus.PROPOSED:
            raise InvalidState(f"This match is {match_status_label(match.status).lower()}: its allocation can only "
                               "be changed while it is proposed.")
        old = match.allocation
        if expected is not None and old != expected:
            raise StaleEdit(f"Someone else changed this allocation to {old} while you were editing. Check it and "
                            "save again.", field="allocation")
        limit = allocation_limit(match)
        if allocation is None or not 1 <= allocation <= limit.most:
            raise ValidationFailed(limit.hint(), field="allocation")
        if allocation == old:
            return match
        if not _move(match.id, MatchStatus.PROPOSED, MatchStatus.PROPOSED, allocation=allocation,
                     auto_approve_at=None, adjusted_at=utcnow()):  # theirs now: a new matching run keeps it
            raise InvalidState("This match was decided by someone else meanwhile.")
        db.session.refresh(match)
        _record(match, MatchStatus.PROPOSED, MatchStatus.PROPOSED, by=by,
                note=f"allocation changed from {old} to {allocation}")
        refresh_request_status(match.request)
        audit.record("match.allocation_change", actor=by, ip=ip, target=match, area_id=match.area_id,
                     detail=f"from {old} to {allocation}")
        db.session.commit()
    return match


@dataclass
class ApprovalSummary:
    approved: list[int] = field(default_factory=list)
    already: list[int] = field(default_factory=list)
    refused: Counter = field(default_factory=Counter)  # short reason -> how many

    @property
    def message(self) -> str:
        """e.g. "3 approved; 2 could not be: offer full"."""
        parts = [f"{len(self.approved)} approved"]
        if self.already:
            parts.append(f"{len(self.already)} already approved")
        refused = sum(self.refused.values())
        if refused:
            reasons = ", ".join(reason if count == refused else f"{reason} ({count})"
                                for reason, count in sorted(self.refused.items(), key=lambda item: (-item[1],
                                                                                                     item[0])))
            parts.append(f"{refused} could not be: {reasons}")
        return "; ".join(parts)


def approve_matches(ids, *, by: User, ip: str | None = None, today: date | None = None) -> ApprovalSummary:
    """Approve several matches, in the order given (the queue's order, so the most valuable first when sorted by
    value).

    By design each match is its own unit of work, committed (or refused) on its own: one full offer does not
    undo the others, and each approval holds the write lock only for itself.
    """
    summary = ApprovalSummary()
    for match_id in dict.fromkeys(ids):
        match = db.session.get(Match, match_id)
        if match is None or not policy.can_decide_match(by, match):
            summary.refused["not one of your area's matches"] += 1
            continue
        try:
            outcome = approve_match(match, by=by, ip=ip, today=today)
        except NotApprovable as error:
            summary.refused[error.short] += 1
        else:
            (summary.already if outcome.already else summary.approved).append(match_id)
    return summary
