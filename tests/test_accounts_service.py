"""services.accounts called directly, and the staff-account commands built on it."""
import pytest
from sqlalchemy import func, select

from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import AuditEvent, AuthToken, Organisation, OrgStatus, OutboxMessage, User, UserStatus
from portal.services import accounts
from portal.vocab import Role
from tests.factories import make_area, make_provider, make_school, make_user

PASSWORD = "plum lantern orbit 42"
BURNLEY = (None, 53.789, -2.248)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def account(email: str = "new@example.org") -> accounts.NewAccount:
    return accounts.NewAccount(name="New Person", email=email, password=PASSWORD)


def provider_details(area, **overrides) -> accounts.ProviderDetails:
    values = {"name": "Newco", "area_id": area.id, "provider_kind": "employer", "sectors": ["digital"],
              "size_band": "small", "location": BURNLEY}
    values.update(overrides)
    return accounts.ProviderDetails(**values)


def school_details(area, **overrides) -> accounts.SchoolDetails:
    values = {"name": "New School", "urn": "654321", "phase": "secondary", "area_id": area.id,
              "location": BURNLEY, "year_sizes": {7: 120}}
    values.update(overrides)
    return accounts.SchoolDetails(**values)


# Staff accounts through the CLI ------------------------------------------------------------------


def test_create_coordinator_command(app, runner):
    burnley, preston = make_area("Burnley"), make_area("Preston")
    db.session.commit()
    result = runner.invoke(args=["create-coordinator", "--email", " Cora@Council.Example ", "--name", "Cora",
                                 "--area", "Burnley", "--area", "preston", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert "created for Burnley, preston" in result.output
    user = db.session.scalar(select(User))
    assert user.email == "cora@council.example" and user.role == Role.COORDINATOR
    assert user.status == UserStatus.ACTIVE and user.email_confirmed_at is not None
    assert user.area_ids == {burnley.id, preston.id}
    assert user.password_hash.startswith("scrypt:")
    assert db.session.scalar(select(AuditEvent.action)) == "account.staff_created"


def test_create_coordinator_with_an_unknown_area_fails(app, runner):
    make_area("Burnley")
    db.session.commit()
    result = runner.invoke(args=["create-coordinator", "--email", "c@council.example", "--name", "Cora",
                                 "--area", "Atlantis", "--password", PASSWORD])
    assert result.exit_code != 0
    assert "Unknown area: Atlantis. Areas: Burnley." in result.output
    assert count(User) == 0


def test_create_admin_command(app, runner):
    result = runner.invoke(args=["create-admin", "--email", "root@example.org", "--name", "Ada Admin",
                                 "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User))
    assert user.role == Role.ADMIN and user.is_active and user.areas == []


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "Use at least 12 characters."), ("password1234", "too common"), ("ada admin is me", "your name")],
)
def test_create_admin_refuses_a_weak_password(app, runner, password, message):
    result = runner.invoke(args=["create-admin", "--email", "root@example.org", "--name", "Ada Admin",
                                 "--password", password])
    assert result.exit_code != 0
    assert message in result.output
    assert count(User) == 0


def test_create_admin_refuses_a_duplicate_email(app, runner):
    make_user(Role.PROVIDER, email="root@example.org")
    db.session.commit()
    result = runner.invoke(args=["create-admin", "--email", "ROOT@example.org", "--name", "Ada Admin",
                                 "--password", PASSWORD])
    assert result.exit_code != 0
    assert "There is already an account for root@example.org." in result.output


def test_staff_accounts_are_only_coordinators_and_admins(app):
    with pytest.raises(ValidationFailed, match="coordinators or administrators"):
        accounts.create_staff_user(role=Role.PROVIDER, email="p@example.org", name="Pat", password=PASSWORD)
    with pytest.raises(ValidationFailed, match="at least one area") as raised:
        accounts.create_staff_user(role=Role.COORDINATOR, email="c@example.org", name="Cat", password=PASSWORD)
    assert raised.value.field == "area"


# Sign-up rules held by the service ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"sectors": []}, "sectors"), ({"sectors": ["astrology"]}, "sectors"),
     ({"provider_kind": "guild"}, "provider_kind"), ({"size_band": "huge"}, "size_band"),
     ({"location": None}, "town"), ({"website": "javascript:alert(1)"}, "website"),
     ({"area_id": 999}, "area_id"), ({"name": "  "}, "org_name")],
)
def test_new_provider_rules(app, overrides, field):
    area = make_area()
    db.session.commit()
    with pytest.raises(ValidationFailed) as raised:
        accounts.sign_up_provider(account(), new_organisation=provider_details(area, **overrides))
    assert raised.value.field == field
    db.session.rollback()
    assert count(User) == 0 and count(Organisation) == 0 and count(OutboxMessage) == 0


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"urn": "12345"}, "urn"), ({"urn": "12345a"}, "urn"), ({"phase": "nursery"}, "phase"),
     ({"year_sizes": {3: 20}}, "year_3"), ({"year_sizes": {7: -5}}, "year_7")],
)
def test_new_school_rules(app, overrides, field):
    area = make_area()
    db.session.commit()
    with pytest.raises(ValidationFailed) as raised:
        accounts.sign_up_careers_lead(account(), new_school=school_details(area, **overrides))
    assert raised.value.field == field


