"""Visits: the practitioner's today page and one visit's page."""
from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("visits", __name__)


@bp.route("/today")
@login_required
def today():
    return render_template("visits/today.html")
