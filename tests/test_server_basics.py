"""The server as a client meets it over real HTTP: started by one command, OpenAPI docs, one JSON
error shape, the token, the body limit, a refused non-loopback bind, a clean stop on SIGTERM."""
from __future__ import annotations

import signal
import subprocess
import sys

import httpx

from serving import running_server


def test_docs_and_json_errors(tmp_path):
    with running_server(tmp_path / "state") as server, server.client() as client:
        assert client.get("/docs").status_code == 200
        assert client.get("/openapi.json").json()["info"]["title"] == "nodecat"
        missing = client.get("/no/such/route")
        assert missing.status_code == 404
        assert missing.json() == {"ok": False, "errors": [{"code": "not_found", "message": "Not Found", "node": "",
                                                           "pointer": "", "hint": ""}]}
        too_big = client.post("/check", content=b"{" + b" " * (64 * 2**20 + 1) + b"}",
                              headers={"content-type": "application/json"})
        assert too_big.status_code == 413 and too_big.json()["errors"][0]["code"] == "body_too_large"

        def chunks():  # no Content-Length: the limit holds while the body streams
            yield b'{"graph": "'
            for _ in range(65):
                yield b"x" * 2**20
            yield b'"}'

        streamed = client.post("/runs", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413 and streamed.json()["errors"][0]["code"] == "body_too_large"


def test_token_is_required_on_every_route(tmp_path):
    with running_server(tmp_path / "state", "--token", "s3cret") as server:
        with server.client() as anonymous:
            for path in ("/docs", "/openapi.json", "/no/such/route"):
                answer = anonymous.get(path)
                assert answer.status_code == 401, path
                assert answer.json()["errors"][0]["code"] == "unauthorized"
        with server.client(token="wrong") as wrong:
            assert wrong.get("/openapi.json").status_code == 401
        with server.client(token="s3cret") as client:
            assert client.get("/openapi.json").status_code == 200


def test_binding_beyond_loopback_needs_a_token(tmp_path):
    done = subprocess.run([sys.executable, "-m", "nodecat", "serve", "--host", "0.0.0.0", "--state",
                           str(tmp_path / "state")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--token" in done.stderr


def test_sigterm_stops_the_server_cleanly(tmp_path):
    with running_server(tmp_path / "state") as server:
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=30) == 0
        try:
            httpx.get(server.url + "/openapi.json", timeout=2)
            raise AssertionError("the server still answers")
        except httpx.TransportError:
            pass
