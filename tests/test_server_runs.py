"""Jobs through the real server over HTTP: a training job of the demo graph followed over SSE to its end,
its curves and weights fetched and equal to a local `nodecat train`; a resumed event stream; an
invalid graph refused with nothing queued; a run job's outputs equal to nodecat.run; cancel during
training; file paths that leave the run; unknown ids; delete; and a restart that finds a job left
running (interrupted) and one queued (it runs), then a SIGTERM during training (interrupted, with a
checkpoint)."""
from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from typing import Any, Iterator

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from safetensors.numpy import load_file

from serving import running_server

from nodecat.executor.cli.main import main
from nodecat.executor.training.data import DEMO_DIR

DEMO = DEMO_DIR / "digits_cnn.json"


def demo_graph() -> dict[str, Any]:
    return json.loads(DEMO.read_text())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_server(tmp_path_factory.mktemp("runs") / "state") as running:
        yield running


@pytest.fixture(scope="module")
def client(server: Any) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def events(client: httpx.Client, run_id: str, last: int | None = None, until: str | None = None,
           timeout: float = 60) -> list[dict[str, Any]]:
    """The run's SSE events as {"id", "event", "data"} until the stream ends (or an event of type `until`)."""
    headers = {"Last-Event-ID": str(last)} if last is not None else {}
    found: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    with client.stream("GET", f"/runs/{run_id}/events", headers=headers, timeout=timeout) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("id: "):
                current["id"] = int(line[4:])
            elif line.startswith("event: "):
                current["event"] = line[7:]
            elif line.startswith("data: "):
                current["data"] = json.loads(line[6:])
            elif line == "" and "event" in current:
                found.append(current)
                if current["event"] == until:
                    break
                current = {}
    return found


def submit(client: httpx.Client, kind: str, graph: dict[str, Any], **options: Any) -> str:
    answer = client.post("/runs", json={"graph": graph, "kind": kind, "options": options})
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["state"] == "queued" and body["links"]["events"] == f"/runs/{body['id']}/events"
    return str(body["id"])


