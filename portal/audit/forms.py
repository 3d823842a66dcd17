"""The audit log's filter form (a GET form: filters live in the address, so a view can be bookmarked)."""
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional, ValidationError

from portal.forms.fields import DayField, strip


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # reading, not changing: no token in a GET form's address

    action = SelectField("Action", choices=[], validate_choice=False)  # choices set in the view
    actor = StringField("Actor email contains", validators=[Optional(), Length(max=254)], filters=[strip])
    date_from = DayField("From (date)", validators=[Optional()])
    date_to = DayField("To (date)", validators=[Optional()])

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The ‘to’ date must be the same as or after the ‘from’ date.")
