"""The coordinator's rejection form: a reason is required, and it is mailed to the person."""
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from portal.forms.fields import strip
from portal.services.accounts import REASON_MAX, REASON_MIN


class RejectForm(FlaskForm):
    reason = TextAreaField(
        "Reason",
        filters=[strip],
        validators=[DataRequired("Give a reason: it is emailed to the person."),
                    Length(REASON_MIN, REASON_MAX, f"Give a reason of {REASON_MIN} to {REASON_MAX} characters.")],
        description="This is emailed to them, so write it for them to read.",
        render_kw={"rows": 4, "maxlength": REASON_MAX},
    )
