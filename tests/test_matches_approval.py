"""The coordinator's approval queue: approve (once, never past capacity), reject with a reason, change the
allocation, approve several at once; history, audit, mail, who may, and the queue's order and scope."""
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from portal.errors import InvalidState, NotAllowed, StaleEdit, ValidationFailed
from portal.extensions import db
from portal.models import AuditEvent, Match, MatchEvent, Offer, OutboxMessage, SchoolRequest, utcnow
from portal.services import matches
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user
from tests.html import table_rows

TODAY = date.today()


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def audits(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def events(match: Match) -> list[tuple[str | None, str, int | None, str | None]]:
    return [(e.from_status, e.to_status, e.actor_id, e.note) for e in db.session.scalars(
        select(MatchEvent).where(MatchEvent.match_id == match.id).order_by(MatchEvent.id))]


def queued(template: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)))


def fresh(obj):
    db.session.refresh(obj)
    return obj


def propose(offer: Offer, school, allocation: int, *, pupils: int | None = None, status: str = "proposed",
            score: float | None = None, reasons: str | None = None, origin: str = "engine", days_ago: int = 0,
            school_request: SchoolRequest | None = None) -> Match:
    """A match as the engine or a person would have proposed it (for a request of its own unless given one)."""
    school_request = school_request or make_request(school, pupils=pupils or allocation)
    match = Match(offer=offer, request=school_request, area_id=school_request.area_id, allocation=allocation,
                  status=status, origin=origin, score=score, reasons=reasons,
                  created_at=utcnow() - timedelta(days=days_ago))
    db.session.add(match)
    db.session.flush()
    return match


@pytest.fixture
def world(app):
    """Burnley: two schools (one with two careers leads), a provider with a 10-pupil offer and a contact, a
    coordinator; Preston: a school, a provider, an offer, a coordinator; an admin."""
    burnley, preston = make_area("Burnley"), make_area("Preston")
    school = make_school(burnley, name="Burnley High")
    lead = make_user(Role.CAREERS_LEAD, organisation=school, name="Lee Lead", email="lee@school.example")
    colead = make_user(Role.CAREERS_LEAD, organisation=school, name="Cora Colead", email="cora@school.example")
    abbey = make_school(burnley, name="Abbey School")
    provider = make_provider(burnley, name="Acme Engineering")
    contact = make_user(Role.PROVIDER, organisation=provider, name="Pat Provider", email="pat@acme.example")
    make_user(Role.PROVIDER, organisation=provider, email="gone@acme.example", status="disabled")
    offer = make_offer(provider, title="Engineering talk", sessions=1, per_session=10)
    preston_school = make_school(preston, name="Preston Academy")
    preston_provider = make_provider(preston, name="Preston Works")
    preston_offer = make_offer(preston_provider, title="Preston visit", sessions=1, per_session=10)
    coordinator = make_user(Role.COORDINATOR, areas=[burnley], name="Bea Burnley")
    preston_coordinator = make_user(Role.COORDINATOR, areas=[preston])
    admin = make_user(Role.ADMIN)
    db.session.commit()
    return locals()


# --- approving ---------------------------------------------------------------------------------------------------

def test_approving_takes_the_places_records_history_audits_and_mails_both_sides(client, login, world, mailbox):
    offer = world["offer"]
    match = propose(offer, world["school"], 6, pupils=10)
    db.session.commit()
    version = offer.version
    login(world["coordinator"])
    response = client.post(f"/matches/{match.id}/approve")
    assert response.status_code == 302 and response.headers["Location"].endswith("/matches")
    page = client.get("/matches").get_data(as_text=True)
    assert "Engineering talk for Burnley High is approved. We have emailed the provider and the school." in page

    assert fresh(match).status == "approved"
    assert fresh(offer).allocated == 6 and offer.version == version + 1
    assert fresh(match.request).status == "partly_matched"
    assert events(match) == [("proposed", "approved", world["coordinator"].id, None)]
    [event] = audits("match.approve")
    assert event.actor_id == world["coordinator"].id and event.object_id == match.id
    assert event.area_id == world["burnley"].id and event.ip == "127.0.0.1"
    assert "6 of 10 now allocated" in event.detail

    messages = mailbox()
    assert sorted(m["To"] for m in messages) == ["cora@school.example", "lee@school.example", "pat@acme.example"]
    by_to = {m["To"]: text_of(m) for m in messages}
    assert "approved \"Engineering talk\"" in by_to["pat@acme.example"]
    assert f"/offers/{offer.id}" in by_to["pat@acme.example"]
    assert f"/requests/{match.request_id}" in by_to["lee@school.example"]
    assert "How many: 6 pupils" in by_to["lee@school.example"]
    assert all(m["Subject"] == "Approved: Engineering talk for Burnley High" for m in messages)


