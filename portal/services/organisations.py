"""Organisations: listing them for coordinators, describing a profile, and version-checked edits."""
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from portal import policy, vocab
from portal.errors import NotAllowed, StaleEdit, ValidationFailed
from portal.extensions import db
from portal.models import Area, Organisation, OrganisationSector, OrgKind, OrgStatus, SchoolYearSize, User, utcnow
from portal.services import audit
from portal.services.pupils import forget_names
from portal.vocab import Role

PER_PAGE = 25

STATUS_LABELS = {
    OrgStatus.PENDING: "Waiting for verification",
    OrgStatus.VERIFIED: "Verified",
    OrgStatus.REJECTED: "Rejected",
}
KIND_LABELS = {OrgKind.PROVIDER: "Provider", OrgKind.SCHOOL: "School or college"}

# Which columns an edit may change, per kind. Status and kind have their own use cases (verification).
COMMON_FIELDS = frozenset({"name", "town", "latitude", "longitude", "area_id"})
EDITABLE_FIELDS = {
    OrgKind.PROVIDER: COMMON_FIELDS | {"provider_kind", "size_band", "levy_payer", "website", "safeguarding_contact"},
    OrgKind.SCHOOL: COMMON_FIELDS | {"urn", "phase", "names_opt_in"},
}
# Codes that must come from a fixed vocabulary; forms check them too, but a service is the last word.
VOCABULARIES = {"provider_kind": vocab.PROVIDER_KINDS, "size_band": vocab.SIZE_BANDS, "phase": vocab.PHASES}

STALE_MESSAGE = (
    "This organisation was changed by someone else while you were editing. "
    "Your changes are below: check them and save again."
)
URN_TAKEN_MESSAGE = "Another school already has this URN. Check the number, or ask your coordinator."

# One provider name per area. Two names are the same when they match ignoring case, spaces at either end or
# repeated between words, and a closing "Ltd", "Ltd." or "Limited" ("pennine  aerostructures" is "Pennine
# Aerostructures Ltd"). Providers only: a school is known by its URN (unique in the database), and two schools
# of one area may truly share a name (St Mary's ...). Another area, or a school, may share a provider's name.
# Checked here, not by a unique index: rows registered before this rule may already repeat a name.
_COMPANY_SUFFIX = re.compile(r" (ltd\.?|limited)$")


def name_key(name: str | None) -> str:
    """A provider's name as the one-per-area rule compares it (see _COMPANY_SUFFIX)."""
    return _COMPANY_SUFFIX.sub("", " ".join((name or "").split()).casefold())


def provider_named(name: str, *, area_id: int, excluding: Organisation | None = None) -> Organisation | None:
    """The provider of this area whose name is the same as `name` under name_key, if there is one."""
    key = name_key(name)
    query = select(Organisation).where(Organisation.area_id == area_id, Organisation.kind == OrgKind.PROVIDER)
    if excluding is not None and excluding.id is not None:
        query = query.where(Organisation.id != excluding.id)
    # An area's providers are hundreds, at most a few thousand: comparing their names here keeps the rule in
    # one place for SQLite and PostgreSQL (SQLite's lower() folds ASCII only).
    return next((org for org in db.session.scalars(query) if name_key(org.name) == key), None)


def name_taken_message(org: Organisation) -> str:
    """The first sentence of every refusal of a provider name already used in the area."""
    return f"{org.name} is already registered in {org.area.name}."


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def kind_label(org: Organisation) -> str:
    """'School or college (Secondary)', 'Provider (Employer)': what a list of mixed organisations shows."""
    detail = vocab.PHASES.get(org.phase or "") if org.is_school else vocab.PROVIDER_KINDS.get(org.provider_kind or "")
    base = KIND_LABELS.get(org.kind, org.kind)
    return f"{base} ({detail})" if detail else base


def areas_for(user: User) -> list[Area]:
    """The areas this user may pick from: all for admins, their own for coordinators, none otherwise."""
    visible = policy.visible_area_ids(user)
    query = select(Area).order_by(Area.name)
    if visible is not None:
        query = query.where(Area.id.in_(visible or {-1}))
    return list(db.session.scalars(query))


