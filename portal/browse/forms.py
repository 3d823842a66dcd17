"""Forms for finding each other: the offer search (a GET form in the address), requesting an offer,
offering to meet a request, and switching the weekly digest."""
from datetime import date

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import AnyOf, InputRequired, Length, NumberRange, Optional, ValidationError

from portal import vocab
from portal.catalogue import DELIVERY_LABELS
from portal.forms.fields import DayField, MultiCheckboxField, WholeNumberField, strip
from portal.models import Offer, Organisation, SchoolRequest
from portal.services import browse, proposals
from portal.services.proposals import MeetingOffer, OfferRequest

MAX_MILES = 200
TYPE_CHOICES = {code: browse.type_label(code) for code in browse.SCHOOL_TYPES}
YEAR_CHOICES = {str(year): label for year, label in vocab.YEAR_GROUPS.items()}
DELIVERY_CHOICES = {str(code): label for code, label in DELIVERY_LABELS.items()}
MESSAGE_HINT = "Optional, up to 1,000 characters. Do not write pupils' names or anything about individual pupils."


# Messages for values the browser could not even read (letters in a number, a date that is not a date).
UNREADABLE = {
    "date_from": "Enter a date as a day, month and year, e.g. 2026-03-31.",
    "date_to": "Enter a date as a day, month and year, e.g. 2026-03-31.",
    "within": "Enter a whole number of miles, e.g. 10.",
    "pupils": "Enter a whole number of pupils, e.g. 30.",
    "allocation": "Enter a whole number, e.g. 30.",
    "starts_on": "Enter a date as a day, month and year, e.g. 2026-03-31.",
    "ends_on": "Enter a date as a day, month and year, e.g. 2026-03-31.",
}


def _friendlier(form: FlaskForm) -> None:
    for name, message in UNREADABLE.items():
        field = form._fields.get(name)
        if field is not None and field.process_errors and field.raw_data and str(field.raw_data[0]).strip():
            field.errors = [message]


class BrowseForm(FlaskForm):
    """The offer search. Everything lives in the query string, so a search can be bookmarked or shared."""

    class Meta:
        csrf = False

    q = StringField("Search titles and descriptions", filters=[strip],
                    validators=[Optional(), Length(max=browse.MAX_SEARCH_LENGTH,
                                                   message="Search for at most 100 characters.")])
    type = SelectField("Type of encounter", choices={"": "Any type", **TYPE_CHOICES}, default="",
                       invalid_choice_message="Choose a type of encounter from the list.")
    sector = SelectField("Sector", choices={"": "Any sector", **vocab.SECTORS}, default="",
                         invalid_choice_message="Choose a sector from the list.")
    year = SelectField("Year group", choices={"": "Any year group", **YEAR_CHOICES}, default="",
                       invalid_choice_message="Choose a year group from the list.")
    delivery = SelectField("Delivery", choices={"": "Any delivery", **DELIVERY_CHOICES}, default="",
                           invalid_choice_message="Choose a way of delivery from the list.")
    date_from = DayField("Running on or after", validators=[Optional()])
    date_to = DayField("Running on or before", validators=[Optional()])
    within = WholeNumberField("Within (miles)", validators=[Optional(), NumberRange(
        min=1, max=MAX_MILES, message=f"Enter a distance from 1 to {MAX_MILES} miles.")],
        description="Virtual offers are always included.")
    sort = SelectField("Sort", choices=browse.SORT_LABELS, default=browse.SORT_DISTANCE,
                       invalid_choice_message="Choose how to sort from the list.",
                       description="Nearest first needs a school to measure from; otherwise soonest first.")
    school_id = SelectField("Measure distances from", choices={}, default="",
                            invalid_choice_message="Choose one of your areas' schools.")

    def set_schools(self, schools: list[Organisation] | None) -> None:
        """Coordinators and admins pick a school to measure from; careers leads measure from their own."""
        if schools is None:
            del self.school_id
        else:
            self.school_id.choices = {"": "No school (no distances)", **{str(s.id): s.name for s in schools}}

    def validate_date_to(self, field) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The last date must be on or after the first date.")

    def check(self) -> None:
        """Validate what the address holds; a bad value is shown beside its field and left out of the search."""
        self.validate()
        _friendlier(self)

    def filters(self, school: Organisation | None) -> browse.OfferFilters:
        """The valid filters as service arguments (call check() first); `school` is what distances are from."""
        if (school is None or not school.has_location) and self.within.data is not None and not self.within.errors:
            self.within.errors = [
                "Distances need a school with a location: choose a school first." if "school_id" in self else
                "Your school has no location on its profile, so distances cannot be measured. Add it there first."]
        good = {name: field.data for name, field in self._fields.items() if not field.errors}
        return browse.OfferFilters(
            type=good.get("type") or None,
            sector=good.get("sector") or None,
            year=int(good["year"]) if good.get("year") else None,
            delivery=good.get("delivery") or None,
            date_from=good.get("date_from"),
            date_to=good.get("date_to"),
            within_miles=good.get("within"),
            text=good.get("q") or None,
            sort=good.get("sort") or None,
        )

    def school_choice(self) -> int | None:
        field = self._fields.get("school_id")
        if field is None or field.errors or not field.data:
            return None
        return int(field.data)

    def query_args(self) -> dict[str, str]:
        """The valid filters as typed, for page links (a bad value is dropped, as it was from the search)."""
        return {name: field.raw_data[0] for name, field in self._fields.items()
                if field.raw_data and str(field.raw_data[0]).strip() and not field.errors}

    @property
    def has_errors(self) -> bool:
        return any(field.errors for field in self)


