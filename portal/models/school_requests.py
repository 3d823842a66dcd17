"""Requests: what a school's careers lead asks for on behalf of a group of pupils."""
import enum
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import utcnow
from portal.models.year_groups import YearGroupsMixin


class RequestStatus(enum.StrEnum):
    OPEN = "open"
    PARTLY_MATCHED = "partly_matched"
    MATCHED = "matched"
    FULFILLED = "fulfilled"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class PriorityCohort(enum.StrEnum):
    NONE = "none"
    FURTHEST_FROM_FOUR = "furthest_from_four"
    AT_RISK = "at_risk"
    DISADVANTAGED = "disadvantaged"


PRIORITY_LABELS = {
    PriorityCohort.NONE: "No particular cohort",
    PriorityCohort.FURTHEST_FROM_FOUR: "Pupils furthest from the target",
    PriorityCohort.AT_RISK: "Pupils at risk of NEET",
    PriorityCohort.DISADVANTAGED: "Disadvantaged pupils",
}


class SchoolRequest(YearGroupsMixin, db.Model):
    __tablename__ = "school_requests"
    __table_args__ = (
        CheckConstraint(
            "status IN ('open', 'partly_matched', 'matched', 'fulfilled', 'withdrawn', 'expired')",
            name="status_valid",
        ),
        CheckConstraint("pupils >= 1", name="pupils_positive"),
        CheckConstraint("year_mask > 0", name="has_year_groups"),
        CheckConstraint("starts_on <= ends_on", name="dates_in_order"),
        CheckConstraint("max_travel_miles IS NULL OR max_travel_miles >= 0", name="travel_not_negative"),
        CheckConstraint(
            "priority IN ('none', 'furthest_from_four', 'at_risk', 'disadvantaged')", name="priority_valid"
        ),
        Index("ix_school_requests_open", "status", "area_id", "ends_on"),
        # The requests an area's latest matching run left with reasons: the next run reads them by area.
        Index("ix_school_requests_unplaced", "area_id", sqlite_where=text("unplaced_reasons IS NOT NULL"),
              postgresql_where=text("unplaced_reasons IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"))  # the school's, copied for area queries
    title: Mapped[str] = mapped_column(String(160))
    wanted_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    sectors: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: any sector
    year_mask: Mapped[int] = mapped_column(Integer, default=0)  # see models.year_groups
    pupils: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    deliveries: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_travel_miles: Mapped[int | None]
    keep_together: Mapped[bool] = mapped_column(default=False)  # the group must not be split across providers
    priority: Mapped[str] = mapped_column(String(32), default=PriorityCohort.NONE)
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.OPEN)
    # Why the area's latest matching run did not place it in full (the engine's reasons), and since when: the first
    # run that gave these reasons (a later run giving the same ones leaves both as they are). None when the latest
    # run placed it in full or it had nothing left to place (services.matching_store, every run).
    unplaced_reasons: Mapped[str | None] = mapped_column(Text)
    unplaced_at: Mapped[datetime | None]

    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    school: Mapped["Organisation"] = relationship()  # noqa: F821
    matches: Mapped[list["Match"]] = relationship(back_populates="request")  # noqa: F821

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_live(self) -> bool:
        return self.status in (RequestStatus.OPEN, RequestStatus.PARTLY_MATCHED)