def organisations_query(
    user: User,
    *,
    kind: str | None = None,
    status: str | None = None,
    name: str | None = None,
    area_id: int | None = None,
) -> Select:
    """Organisations this user may see across areas, filtered and sorted by name (for db.paginate)."""
    query = select(Organisation).options(selectinload(Organisation.area))
    visible = policy.visible_area_ids(user)
    if visible is not None:
        query = query.where(Organisation.area_id.in_(visible or {-1}))
    if kind:
        query = query.where(Organisation.kind == kind)
    if status:
        query = query.where(Organisation.status == status)
    if area_id is not None:
        query = query.where(Organisation.area_id == area_id)
    if name and name.strip():
        pattern = name.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.lower(Organisation.name).like(f"%{pattern.lower()}%", escape="\\"))
    # lower() so SQLite and PostgreSQL (whatever its collation) sort alike; id keeps pages stable.
    return query.order_by(func.lower(Organisation.name), Organisation.id)


def members_of(org: Organisation) -> list[tuple[str, str, str]]:
    """(name, role label, status) of the people who belong to the organisation, by name."""
    users = db.session.scalars(select(User).where(User.organisation_id == org.id).order_by(User.name, User.id))
    return [(u.name, Role(u.role).label, u.status) for u in users]


@dataclass
class Profile:
    """What an organisation's page shows, with codes already turned into labels."""

    facts: list[tuple[str, str, str | None]] = field(default_factory=list)  # (label, value, link or None)
    year_sizes: list[tuple[str, str]] = field(default_factory=list)  # (year label, pupils or "Not given")


def profile(org: Organisation) -> Profile:
    """The organisation's profile as label/value pairs, so the template only lays them out."""
    facts: list[tuple[str, str, str | None]] = [("Type", kind_label(org), None), ("Area", org.area.name, None)]
    if org.is_school:
        facts += [("URN", org.urn or "", None), ("Phase", vocab.PHASES.get(org.phase or "", org.phase or ""), None)]
    else:
        sectors = ", ".join(vocab.SECTORS.get(code, code) for code in org.sector_codes)
        facts += [
            ("Sectors", sectors or "None given", None),
            ("Size", vocab.SIZE_BANDS.get(org.size_band or "", "Not given"), None),
            ("Apprenticeship levy payer", "Yes" if org.levy_payer else "No", None),
            ("Website", org.website or "None given", _safe_link(org.website)),
            ("Safeguarding contact", org.safeguarding_contact or "None given", None),
        ]
    facts.append(("Location", _describe_location(org), None))
    if org.is_school:
        facts.append(("Pupils' display names", "Stored" if org.names_opt_in else "Not stored", None))
    result = Profile(facts=facts)
    if org.is_school:
        stored = {s.year_group: s.pupils for s in org.year_sizes}
        years = sorted(set(vocab.PHASE_YEARS.get(org.phase or "", ())) | set(stored))
        result.year_sizes = [
            (vocab.year_label(y), str(stored[y]) if y in stored else "Not given") for y in years
        ]
    return result


def _safe_link(url: str | None) -> str | None:
    """Link only to web addresses: never javascript: or data: from an older or imported row."""
    return url if url and url.lower().startswith(("http://", "https://")) else None


def _describe_location(org: Organisation) -> str:
    if not org.has_location:
        return org.town or "Not given"
    where = f"{org.latitude:.4f}, {org.longitude:.4f}"
    return f"{org.town} ({where})" if org.town else where


