"""The server's client, through real HTTP against `nodecat serve` (one server for the module, with a
token): nodecat.Client.check equal to `nodecat check --json`; `nodecat submit --follow` of the demo
graph with its epoch lines and its files downloaded, equal to the job's; a run job with an uploaded
--input equal to nodecat.run; an invalid graph (exit 1, every problem), a wrong token (exit 2,
`unauthorized`) and a server that is not there (exit 2); `nodecat runs`; Client.events resumed after an
id and across a broken stream; and `import nodecat` without httpx."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

from serving import free_port, running_server

import nodecat
from nodecat.executor.cli.main import main
from nodecat.executor.server.client import Client, ClientError, ServerError
from nodecat.executor.training.data import DEMO_DIR

ROOT = Path(__file__).resolve().parents[1]
DEMO = DEMO_DIR / "digits_cnn.json"
TOKEN = "client-test-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_server(tmp_path_factory.mktemp("client") / "state", "--token", TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: Any) -> Iterator[Client]:
    with nodecat.Client(server.url, token=TOKEN) as c:
        yield c


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def followed(server: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """`nodecat submit --follow` of a one-epoch training of the demo graph."""
    out = tmp_path_factory.mktemp("followed") / "run"
    result = cli("submit", DEMO, "--server", server.url, "--token", TOKEN, "--epochs", "1", "--seed", "0",
                 "--follow", "--out", out, "--no-progress")
    return result, out


def test_client_check_equals_nodecat_check_json(client):
    served = client.check(ROOT / "examples" / "cnn.json")
    local = CliRunner().invoke(main, ["check", str(ROOT / "examples" / "cnn.json"), "--json"])
    assert local.exit_code == 0, local.output
    expected = json.loads(local.stdout)
    assert served["ok"] is True and served["graph"] is None
    assert {k: v for k, v in served.items() if k != "graph"} == {k: v for k, v in expected.items() if k != "graph"}
    graph = json.loads((ROOT / "examples" / "cnn.json").read_text())
    assert client.check(graph)["shapes"] == served["shapes"]  # a dict, as a path
    assert client.check(nodecat.load(ROOT / "examples" / "cnn.json"))["shapes"] == served["shapes"]  # a Graph


def test_submit_follow_trains_and_downloads_the_jobs_files(followed, client):
    result, out = followed
    assert result.exit_code == 0, result.output
    assert "epoch 1/1  loss " in result.output and "samples/s" in result.output  # the local summary line
    assert "succeeded" in result.output
    run_id = next(line.split()[3] for line in result.output.splitlines() if line.startswith("queued train job"))
    job = client.run(run_id)
    assert job["state"] == "succeeded" and job["result"]["epochs"] == 1
    served = {f["path"] for f in client.files(run_id)}
    downloaded = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"curves.png", "weights.safetensors", "history.jsonl"} <= downloaded
    assert downloaded == {p for p in served if not p.startswith(("checkpoints/", "inputs/"))}
    for path in ("curves.png", "weights.safetensors"):
        answer = httpx.get(f"{client.url}/runs/{run_id}/files/{path}", headers={"Authorization": f"Bearer {TOKEN}"})
        assert (out / path).read_bytes() == answer.content, path
    assert not list(out.rglob("*.part"))  # downloads are renamed into place


def test_a_run_job_with_an_uploaded_input_equals_nodecat_run(server, tmp_path):
    import torch
    images = np.random.default_rng(1).standard_normal((2, 1, 8, 8)).astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    result = cli("submit", DEMO, "--server", server.url, "--token", TOKEN, "--run", "--input",
                 f"image={tmp_path / 'images.npy'}", "--seed", "7", "--follow", "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)  # with --json, stdout is one JSON object
    assert answer["ok"] is True and answer["state"] == "succeeded"
    assert str(tmp_path / "out" / "outputs" / "logits.npy") in answer["downloaded"]
    served = np.load(tmp_path / "out" / "outputs" / "logits.npy")
    torch.manual_seed(7)
    expected = nodecat.run(nodecat.validate(DEMO), {"image": images}, device="cpu")["logits"]
    assert np.array_equal(served, expected)


def test_an_invalid_graph_exits_1_with_every_problem(server, client, tmp_path):
    before = len(client.runs())
    graph = json.loads(DEMO.read_text())
    graph["nodes"][1]["op"] = "os.system"
    graph["nodes"][3]["args"] = {"no_such_arg": 1}
    (tmp_path / "bad.json").write_text(json.dumps(graph))
    result = cli("submit", tmp_path / "bad.json", "--server", server.url, "--token", TOKEN, "--follow")
    assert result.exit_code == 1, result.output
    assert "[unknown_op]" in result.output and "[unknown_arg]" in result.output and "Traceback" not in result.output
    as_json = cli("submit", tmp_path / "bad.json", "--server", server.url, "--token", TOKEN, "--json")
    assert as_json.exit_code == 1
    assert {"unknown_op", "unknown_arg"} <= {p["code"] for p in json.loads(as_json.stdout)["errors"]}
    with pytest.raises(ServerError) as caught:
        client.submit(graph, "train", epochs=1)
    assert caught.value.status == 422 and isinstance(caught.value, nodecat.GraphError)
    assert {"unknown_op", "unknown_arg"} <= {p.code for p in caught.value.problems}
    assert all(p.pointer.startswith("/nodes/") for p in caught.value.problems)
    assert len(client.runs()) == before  # nothing queued


def test_a_wrong_token_exits_2_and_no_server_exits_2(server):
    result = cli("runs", "--server", server.url, "--token", "wrong")
    assert result.exit_code == 2 and "[unauthorized]" in result.output, result.output
    missing = cli("submit", DEMO, "--server", server.url)
    assert missing.exit_code == 2 and "[unauthorized]" in missing.output
    nobody = f"http://127.0.0.1:{free_port()}"
    result = cli("runs", "--server", nobody)
    assert result.exit_code == 2 and f"cannot reach the nodecat server at {nobody}" in result.output
    assert "Traceback" not in result.output
    with pytest.raises(ClientError) as caught:
        Client(nobody).runs()
    assert caught.value.url == nobody


def test_runs_lists_shows_and_refuses(server, followed):
    result = cli("runs", "--server", server.url, "--token", TOKEN, "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["runs"]
    trained = [job for job in listed if job["kind"] == "train" and job["state"] == "succeeded"]
    assert trained and trained[0]["metrics"]["epoch"] == 1
    table = cli("runs", "--server", server.url, "--token", TOKEN)
    assert table.exit_code == 0 and trained[0]["id"] in table.output and "epoch 1/1" in table.output
    one = cli("runs", "--server", server.url, "--token", TOKEN, trained[0]["id"])
    assert one.exit_code == 0 and "weights.safetensors" in one.output
    ended = cli("runs", "--server", server.url, "--token", TOKEN, "--cancel", trained[0]["id"])
    assert ended.exit_code == 1 and "[job_state]" in ended.output
    unknown = cli("runs", "--server", server.url, "--token", TOKEN, "0" * 32)
    assert unknown.exit_code == 1 and "[not_found]" in unknown.output


def test_events_resume_after_an_id_and_across_a_broken_stream(client, followed):
    run_id = next(job["id"] for job in client.runs("succeeded") if job["kind"] == "train")
    every = list(client.events(run_id))
    assert [e[0] for e in every] == list(range(1, len(every) + 1)) and every[-1][1] == "result"
    assert list(client.events(run_id, after=3)) == every[3:]
    assert list(client.events(run_id, after=every[-1][0])) == []

    # a stream that breaks after its second event is opened again with Last-Event-ID: 2
    asked: list[str | None] = []
    real = client._http

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers.get("last-event-id"))
        answer = real.send(httpx.Request(request.method, request.url, headers=request.headers), stream=True)
        body = answer.read()
        if len(asked) == 1:
            cut = body.index(b"\n\n", body.index(b"id: 2")) + 2
            return httpx.Response(200, headers=answer.headers, stream=_Broken(body[:cut]))
        return httpx.Response(answer.status_code, headers=answer.headers, content=body)

    broken = Client(client.url, token=TOKEN)
    broken._http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(handler),
                                headers={"Authorization": f"Bearer {TOKEN}"})
    stream = broken.events(run_id)
    assert list(stream) == every and stream.last_id == every[-1][0]
    assert asked[:2] == [None, "2"]


class _Broken(httpx.SyncByteStream):
    """A response body that stops with a broken connection after `data`."""

    def __init__(self, data: bytes):
        self.data = data

    def __iter__(self) -> Iterator[bytes]:
        yield self.data
        raise httpx.ReadError("connection reset")


def test_ctrl_c_while_following_leaves_the_job_running(server, client, monkeypatch):
    def interrupted(self: Client, run_id: str, on_event: Any = None) -> dict[str, Any]:
        raise KeyboardInterrupt

    monkeypatch.setattr(Client, "wait", interrupted)
    before = {job["id"] for job in client.runs()}
    result = cli("submit", DEMO, "--server", server.url.removeprefix("http://"), "--token", TOKEN, "--epochs",
                 "500", "--follow")  # a URL without a scheme is http://
    assert result.exit_code == 130, result.output
    assert "goes on on the server" in result.output and "--cancel" in result.output
    (new,) = [job for job in client.runs() if job["id"] not in before]
    assert new["state"] in ("queued", "running")  # not cancelled
    monkeypatch.undo()
    cancelled = cli("runs", "--server", server.url, "--token", TOKEN, "--cancel", new["id"])
    assert cancelled.exit_code == 0 and "asked job" in cancelled.output, cancelled.output
    assert client.wait(new["id"])["state"] == "cancelled"


def test_sse_parsing_skips_comments_and_joins_data_lines():
    from nodecat.executor.server.client import parse_sse
    lines = ["retry: 2000", "", ": keep-alive", "", "id: 4", "event: step", 'data: {"a":', "data: 1}", "",
             "id: 5", "event: output", "data: not json", ""]
    assert list(parse_sse(iter(lines))) == [(4, "step", {"a": 1}), (5, "output", "not json")]


def test_import_nodecat_does_not_import_httpx():
    code = ("import sys, nodecat\n"
            "assert 'httpx' not in sys.modules and 'torch' not in sys.modules, 'eager'\n"
            "client = nodecat.Client\n"
            "assert 'httpx' in sys.modules and client.__name__ == 'Client'\n"
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
