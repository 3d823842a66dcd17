"""What each role's home page shows: the things that need the user's attention, each with a count and a link."""
from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import func, select

from portal import policy
from portal.extensions import db
from portal.models import Organisation, User, UserStatus
from portal.services import matches, my_matches
from portal.vocab import Role


class Item(NamedTuple):
    text: str
    endpoint: str
    args: dict = {}  # the link's query string, e.g. a list's filter


@dataclass
class HomeSummary:
    role: Role
    organisation: Organisation | None = None
    pending_verifications: int = 0
    items: list[Item] = field(default_factory=list)  # "needs your attention"


def pending_verification_count(user: User) -> int:
    """People waiting for verification in the areas this user coordinates."""
    query = (
        select(func.count(User.id))
        .join(Organisation, User.organisation_id == Organisation.id)
        .where(User.status == UserStatus.PENDING, User.email_confirmed_at.is_not(None))
    )
    areas = policy.visible_area_ids(user)
    if areas is not None:
        query = query.where(Organisation.area_id.in_(areas or {-1}))
    return db.session.scalar(query) or 0


def proposal_count(user: User) -> int:
    """Proposals waiting in the user's approval queue: the queue's own query, counted as its pages count it."""
    return db.session.scalar(select(func.count()).select_from(matches.queue(user).order_by(None).subquery())) or 0


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _match_items(user: User) -> list[Item]:
    """A provider's or careers lead's matches that wait on them, linked to their list of matches needing action."""
    counts = my_matches.attention_counts(user)
    after = ("session waiting for you to confirm delivery", "sessions waiting for you to confirm delivery") \
        if my_matches.side_for(user) == my_matches.PROVIDER else \
        ("past session waiting for attendance to be recorded", "past sessions waiting for attendance to be recorded")
    wanted = [
        (counts.to_accept, "match waiting for your acceptance", "matches waiting for your acceptance"),
        (counts.to_schedule, "accepted match waiting to be scheduled", "accepted matches waiting to be scheduled"),
        (counts.after_session, *after),
    ]
    return [Item(_plural(count, one, many), "matches.mine", {"show": my_matches.ACTION})
            for count, one, many in wanted if count]


def summary_for(user: User) -> HomeSummary:
    role = Role(user.role)
    summary = HomeSummary(role=role, organisation=user.organisation)
    if role in (Role.COORDINATOR, Role.ADMIN):
        proposals = proposal_count(user)
        if proposals:
            summary.items.append(Item(_plural(proposals, "proposal waiting for your decision",
                                              "proposals waiting for your decision"), "matches.index"))
        summary.pending_verifications = pending_verification_count(user)
        if summary.pending_verifications:
            summary.items.append(
                Item(f"{summary.pending_verifications} waiting for verification", "verification.queue"))
    if role in (Role.PROVIDER, Role.CAREERS_LEAD):
        summary.items.extend(_match_items(user))
    if role in (Role.COORDINATOR, Role.ADMIN) and not user.two_step_enabled:
        summary.items.append(Item("Set up two-step sign-in", "auth.two_step_setup"))
    return summary
