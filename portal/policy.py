"""Who may do what. Deny by default: a route with no rule here is refused to everyone.

Two layers:
- ROUTE_RULES says which kinds of user may reach an endpoint at all (checked before every view);
- the can_* functions answer object-level questions (this organisation, this area) in views and services.
tests/test_access_matrix.py visits every route as every role, so a route added without a rule fails there.
"""
from dataclasses import dataclass

from portal.vocab import Role


@dataclass(frozen=True)
class Rule:
    """Which users may reach an endpoint. `anonymous` lets signed-out visitors in."""

    roles: frozenset[Role]
    anonymous: bool = False
    # While a coordinator or admin has not yet set up two-step sign-in, only these rules let them through.
    during_two_step_setup: bool = False

    def allows(self, user) -> bool:
        if user is None or not getattr(user, "is_authenticated", False):
            return self.anonymous
        return self.allows_role(user.role)

    def allows_role(self, role) -> bool:
        """Whether a signed-in user of this role gets in: a rule looks at nothing else of a signed-in user."""
        return Role(role) in self.roles


ALL_ROLES = frozenset(Role)
PUBLIC = Rule(roles=ALL_ROLES, anonymous=True, during_two_step_setup=True)
# The home page is public, but a coordinator still setting up two-step is sent on to the setup page.
HOME = Rule(roles=ALL_ROLES, anonymous=True)
SIGNED_IN = Rule(roles=ALL_ROLES)
SIGNED_IN_SETUP = Rule(roles=ALL_ROLES, during_two_step_setup=True)
COORDINATORS = Rule(roles=frozenset({Role.COORDINATOR, Role.ADMIN}))
ADMINS = Rule(roles=frozenset({Role.ADMIN}))
MEMBERS = Rule(roles=frozenset({Role.PROVIDER, Role.CAREERS_LEAD}))

