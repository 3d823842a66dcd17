"""What each role's home page shows: the things that need the user's attention."""
from dataclasses import dataclass, field

from sqlalchemy import func, select

from portal import policy
from portal.extensions import db
from portal.models import Organisation, User, UserStatus
from portal.vocab import Role


@dataclass
class HomeSummary:
    role: Role
    organisation: Organisation | None = None
    pending_verifications: int = 0
    items: list[tuple[str, str]] = field(default_factory=list)  # (text, endpoint) for "needs attention"


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


def summary_for(user: User) -> HomeSummary:
    role = Role(user.role)
    summary = HomeSummary(role=role, organisation=user.organisation)
    if role in (Role.COORDINATOR, Role.ADMIN):
        summary.pending_verifications = pending_verification_count(user)
        if summary.pending_verifications:
            summary.items.append(
                (f"{summary.pending_verifications} waiting for verification", "verification.queue")
            )
    if role in (Role.COORDINATOR, Role.ADMIN) and not user.two_step_enabled:
        summary.items.append(("Set up two-step sign-in", "auth.two_step_setup"))
    return summary
