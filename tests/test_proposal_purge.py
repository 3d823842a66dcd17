"""Purging the proposals matching runs replaced and nobody acted on (`flask match purge`)."""
from datetime import timedelta

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, Match, MatchEvent, MatchOrigin, MatchStatus, RequestStatus, utcnow
from portal.services import auto_approval, matching
from portal.services import matches as matches_service
from portal.services.proposal_purge import PURGE_AFTER_DAYS, purge_replaced
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user


def _replaced_world():
    """Four engine proposals; a second run replaces three of them (their requests withdrawn), one of which a
    coordinator had held first and one whose auto-approval stopped; the fourth a coordinator rejects."""
    area = make_area("Burnley")
    make_offer(make_provider(area), sessions=6, auto_approve=True, auto_approve_delay_days=7)
    plain, touched, stopped, decided = (make_request(make_school(area)) for _ in range(4))
    coordinator = make_user("coordinator", areas=[area])
    db.session.commit()
    matching.run_matching(area)
    first = {m.request_id: m for m in db.session.scalars(select(Match).where(Match.origin == MatchOrigin.ENGINE))}
    # Before adjusted_at, a held proposal could still be replaced: its history says a person looked at it.
    db.session.add(MatchEvent(match_id=first[touched.id].id, actor_id=coordinator.id,
                              from_status=MatchStatus.PROPOSED, to_status=MatchStatus.PROPOSED,
                              note=auto_approval.HOLD_NOTE))
    db.session.add(MatchEvent(match_id=first[stopped.id].id, from_status=MatchStatus.PROPOSED,
                              to_status=MatchStatus.PROPOSED, note="not auto-approved: full; left for a coordinator"))
    db.session.commit()
    matches_service.reject_match(first[decided.id], by=coordinator, reason="Not this term")
    for request in (plain, touched, stopped):
        request.status = RequestStatus.WITHDRAWN
    db.session.commit()
    matching.run_matching(area)
    return {name: first[request.id].id for name, request in
            (("plain", plain), ("touched", touched), ("stopped", stopped), ("decided", decided))}


def _statuses(ids: dict[str, int]) -> dict[str, str | None]:
    db.session.expire_all()
    return {name: db.session.scalar(select(Match.status).where(Match.id == id_)) for name, id_ in ids.items()}


def test_a_replaced_proposal_nobody_touched_goes_with_its_history_after_the_days(app):
    ids = _replaced_world()
    assert _statuses(ids) == {"plain": "cancelled", "touched": "cancelled", "stopped": "cancelled",
                              "decided": "rejected"}

    early = purge_replaced(now=utcnow() + timedelta(days=PURGE_AFTER_DAYS - 1))
    assert early.purged == 0 and _statuses(ids)["plain"] == "cancelled"
    dry = purge_replaced(now=utcnow() + timedelta(days=PURGE_AFTER_DAYS + 1), dry_run=True)
    assert (dry.purged, _statuses(ids)["plain"]) == (1, "cancelled")
    assert dry.message.startswith("Dry run: would delete 1 replaced proposal (")

    summary = purge_replaced(now=utcnow() + timedelta(days=PURGE_AFTER_DAYS + 1))

    assert summary.purged == 1 and summary.message.startswith("Deleted 1 replaced proposal (")
    assert _statuses(ids) == {"plain": None, "touched": "cancelled", "stopped": "cancelled", "decided": "rejected"}
    assert db.session.scalar(select(func.count()).select_from(MatchEvent)
                             .where(MatchEvent.match_id == ids["plain"])) == 0
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "matching.purge")).all()
    assert len(audit) == 1 and audit[0].detail.startswith("1 replaced proposals deleted with their history")
    assert purge_replaced(now=utcnow() + timedelta(days=PURGE_AFTER_DAYS + 2)).purged == 0  # nothing twice
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "matching.purge")).all()) == 1


def test_the_command_purges_and_says_how_many(app, runner):
    ids = _replaced_world()
    later = (utcnow() + timedelta(days=31)).isoformat(timespec="minutes")

    result = runner.invoke(args=["match", "purge", "--days", "30", "--now", later, "--dry-run"])
    assert result.exit_code == 0 and "Dry run: would delete 1 replaced proposal" in result.output
    result = runner.invoke(args=["match", "purge", "--days", "30", "--now", later])
    assert result.exit_code == 0 and "Deleted 1 replaced proposal" in result.output
    assert _statuses(ids)["plain"] is None
    result = runner.invoke(args=["match", "purge"])  # 90 days by default: nothing that recent
    assert result.exit_code == 0 and "Deleted 0 replaced proposals" in result.output
    result = runner.invoke(args=["match", "purge", "--days", "0"])
    assert result.exit_code != 0 and "--days" in result.output
