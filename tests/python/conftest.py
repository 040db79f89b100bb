"""Starts a fresh Loopsmith server per backend and hands tests an official langsmith Client."""

import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from langsmith import Client

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["sqlite"] + (["postgres"] if os.environ.get("LOOPSMITH_TEST_POSTGRES_URL") else [])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


class Server:
    def __init__(self, backend: str):
        self.backend = backend
        self.dir = tempfile.TemporaryDirectory()
        self.pg_db = None
        admin = os.environ.get("LOOPSMITH_TEST_POSTGRES_URL")
        if backend == "postgres":
            import psycopg

            self.pg_db = f"loopsmith_py_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {self.pg_db}")
            database_url = _with_database(admin, self.pg_db)
        else:
            database_url = f"sqlite://{self.dir.name}/loopsmith.db"
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = Path(self.dir.name) / "server.log"
        binary = os.environ.get("LOOPSMITH_BIN", str(ROOT / "target" / "debug" / "loopsmith"))
        env = dict(
            os.environ,
            LOOPSMITH_BIND=f"127.0.0.1:{port}",
            LOOPSMITH_DATABASE_URL=database_url,
            RUST_LOG=os.environ.get("RUST_LOG", "warn"),
        )
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen([binary], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"server did not start:\n{self.log_text()}")
            time.sleep(0.1)

    def log_text(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        if self.pg_db:
            import psycopg

            with psycopg.connect(os.environ["LOOPSMITH_TEST_POSTGRES_URL"], autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {self.pg_db} WITH (FORCE)")
        self.dir.cleanup()


@pytest.fixture(scope="session", params=BACKENDS)
def server(request):
    srv = Server(request.param)
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    c = Client(api_url=server.url, api_key="test-key")
    yield c
    c.flush()


@pytest.fixture
def project():
    return f"py-{uuid.uuid4().hex[:10]}"


def wait_for(fn, timeout=15.0, interval=0.2):
    """Polls fn until it returns a truthy value (the SDK sends in the background)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - not found yet
            last = exc
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s; last value: {last!r}")
