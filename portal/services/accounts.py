"""Accounts: sign-up, email confirmation, a coordinator's verification decisions, staff accounts.

Each public function is one use case and commits once, at its end. Anything a person typed is
checked here again (the forms check it first, for friendly messages), so the CLI and tests get
the same rules.
"""
import hashlib
import re
import secrets
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal import policy
from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import (
    Area,
    AuthToken,
    Organisation,
    OrganisationSector,
    OrgKind,
    OrgStatus,
    SchoolYearSize,
    TokenPurpose,
    User,
    UserStatus,
    utcnow,
)
from portal.services import audit, mail, organisations
from portal.services.passwords import hash_password, password_problems
from portal.vocab import PHASE_YEARS, PHASES, PROVIDER_KINDS, SECTORS, SIZE_BANDS, Role, year_label

URN_PATTERN = re.compile(r"^\d{6}$")
REASON_MIN, REASON_MAX = 5, 1000
MAX_YEAR_PUPILS = 5000


@dataclass
class NewAccount:
    """Who is signing up."""

    name: str
    email: str
    password: str


@dataclass
class ProviderDetails:
    """A provider organisation registered at sign-up."""

    name: str
    area_id: int
    provider_kind: str
    sectors: list[str]
    size_band: str
    location: tuple[str | None, float, float]  # (town, latitude, longitude)
    levy_payer: bool = False
    website: str | None = None
    safeguarding_contact: str | None = None


@dataclass
class SchoolDetails:
    """A school registered at sign-up."""

    name: str
    urn: str
    phase: str
    area_id: int
    location: tuple[str | None, float, float]
    year_sizes: dict[int, int] = field(default_factory=dict)


@dataclass
class ApprovalResult:
    user: User
    changed: bool  # False: the user was already active (approving twice is harmless)
    organisation_verified: bool = False


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


# Look-ups the sign-up pages need ------------------------------------------------------------------


def area_choices() -> list[tuple[int, str]]:
    return [(a.id, a.name) for a in db.session.scalars(select(Area).order_by(Area.name))]


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def joinable_providers(name_filter: str = "", limit: int = 200) -> list[Organisation]:
    """Verified provider organisations a new contact may join, optionally filtered by name."""
    query = select(Organisation).where(
        Organisation.kind == OrgKind.PROVIDER, Organisation.status == OrgStatus.VERIFIED
    )
    if name_filter.strip():
        query = query.where(func.lower(Organisation.name).like(_like(name_filter.strip()), escape="\\"))
    return list(db.session.scalars(query.order_by(Organisation.name).limit(limit)))


def find_schools(text: str, limit: int = 50) -> list[Organisation]:
    """Schools a careers lead may join: by exact 6-digit URN, or by a part of the name (2+ characters)."""
    text = (text or "").strip()
    query = select(Organisation).where(Organisation.kind == OrgKind.SCHOOL, Organisation.status != OrgStatus.REJECTED)
    if URN_PATTERN.match(text):
        query = query.where(Organisation.urn == text)
    elif len(text) >= 2:
        query = query.where(func.lower(Organisation.name).like(_like(text), escape="\\"))
    else:
        return []
    query = query.options(selectinload(Organisation.area))
    return list(db.session.scalars(query.order_by(Organisation.name).limit(limit)))


def joinable_school(school_id: int | None) -> Organisation | None:
    school = db.session.get(Organisation, school_id) if school_id else None
    if school is None or not school.is_school or school.status == OrgStatus.REJECTED:
        return None
    return school


# Sign-up ------------------------------------------------------------------------------------------


def sign_up_provider(
    account: NewAccount,
    *,
    organisation_id: int | None = None,
    new_organisation: ProviderDetails | None = None,
    ip: str | None = None,
) -> User | None:
    """A provider contact signs up, joining a verified provider or registering a new one (pending).

    Returns the new user, or None when the email address already has an account: the page
    says the same either way, and the address's owner is told by mail instead.
    """
    if (organisation_id is None) == (new_organisation is None):
        raise ValidationFailed("Choose an organisation to join, or register a new one.", field="joining")
    if organisation_id is not None:
        org = db.session.get(Organisation, organisation_id)
        if org is None or not org.is_provider or org.status != OrgStatus.VERIFIED:
            raise ValidationFailed("Choose an organisation from the list.", field="organisation_id")
    else:
        org = _new_provider(new_organisation)
    return _sign_up(account, Role.PROVIDER, org, ip)


