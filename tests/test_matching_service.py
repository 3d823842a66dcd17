"""The matching service: the engine's input read from the database, runs stored as proposals, and `flask match`."""
import json
import multiprocessing
import os
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy import text as sa_text

from portal.extensions import db
from portal.matching import Held, History, YearFigures, solve
from portal.matching.model import NEED_NO_CONTACTS
from portal.models import AuditEvent, Match, MatchEvent, MatchOrigin, MatchStatus, Offer, RequestStatus
from portal.services import auto_approval, jobs, matching, matching_store
from portal.services import matches as matches_service
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user

TODAY = date.today()


def _world():
    burnley, preston = make_area("Burnley"), make_area("Preston")
    return burnley, preston, make_school(burnley), make_provider(burnley)


def _held_match(offer, school_request, allocation, *, status=MatchStatus.APPROVED, origin=MatchOrigin.SCHOOL_ASKED):
    match = Match(offer_id=offer.id, request_id=school_request.id, area_id=school_request.area_id,
                  allocation=allocation, status=status, origin=origin)
    db.session.add(match)
    if status in (MatchStatus.APPROVED, MatchStatus.CONFIRMED, MatchStatus.SCHEDULED):
        offer.allocated += allocation
    db.session.flush()
    return match


def _engine_matches():
    return list(db.session.scalars(select(Match).where(Match.origin == MatchOrigin.ENGINE).order_by(Match.id)))


# --- build_instance -------------------------------------------------------------------------------------------

def test_build_instance_takes_published_offers_with_places_left_in_the_area_or_open_to_all(app):
    burnley, preston, school, provider = _world()
    make_request(school, wanted_types=("careers_talk", "work_experience"))
    make_request(school, wanted_types=("mentoring",), status=RequestStatus.WITHDRAWN)  # not live: asks for nothing
    published = make_offer(provider, type="work_experience", sessions=1, per_session=1, capacity=4,
                           placement_days=5)
    make_offer(provider, status="draft")
    make_offer(provider, status="paused")
    full = make_offer(provider)
    full.allocated = full.capacity
    make_offer(provider, starts_on=TODAY - timedelta(days=30), ends_on=TODAY - timedelta(days=1))
    last_day = make_offer(provider, starts_on=TODAY - timedelta(days=30), ends_on=TODAY)
    elsewhere = make_provider(preston, latitude=53.76, longitude=-2.70)
    make_offer(elsewhere)
    open_to_all = make_offer(elsewhere, delivery="virtual", open_to_all_areas=True)
    make_offer(provider, type="mentoring")  # only a withdrawn request of the area asked for this type
    make_offer(provider, type="internship_week")  # schools cannot ask for it at all
    db.session.flush()

    instance = matching.build_instance(burnley, today=TODAY)

    assert [o.id for o in instance.offers] == [published.id, last_day.id, open_to_all.id]
    first = instance.offers[0]
    assert (first.unit, first.capacity, first.allocated, first.per_session) == ("places", 4, 0, 1)
    assert (first.latitude, first.longitude, first.max_travel_miles) == (53.78, -2.24, 20)
    assert first.provider_id == provider.id and first.area_id == burnley.id
    virtual = instance.offers[2]
    assert (virtual.area_id, virtual.open_to_all_areas, virtual.delivery) == (preston.id, True, "virtual")
    assert (virtual.latitude, virtual.longitude) == (53.76, -2.70)
    assert instance.today == TODAY and instance.label == f"Burnley on {TODAY.isoformat()}"
    assert instance.sector_labels["engineering"] == "Engineering and manufacturing"
    assert instance.type_labels["careers_talk"] == "Careers talk or assembly"


