"""The audit log page: who did what and when, limited to the areas the reader may see."""
from datetime import datetime, time, timedelta

from flask import Blueprint, render_template, request
from flask_login import current_user
from sqlalchemy import Select, select

from portal import paging, policy
from portal.audit.forms import AuditFilterForm
from portal.extensions import db
from portal.models import Area, AuditEvent

bp = Blueprint("audit", __name__)

PER_PAGE = 50
FILTERS = ("action", "actor", "date_from", "date_to")


def _scoped(query: Select, user) -> Select:
    """Coordinators see their areas' events (never area-less ones); admins see everything."""
    areas = policy.visible_area_ids(user)
    return query if areas is None else query.where(AuditEvent.area_id.in_(sorted(areas)))


def _filtered(query: Select, form: AuditFilterForm) -> Select:
    """Apply each filter that is filled in and valid (a bad date is reported, not silently used)."""
    if form.action.data:
        query = query.where(AuditEvent.action == form.action.data)
    if form.actor.data and not form.actor.errors:
        pattern = form.actor.data.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(AuditEvent.actor_email.like(f"%{pattern}%", escape="\\"))
    if form.date_from.data and not form.date_from.errors:
        query = query.where(AuditEvent.at >= datetime.combine(form.date_from.data, time.min))
    if form.date_to.data and not form.date_to.errors:
        query = query.where(AuditEvent.at < datetime.combine(form.date_to.data + timedelta(days=1), time.min))
    return query


@bp.get("/audit")
def index():
    """The audit log, newest first, filtered by action, actor and date."""
    form = AuditFilterForm(formdata=request.args)
    actions = db.session.scalars(_scoped(select(AuditEvent.action).distinct(), current_user)
                                 .order_by(AuditEvent.action)).all()
    form.action.choices = [("", "Any action"), *((a, a) for a in actions)]
    form.validate()
    query = _filtered(_scoped(select(AuditEvent), current_user), form)
    events = paging.paginate(query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()), per_page=PER_PAGE)
    return render_template(
        "audit/index.html",
        form=form,
        events=events,
        area_names=dict(db.session.execute(select(Area.id, Area.name)).all()),
        filter_args={name: request.args[name] for name in FILTERS if request.args.get(name)},
        filtered=any(request.args.get(name) for name in FILTERS),
        all_areas=policy.visible_area_ids(current_user) is None,
    )