ROUTE_RULES: dict[str, Rule] = {
    "static": PUBLIC,
    "bootstrap.static": PUBLIC,
    "main.index": HOME,
    "main.healthz": PUBLIC,
    # Accounts
    "signup.start": PUBLIC,
    "signup.provider": PUBLIC,
    "signup.careers_lead": PUBLIC,
    "signup.confirm_email": PUBLIC,
    "signup.find_school": PUBLIC,
    "signup.check_email": PUBLIC,
    "auth.login": PUBLIC,
    "auth.login_two_step": PUBLIC,
    "auth.logout": SIGNED_IN_SETUP,
    "auth.forgot_password": PUBLIC,
    "auth.reset_password": PUBLIC,
    "auth.account": SIGNED_IN,
    "auth.change_password": SIGNED_IN_SETUP,
    "auth.two_step_setup": SIGNED_IN_SETUP,
    "auth.two_step_disable": SIGNED_IN,
    "auth.recovery_codes": SIGNED_IN_SETUP,
    # Organisations, places, verification
    "organisations.places": PUBLIC,
    "organisations.mine": MEMBERS,
    "organisations.index": COORDINATORS,
    "organisations.view": SIGNED_IN,  # object rule: can_view_organisation
    "organisations.edit": SIGNED_IN,  # object rule: can_edit_organisation
    "verification.queue": COORDINATORS,
    "verification.approve": COORDINATORS,  # object rule: can_verify
    "verification.reject": COORDINATORS,  # object rule: can_verify
    # Offers (providers; coordinators on a provider's behalf). Object rules: can_manage_offer, can_see_offer
    "offers.index": Rule(roles=frozenset({Role.PROVIDER, Role.COORDINATOR, Role.ADMIN})),
    "offers.create": Rule(roles=frozenset({Role.PROVIDER, Role.COORDINATOR, Role.ADMIN})),
    "offers.view": SIGNED_IN,
    "offers.edit": Rule(roles=frozenset({Role.PROVIDER, Role.COORDINATOR, Role.ADMIN})),
    "offers.duplicate": Rule(roles=frozenset({Role.PROVIDER, Role.COORDINATOR, Role.ADMIN})),
    "offers.change_status": Rule(roles=frozenset({Role.PROVIDER, Role.COORDINATOR, Role.ADMIN})),
    # Requests (careers leads; coordinators on a school's behalf). Object rule: can_manage_request
    "school_requests.index": Rule(roles=frozenset({Role.CAREERS_LEAD, Role.COORDINATOR, Role.ADMIN})),
    "school_requests.create": Rule(roles=frozenset({Role.CAREERS_LEAD, Role.COORDINATOR, Role.ADMIN})),
    "school_requests.view": Rule(roles=frozenset({Role.CAREERS_LEAD, Role.COORDINATOR, Role.ADMIN})),
    "school_requests.edit": Rule(roles=frozenset({Role.CAREERS_LEAD, Role.COORDINATOR, Role.ADMIN})),
    "school_requests.withdraw": Rule(roles=frozenset({Role.CAREERS_LEAD, Role.COORDINATOR, Role.ADMIN})),
    # Finding each other: careers leads browse offers and ask; providers see open requests and offer.
    "browse.offers": Rule(roles=frozenset({Role.CAREERS_LEAD, Role.COORDINATOR, Role.ADMIN})),
    "browse.request_offer": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "browse.digest": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "browse.open_requests": Rule(roles=frozenset({Role.PROVIDER})),
    "browse.offer_to_meet": Rule(roles=frozenset({Role.PROVIDER})),
    "matches.index": COORDINATORS,
    "matches.run": COORDINATORS,  # object rule: only for the coordinator's own areas (the form offers no other)
    "matches.approve": COORDINATORS,  # object rule: can_decide_match
    "matches.approve_many": COORDINATORS,  # object rule: can_decide_match, per match
    "matches.reject": COORDINATORS,  # object rule: can_decide_match
    "matches.change_allocation": COORDINATORS,  # object rule: can_decide_match
    "matches.hold": COORDINATORS,  # object rule: can_decide_match (stops a proposal approving itself)
    # After approval: the two sides and the area's coordinators. Object rule: can_see_match (and the service's own)
    "matches.view": SIGNED_IN,
    "matches.mine": MEMBERS,  # lists the user's own organisation's matches only (services.my_matches)
    "matches.accept": MEMBERS,
    "matches.decline": MEMBERS,
    "matches.schedule": SIGNED_IN,
    "matches.cancel": SIGNED_IN,
    "matches.no_show": SIGNED_IN,
    # Registers (4/6): the school's careers leads choose who goes and record attendance (object rule:
    # can_keep_register); the provider confirms delivery (object rule: can_confirm_delivery) and sees counts only.
    "registers.register": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "registers.attendance": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "registers.confirm_delivery": Rule(roles=frozenset({Role.PROVIDER})),
    # Pupils (4/6): the school's own careers leads only. Object rule: can_manage_pupil (and the upload's school)
    "pupils.index": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "pupils.create": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "pupils.view": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "pupils.edit": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "pupils.leave": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "pupils.upload": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "pupils.mapping": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    # Audit log and administration
    "audit.index": COORDINATORS,
    "admin.areas": ADMINS,
    "admin.area_edit": ADMINS,
    "admin.area_weights": ADMINS,
    "admin.users": ADMINS,
    "admin.user_edit": ADMINS,
    # Progress, destinations and reports (4/6). Object rule for areas: can_see_area; the rest act on the user's own
    # organisation only. Providers see their own offers' impact: counts only, never pupils.
    "progress.index": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "progress.destinations": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "progress.areas": COORDINATORS,
    "progress.area": COORDINATORS,
    "progress.remind": COORDINATORS,
    "progress.impact": Rule(roles=frozenset({Role.PROVIDER})),
    "reports.termly": COORDINATORS,
    "reports.termly_csv": COORDINATORS,
    "reports.benchmark5": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "reports.pupils_csv": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    # Apprenticeship levy (5/6): a provider's own account (levy payers; others get a page saying so); coordinators
    # see levy at risk in their areas and a provider's account read-only (object rule: can_see_levy_account).
    "levy.account": Rule(roles=frozenset({Role.PROVIDER})),
    "levy.add_entry": Rule(roles=frozenset({Role.PROVIDER})),
    "levy.add_spend": Rule(roles=frozenset({Role.PROVIDER})),
    "levy.provider_account": Rule(roles=frozenset({Role.PROVIDER, Role.COORDINATOR, Role.ADMIN})),
    "levy.at_risk": COORDINATORS,
    # NEET internship programmes and their rota (5/6): coordinators of the programme's area and admins (object rule:
    # can_manage_programme). Providers see only their own placements, by intern reference (can_complete_placement).
    "internships.index": COORDINATORS,
    "internships.create": COORDINATORS,
    "internships.programme": COORDINATORS,
    "internships.edit": COORDINATORS,
    "internships.add_intern": COORDINATORS,
    "internships.edit_intern": COORDINATORS,
    "internships.withdraw_intern": COORDINATORS,
    "internships.run_rota": COORDINATORS,
    "internships.move": COORDINATORS,
    "internships.approve": COORDINATORS,
    "internships.printable": COORDINATORS,
    "internships.provider_placements": Rule(roles=frozenset({Role.PROVIDER})),
    "internships.complete": Rule(roles=frozenset({Role.PROVIDER, Role.COORDINATOR, Role.ADMIN})),
    # NEET internships after the rota (5/6): feedback, coaching, signposting, control group, follow-ups, evaluation.
    # Coordinators of the programme's area and admins (object rule: can_follow_up_programme). The feedback form is
    # reached by its mailed or handed-on link: the token is the authority, no account needed.
    "internship_followup.interns": COORDINATORS,
    "internship_followup.coaching": COORDINATORS,
    "internship_followup.signposting": COORDINATORS,
    "internship_followup.feedback": COORDINATORS,
    "internship_followup.intern_link": COORDINATORS,
    "internship_followup.control_group": COORDINATORS,
    "internship_followup.complete": COORDINATORS,
    "internship_followup.follow_ups": COORDINATORS,
    "internship_followup.evaluation": COORDINATORS,
    "feedback.form": PUBLIC,
    # Primary resource kits (5/6): careers leads of schools with primary years ask for kits (object rule:
    # can_request_kits; secondary-only schools are refused); the kit's provider sends them (can_send_kit); the school
    # records use (can_manage_kit_request); either side cancels; coordinators see their areas' primary reach.
    "kits.index": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "kits.request_kit": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "kits.mark_sent": Rule(roles=frozenset({Role.PROVIDER})),
    "kits.mark_used": Rule(roles=frozenset({Role.CAREERS_LEAD})),
    "kits.cancel": MEMBERS,
    "kits.provider_requests": Rule(roles=frozenset({Role.PROVIDER})),
    "kits.reach": COORDINATORS,
    # Levy transfer pledges (5/6): levy-paying providers pledge (object rule: can_pledge) and decide on applications
    # to their pledges (can_manage_pledge); providers that do not pay the levy browse and apply (can_apply_to_pledge)
    # and accept or withdraw their own (can_act_as_applicant); coordinators of the pledger's area read (can_see_pledge).
    "pledges.index": Rule(roles=frozenset({Role.PROVIDER})),
    "pledges.area": COORDINATORS,
    "pledges.create": Rule(roles=frozenset({Role.PROVIDER})),
    "pledges.view": Rule(roles=frozenset({Role.PROVIDER, Role.COORDINATOR, Role.ADMIN})),
    "pledges.apply": Rule(roles=frozenset({Role.PROVIDER})),
    "pledges.close": Rule(roles=frozenset({Role.PROVIDER})),
    "pledges.approve": Rule(roles=frozenset({Role.PROVIDER})),
    "pledges.reject": Rule(roles=frozenset({Role.PROVIDER})),
    "pledges.use": Rule(roles=frozenset({Role.PROVIDER})),
    "pledges.accept": Rule(roles=frozenset({Role.PROVIDER})),
    "pledges.withdraw": Rule(roles=frozenset({Role.PROVIDER})),
}


