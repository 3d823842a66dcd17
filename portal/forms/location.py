"""Location fields: a town from the offline gazetteer, or latitude and longitude.

Works without JavaScript: a town name that matches several places (Preston, Newport) comes back
with a choice of them; static/js/places.js adds search-as-you-type on top.
"""
from wtforms import HiddenField, SelectField, StringField
from wtforms.validators import NumberRange, Optional

from portal import geo
from portal.forms.fields import DecimalNumberField


class LocationFieldsMixin:
    """Mix into a FlaskForm. After validate(), `location` is (town, latitude, longitude) or None."""

    town = StringField(
        "Town or village",
        validators=[Optional()],
        description="Start typing and pick from the list, or give latitude and longitude below.",
        render_kw={"data-places": "1", "list": "places-list", "autocomplete": "off"},
    )
    place_id = HiddenField()
    place_choice = SelectField("Which one?", choices=[], validators=[Optional()], validate_choice=False)
    latitude = DecimalNumberField("Latitude", places=6, validators=[Optional(), NumberRange(min=49, max=61)],
                            description="Only if your town is not in the list, e.g. 53.7893")
    longitude = DecimalNumberField("Longitude", places=6, validators=[Optional(), NumberRange(min=-9, max=2)],
                             description="e.g. -2.2405")

    location: tuple[str | None, float, float] | None = None

    def validate_location(self) -> bool:
        """Resolve the fields to coordinates; add an error beside the right field if they do not resolve.

        Order: a place chosen among same-named towns (only while the town box still names it, so
        typing another town after "Which one?" is not saved at the first choice); then a town with
        one exact match; then latitude and longitude; then ask which of several, or say not found.
        """
        self.location = None
        name = (self.town.data or "").strip()
        matches = geo.exact_matches(name) if name else []
        by_id = {str(p.geonameid): p for p in matches}
        for chosen in (self.place_choice.data, self.place_id.data):
            if chosen and str(chosen) in by_id:
                place = by_id[str(chosen)]
                self.location = (place.name, place.latitude, place.longitude)
                return True
        if len(matches) == 1:
            place = matches[0]
            self.location = (place.name, place.latitude, place.longitude)
            return True
        has_lat, has_lon = self.latitude.data is not None, self.longitude.data is not None
        if has_lat or has_lon:
            if not (has_lat and has_lon):
                missing = self.longitude if has_lat else self.latitude
                missing.errors.append("Give both latitude and longitude, or neither.")
                return False
            self.location = (name or None, float(self.latitude.data), float(self.longitude.data))
            return True
        if not name:
            self.town.errors.append("Enter a town or village, or latitude and longitude.")
            return False
        if len(matches) > 1:
            self.place_choice.choices = [(str(p.geonameid), describe_place(p)) for p in matches]
            self.place_choice.errors.append(f"There are {len(matches)} places called {name}. Choose one.")
            return False
        suggestions = ", ".join(p.name for p in geo.search_places(name, limit=5))
        hint = f" Did you mean: {suggestions}?" if suggestions else ""
        self.town.errors.append(f"We could not find {name!r} in the list of towns.{hint}")
        return False

    def set_location(self, town: str | None, latitude: float | None, longitude: float | None) -> None:
        """Fill the fields from a stored location (for edit forms)."""
        self.town.data = town
        if town and len(geo.exact_matches(town)) == 1:
            return
        self.latitude.data = latitude
        self.longitude.data = longitude


def describe_place(place: geo.Place) -> str:
    return f"{place.label} ({place.latitude:.2f}, {place.longitude:.2f}; population {place.population:,})"
