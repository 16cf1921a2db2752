"""The `nodecat serve` command: the execution server on uvicorn (the `server` extra).

Exit codes: 0 stopped cleanly (Ctrl-C or SIGTERM); 2 bad usage, e.g. a non-loopback --host without
a token, or the server extra not installed.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

import click

from nodecat.executor.server.settings import DEFAULT_PORT


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--state", "state_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("nodecat-state"),
              show_default=True, help="Directory of the job store and every job's files (kept across restarts).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Jobs run at once, each in its own process.")
@click.option("--token", default=lambda: os.environ.get("NODECAT_TOKEN"),
              help="Bearer token every request must carry (default: $NODECAT_TOKEN; none on loopback).")
@click.option("--data-root", "data_roots", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Also allow jobs to read data under this directory (besides the shipped demo data).")
def serve_cmd(host: str, port: int, state_dir: Path, workers: int, token: str | None,
              data_roots: tuple[Path, ...]) -> None:
    """Serve the execution API over HTTP: catalogs and palettes, checks, runs and training jobs with
    their progress as Server-Sent Events. OpenAPI docs at /docs."""
    from nodecat.executor.server.settings import ServerSettings
    settings = ServerSettings(host=host, port=port, state_dir=state_dir, workers=workers, token=token or None,
                              data_roots=tuple(p.resolve() for p in data_roots))
    refusal = settings.refusal()
    if refusal is not None:
        raise click.UsageError(refusal)
    try:
        import uvicorn

        from nodecat.executor.server.app import create_app
    except ImportError as exc:
        raise click.UsageError(f"the server needs the `server` extra ({exc.name} is missing): "
                               "pip install 'nodecat[server]'") from None
    # uvicorn turns SIGINT and SIGTERM into a graceful shutdown (the app's lifespan stops the jobs),
    # then raises the signal again for the handler that was there before it: ours, so that a stop
    # asked for is a clean exit (0), not a death by signal.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
    except KeyboardInterrupt:
        pass
