"""The weekly feedback form: a rating and two short answers."""
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.validators import InputRequired, Length

from portal.forms.fields import strip
from portal.services.internship_followup import TEXT_MAX

RATINGS = {"5": "5 — very good", "4": "4 — good", "3": "3 — all right", "2": "2 — poor", "1": "1 — very poor"}


class FeedbackForm(FlaskForm):
    rating = RadioField("How did the week go overall?", choices=RATINGS, coerce=int,
                        validators=[InputRequired("Choose a rating from 1 to 5.")])
    went_well = TextAreaField("What went well?", filters=[strip],
                              validators=[Length(max=TEXT_MAX, message=f"Keep it to {TEXT_MAX} characters or fewer.")],
                              description="Optional.", render_kw={"rows": 4, "maxlength": TEXT_MAX})
    to_improve = TextAreaField("What could be better?", filters=[strip],
                               validators=[Length(max=TEXT_MAX,
                                                  message=f"Keep it to {TEXT_MAX} characters or fewer.")],
                               description="Optional.", render_kw={"rows": 4, "maxlength": TEXT_MAX})
