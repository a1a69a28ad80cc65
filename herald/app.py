"""The FastAPI application: every router, the error handlers and the dashboard's static files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from herald import __version__
from herald.analytics.routes import router as analytics_router
from herald.blocks.routes import router as blocks_router
from herald.bodylimit import BodySizeLimitMiddleware
from herald.campaigns.routes import router as campaigns_router
from herald.cors import IngestionCorsMiddleware
from herald.db import configure_database
from herald.email.feedback.routes import router as email_webhooks_router
from herald.email.provider_routes import router as email_providers_router
from herald.email.routes import router as email_router
from herald.errors import ErrorResponse, NotFound, install_error_handlers
from herald.events.routes import router as events_router
from herald.events.segment_routes import router as segment_router
from herald.flows.routes import profile_router as profile_flows_router
from herald.flows.routes import router as flows_router
from herald.flows.routes import templates_router as flow_templates_router
from herald.idempotency import IdempotencyMiddleware
from herald.images.routes import public_router as public_images_router
from herald.images.routes import router as images_router
from herald.imports.routes import router as imports_router
from herald.jobs.routes import router as jobs_router
from herald.messaging.routes import router as tracking_router
from herald.messaging.routes import suppressions_router
from herald.observability.requests import RequestObservabilityMiddleware
from herald.profiles.routes import router as profiles_router
from herald.ratelimit import configure_rate_limits
from herald.ratelimit.middleware import install_rate_limits
from herald.ratelimit.routes import router as rate_limits_router
from herald.retention.routes import router as retention_router
from herald.routing import JsonBodyRoute, document_bodies_read_by_handlers
from herald.sdk.routes import router as sdk_router
from herald.segments.routes import profile_router as profile_segments_router
from herald.segments.routes import router as segments_router
from herald.settings import Settings, get_settings
from herald.sms.routes import router as sms_router
from herald.sms.routes import webhooks as sms_webhooks
from herald.system.routes import router as system_router
from herald.templates.routes import router as templates_router
from herald.tenancy.routes import router as tenancy_router
from herald.worker import configure_queue, import_task_modules

STATIC_DIR = Path(__file__).parent / "static"
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
# Paths the dashboard's client-side router must never shadow.
SERVER_PREFIXES = (
    "/api/",
    "/v1/",
    "/docs",
    "/redoc",
    "/openapi.json",
    "/healthz",
    "/readyz",
    # Tracking, unsubscribe and preference links in sent email (herald.messaging.tracking).
    "/t/",
    "/u/",
    "/images/",
    "/p/",
    # Twilio's webhooks and SMS short links (herald.sms).
    "/webhooks/",
    "/s/",
)

PLACEHOLDER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Herald</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;
color:#1a1b1e;line-height:1.5}code{background:#f1f3f5;padding:.1rem .3rem;border-radius:4px}</style>
</head><body><h1>Herald is running</h1>
<p>The dashboard has not been built on this machine. The API is ready:
see the <a href="/docs">interactive API documentation</a>.</p>
<p>To build the dashboard, run <code>make run</code> from the source checkout.</p>
</body></html>"""


