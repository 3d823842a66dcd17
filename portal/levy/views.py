"""Levy account pages: a levy-paying provider's own account (the month-by-month projection, entries, spends),
a coordinator's read-only view of one, and levy at risk across the coordinator's areas."""
from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import policy
from portal.errors import PortalError
from portal.extensions import db
from portal.forms.fields import attach_error
from portal.levy.forms import EntryForm, SpendForm
from portal.models import Organisation
from portal.services import levy
from portal.services.offers import pounds
from portal.vocab import Role

bp = Blueprint("levy", __name__)

PLEDGES_ENDPOINT = "pledges.index"


def _own_provider() -> Organisation:
    provider = current_user.organisation
    if provider is None or not provider.is_provider:
        abort(403)
    return provider


def _forms(today: date, *, formdata=None, which: str | None = None) -> tuple[EntryForm, SpendForm]:
    months = levy.month_choices(today=today)
    entry = EntryForm(prefix="entry", formdata=formdata if which == "entry" else None)
    spend = SpendForm(prefix="spend", formdata=formdata if which == "spend" else None)
    entry.set_months(months)
    spend.set_months(months)
    return entry, spend


def _links(provider: Organisation) -> dict:
    own = current_user.role == Role.PROVIDER
    has_pledges = PLEDGES_ENDPOINT in current_app.view_functions
    return {
        "new_place_url": url_for("offers.create", type="levy_place") if own else None,
        "pledges_url": url_for(PLEDGES_ENDPOINT) if has_pledges and policy.may_reach(current_user, PLEDGES_ENDPOINT)
        else None,
        "organisation_url": url_for("organisations.edit", org_id=provider.id)
        if policy.can_edit_organisation(current_user, provider) else None,
    }


def _render(provider: Organisation, today: date, entry_form=None, spend_form=None, status: int = 200):
    links = _links(provider)
    if not provider.levy_payer:
        return render_template("levy/not_payer.html", provider=provider, **links), status
    if entry_form is None or spend_form is None:
        entry_form, spend_form = _forms(today)
    return render_template(
        "levy/account.html", account=levy.account(provider, today=today), entry_form=entry_form,
        spend_form=spend_form, editable=current_user.role == Role.PROVIDER, pounds=pounds,
        month_label=levy.month_label, soon=levy.SOON_MONTHS, later=levy.LATER_MONTHS, **links,
    ), status


@bp.get("/levy")
def account():
    """The provider's own levy account: the next 24 months, what expires when, recent entries and spends."""
    return _render(_own_provider(), date.today())


@bp.get("/levy/providers/<int:org_id>")
def provider_account(org_id: int):
    """One provider's levy account, for its own users (sent to /levy) and its area's coordinators (read only)."""
    provider = db.get_or_404(Organisation, org_id)
    if not provider.is_provider or not policy.can_see_levy_account(current_user, provider):
        abort(403)
    if current_user.role == Role.PROVIDER:
        return redirect(url_for(".account"))
    return _render(provider, date.today())


def _post(which: str, record):
    provider = _own_provider()
    today = date.today()
    entry_form, spend_form = _forms(today, formdata=request.form, which=which)
    form = entry_form if which == "entry" else spend_form
    if not provider.levy_payer:
        return _render(provider, today, status=409)
    if form.validate_on_submit():
        try:
            message = record(provider, form, today)
        except PortalError as error:
            attach_error(form, error)
        else:
            flash(message, "success")
            return redirect(url_for(".account"))
    return _render(provider, today, entry_form, spend_form, status=400)


@bp.post("/levy/entries")
def add_entry():
    def record(provider, form, today):
        result = levy.record_entry(provider, month=form.month.data, amount_pence=form.amount.pence,
                                   replace=form.replace.data, by=current_user, today=today, ip=request.remote_addr)
        month = levy.month_label(result.entry.month)
        if result.previous is not None:
            return f"{month}: changed from {pounds(result.previous)} to {pounds(result.entry.amount_pence)}."
        return f"{month}: {pounds(result.entry.amount_pence)} recorded."

    return _post("entry", record)


@bp.post("/levy/spends")
def add_spend():
    def record(provider, form, today):
        spend = levy.record_spend(provider, month=form.month.data, amount_pence=form.amount.pence,
                                  note=form.note.data, by=current_user, today=today, ip=request.remote_addr)
        return f"{levy.month_label(spend.month)}: {pounds(spend.amount_pence)} spent, from the oldest funds first."

    return _post("spend", record)


@bp.get("/levy/at-risk")
def at_risk():
    """Levy at risk across the coordinator's areas: per levy-paying provider, what expires within 3 and 6 months."""
    today = date.today()
    rows = levy.expiring(policy.visible_area_ids(current_user), today=today)
    return render_template("levy/at_risk.html", rows=rows, pounds=pounds, month_label=levy.month_label,
                           total_soon=sum(r.within_soon for r in rows), total_later=sum(r.within_later for r in rows),
                           soon=levy.SOON_MONTHS, later=levy.LATER_MONTHS)