@pytest.mark.parametrize("decide", ["approve", "reject"])
def test_a_decision_reads_who_to_mail_before_it_takes_the_write_lock(client, login, world, decide):
    """Both sides' people and the organisations' names are read before the write transaction begins: on SQLite its
    lock is the whole database's, and every other decision waits while it is held. Both sides are still mailed."""
    from sqlalchemy import event

    from portal.services.db_locks import WRITE_INTENT

    match = propose(world["offer"], world["school"], 6, pupils=10)
    db.session.commit()
    login(world["coordinator"])
    locked: list[str] = []
    holding = {"now": False}

    def begin(conn):
        holding["now"] = bool(conn.get_execution_options().get(WRITE_INTENT))

    def statement(conn, cursor, text, *args):
        if holding["now"]:
            locked.append(text)

    def end(conn):
        holding["now"] = False

    listeners = [("begin", begin), ("before_cursor_execute", statement), ("commit", end), ("rollback", end)]
    for name, listener in listeners:
        event.listen(db.engine, name, listener)
    try:
        data = {"reason": "The dates no longer suit the school."} if decide == "reject" else {}
        assert client.post(f"/matches/{match.id}/{decide}", data=data).status_code == 302
    finally:
        for name, listener in listeners:
            event.remove(db.engine, name, listener)
    assert any("UPDATE matches" in text for text in locked)  # the decision itself was under the lock
    assert not [text for text in locked if "FROM users" in text or "FROM organisations" in text]
    assert fresh(match).status == ("approved" if decide == "approve" else "rejected")
    template = "match_approved" if decide == "approve" else "match_rejected"
    assert sorted(m.recipient for m in queued(template)) == ["cora@school.example", "lee@school.example",
                                                             "pat@acme.example"]
    assert {m.subject.split(" for ")[-1] for m in queued(template)} == {"Burnley High"}


def test_approving_the_whole_request_marks_it_matched(world):
    match = propose(world["offer"], world["school"], 10)
    db.session.commit()
    outcome = matches.approve_match(match, by=world["coordinator"])
    assert outcome.already is False and outcome.match is match
    assert fresh(match.request).status == "matched" and fresh(world["offer"]).places_left == 0


def test_approving_twice_is_idempotent(client, login, world):
    offer = world["offer"]
    match = propose(offer, world["school"], 4)
    db.session.commit()
    assert matches.approve_match(match, by=world["coordinator"]).already is False
    again = matches.approve_match(match, by=world["admin"])
    assert again.already is True
    assert fresh(offer).allocated == 4
    assert len(events(match)) == 1 and len(audits("match.approve")) == 1
    assert len(queued("match_approved")) == 3

    login(world["coordinator"])
    page = client.post(f"/matches/{match.id}/approve", follow_redirects=True).get_data(as_text=True)
    assert "Engineering talk for Burnley High is already approved." in page
    assert fresh(offer).allocated == 4


def test_a_full_offer_is_refused_with_the_places_left_and_nothing_changes(client, login, world):
    offer = world["offer"]
    first = propose(offer, world["school"], 8)
    second = propose(offer, world["abbey"], 5)
    db.session.commit()
    matches.approve_match(first, by=world["coordinator"])
    version = fresh(offer).version
    with pytest.raises(matches.OfferFull) as refused:
        matches.approve_match(second, by=world["coordinator"])
    assert refused.value.message == "This offer is full: only 2 pupils left, and this match is for 5."
    assert refused.value.short == "offer full"
    assert fresh(second).status == "proposed" and events(second) == []
    assert fresh(offer).allocated == 8 and offer.version == version
    assert fresh(second.request).status == "open"
    assert len(audits("match.approve")) == 1 and len(queued("match_approved")) == 3

    login(world["coordinator"])
    response = client.post(f"/matches/{second.id}/approve")
    assert response.status_code == 302
    page = client.get("/matches").get_data(as_text=True)
    assert "Engineering talk for Abbey School was not approved. This offer is full: only 2 pupils left" in page
    assert fresh(second).status == "proposed"


