"""The coordinator's decision forms: reject with a reason, change the allocation, approve several at once."""
from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional

from portal.forms.fields import DayField, TimeOfDayField, WholeNumberField, strip
from portal.services.match_lifecycle import CONTACT_MAX, LINK_MAX, PLACE_MAX
from portal.services.match_lifecycle import MINUTES_MAX as SESSION_MINUTES_MAX
from portal.services.match_lifecycle import MINUTES_MIN as SESSION_MINUTES_MIN
from portal.services.matches import REASON_MAX, REASON_MIN

MAX_SELECTED = 200  # more than a page of the queue; a bigger POST is not a person pressing a button


class RejectForm(FlaskForm):
    reason = TextAreaField(
        "Reason",
        filters=[strip],
        validators=[DataRequired("Give a reason: it is emailed to the provider and the school."),
                    Length(REASON_MIN, REASON_MAX, f"Give a reason of {REASON_MIN} to {REASON_MAX} characters.")],
        description="It is emailed to the provider's contacts and the school's careers leads, so write it for them.",
        render_kw={"rows": 4, "maxlength": REASON_MAX},
    )


class AllocationForm(FlaskForm):
    allocation = WholeNumberField(
        "Allocation",
        validators=[InputRequired("Enter a whole number, e.g. 20."),
                    NumberRange(min=1, message="Enter a whole number of 1 or more.")],
        render_kw={"inputmode": "numeric", "min": 1},
    )
    # The allocation the coordinator saw: someone else's change meanwhile is reported, not overwritten.
    expected = HiddenField(validators=[Optional()])

    def expected_allocation(self) -> int | None:
        return int(self.expected.data) if (self.expected.data or "").isdigit() else None


class IdListField(Field):
    """Every value of a repeated form key as whole numbers (checkboxes the template renders in table rows)."""

    def process_formdata(self, valuelist):
        self.data = []
        for value in valuelist[:MAX_SELECTED + 1]:
            if not str(value).isdigit():
                raise ValueError("Select proposed matches from the list.")
            self.data.append(int(value))

    def pre_validate(self, form):
        if len(self.data or []) > MAX_SELECTED:
            raise ValueError(f"Select at most {MAX_SELECTED} at once.")


class ApproveManyForm(FlaskForm):
    match_ids = IdListField("Proposed matches", validators=[DataRequired("Select at least one match to approve.")])


class RunMatchingForm(FlaskForm):
    """Run the matching engine for one of the coordinator's areas (choices set in the view)."""

    area_id = SelectField("Area", coerce=int, choices=[],
                          validators=[InputRequired("Choose the area to run matching for.")],
                          description="New proposals replace this area's earlier proposals that nobody has approved.")


# --- after approval (services.match_lifecycle) --------------------------------------------------------------------

class ButtonForm(FlaskForm):
    """A one-button action (accept): only the CSRF token."""


class ReasonForm(FlaskForm):
    """Decline or cancel, with the reason that is mailed to the others."""

    reason = TextAreaField(
        "Reason",
        filters=[strip],
        validators=[DataRequired("Give a reason: it is emailed to the others involved."),
                    Length(REASON_MIN, REASON_MAX, f"Give a reason of {REASON_MIN} to {REASON_MAX} characters.")],
        description="It is emailed to the others involved in this match, so write it for them.",
        render_kw={"rows": 4, "maxlength": REASON_MAX},
    )


class ScheduleForm(FlaskForm):
    day = DayField("Date", validators=[InputRequired("Enter the date, e.g. 2026-03-14.")],
                    description="Within both the offer's dates and the school's dates, shown above.")
    start = TimeOfDayField("Start time", validators=[InputRequired("Enter the start time, e.g. 09:30.")])
    minutes = WholeNumberField("Length in minutes", invalid_value_message="Enter the length in minutes, e.g. 60.",
                               validators=[
        InputRequired("Enter the length in minutes, e.g. 60."),
        NumberRange(min=SESSION_MINUTES_MIN, max=SESSION_MINUTES_MAX,
                    message=f"Enter a length of {SESSION_MINUTES_MIN} to {SESSION_MINUTES_MAX} minutes.")],
        render_kw={"inputmode": "numeric"})
    place = StringField("Place", filters=[strip], validators=[Optional(), Length(max=PLACE_MAX)],
                        description="Where the session takes place: room, site, address.")
    link = StringField("Video link", filters=[strip], validators=[Optional(), Length(max=LINK_MAX)],
                       description="Starting https://")
    contact = StringField("Contact on the day", filters=[strip],
                          validators=[DataRequired("Enter who to ask for on the day."), Length(max=CONTACT_MAX)],
                          description="A name and a phone number.")


class NoShowForm(FlaskForm):
    side = HiddenField("Who did not turn up", validators=[
        AnyOf(["provider", "school"], message="Choose the side that did not turn up.")])
