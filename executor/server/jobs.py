"""The job store: every job, its state and its append-only event log in SQLite under --state.

    store = JobStore(state_dir)                     # state_dir/jobs.sqlite, WAL; files in state_dir/runs/<id>/
    job = store.create("train", graph_document, {"epochs": 2})
    store.append_event(job.id, "epoch", {...})      # the event log SSE clients read (and resume)
    store.finish(job.id, "succeeded", result={...})  # the terminal state and the last event, in one transaction
    store.requeue(job.id, "interrupted", {...}, {...})  # a resume: queued again, the same log goes on

One connection guarded by a lock: the routes (FastAPI's thread pool), the manager's thread and the
SSE streams all go through it, and every write is one short transaction, so a server killed at any
moment leaves each job in a state it had (WAL keeps readers from blocking the writer).
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

JobKind = Literal["run", "train", "evaluate", "profile", "export"]
JOB_KINDS: tuple[str, ...] = get_args(JobKind)
JobState = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
TERMINAL_STATES = frozenset(("succeeded", "failed", "cancelled", "interrupted"))
# The event that ends a job's log: "result" for a job that succeeded, "error" for every other end.
FINAL_EVENTS = frozenset(("result", "error"))

STORE_FILE, RUNS_DIR = "jobs.sqlite", "runs"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    graph TEXT NOT NULL,
    options TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    result TEXT,
    error TEXT,
    metrics TEXT,
    last_event INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
    job TEXT NOT NULL,
    id INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    time REAL NOT NULL,
    PRIMARY KEY (job, id)
);
"""


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    graph: dict[str, Any]
    options: dict[str, Any]
    state: str
    created: float
    started: float | None
    finished: float | None
    result: dict[str, Any] | None
    error: list[dict[str, Any]] | None
    metrics: dict[str, Any] | None  # the newest epoch event of a training job

    def summary(self) -> dict[str, Any]:
        """What GET /runs/{id} shows (the graph document and the options are left out)."""
        end = self.finished if self.finished is not None else (time.time() if self.started is not None else None)
        return {"id": self.id, "kind": self.kind, "state": self.state, "graph": self.graph.get("name", ""),
                "created": self.created, "started": self.started, "finished": self.finished,
                "seconds": round(end - self.started, 3) if end is not None and self.started is not None else None,
                "metrics": self.metrics, "result": self.result, "error": self.error}


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    data: dict[str, Any]
    time: float