def test_an_offer_with_nothing_left_says_so(world):
    offer = world["offer"]
    first = propose(offer, world["school"], 10)
    second = propose(offer, world["abbey"], 1)
    db.session.commit()
    matches.approve_match(first, by=world["coordinator"])
    with pytest.raises(matches.OfferFull, match=r"This offer is full: no pupils left\."):
        matches.approve_match(second, by=world["coordinator"])


def test_the_check_constraint_is_the_last_line_of_defence(world, monkeypatch):
    """Were the conditional UPDATE's capacity test ever lost, the database's CHECK still refuses, as "full"."""
    offer = world["offer"]
    first = propose(offer, world["school"], 8)
    second = propose(offer, world["abbey"], 5)
    db.session.commit()
    matches.approve_match(first, by=world["coordinator"])
    monkeypatch.setattr(matches, "_room_for", lambda allocation: sa.true())
    with pytest.raises(matches.OfferFull, match="only 2 pupils left"):
        matches.approve_match(second, by=world["coordinator"])
    assert fresh(second).status == "proposed" and fresh(offer).allocated == 8 and events(second) == []


@pytest.mark.parametrize("status", ["rejected", "cancelled", "expired", "declined"])
def test_a_decided_match_cannot_be_approved(world, status):
    match = propose(world["offer"], world["school"], 3, status=status)
    db.session.commit()
    with pytest.raises(matches.NotApprovable, match="so it cannot be approved"):
        matches.approve_match(match, by=world["coordinator"])
    assert fresh(match).status == status and fresh(world["offer"]).allocated == 0


def test_a_paused_offer_takes_no_approvals(world):
    offer = world["offer"]
    match = propose(offer, world["school"], 3)
    offer.status = "paused"
    db.session.commit()
    with pytest.raises(matches.NotApprovable, match="This offer is paused"):
        matches.approve_match(match, by=world["coordinator"])
    assert fresh(match).status == "proposed" and fresh(offer).allocated == 0


def test_an_offer_whose_dates_have_passed_takes_no_approvals(world):
    match = propose(world["offer"], world["school"], 3)
    db.session.commit()
    with pytest.raises(matches.NotApprovable, match="dates have passed"):
        matches.approve_match(match, by=world["coordinator"], today=world["offer"].ends_on + timedelta(days=1))
    assert fresh(match).status == "proposed"


def test_a_request_is_never_given_more_than_it_asked_for(world):
    school_request = make_request(world["school"], pupils=12)
    other_offer = make_offer(world["provider"], title="Second talk", sessions=1, per_session=30)
    first = propose(world["offer"], None, 8, school_request=school_request)
    second = propose(other_offer, None, 8, school_request=school_request)
    db.session.commit()
    matches.approve_match(first, by=world["coordinator"])
    with pytest.raises(matches.NotApprovable, match="The school now needs only 4 pupils: change the allocation"):
        matches.approve_match(second, by=world["coordinator"])
    assert fresh(other_offer).allocated == 0 and fresh(second).status == "proposed"


def test_a_withdrawn_request_takes_no_approvals(world):
    match = propose(world["offer"], world["school"], 3)
    match.request.status = "withdrawn"
    db.session.commit()
    with pytest.raises(matches.NotApprovable, match="The school's request is withdrawn"):
        matches.approve_match(match, by=world["coordinator"])
    assert fresh(match).status == "proposed"


# --- rejecting ---------------------------------------------------------------------------------------------------

