"""Suite-wide settings. With SERIALSYNC_REQUIRE_ALL=1 (CI) a skipped test fails:
every tier must run there, whatever a developer machine lacks."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE_ALL = os.environ.get("SERIALSYNC_REQUIRE_ALL") == "1"


JUNIT_SCHEMA = Path(__file__).parent / "junit" / "junit-10.xsd"  # Jenkins xUnit's, as CI servers read it


@functools.cache
def junit_schema():
    """junit-10.xsd, loaded once a session."""
    import xmlschema  # the test extra: pip install -e '.[test]'

    return xmlschema.XMLSchema(JUNIT_SCHEMA)


def junit_problems(path: Path) -> list[str]:
    """Why *path* is not a results.xml a CI server can read: not well-formed, or not valid; [] if it is."""
    import xml.etree.ElementTree as ET

    try:
        ET.parse(path)
    except ET.ParseError as e:
        return [f"not well-formed XML: {e}"]
    return [f"{error.path}: {error.reason}" for error in junit_schema().iter_errors(str(path))]


@pytest.fixture
def junit_validate():
    """The check every results.xml gets: junit_problems(path) -> [] or what is wrong."""
    return junit_problems


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Every results.xml a test leaves under its tmp_path is valid JUnit, or the test fails.

    Only a test that used tmp_path (itself or through a fixture) is looked at,
    and only once its own body passed: the check is a walk of that one
    directory, and a schema loaded once.
    """
    result = yield
    tmp_path = getattr(item, "funcargs", {}).get("tmp_path")
    if isinstance(tmp_path, Path):
        for path in sorted(tmp_path.rglob("results.xml")):
            if problems := junit_problems(path):
                listed = "\n  ".join(problems[:10])
                pytest.fail(f"{path} is not valid for {JUNIT_SCHEMA.name}:\n  {listed}", pytrace=False)
    return result


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, but SERIALSYNC_REQUIRE_ALL=1 requires every test to run: {report.longrepr}"


@pytest.fixture
def keep_reading():
    """A context manager: read each console session in its own thread while inside.

    Consoles whose board runs a script on its own (no step to expect) still
    need reading, so that their markers are answered.
    """
    import contextlib
    import threading

    import pexpect

    @contextlib.contextmanager
    def reading(sessions):
        stop = threading.Event()

        def pump(session):
            while not stop.is_set():
                try:
                    session.read_nonblocking(4096, 0.2)
                except pexpect.TIMEOUT:
                    continue
                except pexpect.EOF:
                    return

        threads = [threading.Thread(target=pump, args=(s,), daemon=True) for s in sessions]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            stop.set()
            for thread in threads:
                thread.join(5)

    return reading


REDIS_START_TIMEOUT = 10.0


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A real redis-server on a loopback port; it can be killed and started again on the same port."""

    def __init__(self, *extra: str, directory: str | None = None, password: tuple[str, str] | None = None) -> None:
        import shutil

        pytest.importorskip("redis", reason="the redis client is not installed: pip install redis")
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server not installed; CI installs it: apt-get install redis-server")
        self.port = _free_port()
        self.extra = extra or ("--save", "", "--appendonly", "no")
        self.directory = directory
        self.password = password  # (user, password) the readiness check logs in with
        self.proc = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import subprocess

        import redis

        from serialsync._time import Deadline

        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", *self.extra]
        if self.directory is not None:
            argv += ["--dir", self.directory]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        user, password = self.password or (None, None)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1.0, username=user, password=password)
        deadline = Deadline.after(REDIS_START_TIMEOUT)
        try:
            while True:
                try:
                    client.ping()
                    return
                except (redis.ConnectionError, redis.BusyLoadingError) as exc:
                    if deadline.expired:
                        message = f"redis-server on port {self.port} did not answer PING within {REDIS_START_TIMEOUT}s"
                        raise RuntimeError(message) from exc
                # The pause between PINGs doubles as the check that the server is still running.
                try:
                    code = self.proc.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    continue
                raise RuntimeError(f"redis-server on port {self.port} exited with {code} (port taken?)")
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL, as a crash would: only what was persisted survives."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free loopback port, for the whole session."""
    server = RedisServer()
    server.start()
    try:
        yield server.url
    finally:
        server.kill()


@pytest.fixture
def persistent_redis(tmp_path) -> Iterator[RedisServer]:
    """A redis-server of its own that writes every change to its append-only file first."""
    server = RedisServer("--save", "", "--appendonly", "yes", "--appendfsync", "always", directory=str(tmp_path))
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def make_redis_server():
    """A factory of redis-servers with the given arguments; each is killed at the end of the test."""
    servers: list[RedisServer] = []

    def make(*extra: str, **options) -> RedisServer:
        server = RedisServer(*extra, **options)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.kill()


# A test-definitions repository laid out as Linaro's (tests/fixtures/test-definitions).
TEST_DEFINITIONS = Path(__file__).resolve().parent / "fixtures" / "test-definitions"


@pytest.fixture
def make_git_repository():
    """make(where, tree=TEST_DEFINITIONS): a real git repository holding tree, committed.

    (Tests cannot commit a nested .git: the fixture tree becomes a repository here.)
    """

    def make(where: Path, tree: Path = TEST_DEFINITIONS) -> Path:
        if shutil.which("git") is None:
            pytest.skip("git is not installed (apt-get install git)")
        shutil.copytree(tree, where)
        config = ["-c", "user.name=lab", "-c", "user.email=lab@example.org", "-c", "init.defaultBranch=main"]
        for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "test definitions"]):
            subprocess.run(["git", *config, *argv], cwd=where, check=True, capture_output=True)
        return where

    return make
