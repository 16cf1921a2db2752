"""The catalog routes and POST /check over real HTTP, against `nodecat serve` started once for the module:
the answers are what the CLI prints (`catalog show --json`, `catalog export`, `check --json`), cached
with ETags, and a hostile or malformed graph gets a clean JSON answer."""
from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner

from nodecat.executor.cli.main import main
from nodecat.executor.training.data import DEMO_DIR
from serving import Server, running_server

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
MLP = json.loads((ROOT / "examples" / "mlp.json").read_text(encoding="utf-8"))
DIGITS = json.loads((DEMO_DIR / "digits_cnn.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The server's current directory (with a data file), a data root (with one) and a directory it may not read."""
    base = tmp_path_factory.mktemp("server")
    places = {name: base / name for name in ("cwd", "root", "elsewhere")}
    for name, path in places.items():
        path.mkdir()
        shutil.copy(DEMO_DIR / "digits.npz", path / ("local.npz" if name == "cwd" else "digits.npz"))
    return places


@pytest.fixture(scope="module")
def server(places: dict[str, Path]) -> Iterator[Server]:
    with running_server(places["cwd"].parent / "state", "--data-root", str(places["root"]), cwd=places["cwd"]) as up:
        yield up


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[Any]:
    with server.client() as http:
        yield http


def cli_json(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def without_graph(report: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in report.items() if key != "graph"}


def post_check(client: Any, document: Any, **params: Any) -> Any:
    answer = client.post("/check", content=json.dumps(document).encode(), params=params,
                         headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    return answer.json()


# -- catalogs --------------------------------------------------------------------------------------

def test_catalogs_are_listed_with_version_count_and_file(client):
    from nodecat.introspector.build import catalog_path_for, load_catalog
    listed = client.get("/catalogs").json()
    assert [c["library"] for c in listed["catalogs"]] == ["torch", "keras"] and listed["unavailable"] == []
    for entry in listed["catalogs"]:
        path = catalog_path_for(entry["library"])
        catalog = load_catalog(path)
        assert (entry["version"], entry["nodes"]) == (catalog.version, len(catalog.nodes))
        assert path.as_posix().endswith(entry["file"])


def test_catalog_document_is_the_catalog_file(client):
    from nodecat.introspector.build import catalog_path_for
    answer = client.get("/catalogs/torch")
    assert answer.status_code == 200 and answer.content == catalog_path_for("torch").read_bytes()
    unknown = client.get("/catalogs/tensorflow")
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["code"] == "unknown_library"


@pytest.mark.parametrize("name", ["torch.nn.Conv2d", "nn.Conv2d", "Conv2d", "torch.concat", "keras.layers.Dense"])
def test_node_by_id_alias_or_short_name_is_what_catalog_show_prints(client, name):
    answer = client.get(f"/nodes/{name}")
    assert answer.status_code == 200
    assert answer.json() == cli_json("catalog", "show", name, "--json")


def test_unknown_node_is_404_with_did_you_mean(client):
    answer = client.get("/nodes/Conv4d")
    assert answer.status_code == 404
    error = answer.json()["errors"][0]
    assert error["code"] == "unknown_node" and "did you mean" in error["hint"] and "torch.nn.Conv2d" in error["hint"]
    assert "torch.nn.Conv2d" in error["candidates"]
    assert set(error) == {"code", "message", "node", "pointer", "hint", "candidates"}


def test_ambiguous_short_name_is_409_with_the_candidates(client):
    answer = client.get("/nodes/relu")
    assert answer.status_code == 409
    error = answer.json()["errors"][0]
    assert error["code"] == "ambiguous_node" and "torch.nn.functional.relu" in error["candidates"]
    assert client.get("/nodes/relu", params={"library": "torch"}).json()["id"] == "torch.nn.functional.relu"


def test_palettes_are_what_catalog_export_writes(client):
    comfyui = client.get("/palette/comfyui")
    assert comfyui.status_code == 200 and "torch.nn.Conv2d" in comfyui.json()
    assert comfyui.text == CliRunner().invoke(main, ["catalog", "export", "torch", "--format", "comfyui"]).stdout
    keras = client.get("/palette/litegraph", params={"library": "keras"})
    assert keras.text == CliRunner().invoke(main, ["catalog", "export", "keras", "--format", "litegraph"]).stdout
    bad = client.get("/palette/svg")
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "bad_request"


@pytest.mark.parametrize("path", ["/catalogs", "/catalogs/keras", "/nodes/Conv2d", "/palette/seed"])
def test_etag_then_if_none_match_gives_304(client, path):
    first = client.get(path)
    etag = first.headers["etag"]
    assert etag == f'"{hashlib.sha256(first.content).hexdigest()[:40]}"'  # strong: a hash of the body
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get(path, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    changed = client.get(path, headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200 and changed.content == first.content


def test_catalog_routes_load_no_torch(tmp_path):
    """The catalogs are JSON: a server that answered only catalog routes has not loaded torch (nor keras,
    which needs it): its memory maps hold no libtorch."""
    maps = Path("/proc/self/maps")
    if not maps.exists():
        pytest.skip("needs /proc")
    with running_server(tmp_path / "state") as fresh, fresh.client() as http:
        for path in ("/catalogs", "/catalogs/keras", "/nodes/Conv2d", "/nodes/Conv4d", "/palette/comfyui",
                     "/palette/seed?library=keras"):
            assert http.get(path).status_code in (200, 404), path
        assert "libtorch" not in Path(f"/proc/{fresh.process.pid}/maps").read_text()
        assert http.post("/check", content=(ROOT / "examples" / "mlp.json").read_bytes()).json()["ok"] is True
        assert "libtorch" in Path(f"/proc/{fresh.process.pid}/maps").read_text()  # the check's, once


# -- check -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_check_of_every_example_is_what_check_json_prints(client, example):
    served = client.post("/check", content=example.read_bytes())
    assert served.status_code == 200
    assert served.json()["graph"] is None
    assert without_graph(served.json()) == without_graph(cli_json("check", str(example), "--json"))


def test_check_options_are_the_cli_options(client):
    mlp = str(ROOT / "examples" / "mlp.json")
    assert without_graph(post_check(client, MLP, batch=8)) == without_graph(cli_json("check", mlp, "--json",
                                                                                     "--batch", "8"))
    over = post_check(client, MLP, budget="1KiB")
    assert over["errors"][0]["code"] == "budget_exceeded"
    assert without_graph(over) == without_graph(cli_json("check", mlp, "--json", "--budget", "1KiB"))
    bad = client.post("/check", content=json.dumps(MLP), params={"budget": "lots"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "bad_request"


def _invalid_graphs() -> dict[str, Any]:
    unknown = copy.deepcopy(MLP)
    unknown["nodes"][2]["op"] = "torch.nn.Relu"
    shapes = copy.deepcopy(MLP)
    shapes["nodes"][6]["args"]["in_features"] = 65  # head
    return {"unknown_op": unknown, "shape_mismatch": shapes, "schema": {"format": "nodecat-graph/1"}, "array": []}


@pytest.mark.parametrize("code", list(_invalid_graphs()))
def test_invalid_graph_is_ok_false_with_the_cli_problems(client, tmp_path, code):
    document = _invalid_graphs()[code]
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    served = post_check(client, document)
    assert served["ok"] is False and served["errors"][0]["code"] == ("schema" if code == "array" else code)
    assert without_graph(served) == without_graph(cli_json("check", str(path), "--json"))


@pytest.mark.parametrize("body, code", [(b'{"format": "nodecat-graph/1", "format": "x"}', "bad_json"),
                                        (b'{"nodes": [NaN]}', "bad_json"), (b"not json", "bad_json"),
                                        (b"", "bad_json"), (b"[" * 100 + b"]" * 100, "too_deep"),
                                        (b"\xef\xbb\xbf{}", "bad_encoding"), (b'{"a": "\xff"}', "bad_encoding")])
def test_malformed_body_is_422_with_the_loader_code(client, body, code):
    answer = client.post("/check", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["ok"] is False and [e["code"] for e in answer.json()["errors"]] == [code]


def test_body_without_a_length_is_cut_at_the_limit(client):
    def chunks() -> Iterator[bytes]:  # httpx sends a generator chunked: no Content-Length to refuse it by
        yield b'{"nodes": ['
        for _ in range(65):
            yield b" " * 2**20

    answer = client.post("/check", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413 and answer.json()["errors"][0]["code"] == "body_too_large"


def test_a_graph_naming_os_system_runs_nothing(client, server, places):
    canary = places["cwd"] / "canary"
    hostile = copy.deepcopy(MLP)
    hostile["nodes"][2] = {"id": "act1", "op": "os.system", "args": {"command": f"touch {canary}"}}
    report = post_check(client, hostile)
    assert report["ok"] is False and report["shapes"] == {}
    assert ("unknown_op", "act1", "/nodes/2/op") in {(e["code"], e["node"], e["pointer"]) for e in report["errors"]}
    assert not canary.exists()
    assert client.get("/catalogs").status_code == 200  # the server is fine
    assert "Traceback" not in server.log.read_text()


def test_train_data_is_found_in_the_servers_data_roots_as_for_jobs(client, places):
    """One rule with POST /runs: a relative path is looked up in the --data-root directories, then the
    shipped demo data; the server's own current directory is not a root."""
    def with_data(data: str) -> dict[str, Any]:
        document = copy.deepcopy(DIGITS)
        document["train"]["data"] = data
        return post_check(client, document)

    assert with_data("digits.npz")["ok"] is True  # relative: found in the --data-root
    assert with_data(str(places["root"] / "digits.npz"))["ok"] is True
    for outside in (places["elsewhere"] / "digits.npz", places["cwd"] / "local.npz"):
        answer = with_data(str(outside))
        assert answer["ok"] is False and answer["errors"][0]["code"] == "path_outside_roots", outside
    missing = with_data("local.npz")  # only in the server's current directory
    assert missing["ok"] is False and missing["errors"][0]["pointer"] == "/train/data"
    assert missing["errors"][0]["code"] == "file_not_found"