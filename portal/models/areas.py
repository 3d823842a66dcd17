"""Areas: a borough or district that groups organisations and scopes what a coordinator sees."""
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.models.base import utcnow


class Area(db.Model):
    __tablename__ = "areas"
    __table_args__ = (
        CheckConstraint("contact_target BETWEEN 1 AND 20", name="contact_target_range"),
        CheckConstraint("proposal_expiry_days BETWEEN 1 AND 90", name="proposal_expiry_days_range"),
        CheckConstraint("retention_years BETWEEN 1 AND 10", name="retention_years_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # Area settings (product.md "Counting toward four").
    contact_target: Mapped[int] = mapped_column(default=4)
    distinct_providers: Mapped[bool] = mapped_column(default=False)
    # Proposals nobody has decided on expire after this many days (issue 3/6).
    proposal_expiry_days: Mapped[int] = mapped_column(default=14)
    # Pupil-level rows are deleted or aggregated once a pupil left this many academic years ago: 1 = at the end
    # of the academic year after the one they left in (product.md "Privacy and safeguarding"; flask retention run).
    retention_years: Mapped[int] = mapped_column(default=1)
    # The area's overrides of the matching weights (portal/matching/weights.py); None = the defaults.
    matching_weights: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organisations: Mapped[list["Organisation"]] = relationship(back_populates="area")  # noqa: F821
    coordinators: Mapped[list["User"]] = relationship(  # noqa: F821
        secondary="coordinator_areas", back_populates="areas"
    )

    def __repr__(self) -> str:
        return f"<Area {self.name}>"
