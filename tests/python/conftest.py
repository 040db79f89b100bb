"""Starts a fresh Loopsmith server per backend and hands tests an official langsmith Client.

Backends: `sqlite` always; `postgres` when LOOPSMITH_TEST_POSTGRES_URL is set (an admin URL such as
postgres://postgres@127.0.0.1:5432/postgres): a fresh database loopsmith_py_<hex> is created for the
session and dropped (WITH (FORCE)) at teardown.

The server binary is LOOPSMITH_BIN (default <repo>/target/debug/loopsmith). Its stdout/stderr go to
files in a temporary directory; the log is attached to every failing test's report.

Tests never rely on the process environment for the endpoint, key or project: every LANGSMITH_* /
LANGCHAIN_* variable is removed below *before* langsmith is imported (the SDK caches env lookups), and
tests pass the client explicitly.
"""

import os

for _name in list(os.environ):
    if _name.startswith(("LANGSMITH_", "LANGCHAIN_")) or _name == "HOSTED_LANGSERVE_PROJECT_NAME":
        del os.environ[_name]

import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Optional  # noqa: E402
from urllib.parse import parse_qs, urlsplit  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402
from langsmith import Client  # noqa: E402
from langsmith import utils as ls_utils  # noqa: E402

ls_utils.get_env_var.cache_clear()

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_ADMIN_URL = os.environ.get("LOOPSMITH_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_ADMIN_URL else [])
STARTUP_TIMEOUT = 30.0
API_KEY = "test-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _with_database(url: str, name: str) -> str:
    """postgres://user@host:port/postgres?x=y -> postgres://user@host:port/<name>?x=y"""
    parts = urlsplit(url)
    return parts._replace(path=f"/{name}").geturl()


def _get_status(url: str) -> Optional[int]:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


class Server:
    """One running Loopsmith process. `.url` is http://127.0.0.1:PORT (no path)."""

    def __init__(self, backend: str):
        self.backend = backend
        self.dir = tempfile.TemporaryDirectory(prefix=f"loopsmith-py-{backend}-")
        self.pg_db: Optional[str] = None
        self.process: Optional[subprocess.Popen] = None
        self.stderr_path = Path(self.dir.name) / "server.stderr.log"
        self.stdout_path = Path(self.dir.name) / "server.stdout.log"
        self.binary = os.environ.get("LOOPSMITH_BIN", str(ROOT / "target" / "debug" / "loopsmith"))
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError(
                f"Loopsmith binary not found or not executable: {self.binary} "
                "(build it with `cargo build` or set LOOPSMITH_BIN)"
            )
        if self.backend == "postgres":
            import psycopg

            self.pg_db = f"loopsmith_py_{uuid.uuid4().hex[:16]}"
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self.pg_db}"')
            self.database_url = _with_database(POSTGRES_ADMIN_URL, self.pg_db)
        else:
            self.database_url = f"sqlite://{self.dir.name}/loopsmith.db"
        # A port picked by binding to :0 can in rare cases be taken before the server binds it.
        for attempt in range(3):
            port = _free_port()
            self.url = f"http://127.0.0.1:{port}"
            env = dict(
                os.environ,
                LOOPSMITH_BIND=f"127.0.0.1:{port}",
                LOOPSMITH_DATABASE_URL=self.database_url,
                RUST_LOG=os.environ.get("LOOPSMITH_TEST_RUST_LOG", "warn"),
            )
            with open(self.stdout_path, "ab") as out, open(self.stderr_path, "ab") as err:
                self.process = subprocess.Popen(
                    [self.binary], env=env, stdout=out, stderr=err, cwd=self.dir.name
                )
            if self._wait_ready():
                return
            if self.process.poll() is None or "in use" not in self.log_text().lower():
                break  # only a lost race for the port is worth another try
        raise RuntimeError(
            f"Loopsmith ({self.backend}, {self.binary}) did not answer 200 on /healthz and /readyz "
            f"at {self.url} within {STARTUP_TIMEOUT:.0f}s (exit code {self.process.poll()}):\n"
            f"{self.log_text()}"
        )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        for path in ("/healthz", "/readyz"):
            while _get_status(self.url + path) != 200:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    return False
                time.sleep(0.1)
        return True

    def log_text(self, since: int = 0, limit: int = 20_000) -> str:
        text = ""
        for label, path in (("stderr", self.stderr_path), ("stdout", self.stdout_path)):
            try:
                data = path.read_bytes()[since if label == "stderr" else 0 :]
            except OSError:
                continue
            if data:
                chunk = data.decode(errors="replace")
                if len(chunk) > limit:
                    chunk = "...\n" + chunk[-limit:]
                text += f"--- loopsmith {label} ({path}) ---\n{chunk}\n"
        return text or "(the server wrote nothing)"

    def stderr_size(self) -> int:
        try:
            return self.stderr_path.stat().st_size
        except OSError:
            return 0

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.pg_db:
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_db}" WITH (FORCE)')
            self.pg_db = None
        self.dir.cleanup()


