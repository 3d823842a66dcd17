"""The termly report's period (GET, no CSRF: it changes nothing) and its planned-activity notes (POST)."""
from datetime import date

from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import Length, ValidationError

from portal.forms.fields import strip
from portal.services.reports import LONGEST_PERIOD_DAYS, NOTE_MAX


def _iso_date(form, field):
    if field.data:
        try:
            date.fromisoformat(field.data)
        except ValueError:
            raise ValidationError("Enter a date as YYYY-MM-DD, for example 2025-09-01.") from None


class PeriodForm(FlaskForm):
    class Meta:
        csrf = False

    start = StringField("From", filters=[strip], validators=[_iso_date], description="YYYY-MM-DD",
                        render_kw={"inputmode": "numeric", "maxlength": 10})
    end = StringField("To", filters=[strip], validators=[_iso_date], description="YYYY-MM-DD, included",
                      render_kw={"inputmode": "numeric", "maxlength": 10})

    def validate_end(self, field):
        if self.start.errors or field.errors or not (self.start.data and field.data):
            return
        try:
            first, last = date.fromisoformat(self.start.data), date.fromisoformat(field.data)
        except ValueError:
            return
        if last < first:
            raise ValidationError("The end of the period must be on or after its start.")
        if (last - first).days > LONGEST_PERIOD_DAYS:
            raise ValidationError("Choose a period of two years or less.")

    def period(self, default: tuple[date, date]) -> tuple[date, date]:
        """The dates entered (each defaulting to the current term's), once valid."""
        return (date.fromisoformat(self.start.data) if self.start.data else default[0],
                date.fromisoformat(self.end.data) if self.end.data else default[1])


class NoteForm(FlaskForm):
    planned_activity = TextAreaField(
        "Planned activity", filters=[strip],
        validators=[Length(max=NOTE_MAX, message=f"Keep the planned activity to {NOTE_MAX} characters or fewer.")],
        description="What the area plans next: events, priorities, schools to support. It is printed with the report.",
        render_kw={"rows": 6, "maxlength": NOTE_MAX},
    )
