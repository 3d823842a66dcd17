"""Sign-up pages: providers (new or joining an organisation), careers leads (found or new school), confirmation."""
import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import (
    AuditEvent,
    AuthToken,
    Organisation,
    OrgStatus,
    OutboxMessage,
    TokenPurpose,
    User,
    UserStatus,
    utcnow,
)
from portal.vocab import Role
from tests.factories import make_area, make_provider, make_school, make_user

GOOD_PASSWORD = "plum lantern orbit 42"


def outbox(template: str | None = None, recipient: str | None = None) -> list[OutboxMessage]:
    """Mail queued in the outbox (what `flask outbox send` will deliver)."""
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if template:
        query = query.where(OutboxMessage.template == template)
    if recipient:
        query = query.where(OutboxMessage.recipient == recipient)
    return list(db.session.scalars(query))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def text_of(message) -> str:
    """The plain-text part of a delivered email.message.EmailMessage."""
    return message.get_body(("plain",)).get_content()


def confirm_path(message: OutboxMessage | str) -> str:
    text = message if isinstance(message, str) else message.body_text
    match = re.search(r"http://localhost(/signup/confirm/[A-Za-z0-9_\-]+)", text)
    assert match, text
    return match.group(1)


def provider_form(area, **overrides) -> dict:
    data = {
        "name": "Ann Example",
        "email": "ann@acme.example",
        "password": GOOD_PASSWORD,
        "confirm": GOOD_PASSWORD,
        "joining": "new",
        "org_name": "Acme Engineering",
        "area_id": str(area.id),
        "provider_kind": "employer",
        "sectors": ["engineering", "digital"],
        "size_band": "medium",
        "town": "Burnley",
        "levy_payer": "y",
        "website": "https://acme.example.co.uk",
        "safeguarding_contact": "Sam Safe",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def school_form(area, **overrides) -> dict:
    data = {
        "name": "Cal Lead",
        "email": "cal@school.example",
        "password": GOOD_PASSWORD,
        "confirm": GOOD_PASSWORD,
        "school_name": "Burnley High School",
        "urn": "123456",
        "phase": "secondary",
        "area_id": str(area.id),
        "town": "Burnley",
        "year_7": "180",
        "year_8": "175",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_start_offers_both_kinds_of_account(client):
    response = client.get("/signup")
    assert response.status_code == 200
    assert b'href="/signup/provider"' in response.data
    assert b'href="/signup/careers-lead"' in response.data
    assert response.data.count(b"<h1") == 1


def test_provider_signup_with_new_organisation_leaves_both_pending(app, client):
    area = make_area("Burnley")
    db.session.commit()
    response = client.post("/signup/provider", data=provider_form(area, email="  Ann@ACME.Example "))
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/signup/check-email")
    assert b"Check your email" in client.get(response.headers["Location"]).data

    user = db.session.scalar(select(User))
    assert user.email == "ann@acme.example"
    assert user.role == Role.PROVIDER and user.status == UserStatus.PENDING and user.email_confirmed_at is None
    org = user.organisation
    assert org.status == OrgStatus.PENDING and org.name == "Acme Engineering" and org.area_id == area.id
    assert org.sector_codes == ["digital", "engineering"]
    assert org.provider_kind == "employer" and org.size_band == "medium" and org.levy_payer is True
    assert org.website == "https://acme.example.co.uk" and org.safeguarding_contact == "Sam Safe"
    assert org.town == "Burnley" and org.latitude == pytest.approx(53.79, abs=0.05)


def test_signup_mails_a_link_whose_token_is_stored_only_as_a_hash(app, client, mailbox):
    area = make_area()
    db.session.commit()
    client.post("/signup/provider", data=provider_form(area))
    [message] = mailbox()
    assert message["To"] == "ann@acme.example"
    assert message.get_body(("html",)) is not None
    raw = confirm_path(text_of(message)).rsplit("/", 1)[1]
    token = db.session.scalar(select(AuthToken))
    assert token.purpose == TokenPurpose.CONFIRM_EMAIL
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in token.token_hash
    assert timedelta(days=2) - timedelta(minutes=1) < token.expires_at - utcnow() <= timedelta(days=2)


def test_provider_can_join_an_existing_verified_organisation(app, client):
    area = make_area()
    org = make_provider(area, name="Existing Ltd")
    db.session.commit()
    data = provider_form(area, joining="existing", organisation_id=str(org.id),
                         org_name="", sectors=[], town="", area_id="", website="not checked")
    response = client.post("/signup/provider", data=data)
    assert response.status_code == 302
    user = db.session.scalar(select(User))
    assert user.organisation_id == org.id and user.status == UserStatus.PENDING
    assert count(Organisation) == 1


def test_provider_cannot_join_an_unverified_organisation(app, client):
    area = make_area()
    pending = make_provider(area, name="Pending Ltd", status=OrgStatus.PENDING)
    db.session.commit()
    response = client.post("/signup/provider", data=provider_form(area, joining="existing",
                                                                 organisation_id=str(pending.id)))
    assert response.status_code == 200
    assert b"Not a valid choice" in response.data
    assert count(User) == 0


def test_joining_needs_an_organisation_chosen(app, client):
    area = make_area()
    make_provider(area)
    db.session.commit()
    response = client.post("/signup/provider", data=provider_form(area, joining="existing", organisation_id=""))
    assert b"Choose the organisation to join." in response.data
    assert count(User) == 0


def test_organisation_list_can_be_narrowed_by_name_without_javascript(app, client):
    area = make_area()
    make_provider(area, name="Acme Aerospace")
    make_provider(area, name="Brightsparks Digital")
    make_provider(area, name="Unverified Acme", status=OrgStatus.PENDING)
    db.session.commit()
    everything = client.get("/signup/provider").data
    assert b"Acme Aerospace" in everything and b"Brightsparks Digital" in everything
    assert b"Unverified Acme" not in everything
    narrowed = client.get("/signup/provider?q=acme").data
    assert b"Acme Aerospace" in narrowed and b"Brightsparks Digital" not in narrowed
    assert b'action="/signup/provider?q=acme"' in narrowed


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"password": "short pw 1", "confirm": "short pw 1"}, b"Use at least 12 characters."),
        ({"password": "password1234", "confirm": "password1234"}, b"too common"),
        ({"confirm": "something else entirely"}, b"The passwords do not match."),
        ({"password": "ann example rules", "confirm": "ann example rules"}, b"Do not use your name"),
        ({"name": ""}, b"Enter your name."),
        ({"email": "not-an-email"}, b"Enter an email address"),
        ({"joining": None}, b"Choose whether to join"),
        ({"org_name": ""}, b"Enter the organisation&#39;s name."),
        ({"area_id": ""}, b"Choose the area you work in."),
        ({"provider_kind": ""}, b"Choose what kind of organisation it is."),
        ({"sectors": []}, b"Choose at least one sector."),
        ({"sectors": ["astrology"]}, b"is not a valid choice"),
        ({"size_band": ""}, b"Choose the organisation&#39;s size."),
        ({"town": ""}, b"Enter a town or village, or latitude and longitude."),
        ({"town": "Nowhereville Zzz"}, b"We could not find"),
        ({"town": "", "latitude": "53.7"}, b"Give both latitude and longitude"),
        ({"website": "javascript:alert(1)"}, b"starting with http:// or https://"),
        ({"website": "ftp://files.example.org"}, b"starting with http:// or https://"),
        ({"website": "acme"}, b"starting with http:// or https://"),
    ],
)
def test_provider_signup_validation(app, client, overrides, message):
    area = make_area()
    db.session.commit()
    response = client.post("/signup/provider", data=provider_form(area, **overrides))
    assert response.status_code == 200
    assert message in response.data
    assert b"There is a problem" in response.data
    assert count(User) == 0 and count(Organisation) == 0 and count(OutboxMessage) == 0


