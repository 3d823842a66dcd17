"""A provider's or a careers lead's own matches: the provider's are those of its offers, the school's those of its
requests. The list (newest activity first, by status group) and the counts the home page shows.

What each side may do to a match is match_lifecycle.actions_for's: each row's next step is taken from it. The
"needs your action" group says the same in SQL, for the list's filter and the home page's counts (one query);
tests/test_my_matches.py checks that the two agree. Rows carry allocations and counts only, never pupils.
"""
from dataclasses import dataclass
from datetime import datetime

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import ColumnElement, and_, case, false, func, not_, or_, select
from sqlalchemy.orm import aliased, contains_eager

from portal import paging
from portal.extensions import db
from portal.models import LIVE, Match, MatchStatus, Offer, Organisation, SchoolRequest, User
from portal.services import match_lifecycle, registers
from portal.services.browse import quantity
from portal.services.match_lifecycle import PROVIDER, SCHOOL, SIDE_LABELS
from portal.services.matches import match_label
from portal.services.school_requests import match_status_label
from portal.vocab import Role

PER_PAGE = 20
ACTION, UPCOMING, PAST, ALL = "action", "upcoming", "past", "all"
GROUPS = {ACTION: "Needs your action", UPCOMING: "Upcoming", PAST: "Past", ALL: "All"}
DEFAULT_GROUP = ALL
# The match page's actions (endpoint, label) that wait on this user's side. The others are optional: decline,
# cancel, change the session, record a no-show, choose who goes, correct attendance.
TO_DO = {("matches.accept", "Accept"), ("matches.schedule", "Schedule the session"),
         ("registers.attendance", "Record attendance"), ("registers.confirm_delivery", "Confirm delivery")}
# Organisations joined twice (the offer's provider, the request's school); aliases made once, as services.matches does.
_provider = aliased(Organisation, name="provider")
_school = aliased(Organisation, name="school")
_ATTENDANCE_DUE = tuple(status for status in registers.RECORDABLE if status != MatchStatus.RECORDED)


def side_for(user: User) -> str | None:
    """The side of a match this user's organisation is on, if any."""
    if user.organisation_id is None:
        return None
    return {Role.PROVIDER: PROVIDER, Role.CAREERS_LEAD: SCHOOL}.get(user.role)


def group_key(value: str | None) -> str:
    return value if value in GROUPS else DEFAULT_GROUP


# --- the groups in SQL ---------------------------------------------------------------------------------------------

def _started(now: datetime) -> ColumnElement[bool]:
    return Match.session_starts_at <= now


def waiting_to_accept(side: str) -> ColumnElement[bool]:
    """Approved, and this side has not accepted yet (match_lifecycle.accept_match sets the column)."""
    accepted = Match.provider_accepted_at if side == PROVIDER else Match.school_accepted_at
    return and_(Match.status == MatchStatus.APPROVED, accepted.is_(None))


def waiting_to_schedule() -> ColumnElement[bool]:
    """Both sides accepted: either side (or the area's coordinator) schedules the session."""
    return Match.status == MatchStatus.CONFIRMED


def waiting_after_session(side: str, now: datetime) -> ColumnElement[bool]:
    """The session has started: the school records attendance, the provider confirms delivery."""
    if side == SCHOOL:
        return and_(Match.status.in_(_ATTENDANCE_DUE), _started(now))
    return and_(Match.status.in_(registers.CONFIRMABLE), _started(now), Match.delivery_confirmed_at.is_(None))


def needs_action(side: str, now: datetime) -> ColumnElement[bool]:
    return or_(waiting_to_accept(side), waiting_to_schedule(), waiting_after_session(side, now))


def _upcoming(now: datetime) -> ColumnElement[bool]:
    """Still in play and its session (if any) not started yet."""
    return and_(Match.status.in_(LIVE), or_(Match.session_starts_at.is_(None), Match.session_starts_at > now))


def _in_group(group: str, side: str, now: datetime) -> ColumnElement[bool] | None:
    if group == ACTION:
        return needs_action(side, now)
    if group == UPCOMING:
        return _upcoming(now)
    if group == PAST:
        return not_(_upcoming(now))
    return None


