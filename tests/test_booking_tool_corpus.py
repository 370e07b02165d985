"""Calendars as real booking tools export them, each event with its right answer, scored per field.

tests/corpus/booking_tools/ holds one .ics per tool (Google Calendar, Outlook/Exchange, Apple Calendar,
Calendly, Acuity, Cal.com, SimplyBook.me, Setmore, Square, Jane App, Jobber, Housecall Pro, YCLIENTS,
Dikidi, a German technician's calendar, a family sharing a phone) and answers.yaml the right reading of
every event. Each file is imported into its own calendar of its practice, and what `outreach appointments
--json` would print is compared with the answers.
"""
from __future__ import annotations

import datetime as dt
import unicodedata
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from outreach.extensions import db
from outreach.models import CalendarSource, Practice
from outreach.services.appointment_listing import appointments_json
from outreach.services.ics_import import import_calendar

CORPUS = Path(__file__).parent / "corpus" / "booking_tools"
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
FIELDS = ("name", "phone", "email", "no_client", "at_client_place", "first_visit_flag")
# Every event is read right today: a rule that breaks one reading (a label, a name, a place) fails here with
# the event, not only when the misses add up to a share.
TARGET = 1.0


def load_answers() -> dict:
    return yaml.safe_load((CORPUS / "answers.yaml").read_text(encoding="utf-8"))


def name_key(name: str | None) -> str | None:
    """Names compare whatever the order of their words ("Schröder, Hans-Jürgen" = "Hans-Jürgen Schröder")."""
    if not name:
        return None
    text = unicodedata.normalize("NFC", name).casefold().replace(",", " ")
    return " ".join(sorted(text.split()))


def import_corpus(make) -> dict[str, Practice]:
    answers = load_answers()
    practices = {}
    practitioners = {}
    for key, setup in answers["practices"].items():
        practice = make.practice(setup["name"], timezone=setup["timezone"], locale=setup["locale"],
                                 phone=setup["phone"], address=setup["address"])
        practices[key] = practice
        for user in setup["users"]:
            if user["role"] == "practitioner":
                practitioner = make.practitioner(practice, full_name=user["name"], email=user["email"],
                                                 preferred_name=user.get("preferred"), phone=None)
                practitioners[user["email"]] = practitioner
            else:
                make.user(practice, role=user["role"], email=user["email"], full_name=user["name"])
    for filename, setup in answers["files"].items():
        practitioner = practitioners[setup["practitioner"]]
        source = CalendarSource(practice_id=practitioner.practice_id, practitioner_id=practitioner.id, kind="file",
                                name=filename, client_place=setup["place"])
        db.session.add(source)
        db.session.flush()
        report = import_calendar(db.session, source, (CORPUS / filename).read_bytes(), filename, now=NOW)
        assert report.status == "imported", report.as_json()
        assert not report.skipped, report.skipped
        db.session.commit()
    return practices


def score(practices: dict[str, Practice]) -> tuple[dict[str, tuple[int, int]], list[str], list[str]]:
    answers = load_answers()
    expected = {uid: answer for file in answers["files"].values() for uid, answer in file["events"].items()}
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses: list[str] = []
    staff_taken: list[str] = []
    seen = set()
    for key, practice in practices.items():
        staff_names = {name_key(u["name"]) for u in answers["practices"][key]["users"]}
        staff_emails = {u["email"] for u in answers["practices"][key]["users"]}
        for row in appointments_json(db.session, practice):
            answer = expected[row["uid"]]
            seen.add(row["uid"])
            client = row["client"]

            def check(field: str, ok: bool, got, want) -> None:
                tally[field][0] += ok
                tally[field][1] += 1
                if not ok:
                    misses.append(f"{field}: {row['uid']}: got {got!r}, want {want!r}")

            check("no_client", (client is None) == (not answer["client"]), client, answer.get("name"))
            if client is not None and (name_key(client["name"]) in staff_names or client["email"] in staff_emails):
                staff_taken.append(f"{row['uid']}: {client}")
            if not answer["client"]:
                # Not a visit (or no one to visit): nowhere a text would announce an arrival.
                check("at_client_place", row["at_client_place"] is False, row["at_client_place"], False)
                continue
            client = client or {"name": None, "phone": None, "email": None}
            check("name", name_key(client["name"]) == name_key(answer["name"]), client["name"], answer["name"])
            check("phone", client["phone"] == answer["phone"], client["phone"], answer["phone"])
            check("email", client["email"] == answer["email"], client["email"], answer["email"])
            check("at_client_place", row["at_client_place"] == answer["at_client_place"], row["at_client_place"],
                  answer["at_client_place"])
            if "new_client" in answer:
                check("first_visit_flag", row["first_visit"] == answer["new_client"], row["first_visit"],
                      answer["new_client"])
    assert seen == set(expected), f"events never imported: {sorted(set(expected) - seen)}"
    return {field: tuple(tally[field]) for field in FIELDS}, misses, staff_taken


def test_every_booking_tool_export_is_read_right(app, make):
    scores, misses, staff_taken = score(import_corpus(make))
    print("\nbooking-tool corpus, per field (right / events):")
    for field, (right, total) in scores.items():
        print(f"  {field:<18} {right:>3} / {total:<3} = {right / total:.1%}")
    for miss in misses:
        print("  miss", miss)
    assert staff_taken == [], "practice users taken as clients"
    for field, (right, total) in scores.items():
        assert right / total >= TARGET, f"{field}: {right}/{total} is below {TARGET:.0%}; misses: {misses}"


@pytest.mark.parametrize("filename", sorted(p.name for p in CORPUS.glob("*.ics")))
def test_each_corpus_file_has_an_answer_for_every_event(filename):
    answers = load_answers()["files"][filename]["events"]
    text = (CORPUS / filename).read_bytes().decode().replace("\r\n ", "")
    uids = {line[4:].strip() for line in text.splitlines() if line.startswith("UID:")}
    assert uids == set(answers)
