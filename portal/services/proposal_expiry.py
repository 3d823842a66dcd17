"""Expiring proposals that nobody decided on, so schools and providers are not left waiting.

Each area sets how many days a proposal may wait for a coordinator (Area.proposal_expiry_days). Proposals hold
no capacity on the offer (only approved and later statuses do, HOLDS_CAPACITY), so expiring one frees nothing:
it only ends the wait and leaves the request free to be matched again.
"""
from datetime import datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import Area, Match, MatchStatus, utcnow
from portal.services import audit, match_transitions
from portal.services.db_locks import write_transaction
from portal.services.school_requests import refresh_request_status

# No area may set fewer days than this (the CHECK on areas.proposal_expiry_days): a cheap first filter in SQL.
_MIN_DAYS = 1


def expire_proposals(now: datetime | None = None) -> int:
    """Expire every proposal older than its area's proposal_expiry_days; returns how many expired.

    Run daily (`flask match expire`). Each match moves proposed → expired with a conditional UPDATE and a
    history row, so a proposal a coordinator approves meanwhile is left approved. Proposals hold no capacity,
    so nothing is freed on any offer. One commit for the whole run. `now` is naive UTC, like every timestamp.
    """
    now = now or utcnow()
    expired = 0
    with write_transaction():
        candidates = db.session.execute(
            select(Match, Area.proposal_expiry_days)
            .join(Area, Area.id == Match.area_id)
            .where(Match.status == MatchStatus.PROPOSED, Match.created_at < now - timedelta(days=_MIN_DAYS))
            .order_by(Match.id)
            .with_for_update(of=Match)
        ).all()
        request_ids: set[int] = set()
        for match, days in candidates:
            if match.created_at >= now - timedelta(days=days):
                continue
            note = f"no decision within {days} days"
            if match_transitions.move_and_record(match, MatchStatus.PROPOSED, MatchStatus.EXPIRED, by=None,
                                                 note=note):
                audit.record("match.expire", target=match, area_id=match.area_id, detail=note)
                request_ids.add(match.request_id)
                expired += 1
        for request_id in sorted(request_ids):
            refresh_request_status(match_transitions.lock_request(request_id))
        db.session.commit()
    return expired
