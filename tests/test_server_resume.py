"""Resuming a training over HTTP: the server killed with SIGKILL during a training job, started again on
the same --state, the job shown interrupted and resumed with POST /runs/{id}/resume; it goes on from
its newest checkpoint under the same id, its event log goes on, and it ends with a continuous history,
no torn file, and the weights of an uninterrupted local `nodecat train`. The worker the killed server
left behind stops by itself (its pipe is gone) and the resumed worker never trains beside it (the run
directory's lock). What cannot be resumed is 409 job_state."""
from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import numpy as np
from click.testing import CliRunner
from safetensors.numpy import load_file

from serving import running_server
from test_server_runs import DEMO, demo_graph, events, submit

from nodecat.executor.cli.main import main
from nodecat.executor.server.client import Client

# Small batches make each epoch of the demo take about a second here, so the server is killed well
# before the job's last epoch.
EPOCHS, SEED, BATCH = 4, 11, 2


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie, ended but not yet reaped by its new parent, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until_gone(pid: int, seconds: float = 60) -> bool:
    done = threading.Event()
    for _ in range(int(seconds / 0.1)):
        if not alive(pid):
            return True
        done.wait(0.1)
    return not alive(pid)


def test_a_training_killed_with_its_server_resumes_and_trains_as_an_uninterrupted_one(tmp_path):
    state = tmp_path / "state"
    orphan: int | None = None
    try:
        with running_server(state) as first, first.client() as client:
            run_id = submit(client, "train", demo_graph(), epochs=EPOCHS, seed=SEED, batch_size=BATCH)
            before = events(client, run_id, until="epoch")
            first.process.kill()  # SIGKILL: nothing is told to stop, the worker is not killed with it
            first.process.wait()
        assert before[-1]["event"] == "epoch" and before[-1]["data"]["epoch"] < EPOCHS
        orphan = next(e["data"]["pid"] for e in before if e["event"] == "state" and e["data"]["state"] == "running")

        with running_server(state) as second, second.client() as client:
            job = client.get(f"/runs/{run_id}").json()
            assert job["state"] == "interrupted" and job["error"][0]["code"] == "job_state", job
            logged = events(client, run_id)
            assert logged[-1]["event"] == "error" and logged[-1]["data"]["state"] == "interrupted"

            answer = client.post(f"/runs/{run_id}/resume")
            assert answer.status_code == 202, answer.text
            assert answer.json()["id"] == run_id and answer.json()["state"] == "queued"
            assert answer.json()["error"] is None and answer.json()["result"] is None
            again = client.post(f"/runs/{run_id}/resume")  # queued or running now: not again
            assert again.status_code == 409 and again.json()["errors"][0]["code"] == "job_state", again.text

            rest = events(client, run_id, last=logged[-1]["id"])
            assert [e["id"] for e in rest] == list(range(logged[-1]["id"] + 1, logged[-1]["id"] + 1 + len(rest)))
            assert rest[0]["event"] == "state" and rest[0]["data"] == {"state": "queued", "resumed": True,
                                                                        "after": "interrupted"}
            running = [e["data"] for e in rest if e["event"] == "state"][1]
            assert running["state"] == "running" and running["resumed"] is True and running["pid"] != orphan
            final = rest[-1]
            assert final["event"] == "result" and final["data"]["state"] == "succeeded", final
            result = final["data"]["result"]
            assert result["epochs"] == EPOCHS and not result.get("stopped")
            resumed_from = result["resumed_from"]
            # from the newest checkpoint: epoch 1 (or later, if the orphan finished an epoch before it stopped)
            assert 1 <= resumed_from < EPOCHS
            assert [e["data"]["epoch"] for e in rest if e["event"] == "epoch"] == list(range(resumed_from + 1,
                                                                                              EPOCHS + 1))
            # the whole log, from the start, goes past the interrupted end to the result
            whole = events(client, run_id)
            assert [e["id"] for e in whole] == list(range(1, len(whole) + 1)) and whole[-1] == final
            assert [e["data"]["state"] for e in whole if e["event"] in ("state", "error", "result")] == [
                "queued", "running", "interrupted", "queued", "running", "succeeded"]
            # nodecat.Client follows the same log past the interrupted end to the result
            with Client(second.url) as follower:
                followed = list(follower.events(run_id))
            assert [e[0] for e in followed] == [e["id"] for e in whole] and followed[-1][1] == "result"

            job = client.get(f"/runs/{run_id}").json()
            assert job["state"] == "succeeded" and job["error"] is None and job["metrics"]["epoch"] == EPOCHS
            history = client.get(f"/runs/{run_id}/files/history.jsonl").text
            assert [json.loads(line)["epoch"] for line in history.splitlines()] == list(range(1, EPOCHS + 1))
            listed = {f["path"] for f in client.get(f"/runs/{run_id}/files").json()["files"]}
            assert ".worker.lock" not in listed and "weights.safetensors" in listed
            (tmp_path / "served.safetensors").write_bytes(
                client.get(f"/runs/{run_id}/files/weights.safetensors").content)

        # the worker the killed server left stopped by itself, before the resumed one trained
        assert wait_until_gone(orphan), f"the killed server's worker {orphan} still runs"
        run_dir = state / "runs" / run_id
        for path in run_dir.rglob("*"):  # no torn file: every JSON parses, every tensor file loads
            if path.suffix == ".jsonl":
                for line in path.read_text().splitlines():
                    json.loads(line)
            elif path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".safetensors":
                load_file(str(path))

        local = CliRunner().invoke(main, ["train", str(DEMO), "--epochs", str(EPOCHS), "--seed", str(SEED),
                                          "--batch-size", str(BATCH), "--no-progress", "--out", str(tmp_path / "local")])
        assert local.exit_code == 0, local.output
        served = load_file(str(tmp_path / "served.safetensors"))
        trained = load_file(str(tmp_path / "local" / "weights.safetensors"))
        assert served.keys() == trained.keys()
        for name in trained:
            assert np.array_equal(served[name], trained[name]), name
        local_history = (tmp_path / "local" / "history.jsonl").read_text().splitlines()
        for got, expected in zip((run_dir / "history.jsonl").read_text().splitlines(), local_history):
            got_row, expected_row = json.loads(got), json.loads(expected)
            for key in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy"):
                assert got_row[key] == expected_row[key], key
    finally:
        if orphan is not None and alive(orphan):  # only if the test failed: never leave it running
            os.kill(orphan, signal.SIGKILL)


