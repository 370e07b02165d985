"""One client's page: everything the practice knows, so nobody asks the client twice.

A practitioner sees the client's history with themselves only: their visits,
and the calls, notes, texts and replies about those visits.
"""
from flask import Blueprint, render_template
from flask_login import current_user, login_required
from sqlalchemy import select

from outreach.extensions import db
from outreach.models import Appointment, CallAttempt, CallTask, Client, InboundMessage, Notification, Recording
from outreach.scoping import get_scoped_or_404, visible_appointments

bp = Blueprint("clients", __name__)


@bp.route("/clients/<id:client_id>")
@login_required
def show(client_id: int):
    client = get_scoped_or_404(Client, client_id)
    appointments = db.session.scalars(
        visible_appointments().where(Appointment.client_id == client.id).order_by(Appointment.starts_at.desc())
    ).all()
    visible_ids = [appointment.id for appointment in appointments]
    tasks = db.session.scalars(
        select(CallTask).where(CallTask.client_id == client.id, CallTask.appointment_id.in_(visible_ids))
        .order_by(CallTask.id.desc())
    ).all()
    attempts = db.session.scalars(
        select(CallAttempt).where(CallAttempt.task_id.in_([task.id for task in tasks]))
        .order_by(CallAttempt.started_at.desc())
    ).all()
    texts = db.session.scalars(
        select(Notification).where(Notification.client_id == client.id,
                                   Notification.appointment_id.in_(visible_ids))
        .order_by(Notification.due_at.desc())
    ).all()
    replies = select(InboundMessage).where(InboundMessage.client_id == client.id)
    if not current_user.sees_all_practitioners:
        # A reply is about the visit nearest to it; one about a colleague's visit (or none) is not theirs.
        replies = replies.where(InboundMessage.appointment_id.in_(visible_ids))
    voicemails = db.session.scalars(
        select(Recording).where(Recording.client_id == client.id, Recording.kind == "voicemail")
        .order_by(Recording.created_at.desc())
    ).all()
    if not current_user.sees_all_practitioners:
        voicemails = [r for r in voicemails if r.practitioner_id in (None, current_user.practitioner.id)]
    return render_template("clients/show.html", client=client, appointments=appointments, tasks=tasks,
                           attempts=attempts, texts=texts,
                           replies=db.session.scalars(replies.order_by(InboundMessage.received_at.desc())).all(),
                           voicemails=voicemails)
