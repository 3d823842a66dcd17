"""Jobs a worker runs outside web requests (`flask jobs work`): today, a matching run a coordinator asked for.

The "Run matching" button only queues a job (`enqueue_matching`); the worker runs it. One live (queued or running)
job per kind and area, backed by a partial unique index: pressing the button twice, or two coordinators pressing it
at once, gives one job.

Like the mail outbox (services/outbox.py), each job is its own unit of work and commits more than once, by design.
A job is first *claimed* with a conditional UPDATE that only one worker can win (status running, `claimed_until` =
now + LEASE, attempts + 1), the claim is committed, the job runs (run_matching commits its own work), and then it is
marked done, again with a conditional UPDATE that only the claim's holder (same attempt number) can make. A worker
killed mid-job leaves it running; once its claim lapses another worker takes it again. A job that raises is put
back in the queue with a backed-off `run_after`, and after MAX_ATTEMPTS marked failed with `last_error`; a job's
failure never stops the worker, which goes on to the next.
"""
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Area, Job, JobStatus, User, utcnow
from portal.services import audit, matching
from portal.services.db_locks import write_transaction

log = logging.getLogger(__name__)

MATCHING_RUN = "matching_run"
LIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
LEASE = timedelta(minutes=15)  # far longer than a matching run on the largest area
MAX_ATTEMPTS = 3
FIRST_RETRY_AFTER = timedelta(minutes=1)
MAX_RETRY_AFTER = timedelta(minutes=30)
POLL_EVERY = 5.0  # seconds between looks at an empty queue
MAX_ERROR_LENGTH = 300


class _GiveUp(Exception):
    """A job that can never run (its area has gone): fail it now rather than retry."""


@dataclass(frozen=True)
class Queued:
    job: Job
    already: bool  # a live job for the area was there already: this is it


@dataclass(frozen=True)
class WorkResult:
    done: int = 0
    retried: int = 0  # failed this time, will be tried again
    failed: int = 0  # failed for the last time


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the n-th failed attempt: 1, 2, 4... minutes, at most half an hour."""
    return min(FIRST_RETRY_AFTER * 2 ** max(attempts - 1, 0), MAX_RETRY_AFTER)


def _live_job(kind: str, area_id: int) -> Job | None:
    return db.session.scalar(select(Job).where(Job.kind == kind, Job.area_id == area_id, Job.status.in_(LIVE)))


def enqueue_matching(area: Area, *, by: User | None, ip: str | None = None) -> Queued:
    """Queue a matching run for the area, or return the one already queued or running for it."""
    area_id, area_name = area.id, area.name
    for _ in range(3):  # a live job that finishes between our insert failing and our look is rare: look again
        try:
            with write_transaction():
                existing = _live_job(MATCHING_RUN, area_id)
                if existing is not None:
                    db.session.commit()
                    return Queued(job=existing, already=True)
                job = Job(kind=MATCHING_RUN, area_id=area_id, status=JobStatus.QUEUED,
                          requested_by_id=getattr(by, "id", None), attempts=0)
                db.session.add(job)
                db.session.flush()  # the partial unique index refuses a second live job here
                audit.record("matching.queued", actor=by, ip=ip, target=job, area_id=area_id,
                             detail=f"matching for {area_name} queued as job {job.id}")
                db.session.commit()
                return Queued(job=job, already=False)
        except IntegrityError:  # another request queued one between our look and our insert (PostgreSQL)
            db.session.rollback()
            existing = _live_job(MATCHING_RUN, area_id)
            db.session.commit()
            if existing is not None:
                return Queued(job=existing, already=True)
    raise RuntimeError(f"could not queue matching for area {area_id}")


def latest(area_ids: Iterable[int], kind: str = MATCHING_RUN) -> dict[int, Job]:
    """Each area's most recent job of this kind (areas with none are left out)."""
    ids = set(area_ids)
    if not ids:
        return {}
    newest = (select(func.max(Job.id)).where(Job.kind == kind, Job.area_id.in_(ids))
              .group_by(Job.area_id))
    return {job.area_id: job for job in db.session.scalars(select(Job).where(Job.id.in_(newest)))}


def _when(value: datetime | None) -> str:
    return value.strftime("%-d %b %Y, %H:%M UTC") if value else ""


@dataclass(frozen=True)
class JobRow:
    area_name: str
    status: str
    text: str
    at_label: str  # "asked for", "started", "finished"
    at: str  # shown time, with its ISO form for <time datetime>
    at_iso: str