def create_app(
    settings: Settings | None = None, *, on_shutdown: Sequence[Callable[[], None]] = ()
) -> FastAPI:
    """The application. `on_shutdown` runs when the server stops (after in-flight requests),
    however it was asked to stop: `herald run` stops its embedded worker there."""
    settings = settings or get_settings()
    settings.resolved_secret_key()  # refuse a weak or missing key before serving anything
    configure_database(settings.resolved_database_url)
    configure_queue(
        redis_url=settings.redis_url, data_dir=settings.data_dir, name=settings.queue_name
    )
    # Job handlers register on import; a request may run a job inline (immediate queues).
    import_task_modules()
    configure_rate_limits(settings.redis_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        for callback in on_shutdown:
            await run_in_threadpool(callback)

    app = FastAPI(
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        title="Herald",
        version=__version__,
        description="Self-hosted marketing automation. Management endpoints take a secret key "
        "(`Authorization: Bearer sk_…`); ingestion endpoints take a public key.",
        generate_unique_id_function=_require_operation_id,
        responses={
            401: {"model": ErrorResponse},
            403: {"model": ErrorResponse},
            404: {"model": ErrorResponse},
            422: {"model": ErrorResponse},
        },
    )
    # Routes declared on the app itself read their bodies as every router's do.
    app.router.route_class = JsonBodyRoute
    install_error_handlers(app)
    app.add_middleware(IdempotencyMiddleware)
    # Runs before the idempotency layer: oversized bodies are refused before anything reads them.
    app.add_middleware(BodySizeLimitMiddleware)
    # Public requests are refused before their bodies are read; every limited class's answer
    # gets its RateLimit-* headers here.
    install_rate_limits(app)
    # Outermost: even a refusal (401, 413) must be readable by the website that sent the event.
    app.add_middleware(IngestionCorsMiddleware)
    # Outside everything: every answer, refusals included, is counted and has a request id.
    app.add_middleware(RequestObservabilityMiddleware)
    # Ingestion first: a request is matched against the routes in this order, and the tracking
    # endpoints take the most requests by far (single events at thousands a second).
    routers = (
        events_router,
        system_router,
        tenancy_router,
        rate_limits_router,
        retention_router,
        jobs_router,
        profiles_router,
        segment_router,
        segments_router,
        campaigns_router,
        analytics_router,
        profile_segments_router,
        flows_router,
        flow_templates_router,
        profile_flows_router,
        imports_router,
        templates_router,
        images_router,
        blocks_router,
        public_images_router,
        email_router,
        email_providers_router,
        email_webhooks_router,
        sdk_router,
        tracking_router,
        suppressions_router,
        sms_router,
        sms_webhooks,
    )
    for router in routers:
        app.include_router(router)
    document_bodies_read_by_handlers(app)
    _mount_api_docs(app)
    _mount_dashboard(app)
    return app


def _mount_api_docs(app: FastAPI) -> None:
    """Swagger UI and ReDoc from files shipped with Herald: a self-hosted install must not load
    scripts from a CDN (it may have no internet, and the page would leak who reads the docs)."""
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Herald API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title="Herald API",
            redoc_js_url="/docs-assets/redoc.standalone.js",
            redoc_favicon_url="/docs-assets/favicon.png",
            with_google_fonts=False,
        )


def _require_operation_id(route: APIRoute) -> str:
    """The dashboard's client is generated from operation ids, so every one is written by hand."""
    if route.include_in_schema:
        raise RuntimeError(f"route {route.path} needs an explicit operation_id")
    return route.name


def _path_exists_for_other_method(request: Request) -> bool:
    # The catch-all accepts every method, so Starlette cannot tell "wrong method" by itself.
    for route in request.app.router.routes:
        if getattr(route, "name", None) == "dashboard":
            continue
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            return True
    return False


def _mount_dashboard(app: FastAPI) -> None:
    """Serve the built dashboard with client-side routing: unknown non-API paths get index.html."""

    @app.api_route(
        "/{path:path}",
        methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    def dashboard(path: str, request: Request) -> Response:
        url_path = "/" + path
        if request.method not in ("GET", "HEAD") or url_path.startswith(SERVER_PREFIXES):
            if _path_exists_for_other_method(request):
                raise StarletteHTTPException(405, f"{request.method} is not allowed on {url_path}")
            raise NotFound(f"no route {request.method} {url_path}")
        index = STATIC_DIR / "index.html"
        if not index.exists():
            return HTMLResponse(PLACEHOLDER_PAGE)
        candidate = (STATIC_DIR / path).resolve()
        if path and candidate.is_file() and candidate.is_relative_to(STATIC_DIR.resolve()):
            # Vite names built assets by their content hash: a changed file gets a new name.
            immutable = path.startswith("assets/")
            headers = {"Cache-Control": "public, max-age=31536000, immutable"} if immutable else {}
            return FileResponse(candidate, headers=headers)
        return FileResponse(index, headers={"Cache-Control": "no-cache"})