def test_build_instance_takes_live_requests_of_the_area_with_what_they_already_hold(app):
    burnley, preston, school, provider = _world()
    offer = make_offer(provider)
    live = make_request(school, pupils=40, sectors=["digital"], keep_together=True, max_travel_miles=None)
    partly = make_request(school, status=RequestStatus.PARTLY_MATCHED)
    _held_match(offer, partly, 10)
    _held_match(offer, partly, 5, status=MatchStatus.PROPOSED, origin=MatchOrigin.ENGINE)  # replaced by a run
    _held_match(offer, partly, 3, status=MatchStatus.PROPOSED)  # the school asked: those 3 pupils are spoken for
    make_request(school, status=RequestStatus.WITHDRAWN)
    make_request(school, starts_on=TODAY - timedelta(days=20), ends_on=TODAY - timedelta(days=1))
    other = make_school(preston, latitude=53.76, longitude=-2.70)
    make_request(other)
    quiet = make_school(burnley)  # no live request: not in the instance
    make_request(quiet, status=RequestStatus.WITHDRAWN)
    db.session.flush()

    instance = matching.build_instance(burnley, today=TODAY)

    assert [r.id for r in instance.requests] == [live.id, partly.id]
    first, second = instance.requests
    assert (first.school_id, first.area_id, first.pupils, first.held) == (school.id, burnley.id, 40, 0)
    assert first.wanted_types == ("careers_talk",) and first.sectors == ("digital",)
    assert first.deliveries == ("in_school", "workplace", "virtual")
    assert first.year_mask == (1 << 9) | (1 << 10)
    assert first.keep_together is True and first.max_travel_miles is None
    assert first.created_on == live.created_at.date()
    assert (second.held, second.needed) == (13, 17)

    assert [s.id for s in instance.schools] == [school.id]
    figures = instance.schools[0]
    assert (figures.latitude, figures.longitude) == (53.79, -2.25)
    assert figures.years == tuple(YearFigures(y, 150, 150, 0) for y in range(7, 12))
    assert instance.need_basis == NEED_NO_CONTACTS
    assert instance.held == (Held(school.id, offer.id, 13),)
    # the approved match and the school's waiting ask count as history with this provider (not the engine's own)
    assert instance.history == (History(school.id, provider.id, 2),)
    assert instance.offers[0].allocated == 10


# --- run_matching ---------------------------------------------------------------------------------------------

def test_run_stores_proposals_with_reasons_history_and_audit(app):
    burnley, _, school, provider = _world()
    offer = make_offer(provider)
    school_request = make_request(school)
    coordinator = make_user("coordinator", areas=[burnley])
    db.session.commit()

    result, stored = matching.run_matching(burnley, by=coordinator)

    assert stored == 1 and len(result.proposals) == 1
    (match,) = _engine_matches()
    proposal = result.proposals[0]
    assert (match.offer_id, match.request_id, match.allocation) == (offer.id, school_request.id, 30)
    assert (match.status, match.area_id, match.score) == (MatchStatus.PROPOSED, burnley.id, proposal.value)
    assert match.reasons == " · ".join(proposal.reasons)
    assert "Engineering and manufacturing" in match.reasons and " · " in match.reasons
    assert match.created_by_id == coordinator.id
    (event,) = match.events
    assert (event.from_status, event.to_status, event.actor_id, event.note) == (
        None, MatchStatus.PROPOSED, coordinator.id, "proposed by matching")
    db.session.refresh(offer)
    assert offer.allocated == 0  # a proposal holds nothing until it is approved
    audits = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "matching.run")))
    assert len(audits) == 1
    assert audits[0].area_id == burnley.id and audits[0].actor_id == coordinator.id
    assert "1 proposals stored" in audits[0].detail and "0 earlier proposals replaced" in audits[0].detail


def test_second_run_replaces_unapproved_engine_proposals_resizes_those_it_makes_again_and_keeps_the_rest(app):
    burnley, _, school, provider = _world()
    offer = make_offer(provider, sessions=4)  # 120 pupils, 30 per school
    first_request = make_request(school)
    second_school = make_school(burnley)
    second_request = make_request(second_school)
    third_school = make_school(burnley)
    third_request = make_request(third_school)
    asked = _held_match(offer, third_request, 30, status=MatchStatus.PROPOSED)  # the school asked for it
    fourth_request = make_request(make_school(burnley))
    db.session.commit()

    _, stored = matching.run_matching(burnley)
    assert stored == 3  # the third school already has a live request for this offer: not proposed twice
    first_run = {m.request_id: m for m in _engine_matches()}
    assert set(first_run) == {first_request.id, second_request.id, fourth_request.id}
    keep, replace, fourth = first_run[first_request.id], first_run[second_request.id], first_run[fourth_request.id]
    keep.status = MatchStatus.APPROVED
    offer.allocated += keep.allocation
    second_request.pupils = 20  # the second school now asks for fewer: its proposal changes
    db.session.commit()
    fourth_request.status = RequestStatus.WITHDRAWN  # no longer live: its proposal is replaced by nothing
    db.session.commit()
    keep_id, resized_id = keep.id, replace.id

    result, stored = matching.run_matching(burnley)

    db.session.expire_all()
    assert db.session.get(Match, keep_id).status == MatchStatus.APPROVED
    replaced = db.session.get(Match, fourth.id)
    assert replaced.status == MatchStatus.CANCELLED
    assert [(e.from_status, e.to_status, e.note) for e in replaced.events] == [
        (None, MatchStatus.PROPOSED, "proposed by matching"),
        (MatchStatus.PROPOSED, MatchStatus.CANCELLED, "replaced by a new matching run"),
    ]
    assert db.session.get(Match, asked.id).status == MatchStatus.PROPOSED
    new = [m for m in _engine_matches() if m.status == MatchStatus.PROPOSED]
    # the first request is held in full by its approved match; the second's proposal stays, resized to 20
    assert [(m.id, m.request_id, m.allocation) for m in new] == [(resized_id, second_request.id, 20)]
    assert [(e.from_status, e.to_status, e.note) for e in new[0].events] == [
        (None, MatchStatus.PROPOSED, "proposed by matching"),
        (MatchStatus.PROPOSED, MatchStatus.PROPOSED, "allocation changed from 30 to 20 by a new matching run"),
    ]
    # the third school's own ask covers its request: the engine does not propose those pupils a second time
    assert stored == 1 and [p.request_id for p in result.proposals] == [second_request.id]
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "matching.run")) == 2


