"""The demo data: realistic, idempotent, and every advertised login works."""
from pathlib import Path

from sqlalchemy import func, select

from portal import geo
from portal.extensions import db
from portal.models import Area, Organisation, OrgKind, OrgStatus, User, UserStatus
from portal.services import demo
from portal.services.passwords import password_problems, verify_password
from portal.vocab import PHASE_YEARS, Role

# A generous box around the United Kingdom (Scilly to Shetland, Northern Ireland to Lowestoft).
UK_LATITUDE = (49.8, 60.9)
UK_LONGITUDE = (-8.7, 1.8)


def row_counts() -> dict[str, int]:
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


def test_seeding_twice_changes_nothing(app):
    assert demo.seed_demo() is True
    first = row_counts()
    assert demo.seed_demo() is False
    assert row_counts() == first
    assert first["areas"] == 2
    assert first["organisations"] >= 30


def test_only_if_empty_leaves_an_installation_with_areas_alone(app):
    db.session.add(Area(name="Elsewhere"))
    db.session.commit()
    assert demo.seed_demo(only_if_empty=True) is False
    assert db.session.scalar(select(func.count(Organisation.id))) == 0
    assert db.session.scalar(select(func.count(User.id))) == 0


def test_every_demo_login_exists_is_active_and_takes_the_demo_password(app):
    demo.seed_demo()
    assert password_problems(demo.DEMO_PASSWORD) == []
    roles, hashes = set(), set()
    for _label, email, _note in demo.DEMO_LOGINS:
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None, email
        assert user.status == UserStatus.ACTIVE
        assert user.email_confirmed_at is not None
        hashes.add(user.password_hash)
        if user.organisation is not None:
            assert user.organisation.status == OrgStatus.VERIFIED
        roles.add(user.role)
    assert roles == set(Role)
    assert len(hashes) == 1  # one scrypt hash, shared
    assert verify_password(hashes.pop(), demo.DEMO_PASSWORD)


def test_staff_logins_say_two_step_is_set_up_at_first_sign_in(app):
    demo.seed_demo()
    for label, email, note in demo.DEMO_LOGINS:
        user = db.session.scalar(select(User).where(User.email == email))
        if user.role in (Role.COORDINATOR, Role.ADMIN):
            assert not user.two_step_enabled
            assert "two-step set-up at first sign-in" in note, label


def test_coordinators_cover_their_areas(app):
    demo.seed_demo()
    areas_of = {
        u.email: {a.name for a in u.areas}
        for u in db.session.scalars(select(User).where(User.role == Role.COORDINATOR))
    }
    assert areas_of[f"coordinator.burnley@{demo.DEMO_DOMAIN}"] == {"Burnley"}
    assert areas_of[f"coordinator.preston@{demo.DEMO_DOMAIN}"] == {"Preston"}
    assert areas_of[f"coordinator@{demo.DEMO_DOMAIN}"] == {"Burnley", "Preston"}


def test_a_pending_provider_signup_waits_for_verification(app):
    demo.seed_demo()
    user = db.session.scalar(select(User).where(User.email == demo.PENDING_SIGNUP_EMAIL))
    assert user.status == UserStatus.PENDING
    assert user.email_confirmed_at is not None
    assert user.role == Role.PROVIDER
    assert user.organisation.status == OrgStatus.PENDING
    assert user.organisation.area.name == "Burnley"
    assert demo.PENDING_SIGNUP_EMAIL not in {email for _, email, _ in demo.DEMO_LOGINS}


def test_organisations_are_located_in_the_uk_near_their_area(app):
    demo.seed_demo()
    organisations = db.session.scalars(select(Organisation)).all()
    for org in organisations:
        assert UK_LATITUDE[0] <= org.latitude <= UK_LATITUDE[1], org.name
        assert UK_LONGITUDE[0] <= org.longitude <= UK_LONGITUDE[1], org.name
        centre = demo.area_centre(org.area.name)
        assert geo.miles(org, centre) <= demo.MAX_MILES_FROM_CENTRE, org.name
    assert {org.area.name for org in organisations} == {"Burnley", "Preston"}


def test_schools_and_providers_look_like_the_real_thing(app):
    demo.seed_demo()
    schools = db.session.scalars(select(Organisation).where(Organisation.kind == OrgKind.SCHOOL)).all()
    phases = [s.phase for s in schools]
    assert phases.count("secondary") >= 8 and phases.count("primary") == 2 and phases.count("college") == 1
    for school in schools:
        assert len(school.urn) == 6 and school.urn.isdigit()
        years = {y.year_group: y.pupils for y in school.year_sizes}
        assert set(years) <= set(PHASE_YEARS[school.phase]), school.name
        if school.phase == "secondary":
            assert all(120 <= years[y] <= 240 for y in range(7, 12)), school.name
    providers = db.session.scalars(select(Organisation).where(Organisation.kind == OrgKind.PROVIDER)).all()
    assert len(providers) >= 25
    assert {"employer", "university", "college", "training_provider"} <= {p.provider_kind for p in providers}
    sectors = {code for p in providers for code in p.sector_codes}
    assert {"engineering", "digital", "health", "construction", "retail", "public_services"} <= sectors
    for provider in providers:
        assert provider.safeguarding_contact, provider.name
        assert provider.levy_payer == (provider.size_band == "large"), provider.name


def test_seed_demo_command(runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert "Demo data loaded." in result.output
    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0
    assert "already present" in again.output
    if_empty = runner.invoke(args=["seed-demo", "--if-empty"])
    assert "already present" in if_empty.output


def test_demo_logins_command_prints_every_login(runner):
    result = runner.invoke(args=["demo-logins", "--port", "5123"])
    assert result.exit_code == 0
    assert "http://127.0.0.1:5123" in result.output
    assert demo.DEMO_PASSWORD in result.output
    for _role, email, _note in demo.DEMO_LOGINS:
        assert email in result.output


def test_readme_lists_every_demo_login():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    assert f"`{demo.DEMO_PASSWORD}`" in readme
    for role, email, note in demo.DEMO_LOGINS:
        assert f"| {role} | `{email}` | {note} |" in readme
