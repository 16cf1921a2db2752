"""POST /check: a graph document in the body, what `nodecat check --json` prints for it out.

The body is read with the strict loader a graph file gets (UTF-8, no duplicate keys, no NaN, bounded
nesting and size). A body that is not strict JSON is 422 with the loader's problems (`bad_json`,
`bad_encoding`, `too_deep`, `too_large`); anything else is checked as the CLI checks a file: 200
with nodecat.executor.checking's report, `"ok": false` with every problem for an invalid graph (a
document that does not satisfy the graph schema included, as for a file). `"graph"` is null: a
posted graph has no file.

The data a train section names is found as for a job (POST /runs): a relative path is looked up in
the --data-root directories, then the shipped demo data, and the file must lie inside them; the
server's current directory is not a data root. The check runs in a worker thread of the server's warm process: torch is imported
by the first check, never per request, and the event loop keeps serving meanwhile.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from nodecat.executor.graph.errors import GraphError
from nodecat.executor.server.job_options import data_roots

router = APIRouter(tags=["check"])

# The loader's codes for a body that is not a JSON document at all (the schema's problems are a graph's).
NOT_A_DOCUMENT = frozenset({"bad_json", "bad_encoding", "too_deep", "too_large"})

_GRAPH_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "A nodecat-graph/1 document (catalogs/schema/graph.schema.json)"}}}}}


@router.post("/check", openapi_extra=_GRAPH_BODY, responses={422: {"description": "The body is not strict JSON"}},
             summary="Validate a graph and infer its shapes: what `nodecat check --json` prints")
async def check(request: Request,
                batch: int = Query(1, ge=1, le=2**20, description="Size given to open (null) dimensions"),
                budget: str = Query("auto", description="Refuse a graph whose estimated memory exceeds this "
                                    "(e.g. 8GiB); auto: the device's free memory; none: no limit")) -> JSONResponse:
    settings = request.app.state.settings
    body = await read_body(request, settings.max_body_bytes)
    return JSONResponse(await run_in_threadpool(check_body, body, batch, budget, data_roots(settings)))


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it passes the limit: a body sent without a declared
    length is not read whole first."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"the request body is over {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def check_body(body: bytes, batch: int, budget: str, data_roots: Sequence[Path]) -> dict[str, Any]:
    """The check report of a posted graph; GraphError (422) only when the body is not a JSON document."""
    from nodecat.executor.checking import BudgetError, check_report, failed_load, parse_budget
    from nodecat.executor.graph.load import parse_graph
    try:
        limit = parse_budget(budget)
    except BudgetError as exc:
        raise HTTPException(422, f"budget: {exc}") from None
    try:
        graph = parse_graph(body)
    except GraphError as exc:
        if any(problem.code in NOT_A_DOCUMENT for problem in exc.problems):
            raise
        return failed_load(exc).to_json()
    return check_report(graph, batch, limit, data_roots=data_roots)
