"""Administration: areas and their settings, and people's roles, coordinator areas and status.

Each public function that changes something is one use case and commits once, at its end, with
its audit events. Rules are checked here (the forms check what they can first, for friendly
messages); a broken rule raises a PortalError naming the form field it belongs beside.
"""
import math
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError

from portal.errors import NotAllowed, ValidationFailed
from portal.extensions import db
from portal.matching.weights import DEFAULT_WEIGHTS, Weights
from portal.models import Area, Organisation, OrgKind, User, UserStatus, coordinator_areas
from portal.models.users import new_session_nonce
from portal.services import audit, counting, mail
from portal.vocab import Role

CONTACT_TARGET_MIN, CONTACT_TARGET_MAX = 1, 20
EXPIRY_DAYS_MIN, EXPIRY_DAYS_MAX = 1, 90
RETENTION_YEARS_MIN, RETENTION_YEARS_MAX = 1, 10  # the CHECK on areas.retention_years
AREA_NAME_MAX = 120
# An admin may move an account between these; pending and rejected accounts are decided in the
# verification queue, where the email confirmation and the coordinator's check happen.
ADMIN_STATUSES = (UserStatus.ACTIVE, UserStatus.DISABLED)
MEMBER_ORG_KIND = {Role.PROVIDER: OrgKind.PROVIDER, Role.CAREERS_LEAD: OrgKind.SCHOOL}


# Reading ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AreaRow:
    area: Area
    organisations: int
    coordinators: int


def areas_with_counts() -> list[AreaRow]:
    """Every area, by name, with how many organisations and coordinators it has."""
    orgs = (
        select(func.count(Organisation.id)).where(Organisation.area_id == Area.id).correlate(Area).scalar_subquery()
    )
    coordinators = (
        select(func.count(coordinator_areas.c.user_id))
        .where(coordinator_areas.c.area_id == Area.id)
        .correlate(Area)
        .scalar_subquery()
    )
    rows = db.session.execute(select(Area, orgs, coordinators).order_by(Area.name)).all()
    return [AreaRow(area, n_orgs, n_coordinators) for area, n_orgs, n_coordinators in rows]


def all_areas() -> list[Area]:
    return list(db.session.scalars(select(Area).order_by(Area.name)))


def users_query(*, search: str | None = None, role: str | None = None, status: str | None = None) -> Select:
    """People matching a search (email or name contains) and a role and status, by email."""
    query = select(User).order_by(User.email)
    if search:
        pattern = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(User.email.like(pattern, escape="\\"), func.lower(User.name).like(pattern, escape="\\"))
        )
    if role:
        query = query.where(User.role == role)
    if status:
        query = query.where(User.status == status)
    return query


# Areas -----------------------------------------------------------------------------------------

def _clean_area_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise ValidationFailed("Enter the area’s name.", field="name")
    if len(cleaned) > AREA_NAME_MAX:
        raise ValidationFailed(f"An area’s name must be {AREA_NAME_MAX} characters or fewer.", field="name")
    return cleaned


def _duplicate_name(name: str) -> ValidationFailed:
    return ValidationFailed(f"There is already an area called {name}. Choose another name.", field="name")


def create_area(name: str, *, by: User, ip: str | None) -> Area:
    """Add an area; names are unique, whatever their capitals and spacing."""
    name = _clean_area_name(name)
    if db.session.scalar(select(Area.id).where(func.lower(Area.name) == name.lower())) is not None:
        raise _duplicate_name(name)
    area = Area(name=name)
    db.session.add(area)
    try:
        db.session.flush()
    except IntegrityError as error:  # another admin added the same name a moment ago
        db.session.rollback()
        raise _duplicate_name(name) from error
    audit.record("area.create", actor=by, ip=ip, target=area, area_id=area.id, detail=f"name: {name}")
    db.session.commit()
    return area