class RequestsFilterForm(FlaskForm):
    """A provider narrows the open requests to those one of its offers could serve."""

    class Meta:
        csrf = False

    offer_id = SelectField("Requests one offer could serve", choices={}, default="",
                            invalid_choice_message="Choose one of your published offers.")

    def set_offers(self, offers: list[Offer]) -> None:
        self.offer_id.choices = {"": "Any of my offers", **{str(o.id): o.title for o in offers}}
        self.validate()

    def offer_choice(self) -> int | None:
        return int(self.offer_id.data) if self.offer_id.data and not self.offer_id.errors else None

    def query_args(self) -> dict[str, str]:
        return {"offer_id": self.offer_id.data} if self.offer_choice() else {}


class RequestOfferForm(FlaskForm):
    """A careers lead asks for an offer: how many pupils, which year groups, which dates."""

    pupils = WholeNumberField("Number of pupils",
                              validators=[InputRequired("Enter how many pupils would come, e.g. 30.")])
    year_groups = MultiCheckboxField("Year groups", coerce=int,
                                     invalid_choice_message="Choose from the year groups listed.")
    starts_on = DayField("From", validators=[InputRequired("Enter the first date that suits you.")],
                          description="The first date that suits you, within the offer's dates.")
    ends_on = DayField("To", validators=[InputRequired("Enter the last date that suits you.")],
                        description="The last date that suits you.")
    message = TextAreaField("Message to the provider", filters=[strip], description=MESSAGE_HINT,
                            validators=[Optional()])

    def setup(self, offer: Offer, school: Organisation, *, today: date) -> None:
        self._offer, self._school, self._today = offer, school, today
        self.year_groups.choices = [(y, vocab.year_label(y)) for y in proposals.requestable_years(offer, school)]
        self.pupils.description = (f"Up to {browse.quantity(offer.type, offer.places_left)}: the places left.")
        if not self.is_submitted():
            self.starts_on.data = max(offer.starts_on, today)
            self.ends_on.data = offer.ends_on

    def asked(self) -> OfferRequest:
        return OfferRequest(pupils=self.pupils.data, year_groups=list(self.year_groups.data or []),
                            starts_on=self.starts_on.data, ends_on=self.ends_on.data, message=self.message.data)

    def validate(self, extra_validators=None) -> bool:
        super().validate(extra_validators)
        _friendlier(self)
        asked = self.asked()
        for name, message in proposals.request_problems(self._offer, self._school, asked, today=self._today):
            field = self[name]
            if not field.errors:  # one message per field: the first thing to fix
                field.errors = [*field.errors, message]
        return not any(field.errors for field in self)


class OfferToMeetForm(FlaskForm):
    """A provider offers one of its offers to a school's request."""

    offer_id = SelectField("Your offer", coerce=int, validate_choice=False)
    allocation = WholeNumberField("How many pupils you could take",
                              validators=[InputRequired("Enter how many pupils you could take, e.g. 30.")])
    message = TextAreaField("Message to the school", filters=[strip], validators=[Optional()],
                            description="Optional, up to 1,000 characters: what you would bring and any times "
                                        "that suit you.")

    def setup(self, school_request: SchoolRequest, offers: list[Offer], *, provider: Organisation,
              today: date) -> None:
        self._request, self._provider, self._today = school_request, provider, today
        self._offers = {offer.id: offer for offer in offers}
        self.offer_id.choices = [(offer.id, f"{offer.title} ({browse.quantity(offer.type, offer.places_left)} left)")
                                 for offer in offers]
        needed = proposals.still_needed(school_request)
        self.allocation.description = f"The school still needs places for {needed} pupils."
        if not self.is_submitted():
            self.allocation.data = min([needed, *(o.places_left for o in offers)]) if offers else None

    def chosen_offer(self, loader) -> Offer | None:
        """The offer named in the submission, even one not in the list (so the view can refuse another's)."""
        try:
            offer_id = int(self.offer_id.raw_data[0]) if self.offer_id.raw_data else None
        except (TypeError, ValueError):
            return None
        if offer_id is None:
            return None
        return self._offers.get(offer_id) or loader(offer_id)

    def proposal(self, offer: Offer | None) -> MeetingOffer:
        return MeetingOffer(offer=offer, allocation=self.allocation.data, message=self.message.data)

    def validate_with(self, offer: Offer | None, extra_validators=None) -> bool:
        super().validate(extra_validators)
        _friendlier(self)
        for name, message in proposals.meeting_problems(self._request, self.proposal(offer),
                                                        provider=self._provider, today=self._today):
            field = self[name]
            if not field.errors:
                field.errors = [*field.errors, message]
        return not any(field.errors for field in self)


class DigestForm(FlaskForm):
    """The weekly digest switch: a button that posts "on" or "off"."""

    weekly_digest = HiddenField(validators=[AnyOf(["on", "off"], message="Choose on or off.")])

    @property
    def on(self) -> bool:
        return self.weekly_digest.data == "on"

