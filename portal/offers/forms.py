"""Forms for offers: choosing the kind, the offer itself (built per kind), status buttons and the list's filters.

The form only turns text into values (numbers, dates, pounds into pence); the rules live in
services.offers.offer_problems, which the form calls so every message appears beside its field at once.
"""
import functools
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import AnyOf, DataRequired, InputRequired, Regexp
from wtforms.widgets import TextInput

from portal import catalogue, vocab
from portal.catalogue import DELIVERY_LABELS, DETAIL_LABELS, OfferType, Unit
from portal.errors import PortalError
from portal.forms.fields import MultiCheckboxField, attach_error, strip
from portal.models import Offer, OfferStatus, Organisation
from portal.models.year_groups import describe as describe_years
from portal.services import offers

# Money is typed in pounds and stored in pence: the form field's name differs from the column's.
FORM_FIELD = {"weekly_wage_pence": "weekly_wage", "funding_amount_pence": "funding_amount",
              "council_contribution_pence": "council_contribution"}


class WholeNumberField(IntegerField):
    """A whole number, or None when left blank (whether it is required is the rules' business)."""

    def process_formdata(self, valuelist):
        text = valuelist[0].strip() if valuelist else ""
        self.data = None
        if text:
            try:
                self.data = int(text)
            except ValueError:
                raise ValueError("Enter a whole number, e.g. 30.") from None


class DayField(DateField):
    """A date from a date picker (2026-03-14) or typed the British way (14/03/2026); None when blank."""

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format=["%Y-%m-%d", "%d/%m/%Y"], **kwargs)

    def process_formdata(self, valuelist):
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        try:
            super().process_formdata([valuelist[0].strip()])
        except ValueError:
            raise ValueError("Enter a real date, e.g. 14/03/2026.") from None


