"""People who sign in, and the secrets that belong to them (tokens, recovery codes)."""
import enum
import secrets
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import utcnow
from portal.vocab import Role


class UserStatus(enum.StrEnum):
    PENDING = "pending"  # signed up; waits for email confirmation and a coordinator's verification
    ACTIVE = "active"
    REJECTED = "rejected"
    DISABLED = "disabled"


coordinator_areas = Table(
    "coordinator_areas",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("area_id", ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True),
)


def new_session_nonce() -> str:
    return secrets.token_urlsafe(24)


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "role IN ('provider', 'careers_lead', 'coordinator', 'admin')", name="role_valid"
        ),
        CheckConstraint("status IN ('pending', 'active', 'rejected', 'disabled')", name="status_valid"),
        CheckConstraint(
            "role NOT IN ('provider', 'careers_lead') OR organisation_id IS NOT NULL",
            name="members_have_organisation",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), index=True)
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.PENDING, index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    email_confirmed_at: Mapped[datetime | None]
    # Part of the session cookie's identity: replacing it ends every session of this user
    # (logout, password change, disabling), so a replayed old cookie is refused.
    session_nonce: Mapped[str] = mapped_column(String(64), default=new_session_nonce)
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled_at: Mapped[datetime | None]
    # The last TOTP time step accepted, so a code cannot be replayed within its window.
    totp_last_step: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Careers leads may ask for a weekly mail of new offers near their school (off unless chosen).
    weekly_digest: Mapped[bool] = mapped_column(default=False)
    # The day their last digest was queued: the next covers the days since (a week at most), and none goes out
    # again within the week, however often the scheduler runs `flask digest send` (services/digest.py).
    last_digest_on: Mapped[date | None]

    organisation: Mapped["Organisation | None"] = relationship(back_populates="users")  # noqa: F821
    areas: Mapped[list["Area"]] = relationship(  # noqa: F821
        secondary=coordinator_areas, back_populates="coordinators", order_by="Area.name"
    )
    recovery_codes: Mapped[list["RecoveryCode"]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    # Flask-Login's interface
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.status == UserStatus.ACTIVE

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_nonce}"

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def two_step_enabled(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def area_ids(self) -> set[int]:
        return {a.id for a in self.areas}

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


class RecoveryCode(db.Model):
    """One-time codes for two-step sign-in when the phone is lost; only hashes are kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(back_populates="recovery_codes")


class TokenPurpose(enum.StrEnum):
    CONFIRM_EMAIL = "confirm_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 (a token purpose, not a password)


class AuthToken(db.Model):
    """Single-use emailed tokens; only a SHA-256 of the token is stored, so a leaked table opens nothing."""

    __tablename__ = "auth_tokens"
    __table_args__ = (
        CheckConstraint("purpose IN ('confirm_email', 'reset_password')", name="purpose_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
