"""The `herald` command."""

from __future__ import annotations

import gc
import json
import os
import secrets
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console

from herald.settings import ConfigurationError, Settings, get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.orm import Session

    from herald.models import Job

app = typer.Typer(help="Herald: self-hosted marketing automation.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
user_app = typer.Typer(help="Dashboard users.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
import_app = typer.Typer(help="Import profiles and events.", no_args_is_help=True)
export_app = typer.Typer(help="Export data.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
analytics_app = typer.Typer(help="Analytics rollups.", no_args_is_help=True)
app.add_typer(analytics_app, name="analytics")
retention_app = typer.Typer(
    help="Retention of old events and message bodies.", no_args_is_help=True
)
app.add_typer(retention_app, name="retention")

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
    _share_metrics(settings)
    from herald.observability.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format)
    return settings


def _share_metrics(settings: Settings) -> None:
    """Point prometheus-client at the machine's metrics directory, so that /metrics adds up
    every Herald process's counters; it must happen before prometheus-client is imported."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        return
    directory = settings.resolved_metrics_dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err_console.print(f"[yellow]Metrics are per process: {directory}: {exc}[/yellow]")
        return
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory.resolve())


def _uvicorn_logging(settings: Settings) -> dict[str, Any]:
    from herald.observability.logs import uvicorn_log_config

    config = uvicorn_log_config(settings.log_format)
    if config is None:
        return {}
    # JSON: Herald's middleware writes the access lines (without query strings).
    return {"log_config": config, "access_log": False}


def _prepare(settings: Settings) -> None:
    """Connect to the database and the queue, as every command that does work needs."""
    from herald.db import configure_database
    from herald.ratelimit import configure_rate_limits
    from herald.worker import configure_queue, import_task_modules

    configure_database(settings.resolved_database_url)
    configure_queue(
        redis_url=settings.redis_url, data_dir=settings.data_dir, name=settings.queue_name
    )
    configure_rate_limits(settings.redis_url)
    import_task_modules()
    _listen_for_metrics(settings)


def _listen_for_metrics(settings: Settings) -> None:
    from herald.observability.listener import start_metrics_listener

    start_metrics_listener(settings.metrics_bind, settings.metrics_token)


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


def _serve(
    settings: Settings,
    host: str | None,
    port: int | None,
    on_shutdown: tuple[Callable[[], None], ...] = (),
) -> None:

    from herald.app import create_app

    _run_uvicorn(
        create_app(settings, on_shutdown=on_shutdown),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level,
        proxy_headers=True,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        **_uvicorn_logging(settings),
    )


def _run_uvicorn(app: Any, **options: Any) -> None:
    """uvicorn.run, ending with status 0 after a shutdown asked for by SIGINT or SIGTERM.

    Once it has shut down, uvicorn raises the signal that stopped it again under the handlers that
    were in place before it started; with Python's defaults the process then dies by SIGTERM (or a
    KeyboardInterrupt), which `make run` and process managers report as a failure."""
    import signal

    import uvicorn

    def stopped_on_request(signum: int, _frame: object) -> None:
        raise SystemExit(0)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stopped_on_request)
    uvicorn.run(app, **options)


@app.command()
def serve(
    host: HostOption = None,
    port: PortOption = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="API processes sharing the port (uvicorn's workers). More than one pays off "
            "on PostgreSQL; SQLite writes one transaction at a time whatever the count.",
        ),
    ] = 1,
) -> None:
    """Serve the API and dashboard (run any number of these behind a load balancer)."""
    import uvicorn

    settings = _settings()
    options: dict[str, Any] = {
        "host": host or settings.host,
        "port": port or settings.port,
        "log_level": settings.log_level,
        "proxy_headers": True,
        # On SIGTERM: stop accepting, finish the requests in flight, for up to the grace period.
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        **_uvicorn_logging(settings),
    }
    if workers == 1:
        _run_uvicorn(server_app(), **options)
        return
    # Each worker process builds its own application (database, queue, rate limits) from the
    # same environment; this process only supervises them.
    uvicorn.run("herald.cli:server_app", factory=True, workers=workers, **options)


# Objects allocated between collections of the youngest generation (Python's default is 700).
SERVER_GC_THRESHOLD = 50_000


def server_app() -> FastAPI:
    """The application of a `herald serve` process, with the garbage collector set for serving:
    the objects alive after start-up (the app, its routes, models and metadata) are frozen, so
    collections stop walking them again and again, and the youngest generation is collected less
    often. Requests allocate many short-lived objects, freed by reference counting anyway;
    ingesting a batch spent about a third of its CPU time in collections without this."""
    from herald.app import create_app

    settings = get_settings()
    app = create_app(settings)
    _listen_for_metrics(settings)
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(SERVER_GC_THRESHOLD, older, oldest)
    return app


def _consumer(
    settings: Settings, workers: int, periodic: bool, *, embedded: bool = False
) -> object:
    from huey.consumer import Consumer

    from herald.worker import OncePerPeriodScheduler, huey

    class HeraldConsumer(Consumer):  # type: ignore[misc]
        scheduler_class = OncePerPeriodScheduler

    class EmbeddedConsumer(HeraldConsumer):
        # Beside uvicorn in one process, uvicorn owns the signals.
        def _set_signal_handlers(self) -> None:
            pass

    consumer_class = EmbeddedConsumer if embedded else HeraldConsumer
    # SIGTERM (what systemd and container runtimes send) drains like Ctrl-C: the tasks in hand
    # finish within the grace period; a second signal stops at once.
    return consumer_class(
        huey,
        workers=workers,
        periodic=periodic,
        worker_type="thread",
        graceful_signal="TERM",
        shutdown_timeout=settings.shutdown_grace_seconds,
    )


def _register(role: str) -> Any:
    """Join the registry of live processes (herald.system.processes)."""
    from herald.db import get_database
    from herald.system.processes import register

    return register(get_database(), role)


@app.command()
def worker(
    workers: Annotated[int, typer.Option(help="Worker threads.")] = 4,
) -> None:
    """Run background tasks (any number of these, on any machine)."""
    from herald.worker import start_pumps

    settings = _settings()
    _prepare(settings)
    registration = _register("worker")
    stop_pumps = start_pumps()
    try:
        _consumer(settings, workers, periodic=False).run()  # type: ignore[attr-defined]
    finally:
        # Tasks and pumps have finished (or the grace period ran out): what this process still
        # holds is released and kicked now, not left for the sweep to find stale.
        stop_pumps()
        registration.stop()


@app.command()
def scheduler() -> None:
    """Run the periodic tasks (one per machine is safe: each periodic task runs once a period)."""
    settings = _settings()
    _prepare(settings)
    registration = _register("scheduler")
    # A consumer with no spare workers would still execute the periodic tasks it enqueues,
    # so it runs one worker thread for them alone.
    try:
        _consumer(settings, 1, periodic=True).run()  # type: ignore[attr-defined]
    finally:
        registration.stop()


@app.command()
def run(host: HostOption = None, port: PortOption = None) -> None:
    """All in one process on the embedded default: migrate, then API, worker and scheduler."""
    from herald.worker import start_pumps

    settings = _settings()
    _migrate(settings)
    _prepare(settings)
    _first_run_setup(settings, host or settings.host, port or settings.port)
    registration = _register("run")
    _release_previous_run()
    consumer = _consumer(settings, settings.embedded_workers, periodic=True, embedded=True)
    consumer.start()  # type: ignore[attr-defined]
    stop_pumps = start_pumps()

    def stop_worker() -> None:
        # In the app's shutdown, which runs on SIGINT and SIGTERM alike: in-flight tasks finish
        # within the grace period, then what is still held is released.
        stop_pumps()
        consumer.stop(graceful=True)  # type: ignore[attr-defined]
        registration.stop()

    _serve(settings, host, port, on_shutdown=(stop_worker,))


def _release_previous_run() -> None:
    """The previous `herald run` on this machine is dead (its port and data are ours now): what
    it claimed is taken over at once, not after its heartbeats go stale."""
    from herald.db import get_database
    from herald.system.processes import mark_previous_instances_stopped
    from herald.worker import run_sweeps

    with get_database().transaction() as session:
        released = mark_previous_instances_stopped(session, "run")
    if released:
        run_sweeps(after_lost_worker=True)


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
            session, "My organization", email, password, name_confirmed=False
        )
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
    path = settings.data_dir / "first-run.txt"
    console.print(
        f"\n[bold green]Herald is set up.[/bold green] Sign in at [bold]{url}[/bold]\n"
        f"  email:    [bold]{email}[/bold]\n  password: [bold]{password}[/bold]\n"
        f"It is kept in [bold]{path}[/bold] (readable by you only) until you delete that file;\n"
        "change the password in Settings after signing in.\n"
        "Then open Send your first event in the dashboard to connect your shop.\n",
        soft_wrap=True,  # a long data directory's path stays whole, to be copied
    )
    # It holds a password: readable by the owner of the data directory only.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(
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


def _validated_name(value: str) -> str:
    from pydantic import TypeAdapter, ValidationError

    from herald.validation import Name

    try:
        return TypeAdapter(Name).validate_python(value)
    except ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"]) from exc


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
    name = _validated_name(name)
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
    name = _validated_name(name)
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


# --- Imports and exports -----------------------------------------------------------------------

ImportFile = Annotated[
    Path,
    typer.Argument(exists=True, file_okay=True, dir_okay=False, readable=True, help="The file."),
]
OrgOption = Annotated[str, typer.Option(help="Organization id.")]
ErrorsOption = Annotated[
    Path | None,
    typer.Option("--errors", help="Write the rows that could not be imported, and why, as CSV."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object at the end.")]
POLL_SECONDS = 0.25


def _mapping_options(values: list[str] | None) -> dict[str, str] | None:
    if not values:
        return None
    mapping: dict[str, str] = {}
    for value in values:
        column, equals, field = value.rpartition("=")
        if not equals or not column.strip() or not field.strip():
            raise typer.BadParameter(f"{value!r}: write COLUMN=FIELD", param_hint="--map")
        if column in mapping:
            raise typer.BadParameter(f"column {column!r} is mapped twice", param_hint="--map")
        mapping[column] = field.strip()
    return mapping


def _start_import(file: Path, start: Callable[[Session, IO[bytes]], Job]) -> uuid.UUID:
    """Check and store the file and add its job (not kicked: this process runs it)."""
    from herald.db import get_database
    from herald.errors import HeraldError

    try:
        with file.open("rb") as stream, get_database().transaction() as session:
            job = start(session, stream)
    except HeraldError as exc:
        if not exc.fields:
            err_console.print(exc.message, style="red", markup=False, highlight=False)
        else:
            err_console.print(f"{file} cannot be imported:", style="red", markup=False)
            for problem in exc.fields:
                err_console.print(
                    f"  {problem.field}: {problem.reason}", markup=False, highlight=False
                )
        raise typer.Exit(1) from exc
    return job.id


def _load_job(job_id: uuid.UUID) -> Job:
    from herald.db import get_database
    from herald.models import Job

    with get_database().transaction() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def _run_job_with_progress(job_id: uuid.UUID, description: str) -> Job:
    """Run the job here, through the same `execute_job` a worker uses, and show its progress
    (read from the job row, where each committed batch records it)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from herald.db import get_database
    from herald.jobs.service import execute_job

    outcome: list[str] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            outcome.append(execute_job(get_database(), job_id))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=work, name=f"job-{job_id}", daemon=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=err_console) as progress:
            task = progress.add_task(description, total=None)
            thread.start()
            while True:
                thread.join(POLL_SECONDS)
                job = _load_job(job_id)
                progress.update(task, completed=job.progress_done, total=job.progress_total)
                if thread.is_alive():
                    continue
                # "not-claimed": a worker took the job first; follow it to the end.
                if outcome == ["not-claimed"] and job.status in ("pending", "running"):
                    continue
                break
    except KeyboardInterrupt:
        err_console.print(
            f"Interrupted. Job {job_id} keeps what it committed; a running `herald worker` "
            "resumes it from there once its heartbeat is stale (about five minutes)."
        )
        raise typer.Exit(130) from None
    if failure:
        raise failure[0]
    return job


