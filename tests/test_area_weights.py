"""An area's matching weights: the admin's page, the service that stores only overrides, and their effect on runs."""
import json

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.matching.weights import DEFAULT_WEIGHTS, DESCRIPTIONS, Weights
from portal.models import AuditEvent, Match, MatchOrigin
from portal.services import admin as admin_service
from portal.services import matching
from portal.vocab import Role
from tests.factories import make_area, make_offer, make_provider, make_request, make_school, make_user


@pytest.fixture
def admin(app):
    user = make_user(Role.ADMIN, email="admin@example.org", name="Ada Admin")
    db.session.commit()
    return user


@pytest.fixture
def as_admin(client, login, admin):
    login(admin)
    return client


@pytest.fixture
def area(app):
    area = make_area("Burnley")
    db.session.commit()
    return area


def url(area) -> str:
    return f"/admin/areas/{area.id}/weights"


def page(response) -> str:
    return response.get_data(as_text=True)


def reload(area):
    db.session.expire_all()
    return db.session.get(type(area), area.id)


def form_data(**changes) -> dict:
    """The page's form as it comes filled in with the defaults, with `changes` typed over it."""
    data = {name: str(getattr(DEFAULT_WEIGHTS, name)) for name in admin_service.SCALAR_WEIGHTS}
    rows = [("" if upto is None else str(upto), str(points)) for upto, points in DEFAULT_WEIGHTS.load_tiers]
    rows += [("", ""), ("", "")]
    for i, (upto, points) in enumerate(changes.pop("tiers", rows)):
        data[f"load_tiers-{i}-upto"], data[f"load_tiers-{i}-points"] = upto, points
    data.update(changes)
    return data


def weight_events() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "area.weights_changed")
                                   .order_by(AuditEvent.id)))


# --- who may come in ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [Role.PROVIDER, Role.CAREERS_LEAD, Role.COORDINATOR])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_only_admins_tune_weights(client, login, area, role, method):
    login(make_user(role, areas=[area] if role == Role.COORDINATOR else []))
    db.session.commit()

    response = client.open(url(area), method=method, data=form_data(sector="99"))

    assert response.status_code == 403
    assert reload(area).matching_weights is None


def test_an_unknown_area_is_not_found(as_admin):
    assert as_admin.get("/admin/areas/999999/weights").status_code == 404


# --- the page ------------------------------------------------------------------------------------------------

def test_the_area_page_links_to_the_weights(as_admin, area):
    body = page(as_admin.get(f"/admin/areas/{area.id}"))

    assert f'href="{url(area)}"' in body
    assert "This area uses the default matching weights." in body


def test_the_page_shows_every_weight_with_its_hint_and_default(as_admin, area):
    response = as_admin.get(url(area))

    body = page(response)
    assert response.status_code == 200
    assert "<h1>Matching weights for Burnley</h1>" in body
    for name in admin_service.SCALAR_WEIGHTS:
        assert f'<label class="form-label fw-semibold" for="{name}">' in body
        assert f'id="{name}-hint"' in body and f'aria-describedby="{name}-hint"' in body
    assert "An offer in a sector the school asked for. Default: 20." in body
    assert "Share of sector when the school asked for any sector. Default: 0.5." in body  # no `code` marks
    assert 'name="sector" type="text" value="20"' in body
    assert 'name="at_risk_full_share" type="text" value="0.25"' in body
    # the load penalty: the default tiers, then two empty rows to add more
    assert 'name="load_tiers-0-upto" type="text" value="60"' in body
    assert 'name="load_tiers-3-upto" type="text" value=""' in body
    assert 'name="load_tiers-3-points" type="text" value="45"' in body
    assert 'name="load_tiers-5-points" type="text" value=""' in body
    assert 'name="load_tiers-6-points"' not in body
    assert "<caption" in body and '<th scope="col">Up to (units)</th>' in body
    assert "Default: up to 60: 0, up to 120: 8, up to 240: 20, above: 45." in body
    assert "This area uses the default weights." in body
    assert "Reset to defaults" in body


def test_every_weight_has_a_label_and_description():
    from portal.admin.forms import WEIGHT_LABELS

    assert set(WEIGHT_LABELS) == set(admin_service.SCALAR_WEIGHTS)
    assert set(DESCRIPTIONS) == {*admin_service.SCALAR_WEIGHTS, "load_tiers"}


# --- saving --------------------------------------------------------------------------------------------------

