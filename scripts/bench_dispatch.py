#!/usr/bin/env python
"""Benchmark of the texts outbox: 10,000 arrival texts due within the same minute.

Runs the production shape on this machine: `rq worker --with-scheduler`
processes (2 by default) and `rq cron outreach.cron` (the minute tick), a
PostgreSQL database and a Redis server of the benchmark's own, and the fake
Twilio as its own process answering every API request after 50 ms. The texts
are planned as an import would (`plan_arrival_texts`), due at T0 + (n mod 60)
seconds; the tick schedules each due second's sends in RQ.

Prints the lateness of each text (Twilio accepted it at `sent_at`, it was due
at `due_at`) at p50 and p99, and the duplicates (messages the fake created
beyond one per client). The last line is key=value pairs:

    texts=10000 workers=2 p50_lateness_s=... p99_lateness_s=... duplicates=0 p99_target_ratio=...

(p99_target_ratio is p99 lateness over the 30 s target: below 1 meets it.)

    .venv/bin/python scripts/bench_dispatch.py [--texts 10000] [--workers 2] [--latency 0.05]
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.request import urlopen

import psycopg
import redis

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
REDIS_SERVER = "/usr/bin/redis-server"
P99_TARGET_SECONDS = 30.0
# Time to start the workers and the cron process before the first text is due.
LEAD_IN = dt.timedelta(seconds=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the fake Twilio takes per request")
    parser.add_argument("--timeout", type=float, default=600, help="give up after this many seconds of sending")
    args = parser.parse_args()
    if args.texts > 10_000:
        parser.error("at most 10,000 texts: the clients' numbers are +1 202 555 0000-9999")

    # The scratch directory (logs) goes last, after every process is stopped.
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as scratch, ExitStack() as cleanup:
        workdir = Path(scratch)
        database = f"outreach_bench_dispatch_{os.getpid()}"
        database_url = create_database(database)
        cleanup.callback(drop_database, database)
        redis_url = start_redis(workdir, cleanup)
        fake_url, account_sid, auth_token = start_fake_twilio(args.latency, workdir, cleanup)

        os.environ.update(
            DATABASE_URL=database_url, REDIS_URL=redis_url, JOBS_MODE="rq", RUN_PERIODIC_THREAD="0",
            TWILIO_BACKEND="twilio", TWILIO_ACCOUNT_SID=account_sid, TWILIO_AUTH_TOKEN=auth_token,
            TWILIO_API_URL=fake_url, PUBLIC_BASE_URL="http://127.0.0.1:9",  # nobody listens for status callbacks
            OUTREACH_CLOCK_FILE="", SECRET_KEY="bench",
        )
        from outreach import create_app
        from outreach.extensions import db

        app = create_app()
        with app.app_context():
            db.create_all()
            first_due, planning_seconds = plan_texts(db.session, args.texts)
            print(f"planned {args.texts} texts in {planning_seconds:.1f} s, due from {first_due:%H:%M:%S} UTC "
                  f"over one minute", flush=True)
            for index in range(args.workers):
                start_process(["-m", "rq.cli", "worker", "outreach", "--url", redis_url, "--with-scheduler",
                               "--name", f"bench-{os.getpid()}-{index}"], workdir / f"worker-{index}.log", cleanup)
            start_process(["-m", "rq.cli", "cron", "outreach.cron", "--url", redis_url], workdir / "cron.log",
                          cleanup)
            wait_until_sent(db.session, args.texts, first_due, args.timeout, workdir)
            lateness = lateness_seconds(db.session)
        duplicates = duplicate_count(fake_url)

    p50, p99 = percentile(lateness, 50), percentile(lateness, 99)
    print(f"lateness: p50 {p50:.2f} s, p99 {p99:.2f} s, max {max(lateness):.2f} s; duplicates {duplicates}")
    print(f"texts={len(lateness)} workers={args.workers} p50_lateness_s={p50:.2f} p99_lateness_s={p99:.2f} "
          f"duplicates={duplicates} p99_target_ratio={p99 / P99_TARGET_SECONDS:.3f}")


def plan_texts(session, count: int) -> tuple[dt.datetime, float]:
    """One practice, one practitioner, `count` clients with a visit each; plans their arrival texts."""
    from sqlalchemy import insert

    from outreach.clock import utcnow
    from outreach.models import Appointment, CalendarSource, Client
    from outreach.services import accounts, arrival_texts

    practice = accounts.create_practice(session, name="Bench Dental", timezone="UTC", locale="en",
                                        phone="+12025550100")
    # Quiet hours would skip texts when the benchmark runs at night.
    practice.quiet_hours_start = practice.quiet_hours_end = dt.time(0, 0)
    # A practice that really sends `count` texts a day is set up so: the default ceiling is far lower.
    practice.texts_per_practice_per_day = count
    user, _ = accounts.create_user(session, practice=practice, email="glen@bench.example", role="practitioner",
                                   full_name="Glen Gorab", password="bench-password")
    source = CalendarSource(practice_id=practice.id, practitioner_id=user.practitioner.id, kind="file", name="bench")
    session.add(source)
    session.flush()
    client_ids = session.scalars(insert(Client).returning(Client.id), [
        {"practice_id": practice.id, "full_name": f"Client {n}", "phone": f"+1202555{n:04d}"} for n in range(count)
    ]).all()

    started = time.monotonic()
    first_due = (utcnow() + LEAD_IN).replace(microsecond=0)
    lead = dt.timedelta(minutes=practice.arrival_lead_minutes)
    appointment_ids = session.scalars(insert(Appointment).returning(Appointment.id), [
        {"practice_id": practice.id, "practitioner_id": user.practitioner.id, "source_id": source.id,
         "client_id": client_id, "uid": f"bench-{n}", "at_client_place": True,
         "starts_at": first_due + lead + dt.timedelta(seconds=n % 60),
         "ends_at": first_due + lead + dt.timedelta(seconds=n % 60, minutes=45)}
        for n, client_id in enumerate(client_ids)
    ]).all()
    arrival_texts.plan_arrival_texts(session, appointment_ids, utcnow())
    session.commit()
    return first_due, time.monotonic() - started


def wait_until_sent(session, count: int, first_due: dt.datetime, timeout: float, workdir: Path) -> None:
    from sqlalchemy import func, select

    from outreach.models import Notification

    deadline = time.monotonic() + (first_due - dt.datetime.now(dt.timezone.utc)).total_seconds() + 60 + timeout
    while True:
        sent = session.scalar(select(func.count()).select_from(Notification).where(Notification.sent_at.is_not(None)))
        session.rollback()
        if sent >= count:
            return
        if time.monotonic() > deadline:
            logs = "\n".join(path.read_text(errors="replace")[-3000:] for path in sorted(workdir.glob("*.log")))
            sys.exit(f"only {sent} of {count} texts sent before the timeout\n{logs}")
        time.sleep(0.5)


def lateness_seconds(session) -> list[float]:
    from sqlalchemy import select

    from outreach.models import Notification

    rows = session.execute(select(Notification.due_at, Notification.sent_at)).all()
    return sorted((sent_at - due_at).total_seconds() for due_at, sent_at in rows)


def duplicate_count(fake_url: str) -> int:
    """Messages the fake created beyond the first for each number."""
    with urlopen(f"{fake_url}/__fake__/requests", timeout=60) as response:
        requests = json.load(response)["requests"]
    created = collections.Counter(
        next(value for key, value in request["form"] if key == "To")
        for request in requests
        if request["method"] == "POST" and request["path"].endswith("/Messages.json") and request["status"] == 201
    )
    return sum(count - 1 for count in created.values())


def percentile(sorted_values: list[float], percent: float) -> float:
    """Nearest-rank percentile."""
    rank = max(1, round(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


# --- the services the benchmark brings up and takes down -----------------------------------------------------


def create_database(name: str) -> str:
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{POSTGRES_SERVER}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(workdir: Path, cleanup: ExitStack) -> str:
    port = free_port()
    with (workdir / "redis.log").open("wb") as log:
        process = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", str(workdir)], stdout=log, stderr=subprocess.STDOUT)
    cleanup.callback(stop_process, process)
    url = f"redis://127.0.0.1:{port}/0"
    connection = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            connection.ping()
            return url
        except redis.ConnectionError:
            time.sleep(0.05)
    sys.exit(f"{REDIS_SERVER} did not start; see {workdir / 'redis.log'}")


def start_fake_twilio(latency: float, workdir: Path, cleanup: ExitStack) -> tuple[str, str, str]:
    from outreach.testing.fake_twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

    with (workdir / "fake-twilio.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "outreach.testing.fake_twilio", "--port", "0", "--latency", str(latency),
             "--no-auto-callbacks", "--log-level", "WARNING"],
            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    cleanup.callback(stop_process, process)
    banner = process.stdout.readline()  # "FakeTwilio listening on http://127.0.0.1:PORT (account AC...)"
    if "listening on" not in banner:
        sys.exit(f"the fake Twilio did not start: {banner!r}")
    return banner.split("listening on ", 1)[1].split()[0], DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN


def start_process(arguments: list[str], log_path: Path, cleanup: ExitStack) -> None:
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, *arguments], cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
    cleanup.callback(stop_process, process)


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    if shutil.which(REDIS_SERVER) is None:
        sys.exit(f"{REDIS_SERVER} is needed")
    main()
