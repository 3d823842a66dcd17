"""Sign-up for provider contacts and careers leads, finding a school, and email confirmation."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm

from portal.errors import PortalError
from portal.extensions import limiter
from portal.forms.fields import attach_error
from portal.services import accounts
from portal.signup.forms import CareersLeadSignupForm, ProviderSignupForm

bp = Blueprint("signup", __name__)

SEARCH_MAX = 100
# Each sign-up POST may send mail to the address typed in; a limit per network address keeps the form
# from being used to flood someone's inbox.
SIGNUP_RATE_LIMIT = "5 per minute;20 per hour"
limit_signups = limiter.limit(SIGNUP_RATE_LIMIT, methods=["POST"])


def _search_text() -> str:
    return request.args.get("q", "").strip()[:SEARCH_MAX]


@bp.get("/signup")
def start():
    """Which kind of account: someone offering encounters, or a school's careers lead."""
    return render_template("signup/start.html")


@bp.route("/signup/provider", methods=["GET", "POST"])
@limit_signups
def provider():
    """A provider contact signs up; the organisation list can be narrowed by name with ?q= (no JavaScript)."""
    name_filter = _search_text()
    form = ProviderSignupForm()
    organisations = accounts.joinable_providers(name_filter)
    form.organisation_id.choices = [("", "Choose…")] + [(o.id, o.name) for o in organisations]
    form.area_id.choices = [("", "Choose…"), *accounts.area_choices()]
    if form.validate_on_submit():
        joining = form.joining.data == "existing"
        try:
            accounts.sign_up_provider(
                form.account(),
                organisation_id=form.organisation_id.data if joining else None,
                new_organisation=None if joining else _provider_details(form),
                ip=request.remote_addr,
            )
        except PortalError as error:
            attach_error(form, error)
        else:
            return redirect(url_for("signup.check_email"))
    return render_template("signup/provider.html", form=form, name_filter=name_filter,
                           organisation_count=len(organisations))


def _provider_details(form: ProviderSignupForm) -> accounts.ProviderDetails:
    return accounts.ProviderDetails(
        name=form.org_name.data, area_id=form.area_id.data, provider_kind=form.provider_kind.data,
        sectors=form.sectors.data, size_band=form.size_band.data, location=form.location,
        levy_payer=form.levy_payer.data, website=form.website.data or None,
        safeguarding_contact=form.safeguarding_contact.data or None,
    )


@bp.get("/signup/find-school")
def find_school():
    """Find a school by part of its name or its exact 6-digit URN, to sign up as its careers lead."""
    text = _search_text()
    schools = accounts.find_schools(text)
    return render_template("signup/find_school.html", q=text, schools=schools, searched=bool(text))


@bp.route("/signup/careers-lead", methods=["GET", "POST"])
@limit_signups
def careers_lead():
    """A careers lead signs up for a school chosen on find_school (?school_id=), or registers a new school."""
    form = CareersLeadSignupForm()
    if request.method == "GET":
        form.school_id.data = request.args.get("school_id", type=int)
    school = accounts.joinable_school(form.school_id.data)
    if form.school_id.data and school is None:
        flash("That school could not be found. Search for it again.", "warning")
        return redirect(url_for("signup.find_school"))
    form.area_id.choices = [("", "Choose…"), *accounts.area_choices()]
    if form.validate_on_submit():
        try:
            accounts.sign_up_careers_lead(
                form.account(),
                school_id=school.id if school else None,
                new_school=None if school else _school_details(form),
                ip=request.remote_addr,
            )
        except PortalError as error:
            attach_error(form, error)
        else:
            return redirect(url_for("signup.check_email"))
    return render_template("signup/careers_lead.html", form=form, school=school)


def _school_details(form: CareersLeadSignupForm) -> accounts.SchoolDetails:
    return accounts.SchoolDetails(
        name=form.school_name.data, urn=form.urn.data, phase=form.phase.data, area_id=form.area_id.data,
        location=form.location, year_sizes=form.year_sizes(),
    )


@bp.get("/signup/check-email")
def check_email():
    """The same page whether or not the address already had an account: sign-up reveals no one."""
    return render_template("signup/check_email.html")


@bp.route("/signup/confirm/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    """GET shows a button (mail scanners follow links; only the POST confirms)."""
    form = FlaskForm()
    problem = accounts.confirm_token_problem(token)
    if problem is None and form.validate_on_submit():
        try:
            accounts.confirm_email(token, ip=request.remote_addr)
        except PortalError as error:
            problem = error.message
        else:
            flash("Thank you: your email address is confirmed. A coordinator for your area will now check "
                  "your details; we will email you when your account is ready.", "success")
            return redirect(url_for("main.index"))
    if problem:
        return render_template("signup/confirm_invalid.html", problem=problem), 400
    return render_template("signup/confirm_email.html", form=form)