def test_a_proposal_the_next_run_makes_again_is_kept_with_its_clock_and_fresh_reasons_and_a_hold_is_left_alone(app):
    """A nightly run must not restart every proposal's expiry and auto-approval clock, even when it gives the pairing
    a new allocation; and a proposal a coordinator held is theirs: not resized, not replaced, not proposed twice."""
    burnley, _, school, provider = _world()
    make_offer(provider, sessions=4, auto_approve=True, auto_approve_delay_days=7)
    same, changes = make_request(school), make_request(make_school(burnley))
    gone, paused = make_request(make_school(burnley)), make_request(make_school(burnley))
    coordinator = make_user("coordinator", areas=[burnley])
    db.session.commit()
    matching.run_matching(burnley, today=TODAY)
    before = {m.request_id: m for m in _engine_matches()}
    assert set(before) == {same.id, changes.id, gone.id, paused.id}
    assert auto_approval.hold(before[paused.id], by=coordinator)
    paused_id = before[paused.id].id
    kept = before[same.id]
    kept_id, created, due_at, reasons = kept.id, kept.created_at, kept.auto_approve_at, kept.reasons
    assert due_at is not None and "waiting 0 days" not in reasons
    resized = before[changes.id]
    resized_id, resized_created, resized_due = resized.id, resized.created_at, resized.auto_approve_at
    gone_id = before[gone.id].id
    changes.pupils = 10  # a different allocation: the same proposal, resized
    paused.pupils = 20  # the school asks for fewer, but the coordinator holds this one: the run leaves it be
    gone.status = RequestStatus.WITHDRAWN  # no longer live: its proposal is replaced by nothing
    db.session.commit()

    result, stored = matching.run_matching(burnley, today=TODAY + timedelta(days=3))

    db.session.expire_all()
    again = db.session.get(Match, kept_id)
    assert again.status == MatchStatus.PROPOSED
    assert (again.created_at, again.auto_approve_at) == (created, due_at)
    assert again.reasons != reasons and "waiting 3 days" in again.reasons  # brought up to date
    assert again.score == next(p.value for p in result.proposals if p.request_id == same.id)
    assert [e.to_status for e in again.events] == [MatchStatus.PROPOSED]  # no history row: nothing happened to it
    resized = db.session.get(Match, resized_id)  # its clock goes on; the history says what changed
    assert (resized.status, resized.allocation) == (MatchStatus.PROPOSED, 10)
    assert (resized.created_at, resized.auto_approve_at) == (resized_created, resized_due)
    assert resized.score == next(p.value for p in result.proposals if p.request_id == changes.id)
    assert "waiting 3 days" in resized.reasons
    assert [(e.from_status, e.to_status, e.note) for e in resized.events][1:] == [
        (MatchStatus.PROPOSED, MatchStatus.PROPOSED, "allocation changed from 30 to 10 by a new matching run")]
    assert db.session.get(Match, gone_id).status == MatchStatus.CANCELLED
    still_held = db.session.get(Match, paused_id)  # as the coordinator left it: held, its allocation, no new row
    assert (still_held.status, still_held.allocation, still_held.auto_approve_at) == (MatchStatus.PROPOSED, 30, None)
    assert [e.note for e in still_held.events] == ["proposed by matching", "held for review"]
    proposed = {m.request_id: m.id for m in _engine_matches() if m.status == MatchStatus.PROPOSED}
    assert proposed == {same.id: kept_id, changes.id: resized_id, paused.id: paused_id}
    assert stored == 2 == len(result.proposals)  # the held request's pupils are already proposed: not again
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "matching.run")
                               .order_by(AuditEvent.id.desc())).first()
    assert "2 proposals stored (2 kept from the run before, 1 of them with a new allocation;" in audit.detail
    assert "1 earlier proposals replaced" in audit.detail


