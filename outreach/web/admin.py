"""The practice admin's pages: users, practitioners and the practice's settings."""
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms.fields.choices import SelectChoice
from wtforms import (BooleanField, EmailField, IntegerField, PasswordField, SelectField, StringField, TelField,
                     TimeField)
from wtforms.validators import DataRequired, NumberRange, Optional, ValidationError

from sqlalchemy.exc import IntegrityError

from outreach.extensions import db
from outreach.models import Practice, User
from outreach.scoping import get_scoped_or_404, scoped
from outreach.services import accounts, practice_numbers
from outreach.services.calls import caller_phone
from outreach.services.phones import region_for, to_e164
from outreach.web.auth import roles_required
from outreach.web.errors import reshows_expired_form
from outreach.web.formatting import language_choices, role_name, translated
from outreach.web.forms import show_error
from outreach.web.validators import at_most, fits

bp = Blueprint("admin", __name__, url_prefix="/admin")

NUMBER_TAKEN = _l("This phone number is already another practice's; each practice needs its own.")

WEEKDAYS = [SelectChoice(number, label) for number, label in (
    (1, _l("Monday")), (2, _l("Tuesday")), (3, _l("Wednesday")), (4, _l("Thursday")),
    (5, _l("Friday")), (6, _l("Saturday")), (7, _l("Sunday")))]


# Practitioner first: most people an admin adds call clients; making an admin is a deliberate choice.
ROLE_CHOICES = ("practitioner", "staff", "admin")


class NewUserForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), fits(User.email)], render_kw={"autocomplete": "off"})
    full_name = StringField(_l("Full name"), validators=[DataRequired(), at_most(accounts.MAX_NAME_LENGTH)],
                            render_kw={"autocomplete": "off"})
    role = SelectField(_l("Role"), default="practitioner")
    preferred_name = StringField(_l("Preferred name"),
                                 validators=[Optional(), at_most(accounts.MAX_PREFERRED_NAME_LENGTH)],
                                 render_kw={"autocomplete": "off"})
    phone = TelField(_l("Phone"), validators=[Optional()], render_kw={"autocomplete": "off"})
    password = PasswordField(_l("Password (leave empty to generate one)"), validators=[Optional()],
                             render_kw={"autocomplete": "new-password"})

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.role.choices = [(role, role_name(role)) for role in ROLE_CHOICES]


class UserForm(FlaskForm):
    """An admin edits a person; the practitioner fields are dropped for staff and admins (their phone stays:
    Call rings it when they call on a practitioner's behalf)."""

    full_name = StringField(_l("Full name"), validators=[DataRequired(), at_most(accounts.MAX_NAME_LENGTH)],
                            render_kw={"autocomplete": "off"})
    locale = SelectField(_l("Language"), validators=[Optional()])
    formal_name = StringField(_l("Introduces themselves as"),
                              validators=[Optional(), at_most(accounts.MAX_NAME_LENGTH)],
                              description=_l("For example “Dr. Gorab”; empty: title and surname."),
                              render_kw={"autocomplete": "off"})
    preferred_name = StringField(_l("Preferred name"),
                                 validators=[Optional(), at_most(accounts.MAX_PREFERRED_NAME_LENGTH)],
                                 render_kw={"autocomplete": "off"})
    phone = TelField(_l("Phone for the call bridge"), validators=[Optional()], render_kw={"autocomplete": "off"})
    notify_when_list_ready = BooleanField(_l("Text me when my weekly list is ready"))


class NewPasswordForm(FlaskForm):
    new_password = PasswordField(_l("New password (leave empty to generate one)"), validators=[Optional()],
                                 render_kw={"autocomplete": "new-password"})


def known_timezone(form: FlaskForm, field) -> None:
    try:
        accounts.check_timezone(field.data)
    except accounts.AccountError as exc:
        raise ValidationError(_("Unknown time zone: use a name such as Europe/Moscow or America/New_York.")) from exc


class SettingsForm(FlaskForm):
    timezone = StringField(_l("Time zone"), validators=[DataRequired(), fits(Practice.timezone), known_timezone])
    locale = SelectField(_l("Language"))
    phone = TelField(_l("Practice phone"), validators=[Optional()], render_kw={"autocomplete": "off"})
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
    texts_per_practice_per_day = IntegerField(_l("At most this many texts from the practice a day, to everyone"),
                                              validators=[NumberRange(min=1, max=100000)])
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
    front_desk_phone = TelField(_l("Front desk phone"), validators=[Optional()], render_kw={"autocomplete": "off"})
    missed_call_text_auto = BooleanField(_l("After an unanswered call, text the client by itself"))
    voicemail_drop_auto = BooleanField(_l("Leave the practitioner's greeting on voicemail by itself"))

    def validate_front_desk_phone(self, field) -> None:
        if not (field.data or "").strip():
            field.data = None
            return
        try:
            field.data = to_e164(field.data, region_for(self.phone.data, self.timezone.data))
        except ValueError as exc:
            raise ValidationError(_("Not a phone number we can call: %(error)s", error=translated(exc))) from exc


def _people_page(new_user: NewUserForm, status: int = 200):
    users = db.session.scalars(scoped(User).order_by(User.active.desc(), User.role, User.full_name)).all()
    return render_template("admin/index.html", users=users, new_user=new_user,
                           practice=current_user.practice), status


@bp.route("/")
@roles_required("admin")
def index():
    return _people_page(NewUserForm(formdata=None))