def sign_up_careers_lead(
    account: NewAccount,
    *,
    school_id: int | None = None,
    new_school: SchoolDetails | None = None,
    ip: str | None = None,
) -> User | None:
    """A careers lead signs up for a school found by name or URN, or registers a new school (pending).

    Returns None when the email address already has an account (see sign_up_provider).
    """
    if (school_id is None) == (new_school is None):
        raise ValidationFailed("Find your school, or register a new one.", field="school_id")
    if school_id is not None:
        org = joinable_school(school_id)
        if org is None:
            raise ValidationFailed("That school cannot be joined. Find your school again.", field="school_id")
    else:
        org = _new_school(new_school)
    return _sign_up(account, Role.CAREERS_LEAD, org, ip)


def _check_account(account: NewAccount) -> NewAccount:
    email = normalise_email(account.email)
    name = (account.name or "").strip()
    if not name or len(name) > 120:
        raise ValidationFailed("Enter your name (at most 120 characters).", field="name")
    if "@" not in email or len(email) > 254:
        raise ValidationFailed("Enter an email address, like name@example.org.", field="email")
    problems = password_problems(account.password, email=email, name=name)
    if problems:
        raise ValidationFailed(" ".join(problems), field="password")
    return NewAccount(name=name, email=email, password=account.password)


def _user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def _sign_up(account: NewAccount, role: Role, org: Organisation, ip: str | None) -> User | None:
    account = _check_account(account)
    # Hash before looking the address up, so a known address answers no faster than a new one.
    password_hash = hash_password(account.password)
    existing = _user_by_email(account.email)
    if existing is not None:  # a new organisation built for this attempt was never added: it is dropped
        _tell_owner_of_attempt(existing)
        db.session.commit()
        return None
    user = User(
        email=account.email, name=account.name, password_hash=password_hash, role=role,
        status=UserStatus.PENDING, organisation=org,
    )
    db.session.add(user)
    db.session.flush()
    _send_confirmation(user)
    audit.record("signup.created", actor=user, ip=ip, target=user, area_id=org.area_id,
                 detail=f"{role.label}; organisation {org.name!r} ({org.status})")
    try:
        db.session.commit()
    except IntegrityError:
        # Two sign-ups raced for one address (or URN); the unique index kept one. Answer as for a duplicate.
        db.session.rollback()
        existing = _user_by_email(account.email)
        if existing is None:
            raise ValidationFailed("That could not be saved. Please try again.") from None
        _tell_owner_of_attempt(existing)
        db.session.commit()
        return None
    return user


