"""Primary resource kits (5/6): stock taken and given back, out of stock, the last kit under two requests at once,
phase and year-group validation, who may do what, mail and audit, and primary reach counted apart from the
secondary target of four (never in Pupil.contacts)."""
import threading
from datetime import date, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import func, select

from portal.errors import InvalidState, NotAllowed, ValidationFailed
from portal.extensions import db
from portal.models import (
    AuditEvent,
    KitRequest,
    KitRequestStatus,
    Match,
    MatchStatus,
    Offer,
    OutboxMessage,
    Pupil,
    PupilYearCount,
    RegisterEntry,
    SessionRecord,
    User,
    utcnow,
)
from portal.services import counting, kits
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_pupil, make_request, make_school, make_user

KIT_TITLE = "When I Grow Up"


def make_kit(provider, *, stock: int = 3, **fields) -> Offer:
    return make_offer(provider, type="primary_kit", title=fields.pop("title", KIT_TITLE), year_groups=(0, 1, 2),
                      sessions=1, per_session=1, capacity=stock or 1, kit_stock=stock, **fields)


class World:
    def __init__(self, *, stock: int = 3):
        self.area = make_area("Burnley")
        self.provider_org = make_provider(self.area, name="Pennine Books Ltd")
        self.provider = make_user(Role.PROVIDER, organisation=self.provider_org, email="neil@pennine.example")
        self.school = make_school(self.area, name="Padiham Primary", phase="primary", year_sizes={1: 30})
        self.lead = make_user(Role.CAREERS_LEAD, organisation=self.school, email="lead@padiham.example")
        self.secondary = make_school(self.area, name="Burnley High")
        self.secondary_lead = make_user(Role.CAREERS_LEAD, organisation=self.secondary)
        self.coordinator = make_user(Role.COORDINATOR, areas=[self.area], totp_secret=pyotp.random_base32(),
                                     totp_enabled_at=utcnow())
        self.kit = make_kit(self.provider_org, stock=stock)
        db.session.commit()


@pytest.fixture
def world(app) -> World:
    return World()


def order(**fields) -> kits.KitOrder:
    values = {"class_name": "Oak class", "year_group": 1, "pupils": 28, "note": None, **fields}
    return kits.KitOrder(**values)


def stock(offer_id: int) -> int:
    return db.session.scalar(select(Offer.kit_stock).where(Offer.id == offer_id).execution_options(
        populate_existing=True))


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("kit.%"))
                                   .order_by(AuditEvent.id)))


# --- stock -----------------------------------------------------------------------------------------------------------

def test_a_request_takes_one_kit_and_mails_the_provider(world):
    kit_request = kits.request_kit(world.kit, order(note="Deliver to the office"), by=world.lead)
    assert stock(world.kit.id) == 2
    assert (kit_request.status, kit_request.school_id, kit_request.area_id, kit_request.pupils) == (
        KitRequestStatus.REQUESTED, world.school.id, world.area.id, 28)
    mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == "kit_requested")).all()
    assert [m.recipient for m in mail] == ["neil@pennine.example"]
    assert "Oak class" in mail[0].body_text and "Deliver to the office" in mail[0].body_text
    assert audit_actions() == ["kit.request"]


def test_cancelling_gives_the_kit_back(world):
    kit_request = kits.request_kit(world.kit, order(), by=world.lead)
    kits.cancel(kit_request, by=world.lead)
    assert stock(world.kit.id) == 3
    assert db.session.get(KitRequest, kit_request.id).status == KitRequestStatus.CANCELLED
    with pytest.raises(InvalidState):  # only once: the stock is not given back twice
        kits.cancel(kit_request, by=world.lead)
    assert stock(world.kit.id) == 3
    assert audit_actions() == ["kit.request", "kit.cancel"]
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)
                             .where(OutboxMessage.template == "kit_cancelled")) == 1


def test_out_of_stock_is_a_clear_message_and_changes_nothing(app):
    world = World(stock=1)
    kits.request_kit(world.kit, order(), by=world.lead)
    with pytest.raises(kits.OutOfStock, match="out of stock"):
        kits.request_kit(world.kit, order(class_name="Ash class"), by=world.lead)
    assert stock(world.kit.id) == 0
    assert db.session.scalar(select(func.count()).select_from(KitRequest)) == 1


