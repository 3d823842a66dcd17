"""Registers (4/6): who a school sent to a session, who attended, and how the session went.

A session is a scheduled match. Its SessionRecord holds the meaningful-encounter checklist (the four Gatsby
criteria) and reflections; its RegisterEntry rows the pupils sent (at most once each) and whether they
attended. `counted` and the denormalised date, year and provider on an entry are set by services/counting.py
when the register is recorded or corrected, so aggregates need no joins.
"""
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import utcnow


class SessionRecord(db.Model):
    __tablename__ = "session_records"

    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id"), primary_key=True)
    held_on: Mapped[date] = mapped_column(Date)
    # The four Gatsby criteria of a meaningful encounter (product.md).
    purpose_shared: Mapped[bool] = mapped_column(default=False)
    learning_outcomes: Mapped[bool] = mapped_column(default=False)
    two_way: Mapped[bool] = mapped_column(default=False)
    time_to_reflect: Mapped[bool] = mapped_column(default=False)
    reflections: Mapped[str | None] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    match: Mapped["Match"] = relationship()  # noqa: F821

    @property
    def meaningful(self) -> bool:
        return self.purpose_shared and self.learning_outcomes and self.two_way and self.time_to_reflect


class RegisterEntry(db.Model):
    __tablename__ = "register_entries"
    __table_args__ = (
        UniqueConstraint("match_id", "pupil_id", name="uq_register_entries_match_pupil"),  # once per register
        CheckConstraint("year_group BETWEEN 0 AND 14", name="year_group_range"),
        CheckConstraint("NOT counted OR attended", name="counted_only_if_attended"),
        Index("ix_register_entries_pupil", "pupil_id", "counted"),
        # A school's counts by year; also covers the providers engaged per year when totals are refreshed.
        Index("ix_register_entries_school", "school_id", "academic_year", "counted", "provider_id", "attended"),
        # A provider's impact, and the providers engaged per school in a year.
        Index("ix_register_entries_provider", "provider_id", "academic_year"),
        Index("ix_register_entries_year_school", "academic_year", "school_id", "provider_id", "attended"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id"), index=True)
    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    year_group: Mapped[int] = mapped_column(Integer)  # the pupil's year group when sent
    attended: Mapped[bool | None]  # None until the register is recorded
    # Set by services/counting.py when recorded: the session's date and academic year, and whether it counts.
    held_on: Mapped[date | None] = mapped_column(Date)
    academic_year: Mapped[int | None] = mapped_column(Integer)
    counted: Mapped[bool] = mapped_column(default=False)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    pupil: Mapped["Pupil"] = relationship()  # noqa: F821
    match: Mapped["Match"] = relationship()  # noqa: F821
