"""The role-aware navigation, decided here so templates only present it."""
from functools import cache

from flask import Flask, has_request_context, request, session
from flask_login import current_user

from portal import policy
from portal.access import TWO_STEP_SETUP_FLAG

# (label, endpoint) in display order; each shows only to users the route's policy rule lets in.
NAV_ITEMS = [
    ("Home", "main.index"),
    ("Offers", "offers.index"),
    ("Find offers", "browse.offers"),
    ("Requests", "school_requests.index"),
    ("Pupils", "pupils.index"),
    ("Open requests", "browse.open_requests"),
    ("Proposals", "matches.index"),
    ("Matches", "matches.mine"),
    ("Internships", "internships.index"),
    ("Internship weeks", "internships.provider_placements"),
    ("Progress", "progress.index"),
    ("Progress", "progress.areas"),
    ("Impact", "progress.impact"),
    ("Destinations", "progress.destinations"),
    ("Kits", "kits.index"),
    ("Kit requests", "kits.provider_requests"),
    ("Primary reach", "kits.reach"),
    ("Levy account", "levy.account"),
    ("Levy at risk", "levy.at_risk"),
    ("Pledges", "pledges.index"),
    ("Levy pledges", "pledges.area"),
    ("My organisation", "organisations.mine"),
    ("Verification", "verification.queue"),
    ("Organisations", "organisations.index"),
    ("Audit log", "audit.index"),
    ("Areas", "admin.areas"),
    ("Users", "admin.users"),
    ("Account", "auth.account"),
]

# Items whose page also needs an object rule about the user's own organisation: shown only to those it lets in.
NAV_CHECKS = {"kits.index": policy.can_request_kits, "levy.account": policy.has_levy_account,
             "pledges.index": lambda user: policy.can_pledge(user) or policy.can_apply_for_pledges(user)}


def _anyone(user) -> bool:
    return True


@cache
def _items_for(role: str, setting_up: bool) -> tuple[tuple[str, str], ...]:
    """(label, endpoint) of the items whose route rule lets a signed-in user of this role in (while two-step set-up
    is pending, only those the gate lets through). A route rule looks at nothing but the role of a signed-in user,
    so this is the same for every user of the role: worked out once per process, not on every page."""
    return tuple(
        (label, endpoint)
        for label, endpoint in NAV_ITEMS
        if policy.role_may_reach(role, endpoint) and (not setting_up or policy.rule_for(endpoint).during_two_step_setup)
    )


def nav_for(user) -> list[tuple[str, str, bool]]:
    """(label, endpoint, is_current) for each item this user may reach."""
    if user is None or not user.is_authenticated:
        return []
    current = request.endpoint or ""
    # While two-step set-up is pending, offer only what the gate lets through (no links that bounce back).
    setting_up = bool(session.get(TWO_STEP_SETUP_FLAG))
    return [
        (label, endpoint, current == endpoint)
        for label, endpoint in _items_for(user.role, setting_up)
        if NAV_CHECKS.get(endpoint, _anyone)(user)
    ]


def init_app(app: Flask) -> None:
    @app.context_processor
    def inject_navigation():
        # Mail templates are also rendered outside a request (CLI, outbox): no user, no navigation.
        # The user itself, not the current_user proxy: each item's checks would resolve the proxy again.
        return {"nav_items": nav_for(current_user._get_current_object()) if has_request_context() else []}
