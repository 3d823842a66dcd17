"""Forms for the roster: the list's filters, one pupil, leaving, the upload and the column mapping."""
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from portal import vocab
from portal.errors import PortalError
from portal.forms.fields import attach_error, optional_int, strip
from portal.models import PupilStatus
from portal.services import pupils, roster_import
from portal.services.pupils import PupilDetails

STATUS_CHOICES = {PupilStatus.ON_ROLL.value: "On roll", PupilStatus.LEFT.value: "Left", "all": "On roll and left"}


class PupilFilterForm(FlaskForm):
    """The list's filters, read from the query string (a GET form: no CSRF token needed)."""

    class Meta:
        csrf = False

    q = StringField("Search", filters=[strip], validators=[Optional(), Length(max=120)],
                    description="A reference such as P7K3M9Q2X, or a name if your school stores them.")
    year = SelectField("Year group", choices=[], default="")
    form = SelectField("Form group", choices=[], default="")
    flag = SelectField("Flag", choices={"": "Any", **pupils.FLAG_LABELS}, default="")
    status = SelectField("Status", choices=STATUS_CHOICES, default=PupilStatus.ON_ROLL.value)

    def set_choices(self, years, forms: list[str]) -> None:
        self.year.choices = {"": "All years", **{str(y): vocab.year_label(y) for y in years}}
        self.form.choices = {"": "All forms", **{f: f for f in forms}}

    def filters(self) -> pupils.PupilFilters:
        """The valid filters; a bad value in the address is ignored."""
        self.validate()
        for field in self:
            if field.errors:
                field.data, field.errors = field.default, []
        return pupils.PupilFilters(
            year_group=int(self.year.data) if self.year.data else None, form_group=self.form.data or None,
            flag=self.flag.data or None, status=None if self.status.data == "all" else self.status.data,
            search=self.q.data or None,
        )

    def query_args(self) -> dict[str, str]:
        args = {name: f.data for name, f in self._fields.items() if f.data}
        if args.get("status") == PupilStatus.ON_ROLL.value:
            del args["status"]
        return args


class PupilForm(FlaskForm):
    """One pupil, added or edited by hand. Build it with pupil_form(): the years are the school's."""

    identifier = StringField(
        "Pupil identifier", filters=[strip], validators=[Length(max=roster_import.IDENTIFIER_MAX)],
        description="Their admission number (or whatever identifier your MIS export uses), so the next import "
                    "recognises them. It is kept only as a scrambled code and never shown.",
    )
    year_group = SelectField("Year group", coerce=optional_int, choices=[],
                             validators=[DataRequired("Choose the pupil's year group.")])
    form_group = StringField("Form group", filters=[strip], validators=[Length(max=roster_import.FORM_GROUP_MAX)],
                             description="Optional, e.g. 10B.")
    display_name = StringField("Display name", filters=[strip],
                               validators=[Length(max=roster_import.DISPLAY_NAME_MAX)],
                               description="Optional. Shown only to your school's careers leads.")
    disadvantaged = BooleanField("Disadvantaged (pupil premium or free school meals)")
    send = BooleanField("Special educational needs and disabilities (SEND)")
    at_risk = BooleanField("At risk of NEET (RONI)")
    version = HiddenField(validators=[Optional(), Regexp(r"^\d+$")])

    def details(self) -> PupilDetails:
        return PupilDetails(
            year_group=self.year_group.data, identifier=self.identifier.data or None,
            form_group=self.form_group.data or None,
            display_name=self.display_name.data if "display_name" in self else None,
            disadvantaged=self.disadvantaged.data, send=self.send.data, at_risk=self.at_risk.data,
        )

    def show_error(self, error: PortalError) -> None:
        attach_error(self, error)

    def show_conflict(self, error: PortalError, current_version: int) -> None:
        """Keep the input, say why it was not saved, and let the next save go against the new version."""
        self.form_errors.append(error.message)
        self.version.data = str(current_version)


