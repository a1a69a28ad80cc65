"""The `herald` command."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import uuid
from typing import Annotated, Literal

import typer
from rich.console import Console

from herald.settings import ConfigurationError, Settings, get_settings

app = typer.Typer(help="Herald: self-hosted marketing automation.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
user_app = typer.Typer(help="Dashboard users.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")

console = Console()
err_console = Console(stderr=True)

HostOption = Annotated[str | None, typer.Option(help="Interface to listen on [HERALD_HOST].")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on [HERALD_PORT].")]


def _settings() -> Settings:
    settings = get_settings()
    try:
        settings.resolved_secret_key()
    except ConfigurationError as exc:
        err_console.print(f"[red]Configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return settings


def _prepare(settings: Settings) -> None:
    """Connect to the database and the queue, as every command that does work needs."""
    from herald.db import configure_database
    from herald.ratelimit import configure_rate_limits
    from herald.worker import configure_queue, import_task_modules

    configure_database(settings.resolved_database_url)
    configure_queue(redis_url=settings.redis_url, data_dir=settings.data_dir)
    configure_rate_limits(settings.redis_url)
    import_task_modules()


def _migrate(settings: Settings) -> None:
    from herald.migrations import upgrade

    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    _migrate(settings)
    console.print("Database is up to date.")


def _serve(settings: Settings, host: str | None, port: int | None) -> None:
    import uvicorn

    from herald.app import create_app

    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        proxy_headers=True,
    )


@app.command()
def serve(host: HostOption = None, port: PortOption = None) -> None:
    """Serve the API and dashboard (run any number of these behind a load balancer)."""
    settings = _settings()
    _prepare(settings)
    _serve(settings, host, port)


def _consumer(workers: int, periodic: bool, *, embedded: bool = False) -> object:
    from huey.consumer import Consumer

    from herald.worker import huey

    class EmbeddedConsumer(Consumer):  # type: ignore[misc]
        # Beside uvicorn in one process, uvicorn owns the signals.
        def _set_signal_handlers(self) -> None:
            pass

    consumer_class = EmbeddedConsumer if embedded else Consumer
    return consumer_class(huey, workers=workers, periodic=periodic, worker_type="thread")


@app.command()
def worker(
    workers: Annotated[int, typer.Option(help="Worker threads.")] = 4,
) -> None:
    """Run background tasks (any number of these, on any machine)."""
    settings = _settings()
    _prepare(settings)
    _consumer(workers, periodic=False).run()  # type: ignore[attr-defined]


@app.command()
def scheduler() -> None:
    """Run the periodic tasks (run exactly one of these)."""
    settings = _settings()
    _prepare(settings)
    # A consumer with no spare workers would still execute the periodic tasks it enqueues,
    # so it runs one worker thread for them alone.
    _consumer(1, periodic=True).run()  # type: ignore[attr-defined]


@app.command()
def run(host: HostOption = None, port: PortOption = None) -> None:
    """All in one process on the embedded default: migrate, then API, worker and scheduler."""
    settings = _settings()
    _migrate(settings)
    _prepare(settings)
    _first_run_setup(settings, host or settings.host, port or settings.port)
    consumer = _consumer(settings.embedded_workers, periodic=True, embedded=True)
    consumer.start()  # type: ignore[attr-defined]
    try:
        _serve(settings, host, port)
    finally:
        stopper = threading.Thread(target=consumer.stop, kwargs={"graceful": True})  # type: ignore[attr-defined]
        stopper.start()
        stopper.join(timeout=30)


def _first_run_setup(settings: Settings, host: str, port: int) -> None:
    """On an empty install, make an organization and its owner so that someone can sign in."""
    import sqlalchemy as sa

    from herald.db import get_database
    from herald.models import Organization
    from herald.tenancy import service

    with get_database().transaction() as session:
        if session.scalar(sa.select(sa.func.count()).select_from(Organization)):
            return
        email = "admin@example.com"
        password = secrets.token_urlsafe(12)
        organization, _owner = service.create_organization(
            session, "My organization", email, password
        )
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
    console.print(
        f"\n[bold green]Herald is set up.[/bold green] Sign in at [bold]{url}[/bold]\n"
        f"  email:    [bold]{email}[/bold]\n  password: [bold]{password}[/bold]\n"
        "Change the password in Settings after signing in. It is not shown again.\n"
    )
    (settings.data_dir / "first-run.txt").write_text(
        f"Herald first sign-in\nurl: {url}\nemail: {email}\npassword: {password}\n"
        f"organization id: {organization.id}\n"
    )


# --- Administration -----------------------------------------------------------------------------


def _validated_email(value: str) -> str:
    from herald.validation import normalize_email

    try:
        return normalize_email(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _validated_password(value: str) -> str:
    if len(value) < 10:
        raise typer.BadParameter("must be at least 10 characters")
    return value


@org_app.command("create")
def org_create(
    name: str,
    admin_email: Annotated[str, typer.Option(help="The owner's sign-in email.")],
    admin_password: Annotated[str, typer.Option(help="The owner's password (10+ characters).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create an organization with its owner, a public key and a secret key."""
    from herald.db import get_database
    from herald.errors import HeraldError
    from herald.tenancy import service

    settings = _settings()
    _prepare(settings)
    email = _validated_email(admin_email)
    password = _validated_password(admin_password)
    try:
        with get_database().transaction() as session:
            organization, owner = service.create_organization(session, name, email, password)
            _public, public_key = service.create_api_key(
                session, organization.id, "Default public key", "public"
            )
            _secret, secret_key = service.create_api_key(
                session, organization.id, "Default secret key", "secret"
            )
    except HeraldError as exc:
        err_console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    result = {
        "org_id": str(organization.id),
        "owner_id": str(owner.id),
        "public_key": public_key,
        "secret_key": secret_key,
    }
    if as_json:
        print(json.dumps(result))
        return
    console.print(f"Organization [bold]{name}[/bold] created.")
    console.print(f"  org id:     {result['org_id']}")
    console.print(f"  public key: {public_key}")
    console.print(f"  secret key: {secret_key}")
    console.print("Store the secret key now; it is not shown again.")


