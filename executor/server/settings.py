"""What a server is started with: where it listens, where it keeps its state, who may call it."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 8188  # ComfyUI's, so that an editor that knows it finds us
MAX_BODY_BYTES = 64 * 2**20  # a graph, or an uploaded array


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    state_dir: Path = Path("nodecat-state")  # jobs (SQLite), their event logs and files
    workers: int = 1  # jobs run at once, each in its own process
    token: str | None = None  # bearer token required on every route when set
    data_roots: tuple[Path, ...] = field(default_factory=tuple)  # besides the shipped demo data
    max_body_bytes: int = MAX_BODY_BYTES

    def refusal(self) -> str | None:
        """Why the server must not start with these settings, or None: anything but loopback needs a token."""
        if self.token or is_loopback(self.host):
            return None
        return f"--host {self.host} is reachable from other machines: set --token (or NODECAT_TOKEN) first"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
