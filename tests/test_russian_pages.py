"""Every main page, rendered in Russian for each role, has no English left in it.

Test data is all Cyrillic, so any Latin word in a page's visible text (its text, labels, placeholders,
button values, titles and aria-labels) is a message nobody translated or a raw value nobody named.
"""
import re
from html.parser import HTMLParser

import pytest

from outreach.clock import utcnow
from outreach.extensions import db
from outreach.models import Appointment, Client, Notification
from outreach.services import arrival_texts
from tests.russian_practice import russian_practice

# Words that are the same in Russian: the product's name, a zone name, file types.
ALLOWED = {"outreach", "Europe", "Moscow", "CSV", "SVG", "PDF", "SMS", "iCal", "ics", "Google", "Outlook", "Apple",
           "URL", "https", "webcal",
           # Names of calendar services and of the two SMS alphabets (GSM-7, UCS-2), as people meet them.
           "CalDAV", "Fastmail", "Nextcloud", "Radicale", "iCloud", "GSM", "UCS"}
# A study is cited as it was published.
CITATIONS = ("Parikh et al., Am J Med",)
SKIPPED_TAGS = {"script", "style", "code", "template"}
SHOWN_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt"}


class VisibleText(HTMLParser):
    """The text a reader sees or hears: element text and the attributes read out; not code, scripts, or
    what the page marks as another language (an English client's text, a cited study)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skipped: str | None = None  # the tag of the element being skipped, and how deep
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        if self._skipped is not None:
            self._depth += tag == self._skipped
            return
        attributes = dict(attrs)
        if tag in SKIPPED_TAGS or (tag != "html" and attributes.get("lang", "ru") != "ru"):
            self._skipped, self._depth = tag, 1
            return
        self.parts.extend(value for name, value in attrs if name in SHOWN_ATTRIBUTES and value)
        if tag == "input" and attributes.get("type") in ("submit", "button") and attributes.get("value"):
            self.parts.append(attributes["value"])

    def handle_endtag(self, tag):
        if self._skipped == tag:
            self._depth -= 1
            if self._depth == 0:
                self._skipped = None

    def handle_data(self, data):
        if self._skipped is None:
            self.parts.append(data)


def english_words(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    text = " ".join(parser.parts)
    text = re.sub(r"\S+@\S+", " ", text)  # e-mail addresses
    # A script's {{ variables }} and {% if %} blocks, a text's {variables}: code, not words.
    text = re.sub(r"\{\{[^}]*\}\}|\{%[^%]*%\}|\{[a-z_]+\}", " ", text)
    for citation in CITATIONS:
        text = text.replace(citation, " ")
    return sorted({word for word in re.findall(r"[A-Za-z][A-Za-z'’]+", text) if word not in ALLOWED})


def pages_for(scene) -> dict[str, list[str]]:
    client, visit, past, gleb = scene.client_id, scene.home_visit_id, scene.past_visit_id, scene.gleb
    shared = ["/week/2026-W49", "/today", f"/clients/{client}", f"/appointments/{visit}",
              f"/appointments/{past}", "/outcomes", "/me", "/settings/script", "/clients/999999"]
    return {
        "admin@ulybka.example": shared + ["/admin/", "/admin/settings", f"/admin/users/{gleb.user_id}",
                                          f"/admin/users/{scene.staff.id}", "/settings/texts", "/outcomes/report",
                                          "/imports", "/sources", f"/clients/{client}/erase"],
        "reg@ulybka.example": shared + ["/imports", "/sources", "/admin/"],
        "gleb@ulybka.example": shared,
    }


@pytest.fixture
def scene(make, clock_file):
    return russian_practice(make, clock_file)


@pytest.mark.parametrize("email", ["admin@ulybka.example", "reg@ulybka.example", "gleb@ulybka.example"])
def test_every_main_page_speaks_only_russian(app, scene, make, email):
    untranslated = {}
    browser = app.test_client()
    for url in [None, *pages_for(scene)[email]]:
        with app.app_context():  # each request on its own, as on a server: nothing carried over in `g`
            if url is None:
                response = browser.post("/login", data={"email": email, "password": make.PASSWORD})
                assert response.status_code == 302
                continue
            response = browser.get(url)
            assert response.status_code in (200, 403, 404), (url, response.status_code)
            html = response.get_data(as_text=True)
        assert 'lang="ru"' in html, url
        words = english_words(html)
        if words:
            untranslated[url] = words
    assert not untranslated, "English left on pages:\n" + "\n".join(
        f"{url}: {' '.join(words)}" for url, words in untranslated.items())


def test_the_sign_in_page_and_its_errors_speak_the_browsers_russian(app, scene):
    browser = app.test_client()
    russian = {"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"}
    with app.app_context():
        prompt = browser.get("/week", headers=russian, follow_redirects=True).get_data(as_text=True)
    with app.app_context():
        wrong = browser.post("/login", data={"email": "nobody@ulybka.example", "password": "x"},
                             headers=russian).get_data(as_text=True)
    assert english_words(prompt) == [] and english_words(wrong) == []
    assert "Войдите, чтобы открыть эту страницу." in prompt


def test_one_english_word_with_two_senses_gets_the_right_russian_one(app, scene, make):
    """"Call" the button is a verb («Позвонить»); "Call: ringing" names the call («Звонок»)."""
    browser = app.test_client()
    with app.app_context():
        browser.post("/login", data={"email": "gleb@ulybka.example", "password": make.PASSWORD})
    with app.app_context():
        week = browser.get("/week/2026-W49").get_data(as_text=True)
    assert '<button type="submit" class="call-button"><span class="spinner" aria-hidden="true"></span>Позвонить</button>' in week
    assert "Звонок: <strong" in week


def test_the_users_own_language_comes_first_then_the_practices_and_the_browsers_only_before_sign_in(
        app, scene, make):
    browser = app.test_client()
    english_browser = {"Accept-Language": "en-US,en;q=0.9"}
    with app.app_context():
        assert 'lang="en"' in browser.get("/login", headers=english_browser).get_data(as_text=True)
    with app.app_context():
        browser.post("/login", data={"email": "gleb@ulybka.example", "password": make.PASSWORD})
    with app.app_context():  # the practice speaks Russian, whatever the browser says
        assert 'lang="ru"' in browser.get("/me", headers=english_browser).get_data(as_text=True)
    with app.app_context():
        browser.post("/me", data={"me-locale": "en", "me-phone": "+79161234567"})
    with app.app_context():  # his own choice beats the practice's
        page = browser.get("/me", headers={"Accept-Language": "ru"}).get_data(as_text=True)
    assert 'lang="en"' in page and "My settings" in page


def test_a_call_or_a_text_that_cannot_go_is_refused_in_russian(app, scene, make):
    """Gleb presses Call for Anna, whose number is gone, and On my way for Monday's visit on Saturday."""
    browser = app.test_client()
    with app.app_context():
        browser.post("/login", data={"email": "gleb@ulybka.example", "password": make.PASSWORD})
        anna = db.session.get(Client, scene.client_id)
        anna.phone = None
        db.session.commit()
    with app.app_context():
        card = browser.post(f"/tasks/{scene.task_id}/call", follow_redirects=True).get_data(as_text=True)
    assert "У клиента Анна Петрова нет действующего номера телефона." in card
    with app.app_context():
        page = browser.post(f"/appointments/{scene.home_visit_id}/on-my-way", data={"eta_minutes": "10"},
                            follow_redirects=True).get_data(as_text=True)
    assert "SMS не отправлено: визит — понедельник, 30 ноября 2026" in page  # "2026 г." with a no-break space
    assert "в 10:00; SMS о нём уходят в этот день с 07:00 до 11:00." in page
    assert english_words(page) == []


def test_why_a_text_did_not_go_is_said_in_russian_while_its_trace_stays_english(app, scene, make):
    """Anna's home visit on Monday had its arrival text planned; then the visit was cancelled in the calendar."""
    with app.app_context():
        arrival_texts.plan_arrival_texts(db.session, [scene.home_visit_id], utcnow())
        visit = db.session.get(Appointment, scene.home_visit_id)
        visit.status = "cancelled"
        arrival_texts.plan_arrival_texts(db.session, [scene.home_visit_id], utcnow())
        db.session.commit()
        text = db.session.scalars(db.select(Notification).where(Notification.appointment_id == visit.id)).one()
        assert (text.status, text.status_detail) == ("cancelled", "visit cancelled")

    browser = app.test_client()
    with app.app_context():
        browser.post("/login", data={"email": "reg@ulybka.example", "password": make.PASSWORD})
        page = browser.get(f"/appointments/{scene.home_visit_id}").get_data(as_text=True)
    assert "визит отменён" in page
    assert english_words(page) == []
