"""The practice admin's pages: users, practitioners and the practice's settings."""
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice
from wtforms import BooleanField, EmailField, IntegerField, PasswordField, SelectField, StringField, TimeField
from wtforms.validators import DataRequired, NumberRange, Optional, ValidationError

from sqlalchemy.exc import IntegrityError

from outreach.extensions import db
from outreach.models import LOCALES, ROLES, Practice, Practitioner, User
from outreach.scoping import get_scoped_or_404, scoped
from outreach.services import accounts, practice_numbers
from outreach.services.phones import region_for, to_e164
from outreach.web.auth import roles_required
from outreach.web.validators import fits, flash_form_errors

bp = Blueprint("admin", __name__, url_prefix="/admin")

NUMBER_TAKEN = _l("This phone number is already another practice's; each practice needs its own.")

WEEKDAYS = [SelectChoice(number, label) for number, label in (
    (1, _l("Monday")), (2, _l("Tuesday")), (3, _l("Wednesday")), (4, _l("Thursday")),
    (5, _l("Friday")), (6, _l("Saturday")), (7, _l("Sunday")))]


class NewUserForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), fits(User.email)])
    full_name = StringField(_l("Full name"), validators=[DataRequired(), fits(User.full_name)])
    role = SelectField(_l("Role"), choices=[SelectChoice(role) for role in ROLES])
    preferred_name = StringField(_l("Preferred name"), validators=[Optional(), fits(Practitioner.preferred_name)])
    phone = StringField(_l("Phone"), validators=[Optional()])
    password = PasswordField(_l("Password (leave empty to generate one)"), validators=[Optional()])


class PractitionerForm(FlaskForm):
    full_name = StringField(_l("Full name"), validators=[DataRequired(), fits(Practitioner.full_name)])
    preferred_name = StringField(_l("Preferred name"), validators=[Optional(), fits(Practitioner.preferred_name)])
    phone = StringField(_l("Phone for the call bridge"), validators=[Optional()])
    notify_when_list_ready = BooleanField(_l("Text me when my weekly list is ready"))


def known_timezone(form: FlaskForm, field) -> None:
    try:
        accounts.check_timezone(field.data)
    except accounts.AccountError as exc:
        raise ValidationError(_("Unknown time zone: use a name such as Europe/Moscow or America/New_York.")) from exc


class SettingsForm(FlaskForm):
    timezone = StringField(_l("Time zone"), validators=[DataRequired(), fits(Practice.timezone), known_timezone])
    locale = SelectField(_l("Language"), choices=[SelectChoice(code) for code in LOCALES])
    phone = StringField(_l("Practice phone"), validators=[Optional()])
    address = StringField(_l("Practice address"), validators=[Optional(), fits(Practice.address)])
    quiet_hours_start = TimeField(_l("Quiet hours start"))
    quiet_hours_end = TimeField(_l("Quiet hours end"))
    call_list_weekday = SelectField(_l("Build call lists on"), choices=WEEKDAYS, coerce=int)
    call_list_time = TimeField(_l("at"))
    arrival_lead_minutes = IntegerField(_l("Arrival text, minutes before the visit"),
                                        validators=[NumberRange(min=1, max=180)])
    text_window_before_minutes = IntegerField(_l("Texts about a visit from this many minutes before it"),
                                              validators=[NumberRange(min=15, max=720)])
    text_window_after_minutes = IntegerField(_l("until this many minutes after its start"),
                                             validators=[NumberRange(min=0, max=720)])
    texts_per_client_per_day = IntegerField(_l("At most this many texts to a client a day"),
                                            validators=[NumberRange(min=1, max=20)])
    texts_min_gap_minutes = IntegerField(_l("At least this many minutes between two texts to a client"),
                                         validators=[NumberRange(min=0, max=240)])
    include_returning_after_months = IntegerField(
        _l("Also call clients returning after this many months (empty: off)"),
        validators=[Optional(), NumberRange(min=1, max=120)])
    include_open_questions = BooleanField(_l("Also call clients with an unanswered question"))
    retention_days = IntegerField(_l("Keep message bodies and notes for (days)"),
                                  validators=[NumberRange(min=30, max=3650)])
    callback_window_days = IntegerField(_l("Put call-backs through to the practitioner who called, within (days)"),
                                        validators=[NumberRange(min=0, max=30)])
    callback_hours_start = TimeField(_l("Practitioners take call-backs from"))
    callback_hours_end = TimeField(_l("until"))
    other_inbound_calls = SelectField(_l("Other calls to the practice number"), choices=[
        SelectChoice("voicemail", _l("Voicemail")), SelectChoice("front_desk", _l("Forward to the front desk"))])
    front_desk_phone = StringField(_l("Front desk phone"), validators=[Optional()])
    missed_call_text_auto = BooleanField(_l("After an unanswered call, text the client by itself"))
    voicemail_drop_auto = BooleanField(_l("Leave the practitioner's greeting on voicemail by itself"))

    def validate_front_desk_phone(self, field) -> None:
        if not (field.data or "").strip():
            field.data = None
            return
        try:
            field.data = to_e164(field.data, region_for(self.phone.data, self.timezone.data))
        except ValueError as exc:
            raise ValidationError(_("Not a phone number we can call: %(error)s", error=exc)) from exc


