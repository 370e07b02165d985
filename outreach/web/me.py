"""My settings: every user's own language, password and the phone Call rings; for practitioners also
the name they go by."""
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from flask_login import current_user, login_required, login_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, TelField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from outreach.extensions import db
from outreach.services import accounts
from outreach.services.calls import caller_phone
from outreach.web.errors import reshows_expired_form
from outreach.web.formatting import language_choices, translated
from outreach.web.forms import show_error
from outreach.web.validators import at_most

bp = Blueprint("me", __name__)


class MySettingsForm(FlaskForm):
    formal_name = StringField(
        _l("How you introduce yourself"), validators=[Optional(), at_most(accounts.MAX_NAME_LENGTH)],
        description=_l("For example “Dr. Gorab”; empty: your title and surname."),
        render_kw={"autocomplete": "off"})
    preferred_name = StringField(
        _l("Preferred name"), validators=[Optional(), at_most(accounts.MAX_PREFERRED_NAME_LENGTH)],
        description=_l("What you ask clients to call you; the call script says it."),
        render_kw={"autocomplete": "nickname"})
    phone = TelField(_l("Your phone"), validators=[Optional()],
                     description=_l("The call bridge rings this phone, then connects you to the client."),
                     render_kw={"autocomplete": "tel"})
    locale = SelectField(_l("Language"), validators=[Optional()])


class PasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()],
                                     render_kw={"autocomplete": "current-password"})
    password = PasswordField(_l("New password"),
                             validators=[DataRequired(), Length(min=accounts.MIN_PASSWORD_LENGTH)],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField(_l("New password again"),
                            validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
                            render_kw={"autocomplete": "new-password"})


def _settings_form(**kwargs) -> MySettingsForm:
    user = current_user._get_current_object()
    practitioner = user.practitioner
    data = {"locale": user.locale or "", "phone": caller_phone(user)}
    if practitioner is not None:
        data.update(formal_name=practitioner.formal_name, preferred_name=practitioner.preferred_name)
    form = MySettingsForm(data=data, prefix="me", **kwargs)
    form.locale.choices = language_choices(follow_practice=user.practice.locale)
    if practitioner is None:  # staff and admins introduce themselves by no script
        del form.formal_name
        del form.preferred_name
    return form


def _page(settings: MySettingsForm, password: PasswordForm, status: int = 200):
    return render_template("me/settings.html", settings=settings, password=password), status


@bp.route("/me", methods=["GET"])
@login_required
def settings():
    return _page(_settings_form(), PasswordForm(prefix="password", formdata=None))


@bp.route("/me", methods=["POST"])
@login_required
@reshows_expired_form
def save_settings():
    form = _settings_form()
    if not form.validate_on_submit():
        return _page(form, PasswordForm(prefix="password", formdata=None), 400)
    try:
        accounts.update_own_settings(
            db.session, current_user, locale=form.locale.data or None,
            formal_name=form.formal_name.data if "formal_name" in form else None,
            preferred_name=form.preferred_name.data if "preferred_name" in form else None,
            phone=form.phone.data)
    except accounts.AccountError as exc:
        db.session.rollback()
        if not show_error(form, exc):
            flash(translated(exc), "error")
        return _page(form, PasswordForm(prefix="password", formdata=None), 400)
    db.session.commit()
    refresh()  # the confirmation already speaks the language just chosen
    flash(_("Your settings are saved."), "success")
    return redirect(url_for("me.settings"))


@bp.route("/me/password", methods=["POST"])
@login_required
@reshows_expired_form
def change_password():
    form = PasswordForm(prefix="password")
    if not form.validate_on_submit():
        return _page(_settings_form(formdata=None), form, 400)
    try:
        accounts.change_own_password(db.session, current_user, current_password=form.current_password.data,
                                     new_password=form.password.data)
    except accounts.AccountError as exc:
        db.session.rollback()
        if not show_error(form, exc):
            flash(translated(exc), "error")
        return _page(_settings_form(formdata=None), form, 400)
    db.session.commit()
    # The new password ended every session of the user, on every device; this one goes on.
    login_user(current_user._get_current_object())
    flash(_("Your password is changed."), "success")
    return redirect(url_for("me.settings"))
