"""Jobs (6/6): work a worker runs outside web requests (a matching run asked for from the coordinator's queue).

A worker claims a queued job with a conditional UPDATE (like the outbox), holding it until `claimed_until`; a
worker killed mid-job lets its claim lapse, and another picks the job up again. One live job per kind and area.
"""
import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models.base import utcnow


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


_LIVE_JOB = text("status IN ('queued', 'running')")


class Job(db.Model):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name="status_valid"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_jobs_status_run_after", "status", "run_after"),
        Index("uq_jobs_live_kind_area", "kind", "area_id", unique=True,
              sqlite_where=_LIVE_JOB, postgresql_where=_LIVE_JOB),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # e.g. "matching_run"
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    payload: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    result_summary: Mapped[str | None] = mapped_column(Text)  # the sentence the coordinator sees
    last_error: Mapped[str | None] = mapped_column(Text)
