"""Jobs over HTTP: queue a run, a training, an evaluation, a profile or an export of a graph; follow it;
fetch its files.

    POST   /runs                   {"graph": {...}, "kind": "train", "options": {"epochs": 2}} -> 201 {"id", "state"}
    GET    /runs                   newest first (?state=running, ?limit=)
    GET    /runs/{id}              state, timings, the newest metrics, the result summary, the error
    POST   /runs/{id}/cancel       a queued job ends cancelled; a running one stops at its next step
    POST   /runs/{id}/resume       an interrupted training (or a cancelled or failed one with a checkpoint)
                                   queued again: the same job goes on from its newest checkpoint
    DELETE /runs/{id}              an ended job and its files (409 job_state while queued or running)
    GET    /runs/{id}/events       Server-Sent Events, resumable with Last-Event-ID (events.py)
    GET    /runs/{id}/files        every file of the run, with its size
    GET    /runs/{id}/files/{path} one file (outputs/*.npy, curves.png, history.jsonl, weights, checkpoints)

A job is checked before it is queued, with the checks of `nodecat check` (job_options.prepare_job):
an invalid graph or option gets 422 with every problem and nothing is queued. Problems in the graph
point into the graph document, those of the request into it (/options/...).
"""
from __future__ import annotations

import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from nodecat.executor.server.events import event_stream, last_event_id
from nodecat.executor.server.jobs import JOB_KINDS, TERMINAL_STATES, Job, JobStore
from nodecat.executor.server.workers import JobManager

router = APIRouter(tags=["runs"])
_STATES = ("queued", "running", *sorted(TERMINAL_STATES))


def _store(request: Request) -> JobStore:
    return request.app.state.jobs  # type: ignore[no-any-return]


def _manager(request: Request) -> JobManager:
    return request.app.state.manager  # type: ignore[no-any-return]


def _job(request: Request, run_id: str) -> Job:
    job = _store(request).get(run_id) if _is_run_id(run_id) else None
    if job is None:
        raise HTTPException(404, f"no run {run_id!r}")
    return job


