"""Forms for signing in, two-step sign-in, and changing or resetting a password."""
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length

from portal.services.passwords import MAX_LENGTH


class LoginForm(FlaskForm):
    email = EmailField("Email address", validators=[DataRequired("Enter your email address."), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired("Enter your password."), Length(max=MAX_LENGTH)])


class TwoStepCodeForm(FlaskForm):
    code = StringField(
        "Code",
        description="The 6-digit code from your authenticator app, or one of your recovery codes.",
        validators=[DataRequired("Enter the code from your app or a recovery code."), Length(max=32)],
    )


class TwoStepSetupForm(FlaskForm):
    code = StringField(
        "Code from your app",
        description="The 6-digit code your app shows now.",
        validators=[DataRequired("Enter the 6-digit code from your app."), Length(max=16)],
    )


class ConfirmPasswordForm(FlaskForm):
    """Asked before turning two-step sign-in off."""

    password = PasswordField("Your password", validators=[InputRequired("Enter your password."),
                                                          Length(max=MAX_LENGTH)])


class RegenerateCodesForm(FlaskForm):
    """Only a button (with its CSRF token)."""


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Email address",
        validators=[DataRequired("Enter your email address."), Email("Enter an email address like name@example.org."),
                    Length(max=254)],
    )


_NEW_HINT = "At least 12 characters. A few unrelated words together work well."


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", description=_NEW_HINT,
                             validators=[InputRequired("Enter a new password.")])
    confirm = PasswordField("Confirm new password", validators=[
        InputRequired("Enter the new password again."), EqualTo("password", "The two passwords do not match.")])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[
        InputRequired("Enter your current password."), Length(max=MAX_LENGTH)])
    new_password = PasswordField("New password", description=_NEW_HINT,
                                 validators=[InputRequired("Enter a new password.")])
    confirm = PasswordField("Confirm new password", validators=[
        InputRequired("Enter the new password again."), EqualTo("new_password", "The two passwords do not match.")])
