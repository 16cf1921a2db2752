"""A job's event log as Server-Sent Events: `id:` the event's number in the job's log, `event:` its
type, `data:` its JSON. Resumable: a client that sends `Last-Event-ID: N` gets the events after N.
The stream ends after the job's final event (`result` or `error`); a comment line every
KEEP_ALIVE_S keeps proxies from closing a quiet stream (a long epoch).

Event types: `state` (queued, running; a resumed job's `queued` has "resumed": true), `cancel` (a stop was asked for), `step` and `epoch`
(training progress: loss, metrics, samples_per_second, eta_seconds), `output` (a captured stdout or
stderr line), and last `result` ({"state": "succeeded", "result": ...}) or `error` ({"state":
"failed" | "cancelled" | "interrupted", "errors": [problems], maybe "result"}). A job resumed with
POST /runs/{id}/resume keeps its log: after its `error` come a `state` event (queued, resumed) and the
events of the resumed run, with ids that go on increasing; a stream ends at a final event only while
that event is the end of the job's log.
"""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any, AsyncIterator, Callable

from nodecat.executor.server.jobs import FINAL_EVENTS, TERMINAL_STATES, Event, JobStore

KEEP_ALIVE_S = 15.0
POLL_S = 0.2


def sse_message(event: Event) -> str:
    return f"id: {event.id}\nevent: {event.type}\ndata: {json.dumps(event.data, sort_keys=True)}\n\n"


def last_event_id(header: str | None) -> int:
    """The Last-Event-ID a client sent (0, i.e. from the start, when absent or not a number)."""
    return int(header) if header is not None and header.strip().isdigit() else 0


async def event_stream(store: JobStore, job_id: str, after: int, disconnected: Any,
                       stopping: Callable[[], bool] = lambda: False,
                       keep_alive_s: float = KEEP_ALIVE_S) -> AsyncIterator[str]:
    """Every event of the job after `after`, as they come, until its final one (or the job is deleted,
    the client goes away: `disconnected` is Request.is_disconnected, or the server is `stopping`)."""
    last_sent = time.monotonic()
    yield "retry: 2000\n\n"
    while True:
        events = await asyncio.to_thread(store.events, job_id, after)
        for event in events:
            yield sse_message(event)
            after = event.id
            last_sent = time.monotonic()
            if event.type in FINAL_EVENTS and await asyncio.to_thread(store.ends_log, job_id, event.id):
                return  # (a job resumed after this end goes on: its log continues)
        if stopping():
            return
        if not events:
            if await disconnected():
                return
            job = await asyncio.to_thread(store.get, job_id)
            if job is None:  # deleted while followed
                return
            if job.state in TERMINAL_STATES:  # its final event was sent before `after` (a late resume)
                for event in await asyncio.to_thread(store.events, job_id, after):
                    yield sse_message(event)
                return
            if time.monotonic() - last_sent >= keep_alive_s:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
            await asyncio.sleep(POLL_S)
