"""Browser tests: a real Herald in a subprocess, driven by Debian's Chromium through Playwright.

Mark every test here with `pytest.mark.e2e` (`pytestmark = pytest.mark.e2e`); `-m "not e2e"`
leaves them out. Without /usr/bin/chromium (or Playwright) they are skipped, unless
HERALD_TEST_REQUIRE_SERVICES=1 (as in CI) makes that a failure.

Fixtures, for reuse by the dashboard tests:

- `herald_server` (session): `herald run` (embedded mode: SQLite, worker and scheduler in the
  process) on a free port in a temporary data directory, started once per test session and
  stopped with SIGINT at the end. A `HeraldServer` with:
    - `base_url` (http://127.0.0.1:<port>), `data_dir`, `env` (the server's environment);
    - `email`, `password`, `org_id`: the owner of "My organization" that the first run created;
    - `cli(*args)`: run another `herald` command against the same install, e.g.
      `herald_server.cli("apikey", "create", "k", "--org", herald_server.org_id).stdout`;
    - `logs()`: the server's stdout and stderr so far (for failure messages).
  Every test shares its database: use unique names and never expect empty tables.
- `fake_twilio` (session): the fake Twilio the server sends SMS to (tests/fakes/twilio).
- `browser` (session): headless Chromium.
- `page` (function): a page in a fresh browser context (its own cookies) whose `base_url` is the
  server, so `page.goto("/docs")` works. Requests to any other host are aborted: no test may
  depend on the internet.
- `signed_in_page` (function): the same, signed in as the first-run owner through
  POST /api/auth/login (the session and CSRF cookies are in the context).
- `screenshot` (function): `screenshot(page, "name")` saves a full-page
  `test-artifacts/screenshots/name.png` under the repository root (git-ignored) and returns
  the path.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fakes.twilio import FakeTwilio, running_fake_twilio
from tests.processes import default_sigint, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE_SERVICES = os.environ.get("HERALD_TEST_REQUIRE_SERVICES") == "1"
# Seconds for `herald run` to migrate and answer (30 ran out at a load average of 20 on 2 cores).
START_TIMEOUT = 120


def _unavailable(message: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(message + " (HERALD_TEST_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(message)


@dataclass
class HeraldServer:
    base_url: str
    data_dir: Path
    env: dict[str, str]
    email: str
    password: str
    org_id: str
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "herald", *args],
            env=self.env,
            cwd=self.data_dir,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def logs(self) -> str:
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(
            errors="replace"
        )


def _read_first_run(path: Path) -> dict[str, str]:
    fields = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            fields[key] = value
    return fields


def _confirm_organization_name(base_url: str, email: str, password: str) -> None:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        login = client.post("/api/auth/login", json={"email": email, "password": password})
        login.raise_for_status()
        name = login.json()["organization"]["name"]
        client.patch(
            "/api/organization",
            json={"name": name},
            headers={"X-CSRF-Token": login.json()["csrf_token"]},
        ).raise_for_status()


@pytest.fixture(scope="session")
def fake_twilio() -> Iterator[FakeTwilio]:
    """The fake Twilio (tests/fakes/twilio) on loopback, which the server's Twilio provider
    calls (HERALD_TWILIO_API_URL); its status callbacks wait until a test delivers them."""
    with running_fake_twilio() as fake:
        yield fake


@pytest.fixture(scope="session")
def herald_server(
    tmp_path_factory: pytest.TempPathFactory, fake_twilio: FakeTwilio
) -> Iterator[HeraldServer]:
    root = tmp_path_factory.mktemp("herald-e2e")
    data_dir = root / "data"
    data_dir.mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("HERALD_") and k != "FORCE_COLOR"
    }
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env.update(
        HERALD_BASE_URL=base_url,  # links in messages lead back to this server
        HERALD_DATA_DIR=str(data_dir),
        HERALD_SECRET_KEY=secrets.token_urlsafe(36),
        HERALD_LOG_LEVEL="warning",
        # Twilio's webhooks are signed for the URL Twilio calls, on this base URL.
        HERALD_TWILIO_API_URL=fake_twilio.url,
        # `test` only so that the provider may reach the loopback fake Twilio.
        HERALD_ENV="test",
        HERALD_OUTBOUND_ALLOW="127.0.0.0/8",
        # Settings → Email's DNS check asks the tests' DNS server (tests/conftest.py).
        HERALD_DNS_SERVERS=os.environ["HERALD_DNS_SERVERS"],
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
    )
    stdout_path, stderr_path = root / "herald.out", root / "herald.err"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "herald", "run", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=data_dir,
            stdout=stdout,
            stderr=stderr,
            preexec_fn=default_sigint,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"herald run exited with {process.returncode}:\n"
                    + stdout_path.read_text()
                    + stderr_path.read_text()
                )
            try:
                if httpx.get(base_url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"herald run did not answer /healthz within {START_TIMEOUT} s")
            time.sleep(0.1)
        first_run = _read_first_run(data_dir / "first-run.txt")
        # The first start's organization has a placeholder name, which the dashboard asks its owner
        # to replace before anything else; the tests that sign in as that owner keep the name.
        _confirm_organization_name(base_url, first_run["email"], first_run["password"])
        yield HeraldServer(
            base_url=base_url,
            data_dir=data_dir,
            env=env,
            email=first_run["email"],
            password=first_run["password"],
            org_id=first_run["organization id"],
            process=process,
            stdout_path=stdout_path,
            stderr_path=stderr_path,
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        _unavailable(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("browser tests need Playwright for Python (pip install -e '.[dev]')")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


def _local_only(base_url: str):
    local_host = urlsplit(base_url).netloc

    def route(route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in ("http", "https") and url.netloc != local_host:
            route.abort()
        else:
            route.continue_()

    return route


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser, herald_server: HeraldServer, request: pytest.FixtureRequest) -> Iterator[object]:
    context = browser.new_context(
        base_url=herald_server.base_url,
        viewport={"width": 1280, "height": 800},
        reduced_motion="reduce",  # no animations half-way through a screenshot
    )
    context.route("**/*", _local_only(herald_server.base_url))
    new_page = context.new_page()
    # What went wrong in the browser, printed with a failing test (flaky ones most of all).
    problems: list[str] = []
    new_page.on(
        "response",
        lambda r: (
            problems.append(f"{r.request.method} {r.url} -> {r.status}")
            if r.status >= 400
            else None
        ),
    )
    new_page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    try:
        yield new_page
    finally:
        if request.node.stash.get(_CALL_FAILED, False):
            print("browser problems:", *problems, sep="\n  ")
            print(
                "server log (last 40 lines):", *herald_server.logs().splitlines()[-40:], sep="\n  "
            )
        context.close()


@pytest.fixture
def signed_in_page(page, herald_server: HeraldServer):
    response = page.request.post(
        "/api/auth/login", data={"email": herald_server.email, "password": herald_server.password}
    )
    assert response.status == 200, response.text()
    return page


def save_screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as test-artifacts/screenshots/<name>.png."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"not a file name: {name!r}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def screenshot():
    """`screenshot(page, name)` saves test-artifacts/screenshots/<name>.png and returns its path."""
    return save_screenshot


# --- The dashboard ------------------------------------------------------------------------------
#
# - `dashboard_build` (session): fails with how to build it when herald/static/index.html is
#   missing (`make test` builds the dashboard first). Modules that drive the dashboard use it
#   with `pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("dashboard_build")]`.
# - `new_org` (function): `new_org()` makes another organization through `herald org create`
#   (its owner, a public and a secret key) for tests that need empty tables or may change the
#   owner's password.
# - `secret_key` (session): a secret key of the first-run organization, for calls with httpx.
# Helpers for driving the dashboard are in tests/e2e/helpers.py.

DASHBOARD_INDEX = REPO_ROOT / "herald" / "static" / "index.html"


@pytest.fixture(scope="session")
def dashboard_build() -> Path:
    if not DASHBOARD_INDEX.exists():
        pytest.fail(
            f"the dashboard is not built ({DASHBOARD_INDEX.relative_to(REPO_ROOT)} is missing): "
            "`make test` builds it before running the tests; by hand: "
            "`cd web && npm ci && npm run build`"
        )
    return DASHBOARD_INDEX


@dataclass
class Organization:
    name: str
    org_id: str
    email: str
    password: str
    public_key: str
    secret_key: str


@pytest.fixture
def new_org(herald_server: HeraldServer):
    def make(name: str = "Fresh organization") -> Organization:
        email = f"owner-{secrets.token_hex(4)}@example.com"
        password = secrets.token_urlsafe(12)
        result = herald_server.cli(
            "org", "create", name, "--admin-email", email, "--admin-password", password, "--json"
        )
        assert result.returncode == 0, result.stdout + result.stderr
        created = json.loads(result.stdout.strip().splitlines()[-1])
        return Organization(
            name=name,
            org_id=created["org_id"],
            email=email,
            password=password,
            public_key=created["public_key"],
            secret_key=created["secret_key"],
        )

    return make


@pytest.fixture(scope="session")
def secret_key(herald_server: HeraldServer) -> str:
    result = herald_server.cli(
        "apikey", "create", "e2e tests", "--org", herald_server.org_id, "--kind", "secret"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    key = result.stdout.strip()
    assert key.startswith("sk_"), key
    return key
