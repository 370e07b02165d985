#!/usr/bin/env python
"""How fast the weekly call lists are built, and how fast a practitioner's list page renders.

On PostgreSQL (a database of its own, `outreach_bench_calllists_<pid>`,
dropped at the end), loads with COPY: 10 practices in 8 time zones, 200
practitioners, 20,000 clients and 100,000 appointments. Each practitioner's
next week holds 40 first visits, 5 clients returning after more than six
months and 5 with a question left open by an earlier call (so 50 tasks), 60
visits of regular clients, cancelled visits and visits without a client.

Then, in the same run:

- the weekend job (`build_due_call_lists`) builds every list and queues the
  "list ready" texts; a rebuild after 5% of the week's visits were cancelled;
  SQL statements are counted with a `before_cursor_execute` event, and a
  build of an empty week shows the count does not grow with the lists;
- the page of one 50-task list, 20 requests through the Flask test client
  (after one warm-up request), median.

Targets: whole build < 5 s; page < 100 ms. The last line holds every figure as key=value.

    .venv/bin/python scripts/bench_call_lists.py [--postgres-url URL]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from werkzeug.security import generate_password_hash

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_import import postgres_database  # noqa: E402

from outreach import create_app  # noqa: E402
from outreach.clock import set_clock  # noqa: E402
from outreach.extensions import db  # noqa: E402
from outreach.models import Practice  # noqa: E402
from outreach.services import call_lists  # noqa: E402

ZONES = ("America/New_York", "America/Los_Angeles", "America/Chicago", "Europe/London", "Europe/Moscow",
         "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney")
PRACTICES = 10
PRACTITIONERS_PER_PRACTICE = 20
NEW_CLIENTS = 40  # per practitioner: first visit next week, then four follow-ups
REGULAR_CLIENTS = 60  # per practitioner: four earlier visits and one next week
RETURNING = range(5)  # regular clients whose earlier visits are all more than six months back
OPEN_QUESTION = range(5, 10)  # regular clients who asked something on an earlier call
CANCELLED_THIS_WEEK = range(50, 55)  # regular clients whose visit next week is cancelled
VISITS_PER_CLIENT = 5
WEEK = "2026-W49"
MONDAY = call_lists.parse_week(WEEK)
EARLIER_WEEK_MONDAY = MONDAY - dt.timedelta(weeks=4)
# Saturday 28 November, 20:00 UTC: past Saturday 09:00 in every zone above, still before next Monday in each.
WEEKEND_NOW = dt.datetime(2026, 11, 28, 20, 0, tzinfo=dt.timezone.utc)
CREATED = WEEKEND_NOW.replace(tzinfo=None)  # naive UTC, as the tables store times
PASSWORD = "bench-password"
PAGE_REQUESTS = 20


def utc_naive(day: dt.date, minutes: int, zone: ZoneInfo) -> dt.datetime:
    """Local `day` plus `minutes` past midnight in `zone`, as the naive UTC the tables store."""
    local = dt.datetime.combine(day, dt.time(0), zone) + dt.timedelta(minutes=minutes)
    return local.astimezone(dt.timezone.utc).replace(tzinfo=None)


# The columns COPY fills, per table, in the order `generate` gives them (ids first).
COLUMNS = {
    "practice": ("id", "name", "timezone", "locale", "phone", "quiet_hours_start", "quiet_hours_end",
                 "call_list_weekday", "call_list_time", "include_returning_after_months", "include_open_questions",
                 "arrival_lead_minutes", "arrival_missed_after_minutes", "retention_days", "created_at"),
    "user": ("id", "practice_id", "email", "full_name", "role", "password_hash", "active", "created_at"),
    "practitioner": ("id", "practice_id", "user_id", "full_name", "preferred_name", "phone", "notify_when_list_ready"),
    "calendar_source": ("id", "practice_id", "practitioner_id", "kind", "name", "summary_format",
                        "sync_interval_minutes", "created_at"),
    "client": ("id", "practice_id", "full_name", "phone", "created_at"),
    "appointment": ("id", "practice_id", "practitioner_id", "source_id", "client_id", "uid", "recurrence_id",
                    "starts_at", "ends_at", "all_day", "at_client_place", "status", "sequence", "needs_attention",
                    "content_hash", "created_at", "updated_at"),
    "call_list": ("id", "practice_id", "practitioner_id", "week", "week_start", "built_at"),
    "call_task": ("id", "practice_id", "call_list_id", "client_id", "appointment_id", "reason", "state", "outcome",
                  "questions", "questions_answered", "created_at", "updated_at"),
}


class Rows:
    """The generated rows of each table, with ids given here (COPY needs them)."""

    def __init__(self) -> None:
        self.tables: dict[str, list[tuple]] = {table: [] for table in COLUMNS}

    def add(self, table: str, *values: object) -> int:
        rows = self.tables[table]
        rows.append((len(rows) + 1, *values))
        return len(rows)


def generate() -> Rows:
    rows = Rows()
    password_hash = generate_password_hash(PASSWORD)  # one hash for everyone: hashing 200 would dominate
    for p in range(PRACTICES):
        zone_name = ZONES[p % len(ZONES)]
        practice_id = rows.add("practice", f"Bench practice {p}", zone_name,
                               "ru" if zone_name == "Europe/Moscow" else "en", "+12025550100", dt.time(21),
                               dt.time(8), 6, dt.time(9), 6, True, 15, 20, 730, CREATED)
        for r in range(PRACTITIONERS_PER_PRACTICE):
            add_practitioner(rows, practice_id, ZoneInfo(zone_name), p * PRACTITIONERS_PER_PRACTICE + r,
                             password_hash)
    return rows


def add_practitioner(rows: Rows, practice_id: int, zone: ZoneInfo, number: int, password_hash: str) -> None:
    """One practitioner, their 100 clients and 500 visits, and an earlier call list with open questions."""
    user_id = rows.add("user", practice_id, f"doc{number}@bench.example", f"Dr. Bench {number}", "practitioner",
                       password_hash, True, CREATED)
    practitioner_id = rows.add("practitioner", practice_id, user_id, f"Dr. Bench {number}", f"Doc{number}",
                               f"+1202555{number:04d}", True)
    source_id = rows.add("calendar_source", practice_id, practitioner_id, "file", "Bench calendar", "auto", 30,
                         CREATED)
    earlier_list = rows.add("call_list", practice_id, practitioner_id, call_lists.week_label(EARLIER_WEEK_MONDAY),
                            EARLIER_WEEK_MONDAY, CREATED)

    def client(index: int) -> int:
        return rows.add("client", practice_id, f"Client {number}-{index}", f"+1{number:04d}{index:06d}", CREATED)

    def visit(client_id: int | None, day: dt.date, minutes: int, status: str = "confirmed") -> int:
        starts = utc_naive(day, minutes, zone)
        uid = f"bench-{len(rows.tables['appointment']) + 1}"
        return rows.add("appointment", practice_id, practitioner_id, source_id, client_id, uid, "", starts,
                        starts + dt.timedelta(minutes=45), False, False, status, 0, client_id is None, "", CREATED,
                        CREATED)

    for n in range(NEW_CLIENTS):
        client_id = client(n)
        day, minutes = MONDAY + dt.timedelta(days=n % 6), 8 * 60 + 15 * (n // 6)
        visit(client_id, day, minutes)
        for k in range(1, VISITS_PER_CLIENT):
            # The last follow-up of a few new clients was typed without the client: it needs attention.
            visit(None if k == 4 and n >= 35 else client_id, day + dt.timedelta(weeks=k), minutes,
                  "cancelled" if k == 2 and n % 10 == 9 else "confirmed")
    for e in range(REGULAR_CLIENTS):
        client_id = client(NEW_CLIENTS + e)
        day, minutes = MONDAY + dt.timedelta(days=e % 6), 8 * 60 + 10 * (e // 6)
        gap_weeks = 30 if e in RETURNING else 1
        for k in range(VISITS_PER_CLIENT - 1):
            earlier = visit(client_id, day - dt.timedelta(weeks=gap_weeks + 3 * k), minutes)
            if e in OPEN_QUESTION and k == 0:
                rows.add("call_task", practice_id, earlier_list, client_id, earlier, "first_visit", "active",
                         "reached", "Is there parking nearby?", False, CREATED, CREATED)
        visit(client_id, day, minutes, "cancelled" if e in CANCELLED_THIS_WEEK else "confirmed")


def copy_in(url: str, rows: Rows) -> None:
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain) as connection:
        for table, data in rows.tables.items():
            with connection.cursor().copy(f'COPY "{table}" ({", ".join(COLUMNS[table])}) FROM STDIN') as copy:
                for row in data:
                    copy.write_row(row)
            connection.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), {len(data)})")


class StatementCounter:
    def __init__(self, engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_args) -> None:
        self.count += 1


def timed_build(counter: StatementCounter, action) -> tuple[float, int, object]:
    """Seconds and SQL statements that `action()` took, and what it returned."""
    counter.count = 0
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, counter.count, result


def rebuild_all(monday: dt.date) -> list[call_lists.PracticeBuild]:
    """What `outreach build-call-lists --week` does: every practice, one commit each."""
    builds = []
    for practice in db.session.scalars(db.select(Practice).order_by(Practice.id)).all():
        builds.append(call_lists.build_call_lists(db.session, practice, monday, now=WEEKEND_NOW))
        db.session.commit()
    return builds


def page_median_ms(app) -> tuple[float, int]:
    client = app.test_client()
    response = client.post("/login", data={"email": "doc0@bench.example", "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    url = f"/week/{WEEK}?show=all"
    first = client.get(url)
    assert first.status_code == 200, first.status_code
    tasks = first.get_data(as_text=True).count('<article class="card task ')
    times = []
    for _ in range(PAGE_REQUESTS):
        started = time.perf_counter()
        assert client.get(url).status_code == 200
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    name = f"outreach_bench_calllists_{os.getpid()}"
    url = postgres_database(args.postgres_url, name, create=True)
    clock_file = Path(tempfile.mkstemp(prefix="outreach-bench-clock-")[1])
    os.environ["OUTREACH_CLOCK_FILE"] = str(clock_file)
    set_clock(clock_file, WEEKEND_NOW)
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "WTF_CSRF_ENABLED": False, "JOBS_MODE": "inline",
        "RUN_PERIODIC_THREAD": False, "REDIS_URL": None, "RATELIMIT_STORAGE_URI": "memory://",
        "TWILIO_BACKEND": "console", "PUBLIC_BASE_URL": "https://outreach.example",
    })
    try:
        with app.app_context():
            db.create_all()
            started = time.perf_counter()
            rows = generate()
            copy_in(url, rows)
            with db.engine.begin() as connection:
                connection.execute(text("ANALYZE"))
            counts = {table: len(data) for table, data in rows.tables.items()}
            print(f"loaded in {time.perf_counter() - started:.1f} s: "
                  + ", ".join(f"{count} {table}" for table, count in counts.items()))

            counter = StatementCounter(db.engine)
            build_s, build_statements, builds = timed_build(
                counter, lambda: call_lists.build_due_call_lists(db.session, WEEKEND_NOW, base_url="https://outreach.example"))
            lists = [built for build in builds for built in build.lists]
            practitioners = len(lists)
            tasks = sum(built.tasks for built in lists)
            texts = sum(len(build.notification_ids) for build in builds)
            print(f"weekend build: {build_s:.2f} s, {build_statements} statements for {len(builds)} practices, "
                  f"{practitioners} lists, {tasks} tasks, {texts} texts queued")

            with db.engine.begin() as connection:
                # 5% of the visits around next week are cancelled after the build.
                connection.execute(text(
                    "UPDATE appointment SET status = 'cancelled' WHERE id % 20 = 0 AND starts_at >= :start"
                    " AND starts_at < :end"),
                    {"start": MONDAY - dt.timedelta(days=1), "end": MONDAY + dt.timedelta(days=8)})
            rebuild_s, rebuild_statements, rebuilds = timed_build(counter, lambda: rebuild_all(MONDAY))
            removed = sum(built.removed for build in rebuilds for built in build.lists)
            print(f"rebuild after cancellations: {rebuild_s:.2f} s, {rebuild_statements} statements, "
                  f"{removed} tasks set aside")

            empty_s, empty_statements, _ = timed_build(counter,
                                                       lambda: rebuild_all(MONDAY + dt.timedelta(weeks=30)))
            print(f"build of an empty week: {empty_s:.2f} s, {empty_statements} statements")

            page_ms, page_tasks = page_median_ms(app)
            print(f"week page of a {page_tasks}-task list: median {page_ms:.1f} ms of {PAGE_REQUESTS}")
        figures = {
            "build_s": build_s, "rebuild_s": rebuild_s,
            "statements_per_practitioner": build_statements / practitioners,
            "statements_per_practice": build_statements / len(builds),
            "statements_per_practice_empty_week": empty_statements / len(builds),
            "rebuild_statements_per_practice": rebuild_statements / len(rebuilds),
            "page_ms": page_ms, "page_tasks": page_tasks, "practitioners": practitioners,
            "clients": counts["client"], "appointments": counts["appointment"], "tasks": tasks,
            "build_vs_target": build_s / 5.0, "page_vs_target": page_ms / 100.0,
        }
        print(" ".join(f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}"
                       for key, value in figures.items()))
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        postgres_database(args.postgres_url, name, create=False)
        clock_file.unlink()


if __name__ == "__main__":
    main()
