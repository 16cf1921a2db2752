"""`nodecat serve` started as a child process on a free loopback port, stopped with SIGTERM: a private
server for the tests, the load benchmark, and scripts (the real command, not an app in-process)."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    state: Path
    log: Path

    def client(self, token: str | None = None, timeout: float = 60.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(state: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
                   startup_seconds: float = 90.0) -> Iterator[Server]:
    """The server until the block ends; then SIGTERM and wait (killed if it does not stop)."""
    port = free_port()
    log = state.parent / f"{state.name}-server-{port}.log"
    state.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "nodecat", "serve", "--port", str(port), "--state",
                                    str(state), *args], cwd=cwd or state.parent, stdout=out, stderr=subprocess.STDOUT,
                                   text=True, env={**os.environ, **(env or {})})
    server = Server(f"http://127.0.0.1:{port}", process, state, log)
    try:
        _wait_until_up(server, startup_seconds)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_up(server: Server, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited with {server.process.returncode}:\n{server.log.read_text()}")
        try:
            if httpx.get(server.url + "/openapi.json", timeout=2).status_code in (200, 401):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the server did not answer within {seconds} s:\n{server.log.read_text()}")
