"""Forms for organisation profiles (a provider's, a school's) and the coordinators' list filters."""
import functools
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, URLField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp, ValidationError

from portal import geo, vocab
from portal.errors import PortalError
from portal.forms.fields import MultiCheckboxField, WholeNumberField, attach_error, strip, web_address
from portal.forms.location import LocationFieldsMixin, describe_place
from portal.models import Organisation, OrgKind
from portal.services.organisations import KIND_LABELS, STATUS_LABELS

YEAR_FIELD = "year_{}"


class OrganisationForm(LocationFieldsMixin, FlaskForm):
    """What both kinds of organisation share. `validate()` also resolves the location."""

    # The version the form was loaded at: the service refuses the edit if the row has moved on.
    version = HiddenField(validators=[DataRequired("Reload the page and try again."), Regexp(r"^\d+$")])
    name = StringField("Name", filters=[strip],
                       validators=[DataRequired("Enter the organisation's name."), Length(max=200)])
    area_id = SelectField("Area", coerce=int, choices=[])  # admins only; the view removes it for others

    def validate(self, extra_validators=None) -> bool:
        fields_ok = super().validate(extra_validators)
        return self.validate_location() and fields_ok

    def load(self, org: Organisation) -> None:
        """Fill the form from the stored organisation (a GET, not a submission)."""
        self.process(data=self.initial_data(org))
        self.set_location(org.town, org.latitude, org.longitude)
        matches = geo.exact_matches(org.town or "")
        here = [p for p in matches if _same_spot(p, org)]
        if len(matches) > 1 and len(here) == 1:
            # A stored "Preston": show which Preston rather than bare coordinates.
            self.latitude.data = self.longitude.data = None
            self.place_choice.choices = [(str(p.geonameid), describe_place(p)) for p in matches]
            self.place_choice.data = str(here[0].geonameid)

    def initial_data(self, org: Organisation) -> dict[str, Any]:
        return {"version": str(org.version), "name": org.name, "area_id": org.area_id}

    def changes(self) -> dict[str, Any]:
        """Column values for services.organisations.update_organisation."""
        town, latitude, longitude = self.location
        values = {"name": self.name.data, "town": town, "latitude": latitude, "longitude": longitude}
        if "area_id" in self:
            values["area_id"] = self.area_id.data
        return values

    def service_arguments(self) -> dict[str, Any]:
        return {"changes": self.changes()}

    def show_error(self, error: PortalError) -> None:
        attach_error(self, error)

    def show_conflict(self, error: PortalError, current_version: int) -> None:
        """Keep the user's input, say why it was not saved, and let the next save go against the new version."""
        attach_error(self, error)
        self.version.data = str(current_version)


class ProviderForm(OrganisationForm):
    provider_kind = SelectField("Kind of provider", choices=vocab.PROVIDER_KINDS)
    sectors = MultiCheckboxField("Sectors", choices=vocab.SECTORS,
                                 description="Choose every sector your encounters could show young people.")
    size_band = SelectField("Size", choices={"": "Choose a size", **vocab.SIZE_BANDS},
                            validators=[DataRequired("Choose the size of your organisation.")])
    levy_payer = BooleanField("We pay the apprenticeship levy",
                              description="Employers with a pay bill over £3 million a year pay it.")
    website = URLField("Website", filters=[strip], validators=[Optional(), Length(max=300), web_address],
                       description="e.g. https://www.example.co.uk")
    safeguarding_contact = StringField(
        "Safeguarding contact", filters=[strip], validators=[Optional(), Length(max=200)],
        description="The person responsible for safeguarding when your staff meet young people: "
                    "their name and a phone number or email address.",
    )

    def validate_sectors(self, field) -> None:
        if not field.data:
            raise ValidationError("Choose at least one sector.")

    def initial_data(self, org: Organisation) -> dict[str, Any]:
        return {
            **super().initial_data(org),
            "provider_kind": org.provider_kind,
            "sectors": org.sector_codes,
            "size_band": org.size_band,
            "levy_payer": org.levy_payer,
            "website": org.website,
            "safeguarding_contact": org.safeguarding_contact,
        }

    def changes(self) -> dict[str, Any]:
        return {
            **super().changes(),
            "provider_kind": self.provider_kind.data,
            "size_band": self.size_band.data,
            "levy_payer": bool(self.levy_payer.data),
            "website": self.website.data or None,
            "safeguarding_contact": self.safeguarding_contact.data or None,
        }

    def service_arguments(self) -> dict[str, Any]:
        return {**super().service_arguments(), "sectors": list(self.sectors.data or [])}