def rule_for(endpoint: str | None) -> Rule | None:
    return ROUTE_RULES.get(endpoint or "")


def may_reach(user, endpoint: str | None) -> bool:
    rule = rule_for(endpoint)
    return rule is not None and rule.allows(user)


def role_may_reach(role, endpoint: str | None) -> bool:
    """may_reach for any signed-in user of this role (the same for all of them)."""
    rule = rule_for(endpoint)
    return rule is not None and rule.allows_role(role)


def requires_two_step(user) -> bool:
    """Coordinators and admins see many schools' data: two-step sign-in is not optional for them."""
    return Role(user.role) in {Role.COORDINATOR, Role.ADMIN}


def visible_area_ids(user) -> set[int] | None:
    """Areas whose data the user may see across organisations; None means every area (admins)."""
    if user.role == Role.ADMIN:
        return None
    if user.role == Role.COORDINATOR:
        return user.area_ids
    return set()


def _in_areas(user, area_id: int | None) -> bool:
    areas = visible_area_ids(user)
    return areas is None or (area_id is not None and area_id in areas)


def can_view_organisation(user, org) -> bool:
    if user.role in (Role.COORDINATOR, Role.ADMIN):
        return _in_areas(user, org.area_id)
    return user.organisation_id == org.id


def can_edit_organisation(user, org) -> bool:
    return can_view_organisation(user, org)