def status_rows(areas: Iterable[Area]) -> list[JobRow]:
    """What the coordinator's queue page says about each area's latest matching run, in the areas' order."""
    areas = list(areas)
    jobs = latest(area.id for area in areas)
    rows = []
    for area in areas:
        job = jobs.get(area.id)
        if job is None:
            continue
        if job.status == JobStatus.QUEUED:
            text = (f"Matching for {area.name} is queued: an earlier try did not finish, it is tried again shortly."
                    if job.attempts else f"Matching for {area.name} is queued.")
            at, label = job.created_at, "asked for"
        elif job.status == JobStatus.RUNNING:
            text, at, label = f"Matching for {area.name} is running.", job.started_at or job.created_at, "started"
        elif job.status == JobStatus.DONE:
            text = job.result_summary or f"Matching for {area.name} has run."
            at, label = job.finished_at or job.created_at, "finished"
        else:
            text = (f"Matching for {area.name} could not run. Press \u201cRun matching\u201d to try again; if it fails "
                    "again, tell an administrator.")
            at, label = job.finished_at or job.created_at, "stopped"
        rows.append(JobRow(area_name=area.name, status=str(job.status), text=text, at_label=label, at=_when(at),
                           at_iso=at.isoformat(timespec="seconds")))
    return rows


# --- the worker ------------------------------------------------------------------------------------------------------

def _due(now: datetime):
    return or_(
        and_(Job.status == JobStatus.QUEUED, Job.run_after <= now),
        and_(Job.status == JobStatus.RUNNING, Job.claimed_until < now),  # its worker was killed: the claim lapsed
    )


def _next_due(now: datetime) -> int | None:
    job_id = db.session.scalar(select(Job.id).where(_due(now)).order_by(Job.run_after, Job.id).limit(1))
    db.session.commit()  # end the read: the claim starts from fresh data
    return job_id


def _claim(job_id: int, now: datetime) -> int | None:
    """Take the job for this worker, or learn another has it. Commits. Returns the attempt number (the claim)."""
    result = db.session.execute(
        update(Job).where(Job.id == job_id, _due(now))
        .values(status=JobStatus.RUNNING, claimed_until=now + LEASE, attempts=Job.attempts + 1, started_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if result.rowcount != 1:
        return None
    return db.session.scalar(select(Job.attempts).where(Job.id == job_id))


def _finish(job_id: int, attempt: int, **values) -> bool:
    """Record the outcome, if this worker still holds the claim (no other worker took the job meanwhile). Commits."""
    result = db.session.execute(
        update(Job).where(Job.id == job_id, Job.status == JobStatus.RUNNING, Job.attempts == attempt)
        .values(claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def _run_matching(job: Job) -> str:
    area = db.session.get(Area, job.area_id) if job.area_id is not None else None
    if area is None:
        raise _GiveUp("the area no longer exists")
    by = db.session.get(User, job.requested_by_id) if job.requested_by_id is not None else None
    result, stored = matching.run_matching(area, by=by)
    return matching.run_summary(area, result, stored)


RUNNERS: dict[str, Callable[[Job], str]] = {MATCHING_RUN: _run_matching}


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".strip()[:MAX_ERROR_LENGTH]


def _run_one(job_id: int, attempt: int, clock: Callable[[], datetime]) -> str:
    """Run a claimed job and record how it went. Returns "done", "retried" or "failed"; never raises for the job."""
    job = db.session.get(Job, job_id)
    try:
        if attempt > MAX_ATTEMPTS:
            raise _GiveUp("its worker stopped while running it, too many times")
        runner = RUNNERS.get(job.kind)
        if runner is None:
            raise _GiveUp(f"no worker knows the kind {job.kind!r}")
        summary = runner(job)
    except Exception as error:  # a job's failure is recorded, never the worker's end
        db.session.rollback()
        log.warning("job %s (%s) failed on attempt %s: %s", job_id, job.kind, attempt, _describe(error))
        now = clock()
        if isinstance(error, _GiveUp) or attempt >= MAX_ATTEMPTS:
            _finish(job_id, attempt, status=JobStatus.FAILED, finished_at=now, last_error=_describe(error))
            return "failed"
        _finish(job_id, attempt, status=JobStatus.QUEUED, run_after=now + retry_delay(attempt),
                last_error=_describe(error))
        return "retried"
    _finish(job_id, attempt, status=JobStatus.DONE, finished_at=clock(), result_summary=summary, last_error=None)
    return "done"


def work(*, once: bool, now: datetime | None = None, max_jobs: int | None = None,
         poll_every: float = POLL_EVERY, sleep: Callable[[float], None] = time.sleep) -> WorkResult:
    """Run due jobs, oldest first. With `once`, stop when none is due (for cron and tests); otherwise keep polling.
    `max_jobs` stops after that many jobs; `now` fixes the clock (tests move it forward)."""
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    counts = {"done": 0, "retried": 0, "failed": 0}
    handled = 0
    while max_jobs is None or handled < max_jobs:
        try:
            job_id = _next_due(clock())
            if job_id is None:
                if once:
                    break
                sleep(poll_every)
                continue
            attempt = _claim(job_id, clock())
            if attempt is None:
                continue  # another worker took it
            counts[_run_one(job_id, attempt, clock)] += 1
            handled += 1
        except Exception:  # the database went away, say: a long-running worker waits and tries again
            db.session.rollback()
            if once:
                raise
            log.exception("the job worker could not reach the queue; trying again in %s s", poll_every)
            sleep(poll_every)
    return WorkResult(**counts)
