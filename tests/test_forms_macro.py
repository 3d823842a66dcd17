"""The forms macro writes a plain <select> itself (templates/_macros/forms.html): the same element, attributes and
options WTForms' Select widget writes, for every kind of select field and state."""
from html.parser import HTMLParser

import pytest
from flask import request
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectField, SelectMultipleField
from wtforms.validators import DataRequired, InputRequired

from portal import create_app


class _Select(HTMLParser):
    """The <select> element's tags (attributes sorted), options and text, as a list of events."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.events, self.inside = [], False

    def handle_starttag(self, tag, attrs):
        self.inside = self.inside or tag == "select"
        if self.inside:
            self.events.append((tag, sorted(attrs)))

    def handle_endtag(self, tag):
        if self.inside:
            self.events.append(("/" + tag,))
        self.inside = self.inside and tag != "select"

    def handle_data(self, data):
        if self.inside and data.strip():
            self.events.append(("text", data))


def _select(html: str) -> list:
    parser = _Select()
    parser.feed(html)
    return parser.events


class Form(FlaskForm):
    class Meta:
        csrf = False

    plain = SelectField("Plain", choices={"": "Any", "a<b": 'A "quoted" & <b>', "c": "C"})
    numbers = SelectField("Numbers", choices={1: "One", 2: "Two"}, coerce=int, validators=[DataRequired()],
                          description="A hint.")
    several = SelectMultipleField("Several", choices={"x": "X", "y": "Y", "z": ""},
                                  validators=[InputRequired()])
    grouped = SelectField("Grouped", choices={"G1": {"a": "A"}, "G2": {"b": "B"}})
    option_attrs = SelectField("Option attributes",
                               choices=[SelectChoice("a", "A", {"data-x": "1"}), SelectChoice("b", "B")])
    field_attrs = SelectField("Field attributes", choices={"a": "A"}, render_kw={"data_role": "pick"})
    empty = SelectField("Empty", choices=[])


@pytest.fixture(scope="module")
def app():
    return create_app("testing", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})


@pytest.mark.parametrize("query", ["", "?plain=a<b&numbers=2&several=x&several=z&option_attrs=a&grouped=b"])
@pytest.mark.parametrize("name", ["plain", "numbers", "several", "grouped", "option_attrs", "field_attrs", "empty"])
def test_the_macro_writes_the_select_wtforms_writes(app, name, query):
    macro = app.jinja_env.from_string('{% import "_macros/forms.html" as forms %}{{ forms.field(f) }}')
    with app.test_request_context("/" + query):
        form = Form(request.args)
        form.validate()
        form.plain.errors = ["Choose one."]
        field = form[name]
        html = macro.render(f=field)
        described = [f"{field.id}-hint"] if field.description else []
        described += [f"{field.id}-error"] if field.errors else []
        wtforms = str(field(class_="form-select" + (" is-invalid" if field.errors else ""),
                            **{"aria-describedby": " ".join(described) or False,
                               "aria-invalid": "true" if field.errors else False, "autocomplete": False}))
        assert _select(html) == _select(wtforms)
        assert _select(html)[0][0] == "select"
