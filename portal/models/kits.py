"""Primary resource kits (5/6): a primary careers lead asks for a kit (a primary_kit offer) for one class.
Stock is the offer's kit_stock, taken by a conditional UPDATE so two requests never take the last kit twice."""
import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import utcnow


class KitRequestStatus(enum.StrEnum):
    REQUESTED = "requested"
    SENT = "sent"
    USED = "used"  # the class used the kit: a primary encounter for its pupils
    CANCELLED = "cancelled"


class KitRequest(db.Model):
    __tablename__ = "kit_requests"
    __table_args__ = (
        CheckConstraint("status IN ('requested', 'sent', 'used', 'cancelled')", name="status_valid"),
        CheckConstraint("year_group BETWEEN 0 AND 6", name="primary_year_group"),
        CheckConstraint("pupils BETWEEN 1 AND 60", name="pupils_range"),
        Index("ix_kit_requests_offer_status", "offer_id", "status"),
        Index("ix_kit_requests_school", "school_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)  # the school's area
    class_name: Mapped[str] = mapped_column(String(60))
    year_group: Mapped[int] = mapped_column(Integer)
    pupils: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=KitRequestStatus.REQUESTED)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]

    offer: Mapped["Offer"] = relationship()  # noqa: F821
    school: Mapped["Organisation"] = relationship()  # noqa: F821