def test_a_training_job_streams_its_epochs_and_trains_as_nodecat_train(server, client, tmp_path):
    run_id = submit(client, "train", demo_graph(), epochs=2, seed=5)
    stream = events(client, run_id)
    kinds = [e["event"] for e in stream]
    assert [e["id"] for e in stream] == list(range(1, len(stream) + 1))
    assert [e["data"]["state"] for e in stream if e["event"] == "state"] == ["queued", "running"]
    epochs = [e["data"] for e in stream if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2] and all(e["epochs"] == 2 for e in epochs)
    assert {"loss", "accuracy", "val_loss", "samples_per_second", "eta_seconds"} <= set(epochs[0])
    assert epochs[0]["checkpoint"] == "checkpoints/epoch-000001"
    assert "step" in kinds
    assert any(e["event"] == "output" and e["data"]["line"].startswith("epoch 1/2") for e in stream)
    assert kinds[-1] == "result" and stream[-1]["data"]["state"] == "succeeded"
    result = stream[-1]["data"]["result"]
    assert result["epochs"] == 2 and result["weights"] == "weights.safetensors"

    job = client.get(f"/runs/{run_id}").json()
    assert job["state"] == "succeeded" and job["metrics"]["epoch"] == 2 and job["error"] is None
    assert job["started"] >= job["created"] and job["finished"] >= job["started"]
    listed = {f["path"] for f in client.get(f"/runs/{run_id}/files").json()["files"]}
    assert {"curves.png", "history.jsonl", "weights.safetensors",
            "checkpoints/epoch-000002/tensors.safetensors"} <= listed
    assert client.get(f"/runs/{run_id}/files/curves.png").content.startswith(b"\x89PNG")
    (tmp_path / "served.safetensors").write_bytes(client.get(f"/runs/{run_id}/files/weights.safetensors").content)

    local = CliRunner().invoke(main, ["train", str(DEMO), "--epochs", "2", "--seed", "5", "--no-progress",
                                      "--out", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    served, trained = load_file(str(tmp_path / "served.safetensors")), load_file(str(tmp_path / "local" /
                                                                                    "weights.safetensors"))
    assert served.keys() == trained.keys()
    for name in trained:
        assert np.array_equal(served[name], trained[name]), name

    # resumed with Last-Event-ID: only the later events, still ending with the result
    again = events(client, run_id, last=3)
    assert [e["id"] for e in again] == [e["id"] for e in stream if e["id"] > 3]
    assert again[-1]["event"] == "result"
    assert events(client, run_id, last=stream[-1]["id"]) == []  # nothing after the end: the stream just ends


def test_an_invalid_graph_is_refused_with_every_problem_and_nothing_is_queued(server, client):
    before = client.get("/runs").json()["runs"]
    graph = demo_graph()
    graph["nodes"][1]["op"] = "os.system"
    graph["nodes"][3]["args"] = {"no_such_arg": 1}
    answer = client.post("/runs", json={"graph": graph, "kind": "train", "options": {"epochs": 1}})
    assert answer.status_code == 422
    problems = answer.json()["errors"]
    assert len(problems) >= 2 and {"unknown_op", "unknown_arg"} <= {p["code"] for p in problems}
    bad_options = client.post("/runs", json={"graph": demo_graph(), "kind": "train",
                                             "options": {"epochs": 0, "colour": "red"}})
    assert bad_options.status_code == 422
    assert {p["pointer"] for p in bad_options.json()["errors"]} == {"/options/epochs", "/options/colour"}
    outside = client.post("/runs", json={"graph": demo_graph(), "kind": "train",
                                         "options": {"data": ["/etc/passwd"]}})
    assert outside.status_code == 422 and outside.json()["errors"][0]["code"] == "path_outside_roots"
    assert client.post("/runs", content=b"{not json", headers={"content-type": "application/json"}
                       ).status_code == 422
    assert client.get("/runs").json()["runs"] == before
    assert len(list((server.state / "runs").iterdir())) == len(before)


def test_a_run_job_writes_the_outputs_of_nodecat_run(server, client):
    import nodecat
    import torch
    images = np.random.default_rng(0).standard_normal((3, 1, 8, 8)).astype(np.float32)
    run_id = submit(client, "run", demo_graph(), inputs={"image": {"data": images.tolist(), "dtype": "float32"}},
                    seed=7)
    final = events(client, run_id)[-1]
    assert final["event"] == "result", final
    assert final["data"]["result"]["outputs"]["logits"] == {"file": "outputs/logits.npy", "shape": [3, 10],
                                                             "dtype": "float32"}
    served = np.load(io.BytesIO(client.get(f"/runs/{run_id}/files/outputs/logits.npy").content))
    checked = nodecat.validate(DEMO)
    torch.manual_seed(7)
    expected = nodecat.run(checked, {"image": images}, device="cpu")["logits"]
    assert np.array_equal(served, expected)
    bad = client.post("/runs", json={"graph": demo_graph(), "kind": "run",
                                     "options": {"inputs": {"image": {"data": [[1, 2]], "dtype": "float32"}}}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "bad_input_value"


def test_cancel_during_training_ends_cancelled_with_a_checkpoint(server, client):
    run_id = submit(client, "train", demo_graph(), epochs=500, seed=1)
    first = events(client, run_id, until="epoch")
    assert first[-1]["event"] == "epoch"
    refused = client.delete(f"/runs/{run_id}")
    assert refused.status_code == 409 and refused.json()["errors"][0]["code"] == "job_state"
    asked = time.monotonic()
    assert client.post(f"/runs/{run_id}/cancel").status_code == 202
    rest = events(client, run_id, last=first[-1]["id"])
    took = time.monotonic() - asked
    assert rest[-1]["event"] == "error" and rest[-1]["data"]["state"] == "cancelled", rest[-1]
    assert took < 10, took  # a step, the process's exit and two polls; slack for a busy 2-core machine
    assert any(e["event"] == "cancel" for e in rest)
    job = client.get(f"/runs/{run_id}").json()
    assert job["state"] == "cancelled" and job["error"][0]["code"] == "job_state"
    assert job["result"]["stopped"] is True
    files = {f["path"] for f in client.get(f"/runs/{run_id}/files").json()["files"]}
    assert any(p.startswith("checkpoints/epoch-") and p.endswith("tensors.safetensors") for p in files), files
    assert client.post(f"/runs/{run_id}/cancel").status_code == 409  # already ended


def test_a_worker_that_dies_is_the_jobs_error(server, client):
    run_id = submit(client, "train", demo_graph(), epochs=500, seed=3)
    started = events(client, run_id, until="epoch")
    pid = next(e["data"]["pid"] for e in started if e["event"] == "state" and e["data"]["state"] == "running")
    os.kill(pid, signal.SIGKILL)
    final = events(client, run_id, last=started[-1]["id"])[-1]
    assert final["event"] == "error" and final["data"]["state"] == "failed"
    problem = final["data"]["errors"][0]
    assert problem["code"] == "training_failed" and "SIGKILL" in problem["message"], problem


def test_file_paths_cannot_leave_the_run(server, client):
    run_id = client.get("/runs", params={"state": "succeeded"}).json()["runs"][0]["id"]
    run_dir = server.state / "runs" / run_id
    (run_dir / "escape").symlink_to(server.state / "jobs.sqlite")
    raw = httpx.Client(base_url=server.url)  # sent as written: no client-side normalisation of the path
    for path, status in ((f"/runs/{run_id}/files/%2e%2e/%2e%2e/jobs.sqlite", 422),
                         (f"/runs/{run_id}/files/..%2F..%2Fjobs.sqlite", 422),
                         (f"/runs/{run_id}/files//etc/passwd", 422),
                         (f"/runs/{run_id}/files/%2Fetc%2Fpasswd", 422),
                         (f"/runs/{run_id}/files/escape", 404),
                         (f"/runs/{run_id}/files/no-such-file", 404),
                         (f"/runs/{run_id}/files/checkpoints", 404)):
        answer = raw.send(httpx.Request("GET", httpx.URL(server.url + path)))
        assert answer.status_code == status, (path, answer.text)
        assert answer.json()["ok"] is False and b"SQLite" not in answer.content
    raw.close()


def test_unknown_runs_are_404_and_delete_removes_the_files(server, client):
    for method, path in (("GET", "/runs/0123456789abcdef0123456789abcdef"), ("GET", "/runs/not-an-id"),
                         ("POST", "/runs/0123456789abcdef0123456789abcdef/cancel"),
                         ("DELETE", "/runs/0123456789abcdef0123456789abcdef"),
                         ("GET", "/runs/0123456789abcdef0123456789abcdef/events"),
                         ("GET", "/runs/0123456789abcdef0123456789abcdef/files/curves.png")):
        answer = client.request(method, path)
        assert answer.status_code == 404 and answer.json()["errors"][0]["code"] == "not_found", (method, path)
    runs = client.get("/runs").json()["runs"]
    assert [r["created"] for r in runs] == sorted((r["created"] for r in runs), reverse=True)
    ended = runs[-1]["id"]
    assert (server.state / "runs" / ended).is_dir()
    assert client.delete(f"/runs/{ended}").json() == {"ok": True, "deleted": ended}
    assert not (server.state / "runs" / ended).exists()
    assert client.get(f"/runs/{ended}").status_code == 404


def test_a_restart_interrupts_jobs_left_running_and_runs_queued_ones(tmp_path):
    from nodecat.executor.server.jobs import JobStore
    state = tmp_path / "state"
    store = JobStore(state)
    left = store.create("train", demo_graph(), {"epochs": 3})
    store.start(left.id, {})  # as a server killed during the job leaves it
    queued = store.create("train", demo_graph(), {"epochs": 500, "seed": 2, "data": [str(DEMO_DIR / "digits.npz")],
                                                  "data_roots": [str(DEMO_DIR)]})  # as POST /runs stores them
    store.close()
    with running_server(state) as server, server.client() as client:
        job = client.get(f"/runs/{left.id}").json()
        assert job["state"] == "interrupted" and job["error"][0]["code"] == "job_state"
        assert events(client, left.id)[-1]["data"]["state"] == "interrupted"
        assert events(client, queued.id, until="epoch")[-1]["event"] == "epoch"  # the queued job runs
        followed: list[dict[str, Any]] = []  # a client still following the job when the server stops
        follower = threading.Thread(target=lambda: followed.extend(events(client, queued.id)), daemon=True)
        follower.start()
        time.sleep(1)
        server.process.send_signal(signal.SIGTERM)  # running jobs are told to stop, and marked interrupted
        assert server.process.wait(timeout=30) == 0
        follower.join(10)
        assert not follower.is_alive() and followed  # its stream ended; it resumes with Last-Event-ID
    store = JobStore(state)
    stopped = store.get(queued.id)
    assert stopped is not None and stopped.state == "interrupted", stopped
    assert stopped.result is not None and stopped.result["stopped"] is True
    assert store.events(queued.id)[-1].type == "error"
    assert list((state / "runs" / queued.id / "checkpoints").glob("epoch-*/tensors.safetensors"))
    store.close()


class StopInSecondEpoch:
    """A TrainObserver (what a worker passes to training) that asks the loop to stop a few steps into
    the second epoch."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, int, int]] = []
        self.epochs: list[tuple[int, str | None]] = []
        self.asked_after_first = 0

    def on_step(self, epoch: int, epochs: int, step: int, steps: int, loss: float, metrics: Any,
                samples_per_second: float) -> None:
        assert isinstance(loss, float) and all(isinstance(v, float) for v in metrics.values())
        self.steps.append((epoch, step, steps))

    def on_epoch(self, epoch: int, epochs: int, row: Any, checkpoint: str | None) -> None:
        self.epochs.append((epoch, checkpoint))

    def stop_requested(self) -> bool:
        if self.epochs:
            self.asked_after_first += 1
        return self.asked_after_first > 5


@pytest.mark.parametrize("library", ["torch", "keras"])
def test_the_training_observer_hears_each_epoch_and_stops_the_loop_at_a_step(library, tmp_path):
    """The hook server jobs train through: a stop keeps the last finished epoch's checkpoint and drops
    the partial epoch, so a resume gives the weights of an uninterrupted run."""
    from nodecat.executor.training.launch import train
    from nodecat.executor.training.session import TrainOptions
    if library == "torch":
        graph: Any = DEMO
    else:
        from test_train_keras import digits_graph, write
        graph = write(digits_graph(epochs=3), tmp_path / "graph")
    observer = StopInSecondEpoch()
    stopped = train(graph, TrainOptions(out_dir=tmp_path / "split", epochs=3, progress=False, device="cpu",
                                        observer=observer))
    assert stopped.stopped and stopped.epochs == 1 and stopped.to_json()["stopped"] is True
    assert observer.epochs == [(1, str(tmp_path / "split" / "checkpoints" / "epoch-000001"))]
    assert observer.steps[-1][0] == 1 and observer.steps[-1][1] == observer.steps[-1][2]  # epoch 1 ran to its end
    assert not (tmp_path / "split" / "weights.safetensors").exists()
    if library == "keras":
        return  # test_train_keras checks that a Keras resume continues exactly
    resumed = train(graph, TrainOptions(out_dir=tmp_path / "split", epochs=2, resume=True, progress=False,
                                        device="cpu"))
    whole = train(graph, TrainOptions(out_dir=tmp_path / "whole", epochs=2, progress=False, device="cpu"))
    assert resumed.resumed_from == 1 and not resumed.stopped
    got, expected = load_file(str(resumed.files["weights"])), load_file(str(whole.files["weights"]))
    for name in expected:
        assert np.array_equal(got[name], expected[name]), name
