"""The portal's fixed vocabularies, in one place: roles, sectors, phases, provider kinds, size bands, years.

Codes are stored in the database; labels are what people read. Add to a list here and every
form, filter and report picks it up.
"""
import enum


class Role(enum.StrEnum):
    PROVIDER = "provider"
    CAREERS_LEAD = "careers_lead"
    COORDINATOR = "coordinator"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS = {
    Role.PROVIDER: "Provider contact",
    Role.CAREERS_LEAD: "Careers lead",
    Role.COORDINATOR: "Coordinator",
    Role.ADMIN: "Administrator",
}

SECTORS: dict[str, str] = {
    "engineering": "Engineering and manufacturing",
    "digital": "Digital",
    "health": "Health and social care",
    "construction": "Construction",
    "creative": "Creative",
    "finance": "Finance",
    "hospitality": "Hospitality",
    "retail": "Retail",
    "public_services": "Public services",
    "land_based": "Land-based",
    "transport": "Transport and logistics",
    "education": "Education",
}

PROVIDER_KINDS: dict[str, str] = {
    "employer": "Employer",
    "university": "University",
    "college": "College",
    "training_provider": "Training provider",
}

SIZE_BANDS: dict[str, str] = {
    "micro": "Micro (1–9 staff)",
    "small": "Small (10–49 staff)",
    "medium": "Medium (50–249 staff)",
    "large": "Large (250+ staff)",
}

PHASES: dict[str, str] = {
    "primary": "Primary",
    "secondary": "Secondary",
    "all_through": "All-through",
    "special": "Special",
    "alternative_provision": "Alternative provision",
    "college": "College",
}

# Year groups a phase teaches (0 is Reception). Used to validate year-group counts and offers.
PHASE_YEARS: dict[str, tuple[int, ...]] = {
    "primary": tuple(range(0, 7)),
    "secondary": tuple(range(7, 14)),
    "all_through": tuple(range(0, 14)),
    "special": tuple(range(0, 15)),
    "alternative_provision": tuple(range(7, 14)),
    "college": (12, 13, 14),
}

YEAR_GROUPS: dict[int, str] = {0: "Reception", **{n: f"Year {n}" for n in range(1, 14)}, 14: "Year 14 / adult"}


def year_label(year: int) -> str:
    return YEAR_GROUPS.get(year, f"Year {year}")


def choices(mapping: dict) -> list[tuple[str, str]]:
    """(code, label) pairs for a WTForms SelectField."""
    return list(mapping.items())
