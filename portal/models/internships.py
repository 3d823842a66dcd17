"""The NEET internship programme (5/6): a cohort of young people not at school, each given four one-week
placements at four different providers, with coaching, weekly feedback and follow-up against a control group.

Interns are held to the least data: a random reference, an optional name seen by coordinators only, an age band,
a town (for travel limits), how long they have been NEET. Never a date of birth, address or contact details.
Control-group members are Intern rows with is_control set: they get follow-ups, never placements.
"""
import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import utcnow

PLACEMENT_WEEKS = 4  # four one-week placements at four different providers
FOLLOW_UP_MONTHS = (3, 6, 12)


class ProgrammeStatus(enum.StrEnum):
    DRAFT = "draft"  # cohort being put together
    ROTA_PROPOSED = "rota_proposed"  # the engine's rota waits for the coordinator
    ROTA_APPROVED = "rota_approved"  # both sides told; placements under way
    COMPLETED = "completed"


class PlacementStatus(enum.StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    COMPLETED = "completed"  # the week was done: a contact for the intern
    CANCELLED = "cancelled"


class FollowUpStatus(enum.StrEnum):
    EET = "eet"
    NEET = "neet"
    NOT_KNOWN = "not_known"


class InternshipProgramme(db.Model):
    __tablename__ = "internship_programmes"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'rota_proposed', 'rota_approved', 'completed')", name="status_valid"),
        CheckConstraint("coaching_on <= week1_on", name="coaching_before_placements"),
        CheckConstraint("week1_on < week2_on AND week2_on < week3_on AND week3_on < week4_on", name="weeks_in_order"),
        CheckConstraint("final_coaching_on IS NULL OR final_coaching_on >= week4_on", name="final_coaching_after"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))  # the cohort, e.g. "Spring 2027 cohort"
    coaching_on: Mapped[date] = mapped_column(Date)  # pre-start coaching
    # The Mondays of the four placement weeks (usually consecutive, not necessarily).
    week1_on: Mapped[date] = mapped_column(Date)
    week2_on: Mapped[date] = mapped_column(Date)
    week3_on: Mapped[date] = mapped_column(Date)
    week4_on: Mapped[date] = mapped_column(Date)
    final_coaching_on: Mapped[date | None] = mapped_column(Date)  # the coaching day after the fourth week
    status: Mapped[str] = mapped_column(String(16), default=ProgrammeStatus.DRAFT)
    rota_report: Mapped[str | None] = mapped_column(Text)  # the engine's report: who could not be placed and why
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    interns: Mapped[list["Intern"]] = relationship(back_populates="programme", order_by="Intern.id")

    @property
    def week_starts(self) -> tuple[date, date, date, date]:
        return (self.week1_on, self.week2_on, self.week3_on, self.week4_on)


class Intern(db.Model):
    __tablename__ = "interns"
    __table_args__ = (
        CheckConstraint("age_band IN ('16-17', '18-19', '20-24')", name="age_band_valid"),
        CheckConstraint("neet_months >= 0", name="neet_months_not_negative"),
        CheckConstraint("max_travel_miles IS NULL OR max_travel_miles >= 0", name="travel_not_negative"),
        CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude_range"),
        CheckConstraint("status IN ('active', 'withdrawn', 'completed')", name="status_valid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("internship_programmes.id"), index=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"))
    reference: Mapped[str] = mapped_column(String(12), unique=True)  # random, e.g. "I7K3M9Q2X"
    display_name: Mapped[str | None] = mapped_column(String(120))  # optional; coordinators only
    is_control: Mapped[bool] = mapped_column(default=False)  # a comparable young person not on the programme
    age_band: Mapped[str] = mapped_column(String(8))
    neet_months: Mapped[int] = mapped_column(Integer, default=0)  # how long NEET before the programme
    town: Mapped[str | None] = mapped_column(String(120))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    max_travel_miles: Mapped[int | None]
    sectors: Mapped[list | None] = mapped_column(JSON)  # sector codes of interest (vocab.SECTORS); None = any
    status: Mapped[str] = mapped_column(String(16), default="active")
    signposting_note: Mapped[str | None] = mapped_column(Text)  # the next opportunity, after the programme
    # When the intern's attendance at the pre-start coaching and at the final coaching day was recorded.
    pre_start_coached_at: Mapped[datetime | None]
    final_coached_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    programme: Mapped[InternshipProgramme] = relationship(back_populates="interns")
    placements: Mapped[list["Placement"]] = relationship(back_populates="intern", order_by="Placement.week_no")
    follow_ups: Mapped[list["FollowUp"]] = relationship(back_populates="intern", order_by="FollowUp.months")


_LIVE_PLACEMENT = text("status <> 'cancelled'")


class Placement(db.Model):
    """One intern's week at one provider (an internship_week offer)."""

    __tablename__ = "placements"
    __table_args__ = (
        CheckConstraint("week_no BETWEEN 1 AND 4", name="week_no_range"),
        CheckConstraint("status IN ('proposed', 'approved', 'completed', 'cancelled')", name="status_valid"),
        # An intern has one live placement a week and never the same provider twice (cancelled ones aside).
        Index("uq_placements_intern_week", "intern_id", "week_no", unique=True,
              sqlite_where=_LIVE_PLACEMENT, postgresql_where=_LIVE_PLACEMENT),
        Index("uq_placements_intern_provider", "intern_id", "provider_id", unique=True,
              sqlite_where=_LIVE_PLACEMENT, postgresql_where=_LIVE_PLACEMENT),
        Index("ix_placements_offer_week", "offer_id", "week_no", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("internship_programmes.id"), index=True)
    intern_id: Mapped[int] = mapped_column(ForeignKey("interns.id"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    week_no: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=PlacementStatus.PROPOSED)
    score: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    intern: Mapped[Intern] = relationship(back_populates="placements")
    offer: Mapped["Offer"] = relationship()  # noqa: F821
    provider: Mapped["Organisation"] = relationship()  # noqa: F821
    feedback: Mapped[list["PlacementFeedback"]] = relationship(back_populates="placement")


class PlacementFeedback(db.Model):
    """The short form after each week, one from the mentor and one from the intern, reached by a mailed link
    (the intern's link is handed on by the coordinator: the portal keeps no intern contact details)."""

    __tablename__ = "placement_feedback"
    __table_args__ = (
        UniqueConstraint("placement_id", "side", name="uq_placement_feedback_side"),
        CheckConstraint("side IN ('mentor', 'intern')", name="side_valid"),
        CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="rating_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placements.id", ondelete="CASCADE"))
    side: Mapped[str] = mapped_column(String(8))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the link's token
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    rating: Mapped[int | None]
    went_well: Mapped[str | None] = mapped_column(Text)
    to_improve: Mapped[str | None] = mapped_column(Text)

    placement: Mapped[Placement] = relationship(back_populates="feedback")


class FollowUp(db.Model):
    """EET/NEET status at 3, 6 and 12 months after the programme, for interns and the control group alike."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        UniqueConstraint("intern_id", "months", name="uq_follow_ups_intern_months"),
        CheckConstraint("months IN (3, 6, 12)", name="months_valid"),
        CheckConstraint("status IS NULL OR status IN ('eet', 'neet', 'not_known')", name="status_valid"),
        Index("ix_follow_ups_due", "due_on", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    intern_id: Mapped[int] = mapped_column(ForeignKey("interns.id", ondelete="CASCADE"))
    months: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str | None] = mapped_column(String(16))
    recorded_at: Mapped[datetime | None]
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reminded_at: Mapped[datetime | None]

    intern: Mapped[Intern] = relationship(back_populates="follow_ups")
