"""The navigation's per-role cache (portal/navigation.py) must list exactly what the route rules let each user reach,
as working it out for every user on every page did."""
from types import SimpleNamespace

import pytest
from flask import session

from portal import navigation, policy
from portal.access import TWO_STEP_SETUP_FLAG
from portal.vocab import Role


def _uncached(user, setting_up: bool) -> list[tuple[str, str]]:
    return [(label, endpoint) for label, endpoint in navigation.NAV_ITEMS
            if policy.may_reach(user, endpoint)
            and (not setting_up or policy.rule_for(endpoint).during_two_step_setup)
            and navigation.NAV_CHECKS.get(endpoint, navigation._anyone)(user)]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("setting_up", [False, True])
def test_cached_items_match_the_route_rules(app, role, setting_up):
    user = SimpleNamespace(is_authenticated=True, role=role.value, organisation=None)
    with app.test_request_context("/"):
        if setting_up:
            session[TWO_STEP_SETUP_FLAG] = True
        got = [(label, endpoint) for label, endpoint, _ in navigation.nav_for(user)]
        assert got == _uncached(user, setting_up)
        assert got or setting_up, "every role has somewhere to go"


def test_signed_out_visitors_get_no_navigation(app):
    with app.test_request_context("/"):
        assert navigation.nav_for(None) == []
        assert navigation.nav_for(SimpleNamespace(is_authenticated=False)) == []
