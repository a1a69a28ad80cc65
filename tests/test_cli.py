"""The `herald` command, run as real subprocesses against SQLite and against PostgreSQL.

Each backend gets a fresh, empty database for the module (for PostgreSQL one that this module
creates and drops itself), so the commands under test see exactly what an operator's first run
sees. Results are checked through a second channel: the database itself, and the HTTP API of a
`herald serve` or `herald run` started on the same install.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from herald.db import normalize_database_url
from herald.migrations import heads
from tests.processes import default_sigint, free_port

REQUIRE_SERVICES = os.environ.get("HERALD_TEST_REQUIRE_SERVICES") == "1"
PG_URL = os.environ.get("HERALD_TEST_DATABASE_URL")

HERALD = (sys.executable, "-m", "herald")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
COMMAND_TIMEOUT = 60
# The tables the migrations must create (more may come with later migrations).
CORE_TABLES = {"organizations", "users", "user_sessions", "api_keys", "jobs", "idempotency_records"}
PASSWORD = "a long enough password"


def plain(text: str) -> str:
    return ANSI.sub("", text)


def secret_key() -> str:
    return secrets.token_urlsafe(36)  # 48 characters


def herald_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a `herald` subprocess: none of this test process's HERALD_* settings."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("HERALD_") and k != "FORCE_COLOR"
    }
    env.update(
        HERALD_DATA_DIR=str(data_dir),
        HERALD_SECRET_KEY=secret_key(),
        HERALD_LOG_LEVEL="warning",
        NO_COLOR="1",
        TERM="dumb",
        COLUMNS="200",
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    return env


def herald(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HERALD, *args],
        env=env,
        cwd=env["HERALD_DATA_DIR"],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def run_all(env: dict[str, str], *argvs: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Run independent programs at once (each herald start costs a second of imports)."""
    processes = [
        subprocess.Popen(
            argv,
            env=env,
            cwd=env["HERALD_DATA_DIR"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    try:
        results = []
        for argv, process in zip(argvs, processes, strict=True):
            out, err = process.communicate(timeout=COMMAND_TIMEOUT)
            results.append(subprocess.CompletedProcess(argv, process.returncode, out, err))
        return results
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def herald_many(
    env: dict[str, str], *commands: list[str]
) -> list[subprocess.CompletedProcess[str]]:
    return run_all(env, *([*HERALD, *args] for args in commands))


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    stdout_path: Path
    stderr_path: Path

    def output(self) -> tuple[str, str]:
        return (
            plain(self.stdout_path.read_text(errors="replace")),
            plain(self.stderr_path.read_text(errors="replace")),
        )

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15) -> tuple[int, float]:
        """Send `sig`; return the exit code and how long the process took to exit."""
        started = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started


@contextmanager
def running(
    env: dict[str, str], command: str, log_dir: Path, *, wait: bool = True
) -> Iterator[Server]:
    """Start `herald <command>` on a free port, wait for /healthz, and always end it.

    With `wait=False` the caller does other work while it starts, then calls `wait_until_healthy`.
    """
    port = free_port()
    stdout_path = log_dir / f"{command}-{port}.out"
    stderr_path = log_dir / f"{command}-{port}.err"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [*HERALD, command, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=env["HERALD_DATA_DIR"],
            stdout=stdout,
            stderr=stderr,
            preexec_fn=default_sigint,
        )
    server = Server(process, f"http://127.0.0.1:{port}", stdout_path, stderr_path)
    try:
        if wait:
            wait_until_healthy(server)
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def wait_until_healthy(server: Server, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            out, err = server.output()
            pytest.fail(f"herald exited with {server.process.returncode}:\n{out}\n{err}")
        try:
            if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    out, err = server.output()
    pytest.fail(f"herald did not answer /healthz within {timeout} s:\n{out}\n{err}")


def as_uuid(value: object) -> uuid.UUID:
    """UUID columns read back as uuid.UUID on PostgreSQL and as 32 hex digits on SQLite."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- One install per backend ---------------------------------------------------------------------


@dataclass
class Install:
    backend: str
    data_dir: Path
    database_url: str
    env: dict[str, str]
    engine: sa.Engine = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # NullPool: hold no connection (nor SQLite lock) between checks.
        self.engine = sa.create_engine(
            normalize_database_url(self.database_url), poolclass=sa.pool.NullPool
        )

    def tables(self) -> set[str]:
        return set(sa.inspect(self.engine).get_table_names())

    def rows(self, sql: str, **params: object) -> list[sa.Row]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.text(sql), params))

    def counts(self) -> dict[str, int]:
        return {
            table: self.rows(f"SELECT count(*) FROM {table}")[0][0]
            for table in ("organizations", "users", "api_keys")
        }


def _missing(message: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(message + " (HERALD_TEST_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(message)


@contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (herald_cli_<random>), dropped afterwards."""
    if not PG_URL:
        _missing("PostgreSQL CLI tests need HERALD_TEST_DATABASE_URL")
    assert PG_URL is not None
    name = f"herald_cli_{uuid.uuid4().hex[:12]}"
    base = sa.make_url(normalize_database_url(PG_URL))
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if REQUIRE_SERVICES:
            raise
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    try:
        # The plain postgresql:// form an operator would write.
        yield base.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def _database_for(backend: str) -> Iterator[str | None]:
    if backend == "sqlite":
        yield None  # the embedded default: herald.db in the data directory
    else:
        with scratch_postgres_database() as url:
            yield url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def install(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A fresh install that `herald migrate` set up (checked empty before)."""
    data_dir = tmp_path_factory.mktemp(f"cli-{request.param}")
    with _database_for(request.param) as database_url:
        if database_url is None:
            env = herald_env(data_dir)
            chosen = Install("sqlite", data_dir, f"sqlite:///{data_dir / 'herald.db'}", env)
            assert not (data_dir / "herald.db").exists()
        else:
            env = herald_env(data_dir, HERALD_DATABASE_URL=database_url)
            chosen = Install("postgresql", data_dir, database_url, env)
            assert chosen.tables() == set()
        try:
            result = herald(chosen.env, "migrate")
            assert result.returncode == 0, result.stderr
            assert "Database is up to date." in plain(result.stdout)
            yield chosen
        finally:
            chosen.engine.dispose()


@dataclass
class CreatedOrg:
    name: str
    email: str
    org_id: str
    owner_id: str
    public_key: str
    secret_key: str


@pytest.fixture(scope="module")
def acme(install: Install) -> CreatedOrg:
    """`herald org create ... --json` run once on the install."""
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    result = herald(
        install.env,
        "org",
        "create",
        "Acme Corp",
        "--admin-email",
        email,
        "--admin-password",
        PASSWORD,
        "--json",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, f"--json must print exactly one line, got {result.stdout!r}"
    printed = json.loads(lines[0])
    assert set(printed) == {"org_id", "owner_id", "public_key", "secret_key"}
    return CreatedOrg("Acme Corp", email, **printed)


# --- Tests ---------------------------------------------------------------------------------------


def test_help_lists_the_commands(tmp_path) -> None:
    env = herald_env(tmp_path)
    module = herald(env, "--help")
    assert module.returncode == 0, module.stderr
    text = plain(module.stdout)
    for command in ("migrate", "serve", "worker", "scheduler", "run", "org", "user", "apikey"):
        assert re.search(rf"^\W*{command}\b", text, re.MULTILINE), f"{command} not in help"
    # The console script that `pip install` puts beside the interpreter is the same program.
    script = Path(sys.executable).with_name("herald")
    if script.exists():
        via_script = subprocess.run(
            [str(script), "org", "--help"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        assert via_script.returncode == 0, via_script.stderr
        assert "create" in plain(via_script.stdout)
    # Nothing was written: --help touches no database.
    assert list(tmp_path.iterdir()) == []


def test_weak_or_missing_secret_key_is_refused(tmp_path) -> None:
    weak = herald(herald_env(tmp_path, HERALD_SECRET_KEY="too-short"), "migrate")
    assert weak.returncode == 2
    assert "HERALD_SECRET_KEY is a default or shorter" in " ".join(plain(weak.stderr).split())
    assert not (tmp_path / "herald.db").exists()

    # A server deployment must set one: every process has to share it. The refusal comes before
    # any connection (this database does not even exist) and before any key file is written.
    server = f"postgresql://postgres@127.0.0.1:1/herald_cli_{uuid.uuid4().hex[:12]}"
    env = herald_env(tmp_path, HERALD_DATABASE_URL=server)
    del env["HERALD_SECRET_KEY"]
    missing = herald(env, "migrate")
    assert missing.returncode == 2
    assert "HERALD_SECRET_KEY must be set" in " ".join(plain(missing.stderr).split())
    assert list(tmp_path.iterdir()) == []


def test_migrate_creates_the_schema(install: Install) -> None:
    assert install.tables() >= CORE_TABLES | {"alembic_version"}
    versions = {row[0] for row in install.rows("SELECT version_num FROM alembic_version")}
    assert versions == set(heads())
    # Re-running on an up-to-date schema is covered by every start of `herald run` below.


def test_org_create_prints_ids_and_keys_once(install: Install, acme: CreatedOrg) -> None:
    assert re.fullmatch(r"pk_[A-Za-z0-9_-]{20,}", acme.public_key)
    assert re.fullmatch(r"sk_[A-Za-z0-9_-]{20,}", acme.secret_key)
    org_id = uuid.UUID(acme.org_id)
    owner_id = uuid.UUID(acme.owner_id)

    orgs = install.rows("SELECT id, name FROM organizations")
    assert [(as_uuid(r.id), r.name) for r in orgs] == [(org_id, "Acme Corp")]
    owner = install.rows(
        "SELECT id, org_id, role, password_hash FROM users WHERE email = :e", e=acme.email
    )
    assert len(owner) == 1
    assert (as_uuid(owner[0].id), as_uuid(owner[0].org_id)) == (owner_id, org_id)
    assert owner[0].role == "owner"
    assert PASSWORD not in owner[0].password_hash
    keys = [
        key
        for key in install.rows("SELECT org_id, name, kind, prefix, key_hash FROM api_keys")
        if key.name.startswith("Default ")
    ]
    assert sorted((as_uuid(k.org_id), k.kind) for k in keys) == [
        (org_id, "public"),
        (org_id, "secret"),
    ]
    for key in keys:
        plaintext = acme.public_key if key.kind == "public" else acme.secret_key
        assert plaintext.startswith(key.prefix)
        # Stored hashed: the key itself is nowhere in the row.
        assert plaintext not in key.key_hash


def test_bad_input_is_refused_and_creates_nothing(install: Install, acme: CreatedOrg) -> None:
    """Each refusal exits non-zero, says why, prints nothing on stdout and writes nothing.

    Checks that depend on the database run on both backends; the others run on SQLite only (each
    command costs a second of start-up).
    """
    unknown_org = str(uuid.uuid4())

    def org_create(name: str, email: str, password: str) -> list[str]:
        return ["org", "create", name, "--admin-email", email, "--admin-password", password]

    def user_create(email: str, org: str, *more: str) -> list[str]:
        return ["user", "create", email, "--org", org, "--password", PASSWORD, *more]

    cases = [
        # (command, exit code, message, needs the database)
        # The organization is flushed before its owner fails: the whole command must roll back.
        (org_create("Second", acme.email, PASSWORD), 1, "already exists", True),
        (
            ["apikey", "create", "Lost", "--org", unknown_org, "--kind", "public"],
            2,
            f"no organization {unknown_org}",
            True,
        ),
        (org_create("Bad", "not-an-email", PASSWORD), 2, "must have an @-sign", False),
        (org_create("Short", "short@example.com", "nine-char"), 2, "at least 10 characters", False),
        (user_create("x2@example.com", acme.org_id, "--role", "root"), 2, "role must be", False),
        (org_create("", "empty@example.com", PASSWORD), 2, "at least 1 character", False),
        (org_create("N" * 201, "long@example.com", PASSWORD), 2, "at most 200 characters", True),
    ]
    if install.backend != "sqlite":
        cases = [case for case in cases if case[3]]
    before = install.counts()
    results = herald_many(install.env, *(case[0] for case in cases))
    for result, (command, code, message, _) in zip(results, cases, strict=True):
        assert result.returncode == code, (command, result.stdout, result.stderr)
        assert message in " ".join(plain(result.stderr).split()), (command, result.stderr)
        assert "Traceback" not in result.stderr, command
        assert result.stdout.strip() == "", "nothing may be printed as if it had worked"
    assert install.counts() == before
    names = {r.name for r in install.rows("SELECT name FROM organizations")}
    assert not names & {"Second", "Bad", "Short"}


def test_user_and_api_key_creation(install: Install, acme: CreatedOrg, tmp_path) -> None:
    email = f"Admin-{uuid.uuid4().hex[:8]}@EXAMPLE.com"
    # Second channel: the API that `herald serve` runs accepts what the CLI printed. The server
    # starts while the commands run (a CLI write needs no server restart, and it saves a second).
    with running(install.env, "serve", tmp_path, wait=False) as server:
        user, public, secret = herald_many(
            install.env,
            [
                "user",
                "create",
                email,
                "--org",
                acme.org_id,
                "--password",
                PASSWORD,
                "--role",
                "admin",
            ],
            ["apikey", "create", "Website", "--org", acme.org_id, "--kind", "public"],
            ["apikey", "create", "Back office", "--org", acme.org_id],
        )
        assert user.returncode == 0, user.stderr
        stored_email = email.lower()  # addresses are stored lowercased
        assert f"User {stored_email} (admin) created" in plain(user.stdout)
        assert public.returncode == 0, public.stderr
        public_key = plain(public.stdout).strip()
        assert re.fullmatch(r"pk_[A-Za-z0-9_-]{20,}", public_key), public.stdout
        assert secret.returncode == 0, secret.stderr
        secret_key = plain(secret.stdout).strip()
        assert re.fullmatch(r"sk_[A-Za-z0-9_-]{20,}", secret_key), secret.stdout  # the default kind

        users = install.rows("SELECT email, role FROM users WHERE email = :e", e=stored_email)
        assert [(u.email, u.role) for u in users] == [(stored_email, "admin")]
        keys = {r.name: r for r in install.rows("SELECT name, kind, prefix FROM api_keys")}
        assert keys["Website"].kind == "public" and public_key.startswith(keys["Website"].prefix)
        assert keys["Back office"].kind == "secret" and secret_key.startswith(
            keys["Back office"].prefix
        )

        wait_until_healthy(server)
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json() == {"status": "ok", "checks": {"database": "ok", "queue": "ok"}}

            for key, name in ((acme.secret_key, "Default secret key"), (secret_key, "Back office")):
                me = client.get("/api/me", headers=bearer(key))
                assert me.status_code == 200, me.text
                assert me.json()["kind"] == "secret_key"
                assert me.json()["organization"]["id"] == acme.org_id
                assert me.json()["api_key"]["name"] == name
            for key in (acme.public_key, public_key):
                refused = client.get("/api/me", headers=bearer(key))
                assert refused.status_code == 403, refused.text
            unknown = client.get("/api/me", headers=bearer("sk_" + secrets.token_urlsafe(24)))
            assert unknown.status_code == 401

            for who, role in ((stored_email, "admin"), (acme.email, "owner")):
                login = client.post("/api/auth/login", json={"email": who, "password": PASSWORD})
                assert login.status_code == 200, login.text
                assert login.json()["user"]["role"] == role
                assert login.json()["organization"]["id"] == acme.org_id
                client.cookies.clear()
        code, took = server.stop(signal.SIGINT)
    # uvicorn swallows the KeyboardInterrupt it re-raises, so Ctrl-C is a clean exit.
    assert code == 0, server.output()
    assert took < 15


# --- Embedded mode -------------------------------------------------------------------------------

# Creates a job through the service layer from another process. No handler exists for its kind,
# so only a worker that really runs it can move it from pending to failed.
PROBE_JOB = """
import sys, uuid
from herald.db import configure_database
from herald.jobs.service import create_job
from herald.settings import get_settings
from herald.worker import configure_queue

settings = get_settings()
database = configure_database(settings.resolved_database_url)
configure_queue(redis_url=settings.redis_url, data_dir=settings.data_dir)
with database.transaction() as session:
    job = create_job(session, uuid.UUID(sys.argv[1]), sys.argv[2])
print(job.id)
"""


def _first_run_credentials(stdout: str) -> tuple[str, str]:
    email = re.search(r"email:\s+(\S+)", stdout)
    password = re.search(r"password:\s+(\S+)", stdout)
    assert email and password, f"no sign-in credentials printed:\n{stdout}"
    return email.group(1), password.group(1)


def test_run_serves_everything_in_one_process(tmp_path) -> None:
    data_dir = tmp_path / "data"
    env = herald_env(data_dir, HERALD_LOG_LEVEL="info")  # the consumer's lifecycle is logged
    data_dir.mkdir()
    with running(env, "run", tmp_path) as server:
        stdout, _ = server.output()
        # First run: the printed sign-in is also in first-run.txt.
        assert "Herald is set up" in stdout
        email, password = _first_run_credentials(stdout)
        assert str(data_dir / "first-run.txt") in plain(stdout)  # where to find it again
        first_run = (data_dir / "first-run.txt").read_text()
        assert (data_dir / "first-run.txt").stat().st_mode & 0o777 == 0o600  # it holds a password
        assert f"email: {email}\n" in first_run
        assert f"password: {password}\n" in first_run
        assert f"url: {server.base_url}\n" in first_run
        org_id = re.search(r"organization id: (\S+)", first_run).group(1)
        assert (data_dir / "herald.db").exists() and (data_dir / "queue.db").exists()

        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {"status": "ok", "checks": {"database": "ok", "queue": "ok"}}

            home = client.get("/")
            assert home.status_code == 200
            assert home.headers["content-type"].startswith("text/html")
            assert "Herald" in home.text
            if not (Path(__file__).parents[1] / "herald" / "static" / "index.html").exists():
                assert "Herald is running" in home.text
                assert 'href="/docs"' in home.text

            docs = client.get("/docs")
            assert docs.status_code == 200
            assert "swagger-ui" in docs.text and "Herald" in docs.text
            spec = client.get("/openapi.json")
            assert spec.status_code == 200
            assert spec.json()["info"]["title"] == "Herald"
            assert {"/healthz", "/readyz", "/api/auth/login", "/api/me"} <= set(
                spec.json()["paths"]
            )

            wrong = client.post("/api/auth/login", json={"email": email, "password": "x" * 12})
            assert wrong.status_code == 401
            login = client.post("/api/auth/login", json={"email": email, "password": password})
            assert login.status_code == 200, login.text
            assert login.json()["user"]["role"] == "owner"
            assert login.json()["organization"]["id"] == org_id
            me = client.get("/api/me")  # the session cookie alone
            assert me.status_code == 200, me.text
            assert (me.json()["kind"], me.json()["user"]["email"]) == ("user", email)
            client.cookies.clear()

            # The embedded worker: a job queued from another process gets run; and the CLI
            # works beside a running embedded install.
            probe, key = run_all(
                env,
                [sys.executable, "-c", PROBE_JOB, org_id, "cli-test-probe"],
                [*HERALD, "apikey", "create", "probe", "--org", org_id],
            )
            assert probe.returncode == 0, probe.stderr
            job_id = probe.stdout.strip()
            assert key.returncode == 0, key.stderr
            headers = bearer(plain(key.stdout).strip())
            queued_at = time.monotonic()
            deadline = time.monotonic() + 20
            while True:
                job = client.get(f"/api/jobs/{job_id}", headers=headers)
                assert job.status_code == 200, job.text
                if (
                    job.json()["status"] not in ("pending", "running")
                    or time.monotonic() > deadline
                ):
                    break
                time.sleep(0.2)
            assert job.json()["status"] == "failed", job.json()
            assert job.json()["error"] == "no handler for job kind 'cli-test-probe'"
            assert job.json()["attempts"] == 1
            assert job.json()["started_at"] and job.json()["finished_at"]
            print(f"job finished {time.monotonic() - queued_at:.2f} s after queueing")

        # The scheduler runs in the same process: the periodic sweep ran at start.
        assert re.search(r"Executing \S*herald\.sweep", server.output()[1])
        code, took = server.stop(signal.SIGINT)
    _, stderr = server.output()
    assert code == 0, stderr
    assert took < 15
    assert "Shutting down gracefully" in stderr  # the consumer was stopped, not abandoned

    # A second start finds the organization and prints no new credentials.
    with running(env, "run", tmp_path) as again:
        assert "Herald is set up" not in again.output()[0]
        assert (data_dir / "first-run.txt").read_text() == first_run
        code, _ = again.stop(signal.SIGINT)
    assert code == 0


def test_run_stops_the_worker_gracefully_on_sigterm(tmp_path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = herald_env(data_dir, HERALD_LOG_LEVEL="info")
    with running(env, "run", tmp_path) as server:
        code, took = server.stop(signal.SIGTERM)
    assert took < 15
    # A stop the operator asked for is a clean exit: `make run` prints no "*** Terminated" line
    # and a process manager records no failure.
    assert code == 0, server.output()
    assert "Shutting down gracefully" in server.output()[1]
