"""The practitioner's weekly call list page."""
from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("call_lists", __name__)


@bp.route("/week")
@login_required
def week():
    return render_template("call_lists/week.html")
