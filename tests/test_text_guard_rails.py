"""Nothing reaches a client by mistake: every text has a reason that is still true when it leaves.

Stories of a practitioner pressing On my way or Running late at the wrong
moment, of visits that got an outcome before their text left, and of the
dispatcher checking again at the moment of sending, through the real twilio
SDK against the fake Twilio, with the clock pinned before anything is booked.
"""
from __future__ import annotations

import datetime as dt

import pytest

from outreach.clock import set_clock, utcnow
from outreach.extensions import db
from outreach.services import arrival_texts, visit_outcomes
from tests.test_arrival_texts import (
    ANNA_PHONE, NEW_YORK, PRACTICE_PHONE, book_visit, create_requests, dispatch, texts_of,
)

# Anna's visit is on Thursday 3 December 2026 at 10:30 in New York.
THURSDAY_VISIT = dt.datetime(2026, 12, 3, 10, 30, tzinfo=NEW_YORK)
SUNDAY_BEFORE = dt.datetime(2026, 11, 29, 11, 0, tzinfo=NEW_YORK)


@pytest.fixture
def quiet_fake(fake_twilio):
    fake_twilio.auto_callbacks = False
    return fake_twilio


def test_on_my_way_on_sunday_for_thursdays_visit_is_refused_naming_the_day(quiet_fake, app, make, clock_file,
                                                                          client, auth):
    set_clock(clock_file, SUNDAY_BEFORE)
    visit = book_visit(make, THURSDAY_VISIT)
    auth.login("glen@example.com")

    page = client.get(f"/appointments/{visit.appointment.id}").get_data(as_text=True).replace("\u202f", " ")
    assert "On my way and Running late are offered on the visit's day, from 7:30 AM to 11:30 AM." in page
    assert 'name="eta_minutes"' not in page and 'name="minutes_late"' not in page

    # A stale page or a hand-made request is refused all the same, and says which day the visit is.
    answer = client.post(f"/appointments/{visit.appointment.id}/on-my-way", data={"eta_minutes": "10"},
                         follow_redirects=True).get_data(as_text=True)
    assert "No text sent: the visit is on Thursday, December 3, 2026 at 10:30 AM" in answer
    late = client.post(f"/appointments/{visit.appointment.id}/running-late", data={"minutes_late": "10"},
                       follow_redirects=True).get_data(as_text=True)
    assert "No text sent: the visit is on Thursday" in late
    # The real arrival text is still planned for Thursday.
    [arrival] = texts_of(visit.appointment.id)
    assert (arrival.kind, arrival.status) == ("arrival", "pending")
    assert dispatch(app) == {}
    assert create_requests(quiet_fake, ANNA_PHONE) == []


def test_on_the_visits_morning_the_buttons_are_offered_and_running_late_counts_from_the_visit(
        quiet_fake, app, make, clock_file, client, auth):
    set_clock(clock_file, THURSDAY_VISIT - dt.timedelta(hours=2))
    visit = book_visit(make, THURSDAY_VISIT)
    auth.login("glen@example.com")
    page = client.get(f"/appointments/{visit.appointment.id}").get_data(as_text=True)
    assert 'name="eta_minutes"' in page and 'name="minutes_late"' in page

    # Pressed two hours early: 15 minutes late means 10:45, not two hours from now plus 15 minutes.
    client.post(f"/appointments/{visit.appointment.id}/running-late", data={"minutes_late": "15"})
    [late] = [text for text in texts_of(visit.appointment.id) if text.kind == "running_late"]
    assert late.body.endswith("I'll be with you at about 10:45 AM.")

    # Ten minutes into the visit, "5 minutes late" would announce a time already past: refused.
    set_clock(clock_file, THURSDAY_VISIT + dt.timedelta(minutes=10))
    answer = client.post(f"/appointments/{visit.appointment.id}/running-late", data={"minutes_late": "5"},
                         follow_redirects=True).get_data(as_text=True)
    assert "10:35 AM, already past; give a later delay" in answer


