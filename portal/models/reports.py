"""Coordinators' notes on planned activity, kept per area and report period (4/6 termly impact report)."""
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import utcnow


class ReportNote(db.Model):
    __tablename__ = "report_notes"
    __table_args__ = (
        UniqueConstraint("area_id", "period_start", "period_end", name="uq_report_notes_area_period"),
        CheckConstraint("period_start <= period_end", name="period_in_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    planned_activity: Mapped[str] = mapped_column(Text, default="")
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