@pytest.fixture(scope="session", params=BACKENDS)
def server(request):
    srv = Server(request.param)
    yield srv
    srv.stop()


def make_client(url: str, **kwargs) -> Client:
    """A client configured only through arguments (the environment is scrubbed above)."""
    kwargs.setdefault("api_key", API_KEY)
    return Client(api_url=url, **kwargs)


@pytest.fixture
def client(server):
    """A default Client (auto batch tracing on). The SDK's tracing thread reads GET /info and, when the
    server advertises zstd, switches to its compressed buffer; runs created before that go through
    plain multipart instead. Waiting here keeps every test on one deterministic path (zstd
    multipart); test_tracing.py covers plain multipart and /runs/batch explicitly."""
    c = make_client(server.url)
    if (c.info.instance_flags or {}).get("zstd_compression_enabled"):
        wait_for(lambda: c.compressed_traces is not None, timeout=10)
    yield c
    c.flush()


@pytest.fixture
def project():
    """A project name unique to the test."""
    return f"py-{uuid.uuid4().hex}"


def wait_for(fn, timeout=15.0, interval=0.2):
    """Polls fn until it returns a truthy value (the SDK sends from a background thread).

    Exceptions raised by fn (e.g. LangSmithNotFoundError before the run is ingested) count as
    "not yet"; the last value or exception is shown when the time is up.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - not there yet
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")
        time.sleep(interval)


@dataclass
class Call:
    method: str
    path: str
    query: dict
    headers: dict
    body: Optional[bytes]
    status: int
    response_body: bytes = field(repr=False, default=b"")


class Recorder:
    """Records every HTTP exchange a langsmith Client makes through its requests.Session.

    Uses the public `requests` response-hook API, so it sees exactly what the SDK put on the wire
    (method, path, query, headers, body) and the status the server answered. Attachment downloads
    (plain `requests.get` in the SDK) are not recorded.
    """

    def __init__(self, client: Optional[Client] = None):
        """Hooks into `client`'s session, or (no client) into a new `.session` to hand to a Client
        constructor (`make_client(url, session=rec.session)`) so that even the first GET /info that
        the SDK's tracing thread makes at construction time is recorded."""
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self.session = client.session if client is not None else requests.Session()
        self.session.hooks["response"].append(self._hook)

    def _hook(self, response, *args, **kwargs):
        req = response.request
        body = req.body
        if hasattr(body, "getvalue"):
            body = body.getvalue()
        elif isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, (bytes, type(None))):
            body = None  # a streaming encoder: not kept
        parts = urlsplit(req.url)
        call = Call(
            method=req.method,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in req.headers.items()},
            body=body,
            status=response.status_code,
            response_body=response.content,
        )
        with self._lock:
            self.calls.append(call)
        return response

    def find(self, method: str, path_suffix: str) -> list:
        with self._lock:
            return [c for c in self.calls if c.method == method and c.path.endswith(path_suffix)]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    srv = item.funcargs.get("server") if hasattr(item, "funcargs") else None
    if isinstance(srv, Server):
        item._loopsmith_log_offset = srv.stderr_size()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    srv = getattr(item, "funcargs", {}).get("server")
    if isinstance(srv, Server):
        since = getattr(item, "_loopsmith_log_offset", 0) if call.when == "call" else 0
        report.sections.append(
            (f"loopsmith server log ({srv.backend}, {srv.url})", srv.log_text(since=since))
        )