def test_a_visit_marked_no_show_gets_no_buttons_and_its_pending_text_never_leaves(quiet_fake, app, make, clock_file,
                                                                                 client, auth):
    set_clock(clock_file, THURSDAY_VISIT - dt.timedelta(hours=1))
    visit = book_visit(make, THURSDAY_VISIT)
    auth.login("glen@example.com")
    client.post(f"/appointments/{visit.appointment.id}/on-my-way", data={"eta_minutes": "50"})
    [_, on_my_way] = texts_of(visit.appointment.id)
    # The worker has not sent it yet (say, Redis was down) when the visit is marked a no-show.
    on_my_way_id = on_my_way.id
    db.session.get(type(on_my_way), on_my_way_id).status = "pending"
    set_clock(clock_file, THURSDAY_VISIT + dt.timedelta(minutes=5))
    visit_outcomes.mark_visit(db.session, visit.appointment, "no_show", "glen@example.com", utcnow())
    db.session.commit()

    page = client.get(f"/appointments/{visit.appointment.id}").get_data(as_text=True)
    assert 'name="eta_minutes"' not in page and 'name="minutes_late"' not in page
    # The dispatcher checks again at the moment of sending.
    assert dispatch(app) == {"cancelled": 1}
    [text] = [text for text in texts_of(visit.appointment.id) if text.id == on_my_way_id]
    assert (text.status, text.status_detail) == ("cancelled", "the visit is already marked no show")


def test_a_text_whose_visit_moved_to_another_day_is_held_at_the_moment_of_sending(quiet_fake, app, make,
                                                                                  clock_file):
    set_clock(clock_file, THURSDAY_VISIT - dt.timedelta(minutes=30))
    visit = book_visit(make, THURSDAY_VISIT)
    [arrival] = texts_of(visit.appointment.id)
    # Moved to Friday by a change nobody re-planned (a bug, a hand edit): the arrival text re-plans,
    # and an On my way already queued for Thursday is not sent on Thursday for Friday's visit.
    on_my_way = arrival_texts.create_on_my_way(db.session, visit.appointment, eta_minutes=10, actor=visit.appointment
                                               .practitioner.user, now=utcnow())
    visit.appointment.starts_at = THURSDAY_VISIT + dt.timedelta(days=1)
    db.session.commit()
    set_clock(clock_file, THURSDAY_VISIT - dt.timedelta(minutes=15))
    assert dispatch(app) == {"skipped": 1}
    db.session.refresh(on_my_way)
    assert on_my_way.status == "skipped"
    assert on_my_way.status_detail.startswith("the visit is on Friday, December 4, 2026 at 10:30 AM")
    assert create_requests(quiet_fake, ANNA_PHONE) == []


def test_an_arrival_text_outside_the_practices_window_is_never_planned(app, make, clock_file):
    set_clock(clock_file, THURSDAY_VISIT - dt.timedelta(days=1))
    practice = make.practice("Smile Dental", phone=PRACTICE_PHONE, arrival_lead_minutes=240)
    visit = book_visit(make, THURSDAY_VISIT, practice=practice)
    assert texts_of(visit.appointment.id) == []
    # Just after midnight: 15 minutes before is the day before, so no arrival text either.
    midnight = book_visit(make, dt.datetime(2026, 12, 3, 0, 10, tzinfo=NEW_YORK), client_phone="+12025550177",
                          email="g2@example.com", practice=make.practice("Other", phone="+12025550101"))
    assert texts_of(midnight.appointment.id) == []


# --- per-client limits -----------------------------------------------------------------------------


def book_visits_for_anna(make, starts: list[dt.datetime]) -> list:
    """Anna's visits at her place with Glen at these moments (a calendar gone wrong), their texts planned."""
    practice = make.practice("Smile Dental", phone=PRACTICE_PHONE)
    glen = make.practitioner(practice, email="glen@example.com")
    anna = make.client(practice, full_name="Anna Petrova", phone=ANNA_PHONE)
    visits = [make.appointment(glen, anna, start, at_client_place=True) for start in starts]
    arrival_texts.plan_arrival_texts(db.session, [visit.id for visit in visits], utcnow())
    db.session.commit()
    return visits


