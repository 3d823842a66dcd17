"""The coordinator's verification queue: who sees whom, approving and rejecting with a reason."""
import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import AuditEvent, OrgStatus, OutboxMessage, User, UserStatus
from portal.vocab import Role
from tests.factories import make_area, make_provider, make_school, make_user


def text_of(message) -> str:
    return message.get_body(("plain",)).get_content()


def queued(template: str) -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)))


@pytest.fixture
def world(app):
    """Two areas, a coordinator for each, and people waiting in Burnley."""
    burnley, preston = make_area("Burnley"), make_area("Preston")
    w = {
        "burnley": burnley,
        "preston": preston,
        "coordinator": make_user(Role.COORDINATOR, name="Bea Burnley", areas=[burnley]),
        "other_coordinator": make_user(Role.COORDINATOR, name="Pete Preston", areas=[preston]),
        "admin": make_user(Role.ADMIN),
    }
    new_org = make_provider(burnley, name="Newco Ltd", status=OrgStatus.PENDING)
    w["new_org"] = new_org
    w["pending"] = make_user(Role.PROVIDER, name="Nina New", organisation=new_org, status=UserStatus.PENDING)
    w["joiner"] = make_user(Role.CAREERS_LEAD, name="Jo Joiner", organisation=make_school(burnley, name="Burnley High"),
                            status=UserStatus.PENDING)
    w["unconfirmed"] = make_user(Role.PROVIDER, name="Una Unconfirmed", status=UserStatus.PENDING, confirmed=False,
                                 organisation=make_provider(burnley, status=OrgStatus.PENDING))
    w["elsewhere"] = make_user(Role.PROVIDER, name="Preston Person", status=UserStatus.PENDING,
                               organisation=make_provider(preston, status=OrgStatus.PENDING))
    w["active"] = make_user(Role.PROVIDER, name="Already Active", organisation=make_provider(burnley))
    db.session.commit()
    return w


def test_queue_shows_only_pending_confirmed_people_in_own_areas(client, login, world):
    login(world["coordinator"])
    page = client.get("/verification")
    assert page.status_code == 200
    html = page.data.decode()
    assert "Nina New" in html and "Jo Joiner" in html
    assert "Newco Ltd" in html and "New organisation" in html and "Burnley High" in html
    assert "Provider contact" in html and "Careers lead" in html
    for hidden in ("Una Unconfirmed", "Preston Person", "Already Active"):
        assert hidden not in html
    assert html.count("<h1") == 1


def test_admin_sees_every_area(client, login, world):
    login(world["admin"])
    html = client.get("/verification").data.decode()
    assert "Nina New" in html and "Preston Person" in html and "Una Unconfirmed" not in html


def test_empty_queue_says_so(client, login, world):
    login(world["other_coordinator"])
    world["elsewhere"].status = UserStatus.ACTIVE
    db.session.commit()
    assert b"Nobody is waiting for verification in your areas." in client.get("/verification").data


def test_queue_is_paginated_25_a_page(client, login, app):
    area = make_area()
    coordinator = make_user(Role.COORDINATOR, areas=[area])
    org = make_provider(area)
    for n in range(30):
        make_user(Role.PROVIDER, name=f"Waiting Person {n:02d}", organisation=org, status=UserStatus.PENDING)
    db.session.commit()
    login(coordinator)
    first = client.get("/verification").data.decode()
    second = client.get("/verification?page=2").data.decode()
    row = '<th scope="row">Waiting Person'
    assert first.count(row) == 25 and second.count(row) == 5
    assert "Waiting Person 00" in first and "Waiting Person 29" in second
    assert 'href="/verification?page=2"' in first


@pytest.mark.parametrize("who", ["anonymous", "provider", "careers_lead"])
def test_only_coordinators_and_admins_reach_verification(client, login, world, who):
    if who != "anonymous":
        login(make_user(Role(who)))
        db.session.commit()
    target = world["pending"].id
    responses = [client.get("/verification"), client.post(f"/verification/users/{target}/approve"),
                 client.get(f"/verification/users/{target}/reject"),
                 client.post(f"/verification/users/{target}/reject", data={"reason": "Not known to us"})]
    for response in responses:
        assert response.status_code == (302 if who == "anonymous" else 403)
    db.session.expire_all()
    assert world["pending"].status == UserStatus.PENDING


def test_a_coordinator_of_another_area_gets_403(client, login, world):
    login(world["other_coordinator"])
    target = world["pending"].id
    assert client.post(f"/verification/users/{target}/approve").status_code == 403
    assert client.get(f"/verification/users/{target}/reject").status_code == 403
    assert client.post(f"/verification/users/{target}/reject", data={"reason": "Not known to us"}).status_code == 403
    db.session.expire_all()
    assert world["pending"].status == UserStatus.PENDING
    assert queued("verification_approved") == [] and queued("verification_rejected") == []


def test_unknown_user_is_404(client, login, world):
    login(world["coordinator"])
    assert client.post("/verification/users/99999/approve").status_code == 404
    assert client.get("/verification/users/99999/reject").status_code == 404


