"""Registers' forms: who goes, who attended and the meaningful-encounter checklist."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, Field, TextAreaField
from wtforms.validators import Length, Optional

from portal.forms.fields import strip
from portal.services.registers import REFLECTIONS_MAX

MAX_PUPILS = 2000  # more than any session's places; a bigger POST is not a person ticking boxes


class PupilIdsField(Field):
    """Every ticked checkbox of a repeated key, as whole numbers (the template renders them in table rows)."""

    def process_formdata(self, valuelist):
        self.data = []
        for value in valuelist[:MAX_PUPILS + 1]:
            if not str(value).isdigit():
                raise ValueError("Choose pupils from the list.")
            self.data.append(int(value))

    def _value(self):
        return ""

    def pre_validate(self, form):
        if len(self.data or []) > MAX_PUPILS:
            raise ValueError(f"Choose at most {MAX_PUPILS} pupils.")


class RegisterForm(FlaskForm):
    pupil_ids = PupilIdsField("Pupils to send")


class AttendanceForm(FlaskForm):
    attended = PupilIdsField("Who attended")
    purpose_shared = BooleanField(
        "Purpose shared", description="Pupils knew beforehand why they were going and what they would get from it.")
    learning_outcomes = BooleanField(
        "Learning outcomes", description="The session had clear learning outcomes, agreed with the provider.")
    two_way = BooleanField(
        "Two-way interaction", description="Pupils talked with the people they met and asked their own questions, "
                                           "not only listened.")
    time_to_reflect = BooleanField(
        "Time to reflect", description="Pupils had time afterwards to think about what they learned.")
    reflections = TextAreaField(
        "Reflections (optional)", filters=[strip],
        validators=[Optional(), Length(max=REFLECTIONS_MAX, message=f"Keep it to {REFLECTIONS_MAX} characters.")],
        description="What went well, what pupils said, what to change next time. Not shown to the provider.",
        render_kw={"rows": 4, "maxlength": REFLECTIONS_MAX})


class ButtonForm(FlaskForm):
    """A one-button action (confirm delivery): only the CSRF token."""