def test_four_texts_due_at_once_reach_the_client_once_and_the_rest_are_held_and_shown(
        quiet_fake, app, make, clock_file, client, auth):
    set_clock(clock_file, THURSDAY_VISIT - dt.timedelta(hours=1))
    visits = book_visits_for_anna(make, [THURSDAY_VISIT] * 4)
    set_clock(clock_file, THURSDAY_VISIT - dt.timedelta(minutes=15))
    assert dispatch(app) == {"sent": 1, "held": 3}
    assert len(create_requests(quiet_fake, ANNA_PHONE)) == 1
    held = [text for visit in visits for text in texts_of(visit.id) if text.status == "held"]
    assert len(held) == 3
    assert held[0].status_detail == ("held back: the client got a text 0 minutes ago, and texts to a client are "
                                     "at least 10 minutes apart")

    auth.login("glen@example.com")
    page = client.get(f"/appointments/{held[0].appointment_id}").get_data(as_text=True)
    assert "held back" in page and "at least 10 minutes apart" in page
    assert "held back: the client got a text" in client.get("/today").get_data(as_text=True)


def test_no_client_gets_more_than_the_practices_texts_a_day(quiet_fake, app, make, clock_file):
    starts = [THURSDAY_VISIT + dt.timedelta(minutes=30 * n) for n in range(4)]
    set_clock(clock_file, THURSDAY_VISIT - dt.timedelta(hours=1))
    visits = book_visits_for_anna(make, starts)
    for start in starts:
        set_clock(clock_file, start - dt.timedelta(minutes=15))
        dispatch(app)
    assert [texts_of(visit.id)[0].status for visit in visits] == ["queued", "queued", "queued", "held"]
    assert texts_of(visits[3].id)[0].status_detail == (
        "held back: the client already got 3 texts today, the practice's limit is 3 a day")
    assert len(create_requests(quiet_fake, ANNA_PHONE)) == 3



def test_a_wrong_calendar_cannot_text_more_people_than_the_practice_allows_in_a_day(quiet_fake, app, make,
                                                                                   clock_file):
    """Someone imported another business's calendar: twelve strangers' home visits at 10:30 on Thursday.
    The admin allows the practice ten texts a day; one went out this morning for a real 9:00 visit."""
    nine = THURSDAY_VISIT - dt.timedelta(minutes=90)
    set_clock(clock_file, nine - dt.timedelta(hours=1))
    practice = make.practice("Smile Dental", phone=PRACTICE_PHONE, texts_per_practice_per_day=10)
    glen = make.practitioner(practice, email="glen@example.com")
    visits = [make.appointment(glen, make.client(practice, full_name=f"Client {n}", phone=f"+1202555{n + 200:04d}"),
                               nine if n == 0 else THURSDAY_VISIT, at_client_place=True) for n in range(13)]
    arrival_texts.plan_arrival_texts(db.session, [visit.id for visit in visits], utcnow())
    db.session.commit()
    set_clock(clock_file, nine - dt.timedelta(minutes=15))
    assert dispatch(app) == {"sent": 1}

    set_clock(clock_file, THURSDAY_VISIT - dt.timedelta(minutes=15))
    assert dispatch(app) == {"sent": 9, "held": 3}
    held = [text for visit in visits for text in texts_of(visit.id) if text.status == "held"]
    assert [text.status_detail for text in held] == [
        "held back: the practice has sent its 10 texts for today, the most an admin allows a day"] * 3




# --- the client's own time ---------------------------------------------------------------------------

GERMAN_MOBILE = "+4915112345670"  # a landline could not take the text


