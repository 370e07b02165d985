"""Errors are pages of the site, in the reader's language; a form sent with a stale token loses nothing."""
import time

import pytest
from itsdangerous import URLSafeTimedSerializer

from outreach import create_app
from outreach.extensions import db
from outreach.models import CallTask


@pytest.fixture
def csrf_config(app_config):
    app_config.update(WTF_CSRF_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
    return app_config


def test_not_found_forbidden_and_too_many_tries_are_pages_of_the_site(csrf_config, app, client, make):
    practice = make.practice("Smile Dental")
    make.user(practice, role="staff", email="front@smile.example")
    missing = client.get("/clients/999999")
    assert missing.status_code == 302  # signed out: first the sign-in page
    with app.app_context():
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    with app.app_context():
        client.post("/login", data={"email": "front@smile.example", "password": make.PASSWORD, "csrf_token": token})
    with app.app_context():
        not_found = client.get("/clients/999999")
    assert not_found.status_code == 404
    html = not_found.get_data(as_text=True)
    assert "<h1>Nothing here</h1>" in html and 'class="topbar"' in html and "My settings" in html
    with app.app_context():
        forbidden = client.get("/admin/")
    assert forbidden.status_code == 403 and "<h1>This page is not for your role</h1>" in forbidden.get_data(as_text=True)


def test_too_many_sign_in_tries_get_a_page_saying_to_wait(app_config, make):
    app_config.update(LOGIN_RATE_LIMIT="3 per minute")
    app = create_app(app_config)
    browser = app.test_client()
    statuses = []
    for _ in range(4):
        with app.app_context():
            response = browser.post("/login", data={"email": "x@example.com", "password": "wrong"},
                                    headers={"Accept-Language": "ru"})
            statuses.append(response.status_code)
    assert statuses[-1] == 429
    html = response.get_data(as_text=True)
    assert "<h1>Слишком много попыток</h1>" in html and "Подождите минуту" in html
    with app.app_context():
        db.engine.dispose()


class TwoHoursAgo(URLSafeTimedSerializer):
    def get_timestamp(self) -> int:  # itsdangerous' own hook for the signing time
        return int(time.time()) - 2 * 3600


def test_a_page_opened_at_nine_still_works_at_eleven(csrf_config, app, make):
    practice = make.practice("Smile Dental")
    make.user(practice, role="staff", email="front@smile.example")
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["csrf_token"] = "a" * 40
    token = TwoHoursAgo(app.config["SECRET_KEY"], salt="wtf-csrf-token").dumps("a" * 40)
    with app.app_context():
        response = browser.post("/login", data={"email": "front@smile.example", "password": make.PASSWORD,
                                                "csrf_token": token})
    assert response.status_code == 302


def test_a_sign_in_with_a_stale_token_comes_back_with_what_was_typed(csrf_config, app, make):
    browser = app.test_client()
    with app.app_context():
        response = browser.post("/login", data={"email": "front@smile.example", "password": "typed",
                                                "csrf_token": "stale"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'value="front@smile.example"' in html
    assert "What you typed is still here: press the button again." in html
    assert 'name="csrf_token" type="hidden" value="' in html  # a fresh token to press again with


def test_any_other_form_with_a_stale_token_is_kept_to_send_again(csrf_config, app, make):
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, email="glen@smile.example")
    import datetime as dt
    task = make.call_task(make.appointment(glen, make.client(practice), dt.datetime(2026, 12, 8, 15, tzinfo=dt.UTC)))
    browser = app.test_client()
    with app.app_context():
        page = browser.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    with app.app_context():
        browser.post("/login", data={"email": "glen@smile.example", "password": make.PASSWORD, "csrf_token": token})
    with app.app_context():
        response = browser.post(f"/tasks/{task.id}/outcome", data={
            "outcome": "reached", "notes": "Asked about parking; told her the side street.", "csrf_token": "stale"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'action="/tasks/{task.id}/outcome"' in html
    assert '<input type="hidden" name="notes" value="Asked about parking; told her the side street.">' in html
    assert '<input type="hidden" name="outcome" value="reached">' in html
    db.session.expire_all()
    assert db.session.get(CallTask, task.id).outcome is None  # nothing was done with the stale form
