"""Forms for a school's request, the list's filters and the withdrawal confirmation.

The request form only parses what was typed; the rules themselves live in services.school_requests.problems(),
which the form runs after parsing so every broken rule shows beside its field.
"""
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Regexp

from portal import catalogue, vocab
from portal.errors import PortalError
from portal.forms.fields import MultiCheckboxField, attach_error, strip
from portal.models import PRIORITY_LABELS, Organisation, PriorityCohort, SchoolRequest
from portal.services import school_requests
from portal.services.school_requests import RequestDetails


class DayField(DateField):
    """A date; left empty it is simply missing (the rules say whether that matters)."""

    def process_formdata(self, valuelist):
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        super().process_formdata(valuelist)


class WholeNumberField(IntegerField):
    """A whole number; left empty it is simply missing (the rules say whether that matters)."""

    def process_formdata(self, valuelist):
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        super().process_formdata([str(valuelist[0]).strip()])


class RequestForm(FlaskForm):
    """A request for encounters. Build it with request_form(): the year groups offered are the school's."""

    title = StringField(
        "Title", filters=[strip],
        description="A short name you will recognise, e.g. Year 10 engineering talk.",
    )
    wanted_types = MultiCheckboxField(
        "Types of encounter wanted", choices=dict(catalogue.type_choices(for_schools=True)), validate_choice=False,
        description="Choose every type that would do.",
    )
    sectors = MultiCheckboxField(
        "Sector interests", choices=vocab.SECTORS, validate_choice=False,
        description="Leave them all unticked if any sector will do.",
    )
    year_groups = MultiCheckboxField("Year groups", coerce=int, choices=[], validate_choice=False,
                                     invalid_value_message="Choose year groups from the list.")
    pupils = WholeNumberField("Number of pupils", invalid_value_message="Enter a whole number of pupils, e.g. 30.",
                              description="About how many pupils, from 1 to 2000.")
    starts_on = DayField("From", invalid_value_message="Enter the first date as a date, e.g. 2025-03-14.",
                         description="The first day the encounter could happen.")
    ends_on = DayField("To", invalid_value_message="Enter the last date as a date, e.g. 2025-04-30.",
                       description="The last day it could happen (at most a year after the first).")
    deliveries = MultiCheckboxField(
        "Acceptable delivery", choices=dict(catalogue.DELIVERY_LABELS), validate_choice=False,
        description="Choose every way that would work for your pupils.",
    )
    max_travel_miles = WholeNumberField(
        "How far pupils can travel (miles)", invalid_value_message="Enter a whole number of miles, e.g. 10.",
        description="Needed if pupils can go to the workplace: from 0 to 200 miles from school.",
    )
    keep_together = BooleanField(
        "The group must stay together",
        description="Otherwise it may be split across providers.",
    )
    priority = RadioField("Priority cohort", choices=dict(PRIORITY_LABELS), default=PriorityCohort.NONE,
                          validate_choice=False)
    notes = TextAreaField(
        "Notes", filters=[strip],
        description="Anything a provider should know (up to 2000 characters). "
                    "Never write pupils' names or personal details here.",
    )

    school: Organisation
    current: SchoolRequest | None = None

    def validate(self, extra_validators=None) -> bool:
        """Parse the fields, then check the request's rules, showing each beside its field."""
        parsed = super().validate(extra_validators)
        for field_name, message in school_requests.problems(self.details(), school=self.school,
                                                            current=self.current):
            field = self[field_name]
            if not field.errors:  # a field that did not parse already says so
                field.errors = [*field.errors, message]
                parsed = False
        return parsed

    def details(self) -> RequestDetails:
        """What was entered, as the service's argument (fields that did not parse are missing)."""
        return RequestDetails(
            title=self.title.data or "",
            wanted_types=list(self.wanted_types.data or []),
            sectors=list(self.sectors.data or []),
            year_groups=list(self.year_groups.data or []),
            pupils=self.pupils.data,
            starts_on=self.starts_on.data,
            ends_on=self.ends_on.data,
            deliveries=list(self.deliveries.data or []),
            max_travel_miles=self.max_travel_miles.data,
            keep_together=bool(self.keep_together.data),
            priority=self.priority.data or PriorityCohort.NONE,
            notes=self.notes.data or None,
        )

    def load(self, details: RequestDetails) -> None:
        self.process(data=vars(details) | {"version": getattr(self.current, "version", None)})

    def show_error(self, error: PortalError) -> None:
        attach_error(self, error)


class EditRequestForm(RequestForm):
    # The version the form was loaded at: the service refuses the edit if the request has moved on.
    version = HiddenField(validators=[DataRequired("Reload the page and try again."), Regexp(r"^\d+$")])

    def show_conflict(self, error: PortalError, current_version: int) -> None:
        """Keep the user's input, say why it was not saved, and let the next save go against the new version."""
        attach_error(self, error)
        self.version.data = str(current_version)


def request_form(school: Organisation, current: SchoolRequest | None = None) -> RequestForm:
    """The create form (or, given `current`, the edit form) for this school; a GET fills it."""
    form = EditRequestForm() if current is not None else RequestForm()
    form.school, form.current = school, current
    form.year_groups.choices = {year: vocab.year_label(year) for year in school_requests.school_years(school)}
    if not form.is_submitted():
        if current is not None:
            form.load(RequestDetails.of(current))
        else:
            form.priority.data = PriorityCohort.NONE
    return form


class RequestFilterForm(FlaskForm):
    """The list's filters, read from the query string (a GET form: no CSRF token needed)."""

    class Meta:
        csrf = False

    school = SelectField("School", choices=[], default="")
    status = SelectField("Status", choices={"": "Any status", **school_requests.STATUS_LABELS}, default="")
    unplaced = BooleanField("Only those matching could not place")

    def set_schools(self, schools: list[Organisation] | None) -> None:
        """Staff choose among their areas' schools; a careers lead has only their own (None: no school filter)."""
        if schools is None:
            del self.school
        else:
            self.school.choices = {"": "All schools", **{str(s.id): s.name for s in schools}}

    def filters(self) -> dict[str, Any]:
        """The valid filters as service arguments; a bad value in the address is ignored."""
        self.validate()
        for field in self:
            if field.errors:
                field.data, field.errors = field.default, []
        school = self.school.data if "school" in self else None
        return {"school_id": int(school) if school else None, "status": self.status.data or None,
                "unplaced": bool(self.unplaced.data)}

    def query_args(self) -> dict[str, str]:
        """The valid filters as query-string arguments, for pagination links."""
        return {name: "y" if f.data is True else f.data for name, f in self._fields.items() if f.data}


class ChooseSchoolForm(FlaskForm):
    """A coordinator picks the school to ask for (a GET form to the create page)."""

    class Meta:
        csrf = False

    school_id = SelectField("School", choices=[], validators=[DataRequired("Choose a school.")])


class WithdrawForm(FlaskForm):
    """The confirmation step: only a CSRF token."""
