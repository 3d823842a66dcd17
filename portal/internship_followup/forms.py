"""Forms for the programme after the rota: coaching, signposting, the control group, follow-ups."""
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, DataRequired, InputRequired, Length, NumberRange, Optional

from portal.forms.fields import WholeNumberField, strip
from portal.services.internship_followup import (
    AGE_BANDS,
    COACHING,
    FOLLOW_UP_LABELS,
    NAME_MAX,
    NEET_MONTHS_MAX,
    TEXT_MAX,
    TOWN_MAX,
)


class ButtonForm(FlaskForm):
    """A POST button: the CSRF token only."""


class CoachingForm(FlaskForm):
    session = HiddenField(validators=[AnyOf(list(COACHING), message="Choose a coaching session.")])


class SignpostingForm(FlaskForm):
    note = TextAreaField("Next opportunity", filters=[strip],
                         validators=[Length(max=TEXT_MAX, message=f"Keep it to {TEXT_MAX} characters or fewer.")],
                         description="Where the intern was pointed next: a course, an apprenticeship, a job, a "
                                     "service. No contact details.",
                         render_kw={"rows": 4, "maxlength": TEXT_MAX})


class ControlMemberForm(FlaskForm):
    display_name = StringField("Name (optional)", filters=[strip],
                               validators=[Optional(), Length(max=NAME_MAX,
                                                              message=f"Keep it to {NAME_MAX} characters.")],
                               description="Seen by coordinators only. Leave it blank to keep to the reference.")
    age_band = SelectField("Age", choices={"": "Choose…", **dict(AGE_BANDS)},
                           validators=[DataRequired("Choose an age band.")])
    town = StringField("Town (optional)", filters=[strip],
                       validators=[Optional(), Length(max=TOWN_MAX, message=f"Keep it to {TOWN_MAX} characters.")])
    neet_months = WholeNumberField("How long NEET, in months", validators=[
        InputRequired("Enter a whole number of months, e.g. 6."),
        NumberRange(0, NEET_MONTHS_MAX, f"Enter a whole number of months from 0 to {NEET_MONTHS_MAX}."),
    ], render_kw={"inputmode": "numeric", "min": 0, "max": NEET_MONTHS_MAX})


def follow_ups_form(rows, formdata=None):
    """One select per young person at a follow-up point, named s_<follow-up id>; rows not yet due are left out."""

    class FollowUpsForm(FlaskForm):
        pass

    due = [row for row in rows if row.due]
    for row in due:
        setattr(FollowUpsForm, f"s_{row.follow_up.id}", SelectField(
            f"Status of {row.intern.reference}", choices=[], default=row.follow_up.status or "",
        ))
    form = FollowUpsForm(formdata=formdata) if formdata is not None else FollowUpsForm()
    form.fields_by_id = {row.follow_up.id: form[f"s_{row.follow_up.id}"] for row in due}
    for field in form.fields_by_id.values():
        field.choices = {"": "Not recorded", **{str(status): label for status, label in FOLLOW_UP_LABELS.items()}}
    return form


def chosen(form) -> dict[int, str]:
    return {follow_up_id: field.data or "" for follow_up_id, field in form.fields_by_id.items()}
