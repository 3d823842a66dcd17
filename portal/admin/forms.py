"""Forms for administration: areas, area settings and matching weights, finding people and changing their account."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, HiddenField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.forms.fields import MultiCheckboxField, WholeNumberField, strip
from portal.matching.weights import DEFAULT_WEIGHTS, DESCRIPTIONS, Weights
from portal.services.admin import (
    AREA_NAME_MAX,
    CONTACT_TARGET_MAX,
    CONTACT_TARGET_MIN,
    EXPIRY_DAYS_MAX,
    EXPIRY_DAYS_MIN,
    RETENTION_YEARS_MAX,
    RETENTION_YEARS_MIN,
    SCALAR_WEIGHTS,
)


class AreaForm(FlaskForm):
    name = StringField(
        "Area name",
        validators=[InputRequired("Enter the area’s name."), Length(max=AREA_NAME_MAX)],
        filters=[strip],
        description="Usually a borough or district, for example Burnley.",
    )


class AreaSettingsForm(FlaskForm):
    contact_target = WholeNumberField(
        "Contacts each pupil should have",
        invalid_value_message="Enter the target as a whole number.",
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
    proposal_expiry_days = WholeNumberField(
        "Days before undecided proposals expire",
        invalid_value_message="Enter the number of days as a whole number.",
        validators=[
            InputRequired("Enter the number of days as a whole number."),
            NumberRange(EXPIRY_DAYS_MIN, EXPIRY_DAYS_MAX,
                        f"The number of days must be a whole number from {EXPIRY_DAYS_MIN} to {EXPIRY_DAYS_MAX}."),
        ],
        description="Proposals that no coordinator approves or rejects within this many days expire, "
                    "so schools and providers are not left waiting.",
    )
    retention_years = WholeNumberField(
        "Academic years to keep leavers’ pupil records",
        validators=[
            Optional(),
            NumberRange(RETENTION_YEARS_MIN, RETENTION_YEARS_MAX,
                        f"The number of years must be a whole number from {RETENTION_YEARS_MIN} "
                        f"to {RETENTION_YEARS_MAX}."),
        ],
        description="A leaver’s pupil record, contacts and register entries are deleted this many academic years "
                    "after the one they left in (1: at the end of the academic year after they leave). "
                    "Figures for past periods then no longer include them.",
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


# Matching weights: one number field per scalar weight, and the load penalty as rows -------------------------------

WEIGHT_LABELS = {
    "base": "Points for every pupil placed",
    "sector": "Sector the school asked for",
    "any_sector_share": "Share of the sector points when any sector will do",
    "distance": "Provider close by",
    "distance_scale_miles": "Miles at which the distance points reach 0",
    "virtual_distance_share": "Share of the distance points for virtual or unmeasured encounters",
    "need": "School’s need: pupils below the target",
    "at_risk": "Pupils at risk",
    "at_risk_full_share": "At-risk share that earns the full points",
    "unknown_need_share": "Share of the need points when a school gave no figures",
    "waiting": "Time the request has waited",
    "waiting_cap_days": "Days after which waiting earns no more",
    "repeat": "Points off per earlier match with the same provider",
    "repeat_cap": "Most earlier matches counted",
    "per_school_sessions": "Sessions of a pupil offer one school may take",
    "per_school_share": "Share of a places or classes offer one school may take",
}
EXTRA_TIER_ROWS = 2


def number_text(value) -> str:
    """40.0 as "40", 0.25 as "0.25": what the admin would type."""
    return str(int(value)) if float(value).is_integer() else str(value)


class TierRowForm(Form):
    """One row of the load penalty. No CSRF of its own: the page's form carries it."""

    upto = StringField("Up to (units)", filters=[strip])
    points = StringField("Points per unit", filters=[strip])


class AreaWeightsForm(FlaskForm):
    load_tiers = FieldList(FormField(TierRowForm), label="Provider load penalty", min_entries=1)

    @classmethod
    def for_weights(cls, weights: Weights, **kwargs) -> "AreaWeightsForm":
        """The form filled with `weights` (on GET; a POST keeps what was typed), and blank rows to add tiers."""
        data = {name: number_text(getattr(weights, name)) for name in SCALAR_WEIGHTS}
        data["load_tiers"] = [{"upto": "" if upto is None else str(upto), "points": number_text(points)}
                              for upto, points in weights.load_tiers]
        data["load_tiers"] += [{"upto": "", "points": ""}] * EXTRA_TIER_ROWS
        form = cls(data=data, **kwargs)
        while len(form.load_tiers) < len(weights.load_tiers) + EXTRA_TIER_ROWS:
            form.load_tiers.append_entry()
        return form

    @property
    def scalar_fields(self):
        return [self[name] for name in SCALAR_WEIGHTS]

    def values(self) -> dict:
        """What was typed, for services.admin.set_area_weights."""
        values = {name: self[name].data for name in SCALAR_WEIGHTS}
        values["load_tiers"] = [(row.upto.data, row.points.data) for row in self.load_tiers]
        return values


for _name in SCALAR_WEIGHTS:
    _default = number_text(getattr(DEFAULT_WEIGHTS, _name))
    setattr(AreaWeightsForm, _name, StringField(
        WEIGHT_LABELS[_name], filters=[strip],
        description=f"{DESCRIPTIONS[_name].replace('`', '')[:1].upper()}{DESCRIPTIONS[_name].replace('`', '')[1:]}. "
                    f"Default: {_default}.",
    ))


class ResetWeightsForm(FlaskForm):
    """Back to the default weights; the first press asks for confirmation."""

    confirmed = HiddenField()