def test_a_paused_kit_cannot_be_requested(world):
    world.kit.status = "paused"
    db.session.commit()
    with pytest.raises(NotAllowed):  # no longer visible to schools
        kits.request_kit(world.kit, order(), by=world.lead)
    assert stock(world.kit.id) == 3


def test_provider_sends_school_uses_and_provider_may_still_cancel_before_use(world):
    first = kits.request_kit(world.kit, order(), by=world.lead)
    second = kits.request_kit(world.kit, order(class_name="Ash class", year_group=2, pupils=25), by=world.lead)
    kits.mark_sent(first, by=world.provider)
    assert first.status == KitRequestStatus.SENT and first.sent_at is not None
    sent_mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == "kit_sent")).all()
    assert [m.recipient for m in sent_mail] == ["lead@padiham.example"]
    with pytest.raises(InvalidState):  # once sent, the school asks the provider instead
        kits.cancel(first, by=world.lead)
    kits.mark_used(first, by=world.lead)
    assert first.status == KitRequestStatus.USED and first.used_at is not None
    with pytest.raises(InvalidState):
        kits.cancel(first, by=world.provider)  # a used kit stays used
    kits.mark_sent(second, by=world.provider)
    kits.cancel(second, by=world.provider)
    assert stock(world.kit.id) == 2  # three, minus two, plus the cancelled one
    assert audit_actions() == ["kit.request", "kit.request", "kit.sent", "kit.used", "kit.sent", "kit.cancel"]


def test_only_the_sides_may_act(world):
    kit_request = kits.request_kit(world.kit, order(), by=world.lead)
    other_provider = make_user(Role.PROVIDER, organisation=make_provider(world.area))
    other_lead = make_user(Role.CAREERS_LEAD, organisation=make_school(world.area, phase="primary"))
    db.session.commit()
    with pytest.raises(NotAllowed):
        kits.mark_sent(kit_request, by=other_provider)
    with pytest.raises(NotAllowed):
        kits.mark_sent(kit_request, by=world.lead)
    with pytest.raises(NotAllowed):
        kits.mark_used(kit_request, by=other_lead)
    with pytest.raises(NotAllowed):
        kits.cancel(kit_request, by=other_provider)
    with pytest.raises(NotAllowed):
        kits.cancel(kit_request, by=world.coordinator)
    assert db.session.get(KitRequest, kit_request.id).status == KitRequestStatus.REQUESTED
    assert stock(world.kit.id) == 2


# --- the last kit, asked for twice at the same moment ----------------------------------------------------------------

ROUNDS = 4


def _ask(app, offer_id: int, lead_id: int, class_name: str, barrier, results) -> None:
    with app.app_context():
        try:
            offer, lead = db.session.get(Offer, offer_id), db.session.get(User, lead_id)
            barrier.wait(timeout=30)
            kits.request_kit(offer, order(class_name=class_name), by=lead)
            results.append("taken")
        except kits.OutOfStock:
            results.append("out of stock")
        except Exception as error:  # anything else is what this test exists to catch
            results.append(f"error: {type(error).__name__}: {error}")
        finally:
            db.session.remove()


def test_two_requests_never_take_the_last_kit_twice(app):
    world = World(stock=1)
    second_lead = make_user(Role.CAREERS_LEAD, organisation=world.school)
    db.session.commit()
    offer_id, leads = world.kit.id, (world.lead.id, second_lead.id)
    for round_no in range(ROUNDS):
        db.session.execute(Offer.__table__.update().where(Offer.__table__.c.id == offer_id).values(kit_stock=1))
        db.session.commit()
        barrier, results = threading.Barrier(2), []
        threads = [threading.Thread(target=_ask, args=(app, offer_id, lead_id, f"Class {round_no}-{n}", barrier,
                                                       results)) for n, lead_id in enumerate(leads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(results) == ["out of stock", "taken"], results
        assert stock(offer_id) == 0
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(KitRequest)) == ROUNDS


# --- phase and year groups -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "field"), [
    ({"year_group": 7}, "year_group"),
    ({"year_group": None}, "year_group"),
    ({"class_name": "  "}, "class_name"),
    ({"class_name": "x" * 61}, "class_name"),
    ({"pupils": 0}, "pupils"),
    ({"pupils": 61}, "pupils"),
    ({"note": "x" * 1001}, "note"),
])
def test_bad_input_is_refused_beside_its_field_and_takes_nothing(world, fields, field):
    with pytest.raises(ValidationFailed) as raised:
        kits.request_kit(world.kit, order(**fields), by=world.lead)
    assert raised.value.field == field
    assert stock(world.kit.id) == 3