def _finish_import(job: Job, summary: str, errors: Path | None, as_json: bool) -> None:
    from herald.db import get_database
    from herald.imports import service

    if errors is not None:
        with errors.open("wb") as sink, get_database().transaction() as session:
            for line in service.error_csv_lines(session, job):
                sink.write(line)
    if as_json:
        print(
            json.dumps(
                {
                    "job_id": str(job.id),
                    "status": job.status,
                    "result": job.result,
                    "error": job.error,
                }
            )
        )
    if job.status == "succeeded":
        if not as_json:
            console.print(summary.format(**(job.result or {})), highlight=False)
            if (job.result or {}).get("errors") and errors is None:
                console.print(
                    "See the rows that failed with --errors FILE, "
                    f"or GET /api/imports/{job.id}/errors.",
                    highlight=False,
                    soft_wrap=True,
                )
        return
    if job.status == "pending":
        err_console.print(
            f"The import stopped: {job.error}\nWhat it committed stays; a running "
            f"`herald worker` retries job {job.id} from there.",
            markup=False,
        )
    else:
        err_console.print(f"The import {job.status}: {job.error}", markup=False)
    raise typer.Exit(1)


@import_app.command("profiles")
def import_profiles(
    file: ImportFile,
    org: OrgOption,
    map_options: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="COLUMN=FIELD, once per column to map (email, phone, external_id, first_name, "
            "last_name, timezone, address1, address2, city, region, country, zip, latitude, "
            "longitude, properties.NAME, ignore). Other columns map to the field of the same "
            "name, else to a custom property.",
        ),
    ] = None,
    errors: ErrorsOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import profiles from a CSV file: each row creates or updates a profile."""
    from herald.imports import service

    settings = _settings()
    _prepare(settings)
    org_id = _org_id(org)
    mapping = _mapping_options(map_options)

    def start(session: Session, stream: IO[bytes]) -> Job:
        return service.start_profile_import(
            session, org_id, stream, filename=file.name, mapping=mapping, kick=False
        )

    job = _run_job_with_progress(_start_import(file, start), "Importing profiles")
    summary = (
        "Imported {rows} rows: {created} created, {updated} updated, {unchanged} unchanged, "
        "{errors} with errors."
    )
    _finish_import(job, summary, errors, as_json)


@import_app.command("events")
def import_events(
    file: ImportFile, org: OrgOption, errors: ErrorsOption = None, as_json: JsonOption = False
) -> None:
    """Import events from a JSON Lines file (one /api/track body a line)."""
    from herald.imports import service

    settings = _settings()
    _prepare(settings)
    org_id = _org_id(org)

    def start(session: Session, stream: IO[bytes]) -> Job:
        return service.start_event_import(session, org_id, stream, filename=file.name, kick=False)

    job = _run_job_with_progress(_start_import(file, start), "Importing events")
    summary = (
        "Imported {rows} lines: {stored} events stored, {duplicates} duplicates, "
        "{errors} with errors."
    )
    _finish_import(job, summary, errors, as_json)


@export_app.command("profiles")
def export_profiles(
    org: OrgOption,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write here instead of stdout."),
    ] = None,
) -> None:
    """Export every profile as CSV, the same as GET /api/profiles/export."""
    import sqlalchemy as sa
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from herald.db import get_database
    from herald.profiles import export
    from herald.profiles import service as profiles

    settings = _settings()
    _prepare(settings)
    org_id = _org_id(org)
    where = profiles.ProfileFilter()
    database = get_database()
    with database.transaction() as session:
        total = session.scalar(
            sa.select(sa.func.count()).select_from(profiles.filtered(org_id, where).subquery())
        )
    # Written beside the target and renamed at the end, so a failed export leaves no half file.
    partial = output.with_name(output.name + ".part") if output is not None else None
    count = 0
    sink: Any = partial.open("wb") if partial is not None else sys.stdout.buffer
    try:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with (
            Progress(*columns, console=err_console) as progress,
            database.transaction() as session,
        ):
            task = progress.add_task("Exporting profiles", total=total)
            lines = export.csv_lines(profiles.iterate_profiles(session, org_id, where))
            sink.write(next(lines))
            for count, line in enumerate(lines, start=1):
                sink.write(line)
                if count % 500 == 0:
                    progress.update(task, completed=count)
            progress.update(task, completed=count)
    except BaseException:
        if partial is not None:
            sink.close()
            partial.unlink(missing_ok=True)
        raise
    if partial is not None and output is not None:
        sink.close()
        partial.replace(output)
        noun = "profile" if count == 1 else "profiles"
        err_console.print(f"Exported {count} {noun} to {output}.", highlight=False)
    else:
        sink.flush()


@analytics_app.command("rebuild")
def analytics_rebuild(
    start: Annotated[str, typer.Option("--from", help="First UTC day to recompute (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--to", help="Last UTC day to recompute, included.")],
    org: Annotated[str | None, typer.Option(help="Organization id (default: all).")] = None,
) -> None:
    """Recompute the analytics rollups of every hour in a range from the raw rows (after a
    migration, a restore, or a change made outside Herald). Safe to run at any time."""
    from datetime import UTC, date, datetime, time, timedelta

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from herald.analytics import rollups
    from herald.db import get_database

    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as exc:
        raise typer.BadParameter("dates are written YYYY-MM-DD") from exc
    if first > last:
        raise typer.BadParameter("--from is after --to")
    settings = _settings()
    _prepare(settings)
    org_id = _org_id(org) if org is not None else None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err_console) as progress:
        task = progress.add_task("Recomputing hours", total=None)
        done = rollups.rebuild(
            get_database(),
            datetime.combine(first, time(), tzinfo=UTC),
            datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC),
            org_id=org_id,
            progress=lambda count, total: progress.update(task, completed=count, total=total),
        )
    err_console.print(f"Recomputed {done} hours.", highlight=False)


@retention_app.command("run")
def retention_run(
    org: Annotated[str | None, typer.Option(help="Organization id (default: all).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was done as JSON.")] = False,
) -> None:
    """Delete the events and message bodies older than each organization's retention settings
    now (the scheduler does it daily). Safe to run at any time, from any machine."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from herald.db import get_database
    from herald.retention import service

    settings = _settings()
    _prepare(settings)
    org_id = _org_id(org) if org is not None else None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=err_console) as progress:
        tasks: dict[str, Any] = {}

        def advance(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = progress.add_task(f"Deleting {step}", total=total)
            progress.update(tasks[step], completed=done, total=total)

        reports = service.run(get_database(), settings.data_dir, org_id=org_id, progress=advance)
    if as_json:
        console.print_json(
            json.dumps(
                [
                    {
                        "org_id": str(r.org_id),
                        "events_deleted": r.events_deleted,
                        "conversions_kept": r.conversions_kept,
                        "partitions_emptied": r.partitions_emptied,
                        "message_bodies_deleted": r.bodies_cleared,
                        "outbox_files_deleted": r.outbox_files_deleted,
                    }
                    for r in reports
                ]
            )
        )
        return
    for r in reports:
        console.print(
            f"{r.org_id}: {r.events_deleted} events deleted ({r.conversions_kept} conversions "
            f"kept), {r.bodies_cleared} message bodies and {r.outbox_files_deleted} outbox "
            "files deleted",
            highlight=False,
        )
    if not reports:
        console.print("No organization has retention settings.")


def main() -> None:
    app()


# --- The dashboard's API client -----------------------------------------------------------------


@app.command("openapi")
def openapi_schema(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write here instead of stdout."),
    ] = None,
) -> None:
    """Print the API's OpenAPI description (what /openapi.json serves) as stable JSON."""
    import tempfile

    from herald.app import create_app

    # The schema does not depend on configuration: build the app against throwaway storage so
    # that this command needs no secret key, database or data directory.
    with tempfile.TemporaryDirectory(prefix="herald-openapi-") as scratch:
        settings = Settings(
            env="development", database_url="sqlite://", redis_url=None, data_dir=Path(scratch)
        )
        text = openapi_json(create_app(settings).openapi())
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err_console.print(f"Wrote {output}.", highlight=False)


def openapi_json(schema: dict[str, Any]) -> str:
    """The schema as the dashboard's generated client expects it: sorted keys, two-space indent."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