class JobStore:
    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir).resolve()  # workers change directory: every path is absolute
        self.runs_dir = self.state_dir / RUNS_DIR
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.state_dir / STORE_FILE), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def run_dir(self, job_id: str) -> Path:
        return self.runs_dir / job_id

    # -- jobs ------------------------------------------------------------------------------------
    def create(self, kind: str, graph: dict[str, Any], options: dict[str, Any], job_id: str | None = None) -> Job:
        """A new queued job (its directory made, its first event `state: queued` logged)."""
        job_id = job_id or uuid.uuid4().hex
        now = time.time()
        self.run_dir(job_id).mkdir(parents=True, exist_ok=True)
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT INTO jobs (id, kind, graph, options, state, created) VALUES (?, ?, ?, ?, ?, ?)",
                             (job_id, kind, _dumps(graph), _dumps(options), "queued", now))
            self._append(job_id, "state", {"state": "queued"}, now)
        return self.get(job_id)  # type: ignore[return-value]

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job(row) if row is not None else None

    def list(self, limit: int = 100, state: str | None = None) -> list[Job]:
        """Newest first."""
        query = f"SELECT {_JOB_COLUMNS} FROM jobs" + (" WHERE state = ?" if state else "") + " ORDER BY seq DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, ((state,) if state else ()) + (limit,)).fetchall()
        return [_job(row) for row in rows]

    def ids_in_state(self, state: str) -> list[str]:
        """Oldest first (the order queued jobs run in)."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM jobs WHERE state = ? ORDER BY seq", (state,))]

    def start(self, job_id: str, data: dict[str, Any]) -> bool:
        """queued -> running (False when the job is no longer queued, e.g. cancelled meanwhile)."""
        now = time.time()
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            changed = self._db.execute("UPDATE jobs SET state = 'running', started = ? WHERE id = ? AND state = 'queued'",
                                       (now, job_id)).rowcount
            if changed:
                self._append(job_id, "state", {"state": "running", **data}, now)
        return bool(changed)

    def finish(self, job_id: str, state: str, result: dict[str, Any] | None = None,
               errors: list[dict[str, Any]] | None = None) -> bool:
        """A terminal state and the job's last event (`result`, or `error`), in one transaction; False
        when the job had already ended (its first end stands)."""
        assert state in TERMINAL_STATES
        now = time.time()
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            changed = self._db.execute(
                "UPDATE jobs SET state = ?, finished = ?, result = ?, error = ? WHERE id = ? AND state IN "
                "('queued', 'running')", (state, now, _dumps(result) if result is not None else None,
                                          _dumps(errors) if errors is not None else None, job_id)).rowcount
            if changed:
                data: dict[str, Any] = {"state": state}
                if result is not None:
                    data["result"] = result
                if errors is not None:
                    data["errors"] = errors
                self._append(job_id, "result" if state == "succeeded" else "error", data, now)
        return bool(changed)

    def requeue(self, job_id: str, from_state: str, options: dict[str, Any], data: dict[str, Any]) -> bool:
        """An ended job queued again (POST /runs/{id}/resume): the same id, run directory and event log,
        with new options; its end (finished, result, error) is cleared and a `state: queued` event with
        `data` continues its log. False when the job is no longer in `from_state` (e.g. resumed already)."""
        assert from_state in TERMINAL_STATES
        now = time.time()
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            changed = self._db.execute(
                "UPDATE jobs SET state = 'queued', options = ?, finished = NULL, result = NULL, error = NULL "
                "WHERE id = ? AND state = ?", (_dumps(options), job_id, from_state)).rowcount
            if changed:
                self._append(job_id, "state", {**data, "state": "queued"}, now)
        return bool(changed)

    def ends_log(self, job_id: str, event_id: int) -> bool:
        """Whether a final event (`result`, `error`) is still the end of the job's log: False once the job
        was resumed after it (its log goes on), or deleted."""
        with self._lock:
            row = self._db.execute("SELECT state, last_event FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row is None or (row[0] in TERMINAL_STATES and row[1] == event_id)

    def delete(self, job_id: str) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM events WHERE job = ?", (job_id,))
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        shutil.rmtree(self.run_dir(job_id), ignore_errors=True)

    # -- events ----------------------------------------------------------------------------------
    def append_event(self, job_id: str, type_: str, data: dict[str, Any]) -> int:
        """Log an event of a job that has not ended (0 when it has: nothing comes after the last event)."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row[0] in TERMINAL_STATES:
                return 0
            if type_ == "epoch":
                self._db.execute("UPDATE jobs SET metrics = ? WHERE id = ?", (_dumps(data), job_id))
            return self._append(job_id, type_, data, time.time())

    def events(self, job_id: str, after: int = 0, limit: int = 1000) -> list[Event]:
        with self._lock:
            rows = self._db.execute("SELECT id, type, data, time FROM events WHERE job = ? AND id > ? ORDER BY id "
                                    "LIMIT ?", (job_id, after, limit)).fetchall()
        return [Event(r[0], r[1], json.loads(r[2]), r[3]) for r in rows]

    def _append(self, job_id: str, type_: str, data: dict[str, Any], when: float) -> int:
        """Inside a transaction the caller holds."""
        (last,) = self._db.execute("SELECT last_event FROM jobs WHERE id = ?", (job_id,)).fetchone()
        event_id = last + 1
        self._db.execute("INSERT INTO events (job, id, type, data, time) VALUES (?, ?, ?, ?, ?)",
                         (job_id, event_id, type_, _dumps(data), when))
        self._db.execute("UPDATE jobs SET last_event = ? WHERE id = ?", (event_id, job_id))
        return event_id


_JOB_COLUMNS = "id, kind, graph, options, state, created, started, finished, result, error, metrics"


def _job(row: tuple[Any, ...]) -> Job:
    def loads(text: str | None) -> Any:
        return json.loads(text) if text is not None else None
    return Job(id=row[0], kind=row[1], graph=json.loads(row[2]), options=json.loads(row[3]), state=row[4],
               created=row[5], started=row[6], finished=row[7], result=loads(row[8]), error=loads(row[9]),
               metrics=loads(row[10]))


def _dumps(value: Any) -> str:
    """Strict JSON (a NaN loss becomes null, never a bare NaN a client's parser refuses)."""
    return json.dumps(_finite(value), sort_keys=True, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