def update_area_settings(area: Area, *, contact_target: int, distinct_providers: bool, proposal_expiry_days: int,
                         by: User, ip: str | None, retention_years: int | None = None) -> bool:
    """Change how an area counts toward its target, how long proposals wait and how many academic years leavers'
    pupil-level rows are kept (None: unchanged; services/retention.py). Returns False if nothing changed."""
    if contact_target is None or not CONTACT_TARGET_MIN <= contact_target <= CONTACT_TARGET_MAX:
        raise ValidationFailed(
            f"The target must be a whole number from {CONTACT_TARGET_MIN} to {CONTACT_TARGET_MAX}.",
            field="contact_target",
        )
    if proposal_expiry_days is None or not EXPIRY_DAYS_MIN <= proposal_expiry_days <= EXPIRY_DAYS_MAX:
        raise ValidationFailed(
            f"The number of days must be a whole number from {EXPIRY_DAYS_MIN} to {EXPIRY_DAYS_MAX}.",
            field="proposal_expiry_days",
        )
    if retention_years is None:
        retention_years = area.retention_years
    elif not RETENTION_YEARS_MIN <= retention_years <= RETENTION_YEARS_MAX:
        raise ValidationFailed(
            f"The number of years must be a whole number from {RETENTION_YEARS_MIN} to {RETENTION_YEARS_MAX}.",
            field="retention_years",
        )
    changes = []
    if contact_target != area.contact_target:
        changes.append(f"contact_target: {area.contact_target} → {contact_target}")
    if bool(distinct_providers) != area.distinct_providers:
        changes.append(f"distinct_providers: {_on_off(area.distinct_providers)} → {_on_off(distinct_providers)}")
    if proposal_expiry_days != area.proposal_expiry_days:
        changes.append(f"proposal_expiry_days: {area.proposal_expiry_days} → {proposal_expiry_days}")
    if retention_years != area.retention_years:
        changes.append(f"retention_years: {area.retention_years} → {retention_years}")
    if not changes:
        return False
    area.contact_target = contact_target
    area.distinct_providers = bool(distinct_providers)
    area.proposal_expiry_days = proposal_expiry_days
    area.retention_years = retention_years
    if any(change.startswith(("contact_target", "distinct_providers")) for change in changes):
        counting.recount_area(area)  # the pupils' kept totals follow the area's counting rules
    audit.record("area.update", actor=by, ip=ip, target=area, area_id=area.id, detail="; ".join(changes))
    db.session.commit()
    return True


def _on_off(value: bool) -> str:
    return "on" if value else "off"


# Matching weights ------------------------------------------------------------------------------

WEIGHT_MAX = 100_000  # far above any sensible weight, and small enough for the solver's whole numbers
SCALAR_WEIGHTS = tuple(f.name for f in fields(Weights) if f.name != "load_tiers")
WHOLE_WEIGHTS = frozenset(name for name in SCALAR_WEIGHTS if isinstance(getattr(DEFAULT_WEIGHTS, name), int))
SHARE_WEIGHTS = frozenset(name for name in SCALAR_WEIGHTS if name.endswith("_share"))
# The engine's own checks (Weights.__post_init__), in words for the page.
_WEIGHT_RULES = {
    "open tier": "Leave “up to” empty on the last row (and only there): it covers every unit above the others.",
    "bounds": "Each “up to” must be a whole number above 0 and larger than the row before.",
    "points": "Points per unit must be 0 or more and never fall from one row to the next.",
    "scales": "Enter a number above 0.",
    "per-school": "Enter a number above 0 (a share: at most 1).",
}


class WeightsInvalid(ValidationFailed):
    """Some weights break the rules; `problems` maps each weight's name (or "load_tiers") to its message."""

    def __init__(self, problems: dict[str, str]):
        field, message = next(iter(problems.items()))
        super().__init__(message, field=field)
        self.problems = problems


def _rule_message(error: ValueError) -> str:
    text = str(error)
    return next((message for key, message in _WEIGHT_RULES.items() if key in text), text)