def test_saving_stores_only_what_differs_from_the_defaults_and_is_audited(as_admin, admin, area):
    tiers = [("50", "0"), ("100", "10"), ("", "30"), ("", ""), ("", "")]
    response = as_admin.post(url(area), data=form_data(sector="35.5", repeat_cap="5", need="25.0", tiers=tiers))

    assert response.status_code == 302 and response.headers["Location"] == url(area)
    area = reload(area)
    assert area.matching_weights == {"sector": 35.5, "repeat_cap": 5, "load_tiers": [[50, 0.0], [100, 10.0],
                                                                                       [None, 30.0]]}
    assert matching.area_weights(area).sector == 35.5
    [event] = weight_events()
    assert (event.actor_id, event.area_id) == (admin.id, area.id)
    assert event.detail == ("sector: 20 → 35.5; repeat_cap: 3 → 5; load_tiers: up to 60: 0, up to 120: 8, "
                            "up to 240: 20, above: 45 → up to 50: 0, up to 100: 10, above: 30")

    body = page(as_admin.get(url(area)))
    assert "Matching weights for Burnley saved." in body
    assert "This area changes: load_tiers, repeat_cap, sector." in body
    assert 'name="sector" type="text" value="35.5"' in body
    assert 'name="load_tiers-2-upto" type="text" value=""' in body and 'name="load_tiers-4-points"' in body
    assert "This area tunes some of the weights matching uses." in page(as_admin.get(f"/admin/areas/{area.id}"))


def test_saving_the_defaults_again_stores_and_records_nothing(as_admin, area):
    response = as_admin.post(url(area), data=form_data())

    assert response.status_code == 302
    assert reload(area).matching_weights is None
    assert weight_events() == []
    assert "Nothing changed." in page(as_admin.get(url(area)))


def test_setting_a_weight_back_to_its_default_drops_the_override(as_admin, area):
    as_admin.post(url(area), data=form_data(sector="40", need="0"))
    as_admin.post(url(area), data=form_data(sector="20", need="0"))

    assert reload(area).matching_weights == {"need": 0.0}
    assert [e.detail for e in weight_events()] == ["sector: 20 → 40; need: 25 → 0", "sector: 40 → 20"]


def test_an_empty_field_means_the_default(as_admin, area):
    as_admin.post(url(area), data=form_data(sector="40"))
    as_admin.post(url(area), data=form_data(sector=""))

    assert reload(area).matching_weights is None


@pytest.mark.parametrize("name, value, message", [
    ("sector", "-1", "Enter 0 or more."),
    ("sector", "lots", "Enter a number, for example 20."),
    ("sector", "nan", "Enter a number, for example 20."),
    ("sector", "1e9", "Enter a number no bigger than 100,000."),
    ("repeat_cap", "2.5", "Enter a whole number, for example 3."),
    ("any_sector_share", "1.5", "Enter a share from 0 to 1, for example 0.5."),
    ("distance_scale_miles", "0", "Enter a number above 0."),
    ("per_school_sessions", "0", "Enter a number above 0 (a share: at most 1)."),
    ("per_school_share", "0", "Enter a number above 0 (a share: at most 1)."),
])
def test_a_bad_value_is_shown_beside_its_field_and_nothing_is_saved(as_admin, area, name, value, message):
    response = as_admin.post(url(area), data=form_data(**{name: value, "need": "5"}))

    body = page(response)
    assert response.status_code == 200
    assert f'<div id="{name}-error" class="invalid-feedback d-block">{message}</div>' in body
    assert f'<li><a href="#{name}">{message}</a></li>' in body  # the error summary
    assert f'name="{name}" type="text" value="{value}"' in body  # what was typed is kept
    assert 'name="need" type="text" value="5"' in body  # and so is the rest
    assert reload(area).matching_weights is None
    assert weight_events() == []


@pytest.mark.parametrize("tiers, message", [
    ([("60", "10"), ("", "5")], "Points per unit must be 0 or more and never fall from one row to the next."),
    ([("120", "0"), ("60", "8"), ("", "9")], "Each “up to” must be a whole number above 0 and larger than the row"),
    ([("0", "0"), ("", "9")], "Each “up to” must be a whole number above 0"),
    ([("60", "0"), ("120", "8")], "Leave “up to” empty on the last row (and only there)"),
    ([("", "0"), ("", "8")], "Leave “up to” empty on the last row (and only there)"),
    ([("60", "0"), ("", "-1")], "Row 2: Enter 0 or more."),
    ([("sixty", "0"), ("", "8")], "Row 1: Enter a whole number, for example 3."),
    ([("60", ""), ("", "8")], "Row 1: enter the points per unit."),
])
def test_bad_load_tiers_are_refused_with_a_message(as_admin, area, tiers, message):
    response = as_admin.post(url(area), data=form_data(tiers=tiers, sector="30"))

    body = page(response)
    assert response.status_code == 200
    assert '<div id="load_tiers-error" class="invalid-feedback d-block">' + message in body
    assert '<li><a href="#load_tiers">' + message in body
    assert f'name="load_tiers-0-upto" type="text" value="{tiers[0][0]}"' in body
    assert 'name="sector" type="text" value="30"' in body
    assert reload(area).matching_weights is None


