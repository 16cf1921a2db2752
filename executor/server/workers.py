"""Jobs run in worker processes: at most --workers at once, each in its own process started with
`spawn` (CUDA forbids fork), and what they report goes into the job store.

    manager = JobManager(store, settings)
    manager.start()        # jobs a killed server left running are marked interrupted; queued ones run
    manager.wake()         # a job was queued
    manager.cancel(id)     # cooperative stop (the loop stops at its next step), killed after GRACE_S
    manager.stop()         # server shutdown: running jobs stop and are marked interrupted; queued stay queued

A worker whose server was killed (SIGKILL: nobody told it to stop) notices at its next message, which
fails on the pipe no one reads any more, and stops at its next step as if asked to. Until it has
ended it holds the lock on its run's directory (job_runner.RUN_LOCK), so the worker of a resumed job
waits for it and never trains beside it in the same directory.

One thread (the manager's) starts processes, reads their messages and sees them end. Each worker has
its own one-way pipe (a worker killed mid-message spoils only its own pipe), and its process
sentinel tells when it ended: a worker that ends without its final message died, and that is the
job's error. What a worker does is in worker_main (run in the child; heavy imports happen there).
"""
from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from nodecat.executor.graph.errors import GraphProblem
from nodecat.executor.server.jobs import JobStore
from nodecat.executor.server.settings import ServerSettings

GRACE_S = 5.0  # after a stop is asked for, the worker is killed if it has not ended by then
_POLL_S = 0.2
_log = logging.getLogger("nodecat.server")


@dataclass(frozen=True)
class Task:
    """What a worker process is given (pickled by spawn): the job as the store holds it."""

    id: str
    kind: str
    graph: dict[str, Any]
    options: dict[str, Any]
    run_dir: str


@dataclass
class _Worker:
    task: Task
    process: Any  # multiprocessing's SpawnProcess
    conn: Connection
    stop: Any  # multiprocessing Event: set = please stop at the next step
    stop_reason: str | None = None  # "cancelled" or "interrupted" once a stop was asked for
    deadline: float | None = None
    final: dict[str, Any] | None = None
    lost: bool = False  # its pipe broke (e.g. killed mid-message): messages after that are gone
    reported: list[str] = field(default_factory=list)