def can_verify(user, target) -> bool:
    """A coordinator verifies people and organisations in their own areas only."""
    if user.role not in (Role.COORDINATOR, Role.ADMIN):
        return False
    org = target if hasattr(target, "kind") else target.organisation
    return org is not None and _in_areas(user, org.area_id)


def can_read_audit(user, area_id: int | None) -> bool:
    if user.role == Role.ADMIN:
        return True
    return user.role == Role.COORDINATOR and area_id is not None and area_id in user.area_ids


def can_manage_offer(user, offer) -> bool:
    """Its provider's contacts, and coordinators of the provider's area, may edit an offer and change its status."""
    if user.role in (Role.COORDINATOR, Role.ADMIN):
        return _in_areas(user, offer.area_id)
    return user.role == Role.PROVIDER and user.organisation_id == offer.provider_id


def can_see_offer(user, offer) -> bool:
    """Managers always; careers leads only published offers of their area or open to all areas."""
    if can_manage_offer(user, offer):
        return True
    if user.role != Role.CAREERS_LEAD or user.organisation is None or offer.status != "published":
        return False
    return offer.open_to_all_areas or offer.area_id == user.organisation.area_id


def can_manage_request(user, school_request) -> bool:
    """Its school's careers leads, and coordinators of the school's area. Providers never see pupils' schools' requests
    except as open requests (counts only) through browse.open_requests."""
    if user.role in (Role.COORDINATOR, Role.ADMIN):
        return _in_areas(user, school_request.area_id)
    return user.role == Role.CAREERS_LEAD and user.organisation_id == school_request.school_id


def can_decide_match(user, match) -> bool:
    """Coordinators of the match's area (the school's) approve, reject and change it; admins everywhere."""
    if user.role not in (Role.COORDINATOR, Role.ADMIN):
        return False
    return _in_areas(user, match.area_id)


def can_see_match(user, match) -> bool:
    """The offer's provider contacts, the school's careers leads and the coordinators of the match's area."""
    if user.role == Role.PROVIDER:
        return can_manage_offer(user, match.offer)
    if user.role == Role.CAREERS_LEAD:
        return can_manage_request(user, match.request)
    return can_decide_match(user, match)


def can_keep_register(user, match) -> bool:
    """A match's register (its pupils): the school's own careers leads only (never providers or coordinators)."""
    return user.role == Role.CAREERS_LEAD and user.organisation_id == match.request.school_id


def can_confirm_delivery(user, match) -> bool:
    """The offer's provider contacts confirm that the session was delivered."""
    return user.role == Role.PROVIDER and user.organisation_id == match.offer.provider_id


def can_see_area(user, area_id: int | None) -> bool:
    """An area's progress and reports: its coordinators and admins (pupil references, never names)."""
    return user.role in (Role.COORDINATOR, Role.ADMIN) and _in_areas(user, area_id)


def can_manage_roster(user, school) -> bool:
    """A school's roster (imports, hand edits, the pupil list) is its own careers leads' only."""
    return school is not None and school.is_school and user.role == Role.CAREERS_LEAD \
        and user.organisation_id == school.id


