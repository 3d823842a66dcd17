"""Purging the proposals a matching run replaced and nobody acted on, so `matches` does not grow with every run.

A matching run cancels the waiting engine proposals it no longer makes ("replaced by a new matching run",
services.matching_store): suggestions nobody decided on, superseded by the run after. They are kept
PURGE_AFTER_DAYS after they were replaced, so a coordinator can still look one up, then deleted with their history
rows (match_events, ON DELETE CASCADE). `flask match purge`, daily.

Only those whose whole history is the engine's own: proposed by matching, resized by a run, replaced. A proposal
anyone touched (a coordinator's change or hold, the auto-approval stopping, any other note) stays, as does every
match a person proposed, decided or cancelled. The audit log keeps its own record of who did what, untouched.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, or_, select

from portal.extensions import db
from portal.models import Match, MatchEvent, MatchOrigin, MatchStatus, utcnow
from portal.services import audit
from portal.services.db_locks import write_transaction
from portal.services.matching_store import PROPOSED_NOTE, REPLACED_NOTE, RESIZED_NOTE

PURGE_AFTER_DAYS = 90


@dataclass(frozen=True)
class PurgeSummary:
    purged: int
    replaced_before: datetime
    dry_run: bool

    @property
    def message(self) -> str:
        what = f"{self.purged} replaced proposal{'' if self.purged == 1 else 's'}"
        when = f"replaced before {self.replaced_before:%Y-%m-%d %H:%M} UTC"
        return f"Dry run: would delete {what} ({when})." if self.dry_run else f"Deleted {what} ({when})."


def _engine_only():
    """A history row the engine wrote itself (proposed, resized by a run, replaced)."""
    resized = RESIZED_NOTE.format(was="%", allocation="%")
    return or_(MatchEvent.note == PROPOSED_NOTE, MatchEvent.note == REPLACED_NOTE, MatchEvent.note.like(resized))


def purgeable(cutoff: datetime):
    """The ids of the replaced engine proposals nobody touched, replaced before `cutoff` (a select)."""
    own = MatchEvent.match_id == Match.id
    return select(Match.id).where(
        Match.origin == MatchOrigin.ENGINE, Match.status == MatchStatus.CANCELLED, Match.adjusted_at.is_(None),
        Match.updated_at < cutoff,
        exists().where(own, MatchEvent.to_status == MatchStatus.CANCELLED, MatchEvent.note == REPLACED_NOTE),
        ~exists().where(own, or_(MatchEvent.note.is_(None), ~_engine_only())),
    )


def purge_replaced(*, now: datetime | None = None, days: int = PURGE_AFTER_DAYS,
                   dry_run: bool = False) -> PurgeSummary:
    """Delete the replaced engine proposals (with their history) replaced more than `days` ago. One transaction,
    with an audit row saying how many; `dry_run` counts and changes nothing. `now` is naive UTC."""
    if days < 1:
        raise ValueError("days must be at least 1")
    cutoff = (now or utcnow()) - timedelta(days=days)
    ids = purgeable(cutoff)
    if dry_run:
        return PurgeSummary(db.session.scalar(select(func.count()).select_from(ids.subquery())), cutoff, True)
    with write_transaction():
        purged = db.session.execute(delete(Match).where(Match.id.in_(ids))).rowcount
        if purged:
            audit.record("matching.purge",
                         detail=f"{purged} replaced proposals deleted with their history (replaced before "
                                f"{cutoff:%Y-%m-%d %H:%M} UTC, {days} days)")
        db.session.commit()
    return PurgeSummary(purged, cutoff, False)