@bp.route("/users", methods=["POST"])
@roles_required("admin")
@reshows_expired_form
def create_user():
    # Any error re-shows the form with what was typed and the reason next to its field.
    form = NewUserForm()
    if not form.validate_on_submit():
        return _people_page(form, 400)
    try:
        user, password = accounts.create_user(
            db.session, practice=current_user.practice, email=form.email.data, role=form.role.data,
            full_name=form.full_name.data, preferred_name=form.preferred_name.data, phone=form.phone.data,
            password=form.password.data or None, actor=current_user,
        )
    except accounts.AccountError as exc:
        db.session.rollback()
        if not show_error(form, exc):
            flash(translated(exc), "error")
        return _people_page(form, 400)
    db.session.commit()
    if form.password.data:
        flash(_("Created %(email)s.", email=user.email), "success")
    else:
        flash(_("Created %(email)s with password %(password)s — hand it over now, it is not shown again.",
                email=user.email, password=password), "success")
    return redirect(url_for("admin.index"))


def _user_form(user: User, **kwargs) -> UserForm:
    practitioner = user.practitioner
    data = {"full_name": user.full_name, "locale": user.locale or "", "phone": caller_phone(user)}
    if practitioner is not None:
        data.update(formal_name=practitioner.formal_name, preferred_name=practitioner.preferred_name,
                    notify_when_list_ready=practitioner.notify_when_list_ready)
    form = UserForm(data=data, **kwargs)
    form.locale.choices = language_choices(follow_practice=user.practice.locale)
    if practitioner is None:
        for name in ("formal_name", "preferred_name", "notify_when_list_ready"):
            del form[name]
    return form


def _user_page(user: User, form: UserForm, password_form: NewPasswordForm, status: int = 200):
    return render_template("admin/user.html", user=user, form=form, password_form=password_form), status


@bp.route("/users/<id:user_id>", methods=["GET", "POST"])
@roles_required("admin")
@reshows_expired_form
def edit_user(user_id: int):
    user = get_scoped_or_404(User, user_id)
    form = _user_form(user) if request.method == "POST" else _user_form(user, formdata=None)
    if form.validate_on_submit():
        try:
            accounts.update_user(
                db.session, user, full_name=form.full_name.data, locale=form.locale.data or None,
                phone=form.phone.data, actor=current_user,
                **{name: form[name].data for name in ("formal_name", "preferred_name", "notify_when_list_ready")
                   if name in form})
        except accounts.AccountError as exc:
            db.session.rollback()
            if not show_error(form, exc):
                flash(translated(exc), "error")
            return _user_page(user, form, NewPasswordForm(formdata=None), 400)
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("admin.index"))
    status = 400 if request.method == "POST" else 200
    return _user_page(user, form, NewPasswordForm(formdata=None), status)


@bp.route("/users/<id:user_id>/password", methods=["POST"])
@roles_required("admin")
def reset_password(user_id: int):
    user = get_scoped_or_404(User, user_id)
    form = NewPasswordForm()
    try:
        password = accounts.reset_password(db.session, user, new_password=form.new_password.data or None,
                                           actor=current_user)
    except accounts.AccountError as exc:
        db.session.rollback()
        form.new_password.errors = [translated(exc)]
        return _user_page(user, _user_form(user, formdata=None), form, 400)
    db.session.commit()
    if form.new_password.data:
        flash(_("New password set for %(email)s.", email=user.email), "success")
    else:
        flash(_("New password for %(email)s: %(password)s — hand it over now, it is not shown again.",
                email=user.email, password=password), "success")
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.route("/users/<id:user_id>/active", methods=["POST"])
@roles_required("admin")
def set_active(user_id: int):
    user = get_scoped_or_404(User, user_id)
    active = request.form.get("active") == "1"
    try:
        accounts.set_active(db.session, user, active=active, actor=current_user)
    except accounts.AccountError as exc:
        db.session.rollback()
        flash(translated(exc), "error")
        return redirect(url_for("admin.edit_user", user_id=user.id))
    db.session.commit()
    flash(_("%(name)s can sign in again.", name=user.full_name) if active else
          _("%(name)s is deactivated: they cannot sign in, and their open sessions have ended.",
            name=user.full_name), "success")
    return redirect(url_for("admin.index"))


@bp.route("/settings", methods=["GET", "POST"])
@roles_required("admin")
@reshows_expired_form
def settings():
    practice = current_user.practice
    form = SettingsForm(obj=practice)
    form.locale.choices = language_choices()
    if form.validate_on_submit():
        data = {name: field.data for name, field in form._fields.items() if name != "csrf_token"}
        try:
            accounts.update_practice_settings(db.session, practice, actor=current_user, **data)
            db.session.commit()
        except accounts.AccountError as exc:
            db.session.rollback()
            if isinstance(exc.__cause__, practice_numbers.NumberTaken):
                form.phone.errors = [*form.phone.errors, str(NUMBER_TAKEN)]
            elif not show_error(form, exc):
                flash(translated(exc), "error")
            return render_template("admin/settings.html", form=form), 400
        except IntegrityError:  # another practice took the number at the same moment
            db.session.rollback()
            form.phone.errors = [*form.phone.errors, str(NUMBER_TAKEN)]
            return render_template("admin/settings.html", form=form), 400
        flash(_("Settings saved."), "success")
        return redirect(url_for("admin.settings"))
    return render_template("admin/settings.html", form=form)
