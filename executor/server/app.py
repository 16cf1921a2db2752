"""The FastAPI application: every router mounted once, one security dependency, one error shape.

Every error a client gets is JSON with nodecat's codes, `{"ok": false, "errors": [GraphProblem...]}`:
a GraphError keeps its problems (422), an HTTP error gets a code of the server group (401, 404, 409,
413), a malformed request `bad_request` (422), anything unexpected `internal_error` (500) with no
traceback. Routers import torch and keras only when a request needs them; the first request that
does pays the import, later ones find the process warm.
"""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import signal
import threading
from typing import Any, AsyncIterator

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.server import catalog_routes, check_routes, run_routes
from nodecat.executor.server.settings import ServerSettings

_HTTP_CODES = {401: "unauthorized", 404: "not_found", 405: "bad_request", 409: "job_state", 413: "body_too_large",
               422: "bad_request"}


def create_app(settings: ServerSettings) -> FastAPI:
    from importlib.metadata import version
    app = FastAPI(title="nodecat", version=version("nodecat"),
                  description="Check, run and train graphs of nodecat catalog nodes; the catalogs and "
                              "palettes an editor needs.", lifespan=_jobs_lifespan)
    app.state.settings = settings
    app.add_middleware(_BodyLimit, limit=settings.max_body_bytes)
    app.middleware("http")(_authorized)  # added last, so it runs first: every route, docs and 404s too
    for module in (catalog_routes, check_routes, run_routes):
        app.include_router(module.router)
    app.add_exception_handler(GraphError, _graph_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
    return app


@contextlib.asynccontextmanager
async def _jobs_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The job store and the worker manager live as long as the server: at start, jobs a killed server
    left running are marked interrupted and queued ones run; at the end (Ctrl-C, SIGTERM) running jobs
    are told to checkpoint and stop, and are marked interrupted."""
    from nodecat.executor.server.jobs import JobStore
    from nodecat.executor.server.workers import JobManager
    store = JobStore(app.state.settings.state_dir)
    manager = JobManager(store, app.state.settings)
    app.state.jobs, app.state.manager = store, manager
    app.state.stopping = threading.Event()
    _hear_exit_signals(app.state.stopping)
    manager.start()
    try:
        yield
    finally:
        await asyncio.to_thread(manager.stop)
        store.close()


def _hear_exit_signals(stopping: threading.Event) -> None:
    """Set `stopping` on SIGINT or SIGTERM, then let uvicorn's handler (installed before the lifespan
    starts, restored when it ends) begin its graceful shutdown. uvicorn waits for every response to
    end before the lifespan's end stops the jobs: an event stream that follows a long job would wait
    for it forever, so the streams end when they see `stopping` (a client resumes with Last-Event-ID)."""
    if threading.current_thread() is not threading.main_thread():
        return  # signals belong to the main thread (e.g. a server run inside a test's thread)
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)

        def on_exit(signum: int, frame: Any, previous: Any = previous) -> None:
            stopping.set()
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL and signum == signal.SIGINT:
                raise KeyboardInterrupt
        signal.signal(sig, on_exit)


def error_response(status: int, problems: list[GraphProblem], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"ok": False, "errors": [p.to_json() for p in problems]}, status, headers=headers)


async def _authorized(request: Request, call_next: Any) -> Any:
    token = request.app.state.settings.token
    if token is not None and not hmac.compare_digest(request.headers.get("authorization", ""), f"Bearer {token}"):
        return error_response(401, [GraphProblem("unauthorized", "a bearer token is required "
                                                 "(Authorization: Bearer TOKEN)")], {"WWW-Authenticate": "Bearer"})
    return await call_next(request)


class _BodyLimit:
    """Refuse a body over the limit: at once from its declared length, else (a chunked body) as soon
    as the bytes read pass it, whichever route reads it; nothing over the limit is held in memory."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refusal()(scope, receive, send)
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, f"the request body is over {self.limit:,} bytes")
            return message

        await self.app(scope, limited, send)

    def _refusal(self) -> JSONResponse:
        return error_response(413, [GraphProblem("body_too_large", f"the request body is over {self.limit:,} bytes")])


async def _graph_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GraphError)
    return error_response(422, list(exc.problems))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "bad_request")
    return error_response(exc.status_code, [GraphProblem(code, str(exc.detail))], getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [GraphProblem("bad_request", str(e.get("msg", "invalid request")),
                             pointer="/" + "/".join(str(p) for p in e.get("loc", ())[1:])) for e in exc.errors()]
    return error_response(422, problems or [GraphProblem("bad_request", "invalid request")])


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logging.getLogger("nodecat.server").error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(500, [GraphProblem("internal_error", f"the server failed: {type(exc).__name__}",
                                             hint="the server's log has the details")])