class PoundsField(DecimalField):
    """An amount in pounds (a '£' and thousands commas are fine); None when blank.

    Rendered as text with a decimal keypad: a number input would refuse the pound sign and commas."""

    widget = TextInput()

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("render_kw", {"inputmode": "decimal"})
        super().__init__(label, validators, places=2, **kwargs)

    def process_formdata(self, valuelist):
        text = (valuelist[0] if valuelist else "").strip().lstrip("£").replace(",", "").strip()
        self.data = None
        if not text:
            return
        try:
            value = Decimal(text)
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite() or abs(value) >= 10**9:
            raise ValueError("Enter an amount in pounds, e.g. 250 or 250.50.")
        self.data = value

    @property
    def pence(self) -> int | None:
        if self.data is None:
            return None
        return int((self.data * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _detail_field(name: str):
    label = DETAIL_LABELS[name]
    if name in ("placement_days", "mentoring_sessions", "kit_stock"):
        hints = {"placement_days": "From 1 to 20 days.", "mentoring_sessions": "From 1 to 50 sessions.",
                 "kit_stock": "How many kits you can lend or give."}
        return WholeNumberField(label, description=hints[name])
    if name == "apprenticeship_level":
        return WholeNumberField(label, description="From 2 (intermediate) to 7 (master's degree level).")
    if name == "weekly_wage_pence":
        return PoundsField(label, description="Before tax, in pounds, e.g. 250.")
    if name == "funding_amount_pence":
        return PoundsField(label, description="In pounds, e.g. 9000.")
    if name in ("closing_date", "levy_expires_on"):
        hints = {"closing_date": "The last day young people can apply.",
                 "levy_expires_on": "Levy funds expire 24 months after they enter your apprenticeship service "
                                    "account."}
        return DayField(label, description=hints[name])
    if name == "council_contribution_pence":
        return PoundsField(label, description="Optional: what the council pays towards the intern's weekly wage, "
                                              "in pounds, e.g. 100.")
    if name == "mentor_name":
        return StringField(label, filters=[strip], description="The person who looks after the intern that week.")
    if name == "apprenticeship_standard":
        return StringField(label, filters=[strip], description="e.g. Engineering technician.")
    return StringField(label, filters=[strip], description="e.g. We email the link to the school after they "
                                                           "confirm. Never put the link itself here.")


class OfferForm(FlaskForm):
    """The fields every offer has. Build it with offer_form(): each kind adds its capacity and detail fields."""

    kind: OfferType  # set on the class by offer_form_class()
    detail_names: tuple[str, ...] = ()

    # The version the form was loaded at (edits only): the service refuses the edit if the row has moved on.
    version = HiddenField(validators=[DataRequired("Reload the page and try again."), Regexp(r"^\d+$")])
    title = StringField("Title", filters=[strip],
                        description="What schools see first, e.g. 'Meet our engineering apprentices'.")
    description = TextAreaField(
        "Description", filters=[strip], render_kw={"rows": 6},
        description="What happens, what young people will learn, and what you need from the school. "
                    "At most 5,000 characters.",
    )
    sector = SelectField("Sector", choices={"": "Choose a sector", **vocab.SECTORS},
                         validate_choice=False)
    delivery = RadioField("How is it delivered?", choices={str(d): label for d, label in DELIVERY_LABELS.items()},
                          validate_choice=False)
    starts_on = DayField("First date it can run")
    ends_on = DayField("Last date it can run")
    year_groups = MultiCheckboxField("Year groups", coerce=int, validate_choice=False,
                                     description="Choose every year group it suits.")
    max_travel_miles = WholeNumberField("How far you will travel to schools (miles)",
                                        description="Required if you deliver in schools.")
    open_to_all_areas = BooleanField(
        "Open to schools in all areas",
        description="For offers that do not depend on where a school is, e.g. virtual encounters. "
                    "Otherwise only schools in your area can find it.",
    )
    accessibility_notes = TextAreaField("Accessibility and SEND notes (optional)", filters=[strip],
                                        render_kw={"rows": 3},
                                        description="e.g. step-free access, quiet room, adapted activities.")
    supervised_throughout = BooleanField("Our volunteers will be supervised by school staff throughout")
    risk_assessment_done = BooleanField("We have done a risk assessment for this activity")
    liability_insurance = BooleanField("We hold employers' liability insurance")
    safeguarding_contact = StringField(
        "Named safeguarding contact", filters=[strip],
        description="The person responsible for safeguarding during the activity: their name and a phone "
                    "number or email address.",
    )
    auto_approve = BooleanField(
        "Approve proposals for this offer automatically when they meet every criterion",
        description="A proposal is then approved without waiting for a coordinator when the school and your "
                    "organisation are verified, it is for all the pupils the school still needs, in a sector the "
                    "school asked for, and within this offer's places, dates and year groups. A coordinator can "
                    "still step in first.",
    )
    auto_approve_delay_days = WholeNumberField(
        "After how many days (0 = at once)",
        description=f"From 0 to {offers.AUTO_APPROVE_MAX_DAYS} days after the proposal is made: a delay gives "
                    "the coordinator time to look first.",
    )
    publish = SubmitField("Save and publish")

    original: Offer | None = None  # the stored offer, when editing

    @property
    def unit(self) -> Unit:
        return self.kind.unit

    @property
    def capacity_fields(self) -> list:
        return [self.sessions, self.per_session] if self.unit == Unit.PUPILS else [self.capacity]

    @property
    def detail_fields(self) -> list:
        fields = []
        for name in self.detail_names:
            if name == "weekly_wage_pence" and "paid" in self:
                fields.append(self.paid)  # internship weeks: "paid?" just before the wage it asks for
            fields.append(self[FORM_FIELD.get(name, name)])
        return fields

    @property
    def safeguarding_fields(self) -> list:
        return [self.supervised_throughout, self.risk_assessment_done, self.liability_insurance,
                self.safeguarding_contact]

    @property
    def publishing(self) -> bool:
        """Whether the publishing rules apply: "Save and publish" on a draft, or any save of a published offer."""
        if self.original is not None and self.original.status == OfferStatus.PUBLISHED:
            return True
        return bool(self.publish.data) and (self.original is None or self.original.status == OfferStatus.DRAFT)

    def start(self, provider: Organisation) -> None:
        """A new offer's starting values: the type's usual delivery and the provider's safeguarding contact."""
        self.delivery.data = str(self.kind.default_delivery)
        self.safeguarding_contact.data = provider.safeguarding_contact
        self.auto_approve_delay_days.data = 0

    def load(self, offer: Offer) -> None:
        """Fill the form from the stored offer (a GET, not a submission)."""
        data: dict[str, Any] = {name: getattr(offer, name) for name in offers.COMMON_FIELDS if name in self}
        data["version"] = str(offer.version)
        for name in self.detail_names:
            value = getattr(offer, name)
            if name in FORM_FIELD:
                name, value = FORM_FIELD[name], None if value is None else Decimal(value) / 100
            data[name] = value
        self.process(data=data)

    def values(self) -> dict[str, Any]:
        """What the user entered, as arguments for the offers service (pounds turned into pence)."""
        values: dict[str, Any] = {
            name: self[name].data for name in offers.COMMON_FIELDS if name in self and name != "capacity"
        }
        if self.unit == Unit.PUPILS:
            values["capacity"] = None
        else:
            values["capacity"] = self.capacity.data
            values["sessions"] = values["per_session"] = None
        values["year_groups"] = list(self.year_groups.data or []) if "year_groups" in self else []
        for name in self.detail_names:
            field = self[FORM_FIELD.get(name, name)]
            values[name] = field.pence if isinstance(field, PoundsField) else field.data
        return values

    def validate(self, extra_validators=None) -> bool:
        fields_ok = super().validate(extra_validators)
        values = offers.clean_values(self.kind, self.values())
        problems = offers.offer_problems(self.kind, values, original=self.original, publishing=self.publishing)
        for name, message in problems.items():
            field = self._fields.get(FORM_FIELD.get(name, name))
            if field is None:
                self.form_errors.append(message)
            elif not field.errors:
                field.errors = [message]
        return fields_ok and not problems

    def show_error(self, error: PortalError) -> None:
        """Put a service's refusal beside the field(s) it names, or at the top of the form."""
        problems = getattr(error, "problems", None) or {error.field: error.message}
        for name, message in problems.items():
            field = self._fields.get(FORM_FIELD.get(name or "", name or ""))
            if field is None:
                self.form_errors.append(message)
            else:
                field.errors = [*field.errors, message]

    def show_conflict(self, error: PortalError, current_version: int) -> None:
        """Keep the user's input, say why it was not saved, and let the next save go against the new version."""
        attach_error(self, error)
        self.version.data = str(current_version)


def _capacity_fields(unit: Unit) -> dict:
    if unit == Unit.PUPILS:
        return {
            "sessions": WholeNumberField("Number of sessions", description="How many times you can run it."),
            "per_session": WholeNumberField("Pupils per session", description="How many pupils each session takes."),
            "capacity": None,
        }
    label, hint = {
        Unit.PLACES: ("Places", "How many young people can take part in total."),
        Unit.CLASSES: ("Classes", "How many classes you can supply in total."),
    }[unit]
    return {"sessions": None, "per_session": None, "capacity": WholeNumberField(label, description=hint)}


@functools.cache
def offer_form_class(type_code: str) -> type[OfferForm]:
    """An OfferForm for one kind of offer: its capacity in the kind's unit, its details, its year groups."""
    kind = catalogue.offer_type(type_code)
    attrs: dict[str, Any] = {"kind": kind, "detail_names": kind.details, **_capacity_fields(kind.unit)}
    if kind.code == offers.INTERNSHIP_WEEK:  # interns per week (= per_session); weeks = the offer's dates
        attrs["capacity"] = WholeNumberField("Interns per week", description="How many interns you can take in any "
                                             "one week. The weeks available are the whole Monday-to-Friday weeks "
                                             "between the first and last dates below.")
        attrs["paid"] = BooleanField("The week is paid", description="If it is, give the weekly wage below.")
    for name in kind.details:
        attrs[FORM_FIELD.get(name, name)] = _detail_field(name)
    years = offers.suitable_years(kind)
    if years:
        attrs["year_groups"] = MultiCheckboxField(
            "Year groups", coerce=int, validate_choice=False, choices={y: vocab.year_label(y) for y in years},
            description=f"Choose every year group it suits ({describe_years(years)}).",
        )
    else:  # internship weeks are for young people who have left school
        attrs["year_groups"] = None
    return type("OfferForm", (OfferForm,), attrs)


def offer_form(type_code: str, *, original: Offer | None = None, provider: Organisation | None = None) -> OfferForm:
    """The form for a new offer of this kind (give `provider`) or for editing `original`."""
    form = offer_form_class(type_code)()
    form.original = original
    if original is None:
        del form.version
        if not form.is_submitted() and provider is not None:
            form.start(provider)
    elif not form.is_submitted():
        form.load(original)
    return form


class OfferTypeForm(FlaskForm):
    """Step one of a new offer: which kind (a GET form, so the choice is in the address)."""

    class Meta:
        csrf = False

    type = RadioField("What kind of offer is it?", choices=dict(catalogue.type_choices()),
                      validators=[InputRequired("Choose the kind of offer.")])
    provider_id = HiddenField()
    chosen = SubmitField("Continue")  # set when the form was sent, so a first visit shows no error

    @property
    def options(self) -> list[tuple[Any, str]]:
        """(radio option, description) pairs, so the page can show each kind's description beside it."""
        return [(option, catalogue.offer_type(option.data).description) for option in self.type]


class ProviderChoiceForm(FlaskForm):
    """Coordinators: which provider a new offer is for (a GET form)."""

    class Meta:
        csrf = False

    provider_id = SelectField("Provider", choices=[], validators=[InputRequired("Choose a provider.")])

    def set_providers(self, providers: list[Organisation]) -> None:
        self.provider_id.choices = {"": "Choose a provider", **{str(p.id): p.name for p in providers}}


class StatusForm(FlaskForm):
    """A status button: publish, pause, reopen or close (closing asks for confirmation first)."""

    action = HiddenField(validators=[AnyOf(list(offers.TRANSITIONS), message="Choose an action from the page.")])
    confirm = HiddenField()

    @property
    def confirmed(self) -> bool:
        return self.confirm.data == "1"


class OfferFilterForm(FlaskForm):
    """The list's filters, read from the query string (a GET form: no CSRF token needed)."""

    class Meta:
        csrf = False

    status = SelectField("Status", choices={"": "Any status", **{str(k): v for k, v in offers.STATUS_LABELS.items()}},
                         default="")
    provider_id = SelectField("Provider", choices=[], default="")  # coordinators only; the view removes it

    def set_providers(self, providers: list[Organisation]) -> None:
        self.provider_id.choices = {"": "All providers", **{str(p.id): p.name for p in providers}}

    def filters(self) -> dict[str, Any]:
        """The valid filters as service arguments; a bad value in the address is ignored, not an error."""
        self.validate()
        for field in self:
            if field.errors:
                field.data, field.errors = field.default, []
        provider = self.provider_id.data if "provider_id" in self else ""
        return {"status": self.status.data or None, "provider_id": int(provider) if provider else None}

    def query_args(self) -> dict[str, str]:
        return {name: f.data for name, f in self._fields.items() if f.data}
