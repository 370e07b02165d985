"""Error pages in the site's layout and language, and forms whose security token expired.

A form sent with an expired or missing CSRF token loses nothing: pages whose form re-shows
itself (`reshows_expired_form`) come back with what was typed and a line saying to press again;
any other form comes back as a page that holds what was sent and asks to press again.
"""
from collections.abc import Callable

from flask import Flask, current_app, flash, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

TITLES = {
    400: _l("This request could not be understood"),
    403: _l("This page is not for your role"),
    404: _l("Nothing here"),
    405: _l("This page cannot do that"),
    413: _l("That file is too large"),
    429: _l("Too many tries"),
    500: _l("Something went wrong on our side"),
}
EXPLANATIONS = {
    400: _l("Go back, check what you sent and try again."),
    403: _l("Ask your practice's admin if you need it."),
    404: _l("The page or the record does not exist, or it belongs to another practice."),
    405: _l("Go back and use the page's own buttons."),
    413: _l("Send a smaller file."),
    429: _l("Wait a minute, then try again."),
    500: _l("It has been logged. Try again in a moment."),
}


def reshows_expired_form(view: Callable) -> Callable:
    """Marks a view that re-renders its FlaskForm with what was typed when it does not validate, and acts
    only after `validate_on_submit()`: on an expired token it is run again and shows the form itself."""
    view.reshows_expired_form = True
    return view


def register(app: Flask) -> None:
    app.register_error_handler(CSRFError, _expired_form)
    app.register_error_handler(HTTPException, _error_page)


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _error_page(error: HTTPException):
    if error.code is None or error.code < 400 or request.blueprint == "twilio":
        return error
    title = TITLES.get(error.code, error.name)
    # A description our code gave (abort(404, _("..."))) says more than the generic one; the rate
    # limiter's ("10 per 1 minute") is not for people.
    own_description = error.description and error.description != type(error).description and error.code != 429
    detail = error.description if own_description else EXPLANATIONS.get(error.code)
    if _wants_json():
        response = jsonify(error=str(title), detail=str(detail or ""))
    else:
        response = make_response(render_template("error.html", code=error.code, title=title, detail=detail))
    response.status_code = error.code
    for header, value in error.get_headers():
        if header.lower() == "retry-after":
            response.headers[header] = value
    return response


def _expired_form(error: CSRFError):
    if _wants_json() or request.method != "POST":
        return _error_page(error)
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "reshows_expired_form", False):
        # The form's own CSRF check fails as well, so the view shows the form again and does nothing.
        flash(_("This page was open for a long time, so it was not sent yet. What you typed is still here: "
                "press the button again."), "error")
        try:
            response = make_response(view(**(request.view_args or {})))
        except HTTPException as refused:  # signed out meanwhile, or too many tries
            return _error_page(refused)
        if response.status_code < 300:
            response.status_code = 400
        return response
    fields = [(name, value) for name, values in request.form.lists() for value in values
              if not name.endswith("csrf_token")]
    return render_template("expired_form.html", action=request.full_path.rstrip("?"), fields=fields,
                           had_files=bool(request.files)), 400