def test_a_proposal_a_coordinator_changed_or_held_is_theirs_and_no_run_resizes_or_replaces_it(app):
    """Matching proposes, people decide: once a coordinator has changed a proposal's allocation or held it for
    review, a later run leaves it exactly as they left it, even when the run would now pair those pupils otherwise
    or not at all, and does not propose its request's pupils a second time."""
    burnley, _, school, provider = _world()
    offer = make_offer(provider, sessions=4, auto_approve=True, auto_approve_delay_days=7)
    changed_request, held_request = make_request(school), make_request(make_school(burnley))
    untouched_request = make_request(make_school(burnley))
    coordinator = make_user("coordinator", areas=[burnley])
    db.session.commit()
    matching.run_matching(burnley, today=TODAY)
    first = {m.request_id: m for m in _engine_matches()}
    assert set(first) == {changed_request.id, held_request.id, untouched_request.id}
    changed, held, untouched = first[changed_request.id], first[held_request.id], first[untouched_request.id]
    assert all(m.adjusted_at is None for m in (changed, held, untouched))
    matches_service.change_allocation(changed, 12, by=coordinator)
    assert auto_approval.hold(held, by=coordinator)
    ids = {"changed": changed.id, "held": held.id, "untouched": untouched.id}
    history = {name: db.session.scalar(select(func.count()).select_from(MatchEvent).where(MatchEvent.match_id == id_))
               for name, id_ in ids.items()}
    # the run would now pair all three otherwise: the offer is withdrawn, so it proposes nothing at all
    offer.status = "closed"
    db.session.commit()

    result, stored = matching.run_matching(burnley, today=TODAY + timedelta(days=1))

    db.session.expire_all()
    assert not result.proposals and stored == 0
    changed, held = db.session.get(Match, ids["changed"]), db.session.get(Match, ids["held"])
    assert (changed.status, changed.allocation) == (MatchStatus.PROPOSED, 12)
    assert (held.status, held.allocation, held.auto_approve_at) == (MatchStatus.PROPOSED, 30, None)
    assert changed.adjusted_at is not None and held.adjusted_at is not None
    assert db.session.get(Match, ids["untouched"]).status == MatchStatus.CANCELLED  # the run's own: replaced
    for name in ("changed", "held"):  # not a history row more
        assert db.session.scalar(select(func.count()).select_from(MatchEvent)
                                 .where(MatchEvent.match_id == ids[name])) == history[name]

    offer.status = "published"  # back: the run may propose again, but not those two requests' pupils twice
    db.session.commit()
    result, stored = matching.run_matching(burnley, today=TODAY + timedelta(days=2))
    db.session.expire_all()
    assert {p.request_id for p in result.proposals} == {untouched_request.id}
    assert stored == 1
    # the changed request's 12 count as proposed, and it is not paired with the same offer again: the engine looks
    # for the other 18 elsewhere (there is no other offer here) and says why
    (short,) = [u for u in result.unmatched if u.request_id == changed_request.id]
    assert (short.needed, short.placed) == (18, 0)
    assert "already matched with each suitable offer that has room" in short.reasons_text
    assert db.session.get(Match, ids["changed"]).allocation == 12
    assert db.session.get(Match, ids["held"]).allocation == 30
    live = [m for m in _engine_matches() if m.status == MatchStatus.PROPOSED]
    assert sorted((m.request_id, m.allocation) for m in live) == sorted(
        [(changed_request.id, 12), (held_request.id, 30), (untouched_request.id, 30)])


def test_a_request_a_coordinator_cut_gets_the_rest_from_another_offer(app):
    """A coordinator cut a proposal from 30 pupils to 12: the next run proposes the other 18 from another offer.
    Before, the engine paired the request with the same offer again (still its best), the store dropped that
    proposal as already matched, and the 18 places it had taken were lost to every request."""
    burnley, _, school, provider = _world()
    best = make_offer(provider, sessions=4)
    coordinator = make_user("coordinator", areas=[burnley])
    cut_request = make_request(school, sectors=["engineering"])
    db.session.commit()
    matching.run_matching(burnley, today=TODAY)
    (proposal,) = _engine_matches()
    assert (proposal.offer_id, proposal.allocation) == (best.id, 30)
    matches_service.change_allocation(proposal, 12, by=coordinator)
    # worth less than the best offer even after its provider's repeat penalty: a sector the school did not ask for
    other = make_offer(make_provider(burnley), sessions=4, sector="digital")
    db.session.commit()

    result, stored = matching.run_matching(burnley, today=TODAY + timedelta(days=1))

    db.session.expire_all()
    assert [(p.request_id, p.offer_id, p.allocation) for p in result.proposals] == [(cut_request.id, other.id, 18)]
    assert stored == 1 and not result.unmatched
    live = [m for m in _engine_matches() if m.status == MatchStatus.PROPOSED]
    assert sorted((m.offer_id, m.allocation) for m in live) == sorted([(best.id, 12), (other.id, 18)])