def test_approve_activates_verifies_the_new_organisation_mails_and_audits(client, login, world, mailbox):
    login(world["coordinator"])
    response = client.post(f"/verification/users/{world['pending'].id}/approve", follow_redirects=True)
    assert b"Nina New and Newco Ltd are verified" in response.data
    db.session.expire_all()
    assert world["pending"].status == UserStatus.ACTIVE
    assert world["new_org"].status == OrgStatus.VERIFIED
    [message] = mailbox()
    assert message["To"] == world["pending"].email
    assert "http://localhost/login" in text_of(message)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "verification.approve"))
    assert event.actor_id == world["coordinator"].id and event.object_id == world["pending"].id
    assert event.area_id == world["burnley"].id and event.ip == "127.0.0.1"


def test_approving_twice_is_harmless(client, login, world):
    login(world["coordinator"])
    url = f"/verification/users/{world['joiner'].id}/approve"
    first = client.post(url, follow_redirects=True)
    assert b"Jo Joiner is verified" in first.data
    again = client.post(url, follow_redirects=True)
    assert b"Jo Joiner is already verified." in again.data
    assert len(queued("verification_approved")) == 1
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "verification.approve")) == 1


def test_someone_who_has_not_confirmed_their_email_cannot_be_approved(client, login, world):
    login(world["coordinator"])
    response = client.post(f"/verification/users/{world['unconfirmed'].id}/approve", follow_redirects=True)
    assert b"has not confirmed their email address yet" in response.data
    db.session.expire_all()
    assert world["unconfirmed"].status == UserStatus.PENDING


def test_reject_page_asks_for_a_reason(client, login, world):
    login(world["coordinator"])
    page = client.get(f"/verification/users/{world['pending'].id}/reject")
    assert page.status_code == 200
    assert b"Reject Nina New" in page.data and b'name="reason"' in page.data


@pytest.mark.parametrize(
    ("reason", "message"),
    [("", b"Give a reason"), ("   ", b"Give a reason"), ("Nope", b"Give a reason of 5 to 1000 characters."),
     ("x" * 1001, b"Give a reason of 5 to 1000 characters.")],
)
def test_reject_needs_a_reason_of_5_to_1000_characters(client, login, world, reason, message):
    login(world["coordinator"])
    response = client.post(f"/verification/users/{world['pending'].id}/reject", data={"reason": reason})
    assert response.status_code == 200
    assert message in response.data
    db.session.expire_all()
    assert world["pending"].status == UserStatus.PENDING
    assert queued("verification_rejected") == []


def test_reject_mails_the_reason_rejects_a_lone_new_organisation_and_audits(client, login, world, mailbox):
    login(world["coordinator"])
    reason = "We could not find Newco Ltd at Companies House."
    response = client.post(f"/verification/users/{world['pending'].id}/reject", data={"reason": reason})
    assert response.status_code == 302 and response.headers["Location"].endswith("/verification")
    db.session.expire_all()
    assert world["pending"].status == UserStatus.REJECTED and world["pending"].status_reason == reason
    assert world["new_org"].status == OrgStatus.REJECTED and world["new_org"].status_reason == reason
    [message] = mailbox()
    assert message["To"] == world["pending"].email
    assert reason in text_of(message)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "verification.reject"))
    assert event.actor_id == world["coordinator"].id and event.area_id == world["burnley"].id
    assert reason in event.detail


def test_rejecting_a_joiner_leaves_their_verified_school_alone(client, login, world):
    login(world["coordinator"])
    client.post(f"/verification/users/{world['joiner'].id}/reject", data={"reason": "Not on the staff list."})
    db.session.expire_all()
    assert world["joiner"].status == UserStatus.REJECTED
    assert world["joiner"].organisation.status == OrgStatus.VERIFIED


def test_a_pending_organisation_with_an_active_member_is_not_rejected(client, login, world):
    make_user(Role.PROVIDER, organisation=world["new_org"], status=UserStatus.ACTIVE)
    db.session.commit()
    login(world["coordinator"])
    client.post(f"/verification/users/{world['pending'].id}/reject", data={"reason": "Not known to them."})
    db.session.expire_all()
    assert world["pending"].status == UserStatus.REJECTED
    assert world["new_org"].status == OrgStatus.PENDING


def test_a_decided_person_cannot_be_rejected_again(client, login, world):
    login(world["coordinator"])
    url = f"/verification/users/{world['active'].id}/reject"
    assert b"there is nothing to decide here" in client.get(url).data
    response = client.post(url, data={"reason": "Changed my mind."}, follow_redirects=True)
    assert b"already active" in response.data
    db.session.expire_all()
    assert world["active"].status == UserStatus.ACTIVE


def test_rejected_person_disappears_from_the_queue(client, login, world):
    login(world["coordinator"])
    client.post(f"/verification/users/{world['joiner'].id}/reject", data={"reason": "Not on the staff list."})
    html = client.get("/verification").data.decode()
    assert "Jo Joiner&#39;s sign-up was rejected" in html  # the flash, once
    assert '<th scope="row">Jo Joiner' not in html and '<th scope="row">Nina New' in html
    assert db.session.scalar(select(func.count()).select_from(User).where(User.status == UserStatus.REJECTED)) == 1