def test_a_taken_urn_is_refused_and_nothing_is_saved(app):
    area = make_area()
    make_school(area, urn="654321")
    db.session.commit()
    with pytest.raises(ValidationFailed, match="already registered") as raised:
        accounts.sign_up_careers_lead(account(), new_school=school_details(area))
    assert raised.value.field == "urn"
    db.session.rollback()
    assert count(User) == 0 and count(OutboxMessage) == 0 and count(Organisation) == 1


def test_joining_needs_a_verified_provider(app):
    area = make_area()
    pending = make_provider(area, status=OrgStatus.PENDING)
    school = make_school(area)
    db.session.commit()
    for org_id in (pending.id, school.id, 9999):
        with pytest.raises(ValidationFailed) as raised:
            accounts.sign_up_provider(account(), organisation_id=org_id)
        assert raised.value.field == "organisation_id"


def test_either_join_or_register_not_both(app):
    area = make_area()
    org = make_provider(area)
    db.session.commit()
    with pytest.raises(ValidationFailed):
        accounts.sign_up_provider(account(), organisation_id=org.id, new_organisation=provider_details(area))
    with pytest.raises(ValidationFailed):
        accounts.sign_up_provider(account())


def test_a_careers_lead_may_join_a_school_still_pending_but_not_a_rejected_one(app):
    area = make_area()
    pending = make_school(area, status=OrgStatus.PENDING)
    rejected = make_school(area, status=OrgStatus.REJECTED)
    db.session.commit()
    user = accounts.sign_up_careers_lead(account(), school_id=pending.id)
    assert user.organisation_id == pending.id
    with pytest.raises(ValidationFailed):
        accounts.sign_up_careers_lead(account("other@example.org"), school_id=rejected.id)


def test_a_duplicate_email_returns_none_and_creates_nothing(app):
    area = make_area()
    make_user(Role.PROVIDER, email="new@example.org")
    db.session.commit()
    assert accounts.sign_up_provider(account("NEW@example.org"), new_organisation=provider_details(area)) is None
    assert count(User) == 1
    assert db.session.scalar(select(func.count(Organisation.id)).where(Organisation.name == "Newco")) == 0


# Confirmation and decisions -----------------------------------------------------------------------


def _signed_up(area) -> tuple[User, str]:
    user = accounts.sign_up_provider(account(), new_organisation=provider_details(area))
    message = db.session.scalar(select(OutboxMessage).where(OutboxMessage.template == "confirm_email"))
    return user, message.body_text.split("/signup/confirm/")[1].split()[0]


def test_confirm_email_is_single_use(app):
    area = make_area()
    db.session.commit()
    user, raw = _signed_up(area)
    assert accounts.confirm_email(raw, ip="10.0.0.1").id == user.id
    assert user.email_confirmed_at is not None
    with pytest.raises(InvalidState, match="already been used"):
        accounts.confirm_email(raw)
    assert accounts.confirm_token_problem(raw) == "This confirmation link has already been used."
    assert db.session.scalar(select(AuthToken.used_at)) is not None


def test_approve_and_reject_check_the_area(app):
    burnley, preston = make_area(), make_area()
    outsider = make_user(Role.COORDINATOR, areas=[preston])
    target = make_user(Role.PROVIDER, organisation=make_provider(burnley), status=UserStatus.PENDING)
    db.session.commit()
    with pytest.raises(NotAllowed):
        accounts.approve_user(target, by=outsider)
    with pytest.raises(NotAllowed):
        accounts.reject_user(target, by=outsider, reason="Not in my area")
    with pytest.raises(NotAllowed):
        accounts.approve_user(target, by=make_user(Role.CAREERS_LEAD))
    assert target.status == UserStatus.PENDING


def test_reject_reason_is_checked_by_the_service_too(app):
    area = make_area()
    coordinator = make_user(Role.COORDINATOR, areas=[area])
    target = make_user(Role.PROVIDER, organisation=make_provider(area), status=UserStatus.PENDING)
    db.session.commit()
    for reason in ("", "four", "x" * 1001):
        with pytest.raises(ValidationFailed) as raised:
            accounts.reject_user(target, by=coordinator, reason=reason)
        assert raised.value.field == "reason"
    assert accounts.reject_user(target, by=coordinator, reason="  Not known  ") is False
    assert target.status_reason == "Not known"


def test_a_person_of_a_rejected_organisation_cannot_be_approved(app):
    area = make_area()
    coordinator = make_user(Role.COORDINATOR, areas=[area])
    target = make_user(Role.CAREERS_LEAD, organisation=make_school(area, status=OrgStatus.REJECTED),
                       status=UserStatus.PENDING)
    db.session.commit()
    with pytest.raises(InvalidState, match="was rejected"):
        accounts.approve_user(target, by=coordinator)
