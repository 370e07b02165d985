"""My settings: every user sets their own language, password and the phone Call rings; practitioners also
the name they go by."""
from outreach.extensions import db
from outreach.models import AuditEvent, User
from outreach.services.calls import caller_phone


def test_a_practitioner_sets_their_phone_preferred_name_and_language(client, auth, make):
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, email="glen@smile.example", preferred_name="Glen", phone=None)
    auth.login("glen@smile.example")
    page = client.get("/me").get_data(as_text=True)
    assert 'type="tel"' in page and 'autocomplete="tel"' in page
    assert 'href="/me"' in page  # in the navigation

    response = client.post("/me", data={"me-preferred_name": "Glenn", "me-phone": "(202) 555-0150",
                                        "me-locale": "ru"})
    assert response.status_code == 302
    db.session.refresh(glen)
    assert (glen.preferred_name, glen.phone, glen.user.locale) == ("Glenn", "+12025550150", "ru")
    page = client.get("/me").get_data(as_text=True)
    assert "Ваши настройки сохранены." in page and 'lang="ru"' in page


def test_a_wrong_phone_is_refused_next_to_the_field_and_what_was_typed_stays(client, auth, make):
    practice = make.practice("Smile Dental")
    glen = make.practitioner(practice, email="glen@smile.example", phone="+12025550150")
    auth.login("glen@smile.example")
    response = client.post("/me", data={"me-preferred_name": "Glenn", "me-phone": "12345", "me-locale": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert '<span class="error" id="me-phone-error">&#39;12345&#39; is not a valid phone number</span>' in page
    assert 'aria-describedby="me-phone-help me-phone-error"' in page
    assert 'value="Glenn"' in page and 'value="12345"' in page
    db.session.refresh(glen)
    assert glen.phone == "+12025550150" and glen.preferred_name == "Glen"


def test_the_phone_error_speaks_the_users_language(client, auth, make):
    practice = make.practice("Улыбка", timezone="Europe/Moscow", locale="ru", phone="+74951234567")
    make.practitioner(practice, email="gleb@ulybka.example", full_name="Глеб Горобцов", preferred_name="Глеб")
    auth.login("gleb@ulybka.example")
    page = client.post("/me", data={"me-phone": "abc", "me-locale": ""}).get_data(as_text=True)
    assert "«abc» — это не номер телефона" in page


def test_a_password_change_needs_the_current_password(client, auth, make):
    practice = make.practice("Smile Dental")
    make.user(practice, role="staff", email="front@smile.example")
    auth.login("front@smile.example")
    page = client.get("/me").get_data(as_text=True)
    assert 'name="me-preferred_name"' not in page  # staff follow no call script
    assert 'autocomplete="current-password"' in page and 'autocomplete="new-password"' in page

    wrong = client.post("/me/password", data={"password-current_password": "not it",
                                              "password-password": "a new secret phrase",
                                              "password-confirm": "a new secret phrase"})
    assert wrong.status_code == 400
    assert "the current password is not right" in wrong.get_data(as_text=True)

    right = client.post("/me/password", data={"password-current_password": make.PASSWORD,
                                              "password-password": "a new secret phrase",
                                              "password-confirm": "a new secret phrase"})
    assert right.status_code == 302
    assert client.get("/me").status_code == 200  # the new password ended other sessions, not this one
    auth.logout()
    assert auth.login("front@smile.example").status_code == 401
    assert auth.login("front@smile.example", "a new secret phrase").status_code == 302
    user = db.session.scalar(db.select(User).where(User.email == "front@smile.example"))
    assert db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "user.password_changed",
                                                         AuditEvent.object_id == user.id))


def test_front_desk_staff_set_the_phone_call_rings_when_they_call_for_a_practitioner(client, auth, make):
    practice = make.practice("Smile Dental")
    make.user(practice, role="staff", email="front@smile.example")
    auth.login("front@smile.example")
    response = client.post("/me", data={"me-phone": "(202) 555-0177", "me-locale": ""})
    assert response.status_code == 302
    user = db.session.scalar(db.select(User).where(User.email == "front@smile.example"))
    assert user.phone == caller_phone(user) == "+12025550177"
    assert 'value="+12025550177"' in client.get("/me").get_data(as_text=True)