class JobManager:
    def __init__(self, store: JobStore, settings: ServerSettings, grace_s: float = GRACE_S):
        self.store = store
        self.slots = max(1, settings.workers)
        self.grace_s = grace_s
        self._context = multiprocessing.get_context("spawn")
        self._workers: dict[str, _Worker] = {}
        self._lock = threading.Lock()
        self._stopping = False
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self._thread = threading.Thread(target=self._loop, name="nodecat-jobs", daemon=True)

    # -- called from the server ------------------------------------------------------------------
    def start(self) -> None:
        for job_id in self.store.ids_in_state("running"):  # left by a server that was killed
            self.store.finish(job_id, "interrupted", errors=[GraphProblem(
                "job_state", "the server stopped while this job ran", hint="its files and last checkpoint are "
                "kept in the run's directory; POST /runs/{id}/resume continues a training from its last "
                "checkpoint").to_json()])
        self._thread.start()

    def wake(self) -> None:
        try:
            os.write(self._wake_write, b"!")
        except BlockingIOError:  # the pipe is full of wake-ups already
            pass

    def cancel(self, job_id: str) -> bool:
        """Stop a job: a queued one ends cancelled now; a running one is asked to stop (and killed after
        the grace period). False when the job is not queued or running."""
        with self._lock:
            worker = self._workers.get(job_id)
            if worker is not None:
                if worker.stop_reason is None:
                    self._ask_to_stop(worker, "cancelled")
                    self.store.append_event(job_id, "cancel", {"grace_seconds": self.grace_s})
                return True
        return self.store.finish(job_id, "cancelled", errors=[GraphProblem(
            "job_state", "cancelled before it started").to_json()])

    def running(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._workers

    def stop(self, timeout_s: float | None = None) -> None:
        """Ask every running job to stop (each is marked interrupted), wait for them (killing those past
        the grace period), and end the manager's thread. Queued jobs stay queued for the next start."""
        with self._lock:
            self._stopping = True
            for worker in self._workers.values():
                if worker.stop_reason is None:
                    self._ask_to_stop(worker, "interrupted")
                else:  # a cancel in progress ends as it would have
                    worker.deadline = min(worker.deadline or 0.0, time.monotonic() + self.grace_s)
        self.wake()
        if self._thread.is_alive():
            self._thread.join(timeout_s if timeout_s is not None else self.grace_s + 10)
        os.close(self._wake_read)
        os.close(self._wake_write)

    # -- the manager's thread --------------------------------------------------------------------
    def _ask_to_stop(self, worker: _Worker, reason: str) -> None:
        worker.stop_reason = reason
        worker.deadline = time.monotonic() + self.grace_s
        worker.stop.set()

    def _loop(self) -> None:
        while True:
            try:
                if not self._step():
                    return
            except Exception:  # never let one bad message end the thread that runs every job
                _log.exception("the job manager failed; it goes on")
                time.sleep(_POLL_S)

    def _step(self) -> bool:
        with self._lock:
            if self._stopping and not self._workers:
                return False
            if not self._stopping:
                self._start_queued()
            workers = list(self._workers.values())
        waitables: list[Any] = [self._wake_read]
        for worker in workers:
            waitables.append(worker.process.sentinel)
            if not worker.lost:
                waitables.append(worker.conn)
        ready = multiprocessing.connection.wait(waitables, timeout=_POLL_S)
        if self._wake_read in ready:
            os.read(self._wake_read, 4096)
        for worker in workers:
            self._drain(worker)
            if not worker.process.is_alive():
                self._drain(worker)
                self._end(worker)
            elif worker.deadline is not None and time.monotonic() > worker.deadline:
                _log.warning("job %s did not stop within %.0f s: killed", worker.task.id, self.grace_s)
                worker.process.kill()
                worker.deadline = None
        return True

    def _start_queued(self) -> None:
        """Under the lock: start queued jobs, oldest first, while slots are free."""
        for job_id in self.store.ids_in_state("queued"):
            if len(self._workers) >= self.slots:
                return
            job = self.store.get(job_id)
            if job is None:
                continue
            task = Task(job.id, job.kind, job.graph, job.options, str(self.store.run_dir(job.id)))
            receive, send = self._context.Pipe(duplex=False)
            stop = self._context.Event()
            process = self._context.Process(target=worker_main, args=(task, send, stop), daemon=True,
                                            name=f"nodecat-job-{job.id[:8]}")
            try:
                process.start()
            except Exception as exc:  # noqa: BLE001 - e.g. out of processes: the job's error, not the server's
                self.store.finish(job.id, "failed", errors=[GraphProblem(
                    "internal_error", f"the worker process could not start: {type(exc).__name__}: {exc}").to_json()])
                continue
            send.close()  # the child holds the only writer: its end closes the pipe
            started = {"device": job.options.get("device", "auto"), "pid": process.pid}
            if job.options.get("resume"):
                started["resumed"] = True
            if not self.store.start(job.id, started):
                process.kill()  # cancelled (or deleted) meanwhile
                process.join()
                receive.close()
                continue
            self._workers[job.id] = _Worker(task, process, receive, stop)

    def _drain(self, worker: _Worker) -> None:
        while not worker.lost:
            try:
                if not worker.conn.poll():
                    return
                type_, data = worker.conn.recv()
            except (EOFError, OSError, ValueError, TypeError):  # ended, or a message cut short by a kill
                worker.lost = True
                return
            except Exception:  # noqa: BLE001 - an unreadable message (a pickle of something odd)
                worker.lost = True
                return
            if type_ == "final":
                worker.final = data
            else:
                self.store.append_event(worker.task.id, type_, data)

    def _end(self, worker: _Worker) -> None:
        worker.process.join(1)
        worker.conn.close()
        with self._lock:
            self._workers.pop(worker.task.id, None)
        job_id, final, reason = worker.task.id, worker.final, worker.stop_reason
        if final is not None and final["outcome"] == "succeeded":
            self.store.finish(job_id, "succeeded", result=final.get("result"))
        elif final is not None and final["outcome"] == "stopped":
            what = "cancelled" if reason == "cancelled" else "the server stopped"
            self.store.finish(job_id, reason or "cancelled", result=final.get("result"), errors=[GraphProblem(
                "job_state", f"{what}: {final.get('message', 'stopped')}",
                hint="the run's directory keeps its last checkpoint").to_json()])
        elif final is not None and reason is None:
            self.store.finish(job_id, "failed", errors=final.get("errors"))
        elif reason is not None:
            how = "ended" if final is not None else f"was killed ({_exit_text(worker.process.exitcode)})"
            self.store.finish(job_id, reason, errors=[GraphProblem(
                "job_state", f"{'cancelled' if reason == 'cancelled' else 'the server stopped'}: the worker {how} "
                "before it could stop at a step", hint="the run's directory keeps its last checkpoint, if any"
            ).to_json()] + ((final.get("errors") or []) if final is not None else []))
        else:
            code = "training_failed" if worker.task.kind == "train" else "node_failed"
            self.store.finish(job_id, "failed", errors=[GraphProblem(
                code, f"the worker process died ({_exit_text(worker.process.exitcode)}) before reporting a result",
                hint="its last output lines are in the job's events; out of memory is a common cause").to_json()])


def _exit_text(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        import signal
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def worker_main(task: Task, conn: Connection, stop: Any) -> None:
    """The worker process: run the job, report as it goes, send the outcome last."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the server decides
    from nodecat.executor.server.job_runner import run_task
    run_task(task, conn, stop)
