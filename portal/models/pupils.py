"""Pupils (4/6): pseudonymous, least data. Never stored: date of birth, UPN, address, contact details.

A pupil is known outside their school only by `reference`, a random code. The school's own identifier (an
admission number or similar) is kept only as a keyed hash, to recognise the same pupil on a later import; it
is never shown. A display name is kept only while the school has opted in (Organisation.names_opt_in).
`contacts` and PupilYearCount are totals kept by services/counting.py (the one owner of the counting rules)
from the register entries, so progress pages read totals instead of counting per pupil.
"""
import enum
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import utcnow


class PupilStatus(enum.StrEnum):
    ON_ROLL = "on_roll"
    LEFT = "left"


class Destination(enum.StrEnum):
    """A leaver's post-16 destination."""

    EET = "eet"  # in education, employment or training
    NEET = "neet"
    NOT_KNOWN = "not_known"


DESTINATION_LABELS = {
    Destination.EET: "In education, employment or training",
    Destination.NEET: "NEET (not in education, employment or training)",
    Destination.NOT_KNOWN: "Not known",
}


class Pupil(db.Model):
    __tablename__ = "pupils"
    __table_args__ = (
        UniqueConstraint("school_id", "identifier_hash", name="uq_pupils_school_identifier"),
        CheckConstraint("year_group BETWEEN 0 AND 14", name="year_group_range"),
        CheckConstraint("status IN ('on_roll', 'left')", name="status_valid"),
        CheckConstraint("status = 'left' OR left_on IS NULL", name="left_on_only_when_left"),
        CheckConstraint("destination IS NULL OR destination IN ('eet', 'neet', 'not_known')",
                        name="destination_valid"),
        CheckConstraint("contacts >= 0", name="contacts_not_negative"),
        # The progress pages group a school's (or an area's) pupils by year group and contacts.
        Index("ix_pupils_school_progress", "school_id", "status", "year_group", "contacts", "at_risk"),
        # Leavers whose destination is not known, per school (the coordinator's overview).
        Index("ix_pupils_school_destination", "school_id", "status", "left_on", "destination"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    reference: Mapped[str] = mapped_column(String(12), unique=True)  # random, e.g. "P7K3M9Q2X"
    identifier_hash: Mapped[str] = mapped_column(String(64))  # HMAC of the school's own identifier
    year_group: Mapped[int] = mapped_column(Integer)
    form_group: Mapped[str | None] = mapped_column(String(20))
    display_name: Mapped[str | None] = mapped_column(String(120))  # only while the school opts in
    disadvantaged: Mapped[bool] = mapped_column(default=False)  # pupil premium / free school meals
    send: Mapped[bool] = mapped_column(default=False)  # special educational needs and disabilities
    at_risk: Mapped[bool] = mapped_column(default=False)  # at risk of NEET (RONI)
    status: Mapped[str] = mapped_column(String(16), default=PupilStatus.ON_ROLL)
    left_on: Mapped[date | None] = mapped_column(Date)
    destination: Mapped[str | None] = mapped_column(String(16))
    destination_recorded_at: Mapped[datetime | None]

    # Kept by services/counting.py: cumulative contacts (from Year 7, under the area's rules), last contact.
    contacts: Mapped[int] = mapped_column(Integer, default=0)
    last_contact_on: Mapped[date | None] = mapped_column(Date)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    school: Mapped["Organisation"] = relationship()  # noqa: F821
    year_counts: Mapped[list["PupilYearCount"]] = relationship(
        back_populates="pupil", cascade="all, delete-orphan", order_by="PupilYearCount.academic_year"
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def on_roll(self) -> bool:
        return self.status == PupilStatus.ON_ROLL


class PupilYearCount(db.Model):
    """A pupil's contacts in one academic year (starting 1 September of `academic_year`), kept by counting."""

    __tablename__ = "pupil_year_counts"
    __table_args__ = (
        CheckConstraint("contacts >= 0", name="contacts_not_negative"),
        CheckConstraint("attended >= contacts", name="attended_covers_contacts"),
        Index("ix_pupil_year_counts_year", "academic_year", "pupil_id", "contacts"),
    )

    pupil_id: Mapped[int] = mapped_column(ForeignKey("pupils.id", ondelete="CASCADE"), primary_key=True)
    academic_year: Mapped[int] = mapped_column(Integer, primary_key=True)
    contacts: Mapped[int] = mapped_column(Integer, default=0)  # counted contacts that year
    attended: Mapped[int] = mapped_column(Integer, default=0)  # every session attended, meaningful or not

    pupil: Mapped[Pupil] = relationship(back_populates="year_counts")


class RosterMapping(db.Model):
    """How one school's MIS export maps to our columns, remembered for its next import."""

    __tablename__ = "roster_mappings"

    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), primary_key=True)
    mapping: Mapped[dict] = mapped_column(JSON)  # our field -> the file's column heading
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RosterUpload(db.Model):
    """An uploaded roster file waiting between the upload, mapping and preview steps (purged after a day)."""

    __tablename__ = "roster_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(43), unique=True)  # random, in the step URLs
    school_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
