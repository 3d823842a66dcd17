"""Forms for destinations and the coordinator's reminder button."""
from flask_wtf import FlaskForm
from wtforms import SelectField

from portal.services import destinations


class ButtonForm(FlaskForm):
    """A POST button: the CSRF token only."""


def destinations_form(pupils, formdata=None):
    """A form with one select per leaver on the page, named d_<pupil id>, filled with their destination."""

    class DestinationsForm(FlaskForm):
        pass

    for pupil in pupils:
        setattr(DestinationsForm, f"d_{pupil.id}", SelectField(
            f"Destination of {pupil.reference}", choices=[], default=pupil.destination or "",
        ))  # choices set once bound (a list of tuples given here is deprecated)
    form = DestinationsForm(formdata=formdata) if formdata is not None else DestinationsForm()
    form.rows = [(pupil, form[f"d_{pupil.id}"]) for pupil in pupils]
    for _pupil, field in form.rows:
        field.choices = list(destinations.CHOICES)
    return form


def chosen(form) -> dict[int, str]:
    return {pupil.id: field.data or "" for pupil, field in form.rows}
