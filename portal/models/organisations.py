"""Organisations: providers (employers, universities, colleges, training providers) and schools."""
import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import utcnow


class OrgKind(enum.StrEnum):
    PROVIDER = "provider"
    SCHOOL = "school"


class OrgStatus(enum.StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


class Organisation(db.Model):
    """One table for both kinds; CHECK constraints keep each kind's required fields filled."""

    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint("kind IN ('provider', 'school')", name="kind_valid"),
        CheckConstraint("status IN ('pending', 'verified', 'rejected')", name="status_valid"),
        CheckConstraint("kind <> 'school' OR (urn IS NOT NULL AND phase IS NOT NULL)", name="school_fields"),
        CheckConstraint("kind <> 'provider' OR provider_kind IS NOT NULL", name="provider_fields"),
        CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude_range"),
        CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=OrgStatus.PENDING, index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)

    town: Mapped[str | None] = mapped_column(String(120))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    website: Mapped[str | None] = mapped_column(String(300))

    # Providers
    provider_kind: Mapped[str | None] = mapped_column(String(32))
    size_band: Mapped[str | None] = mapped_column(String(16))
    levy_payer: Mapped[bool] = mapped_column(default=False)
    safeguarding_contact: Mapped[str | None] = mapped_column(String(200))

    # Schools
    urn: Mapped[str | None] = mapped_column(String(6), unique=True)
    phase: Mapped[str | None] = mapped_column(String(32))
    names_opt_in: Mapped[bool] = mapped_column(default=False)  # store pupils' display names (4/6)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    area: Mapped["Area"] = relationship(back_populates="organisations")  # noqa: F821
    users: Mapped[list["User"]] = relationship(back_populates="organisation")  # noqa: F821
    sectors: Mapped[list["OrganisationSector"]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", order_by="OrganisationSector.sector"
    )
    year_sizes: Mapped[list["SchoolYearSize"]] = relationship(
        back_populates="school", cascade="all, delete-orphan", order_by="SchoolYearSize.year_group"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_school(self) -> bool:
        return self.kind == OrgKind.SCHOOL

    @property
    def is_provider(self) -> bool:
        return self.kind == OrgKind.PROVIDER

    @property
    def is_verified(self) -> bool:
        return self.status == OrgStatus.VERIFIED

    @property
    def sector_codes(self) -> list[str]:
        return [s.sector for s in self.sectors]

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    def __repr__(self) -> str:
        return f"<Organisation {self.kind} {self.name!r}>"


class OrganisationSector(db.Model):
    __tablename__ = "organisation_sectors"

    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True
    )
    sector: Mapped[str] = mapped_column(String(32), primary_key=True)

    organisation: Mapped[Organisation] = relationship(back_populates="sectors")


class SchoolYearSize(db.Model):
    """How many pupils a school has in a year group: the denominator for need and progress."""

    __tablename__ = "school_year_sizes"
    __table_args__ = (
        UniqueConstraint("school_id", "year_group", name="uq_school_year_sizes_school_year"),
        CheckConstraint("year_group BETWEEN 0 AND 14", name="year_group_range"),
        CheckConstraint("pupils >= 0", name="pupils_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    year_group: Mapped[int]
    pupils: Mapped[int]

    school: Mapped[Organisation] = relationship(back_populates="year_sizes")
