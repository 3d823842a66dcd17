"""Matches: an offer paired with a request for an allocation of pupils, places or classes, and its history."""
import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import utcnow


class MatchStatus(enum.StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    CONFIRMED = "confirmed"
    SCHEDULED = "scheduled"
    DELIVERED = "delivered"
    RECORDED = "recorded"
    REJECTED = "rejected"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    NO_SHOW = "no_show"


# Statuses that hold capacity on the offer (counted in Offer.allocated).
HOLDS_CAPACITY = frozenset(
    {MatchStatus.APPROVED, MatchStatus.CONFIRMED, MatchStatus.SCHEDULED, MatchStatus.DELIVERED, MatchStatus.RECORDED}
)
# Statuses a match can still move on from, and which count as "in play" for lists.
LIVE = frozenset({MatchStatus.PROPOSED, MatchStatus.APPROVED, MatchStatus.CONFIRMED, MatchStatus.SCHEDULED})


class MatchOrigin(enum.StrEnum):
    SCHOOL_ASKED = "school_asked"  # a careers lead requested an offer
    PROVIDER_OFFERED = "provider_offered"  # a provider offered to meet a request
    ENGINE = "engine"  # proposed by the matching engine (3/6)


_STATUS_LIST = ", ".join(f"'{s}'" for s in MatchStatus)


class Match(db.Model):
    __tablename__ = "matches"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_LIST})", name="status_valid"),
        CheckConstraint("origin IN ('school_asked', 'provider_offered', 'engine')", name="origin_valid"),
        CheckConstraint("allocation >= 1", name="allocation_positive"),
        CheckConstraint("no_show_side IS NULL OR no_show_side IN ('provider', 'school')", name="no_show_side_valid"),
        CheckConstraint("session_minutes IS NULL OR session_minutes BETWEEN 10 AND 600", name="session_minutes_range"),
        # Only rows that have the time (a proposal has neither): a matching run's thousands of new and replaced
        # proposals then write no entry into these two; every query on them compares the time, so it implies
        # NOT NULL and both databases use the partial index.
        Index("ix_matches_session_starts_at", "session_starts_at", sqlite_where=text("session_starts_at IS NOT NULL"),
              postgresql_where=text("session_starts_at IS NOT NULL")),
        Index("ix_matches_offer_status", "offer_id", "status"),
        Index("ix_matches_request_status", "request_id", "status"),
        Index("ix_matches_auto_approve_at", "auto_approve_at", sqlite_where=text("auto_approve_at IS NOT NULL"),
              postgresql_where=text("auto_approve_at IS NOT NULL")),
        # An area's matches by status (the queue, a matching run's reads): replaced proposals accumulate as
        # cancelled rows, which this index lets every such read skip; in the order of the queue's newest and
        # oldest sorts, so a page of an area's queue stops after its 20 rows instead of sorting every proposal.
        Index("ix_matches_area_status", "area_id", "status", "created_at", "id"),
        # Room on each page for a row's next version: a waiting proposal's value, reasons and allocation are
        # brought up to date by every matching run, and no index covers them, so PostgreSQL can update them in
        # place (HOT) instead of writing a new entry into each of the table's indexes (measured on the bench's
        # region: at 50 about two thirds of those updates HOT, at 70 almost none; the statements a third
        # shorter). SQLite ignores it.
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id"))
    request_id: Mapped[int] = mapped_column(ForeignKey("school_requests.id"))
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"))  # the school's area (ix_matches_area_status)
    allocation: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=MatchStatus.PROPOSED)
    origin: Mapped[str] = mapped_column(String(20))
    score: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[str | None] = mapped_column(Text)  # plain words, " · "-separated
    message: Mapped[str | None] = mapped_column(Text)  # what the asking side wrote
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    # After approval both sides accept (or one declines, with a reason).
    provider_accepted_at: Mapped[datetime | None]
    school_accepted_at: Mapped[datetime | None]
    # The session, once scheduled (times are local to the school, stored naive).
    session_starts_at: Mapped[datetime | None]
    session_minutes: Mapped[int | None]
    session_place: Mapped[str | None] = mapped_column(String(300))
    session_link: Mapped[str | None] = mapped_column(String(500))  # video link for virtual sessions
    session_contact: Mapped[str | None] = mapped_column(String(200))  # who to ask for on the day
    # Reminders already mailed, so `flask reminders send` never sends one twice.
    reminded_week_at: Mapped[datetime | None]
    reminded_day_at: Mapped[datetime | None]
    no_show_side: Mapped[str | None] = mapped_column(String(16))  # 'provider' or 'school'
    # Auto-approval: when this proposal will be approved without a coordinator (None = it waits for one).
    # A coordinator stepping in (approve, reject, change, hold) clears it.
    auto_approve_at: Mapped[datetime | None]
    # When a coordinator took this proposal in hand (changed its allocation or held it for review). From then on it
    # is theirs: a new matching run neither resizes nor replaces it (services.matching_store.replaceable).
    adjusted_at: Mapped[datetime | None]
    # The provider confirms from its side that the session was delivered (4/6).
    delivery_confirmed_at: Mapped[datetime | None]
    delivery_confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    offer: Mapped["Offer"] = relationship(back_populates="matches")  # noqa: F821
    request: Mapped["SchoolRequest"] = relationship(back_populates="matches")  # noqa: F821
    events: Mapped[list["MatchEvent"]] = relationship(
        back_populates="match", cascade="all, delete-orphan", order_by="MatchEvent.id"
    )


class MatchEvent(db.Model):
    """Every transition of a match: who, when, from, to (and why, when there is a reason)."""

    __tablename__ = "match_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    match_id: Mapped[int] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)

    match: Mapped[Match] = relationship(back_populates="events")
    actor: Mapped["User | None"] = relationship()  # noqa: F821
