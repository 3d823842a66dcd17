"""Primary resource kits: a class's request (validated again, with the school's phase, by services.kits) and the
one-button and confirmation forms (only a CSRF token)."""
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.forms.fields import WholeNumberField, strip
from portal.services.kits import CLASS_NAME_MAX, NOTE_MAX, PUPILS_MAX, PUPILS_MIN


def year_or_none(value) -> int | None:
    """`coerce` for the year group: anything that is not a whole number is 'not chosen' (the service says why)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class KitRequestForm(FlaskForm):
    class_name = StringField(
        "Class name", filters=[strip],
        validators=[InputRequired("Enter the class's name, e.g. Oak class."),
                    Length(max=CLASS_NAME_MAX, message=f"Keep the class's name to {CLASS_NAME_MAX} characters or "
                                                       "fewer.")],
        description="The class that will use the kit, e.g. Oak class or 2B.",
        render_kw={"maxlength": CLASS_NAME_MAX})
    # Choices (the school's primary years, after an empty placeholder) are set in the view; the service checks them.
    year_group = SelectField("Year group", coerce=year_or_none, choices=[], validate_choice=False)
    pupils = WholeNumberField(
        "Pupils in the class",
        validators=[InputRequired(f"Enter the number of pupils in the class, from {PUPILS_MIN} to {PUPILS_MAX}."),
                    NumberRange(PUPILS_MIN, PUPILS_MAX,
                                f"Enter the number of pupils in the class, from {PUPILS_MIN} to {PUPILS_MAX}.")],
        render_kw={"inputmode": "numeric", "min": PUPILS_MIN, "max": PUPILS_MAX})
    note = TextAreaField(
        "Note for the provider", filters=[strip],
        validators=[Optional(), Length(max=NOTE_MAX, message=f"Keep the note to {NOTE_MAX} characters or fewer.")],
        description="Optional: where to send the kit, or when the class will use it. No pupils' names.",
        render_kw={"rows": 3, "maxlength": NOTE_MAX})


class ButtonForm(FlaskForm):
    """A one-button action or a confirmation: only the CSRF token."""