def test_a_resize_leaves_a_proposal_a_coordinator_changed_or_decided_meanwhile_as_they_left_it(app):
    """The resize is conditional on the state the run read (still proposed, the allocation it saw): on PostgreSQL
    a coordinator can act between the run's read and its write."""
    burnley, _, school, provider = _world()
    make_offer(provider, sessions=4)
    changed_request, decided_request = make_request(school), make_request(make_school(burnley))
    coordinator = make_user("coordinator", areas=[burnley])
    db.session.commit()
    matching.run_matching(burnley, today=TODAY)
    first = {m.request_id: m for m in _engine_matches()}
    changed, decided = first[changed_request.id], first[decided_request.id]
    seen = [{"id": m.id, "was": m.allocation, "allocation": 5, "score": 1.0, "reasons": "resized",
             "note": matching_store.RESIZED_NOTE.format(was=m.allocation, allocation=5)} for m in (changed, decided)]
    matches_service.change_allocation(changed, 12, by=coordinator)
    matches_service.reject_match(decided, by=coordinator, reason="Not this term")
    events_before = db.session.scalar(select(func.count()).select_from(MatchEvent))

    matching_store._resize_proposals(seen, None)
    db.session.commit()

    db.session.expire_all()
    assert (db.session.get(Match, changed.id).allocation, db.session.get(Match, changed.id).reasons) != (5, "resized")
    assert db.session.get(Match, changed.id).allocation == 12
    assert db.session.get(Match, decided.id).status == MatchStatus.REJECTED
    assert db.session.scalar(select(func.count()).select_from(MatchEvent)) == events_before  # no history row


def test_a_request_the_run_did_not_place_keeps_the_engines_reasons_for_its_page_until_a_run_places_it(
        app, client, login):
    """The engine says why it could not place a request; the request's page shows it to the school and the
    coordinator until a run places it (or it is no longer waiting), without touching the request's version."""
    burnley, preston, school, provider = _world()
    make_offer(provider)
    placed = make_request(school)
    unplaced = make_request(make_school(burnley), wanted_types=("workplace_visit",))
    elsewhere = make_request(make_school(preston), wanted_types=("workplace_visit",))
    # another area's request: this run does not touch it
    elsewhere.unplaced_reasons, elsewhere.unplaced_at = "left from before", datetime(2026, 1, 1)
    lead = make_user("careers_lead", organisation=unplaced.school)
    db.session.commit()
    version, updated_at = unplaced.version, unplaced.updated_at

    matching.run_matching(burnley, today=TODAY)

    db.session.expire_all()
    assert db.session.get(type(placed), placed.id).unplaced_reasons is None
    waiting = db.session.get(type(unplaced), unplaced.id)
    assert waiting.unplaced_reasons == "no offer of that type (Workplace visit) in the area or open to all areas"
    assert waiting.unplaced_at is not None
    assert (waiting.version, waiting.updated_at) == (version, updated_at)
    assert db.session.get(type(elsewhere), elsewhere.id).unplaced_reasons == "left from before"
    login(lead)
    page = client.get(f"/requests/{unplaced.id}").get_data(as_text=True)
    assert "Not placed in full by matching" in page
    assert "no offer of that type (Workplace visit) in the area or open to all areas" in page
    assert "The matching runs since" in page

    # The next run gives the same reasons: they stand since the first (nothing rewritten). Other reasons: since now.
    first_at = waiting.unplaced_at
    matching.run_matching(burnley, today=TODAY + timedelta(days=1))
    db.session.expire_all()
    waiting = db.session.get(type(unplaced), unplaced.id)
    assert (waiting.unplaced_reasons, waiting.unplaced_at) == (
        "no offer of that type (Workplace visit) in the area or open to all areas", first_at)
    waiting.wanted_types = ["mentoring"]
    db.session.commit()
    version, updated_at = waiting.version, waiting.updated_at
    matching.run_matching(burnley, today=TODAY + timedelta(days=2))
    db.session.expire_all()
    waiting = db.session.get(type(unplaced), unplaced.id)
    assert waiting.unplaced_reasons == "no offer of that type (Mentoring) in the area or open to all areas"
    assert waiting.unplaced_at > first_at
    assert (waiting.version, waiting.updated_at) == (version, updated_at)
    assert db.session.get(type(elsewhere), elsewhere.id).unplaced_reasons == "left from before"

    make_offer(make_provider(burnley), type="mentoring", sessions=2)
    db.session.commit()
    matching.run_matching(burnley, today=TODAY + timedelta(days=3))

    db.session.expire_all()
    assert db.session.get(type(unplaced), unplaced.id).unplaced_reasons is None
    assert "Not placed in full by matching" not in client.get(f"/requests/{unplaced.id}").get_data(as_text=True)


