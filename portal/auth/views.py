"""Sign-in, sign-out, two-step sign-in, password reset and change, and the account page."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user

from portal import policy
from portal.auth import web
from portal.auth.forms import (
    ChangePasswordForm,
    ConfirmPasswordForm,
    ForgotPasswordForm,
    LoginForm,
    RegenerateCodesForm,
    ResetPasswordForm,
    TwoStepCodeForm,
    TwoStepSetupForm,
)
from portal.errors import InvalidState, NotAllowed, PortalError
from portal.extensions import limiter
from portal.services import auth

bp = Blueprint("auth", __name__)


def _attempt_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


# Guessing passwords, codes or mailing reset links to strangers: each costs a POST, counted per address.
limit_attempts = limiter.limit(_attempt_limit, methods=["POST"], key_func=get_remote_address)


@bp.route("/login", methods=["GET", "POST"])
@limit_attempts
def login():
    """Email and password; then the two-step code if the account has one."""
    next_url = request.args.get("next")
    if current_user.is_authenticated:
        return redirect(web.next_or_home(next_url))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            result = auth.sign_in(form.email.data, form.password.data, ip=request.remote_addr)
        except PortalError as error:
            web.show_error(form, error)
        else:
            if result.needs_code:
                web.remember_pending(result.user, next_url)
                return redirect(url_for("auth.login_two_step"))
            web.start_session(result.user, setup_required=result.must_set_up_two_step)
            if result.must_set_up_two_step:
                flash("Set up two-step sign-in to continue. Your role needs it.", "warning")
                return redirect(url_for("auth.two_step_setup"))
            return redirect(web.next_or_home(next_url))
    safe_next = next_url if web.is_safe_next(next_url) else None
    return render_template("auth/login.html", form=form, next_url=safe_next)


@bp.route("/login/two-step", methods=["GET", "POST"])
@limit_attempts
def login_two_step():
    """The second step: a code from the authenticator app, or a recovery code."""
    pending = web.pending()
    if pending is None:
        return render_template("auth/login_two_step_expired.html")
    form = TwoStepCodeForm()
    if form.validate_on_submit():
        try:
            user = auth.complete_two_step(pending["user_id"], pending["nonce"], form.code.data, ip=request.remote_addr)
        except InvalidState as error:
            flash(error.message, "warning")
            return redirect(url_for("auth.login"))
        except PortalError as error:
            web.show_error(form, error)
        else:
            web.start_session(user)
            return redirect(web.next_or_home(pending["next"]))
    return render_template("auth/login_two_step.html", form=form)


@bp.post("/logout")
def logout():
    """Sign out everywhere: the session nonce changes, so no copy of the old cookie works again."""
    auth.sign_out(web.signed_in_user(), ip=request.remote_addr)
    web.end_session()
    flash("You have signed out.", "info")
    return redirect(url_for("main.index"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limit_attempts
def forgot_password():
    """Ask for a reset link. The answer is the same whether or not the address has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        auth.request_password_reset(form.email.data, ip=request.remote_addr)
        flash("If an account exists for that address, we've sent a link to reset its password. "
              "The link works once, for one hour.", "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot_password.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limit_attempts
def reset_password(token: str):
    """Choose a new password from an emailed link; then sign in with it."""
    if auth.reset_token(token) is None:
        return render_template("auth/reset_password_invalid.html"), 404
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            auth.reset_password(token, form.password.data, ip=request.remote_addr)
        except PortalError as error:
            web.show_error(form, error)
        else:
            web.end_session()
            flash("Your password has been changed. Sign in with your new password.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form, token=token)


def _account_page(disable_form: ConfirmPasswordForm | None = None):
    user = web.signed_in_user()
    return render_template(
        "auth/account.html",
        user=user,
        role_label=user.role_enum.label,
        organisation=user.organisation,
        two_step_required=policy.requires_two_step(user),
        may_disable_two_step=user.two_step_enabled and not policy.requires_two_step(user),
        codes_left=auth.recovery_codes_left(user) if user.two_step_enabled else 0,
        disable_form=disable_form or ConfirmPasswordForm(formdata=None),
    )


@bp.get("/account")
def account():
    """Who you are, and the security settings you can change."""
    return _account_page()


@bp.route("/account/password", methods=["GET", "POST"])
def change_password():
    """Change the password; every other session of this user ends."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            user = auth.change_password(web.signed_in_user(), form.current_password.data, form.new_password.data,
                                        ip=request.remote_addr)
        except PortalError as error:
            web.show_error(form, error)
        else:
            web.relogin(user)
            flash("Your password has been changed. You have been signed out everywhere else.", "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/change_password.html", form=form)


@bp.route("/account/two-step", methods=["GET", "POST"])
def two_step_setup():
    """Set up two-step sign-in (or move it to a new device): scan, confirm a code, keep the recovery codes."""
    secret = web.setup_secret(auth.new_totp_secret)
    form = TwoStepSetupForm()
    if form.validate_on_submit():
        try:
            codes = auth.enable_two_step(web.signed_in_user(), secret, form.code.data, ip=request.remote_addr)
        except PortalError as error:
            web.show_error(form, error)
        else:
            web.finish_setup()
            flash("Two-step sign-in is on.", "success")
            return render_template("auth/recovery_codes_new.html", codes=codes)
    uri = auth.provisioning_uri(web.signed_in_user(), secret)
    return render_template("auth/two_step_setup.html", form=form, qr=web.qr_data_uri(uri),
                           secret=web.spaced(secret), already_on=current_user.two_step_enabled)


@bp.post("/account/two-step/disable")
def two_step_disable():
    """Turn two-step sign-in off: careers leads and providers only, after their password."""
    if policy.requires_two_step(current_user):
        flash("Coordinators and administrators must keep two-step sign-in on.", "warning")
        return redirect(url_for("auth.account"))
    form = ConfirmPasswordForm()
    if form.validate_on_submit():
        try:
            auth.disable_two_step(web.signed_in_user(), form.password.data, ip=request.remote_addr)
        except (NotAllowed, InvalidState) as error:
            flash(error.message, "warning")
            return redirect(url_for("auth.account"))
        except PortalError as error:
            web.show_error(form, error)
        else:
            flash("Two-step sign-in is off.", "info")
            return redirect(url_for("auth.account"))
    return _account_page(disable_form=form)


@bp.route("/account/two-step/recovery-codes", methods=["GET", "POST"])
def recovery_codes():
    """How many recovery codes are left, and new ones on request (shown once)."""
    if not current_user.two_step_enabled:
        flash("Set up two-step sign-in first.", "info")
        return redirect(url_for("auth.two_step_setup"))
    form = RegenerateCodesForm()
    if form.validate_on_submit():
        codes = auth.regenerate_recovery_codes(web.signed_in_user(), ip=request.remote_addr)
        flash("New recovery codes made. The old ones no longer work.", "success")
        return render_template("auth/recovery_codes_new.html", codes=codes)
    codes_left = auth.recovery_codes_left(web.signed_in_user())
    return render_template("auth/recovery_codes.html", form=form, codes_left=codes_left)