def _number(raw: Any, *, whole: bool) -> int | float | None:
    """A typed number (None when left empty); ValueError with the message for the page otherwise."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = float(str(raw).strip().replace(",", ""))
    except ValueError:
        raise ValueError("Enter a whole number, for example 3." if whole else "Enter a number, for example 20.") \
            from None
    if not math.isfinite(value):
        raise ValueError("Enter a number, for example 20.")
    if whole and not value.is_integer():
        raise ValueError("Enter a whole number, for example 3.")
    if value < 0:
        raise ValueError("Enter 0 or more.")
    if value > WEIGHT_MAX:
        raise ValueError(f"Enter a number no bigger than {WEIGHT_MAX:,}.")
    return int(value) if whole else value


def _scalar(name: str, raw: Any) -> int | float:
    value = _number(raw, whole=name in WHOLE_WEIGHTS)
    if value is None:
        return getattr(DEFAULT_WEIGHTS, name)  # left empty: the default
    if name in SHARE_WEIGHTS and value > 1:
        raise ValueError("Enter a share from 0 to 1, for example 0.5.")
    try:
        DEFAULT_WEIGHTS.with_overrides({name: value})
    except ValueError as error:
        raise ValueError(_rule_message(error)) from None
    return value


def _tiers(rows: Any) -> tuple[tuple[int | None, float], ...]:
    """(up to, points) rows as typed; rows left wholly empty are dropped (all empty: the default); an empty
    "up to" is the open tier."""
    tiers = []
    for number, (upto_raw, points_raw) in enumerate(rows or (), start=1):
        try:
            upto = _number(upto_raw, whole=True)
            points = _number(points_raw, whole=False)
        except ValueError as error:
            raise ValueError(f"Row {number}: {error}") from None
        if upto is None and points is None:
            continue
        if points is None:
            raise ValueError(f"Row {number}: enter the points per unit.")
        tiers.append((upto, points))
    if not tiers:
        return DEFAULT_WEIGHTS.load_tiers  # all left empty: the default
    if any(upto is None for upto, _ in tiers[:-1]):
        raise ValueError(_WEIGHT_RULES["open tier"])
    try:
        return DEFAULT_WEIGHTS.with_overrides({"load_tiers": tiers}).load_tiers
    except ValueError as error:
        raise ValueError(_rule_message(error)) from None


def parse_weights(values: dict[str, Any]) -> Weights:
    """The weights as typed on the admin's page (every scalar by name, empty for the default, and "load_tiers" as
    (up to, points) rows). Raises WeightsInvalid naming every weight that breaks a rule."""
    typed: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name in SCALAR_WEIGHTS:
        try:
            typed[name] = _scalar(name, values.get(name))
        except ValueError as error:
            problems[name] = str(error)
    try:
        typed["load_tiers"] = _tiers(values.get("load_tiers"))
    except ValueError as error:
        problems["load_tiers"] = str(error)
    if problems:
        raise WeightsInvalid(problems)
    try:
        return DEFAULT_WEIGHTS.with_overrides(typed)
    except ValueError as error:  # a rule across several weights
        raise WeightsInvalid({"": _rule_message(error)}) from None


def weight_overrides(weights: Weights) -> dict[str, Any]:
    """Only what differs from the defaults, as stored in Area.matching_weights."""
    stored, defaults = weights.to_dict(), DEFAULT_WEIGHTS.to_dict()
    return {name: value for name, value in stored.items() if value != defaults[name]}


def weight_text(name: str, value: Any) -> str:
    if name == "load_tiers":
        return ", ".join(f"up to {upto}: {points:g}" if upto is not None else f"above: {points:g}"
                         for upto, points in value)
    return f"{value:g}"


def set_area_weights(area: Area, values: dict[str, Any], *, by: User, ip: str | None) -> list[str]:
    """Tune an area's matching weights: only values that differ from the defaults are stored (an empty `values`
    resets to the defaults). Nothing is saved if any value is refused. Returns what changed, in words."""
    new = parse_weights(values)
    old = Weights.from_dict(area.matching_weights or {})
    changes = [
        f"{name}: {weight_text(name, getattr(old, name))} → {weight_text(name, getattr(new, name))}"
        for name in (f.name for f in fields(Weights)) if getattr(old, name) != getattr(new, name)
    ]
    overrides = weight_overrides(new) or None
    if not changes and overrides == area.matching_weights:
        return []
    area.matching_weights = overrides
    if changes:
        audit.record("area.weights_changed", actor=by, ip=ip, target=area, area_id=area.id, detail="; ".join(changes))
    db.session.commit()
    return changes


# People ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UserChanges:
    """What an admin's edit changed, for the confirmation message."""

    role: bool = False
    areas: bool = False
    status: bool = False

    @property
    def any(self) -> bool:
        return self.role or self.areas or self.status


