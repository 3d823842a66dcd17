"""Expiring proposals nobody decided on within their area's days (`flask match expire`)."""
from datetime import datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent, Match, MatchEvent, MatchStatus, RequestStatus
from portal.services.proposal_expiry import expire_proposals
from tests.factories import make_area, make_offer, make_provider, make_request, make_school

NOW = datetime(2026, 3, 1, 9, 0)


def make_match(area, *, age_days: float, status: str = MatchStatus.PROPOSED) -> Match:
    """A match in `area` created `age_days` before NOW, between a fresh offer and request there."""
    offer = make_offer(make_provider(area))
    school_request = make_request(make_school(area))
    match = Match(offer_id=offer.id, request_id=school_request.id, area_id=area.id, allocation=5, origin="engine",
                  status=status, created_at=NOW - timedelta(days=age_days))
    db.session.add(match)
    db.session.flush()
    return match


def status_of(match: Match) -> str:
    return db.session.scalar(select(Match.status).where(Match.id == match.id))


def events_of(match: Match) -> list[MatchEvent]:
    return list(db.session.scalars(select(MatchEvent).where(MatchEvent.match_id == match.id)))


def expire_audits() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "match.expire")
                                   .order_by(AuditEvent.id)))


def test_an_old_proposal_expires_with_its_history_and_an_audit_event(app):
    area = make_area(proposal_expiry_days=14)
    match = make_match(area, age_days=15)
    db.session.commit()

    assert expire_proposals(now=NOW) == 1

    db.session.expire_all()
    assert status_of(match) == MatchStatus.EXPIRED
    [event] = events_of(match)
    assert (event.from_status, event.to_status, event.actor_id) == (MatchStatus.PROPOSED, MatchStatus.EXPIRED, None)
    assert event.note == "no decision within 14 days"
    [audit_event] = expire_audits()
    assert (audit_event.object_id, audit_event.area_id, audit_event.actor_id) == (match.id, area.id, None)
    assert db.session.get(Match, match.id).request.status == RequestStatus.OPEN


def test_a_younger_proposal_stays(app):
    area = make_area(proposal_expiry_days=14)
    match = make_match(area, age_days=13.9)
    db.session.commit()

    assert expire_proposals(now=NOW) == 0

    assert status_of(match) == MatchStatus.PROPOSED
    assert events_of(match) == [] and expire_audits() == []


def test_an_approved_match_is_never_touched(app):
    area = make_area(proposal_expiry_days=1)
    match = make_match(area, age_days=60, status=MatchStatus.APPROVED)
    db.session.commit()

    assert expire_proposals(now=NOW) == 0

    assert status_of(match) == MatchStatus.APPROVED
    assert events_of(match) == [] and expire_audits() == []


def test_each_area_uses_its_own_days(app):
    quick, patient = make_area("Quick", proposal_expiry_days=3), make_area("Patient", proposal_expiry_days=30)
    quick_match, patient_match = make_match(quick, age_days=5), make_match(patient, age_days=5)
    patient_old = make_match(patient, age_days=31)
    db.session.commit()

    assert expire_proposals(now=NOW) == 2

    assert status_of(quick_match) == MatchStatus.EXPIRED
    assert status_of(patient_match) == MatchStatus.PROPOSED
    assert status_of(patient_old) == MatchStatus.EXPIRED
    assert [(e.object_id, e.area_id) for e in expire_audits()] == [(quick_match.id, quick.id),
                                                                    (patient_old.id, patient.id)]
    [note] = [e.note for e in events_of(patient_old)]
    assert note == "no decision within 30 days"


def test_running_twice_expires_nothing_more(app):
    area = make_area(proposal_expiry_days=7)
    match = make_match(area, age_days=8)
    db.session.commit()

    assert expire_proposals(now=NOW) == 1
    assert expire_proposals(now=NOW) == 0

    assert status_of(match) == MatchStatus.EXPIRED
    assert len(events_of(match)) == 1 and len(expire_audits()) == 1


def test_the_command_expires_as_of_now(app, runner):
    area = make_area(proposal_expiry_days=10)
    old, older, young = make_match(area, age_days=11), make_match(area, age_days=20), make_match(area, age_days=2)
    db.session.commit()

    result = runner.invoke(args=["match", "expire", "--now", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    assert result.output == "Expired 2 proposals.\n"

    # a day later the young one is still inside its ten days; nine days after that it is not
    result = runner.invoke(args=["match", "expire", "--now", (NOW + timedelta(days=1)).isoformat()])
    assert result.output == "Expired 0 proposals.\n"
    result = runner.invoke(args=["match", "expire", "--now", (NOW + timedelta(days=9)).isoformat()])
    assert result.output == "Expired 1 proposal.\n"

    db.session.expire_all()
    assert [status_of(m) for m in (old, older, young)] == [MatchStatus.EXPIRED] * 3


def test_the_command_refuses_a_bad_moment(app, runner):
    result = runner.invoke(args=["match", "expire", "--now", "yesterday"])
    assert result.exit_code != 0
    assert "Give a date and time such as 2026-03-01T09:00." in result.output
