"""Offers: what a provider can give (a talk, a visit, placements, a levy-funded place...)."""
import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import utcnow
from portal.models.year_groups import YearGroupsMixin


class OfferStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    PAUSED = "paused"
    CLOSED = "closed"


class Offer(YearGroupsMixin, db.Model):
    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published', 'paused', 'closed')", name="status_valid"),
        CheckConstraint("delivery IN ('in_school', 'workplace', 'virtual')", name="delivery_valid"),
        CheckConstraint("capacity >= 1", name="capacity_positive"),
        CheckConstraint("sessions >= 1", name="sessions_positive"),
        CheckConstraint("per_session >= 1", name="per_session_positive"),
        # The capacity guard that approvals rely on (3/6): never more allocated than there is.
        CheckConstraint("allocated >= 0 AND allocated <= capacity", name="allocated_within_capacity"),
        CheckConstraint("starts_on <= ends_on", name="dates_in_order"),
        CheckConstraint("max_travel_miles IS NULL OR max_travel_miles >= 0", name="travel_not_negative"),
        CheckConstraint("auto_approve_delay_days BETWEEN 0 AND 42", name="auto_approve_delay_range"),
        CheckConstraint("kit_stock IS NULL OR kit_stock >= 0", name="kit_stock_not_negative"),
        Index("ix_offers_browse", "status", "area_id", "ends_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    # Copied from the provider so browsing an area needs no join; kept in step by the offers service.
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"))
    type: Mapped[str] = mapped_column(String(32), index=True)
    title: Mapped[str] = mapped_column(String(160))
    description: Mapped[str] = mapped_column(Text, default="")
    sector: Mapped[str] = mapped_column(String(32), index=True)
    delivery: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=OfferStatus.DRAFT)
    open_to_all_areas: Mapped[bool] = mapped_column(default=False)
    # Auto-approval (3/6): proposals meeting every criterion are approved without a coordinator, at once or
    # this many days after they were made, unless a coordinator steps in first (services/auto_approval.py).
    auto_approve: Mapped[bool] = mapped_column(default=False)
    auto_approve_delay_days: Mapped[int] = mapped_column(Integer, default=0)

    # Capacity in the type's unit (catalogue.Unit): sessions × per_session pupils, or places, or classes.
    sessions: Mapped[int] = mapped_column(Integer, default=1)
    per_session: Mapped[int] = mapped_column(Integer, default=1)
    capacity: Mapped[int] = mapped_column(Integer)
    allocated: Mapped[int] = mapped_column(Integer, default=0)

    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    year_mask: Mapped[int] = mapped_column(Integer, default=0)  # see models.year_groups
    max_travel_miles: Mapped[int | None]
    accessibility_notes: Mapped[str | None] = mapped_column(Text)

    # Safeguarding declarations (never DBS or criminal-record data).
    supervised_throughout: Mapped[bool] = mapped_column(default=False)
    risk_assessment_done: Mapped[bool] = mapped_column(default=False)
    liability_insurance: Mapped[bool] = mapped_column(default=False)
    safeguarding_contact: Mapped[str | None] = mapped_column(String(200))

    # Type-specific details (catalogue.DETAIL_LABELS); money in pence.
    placement_days: Mapped[int | None]
    mentoring_sessions: Mapped[int | None]
    virtual_link_note: Mapped[str | None] = mapped_column(String(300))
    apprenticeship_standard: Mapped[str | None] = mapped_column(String(160))
    apprenticeship_level: Mapped[int | None]
    weekly_wage_pence: Mapped[int | None]
    closing_date: Mapped[date | None] = mapped_column(Date)
    funding_amount_pence: Mapped[int | None]
    levy_expires_on: Mapped[date | None] = mapped_column(Date)
    kit_stock: Mapped[int | None]
    # Internship placement weeks (5/6): the week's mentor, whether it is paid, and the council's contribution.
    mentor_name: Mapped[str | None] = mapped_column(String(120))
    paid: Mapped[bool] = mapped_column(default=False)
    council_contribution_pence: Mapped[int | None]

    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    provider: Mapped["Organisation"] = relationship()  # noqa: F821
    matches: Mapped[list["Match"]] = relationship(back_populates="offer")  # noqa: F821

    __mapper_args__ = {"version_id_col": version}

    @property
    def places_left(self) -> int:
        return self.capacity - self.allocated

    @property
    def is_published(self) -> bool:
        return self.status == OfferStatus.PUBLISHED

    @property
    def safeguarding_complete(self) -> bool:
        return (self.supervised_throughout and self.risk_assessment_done and self.liability_insurance
                and bool((self.safeguarding_contact or "").strip()))
