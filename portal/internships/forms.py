"""Forms for internship programmes, their interns and rota edits. The rules live in services.internships
(programme_problems, intern_problems); the forms call them so every message appears beside its field."""
from typing import Any

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField

from portal import vocab
from portal.errors import PortalError
from portal.forms.fields import MultiCheckboxField, attach_error, optional_int, strip
from portal.forms.location import LocationFieldsMixin
from portal.models.internships import Intern, InternshipProgramme
from portal.offers.forms import DayField, WholeNumberField
from portal.services import internships


def _show(form: FlaskForm, problems: dict[str, str]) -> None:
    for name, message in problems.items():
        field = form._fields.get(name)
        if field is None:
            form.form_errors.append(message)
        elif not field.errors:
            field.errors = [message]


class ButtonForm(FlaskForm):
    """A one-button action: only the CSRF token."""


class ProgrammeForm(FlaskForm):
    area_id = SelectField("Area", coerce=optional_int, validate_choice=False)
    name = StringField("Cohort name", filters=[strip], description="e.g. Spring 2027 cohort.")
    coaching_on = DayField("Pre-start coaching date", description="On or before the first placement week.")
    week1_on = DayField("Week 1 starts (a Monday)", description="e.g. 12/04/2027.")
    week2_on = DayField("Week 2 starts (a Monday)")
    week3_on = DayField("Week 3 starts (a Monday)")
    week4_on = DayField("Week 4 starts (a Monday)")
    final_coaching_on = DayField("Final coaching day (optional)",
                                 description="After the fourth week: on or after its Friday.")

    original: InternshipProgramme | None = None

    def values(self) -> dict[str, Any]:
        return {name: self[name].data for name in internships.PROGRAMME_FIELDS}

    def validate(self, extra_validators=None) -> bool:
        fields_ok = super().validate(extra_validators)
        problems = internships.programme_problems(self.values(), original=self.original)
        if "area_id" in self and self.area_id.data not in {value for value, _label in self.area_id.choices}:
            problems["area_id"] = "Choose one of your areas."
        _show(self, problems)
        return fields_ok and not problems

    def load(self, programme: InternshipProgramme) -> None:
        self.process(data={name: getattr(programme, name) for name in internships.PROGRAMME_FIELDS})

    def show_error(self, error: PortalError) -> None:
        problems = getattr(error, "problems", None)
        if problems:
            _show(self, problems)
        else:
            attach_error(self, error)


class InternForm(LocationFieldsMixin, FlaskForm):
    display_name = StringField(
        "Name (optional)", filters=[strip],
        description="Seen by coordinators only, never by providers. Leave blank to use the reference alone.")
    age_band = RadioField("Age band", choices=internships.AGE_BANDS, validate_choice=False)
    max_travel_miles = WholeNumberField("How far they can travel (miles)",
                                        description="To the workplace, each day, e.g. 10.")
    neet_months = WholeNumberField("How long NEET (months)",
                                   description="Months not in education, employment or training; 0 if under a month.")
    sectors = MultiCheckboxField("Sectors of interest (optional)", choices=vocab.SECTORS, validate_choice=False,
                                 description="Leave all unticked for any sector.")

    def values(self) -> dict[str, Any]:
        town, latitude, longitude = self.location or (self.town.data, None, None)
        return {"display_name": self.display_name.data, "age_band": self.age_band.data, "town": town,
                "latitude": latitude, "longitude": longitude, "max_travel_miles": self.max_travel_miles.data,
                "neet_months": self.neet_months.data, "sectors": list(self.sectors.data or [])}

    def validate(self, extra_validators=None) -> bool:
        fields_ok = super().validate(extra_validators)
        location_ok = self.validate_location()
        problems = internships.intern_problems(self.values())
        if not location_ok:
            problems.pop("town", None)  # the location fields already say what is wrong
        _show(self, problems)
        return fields_ok and location_ok and not problems

    def load(self, intern: Intern) -> None:
        self.process(data={"display_name": intern.display_name, "age_band": intern.age_band,
                           "max_travel_miles": intern.max_travel_miles, "neet_months": intern.neet_months,
                           "sectors": intern.sectors or []})
        self.set_location(intern.town, intern.latitude, intern.longitude)

    def show_error(self, error: PortalError) -> None:
        problems = getattr(error, "problems", None)
        if problems:
            _show(self, problems)
        else:
            attach_error(self, error)


class MoveForm(FlaskForm):
    offer_id = SelectField("Placement this week", coerce=optional_int, validate_choice=False,
                           description="Only internship weeks open to this programme's area are listed.")

    def validate(self, extra_validators=None) -> bool:
        fields_ok = super().validate(extra_validators)
        allowed = {optional_int(value) for value, _label in self.offer_id.choices}
        if self.offer_id.data not in allowed:
            self.offer_id.errors = ["Choose a placement from the list."]
            return False
        return fields_ok
