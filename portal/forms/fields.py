"""Field types, validators and helpers that several blueprints' forms share."""
from collections.abc import Callable
from urllib.parse import urlsplit

from wtforms import DateField, DecimalField, IntegerField, SelectMultipleField, TimeField
from wtforms.validators import StopValidation, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from portal.errors import PortalError


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as checkboxes; the forms macro renders it as a fieldset."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class _ClearParseMessage:
    """A default `invalid_value_message` in the app's voice instead of WTForms' stock "Not a valid ... value.".

    Pass `invalid_value_message=` for one that names the field; otherwise the class's default is shown."""

    invalid_message = ""

    def __init__(self, label=None, validators=None, invalid_value_message: str | None = None, **kwargs):
        super().__init__(label, validators, invalid_value_message=invalid_value_message or self.invalid_message,
                         **kwargs)


class WholeNumberField(_ClearParseMessage, IntegerField):
    """A whole number; anything else is refused with "Enter a whole number, e.g. 30."."""

    invalid_message = "Enter a whole number, e.g. 30."


class DecimalNumberField(_ClearParseMessage, DecimalField):
    """A number that may have decimals; anything else is refused with a clear message."""

    invalid_message = "Enter a number, e.g. 53.7893."


class DayField(_ClearParseMessage, DateField):
    """A date (a date picker sends 2026-03-14); anything else is refused with a clear message."""

    invalid_message = "Enter a real date, e.g. 2026-03-14."


class TimeOfDayField(_ClearParseMessage, TimeField):
    """A time of day (09:30); anything else is refused with "Enter a time like 09:30."."""

    invalid_message = "Enter a time like 09:30."


def strip(value):
    """A filter: surrounding spaces are never meant (pasted emails, names)."""
    return value.strip() if isinstance(value, str) else value


def optional_int(value) -> int | None:
    """`coerce` for a SelectField whose first choice is an empty placeholder."""
    if value in (None, ""):
        return None
    return int(value)


def _is_empty(field) -> bool:
    """Nothing was entered. Looks at what was typed, so "abc" in a number field is not "empty"."""
    if field.raw_data:
        return not any(str(value).strip() for value in field.raw_data)
    data = field.data
    return data is None or data == [] or (isinstance(data, str) and not data.strip())


class RequiredWhen:
    """Required when `condition(form)` holds; otherwise the field is ignored (its errors cleared).

    Put it first in the validator list. For sections of a form that only apply to one choice
    (a new organisation's details when not joining an existing one).
    """

    def __init__(self, condition: Callable, message: str = "This field is required."):
        self.condition = condition
        self.message = message
        self.field_flags = {}

    def __call__(self, form, field):
        if not self.condition(form):
            field.errors[:] = []
            raise StopValidation()
        if _is_empty(field):
            field.errors[:] = []
            raise StopValidation(self.message)


class OptionalWhen(RequiredWhen):
    """Validated (if filled in) when `condition(form)` holds; ignored otherwise."""

    def __call__(self, form, field):
        if not self.condition(form) or _is_empty(field):
            field.errors[:] = []
            raise StopValidation()


def web_address(form, field) -> None:
    """An http or https address with a host (no javascript: or file: links on profile pages)."""
    if not field.data:
        return
    parts = urlsplit(field.data.strip())
    if parts.scheme.lower() not in ("http", "https") or "." not in (parts.hostname or ""):
        raise ValidationError("Enter a web address starting with http:// or https://, e.g. https://example.org")


def attach_error(form, error: PortalError) -> None:
    """Show a service's error beside the field it names, or at the top of the form."""
    field = form._fields.get(error.field) if error.field else None
    if field is None:
        form.form_errors.append(error.message)
    else:
        field.errors = [*field.errors, error.message]