def _new_provider(details: ProviderDetails) -> Organisation:
    name = (details.name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed("Enter the organisation's name (at most 200 characters).", field="org_name")
    _check_area(details.area_id)
    _check_provider_name(name, details.area_id)
    if details.provider_kind not in PROVIDER_KINDS:
        raise ValidationFailed("Choose what kind of organisation it is.", field="provider_kind")
    sectors = sorted(set(details.sectors or []))
    if not sectors or any(s not in SECTORS for s in sectors):
        raise ValidationFailed("Choose at least one sector.", field="sectors")
    if details.size_band not in SIZE_BANDS:
        raise ValidationFailed("Choose the organisation's size.", field="size_band")
    website = (details.website or "").strip() or None
    if website and not re.match(r"^https?://[^\s/]+\.[^\s]+$", website, re.IGNORECASE):
        raise ValidationFailed("Enter a web address starting with http:// or https://.", field="website")
    town, latitude, longitude = _check_location(details.location)
    org = Organisation(
        kind=OrgKind.PROVIDER, name=name, area_id=details.area_id, status=OrgStatus.PENDING,
        provider_kind=details.provider_kind, size_band=details.size_band, levy_payer=bool(details.levy_payer),
        website=website, safeguarding_contact=(details.safeguarding_contact or "").strip() or None,
        town=town, latitude=latitude, longitude=longitude,
    )
    org.sectors = [OrganisationSector(sector=s) for s in sectors]
    return org  # added to the session with its first user, and only then


def _check_provider_name(name: str, area_id: int) -> None:
    """One provider of a name per area (organisations.name_key): point to joining the one already registered."""
    taken = organisations.provider_named(name, area_id=area_id)
    if taken is None:
        return
    if taken.status == OrgStatus.VERIFIED:
        advice = ('Choose "Join an organisation already on Encounters" above and pick it from the list, '
                  "or contact your coordinator.")
    elif taken.status == OrgStatus.PENDING:
        advice = ("It is waiting for a coordinator to verify it, so it cannot be joined yet: ask the colleague "
                  "who registered it, or contact your coordinator.")
    else:
        advice = "It was not verified: please contact your area's coordinator."
    raise ValidationFailed(f"{organisations.name_taken_message(taken)} {advice}", field="org_name")


def _new_school(details: SchoolDetails) -> Organisation:
    name = (details.name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed("Enter the school's name (at most 200 characters).", field="school_name")
    urn = (details.urn or "").strip()
    if not URN_PATTERN.match(urn):
        raise ValidationFailed("A URN is exactly 6 digits, e.g. 119654.", field="urn")
    taken = db.session.scalar(select(Organisation).where(Organisation.urn == urn))
    if taken is not None:
        if taken.status == OrgStatus.REJECTED:
            raise ValidationFailed(
                f"A school with URN {urn} was registered but not verified. "
                "Please contact your area's coordinator.", field="urn")
        raise ValidationFailed(
            f"{taken.name} (URN {urn}) is already registered. Find it and join it instead.", field="urn")
    if details.phase not in PHASES:
        raise ValidationFailed("Choose the school's phase.", field="phase")
    _check_area(details.area_id)
    town, latitude, longitude = _check_location(details.location)
    taught = PHASE_YEARS[details.phase]
    sizes = []
    for year, pupils in sorted((details.year_sizes or {}).items()):
        if pupils is None:
            continue
        if year not in taught:
            raise ValidationFailed(
                f"{year_label(year)} is not taught in a {PHASES[details.phase].lower()} school; leave it empty.",
                field=f"year_{year}")
        if not 0 <= pupils <= MAX_YEAR_PUPILS:
            raise ValidationFailed(f"Enter a number from 0 to {MAX_YEAR_PUPILS}.", field=f"year_{year}")
        sizes.append(SchoolYearSize(year_group=year, pupils=pupils))
    org = Organisation(
        kind=OrgKind.SCHOOL, name=name, urn=urn, phase=details.phase, area_id=details.area_id,
        status=OrgStatus.PENDING, town=town, latitude=latitude, longitude=longitude,
    )
    org.year_sizes = sizes
    return org  # added to the session with its first user, and only then


def _check_area(area_id: int | None) -> None:
    if area_id is None or db.session.get(Area, area_id) is None:
        raise ValidationFailed("Choose an area.", field="area_id")


def _check_location(location) -> tuple[str | None, float, float]:
    if not location:
        raise ValidationFailed("Enter a town or village, or latitude and longitude.", field="town")
    town, latitude, longitude = location
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValidationFailed("Those coordinates are not on the map.", field="latitude")
    return town, latitude, longitude


def _issue_confirm_token(user: User) -> str:
    raw = secrets.token_urlsafe(32)
    lifetime = current_app.config["TOKEN_LIFETIMES"]["confirm_email"]
    db.session.add(AuthToken(user=user, purpose=TokenPurpose.CONFIRM_EMAIL, token_hash=_hash_token(raw),
                             expires_at=utcnow() + lifetime))
    return raw


def _send_confirmation(user: User, *, existing_account: bool = False) -> None:
    raw = _issue_confirm_token(user)
    mail.queue_mail(
        user.email, "Confirm your email address for Encounters", "confirm_email",
        name=user.name, confirm_url=mail.link("signup.confirm_email", token=raw),
        lifetime_days=current_app.config["TOKEN_LIFETIMES"]["confirm_email"].days,
        existing_account=existing_account,
    )


def _tell_owner_of_attempt(user: User) -> None:
    """Someone signed up with an address that has an account: tell its owner, and nobody else."""
    if user.status == UserStatus.PENDING and user.email_confirmed_at is None:
        # Most likely the owner lost the first link: a fresh one helps and tells a stranger nothing.
        _send_confirmation(user, existing_account=True)
        return
    mail.queue_mail(
        user.email, "Someone tried to sign up to Encounters with your email address", "confirm_email",
        name=user.name, confirm_url=None, existing_account=True,
        login_url=mail.link("auth.login"),
    )


# Email confirmation -------------------------------------------------------------------------------


def _confirm_token(raw_token: str) -> AuthToken | None:
    return db.session.scalar(
        select(AuthToken).where(AuthToken.token_hash == _hash_token(raw_token or ""),
                                AuthToken.purpose == TokenPurpose.CONFIRM_EMAIL)
    )


def confirm_token_problem(raw_token: str) -> str | None:
    """Why a confirmation link cannot be used (None: it can). Reads only; changes nothing."""
    return _token_problem(_confirm_token(raw_token))


def _token_problem(token: AuthToken | None) -> str | None:
    if token is None:
        return "This confirmation link is not valid. Check that you copied the whole link from the email."
    if token.used_at is not None:
        return "This confirmation link has already been used."
    if token.expires_at <= utcnow():
        return "This confirmation link has expired. Sign up again with the same email address for a new one."
    return None


def confirm_email(raw_token: str, ip: str | None = None) -> User:
    """Confirm the address a sign-up link was sent to, and tell the area's coordinators someone is waiting."""
    token = _confirm_token(raw_token)
    problem = _token_problem(token)
    if problem:
        raise InvalidState(problem)
    now = utcnow()
    # Claim the token in one statement, so two clicks at once confirm (and mail coordinators) only once.
    claimed = db.session.execute(
        update(AuthToken)
        .where(AuthToken.id == token.id, AuthToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if claimed != 1:
        db.session.rollback()
        raise InvalidState("This confirmation link has already been used.")
    user = token.user
    first_time = user.email_confirmed_at is None
    if first_time:
        user.email_confirmed_at = now
    org = user.organisation
    if first_time and user.status == UserStatus.PENDING and org is not None:
        _notify_verifiers(user, org)
    audit.record("signup.email_confirmed", actor=user, ip=ip, target=user,
                 area_id=org.area_id if org is not None else None)
    db.session.commit()
    return user


def verifiers_for(area_id: int) -> list[User]:
    """Active coordinators of the area; if it has none, the administrators, so nobody waits unseen."""
    coordinators = list(db.session.scalars(
        select(User).where(User.role == Role.COORDINATOR, User.status == UserStatus.ACTIVE,
                           User.areas.any(Area.id == area_id)).order_by(User.email)
    ))
    if coordinators:
        return coordinators
    return list(db.session.scalars(
        select(User).where(User.role == Role.ADMIN, User.status == UserStatus.ACTIVE).order_by(User.email)
    ))


def _notify_verifiers(user: User, org: Organisation) -> None:
    queue_url = mail.link("verification.queue")
    for verifier in verifiers_for(org.area_id):
        mail.queue_mail(
            verifier.email, f"New sign-up to verify: {org.name}", "new_signup_to_verify",
            verifier=verifier, applicant_name=user.name, applicant_email=user.email,
            role_label=Role(user.role).label, organisation_name=org.name,
            new_organisation=org.status == OrgStatus.PENDING, area_name=org.area.name, queue_url=queue_url,
        )


# Verification -------------------------------------------------------------------------------------


def verification_queue(user: User) -> Select:
    """People waiting for verification (email confirmed) in the areas this user coordinates, oldest first."""
    query = (
        select(User)
        .join(Organisation, User.organisation_id == Organisation.id)
        .where(User.status == UserStatus.PENDING, User.email_confirmed_at.is_not(None))
        .options(selectinload(User.organisation).selectinload(Organisation.area))
        .order_by(User.created_at, User.id)
    )
    areas = policy.visible_area_ids(user)
    if areas is not None:
        query = query.where(Organisation.area_id.in_(areas or {-1}))
    return query


def _check_verifier(by: User, user: User) -> Organisation:
    if not policy.can_verify(by, user):
        raise NotAllowed("You can only verify people in your own areas.")
    return user.organisation


def approve_user(user: User, *, by: User, ip: str | None = None) -> ApprovalResult:
    """Let a pending person in; a new organisation they registered is verified with them."""
    org = _check_verifier(by, user)
    if user.status == UserStatus.ACTIVE:
        return ApprovalResult(user=user, changed=False)
    if user.status != UserStatus.PENDING:
        raise InvalidState(f"{user.name}'s account is {user.status}; it cannot be approved from the queue.")
    if user.email_confirmed_at is None:
        raise InvalidState(f"{user.name} has not confirmed their email address yet.")
    if org.status == OrgStatus.REJECTED:
        raise InvalidState(f"{org.name} was rejected, so its people cannot be approved.")
    user.status = UserStatus.ACTIVE
    user.status_reason = None
    organisation_verified = org.status == OrgStatus.PENDING
    if organisation_verified:
        org.status = OrgStatus.VERIFIED
        org.status_reason = None
    mail.queue_mail(
        user.email, "Your Encounters account is ready", "verification_approved",
        name=user.name, organisation_name=org.name, login_url=mail.link("auth.login"),
    )
    audit.record("verification.approve", actor=by, ip=ip, target=user, area_id=org.area_id,
                 detail=f"organisation {org.name!r} verified" if organisation_verified else None)
    db.session.commit()
    return ApprovalResult(user=user, changed=True, organisation_verified=organisation_verified)


def reject_user(user: User, *, by: User, reason: str, ip: str | None = None) -> bool:
    """Turn a pending person away with a reason they are told; a new organisation with nobody else goes too.

    Returns True if the organisation was rejected as well.
    """
    org = _check_verifier(by, user)
    reason = (reason or "").strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise ValidationFailed(f"Give a reason of {REASON_MIN} to {REASON_MAX} characters.", field="reason")
    if user.status != UserStatus.PENDING:
        raise InvalidState(f"{user.name}'s account is already {user.status}.")
    user.status = UserStatus.REJECTED
    user.status_reason = reason
    others_active = db.session.scalar(
        select(func.count(User.id)).where(User.organisation_id == org.id, User.id != user.id,
                                          User.status == UserStatus.ACTIVE)
    )
    organisation_rejected = org.status == OrgStatus.PENDING and not others_active
    if organisation_rejected:
        org.status = OrgStatus.REJECTED
        org.status_reason = reason
    mail.queue_mail(
        user.email, "Your Encounters sign-up was not approved", "verification_rejected",
        name=user.name, organisation_name=org.name, reason=reason,
    )
    detail = f"reason: {reason}" + (f"; organisation {org.name!r} rejected" if organisation_rejected else "")
    audit.record("verification.reject", actor=by, ip=ip, target=user, area_id=org.area_id, detail=detail)
    db.session.commit()
    return organisation_rejected


# Staff accounts -----------------------------------------------------------------------------------

STAFF_ROLES = (Role.COORDINATOR, Role.ADMIN)


def create_staff_user(
    *, role: Role | str, email: str, name: str, password: str, area_names: list[str] | None = None
) -> User:
    """A coordinator or administrator, active and confirmed at once (used by `flask create-*`)."""
    role = Role(role)
    if role not in STAFF_ROLES:
        raise ValidationFailed("Staff accounts are coordinators or administrators.", field="role")
    account = _check_account(NewAccount(name=name, email=email, password=password))
    if _user_by_email(account.email) is not None:
        raise ValidationFailed(f"There is already an account for {account.email}.", field="email")
    areas: list[Area] = []
    if role == Role.COORDINATOR:
        wanted = [n.strip() for n in area_names or [] if n.strip()]
        if not wanted:
            raise ValidationFailed("A coordinator needs at least one area.", field="area")
        found = {a.name.lower(): a for a in db.session.scalars(
            select(Area).where(func.lower(Area.name).in_([n.lower() for n in wanted]))
        )}
        unknown = [n for n in wanted if n.lower() not in found]
        if unknown:
            known = ", ".join(n for _, n in area_choices()) or "none yet"
            raise ValidationFailed(f"Unknown area: {', '.join(unknown)}. Areas: {known}.", field="area")
        areas = list({a.id: a for a in (found[n.lower()] for n in wanted)}.values())
    user = User(email=account.email, name=account.name, password_hash=hash_password(account.password),
                role=role, status=UserStatus.ACTIVE, email_confirmed_at=utcnow())
    user.areas = areas
    db.session.add(user)
    db.session.flush()
    audit.record("account.staff_created", target=user, detail=f"{role.label}"
                 + (f" for {', '.join(a.name for a in areas)}" if areas else ""))
    db.session.commit()
    return user
