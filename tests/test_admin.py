"""The admin's People page: adding, editing, deactivating people and giving them a new password."""
from sqlalchemy import select

from outreach.extensions import db
from outreach.models import AuditEvent, User
from tests.conftest import REPO_ROOT


def admin_signed_in(make, auth):
    practice = make.practice("Smile Dental")
    make.user(practice, role="admin", email="admin@smile.example", full_name="Alex Admin")
    auth.login("admin@smile.example")
    return practice


def user_by_email(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def test_adding_a_person_defaults_to_practitioner_and_an_error_keeps_what_was_typed(client, auth, make):
    practice = admin_signed_in(make, auth)
    make.user(practice, role="staff", email="front@smile.example")
    page = client.get("/admin/").get_data(as_text=True)
    assert '<option selected value="practitioner">practitioner</option>' in page

    response = client.post("/admin/users", data={
        "email": "front@smile.example", "full_name": "Maria Ivanova", "role": "staff",
        "preferred_name": "", "phone": "+12025550151", "password": ""})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="email-error">a user with e-mail front@smile.example already exists</span>' in page
    assert 'value="Maria Ivanova"' in page and 'value="+12025550151"' in page
    assert '<option selected value="staff">front desk</option>' in page


def test_a_name_too_long_is_refused_clearly_and_long_words_cannot_widen_the_page(client, auth, make):
    admin_signed_in(make, auth)
    response = client.post("/admin/users", data={"email": "long@smile.example", "full_name": "A" * 3000,
                                                  "role": "practitioner"})
    assert response.status_code == 400
    assert "At most 100 characters, please." in response.get_data(as_text=True)
    assert user_by_email("long@smile.example") is None
    assert "overflow-wrap: anywhere" in (REPO_ROOT / "static" / "app.css").read_text()


def test_renaming_a_practitioner_shows_the_new_name_everywhere(client, auth, make):
    practice = admin_signed_in(make, auth)
    glen = make.practitioner(practice, email="glen@smile.example", full_name="Dr. Glen Gorab")
    response = client.post(f"/admin/users/{glen.user_id}", data={
        "full_name": "Dr. Glen Gorabb", "locale": "", "formal_name": "", "preferred_name": "Glen",
        "phone": "+12025550150", "notify_when_list_ready": "y"})
    assert response.status_code == 302
    people = client.get("/admin/").get_data(as_text=True)
    assert "Dr. Glen Gorabb" in people and "Dr. Glen Gorab<" not in people
    db.session.refresh(glen)
    assert glen.full_name == glen.user.full_name == "Dr. Glen Gorabb"
    assert "Dr. Glen Gorabb" in client.get(f"/week?practitioner={glen.id}").get_data(as_text=True)


def test_staff_are_edited_deactivated_and_given_a_new_password(app, client, auth, make):
    practice = admin_signed_in(make, auth)
    pat = make.user(practice, role="staff", email="front@smile.example", full_name="Pat Desk")
    edit_page = client.get(f"/admin/users/{pat.id}").get_data(as_text=True)
    assert 'name="preferred_name"' not in edit_page and 'name="full_name"' in edit_page
    assert 'name="phone"' in edit_page  # Call rings it when Pat calls for a practitioner

    assert client.post(f"/admin/users/{pat.id}", data={"full_name": "Pat Front", "locale": "ru",
                                                       "phone": "(202) 555-0177"}).status_code == 302
    db.session.refresh(pat)
    assert (pat.full_name, pat.locale, pat.phone) == ("Pat Front", "ru", "+12025550177")

    # Pat is signed in elsewhere; deactivation ends that session and the next sign-in.
    pats_browser = app.test_client()

    def as_pat(method: str, url: str, **kwargs):
        with app.app_context():  # a request of its own, as on a server (the test's context keeps `g`)
            return pats_browser.open(url, method=method, **kwargs).status_code

    signed_in = {"email": "front@smile.example", "password": make.PASSWORD}
    as_pat("POST", "/login", data=signed_in)
    assert as_pat("GET", "/imports") == 200
    assert client.post(f"/admin/users/{pat.id}/active", data={"active": "0"}).status_code == 302
    assert as_pat("GET", "/imports") == 302
    assert as_pat("POST", "/login", data=signed_in) == 401
    assert "deactivated" in client.get("/admin/").get_data(as_text=True)

    response = client.post(f"/admin/users/{pat.id}/password", data={"new_password": ""}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "New password for front@smile.example:" in page
    client.post(f"/admin/users/{pat.id}/active", data={"active": "1"})
    pats_browser = app.test_client()
    assert as_pat("POST", "/login", data=signed_in) == 401  # the old password is gone
    new_password = page.split("New password for front@smile.example: ")[1].split(" ")[0]
    assert as_pat("POST", "/login", data={**signed_in, "password": new_password}) == 302
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == pat.id,
                                                                 AuditEvent.object_type == "User")).all()
    assert {"user.updated", "user.deactivated", "user.password_reset", "user.activated"} <= set(actions)


def test_an_admin_cannot_deactivate_themselves(client, auth, make):
    admin_signed_in(make, auth)
    me = user_by_email("admin@smile.example")
    response = client.post(f"/admin/users/{me.id}/active", data={"active": "0"}, follow_redirects=True)
    assert "you cannot deactivate yourself" in response.get_data(as_text=True)
    db.session.refresh(me)
    assert me.active


def test_people_of_another_practice_cannot_be_edited(client, auth, make):
    admin_signed_in(make, auth)
    other = make.user(make.practice("Other"), role="staff", email="x@other.example")
    assert client.get(f"/admin/users/{other.id}").status_code == 404
    assert client.post(f"/admin/users/{other.id}/active", data={"active": "0"}).status_code == 404
    assert client.post(f"/admin/users/{other.id}/password", data={}).status_code == 404