def test_a_run_that_stored_many_proposals_brings_the_planners_statistics_up_to_date(app):
    """On PostgreSQL a run that stored 1,000 new proposals or more ANALYZEs `matches` before it commits: a second run
    straight after would otherwise plan for the table as it was before the first (bench/README.md, session 21)."""
    burnley, _, school, provider = _world()
    offer = make_offer(provider)
    for _ in range(3):
        db.session.add(Match(offer_id=offer.id, request_id=make_request(school).id, area_id=burnley.id,
                             allocation=5, status=MatchStatus.PROPOSED, origin=MatchOrigin.ENGINE))
    db.session.commit()
    postgres = db.engine.dialect.name == "postgresql"

    def estimated_rows():
        return db.session.scalar(select(func.max(sa_text("reltuples"))).select_from(sa_text("pg_class"))
                                 .where(sa_text("relname = 'matches' AND relnamespace = "
                                                "to_regnamespace(current_schema())::oid")))

    before = estimated_rows() if postgres else None
    db.session.info[matching_store._INSERTED] = matching_store.ANALYZE_AFTER - 1  # too few: no ANALYZE
    matching_store.refresh_statistics()
    assert matching_store._INSERTED not in db.session.info
    if postgres:
        assert estimated_rows() == before and before != 3
    db.session.info[matching_store._INSERTED] = matching_store.ANALYZE_AFTER
    matching_store.refresh_statistics()  # on SQLite nothing to do, and nothing fails
    if postgres:
        assert estimated_rows() == 3
    db.session.rollback()


def test_running_twice_proposes_the_same(app):
    burnley, _, school, provider = _world()
    make_offer(provider)
    make_offer(make_provider(burnley), sessions=3)
    make_request(school)
    for _ in range(2):
        make_request(make_school(burnley))
    db.session.commit()

    first, _ = matching.run_matching(burnley)
    second, stored = matching.run_matching(burnley)

    assert first.proposals == second.proposals and stored == len(second.proposals) > 0
    assert len([m for m in _engine_matches() if m.status == MatchStatus.PROPOSED]) == stored


def test_dry_run_stores_nothing(app):
    burnley, _, school, provider = _world()
    make_offer(provider)
    make_request(school)
    db.session.commit()

    result, stored = matching.run_matching(burnley, dry_run=True)

    assert stored == 0 and len(result.proposals) == 1
    assert db.session.scalar(select(func.count()).select_from(Match)) == 0
    assert db.session.scalar(select(func.count()).select_from(MatchEvent)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_a_run_never_promises_more_than_the_places_left(app):
    burnley, _, _, provider = _world()
    small = make_offer(provider, sessions=2, per_session=30)
    _held_match(small, make_request(make_school(burnley)), 30)  # 30 of 60 already taken
    roomy = make_offer(make_provider(burnley), type="work_experience", sessions=1, per_session=1, capacity=5,
                       placement_days=5)
    for _ in range(6):
        school = make_school(burnley)
        make_request(school, pupils=30)
        make_request(school, wanted_types=("work_experience",), pupils=2)
    db.session.commit()

    result, stored = matching.run_matching(burnley)

    assert stored == len(result.proposals) > 0
    promised: dict[int, int] = {}
    for match in _engine_matches():
        promised[match.offer_id] = promised.get(match.offer_id, 0) + match.allocation
    for offer in db.session.scalars(select(Offer)):
        assert offer.allocated + promised.get(offer.id, 0) <= offer.capacity
    assert promised == {small.id: 30, roomy.id: 5}
    assert result.unmatched  # six schools asked for more than there is


# --- flask match ----------------------------------------------------------------------------------------------

def test_export_then_solve_gives_the_same_proposals_as_run(app, runner, tmp_path):
    burnley, preston, school, provider = _world()
    make_offer(provider)
    make_offer(make_provider(burnley, sectors=("health",)), sector="health", sessions=3)
    make_offer(make_provider(preston), delivery="virtual", open_to_all_areas=True)
    make_request(school, sectors=["health"])
    for _ in range(3):
        make_request(make_school(burnley))
    db.session.commit()

    exported = runner.invoke(args=["match", "export", "--area", "Burnley"])
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output)["format"] == "encounters.matching.instance"
    path = tmp_path / "instance.json"
    path.write_text(exported.output, encoding="utf-8")
    solved = runner.invoke(args=["match", "solve", str(path), "--json"])
    assert solved.exit_code == 0, solved.output
    ran = runner.invoke(args=["match", "run", "--area", "Burnley", "--json"])
    assert ran.exit_code == 0, ran.output

    offline, online = json.loads(solved.output), json.loads(ran.output)
    assert len(online["proposals"]) >= 4
    assert offline["proposals"] == online["proposals"] and offline["unmatched"] == online["unmatched"]
    stored = sorted((m.request_id, m.offer_id, m.allocation) for m in _engine_matches())
    assert stored == sorted((p["request_id"], p["offer_id"], p["allocation"]) for p in online["proposals"])