@user_app.command("create")
def user_create(
    email: str,
    org: Annotated[str, typer.Option(help="Organization id.")],
    password: Annotated[str, typer.Option(help="Password (10+ characters).")],
    role: Annotated[str, typer.Option(help="owner, admin or member.")] = "member",
    name: Annotated[str, typer.Option(help="Display name.")] = "",
) -> None:
    """Create a dashboard user in an organization."""
    from herald.db import get_database
    from herald.errors import HeraldError
    from herald.models.organization import ROLES
    from herald.tenancy import service

    settings = _settings()
    _prepare(settings)
    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}")
    org_id = _org_id(org)
    try:
        with get_database().transaction() as session:
            user = service.create_user(
                session,
                org_id,
                _validated_email(email),
                _validated_password(password),
                role=role,
                name=name,
            )
    except HeraldError as exc:
        err_console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"User {user.email} ({user.role}) created: {user.id}")


@apikey_app.command("create")
def apikey_create(
    name: str,
    org: Annotated[str, typer.Option(help="Organization id.")],
    kind: Annotated[str, typer.Option(help="public or secret.")] = "secret",
) -> None:
    """Create an API key and print it once."""
    from herald.db import get_database
    from herald.tenancy import service

    settings = _settings()
    _prepare(settings)
    if kind not in ("public", "secret"):
        raise typer.BadParameter("kind must be public or secret")
    key_kind: Literal["public", "secret"] = "public" if kind == "public" else "secret"
    org_id = _org_id(org)
    with get_database().transaction() as session:
        _key, plaintext = service.create_api_key(session, org_id, name, key_kind)
    console.print(plaintext)


def _org_id(value: str) -> uuid.UUID:
    import sqlalchemy as sa

    from herald.db import get_database
    from herald.models import Organization

    try:
        org_id = uuid.UUID(value)
    except ValueError as exc:
        raise typer.BadParameter("not an organization id") from exc
    with get_database().transaction() as session:
        if session.scalar(sa.select(Organization.id).where(Organization.id == org_id)) is None:
            raise typer.BadParameter(f"no organization {value}")
    return org_id


def main() -> None:
    app()