def test_rejecting_needs_a_reason_and_mails_it_to_both_sides(client, login, world, mailbox):
    match = propose(world["offer"], world["school"], 5, reasons="Engineering, a sector the school asked for · 4.2 "
                                                                 "miles")
    db.session.commit()
    login(world["coordinator"])
    page = client.get(f"/matches/{match.id}/reject")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Reject Engineering talk for Burnley High" in html and "4.2 miles" in html and html.count("<h1") == 1

    short = client.post(f"/matches/{match.id}/reject", data={"reason": " no "})
    assert short.status_code == 200
    assert "Give a reason of 5 to 1000 characters." in short.get_data(as_text=True)
    empty = client.post(f"/matches/{match.id}/reject", data={"reason": ""}).get_data(as_text=True)
    assert "Give a reason: it is emailed to the provider and the school." in empty
    long = client.post(f"/matches/{match.id}/reject", data={"reason": "x" * 1001}).get_data(as_text=True)
    assert "Give a reason of 5 to 1000 characters." in long and "x" * 1001 in long
    assert fresh(match).status == "proposed" and queued("match_rejected") == []

    reason = "The school's dates clash with exams; please propose a later week."
    response = client.post(f"/matches/{match.id}/reject", data={"reason": reason})
    assert response.status_code == 302 and response.headers["Location"].endswith("/matches")
    assert "is rejected. We have emailed the reason to both sides." in client.get("/matches").get_data(as_text=True)
    assert fresh(match).status == "rejected"
    assert events(match) == [("proposed", "rejected", world["coordinator"].id, reason)]
    [event] = audits("match.reject")
    assert event.area_id == world["burnley"].id and reason in event.detail
    assert fresh(world["offer"]).allocated == 0
    messages = mailbox()
    assert sorted(m["To"] for m in messages) == ["cora@school.example", "lee@school.example", "pat@acme.example"]
    assert all(reason in text_of(m) for m in messages)
    assert all(m["Subject"] == "Not approved: Engineering talk for Burnley High" for m in messages)

    again = client.post(f"/matches/{match.id}/reject", data={"reason": reason}, follow_redirects=True)
    assert "This match is rejected: there is nothing to reject." in again.get_data(as_text=True)
    assert "there is nothing to decide here" in client.get(f"/matches/{match.id}/reject").get_data(as_text=True)
    assert len(audits("match.reject")) == 1


def test_the_service_checks_the_reason_too(world):
    match = propose(world["offer"], world["school"], 5)
    db.session.commit()
    with pytest.raises(ValidationFailed) as error:
        matches.reject_match(match, by=world["coordinator"], reason="   ok   ")
    assert error.value.field == "reason"
    assert fresh(match).status == "proposed"


def test_an_approved_match_cannot_be_rejected_here(world):
    match = propose(world["offer"], world["school"], 5)
    db.session.commit()
    matches.approve_match(match, by=world["coordinator"])
    with pytest.raises(InvalidState, match=r"This match is approved: there is nothing to reject\."):
        matches.reject_match(match, by=world["coordinator"], reason="Changed my mind about it")
    assert fresh(match).status == "approved" and fresh(world["offer"]).allocated == 5


# --- changing the allocation ----------------------------------------------------------------------------------------

def test_the_allocation_stays_within_what_the_school_needs_and_the_offer_has(client, login, world):
    offer = world["offer"]  # 10 places
    school_request = make_request(world["school"], pupils=14)
    match = propose(offer, None, 5, school_request=school_request)
    db.session.commit()
    login(world["coordinator"])
    page = client.get(f"/matches/{match.id}/allocation").get_data(as_text=True)
    assert "The school still needs 14 pupils and the offer has 10 pupils left: enter 1 to 10." in page
    assert 'value="5"' in page

    too_many = client.post(f"/matches/{match.id}/allocation", data={"allocation": "11", "expected": "5"})
    assert too_many.status_code == 200
    assert "enter 1 to 10" in too_many.get_data(as_text=True) and 'value="11"' in too_many.get_data(as_text=True)
    zero = client.post(f"/matches/{match.id}/allocation", data={"allocation": "0", "expected": "5"})
    assert "Enter a whole number of 1 or more." in zero.get_data(as_text=True)
    words = client.post(f"/matches/{match.id}/allocation", data={"allocation": "lots", "expected": "5"})
    assert words.status_code == 200 and "Enter a whole number" in words.get_data(as_text=True)
    assert fresh(match).allocation == 5

    response = client.post(f"/matches/{match.id}/allocation", data={"allocation": "9", "expected": "5"})
    assert response.status_code == 302
    assert "Engineering talk for Burnley High is now for 9 pupils." in client.get("/matches").get_data(as_text=True)
    assert fresh(match).allocation == 9 and match.status == "proposed"
    assert events(match) == [("proposed", "proposed", world["coordinator"].id, "allocation changed from 5 to 9")]
    [event] = audits("match.allocation_change")
    assert event.area_id == world["burnley"].id and event.detail == "from 5 to 9"
    assert fresh(offer).allocated == 0  # only approval takes places