def update_organisation(
    org: Organisation,
    *,
    by: User,
    expected_version: int,
    changes: Mapping[str, Any],
    sectors: list[str] | None = None,
    year_sizes: Mapping[int, int | None] | None = None,
    ip: str | None = None,
) -> Organisation:
    """Apply an edit loaded at `expected_version`; StaleEdit if someone saved in between. Commits once.

    `changes` holds column values (see EDITABLE_FIELDS); `sectors` replaces a provider's sectors;
    `year_sizes` sets a school's pupils per year group (None removes a year's figure). Years outside
    the school's phase are dropped, so a change of phase leaves no stray rows.
    """
    if not policy.can_edit_organisation(by, org):
        raise NotAllowed("You cannot edit this organisation.")
    unknown = set(changes) - EDITABLE_FIELDS[OrgKind(org.kind)]
    if unknown:
        raise ValueError(f"not editable on a {org.kind}: {', '.join(sorted(unknown))}")
    if org.version != expected_version:
        raise StaleEdit(STALE_MESSAGE)

    changed = [name for name, value in changes.items() if getattr(org, name) != value]
    _check_changes(org, by, {name: changes[name] for name in changed})
    if sectors is not None:
        _check_codes("sectors", sectors, vocab.SECTORS)
        if not sectors:
            raise ValidationFailed("Choose at least one sector.", field="sectors")
    for pupils in (year_sizes or {}).values():
        if pupils is not None and not 0 <= pupils <= 2000:
            raise ValidationFailed("Enter a number of pupils from 0 to 2000.", field="year_sizes")

    old_area_id = org.area_id
    try:
        # No autoflush while changing: loading sectors or year sizes must not flush half an edit.
        with db.session.no_autoflush:
            for name in changed:
                setattr(org, name, changes[name])
            if org.is_provider and sectors is not None and sorted(set(sectors)) != sorted(org.sector_codes):
                kept = {row.sector: row for row in org.sectors}
                org.sectors = [kept.get(code) or OrganisationSector(sector=code) for code in sorted(set(sectors))]
                changed.append("sectors")
            if org.is_school and _apply_year_sizes(org, year_sizes or {}):
                changed.append("pupils per year group")
        if not changed:
            return org
        # Touching the row bumps `version` even when only sectors or year sizes changed,
        # so a concurrent editor of those is told too.
        org.updated_at = utcnow()
        detail = "changed: " + ", ".join(changed)
        if org.area_id != old_area_id:
            detail += f" (area {old_area_id} → {org.area_id})"
        if "names_opt_in" in changed and not org.names_opt_in:  # opting out deletes the names (privacy)
            detail += f"; {forget_names(org)} stored pupil names deleted"
        audit.record("organisation.edit", actor=by, ip=ip, target=org, area_id=org.area_id, detail=detail)
        db.session.commit()
    except StaleDataError as error:
        db.session.rollback()
        raise StaleEdit(STALE_MESSAGE) from error
    except IntegrityError as error:
        db.session.rollback()
        if "urn" in changed:  # another school took the URN between our check and the commit
            raise ValidationFailed(URN_TAKEN_MESSAGE, field="urn") from error
        raise
    return org


def _check_changes(org: Organisation, by: User, changed: Mapping[str, Any]) -> None:
    """Who may change what, and values a form could not vouch for. Raises before anything is touched."""
    if "urn" in changed:
        if by.role not in (Role.COORDINATOR, Role.ADMIN):
            raise NotAllowed("Only a coordinator can change a school's URN.", field="urn")
        urn = changed["urn"]
        if not (isinstance(urn, str) and len(urn) == 6 and urn.isdigit()):
            raise ValidationFailed("A URN is 6 digits, e.g. 119876.", field="urn")
        taken = db.session.scalar(select(Organisation.id).where(Organisation.urn == urn, Organisation.id != org.id))
        if taken is not None:
            raise ValidationFailed(URN_TAKEN_MESSAGE, field="urn")
    if "area_id" in changed:
        if by.role != Role.ADMIN:
            raise NotAllowed("Only an administrator can move an organisation to another area.", field="area_id")
        if db.session.get(Area, changed["area_id"]) is None:
            raise ValidationFailed("Choose an area from the list.", field="area_id")
    if changed.get("website") and _safe_link(changed["website"]) is None:
        raise ValidationFailed("Enter a web address starting with http:// or https://.", field="website")
    if "name" in changed and not (changed["name"] or "").strip():
        raise ValidationFailed("Enter the organisation's name.", field="name")
    if org.is_provider and ("name" in changed or "area_id" in changed):
        name, area_id = changed.get("name", org.name), changed.get("area_id", org.area_id)
        taken = provider_named(name, area_id=area_id, excluding=org)
        if taken is not None:
            raise ValidationFailed(f"{name_taken_message(taken)} Choose a different name.",
                                   field="name" if "name" in changed else "area_id")
    for name, codes in VOCABULARIES.items():
        if name in changed and changed[name] is not None:
            _check_codes(name, [changed[name]], codes)


def _check_codes(field_name: str, values, codes: Mapping[str, str]) -> None:
    if any(value not in codes for value in values):
        raise ValidationFailed("Choose from the list.", field=field_name)


def _apply_year_sizes(school: Organisation, year_sizes: Mapping[int, int | None]) -> bool:
    """Bring the school's year-group rows in line with `year_sizes` and its phase; True if any changed."""
    phase_years = set(vocab.PHASE_YEARS.get(school.phase or "", ()))
    existing = {row.year_group: row for row in school.year_sizes}
    changed = False
    for year, row in existing.items():
        if year not in phase_years or (year in year_sizes and year_sizes[year] is None):
            school.year_sizes.remove(row)
            changed = True
    for year, pupils in year_sizes.items():
        if pupils is None or year not in phase_years:
            continue
        row = existing.get(year)
        if row is None:
            school.year_sizes.append(SchoolYearSize(year_group=year, pupils=pupils))
            changed = True
        elif row.pupils != pupils:
            row.pupils = pupils
            changed = True
    return changed