@bp.route("/")
@roles_required("admin")
def index():
    users = db.session.scalars(scoped(User).order_by(User.role, User.full_name)).all()
    return render_template("admin/index.html", users=users, new_user=NewUserForm(),
                           practice=current_user.practice)


@bp.route("/users", methods=["POST"])
@roles_required("admin")
def create_user():
    form = NewUserForm()
    if not form.validate_on_submit():
        flash_form_errors(form, _("Please fill in e-mail, full name and role."))
        return redirect(url_for("admin.index"))
    try:
        user, password = accounts.create_user(
            db.session, practice=current_user.practice, email=form.email.data, role=form.role.data,
            full_name=form.full_name.data, preferred_name=form.preferred_name.data, phone=form.phone.data,
            password=form.password.data or None, actor=current_user,
        )
    except accounts.AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.index"))
    db.session.commit()
    if form.password.data:
        flash(_("Created %(email)s.", email=user.email), "success")
    else:
        flash(_("Created %(email)s with password %(password)s — hand it over now, it is not shown again.",
                email=user.email, password=password), "success")
    return redirect(url_for("admin.index"))


@bp.route("/practitioners/<id:practitioner_id>", methods=["GET", "POST"])
@roles_required("admin")
def edit_practitioner(practitioner_id: int):
    practitioner = get_scoped_or_404(Practitioner, practitioner_id)
    form = PractitionerForm(obj=practitioner)
    if form.validate_on_submit():
        try:
            accounts.update_practitioner(
                db.session, practitioner, full_name=form.full_name.data, preferred_name=form.preferred_name.data,
                phone=form.phone.data, notify_when_list_ready=form.notify_when_list_ready.data, actor=current_user,
            )
        except accounts.AccountError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return render_template("admin/practitioner.html", form=form, practitioner=practitioner), 400
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("admin.index"))
    return render_template("admin/practitioner.html", form=form, practitioner=practitioner)


@bp.route("/settings", methods=["GET", "POST"])
@roles_required("admin")
def settings():
    practice = current_user.practice
    form = SettingsForm(obj=practice)
    if form.validate_on_submit():
        data = {name: field.data for name, field in form._fields.items() if name != "csrf_token"}
        try:
            accounts.update_practice_settings(db.session, practice, actor=current_user, **data)
            db.session.commit()
        except accounts.AccountError as exc:
            db.session.rollback()
            taken = isinstance(exc.__cause__, practice_numbers.NumberTaken)
            flash(str(NUMBER_TAKEN) if taken else str(exc), "error")
            return render_template("admin/settings.html", form=form), 400
        except IntegrityError:  # another practice took the number at the same moment
            db.session.rollback()
            flash(str(NUMBER_TAKEN), "error")
            return render_template("admin/settings.html", form=form), 400
        flash(_("Settings saved."), "success")
        return redirect(url_for("admin.settings"))
    return render_template("admin/settings.html", form=form)
