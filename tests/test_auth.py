"""Signing in and out, and what each role may open."""
from flask import Flask


def test_login_page_renders(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b"Sign in" in response.data


def test_practitioner_signs_in_and_lands_on_their_week(client, auth, make):
    practice = make.practice()
    make.practitioner(practice, email="glen@example.com")
    response = auth.login("glen@example.com")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/")
    assert client.get("/").headers["Location"].endswith("/week")
    assert client.get("/week").status_code == 200


def test_wrong_password_is_refused_and_nothing_is_opened(client, auth, make):
    practice = make.practice()
    make.practitioner(practice, email="glen@example.com")
    response = auth.login("glen@example.com", "not the password")
    assert response.status_code == 401
    assert "Wrong e-mail or password" in response.get_data(as_text=True)
    assert client.get("/week").status_code == 302


def test_logout_ends_the_session(client, auth, make):
    make.user(make.practice(), role="admin", email="admin@example.com")
    auth.login("admin@example.com")
    assert client.get("/admin/").status_code == 200
    auth.logout()
    assert client.get("/admin/").status_code == 302


def test_staff_cannot_open_the_admin_pages(client, auth, make):
    make.user(make.practice(), role="staff", email="front@example.com")
    auth.login("front@example.com")
    assert client.get("/admin/").status_code == 403


def test_security_headers_are_set(client):
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_forms_without_a_csrf_token_are_refused(another_app):
    app: Flask = another_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        response = app.test_client().post("/login", data={"email": "a@example.com", "password": "x"})
    assert response.status_code == 400