def test_the_allocation_is_bounded_by_what_others_already_hold(world):
    school_request = make_request(world["school"], pupils=12)
    big = make_offer(world["provider"], title="Big talk", sessions=1, per_session=50)
    held = propose(big, None, 9, school_request=school_request)
    match = propose(world["offer"], None, 2, school_request=school_request)
    db.session.commit()
    matches.approve_match(held, by=world["coordinator"])
    assert matches.allocation_limit(match).most == 3
    with pytest.raises(ValidationFailed, match="The school still needs 3 pupils") as error:
        matches.change_allocation(match, 4, by=world["coordinator"], expected=2)
    assert error.value.field == "allocation"
    matches.change_allocation(match, 3, by=world["coordinator"], expected=2)
    assert fresh(match).allocation == 3


def test_someone_elses_change_of_allocation_is_reported_not_overwritten(client, login, world):
    match = propose(world["offer"], world["school"], 5, pupils=10)
    db.session.commit()
    matches.change_allocation(match, 6, by=world["admin"], expected=5)
    with pytest.raises(StaleEdit):
        matches.change_allocation(match, 7, by=world["coordinator"], expected=5)
    login(world["coordinator"])
    response = client.post(f"/matches/{match.id}/allocation", data={"allocation": "7", "expected": "5"})
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Someone else changed this allocation to 6 while you were editing." in html
    assert 'value="7"' in html and 'name="expected" type="hidden" value="6"' in html
    assert fresh(match).allocation == 6
    assert client.post(f"/matches/{match.id}/allocation", data={"allocation": "7", "expected": "6"}).status_code == 302
    assert fresh(match).allocation == 7


def test_only_a_proposed_match_changes_its_allocation(client, login, world):
    match = propose(world["offer"], world["school"], 5)
    db.session.commit()
    matches.approve_match(match, by=world["coordinator"])
    with pytest.raises(InvalidState, match="only be changed while it is proposed"):
        matches.change_allocation(match, 4, by=world["coordinator"])
    login(world["coordinator"])
    assert "only be changed while it is proposed" in client.get(f"/matches/{match.id}/allocation").get_data(
        as_text=True)
    response = client.post(f"/matches/{match.id}/allocation", data={"allocation": "4", "expected": "5"},
                           follow_redirects=True)
    assert "only be changed while it is proposed" in response.get_data(as_text=True)
    assert fresh(match).allocation == 5 and fresh(world["offer"]).allocated == 5


def test_an_unchanged_allocation_writes_nothing(world):
    match = propose(world["offer"], world["school"], 5)
    db.session.commit()
    matches.change_allocation(match, 5, by=world["coordinator"], expected=5)
    assert events(match) == [] and audits("match.allocation_change") == []


# --- approving several ---------------------------------------------------------------------------------------------

def test_approving_several_approves_each_on_its_own_and_sums_up(client, login, world):
    offer = world["offer"]
    offer.capacity = 3
    done = propose(offer, world["abbey"], 1, status="proposed")
    waiting = [propose(offer, world["school"], 1) for _ in range(5)]
    preston = propose(world["preston_offer"], world["preston_school"], 1)
    db.session.commit()
    matches.approve_match(done, by=world["coordinator"])
    login(world["coordinator"])
    ids = [str(m.id) for m in (done, *waiting, preston)]
    response = client.post("/matches/approve?sort=oldest", data={"match_ids": ids})
    assert response.status_code == 302 and response.headers["Location"].endswith("/matches?sort=oldest")
    page = client.get("/matches").get_data(as_text=True)
    assert ("2 approved; 1 already approved; 4 could not be: offer full (3), "
            "not one of your area&#39;s matches (1).") in page
    assert [fresh(m).status for m in waiting] == ["approved", "approved", "proposed", "proposed", "proposed"]
    assert fresh(offer).allocated == 3 and fresh(preston).status == "proposed"
    assert len(audits("match.approve")) == 3


def test_the_summary_reads_plainly():
    summary = matches.ApprovalSummary(approved=[1, 2, 3])
    summary.refused["offer full"] += 2
    assert summary.message == "3 approved; 2 could not be: offer full"
    assert matches.ApprovalSummary().message == "0 approved"