def _check_role(user: User, role: Role, *, by: User) -> None:
    if user.id == by.id and role != Role.ADMIN:
        raise NotAllowed("You cannot remove your own administrator role. Ask another administrator.",
                         field="role")
    wanted_kind = MEMBER_ORG_KIND.get(role)
    if wanted_kind is None:
        return
    if user.organisation is None:
        raise ValidationFailed(
            f"A {role.label.lower()} must belong to an organisation, and this person has none. "
            "They can sign up with their organisation instead.",
            field="role",
        )
    if user.organisation.kind != wanted_kind:
        belongs = "a school" if wanted_kind == OrgKind.SCHOOL else "a provider"
        raise ValidationFailed(
            f"A {role.label.lower()} belongs to {belongs}; {user.organisation.name} is not one.", field="role"
        )


def _check_status(user: User, status: str, *, by: User) -> None:
    if status == user.status:
        return
    if user.id == by.id:
        raise NotAllowed("You cannot disable your own account. Ask another administrator.", field="status")
    if status not in ADMIN_STATUSES:
        raise ValidationFailed("Choose active or disabled.", field="status")
    if status == UserStatus.ACTIVE and user.status != UserStatus.DISABLED:
        raise ValidationFailed(
            "This account has not been verified yet: approve or reject it from the verification queue.",
            field="status",
        )


def _user_area_id(user: User) -> int | None:
    return user.organisation.area_id if user.organisation is not None else None


def update_user(user: User, *, role: str, area_ids: list[int], status: str, by: User,
                ip: str | None) -> UserChanges:
    """An admin changes someone's role, coordinator areas and status, all checked first, then saved together."""
    try:
        new_role = Role(role)
    except ValueError:
        raise ValidationFailed("Choose a role from the list.", field="role") from None
    _check_role(user, new_role, by=by)
    _check_status(user, status, by=by)
    if new_role == Role.COORDINATOR:
        areas = list(db.session.scalars(select(Area).where(Area.id.in_(set(area_ids or ()))).order_by(Area.name)))
        if len(areas) != len(set(area_ids or ())):
            raise ValidationFailed("Choose areas from the list.", field="areas")
        if not areas:
            raise ValidationFailed("Choose at least one area for a coordinator.", field="areas")
    else:
        areas = []  # only coordinators work in areas; other roles keep none

    role_changed = new_role != user.role
    areas_changed = {a.id for a in areas} != user.area_ids
    status_changed = status != user.status
    old_role = Role(user.role)

    if areas_changed:
        _change_areas(user, areas, by=by, ip=ip)
    if role_changed:
        user.role = new_role
        # New powers (or fewer) start with a fresh sign-in: staff roles must pass two-step sign-in.
        user.session_nonce = new_session_nonce()
        audit.record("role.change", actor=by, ip=ip, target=user, area_id=_user_area_id(user),
                     detail=f"{user.email}: {old_role.label} → {new_role.label}")
    if status_changed:
        _change_status(user, status, by=by, ip=ip)
    if role_changed or areas_changed or status_changed:
        db.session.commit()
    return UserChanges(role=role_changed, areas=areas_changed, status=status_changed)


def _change_areas(user: User, areas: list[Area], *, by: User, ip: str | None) -> None:
    """One audit event per area gained or lost, so that area's coordinators see it in their log."""
    before = {a.id: a for a in user.areas}
    after = {a.id: a for a in areas}
    for area_id in sorted(after.keys() - before.keys()):
        audit.record("coordinator.areas_change", actor=by, ip=ip, target=user, area_id=area_id,
                     detail=f"{user.email}: added {after[area_id].name}")
    for area_id in sorted(before.keys() - after.keys()):
        audit.record("coordinator.areas_change", actor=by, ip=ip, target=user, area_id=area_id,
                     detail=f"{user.email}: removed {before[area_id].name}")
    user.areas = areas


def _change_status(user: User, status: str, *, by: User, ip: str | None) -> None:
    user.status = status
    if status == UserStatus.DISABLED:
        user.session_nonce = new_session_nonce()  # ends every session the person has open
        mail.queue_mail(user.email, "Your Encounters account has been disabled", "account_disabled", user=user)
        audit.record("user.disable", actor=by, ip=ip, target=user, area_id=_user_area_id(user),
                     detail=user.email)
    else:
        user.status_reason = None
        audit.record("user.enable", actor=by, ip=ip, target=user, area_id=_user_area_id(user),
                     detail=user.email)
