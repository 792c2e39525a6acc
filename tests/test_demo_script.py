"""Issue 9, item 15: `./scripts/demo` refuses a taken port before printing any address, and
stopping it stops the WeChat stand-in with the app."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from wxcrm import create_app

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scripts" / "demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Nothing listens there (closed connections waiting out TIME_WAIT do not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@pytest.fixture
def demo_env(tmp_path):
    """The demo's environment: this test run's virtualenv (marked installed) and its own
    SQLite database, already seeded small so the script starts quickly."""
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "bin").symlink_to(Path(sys.prefix) / "bin")
    requirements = (ROOT / "requirements.txt").read_bytes()
    import hashlib
    (venv / ".installed-requirements.txt").write_text(hashlib.sha256(requirements * 2).hexdigest()[:16] + "\n")
    url = f"sqlite:///{tmp_path}/demo.sqlite3"
    seeded = create_app({"DATABASE_URL": url, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x"})
    with seeded.app_context():
        runner = seeded.test_cli_runner()
        assert runner.invoke(args=["wxcrm", "init-db"]).exit_code == 0
        assert runner.invoke(args=["wxcrm", "seed-demo", "--members", "10", "--days", "5"]).exit_code == 0
        from wxcrm.extensions import db
        db.session.remove()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WXCRM_")}
    env.update(WXCRM_VENV=str(venv), WXCRM_DATABASE_URL=url, WXCRM_PORT=str(free_port()),
               WXCRM_STANDIN_PORT=str(free_port()), WXCRM_SCHEDULER_ENABLED="false", WXCRM_SECRET_KEY="demo-test")
    return env


def test_a_taken_port_is_reported_and_no_address_is_printed(demo_env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(demo_env["WXCRM_PORT"])))
        taken.listen()
        run = subprocess.run([str(DEMO)], env=demo_env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert f"port {demo_env['WXCRM_PORT']} for the app is already taken" in run.stderr
    assert "demo is running" not in run.stdout and "http://" not in run.stdout


def test_stopping_the_demo_stops_the_stand_in_too(demo_env):
    app_port, standin_port = int(demo_env["WXCRM_PORT"]), int(demo_env["WXCRM_STANDIN_PORT"])
    demo = subprocess.Popen([str(DEMO)], env=demo_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(demo.stdout), daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while not any("demo is running" in line for line in lines) and time.monotonic() < deadline \
                and demo.poll() is None:
            time.sleep(0.2)
        assert any("demo is running" in line for line in lines), "".join(lines)
        assert requests.get(f"http://127.0.0.1:{standin_port}/standin/", timeout=5).status_code == 200
        assert requests.get(f"http://127.0.0.1:{app_port}/healthz", timeout=5).json() == {"status": "ok"}
        demo.send_signal(signal.SIGTERM)            # the script alone, as a terminal's Ctrl-C would
        demo.wait(timeout=30)
        for _ in range(150):
            if port_is_free(standin_port) and port_is_free(app_port):
                break
            time.sleep(0.2)
        assert port_is_free(standin_port), "the stand-in kept running"
        assert port_is_free(app_port), "the app kept running"
    finally:
        try:
            os.killpg(demo.pid, signal.SIGKILL)     # whatever the script left behind
        except ProcessLookupError:
            pass
