"""Where each role lands after signing in."""
from flask import Blueprint, redirect, url_for
from flask_login import current_user, login_required

bp = Blueprint("home", __name__)


@bp.route("/")
@login_required
def index():
    if current_user.role == "practitioner":
        return redirect(url_for("call_lists.week"))
    if current_user.role == "staff":
        return redirect(url_for("imports.upload"))
    return redirect(url_for("admin.index"))