def _own(query, user: User, side: str | None):
    """Only the matches of the user's own organisation: its offers' (provider) or its requests' (school)."""
    if side == PROVIDER:
        return query.where(Offer.provider_id == user.organisation_id)
    if side == SCHOOL:
        return query.where(SchoolRequest.school_id == user.organisation_id)
    return query.where(false())


# --- the list --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MyMatchRow:
    match_id: int
    offer_title: str
    other_side: str  # the school's name for a provider, the provider's for a school
    allocation: str
    status: str
    session: str  # the session's start, once scheduled
    session_iso: str
    next_step: str  # what this user does next ("Accept"), or what the match waits for
    to_do: bool  # next_step is this user's to do (the row is in "Needs your action")
    label: str  # "Engineering talk for Burnley High", for links read out of context


@dataclass(frozen=True)
class MyMatches:
    page: Pagination
    rows: list[MyMatchRow]
    group: str
    side: str | None


def _when(value: datetime | None) -> str:
    return value.strftime("%a %-d %b %Y, %H:%M") if value else ""


def next_step(user: User, match: Match, *, now: datetime) -> tuple[str, bool]:
    """(what to do next, whether it is this user's to do): the first of the match page's actions that waits on this
    user, else the first other one worth doing, else what the match is waiting for."""
    actions = match_lifecycle.actions_for(user, match, now=now)
    for action in actions:
        if (action.endpoint, action.label) in TO_DO:
            return action.label, True
    if match.status == MatchStatus.PROPOSED:
        return "Waiting for the coordinator's approval", False
    side = match_lifecycle.side_of(user, match)
    if match.status == MatchStatus.APPROVED and side:
        other = SCHOOL if side == PROVIDER else PROVIDER
        return f"Waiting for {SIDE_LABELS[other]} to accept", False
    optional = [a for a in actions if a.endpoint == "registers.register"]
    return (optional[0].label, False) if optional else ("", False)


def page_for(user: User, *, group: str = DEFAULT_GROUP, page: int = 1, now: datetime | None = None) -> MyMatches:
    """One page of the user's organisation's matches in the group, newest activity first."""
    now = now or datetime.now()
    group, side = group_key(group), side_for(user)
    query = (
        select(Match)
        .join(Match.offer).join(_provider, Offer.provider)
        .join(Match.request).join(_school, SchoolRequest.school)
        .options(contains_eager(Match.offer).contains_eager(Offer.provider.of_type(_provider)),
                 contains_eager(Match.request).contains_eager(SchoolRequest.school.of_type(_school)))
        .order_by(Match.updated_at.desc(), Match.id.desc())
    )
    query = _own(query, user, side)
    condition = _in_group(group, side, now) if side else None
    if condition is not None:
        query = query.where(condition)
    pagination = db.paginate(query, page=paging.clamp(page), per_page=PER_PAGE, max_per_page=PER_PAGE, error_out=False)
    rows = []
    for match in pagination.items:
        step, to_do = next_step(user, match, now=now)
        rows.append(MyMatchRow(
            match_id=match.id, offer_title=match.offer.title,
            other_side=match.request.school.name if side == PROVIDER else match.offer.provider.name,
            allocation=quantity(match.offer.type, match.allocation), status=match_status_label(match.status),
            session=_when(match.session_starts_at),
            session_iso=match.session_starts_at.isoformat() if match.session_starts_at else "",
            next_step=step, to_do=to_do, label=match_label(match)))
    return MyMatches(page=pagination, rows=rows, group=group, side=side)


# --- the home page's counts ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AttentionCounts:
    to_accept: int = 0
    to_schedule: int = 0
    after_session: int = 0  # attendance to record (school) or delivery to confirm (provider)


def attention_counts(user: User, *, now: datetime | None = None) -> AttentionCounts:
    """How many of the organisation's matches wait on this user, by kind: one query."""
    side = side_for(user)
    if side is None:
        return AttentionCounts()
    now = now or datetime.now()

    def count(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    query = select(count(waiting_to_accept(side)), count(waiting_to_schedule()),
                   count(waiting_after_session(side, now))).select_from(Match)
    query = query.join(Offer, Offer.id == Match.offer_id) if side == PROVIDER else \
        query.join(SchoolRequest, SchoolRequest.id == Match.request_id)
    to_accept, to_schedule, after_session = db.session.execute(
        _own(query, user, side).where(needs_action(side, now))).one()
    return AttentionCounts(int(to_accept), int(to_schedule), int(after_session))