def test_schools_with_primary_years_only(world):
    assert kits.primary_years(world.school) == [0, 1, 2, 3, 4, 5, 6]
    through = make_school(world.area, phase="all_through")
    special = make_school(world.area, phase="special")
    college = make_school(world.area, phase="college")
    assert kits.primary_years(through) == kits.primary_years(special) == [0, 1, 2, 3, 4, 5, 6]
    assert kits.primary_years(world.secondary) == kits.primary_years(college) == []
    through_lead = make_user(Role.CAREERS_LEAD, organisation=through)
    db.session.commit()
    assert kits.request_kit(world.kit, order(year_group=0), by=through_lead).year_group == 0  # Reception
    with pytest.raises(NotAllowed):
        kits.request_kit(world.kit, order(), by=world.secondary_lead)
    with pytest.raises(NotAllowed):  # not a kit
        kits.request_kit(make_offer(world.provider_org), order(), by=world.lead)


# --- pages -----------------------------------------------------------------------------------------------------------

def test_secondary_careers_leads_are_refused_the_kits_pages(client, login, world):
    login(world.secondary_lead)
    assert client.get("/kits").status_code == 403
    assert client.get(f"/kits/{world.kit.id}/request").status_code == 403
    home = client.get("/").get_data(as_text=True)
    assert 'href="/kits"' not in home  # no link to a page that would refuse them


def test_primary_lead_sees_kits_and_asks_for_one(client, login, world, mailbox):
    other_area_kit = make_kit(make_provider(make_area("Preston")), title="Far away kit")
    open_kit = make_kit(make_provider(make_area("Leeds")), title="Open to all kit", open_to_all_areas=True)
    empty_kit = make_kit(world.provider_org, title="Empty kit", stock=0)
    db.session.commit()
    login(world.lead)
    page = client.get("/kits").get_data(as_text=True)
    assert KIT_TITLE in page and "Open to all kit" in page
    assert "Far away kit" not in page and "Empty kit" not in page
    assert 'href="/kits"' in client.get("/").get_data(as_text=True)
    assert client.get(f"/kits/{other_area_kit.id}/request").status_code == 403
    assert client.get(f"/kits/{open_kit.id}/request").status_code == 200

    response = client.post(f"/kits/{world.kit.id}/request", data={"class_name": "Oak class", "year_group": "8",
                                                                  "pupils": "28", "note": "For summer"})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert 'id="year_group-error"' in body and "from Reception to Year 6" in body
    assert 'value="Oak class"' in body and "For summer" in body  # the rest of the input kept
    assert stock(world.kit.id) == 3

    response = client.post(f"/kits/{world.kit.id}/request", data={"class_name": "Oak class", "year_group": "1",
                                                                  "pupils": "28"})
    assert response.status_code == 302
    assert stock(world.kit.id) == 2
    page = client.get("/kits").get_data(as_text=True)
    assert "Oak class (Year 1)" in page and "Requested" in page
    assert [m["To"] for m in mailbox()] == ["neil@pennine.example"]
    assert client.get(f"/kits/{empty_kit.id}/request").status_code == 200


def test_out_of_stock_through_the_form(client, login, app):
    world = World(stock=1)
    kits.request_kit(world.kit, order(), by=world.lead)
    login(world.lead)
    response = client.post(f"/kits/{world.kit.id}/request", data={"class_name": "Ash class", "year_group": "2",
                                                                  "pupils": "20"})
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "out of stock" in body and 'value="Ash class"' in body