def _is_run_id(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def _links(job_id: str) -> dict[str, str]:
    base = f"/runs/{job_id}"
    return {"self": base, "events": f"{base}/events", "files": f"{base}/files", "cancel": f"{base}/cancel"}


def _view(job: Job) -> dict[str, Any]:
    return {**job.summary(), "links": _links(job.id)}


@router.post("/runs", status_code=201, summary="Queue a job (checked first: 422 with every problem)")
def submit(request: Request, body: Any = Body(..., examples=[{"graph": {"format": "nodecat-graph/1"},
                                                               "kind": "train", "options": {"epochs": 2}}])
           ) -> JSONResponse:
    from nodecat.executor.server.job_options import INPUTS_DIR, prepare_job
    store = _store(request)
    prepared = prepare_job(body, request.app.state.settings, store)
    job_id = uuid.uuid4().hex
    if prepared.arrays:  # written before the job exists, so a worker never finds them missing
        import numpy as np
        inputs = store.run_dir(job_id) / INPUTS_DIR
        inputs.mkdir(parents=True)
        for name, array in prepared.arrays.items():
            np.save(inputs / f"{name}.npy", array, allow_pickle=False)
    job = store.create(prepared.kind, prepared.graph, prepared.options, job_id)
    _manager(request).wake()
    return JSONResponse({"id": job.id, "kind": job.kind, "state": job.state, "links": _links(job.id)}, 201,
                        headers={"Location": f"/runs/{job.id}"})


@router.get("/runs", summary="Jobs, newest first")
def list_runs(request: Request, state: str | None = Query(None, description=" | ".join(_STATES)),
              limit: int = Query(100, ge=1, le=10_000)) -> dict[str, Any]:
    if state is not None and state not in _STATES:
        raise HTTPException(422, f"state must be one of {', '.join(_STATES)}")
    return {"runs": [_view(job) for job in _store(request).list(limit, state)], "kinds": list(JOB_KINDS)}


@router.get("/runs/{run_id}", summary="A job: state, timings, metrics, result, error")
def get_run(request: Request, run_id: str) -> dict[str, Any]:
    return _view(_job(request, run_id))


@router.post("/runs/{run_id}/cancel", status_code=202, summary="Cancel a queued or running job")
def cancel_run(request: Request, run_id: str) -> dict[str, Any]:
    job = _job(request, run_id)
    if job.state in TERMINAL_STATES or not _manager(request).cancel(run_id):
        raise HTTPException(409, f"run {run_id} has already ended ({_job(request, run_id).state})")
    return _view(_job(request, run_id))


# The ends a training can be resumed from: interrupted (the server stopped) always (a job that finished
# no epoch starts again); cancelled or failed when its directory holds a checkpoint.
RESUMABLE_STATES = ("interrupted", "cancelled", "failed")


@router.post("/runs/{run_id}/resume", status_code=202,
             summary="Resume an interrupted training from its newest checkpoint (the same job, its log goes on)")
def resume_run(request: Request, run_id: str) -> dict[str, Any]:
    from nodecat.executor.server.job_runner import has_checkpoint
    job, store = _job(request, run_id), _store(request)
    if job.kind != "train":
        raise HTTPException(409, f"run {run_id} is a {job.kind} job: only a train job resumes")
    if job.state not in RESUMABLE_STATES or _manager(request).running(run_id):
        raise HTTPException(409, f"run {run_id} is {job.state}: only an interrupted training, or a cancelled or "
                                 "failed one with a checkpoint, resumes")
    if job.state != "interrupted" and not has_checkpoint(store.run_dir(run_id)):
        raise HTTPException(409, f"run {run_id} is {job.state} and has no checkpoint to resume from: it ended "
                                 "before it finished an epoch; submit it again")
    if not store.requeue(run_id, job.state, {**job.options, "resume": True}, {"resumed": True, "after": job.state}):
        raise HTTPException(409, f"run {run_id} is {_job(request, run_id).state} now (resumed already?)")
    _manager(request).wake()
    return _view(_job(request, run_id))


@router.delete("/runs/{run_id}", summary="Delete an ended job and its files")
def delete_run(request: Request, run_id: str) -> dict[str, Any]:
    job = _job(request, run_id)
    if job.state not in TERMINAL_STATES or _manager(request).running(run_id):
        raise HTTPException(409, f"run {run_id} is {job.state}: cancel it first")
    _store(request).delete(run_id)
    return {"ok": True, "deleted": run_id}


@router.get("/runs/{run_id}/events", summary="Server-Sent Events of a job, resumable with Last-Event-ID")
def run_events(request: Request, run_id: str, after: int | None = Query(None, ge=0, description=(
        "Send only events after this id (as the Last-Event-ID header does)"))) -> StreamingResponse:
    _job(request, run_id)
    start = after if after is not None else last_event_id(request.headers.get("last-event-id"))
    return StreamingResponse(event_stream(_store(request), run_id, start, request.is_disconnected,
                                          request.app.state.stopping.is_set),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/runs/{run_id}/files", summary="The files of a job")
def list_files(request: Request, run_id: str) -> dict[str, Any]:
    from nodecat.executor.server.job_runner import RUN_LOCK
    _job(request, run_id)
    root = _store(request).run_dir(run_id).resolve()
    files = []
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink() and path.resolve().is_relative_to(root) and \
                    path.relative_to(root).as_posix() != RUN_LOCK and \
                    not any(part.startswith(".tmp-") for part in path.relative_to(root).parts):
                files.append({"path": path.relative_to(root).as_posix(), "bytes": path.stat().st_size})
    return {"id": run_id, "files": files}


@router.get("/runs/{run_id}/files/{path:path}", summary="One file of a job")
def get_file(request: Request, run_id: str, path: str) -> FileResponse:
    _job(request, run_id)
    root = _store(request).run_dir(run_id).resolve()
    return FileResponse(_inside(root, path))


def _inside(root: Path, text: str) -> Path:
    """The file `text` names inside the run's directory; never anything outside it: `..`, an absolute
    path or a backslash is a bad_request (422), a path that leaves it through a symlink not_found."""
    parts = PurePosixPath(text).parts
    if not text or text.startswith("/") or "\\" in text or "\x00" in text or ".." in parts or \
            (parts and parts[0].endswith(":")):
        raise HTTPException(422, f"{text!r} is not a path inside the run's directory")
    target = root.joinpath(*parts)
    try:
        resolved = target.resolve(strict=True)
    except (OSError, RuntimeError):
        raise HTTPException(404, f"the run has no file {text!r}") from None
    if not resolved.is_relative_to(root) or not resolved.is_file():
        raise HTTPException(404, f"the run has no file {text!r}")
    return resolved