def test_the_service_checks_the_values_too(area, admin):
    with pytest.raises(admin_service.WeightsInvalid) as caught:
        admin_service.set_area_weights(area, {"need": -3, "waiting_cap_days": "x", "load_tiers": [(10, 5), (None, 1)]},
                                       by=admin, ip=None)

    assert caught.value.problems == {"need": "Enter 0 or more.", "waiting_cap_days": "Enter a whole number, for "
                                     "example 3.", "load_tiers": "Points per unit must be 0 or more and never fall "
                                     "from one row to the next."}
    assert reload(area).matching_weights is None


# --- reset ---------------------------------------------------------------------------------------------------

def test_reset_asks_first_then_goes_back_to_the_defaults(as_admin, area):
    as_admin.post(url(area), data=form_data(sector="40"))

    confirm = as_admin.post(url(area), data={"action": "reset"})

    assert confirm.status_code == 200
    assert "<h1>Reset the matching weights for Burnley?</h1>" in page(confirm)
    assert 'name="confirmed" value="1"' in page(confirm)
    assert reload(area).matching_weights == {"sector": 40.0}

    done = as_admin.post(url(area), data={"action": "reset", "confirmed": "1"})

    assert done.status_code == 302
    assert reload(area).matching_weights is None
    assert [e.detail for e in weight_events()] == ["sector: 20 → 40", "sector: 40 → 20"]
    assert "Burnley uses the default weights again." in page(as_admin.get(url(area)))


# --- the weights reach the engine ------------------------------------------------------------------------------

def _one_pairing(area):
    school = make_school(area)
    provider = make_provider(area)
    make_offer(provider, sessions=1)
    make_request(school, sectors=["engineering"])
    coordinator = make_user(Role.COORDINATOR, areas=[area])
    db.session.commit()
    return coordinator


def _proposals(area) -> list[Match]:
    return list(db.session.scalars(select(Match).where(Match.area_id == area.id, Match.origin == MatchOrigin.ENGINE)
                                   .order_by(Match.id)))


def test_a_run_uses_the_areas_weights(as_admin, area):
    coordinator = _one_pairing(area)
    matching.run_matching(area, by=coordinator)
    (before,) = [m for m in _proposals(area) if m.status == "proposed"]
    default_score = before.score

    as_admin.post(url(area), data=form_data(sector="520"))
    matching.run_matching(reload(area), by=coordinator)

    (after,) = [m for m in _proposals(area) if m.status == "proposed"]
    assert after.id == before.id  # the same pairing: kept, its value brought up to date by the new weights
    assert after.score > default_score
    assert round(after.score - default_score, 1) in (500.0, 500.0 * after.allocation)


def test_a_run_with_no_points_for_anything_proposes_nothing(as_admin, area):
    coordinator = _one_pairing(area)
    zero = dict.fromkeys(("base", "sector", "distance", "need", "at_risk", "waiting"), "0")
    as_admin.post(url(area), data=form_data(**zero))

    result, stored = matching.run_matching(reload(area), by=coordinator)

    assert (len(result.proposals), stored) == (0, 0)
    admin_service.set_area_weights(reload(area), {}, by=coordinator, ip=None)  # back to the defaults
    result, stored = matching.run_matching(reload(area), by=coordinator)
    assert stored == 1


def test_the_export_carries_the_areas_weights(as_admin, area, runner):
    as_admin.post(url(area), data=form_data(need="0", tiers=[("10", "1"), ("", "2")]))

    result = runner.invoke(args=["match", "export", "--area", "Burnley"])

    assert result.exit_code == 0, result.output
    weights = json.loads(result.output)["weights"]
    assert weights["need"] == 0 and weights["sector"] == 20
    assert weights["load_tiers"] == [[10, 1.0], [None, 2.0]]
    assert Weights.from_dict(weights) == matching.area_weights(reload(area))
