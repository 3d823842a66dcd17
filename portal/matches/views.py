"""Proposed matches. Until approvals arrive (3/6), coordinators see the proposals of their areas as a list."""
from flask import Blueprint, render_template, request
from flask_login import current_user

from portal.extensions import db
from portal.services import proposals

bp = Blueprint("matches", __name__)

SORTS = {"newest": "Newest first", "oldest": "Oldest first"}


@bp.get("/matches")
def index():
    """Proposed matches of the coordinator's areas (every area for admins), newest or oldest first."""
    sort = request.args.get("sort", "newest")
    sort = sort if sort in SORTS else "newest"
    page = db.paginate(proposals.proposed_matches(current_user, newest_first=sort == "newest"),
                       page=max(request.args.get("page", 1, type=int), 1), per_page=proposals.PER_PAGE,
                       max_per_page=proposals.PER_PAGE, error_out=False)
    return render_template("matches/index.html", page=page, rows=proposals.proposal_rows(page.items, current_user),
                           sort=sort, sorts=SORTS, filter_args={"sort": sort} if sort != "newest" else {})
