"""Accounts' security use cases: sign-in and out, two-step sign-in, password change and reset.

Each public function is one use case and commits once at its end. Failures that must be
remembered (a wrong password, a wrong code) are audited and committed before the error is raised.
Nothing here touches the request: views pass the IP address in.
"""
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp
from flask import current_app
from sqlalchemy import delete, func, select, update

from portal import policy
from portal.errors import InvalidState, NotAllowed, PortalError, ValidationFailed
from portal.extensions import db
from portal.models import AuthToken, RecoveryCode, TokenPurpose, User, UserStatus, utcnow
from portal.models.users import new_session_nonce
from portal.services import audit
from portal.services.mail import link, queue_mail
from portal.services.passwords import dummy_hash, hash_password, password_problems, verify_password

WRONG_CREDENTIALS = "Email or password is not right"
RECOVERY_CODE_COUNT = 10
EMAIL_MAX_LENGTH = 254


class SignInRefused(PortalError):
    """The email and password did not open an account (said the same way whatever the reason)."""


@dataclass(frozen=True)
class SignIn:
    """What the password step decided: who, and what they must still do."""

    user: User
    needs_code: bool  # two-step is on: not signed in until a code is given
    must_set_up_two_step: bool  # coordinators and admins without two-step: signed in, confined to setup


def _area_id(user: User | None) -> int | None:
    return user.organisation.area_id if user is not None and user.organisation is not None else None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def _find_user(email: str) -> User | None:
    email = _normalise_email(email)
    if not email or len(email) > EMAIL_MAX_LENGTH:
        return None
    return db.session.scalar(select(User).where(User.email == email))


def _end_all_sessions(user: User) -> None:
    user.session_nonce = new_session_nonce()


def _unusable_reason(user: User) -> str | None:
    """Why a user whose password was right still may not sign in (None: they may)."""
    if user.status in (UserStatus.REJECTED, UserStatus.DISABLED):
        return "This account cannot sign in."
    if user.status == UserStatus.PENDING and user.email_confirmed_at is None:
        return "Confirm your email address first, using the link we sent you."
    if user.status == UserStatus.PENDING:
        return "Your account is waiting for a coordinator to verify it. We will email you when that is done."
    return None


def _record_sign_in(user: User, ip: str | None, detail: str | None = None) -> None:
    user.last_login_at = utcnow()
    audit.record("login.success", actor=user, target=user, ip=ip, area_id=_area_id(user), detail=detail)


# Sign-in and sign-out

def sign_in(email: str, password: str, *, ip: str | None) -> SignIn:
    """Check an email and password. Unknown email and wrong password fail alike, in time and words."""
    user = _find_user(email)
    password_ok = verify_password(user.password_hash if user else dummy_hash(), password or "")
    if user is None or not password_ok:
        typed = _normalise_email(email)[:EMAIL_MAX_LENGTH]
        # Record the address tried, unless it plainly is not one (people do type passwords there).
        detail = f"email: {typed}" if "@" in typed else "email: (not an email address)"
        audit.record("login.failure", actor=user, target=user, ip=ip, area_id=_area_id(user), detail=detail)
        db.session.commit()
        raise SignInRefused(WRONG_CREDENTIALS)
    reason = _unusable_reason(user)
    if reason:
        audit.record("login.failure", actor=user, target=user, ip=ip, area_id=_area_id(user),
                     detail=f"account {user.status}")
        db.session.commit()
        raise SignInRefused(reason)
    if user.two_step_enabled:
        return SignIn(user=user, needs_code=True, must_set_up_two_step=False)
    must_set_up = policy.requires_two_step(user)
    _record_sign_in(user, ip, detail="two-step setup required" if must_set_up else None)
    db.session.commit()
    return SignIn(user=user, needs_code=False, must_set_up_two_step=must_set_up)


def sign_out(user: User, *, ip: str | None) -> None:
    """End this and every other session of the user: their old cookies stop working."""
    _end_all_sessions(user)
    audit.record("logout", actor=user, target=user, ip=ip, area_id=_area_id(user))
    db.session.commit()


# Two-step sign-in

def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(user: User, secret: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=current_app.config["TOTP_ISSUER"])


def _totp_step(secret: str, code: str, *, after: int | None) -> int | None:
    """The time step (±1 for clock drift) whose code this is, if later than `after`; else None."""
    totp = pyotp.TOTP(secret)
    current = int(time.time()) // totp.interval
    for step in (current - 1, current, current + 1):
        if after is not None and step <= after:
            continue  # a code already used (or older than one used) is refused
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _clean_code(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def _new_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes with fresh ones; return them (the only time they exist in clear)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = secrets.token_hex(5)
        db.session.add(RecoveryCode(user_id=user.id, code_hash=_digest(raw)))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def _use_recovery_code(user: User, cleaned: str) -> bool:
    used = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _digest(cleaned),
               RecoveryCode.used_at.is_(None))
        .values(used_at=utcnow())
    )
    return used.rowcount == 1  # a conditional update: two racing sign-ins cannot both spend one code


