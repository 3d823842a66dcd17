"""Forms for administration: areas, area settings, finding people and changing their account."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.forms.fields import MultiCheckboxField, strip
from portal.services.admin import (
    AREA_NAME_MAX,
    CONTACT_TARGET_MAX,
    CONTACT_TARGET_MIN,
    EXPIRY_DAYS_MAX,
    EXPIRY_DAYS_MIN,
)


class AreaForm(FlaskForm):
    name = StringField(
        "Area name",
        validators=[InputRequired("Enter the area’s name."), Length(max=AREA_NAME_MAX)],
        filters=[strip],
        description="Usually a borough or district, for example Burnley.",
    )


class AreaSettingsForm(FlaskForm):
    contact_target = IntegerField(
        "Contacts each pupil should have",
        validators=[
            InputRequired("Enter the target as a whole number."),
            NumberRange(CONTACT_TARGET_MIN, CONTACT_TARGET_MAX,
                        f"The target must be a whole number from {CONTACT_TARGET_MIN} to {CONTACT_TARGET_MAX}."),
        ],
        description="Cumulative employer contacts from Year 7. The research behind the portal suggests 4.",
    )
    distinct_providers = BooleanField(
        "Count repeat encounters with the same provider once",
        description="When ticked, a pupil's second talk by the same employer does not add a contact.",
    )
    proposal_expiry_days = IntegerField(
        "Days before undecided proposals expire",
        validators=[
            InputRequired("Enter the number of days as a whole number."),
            NumberRange(EXPIRY_DAYS_MIN, EXPIRY_DAYS_MAX,
                        f"The number of days must be a whole number from {EXPIRY_DAYS_MIN} to {EXPIRY_DAYS_MAX}."),
        ],
        description="Proposals that no coordinator approves or rejects within this many days expire, "
                    "so schools and providers are not left waiting.",
    )


class UserSearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search form: its fields live in the address

    q = StringField("Email or name contains", validators=[Optional(), Length(max=254)], filters=[strip])
    role = SelectField("Role", choices=[], validate_choice=False)  # choices set in the view
    status = SelectField("Status", choices=[], validate_choice=False)


class UserEditForm(FlaskForm):
    role = SelectField("Role", choices=[])  # choices set in the view
    areas = MultiCheckboxField(
        "Areas (coordinators only)", coerce=int, choices=[],
        description="A coordinator sees and verifies organisations in these areas only.",
    )
    status = SelectField(
        "Status", choices=[],
        description="Disabling signs the person out everywhere and emails them.",
    )