def pupil_form(school, pupil=None) -> PupilForm:
    """The add form (identifier required) or the edit form (identifier optional, version carried)."""
    data = None
    if pupil is not None:
        data = {"year_group": pupil.year_group, "form_group": pupil.form_group, "display_name": pupil.display_name,
                "disadvantaged": pupil.disadvantaged, "send": pupil.send, "at_risk": pupil.at_risk,
                "version": str(pupil.version)}
    form = PupilForm(data=data)
    form.year_group.choices = [("", "Choose a year group")] + [(y, vocab.year_label(y))
                                                               for y in pupils.school_years(school)]
    if pupil is None:
        form.identifier.validators = [DataRequired("Enter the pupil's identifier from your MIS, e.g. their "
                                                   "admission number."), *form.identifier.validators]
    else:
        form.identifier.label.text = "New pupil identifier"
        form.identifier.description = "Leave it empty to keep the current one (it is never shown)."
    if not school.names_opt_in:
        del form.display_name
    return form


class LeaveForm(FlaskForm):
    """The confirmation step: only a CSRF token."""


def _csv_name(form, field) -> None:
    name = (getattr(field.data, "filename", "") or "").lower()
    if not name.endswith((".csv", ".txt")):
        raise ValidationError("Choose a CSV file (its name ends in .csv). In Excel: File, Save as, CSV UTF-8.")


class UploadForm(FlaskForm):
    file = FileField("Roster file (CSV)", validators=[FileRequired("Choose your roster's CSV file."), _csv_name],
                     description="Exported from your MIS (SIMS, Arbor, Bromcom...) or saved from a spreadsheet as "
                                 "CSV; at most 5 MB. Nothing is imported until you have checked the columns.")


class MappingForm(FlaskForm):
    """A select per our field listing the file's headings (set by mapping_form())."""

    identifier = SelectField(roster_import.FIELD_LABELS["identifier"], choices=[], validate_choice=False)
    year_group = SelectField(roster_import.FIELD_LABELS["year_group"], choices=[], validate_choice=False)
    form_group = SelectField(roster_import.FIELD_LABELS["form_group"], choices=[], validate_choice=False)
    display_name = SelectField(roster_import.FIELD_LABELS["display_name"], choices=[], validate_choice=False)
    disadvantaged = SelectField(roster_import.FIELD_LABELS["disadvantaged"], choices=[], validate_choice=False)
    send = SelectField(roster_import.FIELD_LABELS["send"], choices=[], validate_choice=False)
    at_risk = SelectField(roster_import.FIELD_LABELS["at_risk"], choices=[], validate_choice=False)
    full_roster = BooleanField(
        "This is our full roster",
        description="Tick it when the file lists every pupil on roll: pupils on the portal who are not in it are "
                    "then marked as left (never deleted). Leave it unticked for a file of new or changed pupils.",
    )
    action = HiddenField()

    def mapping(self) -> dict[str, str]:
        headings = {value for value, _ in self.identifier.choices if value}
        return {name: self[name].data for name in roster_import.FIELDS
                if self[name].data and self[name].data in headings}

    @property
    def field_names(self) -> tuple[str, ...]:
        return roster_import.FIELDS


def mapping_form(headings: list[str], mapping: dict[str, str], *, names: bool) -> MappingForm:
    form = MappingForm(data=dict(mapping))
    for name in roster_import.FIELDS:
        placeholder = "Choose a column" if name in roster_import.REQUIRED else "Not in this file"
        form[name].choices = [("", placeholder)] + [(h, h) for h in headings]
    form.identifier.description = "Used only to recognise the same pupil next time; kept as a scrambled code."
    form.display_name.description = ("Shown only to your school's careers leads." if names else
                                     "Your school does not store names, so this column is ignored.")
    form.disadvantaged.description = "Values such as Y/N, Yes/No, True/False or 1/0; blank means no."
    form.send.description = "Y/N or SIMS codes (N none, K SEN support, E EHC plan); blank means no."
    return form
