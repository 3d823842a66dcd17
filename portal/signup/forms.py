"""Sign-up forms. Choices that come from the database (areas, organisations) are set by the view."""
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    URLField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, NumberRange, ValidationError

from portal.forms.fields import (
    MultiCheckboxField,
    OptionalWhen,
    RequiredWhen,
    WholeNumberField,
    optional_int,
    strip,
    web_address,
)
from portal.forms.location import LocationFieldsMixin
from portal.services.accounts import MAX_YEAR_PUPILS, NewAccount
from portal.services.passwords import MIN_LENGTH, password_problems
from portal.vocab import PHASE_YEARS, PHASES, PROVIDER_KINDS, SECTORS, SIZE_BANDS, YEAR_GROUPS


class AccountFieldsMixin:
    """Name, email and a password typed twice."""

    name = StringField("Your name", filters=[strip], validators=[DataRequired("Enter your name."), Length(max=120)])
    email = EmailField(
        "Email address",
        filters=[strip],
        validators=[DataRequired("Enter your email address."), Length(max=254),
                    Email("Enter an email address, like name@example.org.", check_deliverability=False)],
        description="We will send a link to this address to confirm it is yours.",
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired("Choose a password.")],
        description=f"At least {MIN_LENGTH} characters. A few unrelated words make a strong password.",
    )
    confirm = PasswordField(
        "Confirm password",
        validators=[DataRequired("Type your password again."), EqualTo("password", "The passwords do not match.")],
    )

    def validate_password(self, field) -> None:
        problems = password_problems(field.data or "", email=self.email.data, name=self.name.data)
        if problems:
            raise ValidationError(" ".join(problems))

    def account(self) -> NewAccount:
        return NewAccount(name=self.name.data, email=self.email.data, password=self.password.data)


def _new_provider(form) -> bool:
    return form.joining.data == "new"


def _new_school(form) -> bool:
    return not form.school_id.data


class ProviderSignupForm(AccountFieldsMixin, LocationFieldsMixin, FlaskForm):
    """A provider contact: join a verified organisation, or register a new one (pending until verified)."""

    joining = RadioField(
        "Your organisation",
        choices={"existing": "Join an organisation already on Encounters", "new": "Register a new organisation"},
        validators=[DataRequired("Choose whether to join an organisation or register a new one.")],
    )
    organisation_id = SelectField(
        "Organisation to join", coerce=optional_int,
        validators=[RequiredWhen(lambda form: form.joining.data == "existing", "Choose the organisation to join.")],
    )
    org_name = StringField(
        "Organisation name", filters=[strip],
        validators=[RequiredWhen(_new_provider, "Enter the organisation's name."), Length(max=200)],
    )
    area_id = SelectField("Area", coerce=optional_int,
                          validators=[RequiredWhen(_new_provider, "Choose the area you work in.")],
                          description="The area whose coordinator will verify your organisation.")
    provider_kind = SelectField(
        "Kind of organisation", choices={"": "Choose…", **PROVIDER_KINDS},
        validators=[RequiredWhen(_new_provider, "Choose what kind of organisation it is.")],
    )
    sectors = MultiCheckboxField(
        "Sectors", choices=SECTORS,
        validators=[RequiredWhen(_new_provider, "Choose at least one sector.")],
        description="Choose every sector your encounters show young people.",
    )
    size_band = SelectField(
        "Size", choices={"": "Choose…", **SIZE_BANDS},
        validators=[RequiredWhen(_new_provider, "Choose the organisation's size.")],
    )
    levy_payer = BooleanField("We pay the apprenticeship levy")
    website = URLField(
        "Website (optional)", filters=[strip],
        validators=[OptionalWhen(_new_provider), Length(max=300), web_address],
        description="e.g. https://www.example.co.uk",
    )
    safeguarding_contact = StringField(
        "Safeguarding contact (optional)", filters=[strip],
        validators=[OptionalWhen(_new_provider), Length(max=200)],
        description="The person schools can contact about safeguarding during your encounters.",
    )

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.joining.data == "new":
            valid = self.validate_location() and valid
        return valid


class CareersLeadSignupForm(AccountFieldsMixin, LocationFieldsMixin, FlaskForm):
    """A careers lead: for a school found by name or URN (`school_id`), or a new school (pending until verified)."""

    school_id = HiddenField(filters=[lambda v: int(v) if v and str(v).isdigit() else None])
    school_name = StringField(
        "School or college name", filters=[strip],
        validators=[RequiredWhen(_new_school, "Enter the school's name."), Length(max=200)],
    )
    urn = StringField(
        "URN", filters=[strip],
        validators=[RequiredWhen(_new_school, "Enter the school's URN.")],
        description="The 6-digit unique reference number from Get Information about Schools, e.g. 119654.",
        render_kw={"inputmode": "numeric", "maxlength": 6, "pattern": "[0-9]{6}"},
    )
    phase = SelectField(
        "Phase", choices={"": "Choose…", **PHASES},
        validators=[RequiredWhen(_new_school, "Choose the school's phase.")],
    )
    area_id = SelectField("Area", coerce=optional_int,
                          validators=[RequiredWhen(_new_school, "Choose the school's area.")],
                          description="The area whose coordinator will verify your school.")

    def validate_urn(self, field) -> None:
        if _new_school(self) and field.data and not (len(field.data) == 6 and field.data.isdigit()):
            raise ValidationError("A URN is exactly 6 digits, e.g. 119654.")

    def year_fields(self) -> list:
        return [self[f"year_{year}"] for year in YEAR_GROUPS]

    def year_sizes(self) -> dict[int, int]:
        return {year: self[f"year_{year}"].data for year in YEAR_GROUPS if self[f"year_{year}"].data is not None}

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if not _new_school(self):
            return valid
        taught = PHASE_YEARS.get(self.phase.data, tuple(YEAR_GROUPS))
        phase_label = PHASES.get(self.phase.data, "").lower()
        for year in YEAR_GROUPS:
            f = self[f"year_{year}"]
            if f.data is not None and year not in taught and not f.errors:
                f.errors.append(f"A {phase_label} school does not teach {YEAR_GROUPS[year]}. Leave it empty.")
                valid = False
        return self.validate_location() and valid


for _year, _label in YEAR_GROUPS.items():
    setattr(CareersLeadSignupForm, f"year_{_year}", WholeNumberField(
        _label,
        invalid_value_message=f"Enter a whole number from 0 to {MAX_YEAR_PUPILS}.",
        validators=[OptionalWhen(_new_school),
                    NumberRange(0, MAX_YEAR_PUPILS, f"Enter a whole number from 0 to {MAX_YEAR_PUPILS}.")],
        render_kw={"inputmode": "numeric"},
    ))
