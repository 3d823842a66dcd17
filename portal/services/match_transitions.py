"""Moving a match from one status to another, safely when people act at once. Every service that changes a
match's status goes through here, so no transition is a blind write:

- `move` is a conditional UPDATE (`... WHERE id = :id AND status = :from`) whose row count says whether this
  transaction moved it; a match someone else moved meanwhile is left as they left it;
- `lock_request` re-reads a request and row-locks it on PostgreSQL (SQLite's BEGIN IMMEDIATE, from
  services.db_locks.write_transaction, has locked the whole file), so approving against a request and
  withdrawing or expiring it take turns;
- `record_event` keeps the history: who, when, from, to (or, when the status stays, what happened).
Helpers only: they flush nothing and commit nothing; the calling use case commits once.
"""
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import Match, MatchEvent, SchoolRequest, User, utcnow

_matches = Match.__table__


def move(match_id: int, from_status: str, to_status: str, **values) -> bool:
    """Move a match only if it is still in `from_status`: True if this transaction moved it."""
    result = db.session.execute(
        update(_matches)
        .where(_matches.c.id == match_id, _matches.c.status == from_status)
        .values(status=to_status, updated_at=utcnow(), **values)
    )
    return result.rowcount == 1


def record_event(match: Match, from_status: str | None, to_status: str, *, by: User | None,
                 note: str | None) -> None:
    """One history row. A row whose status stays the same (an acceptance by one side, a hold, a new allocation)
    must say what happened in its note: the history reads it in place of a change of status."""
    if from_status == to_status and not note:
        raise ValueError("an event that leaves the status as it was needs a note saying what happened")
    db.session.add(MatchEvent(match_id=match.id, actor_id=getattr(by, "id", None), from_status=from_status,
                              to_status=to_status, note=note))


def move_and_record(match: Match, from_status: str, to_status: str, *, by: User | None, note: str | None) -> bool:
    """`move`, then the history row if it moved; the ORM copy of the match is refreshed on next access."""
    if not move(match.id, from_status, to_status):
        return False
    record_event(match, from_status, to_status, by=by, note=note)
    db.session.expire(match, ["status", "updated_at"])
    return True


def lock_request(request_id: int) -> SchoolRequest:
    """The request, re-read and row-locked on PostgreSQL (SQLite's BEGIN IMMEDIATE has locked everything)."""
    return db.session.scalars(
        select(SchoolRequest).where(SchoolRequest.id == request_id).with_for_update()
        .execution_options(populate_existing=True)
    ).one()