def can_manage_pupil(user, pupil) -> bool:
    """A pupil's record (and name) is for their own school's careers leads only: not coordinators, not providers."""
    return user.role == Role.CAREERS_LEAD and user.organisation_id is not None \
        and user.organisation_id == pupil.school_id


def can_request_kits(user) -> bool:
    """Primary resource kits: careers leads of schools that teach primary years (primary, all-through, special)."""
    from portal.vocab import PHASE_YEARS

    org = getattr(user, "organisation", None)
    return user.role == Role.CAREERS_LEAD and org is not None and org.is_school \
        and any(year < 7 for year in PHASE_YEARS.get(org.phase or "", ()))


def can_manage_kit_request(user, kit_request) -> bool:
    """A kit request's school side: that school's careers leads (record use, cancel before it is sent)."""
    return user.role == Role.CAREERS_LEAD and user.organisation_id == kit_request.school_id


def can_send_kit(user, kit_request) -> bool:
    """A kit request's provider side: the kit offer's provider contacts (mark sent, cancel)."""
    return user.role == Role.PROVIDER and user.organisation_id == kit_request.offer.provider_id


# --- levy transfer pledges (5/6) -------------------------------------------------------------------------------------

def _verified_provider(user) -> bool:
    org = getattr(user, "organisation", None)
    return user.role == Role.PROVIDER and org is not None and org.is_provider and org.is_verified


def can_pledge(user) -> bool:
    """Verified providers that pay the apprenticeship levy pledge part of their levy funds."""
    return _verified_provider(user) and user.organisation.levy_payer


def can_apply_for_pledges(user) -> bool:
    """Smaller employers: verified providers that do not pay the levy."""
    return _verified_provider(user) and not user.organisation.levy_payer


def can_apply_to_pledge(user, pledge) -> bool:
    return can_apply_for_pledges(user) and pledge.provider_id != user.organisation_id


def can_manage_pledge(user, pledge) -> bool:
    """The pledging provider's own contacts close the pledge and decide on its applications."""
    return user.role == Role.PROVIDER and user.organisation_id == pledge.provider_id


def can_act_as_applicant(user, application) -> bool:
    """The applying provider's own contacts accept or withdraw its application."""
    return user.role == Role.PROVIDER and user.organisation_id == application.applicant_id


def can_see_pledge(user, pledge) -> bool:
    """The pledger; smaller employers while it is open or once they applied; coordinators of its area (read-only)."""
    if user.role in (Role.COORDINATOR, Role.ADMIN):
        return _in_areas(user, pledge.area_id)
    if can_manage_pledge(user, pledge):
        return True
    if not can_apply_for_pledges(user):
        return False
    return pledge.status == "open" or any(a.applicant_id == user.organisation_id for a in pledge.applications)


def can_follow_up_programme(user, programme) -> bool:
    """An internship programme's feedback, coaching, control group, follow-ups and evaluation: coordinators of its
    area and admins. Interns' names are for them alone."""
    return user.role in (Role.COORDINATOR, Role.ADMIN) and _in_areas(user, programme.area_id)


def can_manage_programme(user, programme) -> bool:
    """An internship programme, its interns and its rota: coordinators of its area and admins."""
    return user.role in (Role.COORDINATOR, Role.ADMIN) and _in_areas(user, programme.area_id)


def can_complete_placement(user, placement) -> bool:
    """An intern's week is marked completed by the programme's coordinators or by the placement's provider."""
    if user.role == Role.PROVIDER:
        return user.organisation_id is not None and user.organisation_id == placement.provider_id
    return user.role in (Role.COORDINATOR, Role.ADMIN) and _in_areas(user, placement.intern.area_id)


def can_see_levy_account(user, provider) -> bool:
    """A provider's levy account: its own users, and coordinators of its area (read only); admins."""
    if user.role in (Role.COORDINATOR, Role.ADMIN):
        return _in_areas(user, provider.area_id)
    return user.role == Role.PROVIDER and user.organisation_id == provider.id


def has_levy_account(user) -> bool:
    """The navigation's link to the levy account: users of a levy-paying provider."""
    org = getattr(user, "organisation", None)
    return user.role == Role.PROVIDER and org is not None and org.levy_payer