def test_a_failed_signup_keeps_what_was_typed_except_passwords(app, client):
    area = make_area()
    db.session.commit()
    response = client.post("/signup/provider", data=provider_form(area, sectors=[]))
    assert b'value="Acme Engineering"' in response.data
    assert b'value="ann@acme.example"' in response.data
    assert GOOD_PASSWORD.encode() not in response.data


def test_place_with_several_matches_asks_which_one(app, client):
    area = make_area()
    db.session.commit()
    response = client.post("/signup/provider", data=provider_form(area, town="Preston"))
    assert b"There are 3 places called Preston. Choose one." in response.data
    assert count(User) == 0


def test_latitude_and_longitude_can_replace_a_town(app, client):
    area = make_area()
    db.session.commit()
    client.post("/signup/provider", data=provider_form(area, town="", latitude="53.8", longitude="-2.3"))
    org = db.session.scalar(select(Organisation))
    assert (org.latitude, org.longitude, org.town) == (53.8, -2.3, None)


@pytest.mark.parametrize("email", ["ann@acme.example", "ANN@Acme.Example "])
def test_an_email_with_an_account_is_not_revealed_but_its_owner_is_told(app, client, email):
    area = make_area()
    owner = make_user(Role.PROVIDER, email="ann@acme.example")
    db.session.commit()
    response = client.post("/signup/provider", data=provider_form(area, email=email))
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/signup/check-email")
    assert count(User) == 1
    assert db.session.scalar(select(func.count(Organisation.id)).where(Organisation.name == "Acme Engineering")) == 0
    [message] = outbox(recipient=owner.email)
    assert "Someone tried to sign up" in message.subject
    assert "/signup/confirm/" not in message.body_text
    assert count(AuthToken) == 0