class SchoolForm(OrganisationForm):
    """A school's profile. The year-group fields depend on its phase: build it with school_form_class()."""

    years: tuple[int, ...] = ()

    urn = StringField(
        "URN", filters=[strip],
        validators=[DataRequired("Enter the school's URN."),
                    Regexp(r"^\d{6}$", message="A URN is 6 digits, e.g. 119876.")],
        description="The unique reference number from Get Information about Schools.",
    )  # coordinators and admins only; the view removes it for careers leads
    phase = SelectField("Phase", choices=vocab.PHASES)
    names_opt_in = BooleanField(
        "Store pupils' display names",
        description="Leave this off unless you need names: pupils are then known only by a random reference. "
                    "Names are only ever shown to your school's careers leads, never to providers.",
    )

    @property
    def year_fields(self) -> list:
        return [self[YEAR_FIELD.format(year)] for year in self.years]

    def initial_data(self, org: Organisation) -> dict[str, Any]:
        sizes = {YEAR_FIELD.format(row.year_group): row.pupils for row in org.year_sizes}
        return {**super().initial_data(org), "urn": org.urn, "phase": org.phase,
                "names_opt_in": org.names_opt_in, **sizes}

    def changes(self) -> dict[str, Any]:
        values = {**super().changes(), "phase": self.phase.data, "names_opt_in": bool(self.names_opt_in.data)}
        if "urn" in self:
            values["urn"] = self.urn.data
        return values

    def service_arguments(self) -> dict[str, Any]:
        return {**super().service_arguments(), "year_sizes": {year: self[YEAR_FIELD.format(year)].data
                                                             for year in self.years}}


@functools.cache
def school_form_class(years: tuple[int, ...]) -> type[SchoolForm]:
    """A SchoolForm with one 'pupils in year N' field per year group of the phase."""
    fields = {
        YEAR_FIELD.format(year): WholeNumberField(
            vocab.year_label(year),
            validators=[Optional(), NumberRange(min=0, max=2000, message=(
                f"{vocab.year_label(year)}: enter a number of pupils from 0 to 2000."))],
        )
        for year in years
    }
    return type("SchoolForm", (SchoolForm,), {"years": years, **fields})


def edit_form(org: Organisation, *, urn_editable: bool, areas: list | None) -> OrganisationForm:
    """The edit form for this organisation's kind; `areas` (admins only) makes the area editable."""
    if org.kind == OrgKind.SCHOOL:
        form = school_form_class(vocab.PHASE_YEARS.get(org.phase or "", ()))()
        if not urn_editable:
            del form.urn
    else:
        form = ProviderForm()
    if areas is None:
        del form.area_id
    else:
        form.area_id.choices = [(area.id, area.name) for area in areas]
    if not form.is_submitted():
        form.load(org)
    return form


def _same_spot(place: geo.Place, org: Organisation) -> bool:
    return (org.latitude is not None and org.longitude is not None
            and abs(place.latitude - org.latitude) < 1e-4 and abs(place.longitude - org.longitude) < 1e-4)


class OrganisationFilterForm(FlaskForm):
    """The list's filters, read from the query string (a GET form: no CSRF token needed)."""

    class Meta:
        csrf = False

    q = StringField("Name contains", filters=[strip], validators=[Optional(), Length(max=100)])
    kind = SelectField("Type", choices={"": "Any type", **KIND_LABELS}, default="")
    status = SelectField("Status", choices={"": "Any status", **STATUS_LABELS}, default="")
    area = SelectField("Area", choices=[], default="")

    def set_areas(self, areas: list) -> None:
        self.area.choices = [("", "All your areas"), *((str(a.id), a.name) for a in areas)]

    def filters(self) -> dict[str, Any]:
        """The filters that are valid, as service arguments; a bad value in the address is ignored."""
        self.validate()
        for field in self:
            if field.errors:  # show the list unfiltered by it, not an error: it came from an edited address
                field.data, field.errors = field.default, []
        good = {name: f.data for name, f in self._fields.items() if f.data}
        return {
            "name": good.get("q"),
            "kind": good.get("kind"),
            "status": good.get("status"),
            "area_id": int(good["area"]) if good.get("area") else None,
        }

    def query_args(self) -> dict[str, str]:
        """The valid filters as query-string arguments, for pagination links."""
        return {name: f.data for name, f in self._fields.items() if f.data}

