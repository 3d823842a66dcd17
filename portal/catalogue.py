"""The catalogue of offer types: one place that says, for each kind of encounter, its unit, whether it
counts toward the target of four, the phases it suits, and the extra details it needs.

Forms, validation, browsing, matching and counting all read this table; add a type here and the
rest of the portal follows.
"""
import enum
from dataclasses import dataclass


class Unit(enum.StrEnum):
    PUPILS = "pupils"  # capacity = sessions × pupils per session
    PLACES = "places"  # capacity = places (work experience, vacancies, levy places)
    CLASSES = "classes"  # capacity = classes (primary resource kits)


class Delivery(enum.StrEnum):
    IN_SCHOOL = "in_school"
    WORKPLACE = "workplace"
    VIRTUAL = "virtual"


DELIVERY_LABELS = {
    Delivery.IN_SCHOOL: "In school",
    Delivery.WORKPLACE: "At the workplace",
    Delivery.VIRTUAL: "Virtual",
}

SECONDARY_PHASES = frozenset({"secondary", "all_through", "special", "alternative_provision", "college"})
PRIMARY_PHASES = frozenset({"primary", "all_through", "special"})
ALL_PHASES = SECONDARY_PHASES | PRIMARY_PHASES

# Extra details an offer type may need; each is a nullable column on Offer with this label.
DETAIL_LABELS = {
    "placement_days": "Days per placement",
    "mentoring_sessions": "Mentoring sessions per pupil",
    "virtual_link_note": "How the joining link is shared (given after confirmation)",
    "apprenticeship_standard": "Apprenticeship standard",
    "apprenticeship_level": "Apprenticeship level",
    "weekly_wage_pence": "Weekly wage (£)",
    "closing_date": "Closing date for applications",
    "funding_amount_pence": "Levy funding available (£)",
    "levy_expires_on": "Date the levy funds expire",
    "kit_stock": "Kits in stock",
    "mentor_name": "Mentor's name",
    "council_contribution_pence": "The council's weekly wage contribution (£)",
}


@dataclass(frozen=True)
class OfferType:
    code: str
    label: str
    unit: Unit
    counts_toward_target: bool
    phases: frozenset[str]
    details: tuple[str, ...] = ()  # required extra fields (keys of DETAIL_LABELS)
    needs_safeguarding_to_publish: bool = False  # pupils go to the provider's premises
    default_delivery: Delivery = Delivery.IN_SCHOOL
    description: str = ""


OFFER_TYPES: dict[str, OfferType] = {
    t.code: t
    for t in (
        OfferType("careers_talk", "Careers talk or assembly", Unit.PUPILS, True, SECONDARY_PHASES | PRIMARY_PHASES,
                  description="A talk to a class, year group or assembly, with time for questions."),
        OfferType("workplace_visit", "Workplace visit", Unit.PUPILS, True, ALL_PHASES,
                  needs_safeguarding_to_publish=True, default_delivery=Delivery.WORKPLACE,
                  description="A group visits the workplace and meets the people who work there."),
        OfferType("work_experience", "Work experience placement", Unit.PLACES, True, SECONDARY_PHASES,
                  details=("placement_days",), needs_safeguarding_to_publish=True,
                  default_delivery=Delivery.WORKPLACE,
                  description="A pupil spends days at the workplace doing real tasks."),
        OfferType("mentoring", "Mentoring", Unit.PLACES, True, SECONDARY_PHASES, details=("mentoring_sessions",),
                  description="A volunteer mentors a pupil over several sessions."),
        OfferType("mock_interviews", "Mock interviews / CV workshop", Unit.PUPILS, True, SECONDARY_PHASES,
                  description="Practice interviews or CV feedback from people who hire."),
        OfferType("enterprise_challenge", "Enterprise challenge", Unit.PUPILS, True, ALL_PHASES,
                  description="Teams solve a real business problem set by the employer."),
        OfferType("careers_fair", "Careers fair", Unit.PUPILS, True, SECONDARY_PHASES,
                  description="A stand at a school's or area's careers fair."),
        OfferType("virtual_encounter", "Virtual encounter", Unit.PUPILS, True, ALL_PHASES,
                  details=("virtual_link_note",), default_delivery=Delivery.VIRTUAL,
                  description="A live online session with two-way questions; the link is given after confirmation."),
        OfferType("apprenticeship_vacancy", "Apprenticeship vacancy", Unit.PLACES, False, SECONDARY_PHASES,
                  details=("apprenticeship_standard", "apprenticeship_level", "weekly_wage_pence", "closing_date"),
                  default_delivery=Delivery.WORKPLACE,
                  description="A paid apprenticeship job for a school or college leaver."),
        OfferType("levy_place", "Levy-funded apprenticeship place", Unit.PLACES, False, SECONDARY_PHASES,
                  details=("funding_amount_pence", "apprenticeship_standard", "apprenticeship_level",
                           "levy_expires_on"),
                  default_delivery=Delivery.WORKPLACE,
                  description="Apprenticeship training paid from a levy payer's funds before they expire."),
        OfferType("primary_kit", "Primary resource kit", Unit.CLASSES, True, PRIMARY_PHASES,
                  details=("kit_stock",),
                  description="A ready-made classroom kit (e.g. 'When I Grow Up' for KS1), per class."),
        OfferType("enterprise_adviser", "Enterprise adviser", Unit.PLACES, False, SECONDARY_PHASES,
                  description="A senior volunteer linked to one school for the long term, advising its careers lead."),
        OfferType("internship_week", "Internship placement week", Unit.PLACES, True, frozenset(),
                  details=("mentor_name", "weekly_wage_pence", "council_contribution_pence"),
                  needs_safeguarding_to_publish=True, default_delivery=Delivery.WORKPLACE,
                  description="A paid week's placement in the NEET internship programme (young people not at school)."),
    )
}

UNIT_LABELS = {Unit.PUPILS: "pupils", Unit.PLACES: "places", Unit.CLASSES: "classes"}


def offer_type(code: str) -> OfferType:
    return OFFER_TYPES[code]


def type_choices(*, for_schools: bool = False) -> list[tuple[str, str]]:
    """(code, label) pairs; schools cannot ask for internship weeks (those are for young people not at school)."""
    return [(t.code, t.label) for t in OFFER_TYPES.values() if not (for_schools and not t.phases)]