def test_run_prints_a_summary_and_dry_run_says_so(app, runner):
    burnley, _, school, provider = _world()
    offer = make_offer(provider)
    make_request(school)
    make_request(make_school(burnley), wanted_types=("mentoring",))  # no mentoring offered
    db.session.commit()

    dry = runner.invoke(args=["match", "run", "--area", "Burnley", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "1 proposals, 30 of 60" in dry.output and "Dry run: nothing stored." in dry.output
    assert "1 requests not placed in full" in dry.output and "no offer of that type" in dry.output.lower()
    assert _engine_matches() == []

    wet = runner.invoke(args=["match", "run", "--area", "Burnley"])
    assert wet.exit_code == 0, wet.output
    assert "Stored 1 proposals." in wet.output
    assert [m.offer_id for m in _engine_matches()] == [offer.id]


def test_unknown_area_and_bad_instance_file_are_refused(app, runner, tmp_path):
    make_area("Burnley")
    db.session.commit()
    for args in (["match", "run", "--area", "Atlantis"], ["match", "export", "--area", "Atlantis"]):
        result = runner.invoke(args=args)
        assert result.exit_code != 0
        assert "There is no area called 'Atlantis'." in result.output
    path = tmp_path / "broken.json"
    path.write_text('{"format": "something else"}', encoding="utf-8")
    result = runner.invoke(args=["match", "solve", str(path)])
    assert result.exit_code != 0 and "not an encounters.matching.instance document" in result.output
    assert _engine_matches() == []


def test_an_area_with_nothing_to_match_stores_nothing_and_says_so(app, runner):
    burnley, _, _, provider = _world()
    make_offer(provider)
    db.session.commit()

    result, stored = matching.run_matching(burnley)

    assert (result.proposals, result.unmatched, stored) == ((), (), 0)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "matching.run", AuditEvent.area_id == burnley.id)) == 1
    summary = runner.invoke(args=["match", "run", "--area", "Burnley", "--dry-run"])
    assert summary.exit_code == 0 and "0 proposals, 0 of 0" in summary.output


# --- several areas at once --------------------------------------------------------------------------------------

def _three_areas():
    """Three areas with a few schools, providers and requests each, and a virtual offer open to all areas."""
    areas = [make_area(name) for name in ("Burnley", "Preston", "Lancaster")]
    for n, area in enumerate(areas):
        provider = make_provider(area)
        make_offer(provider, sessions=2 + n)
        make_offer(make_provider(area), type="mentoring", year_groups=(10, 11))
        for years in ((9, 10), (10, 11), (9,)):
            make_request(make_school(area), year_groups=years, wanted_types=("careers_talk", "mentoring"))
    make_offer(make_provider(areas[0]), delivery="virtual", open_to_all_areas=True, sessions=3)
    db.session.commit()
    return areas


def _proposed():
    return sorted((m.area_id, m.request_id, m.offer_id, m.allocation, m.score, m.reasons)
                  for m in _engine_matches() if m.status == MatchStatus.PROPOSED)


def test_several_areas_solved_side_by_side_store_what_one_by_one_would(app):
    areas = _three_areas()
    one_by_one = [matching.run_matching(area) for area in areas]
    stored_one_by_one = _proposed()
    assert len(stored_one_by_one) >= 9 and {row[0] for row in stored_one_by_one} == {a.id for a in areas}

    together = matching.run_areas(areas, processes=2)

    assert [result.proposals for result, _ in together] == [result.proposals for result, _ in one_by_one]
    assert [result.unmatched for result, _ in together] == [result.unmatched for result, _ in one_by_one]
    assert [stored for _, stored in together] == [stored for _, stored in one_by_one]
    assert _proposed() == stored_one_by_one  # the same proposals: kept as they were
    assert [m for m in _engine_matches() if m.status != MatchStatus.PROPOSED] == []
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "matching.run")) == 6


def test_areas_are_solved_in_forked_processes_at_most_so_many_at_a_time_and_in_order(app, monkeypatch):
    areas = _three_areas()
    expected = [solve(matching.build_instance(area, today=TODAY)) for area in areas]
    # Each result comes back with the id of the process that solved it; count the solvers started, not collected.
    monkeypatch.setattr(matching, "solve", lambda instance: (os.getpid(), solve(instance)))
    outstanding, most = [0], [0]
    real_init, real_result = matching._Solver.__init__, matching._Solver.result

    def started(self, instance):
        real_init(self, instance)
        outstanding[0] += 1
        most[0] = max(most[0], outstanding[0])

    def collected(self):
        outstanding[0] -= 1
        return real_result(self)

    monkeypatch.setattr(matching._Solver, "__init__", started)
    monkeypatch.setattr(matching._Solver, "result", collected)

    seen = list(matching.solved_in_turn(areas, today=TODAY, processes=2))

    assert [area for area, _ in seen] == areas
    assert [r.proposals for _, (_, r) in seen] == [r.proposals for r in expected]
    assert [r.totals for _, (_, r) in seen] == [r.totals for r in expected]
    pids = [pid for _, (pid, _) in seen]
    assert os.getpid() not in pids and len(set(pids)) == 3  # a forked process for each area
    assert most[0] == 2 and outstanding[0] == 0  # never more than two at a time, all collected
    assert multiprocessing.active_children() == []
    ((_, (pid, only)),) = matching.solved_in_turn(areas[:1], today=TODAY, processes=2)  # one area: solved here
    assert pid == os.getpid() and only.proposals == expected[0].proposals


