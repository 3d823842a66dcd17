"""Matching runs are jobs a worker runs, not work inside a web request (services/jobs.py, `flask jobs work`):
one live job per area however often the button is pressed, a failing job is retried with backoff and then failed
without stopping the worker, a job whose worker was killed is taken up again, and two workers never run a job twice."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Job, JobStatus, Match, utcnow
from portal.services import jobs, matching
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user


def _area(name: str):
    """An area where matching proposes one pairing."""
    area = make_area(name)
    make_offer(make_provider(area))
    make_request(make_school(area))
    return area


def _jobs() -> list[Job]:
    db.session.expire_all()
    return list(db.session.scalars(select(Job).order_by(Job.id)))


@pytest.fixture
def runs(monkeypatch):
    """Count the matching runs the worker makes, per area name (the real engine still runs)."""
    seen: list[str] = []
    lock = threading.Lock()
    real = matching.run_matching

    def counting(area, **kwargs):
        with lock:
            seen.append(area.name)
        return real(area, **kwargs)

    monkeypatch.setattr(matching, "run_matching", counting)
    return seen


def test_pressing_run_matching_twice_queues_one_job_and_nothing_runs_in_the_request(app, client, login):
    burnley = _area("Burnley")
    coordinator = make_user(Role.COORDINATOR, areas=[burnley])
    db.session.commit()
    login(coordinator)

    first = client.post("/matches/run", data={"area_id": burnley.id}, follow_redirects=True).get_data(as_text=True)
    second = client.post("/matches/run", data={"area_id": burnley.id}, follow_redirects=True).get_data(as_text=True)

    assert "Matching for Burnley is queued: the proposals appear here when it has run (usually within a minute)." \
        in first
    assert "Matching for Burnley is already queued" in second
    [job] = _jobs()
    assert (job.kind, job.area_id, job.status, job.requested_by_id, job.attempts) == (
        jobs.MATCHING_RUN, burnley.id, JobStatus.QUEUED, coordinator.id, 0)
    assert db.session.scalar(select(func.count(Match.id))) == 0
    queued_events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "matching.queued")).all()
    assert [(e.actor_id, e.area_id, e.object_id) for e in queued_events] == [(coordinator.id, burnley.id, job.id)]

    # While it runs, pressing again still queues nothing more.
    job.status = JobStatus.RUNNING
    job.claimed_until = utcnow() + timedelta(minutes=5)
    db.session.commit()
    third = client.post("/matches/run", data={"area_id": burnley.id}, follow_redirects=True).get_data(as_text=True)
    assert "Matching for Burnley is already running" in third and "Matching for Burnley is running." in third
    assert len(_jobs()) == 1


def test_a_second_job_raced_in_between_the_look_and_the_insert_is_refused_by_the_index(app, monkeypatch):
    burnley = _area("Burnley")
    db.session.commit()
    existing = jobs.enqueue_matching(burnley, by=None)
    assert not existing.already

    real_look = jobs._live_job
    looks = []

    def blind_first_look(kind, area_id):  # the other request's job is not yet visible to the first look
        looks.append(area_id)
        return None if len(looks) == 1 else real_look(kind, area_id)

    monkeypatch.setattr(jobs, "_live_job", blind_first_look)
    again = jobs.enqueue_matching(burnley, by=None)

    assert again.already and again.job.id == existing.job.id
    assert len(_jobs()) == 1


def test_the_worker_runs_the_job_and_the_queue_page_shows_its_summary(app, client, login, runs, runner):
    burnley = _area("Burnley")
    coordinator = make_user(Role.COORDINATOR, areas=[burnley])
    db.session.commit()
    jobs.enqueue_matching(burnley, by=coordinator)

    result = runner.invoke(args=["jobs", "work", "--once"])

    assert result.exit_code == 0, result.output
    assert "done 1, retried 0, failed 0" in result.output
    assert runs == ["Burnley"]
    [job] = _jobs()
    assert (job.status, job.attempts, job.claimed_until, job.last_error) == (JobStatus.DONE, 1, None, None)
    assert job.result_summary == "Matching for Burnley proposed 1 pairing for 30 pupils, places or classes."
    assert job.started_at is not None and job.finished_at >= job.started_at
    stored = db.session.scalars(select(Match)).all()
    assert [(m.origin, m.status, m.created_by_id) for m in stored] == [("engine", "proposed", coordinator.id)]

    login(coordinator)
    page = client.get("/matches").get_data(as_text=True)
    assert "Latest matching runs" in page and job.result_summary in page and "finished <time" in page
    assert '<a href="/requests?unplaced=y">Requests matching could not place, and why</a>' in page
    # Nothing is left to do: a second run does nothing.
    assert jobs.work(once=True) == jobs.WorkResult()
    assert runs == ["Burnley"]


def test_a_failing_job_is_retried_with_backoff_then_failed_and_the_worker_goes_on(app, client, login, monkeypatch):
    burnley, preston = _area("Burnley"), _area("Preston")
    coordinator = make_user(Role.COORDINATOR, areas=[burnley, preston])
    db.session.commit()
    real = matching.run_matching

    def broken_in_burnley(area, **kwargs):
        if area.name == "Burnley":
            raise RuntimeError("the engine fell over")
        return real(area, **kwargs)

    monkeypatch.setattr(matching, "run_matching", broken_in_burnley)
    jobs.enqueue_matching(burnley, by=coordinator)
    jobs.enqueue_matching(preston, by=coordinator)
    start = utcnow()

    assert jobs.work(once=True, now=start) == jobs.WorkResult(done=1, retried=1)  # Preston runs despite Burnley
    failing, done = _jobs()
    assert (done.status, failing.status, failing.attempts) == (JobStatus.DONE, JobStatus.QUEUED, 1)
    assert failing.last_error == "RuntimeError: the engine fell over"
    assert failing.run_after == start + timedelta(minutes=1)
    assert db.session.scalar(select(func.count(Match.id)).where(Match.area_id == preston.id)) == 1

    login(coordinator)
    page = client.get("/matches").get_data(as_text=True)
    assert "Matching for Burnley is queued: an earlier try did not finish" in page

    assert jobs.work(once=True, now=start) == jobs.WorkResult()  # not due again yet
    assert jobs.work(once=True, now=start + timedelta(minutes=1)) == jobs.WorkResult(retried=1)
    assert _jobs()[0].run_after == start + timedelta(minutes=3)  # then two minutes later
    assert jobs.work(once=True, now=start + timedelta(minutes=3)) == jobs.WorkResult(failed=1)
    failed = _jobs()[0]
    assert (failed.status, failed.attempts, failed.claimed_until) == (JobStatus.FAILED, jobs.MAX_ATTEMPTS, None)
    assert failed.last_error == "RuntimeError: the engine fell over" and failed.finished_at is not None
    assert jobs.work(once=True, now=start + timedelta(days=1)) == jobs.WorkResult()

    page = client.get("/matches").get_data(as_text=True)
    assert "Matching for Burnley could not run." in page and "fell over" not in page  # plain words, no traceback
    # A failed job is not live: pressing the button again queues a new one.
    assert not jobs.enqueue_matching(burnley, by=coordinator).already
    assert [j.status for j in _jobs()] == [JobStatus.FAILED, JobStatus.DONE, JobStatus.QUEUED]


def test_a_failing_job_never_stops_a_long_running_worker(app, monkeypatch):
    burnley, preston = _area("Burnley"), _area("Preston")
    db.session.commit()

    def broken(area, **kwargs):
        raise ValueError("no")

    monkeypatch.setattr(matching, "run_matching", broken)
    jobs.enqueue_matching(burnley, by=None)
    jobs.enqueue_matching(preston, by=None)
    naps = []

    result = jobs.work(once=False, max_jobs=2, sleep=naps.append)

    assert result == jobs.WorkResult(retried=2) and naps == []
    assert [(j.status, j.attempts) for j in _jobs()] == [(JobStatus.QUEUED, 1), (JobStatus.QUEUED, 1)]


def test_a_job_whose_worker_was_killed_is_taken_up_again_once_its_claim_lapses(app, runs):
    burnley = _area("Burnley")
    db.session.commit()
    job = jobs.enqueue_matching(burnley, by=None).job
    now = utcnow()
    job.status, job.attempts, job.started_at = JobStatus.RUNNING, 1, now  # a worker claimed it, then was killed
    job.claimed_until = now + timedelta(minutes=1)
    db.session.commit()

    assert jobs.work(once=True, now=now) == jobs.WorkResult()  # the claim still holds: left alone
    assert runs == []

    later = now + timedelta(minutes=2)
    assert jobs.work(once=True, now=later) == jobs.WorkResult(done=1)
    assert jobs.work(once=True, now=later + timedelta(hours=1)) == jobs.WorkResult()
    assert runs == ["Burnley"]
    [job] = _jobs()
    assert (job.status, job.attempts, job.claimed_until) == (JobStatus.DONE, 2, None)
    assert db.session.scalar(select(func.count(Match.id))) == 1


def test_two_workers_racing_run_each_job_exactly_once(app, runs):
    areas = [_area(name) for name in ("Burnley", "Preston", "Blackburn")]
    db.session.commit()
    for area in areas:
        jobs.enqueue_matching(area, by=None)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                results.append(jobs.work(once=True))
                db.session.remove()
        except Exception as error:  # surfaced below: an exception in a thread would pass silently
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(r.done for r in results) == 3 and sum(r.retried + r.failed for r in results) == 0
    assert sorted(runs) == ["Blackburn", "Burnley", "Preston"]
    assert {(j.status, j.attempts) for j in _jobs()} == {(JobStatus.DONE, 1)}
    assert db.session.scalar(select(func.count(Match.id))) == 3
