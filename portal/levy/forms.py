"""The levy account's forms: what entered in a month, and a spend. Pounds are typed and turned into pence."""
from datetime import date

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, StopValidation

from portal.forms.fields import strip
from portal.offers.forms import PoundsField
from portal.services.levy import NOTE_MAX, month_label


def _month(value):
    if isinstance(value, date) or value in (None, ""):
        return value or None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


class _MonthForm(FlaskForm):
    month = SelectField("Month", coerce=_month, validators=[DataRequired("Choose a month.")],
                        validate_choice=False)
    amount = PoundsField("Amount", validators=[InputRequired("Enter an amount in pounds, e.g. 1,250.00.")],
                         description="In pounds, e.g. £1,234.56.")

    def set_months(self, months: list[date]) -> None:
        self.month.choices = [("", "Choose a month"), *((m.isoformat(), month_label(m)) for m in months)]

    def validate_month(self, field) -> None:
        allowed = {value for value, _ in self.month.choices if value}
        if field.data is None or field.data.isoformat() not in allowed:
            field.errors[:] = []
            raise StopValidation("Choose one of the months in the list.")


class EntryForm(_MonthForm):
    replace = BooleanField("Replace the amount already recorded for this month",
                           description="Only if you are correcting a month you have already recorded.")


class SpendForm(_MonthForm):
    note = StringField("Note (optional)", filters=[strip],
                       validators=[Length(max=NOTE_MAX, message=f"Keep the note to {NOTE_MAX} characters.")],
                       description="What it paid for, e.g. “Level 3 engineering technician training”.",
                       render_kw={"maxlength": NOTE_MAX})
