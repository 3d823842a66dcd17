"""Pledge, application, and decision forms. The forms turn text into values; the rules live in services.pledges."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.forms.fields import MultiCheckboxField, WholeNumberField, optional_int, strip
from portal.models import DEFAULT_PLEDGE_DELAY_DAYS
from portal.offers.forms import DayField, PoundsField
from portal.services import pledges
from portal.vocab import SECTORS

LEVEL_CHOICES = {level: f"Level {level}" for level in pledges.LEVELS}


class PledgeForm(FlaskForm):
    title = StringField("Title", filters=[strip], validators=[
        DataRequired("Enter a title, e.g. Engineering apprenticeships in Pendle."),
        Length(max=pledges.TITLE_MAX, message=f"Enter at most {pledges.TITLE_MAX} characters.")])
    description = TextAreaField("What you would like to fund", filters=[strip], validators=[Optional(),
                                Length(max=2000, message="Enter at most 2,000 characters.")],
                                render_kw={"rows": 3})
    amount = PoundsField("Amount (£)", validators=[InputRequired("Enter the amount in pounds, e.g. 5000.")],
                         description="At most half of the levy funds that entered your account in the 12 months "
                                     "before this month.")
    max_distance_miles = WholeNumberField(
        "Furthest distance from you (miles)", validators=[Optional(), NumberRange(
            min=1, max=pledges.MAX_DISTANCE_MILES,
            message=f"Enter a distance of 1 to {pledges.MAX_DISTANCE_MILES} miles, or leave it blank.")],
        description="Leave blank for employers anywhere.", render_kw={"inputmode": "numeric"})
    sectors = MultiCheckboxField("Sectors", choices=dict(SECTORS),
                                 description="Leave all unticked for any sector.")
    levels = MultiCheckboxField("Apprenticeship levels", coerce=int, choices=LEVEL_CHOICES,
                                description="Leave all unticked for any level.")
    auto_approve = BooleanField("Approve applications that meet every criterion automatically", default=True)
    auto_approve_delay_days = WholeNumberField(
        "Days before approving automatically", default=DEFAULT_PLEDGE_DELAY_DAYS,
        validators=[InputRequired("Enter a number of days, e.g. 42."), NumberRange(
            min=0, max=pledges.MAX_DELAY_DAYS, message=f"Enter 0 to {pledges.MAX_DELAY_DAYS} days.")],
        description="0 approves at once; the default, 42, is six weeks, so you can decide first.",
        render_kw={"inputmode": "numeric"})

    def details(self) -> pledges.PledgeDetails:
        return pledges.PledgeDetails(
            title=self.title.data, amount_pence=self.amount.pence, description=self.description.data or "",
            max_distance_miles=self.max_distance_miles.data, sectors=list(self.sectors.data or []),
            levels=list(self.levels.data or []), auto_approve=bool(self.auto_approve.data),
            auto_approve_delay_days=self.auto_approve_delay_days.data)


class ApplicationForm(FlaskForm):
    standard = StringField("Apprenticeship standard", filters=[strip], validators=[
        DataRequired("Enter the apprenticeship standard, e.g. Engineering technician."),
        Length(max=pledges.STANDARD_MAX, message=f"Enter at most {pledges.STANDARD_MAX} characters.")])
    level = SelectField("Level", coerce=optional_int, choices={"": "Choose a level", **LEVEL_CHOICES},
                        validators=[InputRequired("Choose the apprenticeship's level.")])
    apprentices = WholeNumberField("Number of apprentices", validators=[
        InputRequired("Enter the number of apprentices, e.g. 2."),
        NumberRange(min=1, max=pledges.MAX_APPRENTICES,
                    message=f"Enter a number from 1 to {pledges.MAX_APPRENTICES}.")],
        render_kw={"inputmode": "numeric"})
    amount = PoundsField("Amount (£)", validators=[InputRequired("Enter the amount in pounds, e.g. 4000.")],
                         description="The training costs you would like this pledge to pay.")
    town = StringField("Town", filters=[strip], validators=[Optional(), Length(max=pledges.TOWN_MAX)],
                       description="Where the apprentices will work.")
    starts_on = DayField("Start date", validators=[InputRequired("Enter the start date, e.g. 2026-09-01.")],
                         description="For example 2026-09-01.")
    message = TextAreaField("Message to the pledger", filters=[strip], validators=[
        Optional(), Length(max=2000, message="Enter at most 2,000 characters.")], render_kw={"rows": 3})

    def details(self) -> pledges.ApplicationDetails:
        return pledges.ApplicationDetails(
            standard=self.standard.data, level=self.level.data, apprentices=self.apprentices.data,
            amount_pence=self.amount.pence, starts_on=self.starts_on.data, town=self.town.data or None,
            message=self.message.data or None)


class BrowseForm(FlaskForm):
    """The browse filters (GET, no CSRF)."""

    class Meta:
        csrf = False

    sector = SelectField("Sector", choices={"": "Any sector", **SECTORS}, validators=[Optional()])
    level = SelectField("Level", coerce=optional_int, choices={"": "Any level", **LEVEL_CHOICES},
                        validators=[Optional()])


class ButtonForm(FlaskForm):
    """A one-button action (approve, accept, close, use): only the CSRF token."""


class RejectForm(FlaskForm):
    reason = TextAreaField("Reason", filters=[strip], validators=[
        DataRequired("Give a reason: it is emailed to the applicant."),
        Length(pledges.REASON_MIN, pledges.REASON_MAX,
               f"Give a reason of {pledges.REASON_MIN} to {pledges.REASON_MAX} characters.")],
        description="It is emailed to the applicant, so write it for them.",
        render_kw={"rows": 4, "maxlength": pledges.REASON_MAX})


class WithdrawForm(FlaskForm):
    reason = TextAreaField("Reason (optional)", filters=[strip], validators=[
        Optional(), Length(max=pledges.REASON_MAX, message=f"Enter at most {pledges.REASON_MAX} characters.")],
        description="It is emailed to the pledger.", render_kw={"rows": 3, "maxlength": pledges.REASON_MAX})
