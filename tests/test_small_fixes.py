"""Small defects found by QA, one test (or a few) each: clear messages for badly typed dates, times and numbers;
form groups in natural order; comparable values in the coordinator's queue; providers told which requests they
have already offered for; a kit marked used only once it was sent."""
from datetime import date, timedelta

import pytest

from tests import test_match_lifecycle as lifecycle

world = lifecycle.world  # the match lifecycle's fixture: a school, a provider and an offer in Burnley


# --- 1. badly typed dates, times and numbers get the app's own message --------------------------------------------

def test_a_bad_session_time_gets_a_clear_message(client, login, world):
    match = lifecycle.confirmed(world)
    login(world["contact"])

    page = client.post(f"/matches/{match.id}/schedule", data={
        "day": (date.today() + timedelta(days=12)).isoformat(), "start": "half nine", "minutes": "sixty",
        "place": "Hall", "contact": "Pat"}).get_data(as_text=True)

    assert "Enter a time like 09:30." in page
    assert "Enter the length in minutes, e.g. 60." in page
    assert "Not a valid" not in page


@pytest.mark.parametrize("field, value, message", [
    ("day", "14th March", "Enter a real date, e.g. 2026-03-14."),
    ("start", "25:99", "Enter a time like 09:30."),
])
def test_the_schedule_form_never_shows_stock_messages(app, field, value, message):
    from werkzeug.datastructures import MultiDict

    from portal.matches.forms import ScheduleForm

    data = {"day": "2030-03-14", "start": "09:30", "minutes": "60", "contact": "Pat", field: value}
    with app.test_request_context(method="POST"):
        form = ScheduleForm(MultiDict(data), meta={"csrf": False})
        assert not form.validate()
        assert form.errors[field] == [message]


def test_no_form_field_shows_a_stock_wtforms_parse_message(app):
    """Every date, time and number field of every blueprint's forms parses with the app's own messages (the shared
    fields in portal.forms.fields, a message of its own, or offers' own parsing), never WTForms' "Not a valid ..."."""
    import importlib
    import pkgutil

    from wtforms import DateField, DecimalField, IntegerField, TimeField

    import portal
    from portal.forms.fields import _ClearParseMessage
    stock = (DateField, DecimalField, IntegerField, TimeField)
    plain = []
    for module_info in pkgutil.walk_packages(portal.__path__, "portal."):
        if not module_info.name.endswith("forms") and module_info.name != "portal.forms.location":
            continue
        module = importlib.import_module(module_info.name)
        for name, form in vars(module).items():
            for attr, unbound in vars(form).items() if isinstance(form, type) else ():
                field_class = getattr(unbound, "field_class", None)
                if (field_class and issubclass(field_class, stock)
                        and not issubclass(field_class, _ClearParseMessage)
                        and not unbound.kwargs.get("invalid_value_message")
                        and not field_class.process_formdata.__module__.startswith("portal.")):
                    plain.append(f"{module_info.name}.{name}.{attr}")
    assert plain == []


# --- 2. form groups in natural order ------------------------------------------------------------------------------

def test_form_groups_are_listed_year_number_first(app):
    from portal.extensions import db
    from portal.services import pupils
    from portal.services.roster_import import RosterRow
    from portal.vocab import Role
    from tests.factories import make_area, make_school, make_user

    school = make_school(make_area("Burnley"), name="Burnley High")
    lead = make_user(Role.CAREERS_LEAD, organisation=school)
    db.session.commit()
    groups = {"10A": 10, "13D": 13, "7B": 7, "7A": 7, "11C": 11, "8a": 8}
    rows = [RosterRow(line=line, identifier=f"P{line}", year_group=year, form_group=group)
            for line, (group, year) in enumerate(groups.items(), start=2)]
    pupils.import_roster(school, rows, full_roster=True, by=lead)

    assert pupils.form_groups(school) == ["7A", "7B", "8a", "10A", "11C", "13D"]


# --- 3. the coordinator queue's values compare at a glance --------------------------------------------------------

def test_queue_values_are_whole_points_under_a_header_that_says_so(client, login, app):
    from portal.extensions import db
    from tests import test_matches_approval as approval
    from tests.html import table_rows

    world = approval.world.__wrapped__(app)
    approval.propose(world["offer"], world["school"], 5, score=2724.0)
    approval.propose(world["offer"], world["abbey"], 1, score=471.6)
    db.session.commit()
    login(world["coordinator"])

    response = client.get("/matches?sort=value")
    assert [row[6] for row in table_rows(response)] == ["2,724", "472"]
    html = response.get_data(as_text=True)
    assert "Value (points)" in html and "matching points for the whole allocation" in html


# --- 4. providers see which open requests they have already offered for -----------------------------------------

def test_open_requests_say_what_the_provider_has_offered_and_drop_the_button_when_nothing_is_left(
        client, login, app):
    from datetime import date, timedelta

    from portal.extensions import db
    from portal.services import proposals
    from tests import test_proposals
    from tests.factories import make_offer, make_request

    world = test_proposals.world.__wrapped__(app)
    today = date.today()
    offered_for = make_request(world["school"], pupils=10)
    untouched = make_request(world["school"], pupils=10, starts_in_days=2)
    db.session.commit()
    proposals.offer_to_meet(offered_for, proposals.MeetingOffer(world["offer"], 5), by=world["contact"])
    login(world["contact"])

    def rows():
        page = client.get("/browse/requests").get_data(as_text=True)
        return {request_id: (f'/browse/requests/{request_id}/offer"' in page) for request_id in
                (offered_for.id, untouched.id)}, page

    buttons, page = rows()
    assert buttons == {offered_for.id: False, untouched.id: True}
    assert "You have offered Engineering talk" in page and "Already offered" in page

    # A second suitable offer not yet proposed for it brings the button back, the first still named.
    make_offer(world["provider"], title="Site visit", year_groups=(9, 10, 11), sessions=1, per_session=30,
               starts_on=today + timedelta(days=7), ends_on=today + timedelta(days=67))
    db.session.commit()
    buttons, page = rows()
    assert buttons == {offered_for.id: True, untouched.id: True}
    assert "You have offered Engineering talk" in page


# --- 5. a kit is recorded as used only once it was sent -----------------------------------------------------------

def test_a_kit_still_requested_cannot_be_recorded_as_used(client, login, app):
    from portal.errors import InvalidState
    from portal.extensions import db
    from portal.models import KitRequest, KitRequestStatus
    from portal.services import kits
    from tests import test_kits

    world = test_kits.world.__wrapped__(app)
    kit_request = kits.request_kit(world.kit, test_kits.order(), by=world.lead)

    assert "kits.mark_used" not in [action.endpoint for action in kits.actions_for(world.lead, kit_request)]
    with pytest.raises(InvalidState, match="not sent this kit yet"):
        kits.mark_used(kit_request, by=world.lead)
    login(world.lead)
    client.post(f"/kits/requests/{kit_request.id}/used")
    db.session.expire_all()
    assert db.session.get(KitRequest, kit_request.id).status == KitRequestStatus.REQUESTED

    kits.mark_sent(db.session.get(KitRequest, kit_request.id), by=world.provider)
    kit_request = db.session.get(KitRequest, kit_request.id)
    assert "kits.mark_used" in [action.endpoint for action in kits.actions_for(world.lead, kit_request)]
    kits.mark_used(kit_request, by=world.lead)
    assert kit_request.status == KitRequestStatus.USED