def test_quiet_hours_follow_the_zone_the_clients_number_tells(quiet_fake, app, make, clock_file):
    # A New York practice; Klaus has a German mobile. 10:15 in New York is 16:15 for him, 15:45 is 21:45.
    set_clock(clock_file, THURSDAY_VISIT - dt.timedelta(hours=1))
    practice = make.practice("Smile Dental", phone=PRACTICE_PHONE)
    morning = book_visit(make, THURSDAY_VISIT, practice=practice, client_phone=GERMAN_MOBILE,
                         full_name="Klaus Weber")
    afternoon = book_visit(make, THURSDAY_VISIT + dt.timedelta(hours=5, minutes=30), practice=practice,
                           client_phone="+4915112345671", full_name="Karin Weber", email="g2@example.com")
    set_clock(clock_file, THURSDAY_VISIT - dt.timedelta(minutes=15))
    assert dispatch(app) == {"sent": 1}
    set_clock(clock_file, THURSDAY_VISIT + dt.timedelta(hours=5, minutes=15))
    assert dispatch(app) == {"skipped": 1}
    assert texts_of(morning.appointment.id)[0].status == "queued"
    assert texts_of(afternoon.appointment.id)[0].status_detail == "quiet hours"


def test_a_client_who_gave_a_landline_gets_no_text_and_the_practitioner_is_told_to_call(
        quiet_fake, app, make, clock_file, client, auth):
    """Mrs. Holloway in London gave her home number; a text to it would never arrive (Twilio's 30006)."""
    set_clock(clock_file, THURSDAY_VISIT - dt.timedelta(hours=1))
    visit = book_visit(make, THURSDAY_VISIT, client_phone="+442079460000", full_name="Mrs. Beatrice Holloway")
    assert texts_of(visit.appointment.id) == []  # no arrival text is planned

    auth.login("glen@example.com")
    card = client.get(f"/appointments/{visit.appointment.id}").get_data(as_text=True)
    assert "landline: call, texts cannot reach it" in card and 'name="eta_minutes"' not in card
    # A stale page or a hand-made request is refused all the same.
    answer = client.post(f"/appointments/{visit.appointment.id}/on-my-way", data={"eta_minutes": "10"},
                         follow_redirects=True).get_data(as_text=True)
    assert "No text sent: the client&#39;s number is a landline, which cannot take a text: call instead" in answer
    assert dispatch(app) == {} and create_requests(quiet_fake, "+442079460000") == []


def test_the_call_list_tells_the_clients_own_time_from_the_number(app, make, clock_file, client, auth):
    from tests.test_call_lists import page_text

    set_clock(clock_file, dt.datetime(2026, 11, 28, 9, 36, tzinfo=NEW_YORK))  # Saturday, 15:36 in Berlin
    practice = make.practice("Smile Dental", phone=PRACTICE_PHONE)
    glen = make.practitioner(practice, email="glen@example.com")
    klaus = make.client(practice, full_name="Klaus Weber", phone=GERMAN_MOBILE)
    # Only one zone for the whole of the US? No: a number whose country has several zones says nothing.
    ivan = make.client(practice, full_name="Ivan Petrov", phone="+79161234567")
    for who in (klaus, ivan):
        make.call_task(make.appointment(glen, who, THURSDAY_VISIT))
    auth.login("glen@example.com")
    html = page_text(client, "/week/2026-W49").replace("\u202f", " ")
    assert "Now is 3:36 PM for the client — a good time" in html
    assert "Now is 9:36 AM for the client — a good time" in html


# --- texts cost what they say ----------------------------------------------------------------------------


@pytest.mark.parametrize("text, characters, encoding, segments", [
    ("", 0, "GSM-7", 0),
    ("a" * 160, 160, "GSM-7", 1),
    ("a" * 161, 161, "GSM-7", 2),
    ("a" * 306, 306, "GSM-7", 2),
    ("a" * 307, 307, "GSM-7", 3),
    ("€" * 80, 80, "GSM-7", 1),  # € takes two of the 160
    ("€" * 81, 81, "GSM-7", 2),
    ("я" * 70, 70, "UCS-2", 1),  # one Cyrillic segment is 70 characters
    ("я" * 71, 71, "UCS-2", 2),
    ("я" * 134, 134, "UCS-2", 2),
    ("я" * 135, 135, "UCS-2", 3),
    ("a" * 69 + "—", 70, "UCS-2", 1),  # one em dash makes the whole text UCS-2
    ("a" * 70 + "—", 71, "UCS-2", 2),
])
def test_sms_segments_follow_the_alphabet(text, characters, encoding, segments):
    from outreach.services.sms_cost import sms_cost

    cost = sms_cost(text)
    assert (cost.characters, cost.encoding, cost.segments) == (characters, encoding, segments)


