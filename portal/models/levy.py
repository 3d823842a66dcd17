"""The apprenticeship levy (5/6): what enters a levy payer's account each month and what is spent, levy
transfer pledges, and smaller employers' applications to them. Money is in pence.

Funds expire 24 months after entering, spent oldest first (services/levy.py projects expiry month by month).
A pledge's remaining amount can never go below zero (CHECK, and a conditional UPDATE on approval).
"""
import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import utcnow

LEVY_EXPIRY_MONTHS = 24
PLEDGE_SHARE_OF_LAST_YEAR = 0.5  # a pledge may be up to 50% of last year's funds
APPLICATION_EXPIRY_MONTHS = 3
DEFAULT_PLEDGE_DELAY_DAYS = 42  # six weeks


class LevyEntry(db.Model):
    """Funds entering a provider's levy account in one month (`month` is the first of the month)."""

    __tablename__ = "levy_entries"
    __table_args__ = (
        UniqueConstraint("provider_id", "month", name="uq_levy_entries_provider_month"),
        CheckConstraint("amount_pence > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    month: Mapped[date] = mapped_column(Date)
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LevySpend(db.Model):
    """Funds used from a provider's levy account in one month (training paid, transfers sent)."""

    __tablename__ = "levy_spends"
    __table_args__ = (CheckConstraint("amount_pence > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    month: Mapped[date] = mapped_column(Date)
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(String(200))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("pledge_applications.id"))  # a transfer used
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PledgeStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Pledge(db.Model):
    __tablename__ = "pledges"
    __table_args__ = (
        CheckConstraint("amount_pence > 0", name="amount_positive"),
        CheckConstraint("remaining_pence >= 0 AND remaining_pence <= amount_pence", name="remaining_within_amount"),
        CheckConstraint("status IN ('open', 'closed')", name="status_valid"),
        CheckConstraint("auto_approve_delay_days BETWEEN 0 AND 90", name="auto_approve_delay_range"),
        CheckConstraint("max_distance_miles IS NULL OR max_distance_miles > 0", name="distance_positive"),
        Index("ix_pledges_status_area", "status", "area_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)  # the levy payer
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"))  # the pledger's area (browsing)
    title: Mapped[str] = mapped_column(String(160))
    description: Mapped[str] = mapped_column(Text, default="")
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    remaining_pence: Mapped[int] = mapped_column(BigInteger)
    last_year_funds_pence: Mapped[int] = mapped_column(BigInteger)  # what the 50% rule was checked against
    # Criteria (None = any): applicants within this distance of the pledger, in these sectors, at these levels.
    max_distance_miles: Mapped[int | None]
    sectors: Mapped[list | None] = mapped_column(JSON)
    levels: Mapped[list | None] = mapped_column(JSON)
    auto_approve: Mapped[bool] = mapped_column(default=True)
    auto_approve_delay_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_PLEDGE_DELAY_DAYS)
    status: Mapped[str] = mapped_column(String(16), default=PledgeStatus.OPEN)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    provider: Mapped["Organisation"] = relationship()  # noqa: F821
    applications: Mapped[list["PledgeApplication"]] = relationship(back_populates="pledge",
                                                                   order_by="PledgeApplication.id")


class ApplicationStatus(enum.StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    AWAITING_ACCEPTANCE = "awaiting_acceptance"
    ACCEPTED = "accepted"
    FUNDS_USED = "funds_used"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


_APPLICATION_STATUSES = ", ".join(f"'{s}'" for s in ApplicationStatus)


class PledgeApplication(db.Model):
    __tablename__ = "pledge_applications"
    __table_args__ = (
        CheckConstraint(f"status IN ({_APPLICATION_STATUSES})", name="status_valid"),
        CheckConstraint("amount_pence > 0", name="amount_positive"),
        CheckConstraint("apprentices >= 1", name="apprentices_positive"),
        CheckConstraint("level BETWEEN 2 AND 7", name="level_range"),
        Index("ix_pledge_applications_pledge_status", "pledge_id", "status"),
        Index("ix_pledge_applications_auto_approve_at", "auto_approve_at"),
        Index("ix_pledge_applications_expires_at", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pledge_id: Mapped[int] = mapped_column(ForeignKey("pledges.id"))
    applicant_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)  # a smaller employer
    standard: Mapped[str] = mapped_column(String(160))  # the apprenticeship standard
    level: Mapped[int] = mapped_column(Integer)
    apprentices: Mapped[int] = mapped_column(Integer)
    amount_pence: Mapped[int] = mapped_column(BigInteger)
    town: Mapped[str | None] = mapped_column(String(120))  # where the apprentices will work
    starts_on: Mapped[date] = mapped_column(Date)
    message: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24), default=ApplicationStatus.AWAITING_APPROVAL)
    meets_criteria: Mapped[bool] = mapped_column(default=False)
    unmet_reasons: Mapped[str | None] = mapped_column(Text)
    auto_approve_at: Mapped[datetime | None]  # set when it meets every criterion and the pledge auto-approves
    expires_at: Mapped[datetime]  # three months after applying, unless decided
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str | None] = mapped_column(Text)  # why rejected or withdrawn
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    pledge: Mapped[Pledge] = relationship(back_populates="applications")
    applicant: Mapped["Organisation"] = relationship()  # noqa: F821
