"""A client of the execution server (`nodecat serve`), on httpx: what `nodecat submit` and `nodecat runs`
use, and `nodecat.Client` in Python.

    with nodecat.Client("http://127.0.0.1:8188", token=None) as client:
        report = client.check("examples/cnn.json")            # what `nodecat check --json` prints
        job = client.submit("graph.json", "train", epochs=2)  # {"id", "kind", "state": "queued", "links"}
        for id, type, data in client.events(job["id"]):       # SSE, resumed with Last-Event-ID if it breaks
            ...
        final = client.wait(job["id"])                        # GET /runs/{id} once the job has ended
        client.download(job["id"], "weights.safetensors", "runs/x/weights.safetensors")

A graph is a path, a `nodecat-graph/1` document (dict) or a Graph. The server's JSON errors are raised as
ServerError, a GraphError with the server's problems (codes, messages, nodes, pointers, hints) and the
HTTP status; a server that cannot be reached (refused, timed out, not HTTP) is a ClientError naming the
URL. Nothing here imports FastAPI or torch.
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import httpx

from nodecat.executor.graph.errors import GraphError, GraphProblem

__all__ = ["Client", "ClientError", "ServerError", "EventStream", "FINAL_EVENTS", "TERMINAL_STATES"]

FINAL_EVENTS = frozenset(("result", "error"))  # the last event of a job's stream (jobs.FINAL_EVENTS)
TERMINAL_STATES = frozenset(("succeeded", "failed", "cancelled", "interrupted"))
DEFAULT_TIMEOUT_S = 60.0
STREAM_READ_TIMEOUT_S = 60.0  # the server sends a keep-alive comment every 15 s on a quiet stream
_STATUS_CODES = {401: "unauthorized", 404: "not_found", 409: "job_state", 413: "body_too_large", 422: "bad_request"}


class ClientError(Exception):
    """The server could not be reached or did not answer as a nodecat server does."""

    def __init__(self, message: str, url: str):
        super().__init__(message)
        self.message, self.url = message, url


class ServerError(GraphError):
    """The server refused a request: its problems, as a GraphError, with the HTTP status and the URL."""

    def __init__(self, problems: list[GraphProblem], status: int, url: str):
        super().__init__(problems)
        self.status, self.url = status, url


class EventStream:
    """A job's events as `(id, type, data)`, until its final event (`result` or `error`, the last of its
    log: a resumed job goes on after the error that interrupted it). `last_id` is the
    id of the last event yielded; a stream that breaks (or that the server ends early, as it does when
    it stops) is opened again with `Last-Event-ID: last_id`, for up to `reconnect_s` seconds of trying."""

    def __init__(self, client: Client, run_id: str, after: int | None, reconnect_s: float):
        self.client, self.run_id, self.reconnect_s = client, run_id, reconnect_s
        self.last_id = after or 0
        self.ended = False

    def __iter__(self) -> Iterator[tuple[int, str, Any]]:
        failing_since: float | None = None
        while not self.ended:
            try:
                for event in self.client._stream_once(self.run_id, self.last_id):
                    failing_since = None
                    self.last_id = event[0]
                    yield event
                # The server ends a stream after a final event that is still the last of the job's log;
                # a final event followed by more (a resumed job) is not the end. The stream may also
                # have ended early (the server stopping): the job's state and log decide.
                job = self.client.run(self.run_id)
                if job["state"] in TERMINAL_STATES and not self.client._has_events_after(self.run_id, self.last_id):
                    self.ended = True
                    return
                problem = f"the event stream of run {self.run_id} ended before the job did"
            except ClientError as exc:
                problem = exc.message
            failing_since = failing_since if failing_since is not None else time.monotonic()
            if time.monotonic() - failing_since > self.reconnect_s:
                raise ClientError(f"{problem} (gave up after {self.reconnect_s:.0f} s of reconnecting; resume "
                                  f"with events({self.run_id!r}, after={self.last_id}))", self.client.url)
            time.sleep(1.0)


class Client:
    """The execution server at `url` (e.g. http://127.0.0.1:8188), with a bearer `token` if it needs one."""

    def __init__(self, url: str, token: str | None = None, timeout: float = DEFAULT_TIMEOUT_S):
        url = url.strip()
        self.url = (url if "://" in url else f"http://{url}").rstrip("/")  # 127.0.0.1:8188 is http://
        self.timeout = timeout
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError, TypeError) as exc:
            raise ClientError(f"{url!r} is not a server URL such as http://127.0.0.1:8188 ({exc})", url) from None

    # -- lifetime --------------------------------------------------------------------------------
    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # -- routes ----------------------------------------------------------------------------------
    def check(self, graph: Any, batch: int = 1, budget: str = "auto") -> dict[str, Any]:
        """POST /check: what `nodecat check --json` prints for the graph (`"graph"` is null). An invalid
        graph is a document with `"ok": false`, not an exception; a body that is not JSON raises."""
        body = graph_bytes(graph)
        return self._json("POST", "/check", content=body, params={"batch": batch, "budget": budget},
                          headers={"content-type": "application/json"})

    def submit(self, graph: Any, kind: str = "train", **options: Any) -> dict[str, Any]:
        """POST /runs: the job, queued (`{"id", "kind", "state", "links"}`), or ServerError with every
        problem of the graph and options. Options left None are not sent. `inputs` of a run job may map
        names to numpy arrays or local .npy paths (uploaded), besides the server's own forms."""
        options = {key: value for key, value in options.items() if value is not None}
        if "inputs" in options:
            options["inputs"] = {name: upload_input(value) for name, value in options["inputs"].items()}
        return self._json("POST", "/runs", json={"graph": graph_document(graph), "kind": kind, "options": options})

    def runs(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """GET /runs: the jobs, newest first."""
        params: dict[str, Any] = {"limit": limit, **({"state": state} if state else {})}
        return list(self._json("GET", "/runs", params=params)["runs"])

    def run(self, run_id: str) -> dict[str, Any]:
        """GET /runs/{id}: state, timings, metrics, result, error."""
        return self._json("GET", f"/runs/{run_id}")

    def cancel(self, run_id: str) -> dict[str, Any]:
        return self._json("POST", f"/runs/{run_id}/cancel")

    def resume(self, run_id: str) -> dict[str, Any]:
        """Queue an interrupted training job again; it continues from its newest checkpoint."""
        return self._json("POST", f"/runs/{run_id}/resume")

    def delete(self, run_id: str) -> dict[str, Any]:
        return self._json("DELETE", f"/runs/{run_id}")

    def files(self, run_id: str) -> list[dict[str, Any]]:
        """GET /runs/{id}/files: `[{"path", "bytes"}]`."""
        return list(self._json("GET", f"/runs/{run_id}/files")["files"])

    def events(self, run_id: str, after: int | None = None, reconnect_s: float = 30.0) -> EventStream:
        """The job's events after event `after` (all of them by default) as `(id, type, data)`, to its end."""
        return EventStream(self, run_id, after, reconnect_s)

    def wait(self, run_id: str, on_event: Callable[[int, str, Any], None] | None = None) -> dict[str, Any]:
        """Follow the job's events to its end (each to `on_event`), then return the job (GET /runs/{id})."""
        for event in self.events(run_id):
            if on_event is not None:
                on_event(*event)
        return self.run(run_id)

    def download(self, run_id: str, path: str, dest: str | Path) -> Path:
        """One file of the run into `dest`, streamed to a temporary file beside it and renamed: `dest` is
        either the whole file or absent, never half written."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        url = f"/runs/{run_id}/files/{path}"
        fd, temporary = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out, self._send_stream("GET", url) as answer:
                if answer.status_code >= 400:
                    answer.read()
                    raise self._refusal(answer)
                for chunk in answer.iter_bytes():
                    out.write(chunk)
            os.replace(temporary, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return dest

    def download_all(self, run_id: str, dest: str | Path, skip: tuple[str, ...] = ()) -> list[Path]:
        """Every file of the run whose path does not start with one of `skip`, under `dest`."""
        dest = Path(dest)
        written = []
        for entry in self.files(run_id):
            if not entry["path"].startswith(skip):
                written.append(self.download(run_id, entry["path"], dest.joinpath(*entry["path"].split("/"))))
        return written

    # -- HTTP ------------------------------------------------------------------------------------
    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self._request(method, path, **kwargs)
        if answer.status_code >= 400:
            raise self._refusal(answer)
        try:
            return answer.json()
        except ValueError:
            raise ClientError(f"{self.url}{path} answered {answer.status_code} with something that is not JSON: "
                              "is this a nodecat server?", self.url) from None

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def _send_stream(self, method: str, path: str, **kwargs: Any) -> Any:
        return _Streamed(self, method, path, kwargs)

    def _unreachable(self, exc: Exception) -> ClientError:
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, httpx.TimeoutException):
            reason = f"no answer within the timeout ({type(exc).__name__})"
        return ClientError(f"cannot reach the nodecat server at {self.url}: {reason}", self.url)

    def _refusal(self, answer: httpx.Response) -> Exception:
        where = f"{answer.request.method} {answer.request.url}"
        try:
            body = answer.json()
            errors = body["errors"]
            problems = [GraphProblem(str(p.get("code", "bad_request")), str(p.get("message", "")),  # type: ignore[arg-type]
                                     str(p.get("node", "") or ""), str(p.get("pointer", "") or ""),
                                     str(p.get("hint", "") or "")) for p in errors]
            if problems:
                return ServerError(problems, answer.status_code, where)
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
        code = _STATUS_CODES.get(answer.status_code, "internal_error")
        return ServerError([GraphProblem(code, f"{where} answered {answer.status_code} "  # type: ignore[arg-type]
                                         f"{answer.reason_phrase}")], answer.status_code, where)

    def _stream_once(self, run_id: str, after: int) -> Iterator[tuple[int, str, Any]]:
        """One connection to the job's event stream: its events after `after`, parsed, until it ends.
        A connection that breaks is a ClientError (EventStream reconnects)."""
        headers = {"Last-Event-ID": str(after)} if after else {}
        timeout = httpx.Timeout(self.timeout, read=max(STREAM_READ_TIMEOUT_S, self.timeout))
        with self._send_stream("GET", f"/runs/{run_id}/events", headers=headers, timeout=timeout) as answer:
            if answer.status_code >= 400:
                answer.read()
                raise self._refusal(answer)
            try:
                yield from parse_sse(answer.iter_lines())
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from None

    def _has_events_after(self, run_id: str, after: int) -> bool:
        for _ in self._stream_once(run_id, after):
            return True
        return False


class _Streamed:
    """`client.stream(...)` whose connection failures are ClientErrors."""

    def __init__(self, client: Client, method: str, path: str, kwargs: dict[str, Any]):
        self.client, self.method, self.path, self.kwargs = client, method, path, kwargs
        self._context: Any = None

    def __enter__(self) -> httpx.Response:
        self._context = self.client._http.stream(self.method, self.path, **self.kwargs)
        try:
            return self._context.__enter__()  # type: ignore[no-any-return]
        except httpx.HTTPError as exc:
            raise self.client._unreachable(exc) from None

    def __exit__(self, *exc: Any) -> None:
        self._context.__exit__(*exc)


def parse_sse(lines: Iterator[str]) -> Iterator[tuple[int, str, Any]]:
    """Server-Sent Events as `(id, type, data)`: `data` lines joined and read as JSON; comments
    (keep-alives) and `retry:` lines skipped."""
    event_id, event_type, data = 0, "message", []
    for line in lines:
        if line == "":
            if data:
                text = "\n".join(data)
                try:
                    value: Any = json.loads(text)
                except ValueError:
                    value = text
                yield event_id, event_type, value
            event_type, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value_text = line.partition(":")
        value_text = value_text[1:] if value_text.startswith(" ") else value_text
        if field == "id" and value_text.isdigit():
            event_id = int(value_text)
        elif field == "event":
            event_type = value_text
        elif field == "data":
            data.append(value_text)


def graph_document(graph: Any) -> dict[str, Any]:
    """A graph given as a path, a dict or a Graph as the JSON document POST /runs takes; a file is read
    with the strict loader of `nodecat check` (GraphError for a missing file or one that is not JSON)."""
    from nodecat.executor.graph.document import Graph
    if isinstance(graph, Graph):
        return graph.to_json()
    if isinstance(graph, Mapping):
        return dict(graph)
    if isinstance(graph, (str, Path)):
        from nodecat.executor.graph.load import _decode, _parse, read_graph_bytes
        document = _parse(_decode(read_graph_bytes(Path(graph))))
        if not isinstance(document, dict):
            raise GraphError(GraphProblem("schema", f"{graph} holds JSON, but not a graph document (an object)"))
        return document
    raise TypeError(f"a graph is a path, a dict or a nodecat.Graph, not {type(graph).__name__}")


def graph_bytes(graph: Any) -> bytes:
    """The graph as the body of POST /check: a file's bytes as they are (the server's strict loader
    reads them as `nodecat check` reads the file), else the document as JSON."""
    if isinstance(graph, (str, Path)):
        from nodecat.executor.graph.load import read_graph_bytes
        return read_graph_bytes(Path(graph))
    return json.dumps(graph_document(graph)).encode()


def upload_input(value: Any) -> Any:
    """A run input as POST /runs takes it: a numpy array or a local .npy file as `{"npy": BASE64}`;
    anything else (`{"data": ...}`, `{"file": PATH}` on the server) as it is."""
    if isinstance(value, (str, Path)):
        path = Path(value)
        try:
            return {"npy": base64.b64encode(path.read_bytes()).decode("ascii")}
        except OSError as exc:
            raise GraphError(GraphProblem("file_not_found", f"input file {str(path)!r} cannot be read: "
                                          f"{exc.strerror or exc}")) from None
    if type(value).__module__ == "numpy" or hasattr(value, "__array__"):
        import numpy as np
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(value), allow_pickle=False)
        return {"npy": base64.b64encode(buffer.getvalue()).decode("ascii")}
    return value