def test_signing_up_again_before_confirming_sends_a_fresh_link(app, client):
    area = make_area()
    db.session.commit()
    client.post("/signup/provider", data=provider_form(area))
    client.post("/signup/provider", data=provider_form(area, org_name="Acme Again"))
    _first, second = outbox("confirm_email")
    assert "signed up to Encounters again" in second.body_text
    assert count(User) == 1 and count(Organisation) == 1 and count(AuthToken) == 2
    response = client.post(confirm_path(second))
    assert response.status_code == 302
    assert db.session.scalar(select(User)).email_confirmed_at is not None


# Careers leads ------------------------------------------------------------------------------------


def test_find_school_by_part_of_the_name_or_exact_urn(app, client):
    area = make_area()
    high = make_school(area, name="Burnley High School", urn="119001")
    make_school(area, name="Padiham Primary", urn="119002", phase="primary")
    make_school(area, name="Rejected High", urn="119003", status=OrgStatus.REJECTED)
    db.session.commit()
    by_name = client.get("/signup/find-school?q=high").data
    assert b"Burnley High School" in by_name and b"Padiham Primary" not in by_name
    assert b"Rejected High" not in by_name
    assert f'href="/signup/careers-lead?school_id={high.id}"'.encode() in by_name
    by_urn = client.get("/signup/find-school?q=119002").data
    assert b"Padiham Primary" in by_urn and b"Burnley High School" not in by_urn
    assert b"Burnley High School" not in client.get("/signup/find-school?q=11900").data
    assert b"0 schools found" in client.get("/signup/find-school?q=zzzz").data
    assert b"found for" not in client.get("/signup/find-school").data


def test_find_school_treats_like_wildcards_literally(app, client):
    area = make_area()
    make_school(area, name="St Mary's")
    db.session.commit()
    assert b"0 schools found" in client.get("/signup/find-school?q=%25%25").data


def test_careers_lead_joins_a_found_school(app, client):
    area = make_area()
    school = make_school(area, name="Burnley High School")
    db.session.commit()
    page = client.get(f"/signup/careers-lead?school_id={school.id}")
    assert b"Burnley High School" in page.data and b"Register your school" not in page.data
    data = {"name": "Cal Lead", "email": "cal@school.example", "password": GOOD_PASSWORD,
            "confirm": GOOD_PASSWORD, "school_id": str(school.id)}
    response = client.post("/signup/careers-lead", data=data)
    assert response.status_code == 302
    user = db.session.scalar(select(User))
    assert user.role == Role.CAREERS_LEAD and user.organisation_id == school.id and user.status == UserStatus.PENDING
    assert count(Organisation) == 1


def test_careers_lead_with_an_unknown_school_is_sent_to_search_again(app, client):
    response = client.get("/signup/careers-lead?school_id=999")
    assert response.status_code == 302 and response.headers["Location"].endswith("/signup/find-school")


def test_careers_lead_registers_a_new_school(app, client):
    area = make_area()
    db.session.commit()
    response = client.post("/signup/careers-lead", data=school_form(area))
    assert response.status_code == 302
    user = db.session.scalar(select(User))
    school = user.organisation
    assert school.is_school and school.status == OrgStatus.PENDING
    assert (school.urn, school.phase, school.name) == ("123456", "secondary", "Burnley High School")
    assert {s.year_group: s.pupils for s in school.year_sizes} == {7: 180, 8: 175}
    assert outbox("confirm_email")[0].recipient == "cal@school.example"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"urn": "12345"}, b"A URN is exactly 6 digits"),
        ({"urn": "1234567"}, b"A URN is exactly 6 digits"),
        ({"urn": "12a456"}, b"A URN is exactly 6 digits"),
        ({"urn": ""}, b"Enter the school&#39;s URN."),
        ({"school_name": ""}, b"Enter the school&#39;s name."),
        ({"phase": ""}, b"Choose the school&#39;s phase."),
        ({"phase": "nursery"}, b"Not a valid choice"),
        ({"area_id": ""}, b"Choose the school&#39;s area."),
        ({"town": ""}, b"Enter a town or village"),
        ({"year_3": "30"}, b"A secondary school does not teach Year 3"),
        ({"year_7": "-1"}, b"Enter a whole number from 0 to 5000."),
        ({"year_7": "lots"}, b"Enter a whole number from 0 to"),
        ({"password": "abc"}, b"Use at least 12 characters."),
    ],
)
def test_new_school_validation(app, client, overrides, message):
    area = make_area()
    db.session.commit()
    response = client.post("/signup/careers-lead", data=school_form(area, **overrides))
    assert response.status_code == 200
    assert message in response.data
    assert count(User) == 0 and count(Organisation) == 0