def test_the_request_round_trip_through_the_pages(client, login, world):
    kit_request = kits.request_kit(world.kit, order(), by=world.lead)
    login(world.provider)
    page = client.get("/kits/requests").get_data(as_text=True)
    assert "Padiham Primary" in page and "Oak class" in page and ">28<" in page
    assert client.post(f"/kits/requests/{kit_request.id}/sent").status_code == 302
    login(world.lead)
    assert client.get(f"/kits/requests/{kit_request.id}/used").status_code == 200  # the confirmation step
    assert client.post(f"/kits/requests/{kit_request.id}/used").status_code == 302
    db.session.expire_all()
    assert db.session.get(KitRequest, kit_request.id).status == KitRequestStatus.USED


def test_others_are_refused_the_request_actions(client, login, world):
    kit_request = kits.request_kit(world.kit, order(), by=world.lead)
    other_provider = make_user(Role.PROVIDER, organisation=make_provider(world.area))
    other_lead = make_user(Role.CAREERS_LEAD, organisation=make_school(world.area, phase="primary"))
    db.session.commit()
    login(other_provider)
    assert client.post(f"/kits/requests/{kit_request.id}/sent").status_code == 403
    assert client.post(f"/kits/requests/{kit_request.id}/cancel").status_code == 403
    assert "Padiham" not in client.get("/kits/requests").get_data(as_text=True)
    login(other_lead)
    assert client.get(f"/kits/requests/{kit_request.id}/used").status_code == 403
    assert client.post(f"/kits/requests/{kit_request.id}/cancel").status_code == 403
    login(world.provider)
    assert client.post(f"/kits/requests/{kit_request.id}/used").status_code == 403  # the school's to say
    db.session.expire_all()
    assert db.session.get(KitRequest, kit_request.id).status == KitRequestStatus.REQUESTED


# --- primary reach ---------------------------------------------------------------------------------------------------

def _used(offer, school, class_name, year, pupils, *, on: date, status=KitRequestStatus.USED) -> KitRequest:
    kit_request = KitRequest(offer_id=offer.id, school_id=school.id, area_id=school.area_id, class_name=class_name,
                             year_group=year, pupils=pupils, status=status,
                             used_at=datetime.combine(on, datetime.min.time()) + timedelta(hours=10)
                             if status == KitRequestStatus.USED else None)
    db.session.add(kit_request)
    return kit_request


def _session(school, provider_org, attendance: list[tuple[Pupil, bool]], *, on: date) -> Match:
    """A recorded, meaningful session at `school` with these pupils (attended or not), counted as the service does."""
    offer = make_offer(provider_org, year_groups=(5, 8))
    request = make_request(school, year_groups=(5, 8))
    match = Match(offer_id=offer.id, request_id=request.id, area_id=school.area_id, allocation=len(attendance),
                  origin="school_asked", status=MatchStatus.RECORDED)
    db.session.add(match)
    db.session.flush()
    db.session.add(SessionRecord(match_id=match.id, held_on=on, purpose_shared=True, learning_outcomes=True,
                                 two_way=True, time_to_reflect=True))
    for pupil, attended in attendance:
        db.session.add(RegisterEntry(match_id=match.id, pupil_id=pupil.id, school_id=school.id,
                                     provider_id=provider_org.id, year_group=pupil.year_group, attended=attended))
    db.session.flush()
    counting.refresh_pupils(counting.mark_entries(match))
    return match


