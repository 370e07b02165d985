"""Staff bring appointments in: .ics uploads and feed URLs."""
from flask import Blueprint, render_template

from outreach.web.auth import roles_required

bp = Blueprint("imports", __name__)


@bp.route("/imports", methods=["GET", "POST"])
@roles_required("admin", "staff")
def upload():
    return render_template("imports/upload.html")
