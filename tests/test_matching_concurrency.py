"""Two matching runs of one area at the same moment (a nightly `flask match run --all` and a coordinator's queued run,
say) store one set of proposals: the second waits for the first and keeps what it stored, on SQLite (the write lock)
and on PostgreSQL (a lock per area for the run's transaction). Real processes racing, with the harness of
tests/concurrency.py."""
from collections import Counter

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from portal.extensions import db
from portal.models import LIVE, Area, Match, MatchEvent, MatchOrigin, SchoolRequest
from tests.concurrency import Race, World, count, fresh_pg_schema, last_audit_id, run_race, sqlite_file
from tests.factories import make_area, make_offer, make_provider, make_request, make_school

RACE = Race(processes=2, threads=1, rounds=6)  # two runs released together, six times


def _run(area_id: int, contender_id: int, ready) -> str:
    """One contender: a whole matching run of the area, as `flask match run` or the job worker does it."""
    from portal.services import matching

    area = db.session.get(Area, area_id)
    db.session.commit()  # the run begins a write transaction of its own
    ready()
    matching.run_matching(area)
    return "ran"


def _build() -> World:
    """An area whose run proposes several pairings: three providers' offers, four schools' requests."""
    area = make_area("Burnley")
    make_area("Preston")
    for n in range(3):
        make_offer(make_provider(area, name=f"Provider {n}"), sessions=2)
    for n in range(4):
        make_request(make_school(area, name=f"School {n}"))
    db.session.commit()
    return World(area.id, area.id, [1, 2])


def _reset(area_id: int) -> int:
    """No proposals, history or reasons: each round's two runs start from nothing."""
    db.session.execute(sa.delete(MatchEvent))
    db.session.execute(sa.delete(Match))
    db.session.execute(sa.update(SchoolRequest).values(unplaced_reasons=None, unplaced_at=None))
    db.session.commit()
    return last_audit_id()


def _check(round_no: int, area_id: int, outcomes: dict[int, str], last_audit: int) -> None:
    live = db.session.execute(select(Match.offer_id, Match.request_id)
                              .where(Match.area_id == area_id, Match.status.in_(LIVE))).all()
    twice = [pair for pair, n in Counter(map(tuple, live)).items() if n > 1]
    assert live and twice == [], f"round {round_no}: pairs proposed twice {twice} of {len(live)}"
    # The second run found the first's proposals and kept them: nothing replaced, nothing new.
    assert count(Match, Match.origin == MatchOrigin.ENGINE) == len(live)
    assert count(MatchEvent) == len(live)


def _race(overrides: dict) -> None:
    run_race(overrides, RACE, build=_build, attempt=_run, reset=_reset, check=_check)


@pytest.mark.slow
def test_two_runs_of_one_area_at_once_on_sqlite_store_one_set_of_proposals(tmp_path):
    _race(sqlite_file(tmp_path))


@pytest.mark.slow
@pytest.mark.postgres
def test_two_runs_of_one_area_at_once_on_postgresql_store_one_set_of_proposals():
    with fresh_pg_schema() as overrides:
        _race(overrides)