def test_approving_several_needs_a_selection(client, login, world):
    login(world["coordinator"])
    page = client.post("/matches/approve", data={}, follow_redirects=True).get_data(as_text=True)
    assert "Select at least one match to approve." in page
    bad = client.post("/matches/approve", data={"match_ids": ["1", "abc"]}, follow_redirects=True)
    assert bad.status_code == 200 and "Select proposed matches from the list." in bad.get_data(as_text=True)


# --- who may ---------------------------------------------------------------------------------------------------------

def test_only_the_areas_coordinators_and_admins_decide(client, login, world):
    match = propose(world["offer"], world["school"], 2)
    db.session.commit()
    for user in (world["preston_coordinator"], world["contact"], world["lead"]):
        login(user)
        assert client.post(f"/matches/{match.id}/approve").status_code == 403
        assert client.get(f"/matches/{match.id}/reject").status_code == 403
        assert client.post(f"/matches/{match.id}/reject", data={"reason": "Not for you"}).status_code == 403
        assert client.get(f"/matches/{match.id}/allocation").status_code == 403
        assert client.post(f"/matches/{match.id}/allocation", data={"allocation": "1"}).status_code == 403
    for user in (world["contact"], world["lead"]):
        login(user)
        assert client.post("/matches/approve", data={"match_ids": [str(match.id)]}).status_code == 403
        assert client.get("/matches").status_code == 403
    login(world["preston_coordinator"])
    client.post("/matches/approve", data={"match_ids": [str(match.id)]})
    assert fresh(match).status == "proposed" and fresh(world["offer"]).allocated == 0
    assert events(match) == [] and audits("match.approve") == []

    with pytest.raises(NotAllowed):
        matches.approve_match(match, by=world["preston_coordinator"])
    with pytest.raises(NotAllowed):
        matches.reject_match(match, by=world["lead"], reason="I would rather not")
    with pytest.raises(NotAllowed):
        matches.change_allocation(match, 1, by=world["contact"])

    login(world["admin"])
    assert client.post(f"/matches/{match.id}/approve").status_code == 302
    assert fresh(match).status == "approved"
    assert client.post("/matches/999999/approve").status_code == 404


def test_a_coordinator_decides_on_an_offer_from_another_area_open_to_all(world):
    """The match belongs to the school's area: Burnley's coordinator decides on a Preston offer open to all."""
    preston_offer = world["preston_offer"]
    preston_offer.open_to_all_areas = True
    match = propose(preston_offer, world["school"], 2)
    db.session.commit()
    with pytest.raises(NotAllowed):
        matches.approve_match(match, by=world["preston_coordinator"])
    assert matches.approve_match(match, by=world["coordinator"]).already is False
    assert fresh(preston_offer).allocated == 2


# --- the queue -------------------------------------------------------------------------------------------------------

def rows(client, query: str = "") -> list[list[str]]:
    response = client.get(f"/matches{query}")
    assert response.status_code == 200
    return table_rows(response)


def test_the_queue_shows_each_proposal_with_its_reasons_and_value(client, login, world):
    propose(world["offer"], world["school"], 5, score=471.6, origin="engine",
            reasons="Engineering, a sector the school asked for · 4.2 miles · Years 9–10 eligible")
    propose(world["offer"], world["abbey"], 3, origin="school_asked", reasons="Requested directly by Abbey School")
    propose(world["offer"], world["school"], 2, status="approved")
    db.session.commit()
    login(world["coordinator"])
    found = rows(client, "?sort=value")
    assert [row[:8] for row in found] == [
        ["Engineering talk", "Acme Engineering", "Burnley High", "5 pupils", "Proposed by matching",
         f"{TODAY.day} {TODAY:%b %Y}", "472",
         "Engineering, a sector the school asked for4.2 milesYears 9–10 eligible"],
        ["Engineering talk", "Acme Engineering", "Abbey School", "3 pupils", "School requested the offer",
         f"{TODAY.day} {TODAY:%b %Y}", "Not scored", "Requested directly by Abbey School"],
    ]
    html = client.get("/matches").get_data(as_text=True)
    assert html.count('form="approve-selected"') == 2 and "Approve selected" in html
    assert html.count("<h1") == 1 and "<caption>2 proposed matches, newest first</caption>" in html