def test_a_registered_urn_points_to_joining_that_school(app, client):
    area = make_area()
    make_school(area, name="Already Here Academy", urn="123456")
    db.session.commit()
    response = client.post("/signup/careers-lead", data=school_form(area))
    assert response.status_code == 200
    assert b"Already Here Academy (URN 123456) is already registered. Find it and join it instead." in response.data
    assert count(User) == 0 and count(Organisation) == 1 and count(OutboxMessage) == 0


def test_primary_school_takes_reception_counts(app, client):
    area = make_area()
    db.session.commit()
    client.post("/signup/careers-lead", data=school_form(area, phase="primary", year_7=None, year_8=None,
                                                         year_0="30", year_6="28"))
    school = db.session.scalar(select(Organisation))
    assert {s.year_group: s.pupils for s in school.year_sizes} == {0: 30, 6: 28}


# Email confirmation -------------------------------------------------------------------------------


@pytest.fixture
def signed_up(app, client):
    """A provider who signed up with a new organisation in Burnley, and the path of their link."""
    burnley, preston = make_area("Burnley"), make_area("Preston")
    make_user(Role.COORDINATOR, email="coord@burnley.example", areas=[burnley])
    make_user(Role.COORDINATOR, email="gone@burnley.example", areas=[burnley], status=UserStatus.DISABLED)
    make_user(Role.COORDINATOR, email="coord@preston.example", areas=[preston])
    make_user(Role.ADMIN, email="admin@example.org")
    db.session.commit()
    client.post("/signup/provider", data=provider_form(burnley))
    return confirm_path(outbox("confirm_email")[0])


def test_get_on_the_link_shows_a_button_and_changes_nothing(app, client, signed_up):
    response = client.get(signed_up)
    assert response.status_code == 200
    assert b"Confirm my email address" in response.data and b'method="post"' in response.data
    db.session.expire_all()
    assert db.session.scalar(select(User).where(User.role == Role.PROVIDER)).email_confirmed_at is None
    assert db.session.scalar(select(AuthToken)).used_at is None
    assert outbox("new_signup_to_verify") == []


def test_confirming_marks_the_address_and_tells_the_areas_coordinators(app, client, signed_up, mailbox):
    response = client.post(signed_up)
    assert response.status_code == 302
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.role == Role.PROVIDER))
    assert user.email_confirmed_at is not None and user.status == UserStatus.PENDING
    assert db.session.scalar(select(AuthToken)).used_at is not None
    mails = [m for m in mailbox() if m["Subject"].startswith("New sign-up to verify")]
    assert [m["To"] for m in mails] == ["coord@burnley.example"]
    body = text_of(mails[0])
    assert "Acme Engineering" in body and "a new organisation" in body and "http://localhost/verification" in body
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "signup.email_confirmed"))
    assert event.actor_id == user.id and event.area_id == user.organisation.area_id


def test_the_link_works_once(app, client, signed_up):
    assert client.post(signed_up).status_code == 302
    again = client.post(signed_up)
    assert again.status_code == 400
    assert b"already been used" in again.data
    assert client.get(signed_up).status_code == 400
    assert len(outbox("new_signup_to_verify")) == 1


def test_an_expired_link_is_refused(app, client, signed_up):
    token = db.session.scalar(select(AuthToken))
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    for response in (client.get(signed_up), client.post(signed_up)):
        assert response.status_code == 400
        assert b"expired" in response.data
    db.session.expire_all()
    assert db.session.scalar(select(User).where(User.role == Role.PROVIDER)).email_confirmed_at is None
    assert outbox("new_signup_to_verify") == []


def test_an_unknown_link_is_refused(app, client, signed_up):
    response = client.post("/signup/confirm/not-a-real-token")
    assert response.status_code == 400
    assert b"not valid" in response.data
    assert db.session.scalar(select(User).where(User.role == Role.PROVIDER)).email_confirmed_at is None


def test_an_area_without_coordinators_falls_back_to_admins(app, client):
    area = make_area("Lonely")
    make_user(Role.ADMIN, email="admin@example.org")
    db.session.commit()
    client.post("/signup/provider", data=provider_form(area))
    client.post(confirm_path(outbox("confirm_email")[0]))
    assert [m.recipient for m in outbox("new_signup_to_verify")] == ["admin@example.org"]


def test_signup_posts_are_rate_limited_per_address(database, smtp_server):
    from portal import create_app

    app = create_app("testing", {**database, "RATELIMIT_ENABLED": True, "MAIL_PORT": smtp_server.port})
    client = app.test_client()
    with app.app_context():
        answers = [client.post("/signup/careers-lead", data={"email": "x@example.org"}).status_code
                   for _ in range(6)]
        assert answers == [200] * 5 + [429]
        assert client.get("/signup/careers-lead").status_code == 200
        db.session.remove()
        db.engine.dispose()