def test_a_solver_process_that_fails_fails_the_run_and_stores_nothing(app, monkeypatch):
    areas = _three_areas()

    def broken(instance):
        if instance.label.startswith("Preston"):
            raise ValueError("the engine broke on Preston")
        return solve(instance)

    monkeypatch.setattr(matching, "solve", broken)  # the forked children inherit the patched module
    with pytest.raises(ValueError, match="the engine broke on Preston"):
        matching.run_areas(areas, processes=2)
    db.session.rollback()
    assert _engine_matches() == [] and multiprocessing.active_children() == []

    monkeypatch.setattr(matching, "solve", lambda instance: os._exit(3))  # a solver dies without a word
    with pytest.raises(RuntimeError, match="ended without a result"):
        matching.run_areas(areas, processes=2)
    db.session.rollback()
    assert _engine_matches() == [] and multiprocessing.active_children() == []


def test_a_dry_run_over_several_areas_stores_nothing(app):
    areas = _three_areas()
    outcomes = matching.run_areas(areas, dry_run=True, processes=2)
    assert [stored for _, stored in outcomes] == [0, 0, 0] and sum(len(r.proposals) for r, _ in outcomes) >= 9
    assert _engine_matches() == []


def test_match_run_takes_several_areas_or_all_and_refuses_neither(app, runner):
    areas = _three_areas()
    several = runner.invoke(args=["match", "run", "--area", "Preston", "--area", "Burnley"])
    assert several.exit_code == 0, several.output
    assert several.output.index("Preston:") < several.output.index("Burnley:")
    assert {m.area_id for m in _engine_matches()} == {areas[0].id, areas[1].id}

    everything = runner.invoke(args=["match", "run", "--all"])
    assert everything.exit_code == 0, everything.output
    assert [line.split(":")[0] for line in everything.output.splitlines() if " proposals, " in line] == [
        "Burnley", "Lancaster", "Preston"]
    assert {m.area_id for m in _engine_matches() if m.status == MatchStatus.PROPOSED} == {a.id for a in areas}

    for args, message in ((["match", "run"], "Give --area NAME (one or more) or --all."),
                          (["match", "run", "--all", "--area", "Burnley"], "Give --area NAME (one or more) or --all."),
                          (["match", "run", "--all", "--json"], "--json prints one area's result")):
        refused = runner.invoke(args=args)
        assert refused.exit_code != 0 and message in refused.output


def test_a_coordinator_runs_matching_from_the_queue_for_their_own_areas_only(app, client, login):
    """The "Run matching" button queues a run for the chosen area, which the worker runs and stores proposals for;
    another area is not offered or accepted."""
    from portal.vocab import Role

    burnley, preston = make_area("Burnley"), make_area("Preston")
    school = make_school(burnley)
    make_offer(make_provider(burnley))
    make_request(school)
    preston_school = make_school(preston)
    make_offer(make_provider(preston))
    make_request(preston_school)
    coordinator = make_user(Role.COORDINATOR, areas=[burnley])
    db.session.commit()
    login(coordinator)

    page = client.get("/matches").get_data(as_text=True)
    assert "Run matching" in page and ">Burnley<" in page and ">Preston<" not in page

    refused = client.post("/matches/run", data={"area_id": preston.id}, follow_redirects=True)
    assert refused.status_code == 200 and "Not a valid choice" in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Match.id))) == 0

    queued = client.post("/matches/run", data={"area_id": burnley.id}, follow_redirects=True).get_data(as_text=True)
    assert "Matching for Burnley is queued: the proposals appear here when it has run" in queued
    assert "Matching for Burnley is queued." in queued  # the page's latest run
    assert db.session.scalar(select(func.count(Match.id))) == 0  # nothing runs inside the request

    assert jobs.work(once=True) == jobs.WorkResult(done=1)  # the worker runs it
    done = client.get("/matches").get_data(as_text=True)
    assert "Matching for Burnley proposed 1 pairing" in done
    stored = db.session.scalars(select(Match)).all()
    assert [(m.origin, m.status, m.area_id, m.created_by_id) for m in stored] == [
        ("engine", "proposed", burnley.id, coordinator.id)]