def test_the_queue_says_which_engine_proposals_a_coordinator_has_taken_in_hand(client, login, world):
    engine = propose(world["offer"], world["school"], 5, origin="engine")
    propose(world["offer"], world["abbey"], 3, origin="engine")
    db.session.commit()
    matches.change_allocation(engine, 4, by=world["coordinator"])
    login(world["coordinator"])
    taken = "Proposed by matching, then changed or held by a coordinator (later matching runs leave it as it is)"
    assert sorted(row[4] for row in rows(client)) == ["Proposed by matching", taken]
    assert taken in client.get(f"/matches/{engine.id}/reject").get_data(as_text=True)


def test_the_queue_sorts_by_value_date_and_school(client, login, world):
    offer = world["offer"]
    zed = make_school(world["burnley"], name="Zed College")
    propose(offer, world["school"], 1, score=0.2, days_ago=3)
    propose(offer, zed, 2, score=None, days_ago=1)
    propose(offer, world["abbey"], 3, score=0.9, days_ago=2)
    propose(offer, world["school"], 4, score=0.5, days_ago=0)
    db.session.commit()
    login(world["coordinator"])

    def allocations(query):
        return [row[3] for row in rows(client, query)]

    assert allocations("") == ["4 pupils", "2 pupils", "3 pupils", "1 pupil"]
    assert allocations("?sort=newest") == allocations("")
    assert allocations("?sort=oldest") == ["1 pupil", "3 pupils", "2 pupils", "4 pupils"]
    assert allocations("?sort=value") == ["3 pupils", "4 pupils", "1 pupil", "2 pupils"]  # unscored last
    assert allocations("?sort=school") == ["3 pupils", "1 pupil", "4 pupils", "2 pupils"]  # Abbey, Burnley×2, Zed
    assert allocations("?sort=sideways") == allocations("")
    html = client.get("/matches?sort=school").get_data(as_text=True)
    assert "/matches/approve?sort=school" in html and "reject?sort=school" in html


def test_the_queue_pages_and_keeps_the_sort(client, login, world):
    for n in range(1, 23):
        propose(world["offer"], world["school"], n % 10 + 1, score=n / 100, days_ago=n)
    db.session.commit()
    login(world["coordinator"])
    first = client.get("/matches?sort=value").get_data(as_text=True)
    assert "page=2" in first and "sort=value" in first
    assert len(rows(client, "?sort=value")) == 20 and len(rows(client, "?sort=value&page=2")) == 2
    assert "There is no page 5" in client.get("/matches?page=5").get_data(as_text=True)
    second = client.get("/matches?sort=value&page=2").get_data(as_text=True)
    assert "/matches/approve?sort=value&amp;page=2" in second


def test_the_queue_is_scoped_to_the_coordinators_areas(client, login, world):
    propose(world["offer"], world["school"], 1)
    propose(world["preston_offer"], world["preston_school"], 2)
    db.session.commit()
    login(world["coordinator"])
    assert [row[2] for row in rows(client)] == ["Burnley High"]
    login(world["preston_coordinator"])
    assert [row[2] for row in rows(client)] == ["Preston Academy"]
    login(world["admin"])
    assert sorted(row[2] for row in rows(client)) == ["Burnley High", "Preston Academy"]


def test_an_empty_queue_says_so(client, login, world):
    login(world["coordinator"])
    html = client.get("/matches").get_data(as_text=True)
    assert "No proposed matches in your areas at the moment." in html and "Approve selected" not in html


def test_the_decision_pages_and_buttons_name_their_match(client, login, world):
    match = propose(world["offer"], world["school"], 5)
    db.session.commit()
    login(world["coordinator"])
    html = client.get("/matches").get_data(as_text=True)
    assert f'action="/matches/{match.id}/approve"' in html
    assert "Approve<span class=\"visually-hidden\"> Engineering talk for Burnley High</span>" in html
    allocation = client.get(f"/matches/{match.id}/allocation").get_data(as_text=True)
    assert allocation.count("<h1") == 1 and "Change the allocation of Engineering talk for Burnley High" in allocation


def test_the_queue_holds_only_proposed_matches(world):
    for status in ("approved", "rejected", "cancelled"):
        propose(world["offer"], world["school"], 1, status=status)
    db.session.commit()
    query = matches.queue(world["coordinator"])
    assert db.session.scalar(select(func.count()).select_from(query.subquery())) == 0
