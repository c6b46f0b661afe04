"""The FastAPI application: its factory, token checks and the translation of every error into JSON.

Every refusal is a JSON object ``{"error": {"code": ..., "message": ...}}`` with a 4xx status naming
the problem; an unexpected failure is a 500 with the same shape and no trace (the trace goes to the
server's log).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..core.archive import Archive
from ..core.errors import (
    ArchiveBusyError,
    Cancelled,
    ImageError,
    InspectorSearchError,
    MetadataError,
    QueryError,
)
from .limits import ApiError, BodySizeLimit, FifoGate, RequestLimit
from .settings import ServerSettings
from .tokens import TokenRecord, TokenStore

log = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="an API token from `inspector-search token create`")


class ApiState:
    """What the routes share: the archive, the tokens, the settings and the inference gate."""

    def __init__(self, archive: Archive | None, settings: ServerSettings, tokens: TokenStore | None) -> None:
        self.archive = archive
        self.settings = settings
        self.tokens = tokens
        self.inference = FifoGate(settings.inference_slots)
        self.jobs: Any = None

    def require_archive(self) -> Archive:
        if self.archive is None:
            raise ApiError(503, "no_archive", "this server has no archive open")
        return self.archive


def state(request: Request) -> ApiState:
    """The app's shared state (a FastAPI dependency)."""
    return request.app.state.api


def needs(scope: str):  # noqa: ANN201 - a FastAPI dependency
    """A dependency refusing requests without a valid token (401) or with a read token for a write (403)."""

    async def check(request: Request,
                    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> TokenRecord:
        authorization = f"Bearer {credentials.credentials}" if credentials is not None else None
        return check_token(state(request).tokens, authorization, scope)

    return Depends(check)


def required_scope(method: str, path: str) -> str | None:
    """The token scope a request needs, from its method and path alone (None: no token needed)."""
    if not path.startswith("/v1/"):
        return None
    if method in ("GET", "HEAD", "OPTIONS") or (method == "POST" and path.rstrip("/") == "/v1/search"):
        return "read"
    return "write"


def check_token(tokens: TokenStore | None, authorization: str | None, scope: str) -> TokenRecord:
    """The token record allowing ``scope``, or ApiError 401 (none, unknown, revoked) / 403 (scope)."""
    kind, _, token = (authorization or "").partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "this request needs an API token: send "
                                            "'Authorization: Bearer <token>' (inspector-search token create)")
    record = tokens.verify(token.strip()) if tokens is not None else None
    if record is None:
        raise ApiError(401, "unauthorized", "the API token is not valid (unknown or revoked)")
    if not record.allows(scope):
        raise ApiError(403, "forbidden", f"this needs a {scope} token; token {record.id} has scope {record.scope}")
    return record


class TokenGate:
    """ASGI middleware checking the token before anything of the request body is read, so that a
    client without a valid token (or with a read token, writing) cannot make the server take in an
    upload. The routes' dependency checks again and documents the scheme in the OpenAPI document."""

    def __init__(self, app, tokens: TokenStore | None) -> None:  # noqa: ANN001 - an ASGI app
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        needed = required_scope(scope.get("method", ""), scope.get("path", "")) if scope["type"] == "http" else None
        if needed is not None and scope.get("method") != "OPTIONS":  # CORS preflights carry no token
            headers = dict(scope.get("headers", ()))
            raw = headers.get(b"authorization")
            try:
                check_token(self.tokens, raw.decode("latin-1") if raw else None, needed)
            except ApiError as exc:
                await error_response(exc.status, exc.code, str(exc))(scope, receive, send)
                return
        await self.app(scope, receive, send)


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status, headers=headers)


_CORE_STATUS: tuple[tuple[type[Exception], int, str], ...] = (
    (ImageError, 400, "bad_image"),
    (QueryError, 400, "bad_query"),
    (MetadataError, 400, "bad_metadata"),
    (ArchiveBusyError, 409, "archive_busy"),
    (Cancelled, 409, "cancelled"),
)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, str(exc))

    @app.exception_handler(InspectorSearchError)
    async def core_error(_request: Request, exc: InspectorSearchError) -> JSONResponse:
        for kind, status, code in _CORE_STATUS:
            if isinstance(exc, kind):
                return error_response(status, code, str(exc))
        log.warning("archive error: %s", exc)
        return error_response(503, "archive_unavailable", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()) if p not in ('body', 'query', 'path', 'form'))}: "
                    f"{e.get('msg', 'invalid')}" for e in exc.errors()]
        return error_response(422, "invalid_request", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 429: "too_many_jobs"}
        return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error serving %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "the server failed to answer this request; "
                                                     "the reason is in the server's log")


def create_app(archive: Archive | None = None, settings: ServerSettings | None = None,
               tokens: TokenStore | None = None) -> FastAPI:
    """The API application over ``archive`` (None: only for the OpenAPI document)."""
    from .jobs import JobManager
    from .routes import router
    from .routes_jobs import jobs_router

    settings = settings or ServerSettings()
    if tokens is None and archive is not None:
        tokens = TokenStore(archive.folder)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if api.jobs is not None:
            api.jobs.start()
        yield
        if api.jobs is not None:
            api.jobs.stop()

    api = ApiState(archive, settings, tokens)
    api.jobs = JobManager(archive, settings) if archive is not None else None
    app = FastAPI(title="Inspector Search API", version=__version__, docs_url=None, redoc_url=None, lifespan=lifespan,
                  description="Find earlier inspection photos like a new one. Every /v1 request needs "
                              "'Authorization: Bearer <token>' (see docs/api.md).")
    app.state.api = api
    _install_error_handlers(app)
    app.include_router(router)
    app.include_router(jobs_router)
    # Added innermost first: RequestLimit, then CORS (so that refusals carry its headers too), then the
    # token check, then the body size limit wrap the app.
    app.add_middleware(BodySizeLimit, limit=settings.max_request_bytes)
    app.add_middleware(TokenGate, tokens=tokens)  # before any of the body is read
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(RequestLimit, limit=settings.max_requests)  # outermost: refuses before anything is read

    return app


def openapi_document() -> str:
    """The OpenAPI document as committed in ``docs/openapi.json``."""
    return json.dumps(create_app().openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