def test_what_cannot_be_resumed_is_409(tmp_path):
    from nodecat.executor.server.jobs import JobStore
    state = tmp_path / "state"
    store = JobStore(state)

    def ended(kind: str, how: str) -> str:
        job = store.create(kind, demo_graph(), {"epochs": 2} if kind == "train" else {"to": "python"})
        store.start(job.id, {})
        store.finish(job.id, how, result={"epochs": 2} if how == "succeeded" else None)
        return job.id

    succeeded = ended("train", "succeeded")
    cancelled_early = ended("train", "cancelled")  # before it finished an epoch: no checkpoint
    failed_early = ended("train", "failed")
    export = ended("export", "interrupted")
    store.close()
    with running_server(state) as server, server.client() as client:
        for run_id, why in ((succeeded, "succeeded"), (cancelled_early, "no checkpoint"),
                            (failed_early, "no checkpoint"), (export, "export job")):
            answer = client.post(f"/runs/{run_id}/resume")
            assert answer.status_code == 409, (why, answer.text)
            problem = answer.json()["errors"][0]
            assert problem["code"] == "job_state" and why in problem["message"], (why, problem)
            assert client.get(f"/runs/{run_id}").json()["state"] != "queued"
        assert client.get(f"/runs/{succeeded}/events").text.count("event: result") == 1  # its log did not move
        assert client.post("/runs/0123456789abcdef0123456789abcdef/resume").status_code == 404
        refused = CliRunner().invoke(main, ["runs", "--server", server.url, "--resume", succeeded, "--json"])
        assert refused.exit_code == 1 and json.loads(refused.output)["errors"][0]["code"] == "job_state"


def test_a_worker_waits_for_the_run_directory_the_worker_before_it_holds(tmp_path):
    """The lock that keeps a resumed job's worker from training beside the worker a killed server left:
    taken while it is held, it waits (and gives up when a stop is asked for); let go, it is taken."""
    import fcntl

    from nodecat.executor.server.job_runner import RUN_LOCK, Reporter, hold_run_dir

    class Pipe:
        def send(self, message: Any) -> None:
            pass

    class Stop:
        def __init__(self, value: bool) -> None:
            self.value = value

        def is_set(self) -> bool:
            return self.value

    held = open(tmp_path / RUN_LOCK, "a+b")  # noqa: SIM115 - closed below, as a worker ends
    fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert hold_run_dir(tmp_path, Reporter(Pipe(), Stop(True))) is None  # held by another: a stop ends the wait
    taken: list[Any] = []
    waiter = threading.Thread(target=lambda: taken.append(hold_run_dir(tmp_path, Reporter(Pipe(), Stop(False)))))
    waiter.start()
    held.close()  # as the old worker's end lets go of it
    waiter.join(30)
    assert not waiter.is_alive() and taken and taken[0] is not None
    again = open(tmp_path / RUN_LOCK, "a+b")  # noqa: SIM115 - closed in finally
    try:
        fcntl.flock(again.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        raise AssertionError("the lock was not held")
    except BlockingIOError:
        pass
    finally:
        again.close()
        taken[0].close()
