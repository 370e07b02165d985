"""`honcho start` runs the Procfile's production shape on PostgreSQL and Redis:
the web app answers, and `rq cron` has the worker run the periodic tick."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO_ROOT, create_postgres_database, drop_postgres_database, private_database_name

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_procfile_runs_web_worker_and_scheduler(redis_url, tmp_path: Path):
    name = private_database_name("procfile")
    database_url = create_postgres_database(name)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "PORT": str(_free_port()),
           "WEB_CONCURRENCY": "1", "PATH": f"{bin_dir}:{os.environ['PATH']}", "SECRET_KEY": "procfile-test"}
    subprocess.run([bin_dir / "outreach", "db", "upgrade"], env=env, cwd=REPO_ROOT, check=True,
                   capture_output=True)
    log_path = tmp_path / "honcho.log"
    with open(log_path, "wb") as log:
        honcho = subprocess.Popen([bin_dir / "honcho", "start"], env=env, cwd=REPO_ROOT, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 45
        login_status = tick_done = None
        while time.monotonic() < deadline and not (login_status == 200 and tick_done):
            time.sleep(0.5)
            try:
                login_status = requests.get(f"http://127.0.0.1:{env['PORT']}/login", timeout=5).status_code
            except requests.RequestException:  # still booting
                pass
            tick_done = "Successfully completed outreach.tasks.tick()" in log_path.read_text(errors="replace")
        assert login_status == 200, log_path.read_text(errors="replace")
        assert tick_done, log_path.read_text(errors="replace")
    finally:
        os.killpg(honcho.pid, signal.SIGTERM)
        honcho.wait(20)
        drop_postgres_database(name)