def test_the_english_defaults_stay_in_one_gsm7_segment():
    from outreach.services.sms_cost import sms_cost

    for kind in (arrival_texts.ARRIVAL, arrival_texts.RUNNING_LATE):
        template = arrival_texts.DEFAULT_TEMPLATES[kind]["en"]
        filled = template.format(client="Alexandra", practitioner="Dr. Konstantinopoulos",
                                 practice="Riverside Family Dental Practice", minutes=15, time="10:45 AM")
        assert (sms_cost(filled).encoding, sms_cost(filled).segments) == ("GSM-7", 1), filled


def test_the_template_editor_shows_characters_and_segments(app, make, clock_file, client, auth):
    set_clock(clock_file, SUNDAY_BEFORE)
    practice = make.practice("Smile Dental", phone=PRACTICE_PHONE)
    make.practitioner(practice, email="glen@example.com")
    make.user(practice, role="admin", email="admin@example.com")
    auth.login("admin@example.com")
    page = client.get("/settings/texts").get_data(as_text=True)
    english = "Hi Anna, this is Glen from Smile Dental. I&#39;ll be with you in about 15 minutes."
    assert english in page
    after_english = page[page.index(english):]
    assert "78 characters · 1 SMS segment (GSM-7)" in " ".join(after_english[:400].split())
    russian_cost = " ".join(page[page.index("Здравствуйте, Анна! Это Glen"):].split())[:400]
    assert "80 characters · 2 SMS segments (UCS-2) · outside the GSM alphabet" in russian_cost

    # An em dash typed into the English wording shows what it costs.
    typed = {"arrival_template": "{client}, {practitioner} here — {minutes} min away.", "action": "preview"}
    page = " ".join(client.post("/settings/texts", data=typed).get_data(as_text=True).split())
    assert "1 SMS segment (UCS-2) · outside the GSM alphabet, so 70 characters a segment: —" in page


# --- series more frequent than daily ----------------------------------------------------------------------


def test_a_series_repeating_every_second_is_refused_and_never_texts(app, make, clock_file):
    from sqlalchemy import func, select

    from outreach.models import Appointment, Notification
    from outreach.services import calendar_intake

    set_clock(clock_file, SUNDAY_BEFORE)
    practice = make.practice("Smile Dental", phone=PRACTICE_PHONE, address="100 Main Street, Springfield")
    glen = make.practitioner(practice, email="glen@example.com")

    def event(uid: str, rule: str, start: str) -> str:
        return (f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:{start}\r\n{rule}\r\n"
                f"SUMMARY:Anna Petrova\r\nLOCATION:12 Elm St, Springfield\r\nDESCRIPTION:+1 202 555 0143\r\n"
                "END:VEVENT\r\n")

    calendar = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
                + event("tick", "RRULE:FREQ=SECONDLY", "20261203T150000Z")
                + event("hourly", "RRULE:FREQ=HOURLY;COUNT=5", "20261203T160000Z")
                + event("weekly", "RRULE:FREQ=WEEKLY;COUNT=2", "20261203T170000Z")
                + "END:VCALENDAR\r\n").encode()
    report = calendar_intake.import_upload(db.session, glen, calendar, "visits.ics", config=app.config, now=utcnow())
    db.session.commit()

    assert [(item["uid"], item["title"], item["date"], item["reason"]) for item in report.skipped] == [
        ("tick", "Anna Petrova", "2026-12-03", "it repeats every second: a series more frequent than daily is not a "
                                               "set of appointments, so none of it was imported"),
        ("hourly", "Anna Petrova", "2026-12-03", "it repeats every hour: a series more frequent than daily is not a "
                                                 "set of appointments, so none of it was imported"),
    ]
    visits = db.session.scalars(select(Appointment).order_by(Appointment.starts_at)).all()
    assert [visit.uid for visit in visits] == ["weekly", "weekly"]
    # Only the real visits at Anna's place get their arrival texts.
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 2