def test_primary_reach_against_hand_counted_figures(world):
    on, before = date(2026, 2, 10), date(2025, 12, 1)
    oak, ash = world.school, make_school(world.area, name="Ashfield All-through", phase="all_through")
    far = make_school(make_area("Preston"), name="Preston Primary", phase="primary")
    # Padiham Primary: Oak class used two kits (one class, sized 28 then 30), Reception used one; a sent kit and a
    # kit used before the period do not count.
    _used(world.kit, oak, "Oak class", 1, 28, on=on)
    _used(world.kit, oak, " oak Class", 1, 30, on=on)
    _used(world.kit, oak, "Reception", 0, 20, on=on)
    _used(world.kit, oak, "Ash class", 2, 25, on=on, status=KitRequestStatus.SENT)
    _used(world.kit, oak, "Elm class", 2, 26, on=before)
    _used(world.kit, far, "Far class", 1, 29, on=on)  # another area
    # Ashfield: Year 5 pupils at sessions (one twice, one absent), and Year 8 pupils (secondary: not primary).
    p1, p2, p3, absent = (make_pupil(ash, year_group=5) for _ in range(4))
    older = make_pupil(ash, year_group=8)
    _session(ash, world.provider_org, [(p1, True), (p2, True), (absent, False), (older, True)], on=on)
    _session(ash, world.provider_org, [(p1, True), (p3, True)], on=on)
    _session(ash, world.provider_org, [(p2, True)], on=before)
    db.session.commit()

    reach = counting.primary_reach([world.area.id], start=date(2026, 1, 1), end=date(2026, 3, 31))
    by_name = {s.school_name: s for s in reach.schools}
    assert set(by_name) == {"Padiham Primary", "Ashfield All-through"}
    padiham, ashfield = by_name["Padiham Primary"], by_name["Ashfield All-through"]
    assert (padiham.kits_used, padiham.classes, padiham.kit_pupils, padiham.session_pupils, padiham.pupils) == (
        3, 2, 50, 0, 50)
    assert (ashfield.kits_used, ashfield.classes, ashfield.kit_pupils, ashfield.session_pupils,
            ashfield.session_attendances, ashfield.pupils) == (0, 0, 0, 3, 4, 3)
    assert (reach.schools_reached, reach.classes, reach.kits_used, reach.pupils) == (2, 2, 3, 53)
    assert reach.pupil_encounters == 28 + 30 + 20 + 4
    assert reach.primary_schools == 2  # Padiham and Ashfield (Burnley High is secondary)
    everywhere = counting.primary_reach(None, start=date(2026, 1, 1), end=date(2026, 3, 31))
    assert everywhere.schools_reached == 3 and everywhere.classes == 3

    # Primary encounters never enter the target of four: the Year 5 pupils have no contacts and no year counts,
    # while the Year 8 pupil at the same session has one.
    for pupil in (p1, p2, p3):
        assert db.session.get(Pupil, pupil.id).contacts == 0
        assert db.session.scalar(select(func.sum(PupilYearCount.contacts))
                                 .where(PupilYearCount.pupil_id == pupil.id)) in (0, None)
    assert db.session.get(Pupil, older.id).contacts == 1


def test_a_used_kit_adds_no_contacts_to_the_schools_pupils(world):
    pupil = make_pupil(world.school, year_group=1)
    db.session.commit()
    kit_request = kits.request_kit(world.kit, order(), by=world.lead)
    kits.mark_sent(kit_request, by=world.provider)
    kits.mark_used(kit_request, by=world.lead)
    counting.refresh_pupils([pupil.id])
    db.session.commit()
    assert db.session.get(Pupil, pupil.id).contacts == 0
    assert db.session.scalar(select(func.count()).select_from(RegisterEntry)) == 0
    today = date.today()
    reach = counting.primary_reach([world.area.id], start=today, end=today)
    assert (reach.classes, reach.kits_used, reach.pupils) == (1, 1, 28)


def test_coordinators_see_their_areas_reach_labelled_apart_from_the_target(client, login, world):
    kit_request = kits.request_kit(world.kit, order(), by=world.lead)
    kits.mark_sent(kit_request, by=world.provider)
    kits.mark_used(kit_request, by=world.lead)
    far = make_school(make_area("Preston"), name="Preston Primary", phase="primary")
    _used(world.kit, far, "Far class", 1, 29, on=date.today())
    db.session.commit()
    login(world.coordinator)
    today = date.today().isoformat()
    response = client.get(f"/kits/reach?start={today}&end={today}")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "separate from the secondary target of four" in body
    assert "Padiham Primary" in body and "Preston Primary" not in body
    assert 'Classes reached</th><td class="text-end">1<' in body
    bad = client.get("/kits/reach?start=2026-13-01").get_data(as_text=True)
    assert 'id="start-error"' in bad
    login(world.lead)
    assert client.get("/kits/reach").status_code == 403