def complete_two_step(user_id: int, nonce: str, code: str, *, ip: str | None) -> User:
    """Finish a sign-in whose password was right, with a current code or an unused recovery code."""
    user = db.session.get(User, user_id)
    if user is None or user.session_nonce != nonce or not user.is_active or not user.two_step_enabled:
        raise InvalidState("Your sign-in has expired. Sign in again.")
    cleaned = _clean_code(code)
    if cleaned.isdigit() and len(cleaned) == 6:
        step = _totp_step(user.totp_secret, cleaned, after=user.totp_last_step)
        if step is not None:
            user.totp_last_step = step
            _record_sign_in(user, ip, detail="two-step code")
            db.session.commit()
            return user
    elif _use_recovery_code(user, cleaned):
        audit.record("two_step.recovery_code_used", actor=user, target=user, ip=ip, area_id=_area_id(user),
                     detail=f"{recovery_codes_left(user)} recovery codes left")
        _record_sign_in(user, ip, detail="recovery code")
        db.session.commit()
        return user
    audit.record("two_step.failure", actor=user, target=user, ip=ip, area_id=_area_id(user))
    db.session.commit()
    raise ValidationFailed("That code is not right, or has already been used. Try the newest code.", field="code")


def enable_two_step(user: User, secret: str, code: str, *, ip: str | None) -> list[str]:
    """Turn two-step on (or move it to a new device) once the user proves their app shows the right code."""
    step = _totp_step(secret, _clean_code(code), after=None)
    if step is None:
        raise ValidationFailed("That code is not right. Check your device's clock and enter the newest code.",
                               field="code")
    user.totp_secret = secret
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step  # the code just used to confirm cannot also sign in
    codes = _new_recovery_codes(user)
    audit.record("two_step.enable", actor=user, target=user, ip=ip, area_id=_area_id(user))
    db.session.commit()
    return codes


def disable_two_step(user: User, password: str, *, ip: str | None) -> None:
    """Turn two-step off for a user who may go without it, after they confirm their password."""
    if policy.requires_two_step(user):
        raise NotAllowed("Coordinators and administrators must keep two-step sign-in on.")
    if not user.two_step_enabled:
        raise InvalidState("Two-step sign-in is already off.")
    if not verify_password(user.password_hash, password or ""):
        raise ValidationFailed("Your password is not right.", field="password")
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record("two_step.disable", actor=user, target=user, ip=ip, area_id=_area_id(user))
    db.session.commit()


def regenerate_recovery_codes(user: User, *, ip: str | None) -> list[str]:
    """New recovery codes replace all the old ones (used or not)."""
    if not user.two_step_enabled:
        raise InvalidState("Set up two-step sign-in first.")
    codes = _new_recovery_codes(user)
    audit.record("two_step.recovery_codes_replaced", actor=user, target=user, ip=ip, area_id=_area_id(user))
    db.session.commit()
    return codes


def recovery_codes_left(user: User) -> int:
    return db.session.scalar(
        select(func.count()).select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )


# Passwords

def _check_new_password(user: User, password: str, field: str) -> None:
    problems = password_problems(password or "", email=user.email, name=user.name)
    if problems:
        raise ValidationFailed(" ".join(problems), field=field)


def _set_password(user: User, password: str) -> None:
    """New hash, every session ended, every outstanding reset link spent."""
    user.password_hash = hash_password(password)
    _end_all_sessions(user)
    db.session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == user.id, AuthToken.purpose == TokenPurpose.RESET_PASSWORD,
               AuthToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    queue_mail(user.email, "Your Encounters password was changed", "password_changed", user=user,
               reset_url=link("auth.forgot_password"))


def change_password(user: User, current: str, new: str, *, ip: str | None) -> User:
    """Change a signed-in user's password; their other sessions end (the caller re-signs this one in)."""
    if not verify_password(user.password_hash, current or ""):
        raise ValidationFailed("Your current password is not right.", field="current_password")
    _check_new_password(user, new, "new_password")
    _set_password(user, new)
    audit.record("password.change", actor=user, target=user, ip=ip, area_id=_area_id(user))
    db.session.commit()
    return user


def request_password_reset(email: str, *, ip: str | None) -> None:
    """Mail a single-use reset link if the address belongs to a usable account; say nothing either way."""
    user = _find_user(email)
    if user is None or not user.is_active or user.email_confirmed_at is None:
        return
    raw = secrets.token_urlsafe(32)
    lifetime = current_app.config["TOKEN_LIFETIMES"]["reset_password"]
    db.session.add(AuthToken(user_id=user.id, purpose=TokenPurpose.RESET_PASSWORD, token_hash=_digest(raw),
                             expires_at=utcnow() + lifetime))
    queue_mail(user.email, "Reset your Encounters password", "reset_password", user=user,
               reset_url=link("auth.reset_password", token=raw), lifetime_minutes=int(lifetime.total_seconds() // 60))
    audit.record("password.reset_requested", actor=user, target=user, ip=ip, area_id=_area_id(user))
    db.session.commit()


def reset_token(raw: str) -> AuthToken | None:
    """The live reset token for this link: unused, unexpired, for an account that may sign in."""
    token = db.session.scalar(
        select(AuthToken).where(AuthToken.token_hash == _digest(raw or ""),
                                AuthToken.purpose == TokenPurpose.RESET_PASSWORD)
    )
    if token is None or token.used_at is not None or token.expires_at <= utcnow() or not token.user.is_active:
        return None
    return token


def reset_password(raw: str, new: str, *, ip: str | None) -> User:
    """Set a new password from an emailed link; the link is spent and every session ends."""
    token = reset_token(raw)
    if token is None:
        raise InvalidState("This link has expired or has already been used. Ask for a new one.")
    user = token.user
    _check_new_password(user, new, "password")
    _set_password(user, new)  # also marks this token used
    audit.record("password.reset", actor=user, target=user, ip=ip, area_id=_area_id(user))
    db.session.commit()
    return user
