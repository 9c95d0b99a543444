"""The FastAPI application of the central sync server (``create_app(settings)``)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from fieldcrm.errors import FieldCrmError, InvalidInput, NotFound
from fieldcrm.sync.protocol import HEADER_PROTOCOL, HEADER_SCHEMA, PROTOCOL_VERSION, SCHEMA_VERSION
from fieldcrm.sync.server.admin import Forbidden
from fieldcrm.sync.server.auth import AuthFailed, RateLimited, server_secret
from fieldcrm.sync.server.deps import AppState
from fieldcrm.sync.server.engine import make_database, migrate
from fieldcrm.sync.server.routes import router, sync
from fieldcrm.sync.server.settings import ServerSettings
from fieldcrm.sync.server.store import Busy

log = logging.getLogger(__name__)
RETRY_AFTER_BUSY = "5"


def _describe(errors: list[Any]) -> str:
    parts = []
    for err in errors[:10]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return "invalid request: " + "; ".join(parts) + more


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(_r: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        return JSONResponse({"detail": _describe(errors), "errors": errors}, status_code=422)

    @app.exception_handler(AuthFailed)
    async def _unauthorized(_r: Request, exc: AuthFailed) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc), "code": exc.code}, 401, headers={"WWW-Authenticate": "Bearer"}
        )

    @app.exception_handler(RateLimited)
    async def _limited(_r: Request, exc: RateLimited) -> JSONResponse:
        return JSONResponse(
            {"detail": str(exc)}, 429, headers={"Retry-After": str(exc.retry_after)}
        )

    @app.exception_handler(Busy)
    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _busy(_r: Request, exc: Exception) -> JSONResponse:
        log.error("database unavailable: %s", type(exc).__name__)
        return JSONResponse(
            {"detail": "the server is busy or its database is unavailable; retry later"},
            503,
            headers={"Retry-After": RETRY_AFTER_BUSY},
        )

    @app.exception_handler(DataError)
    async def _bad_value(_r: Request, _exc: DataError) -> JSONResponse:
        # The validators should catch these first; never answer a bad value with a 500.
        return JSONResponse({"detail": "a value in the request is invalid for the database"}, 400)

    @app.exception_handler(FieldCrmError)
    async def _known(_r: Request, exc: FieldCrmError) -> JSONResponse:
        code = 404 if isinstance(exc, NotFound) else 403 if isinstance(exc, Forbidden) else 400
        body: dict[str, Any] = {"detail": str(exc)}
        if isinstance(exc, InvalidInput) and exc.errors:
            body["errors"] = exc.errors
        return JSONResponse(body, code)


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """Build the app: connect, migrate (unless disabled), load the token secret, mount /v1.

    Raises
    ------
    InvalidInput
        The database URL is malformed or names an unsupported database.
    """
    settings = settings or ServerSettings()
    db = make_database(settings.db, pool_size=settings.db_pool_size)
    if settings.migrate_on_start:
        migrate(db.engine)
    with db.write() as session, session.begin():
        configured = settings.secret.get_secret_value() if settings.secret else None
        secret = server_secret(session, configured)
    app = FastAPI(
        title="fieldcrm sync server",
        version=f"protocol {PROTOCOL_VERSION}",
        description="Central sync server of fieldcrm: versioned scopes and an idempotent outbox.",
    )
    app.state.fieldcrm = AppState(settings=settings, db=db, secret=secret)
    _install_handlers(app)

    @app.middleware("http")
    async def _protocol_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers[HEADER_PROTOCOL] = str(PROTOCOL_VERSION)
        response.headers[HEADER_SCHEMA] = str(SCHEMA_VERSION)
        return response

    app.include_router(router)
    app.include_router(sync)
    _document_push_body(app)
    return app


def _document_push_body(app: FastAPI) -> None:
    """The push body is read by hand (size cap first); put its schema into the OpenAPI doc."""
    from fastapi.openapi.utils import get_openapi

    from fieldcrm.sync.protocol import PushRequest

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schema = PushRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(schema.pop("$defs", {}))
            schemas["PushRequest"] = schema
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_env() -> FastAPI:
    """uvicorn factory for several workers: ``uvicorn --factory ...app:app_from_env``."""
    return create_app(ServerSettings())
