"""The catalogs over HTTP: which catalogs the server has, a catalog document, one node, an editor palette.

    GET /catalogs                       every library's catalog of its installed version
    GET /catalogs/{library}             the catalog document (the file, byte for byte)
    GET /nodes/{name}?library=          a node by id, alias or short name (what `nodecat catalog show` finds)
    GET /palette/{format}?library=      seed, comfyui or litegraph (what `nodecat catalog export` writes)

Each answer is made once per state of the catalog files it comes from (path, mtime, size) and
kept in the process; it carries a strong ETag (a hash of the body), and a request whose
If-None-Match names it gets 304 with no body. A lookup that finds nothing is 404 (`unknown_node`,
with the close ids in the hint and in `candidates`); a short name several nodes end with is 409
(`ambiguous_node`, with the candidates). Nothing here imports torch or keras: the catalogs are JSON.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from nodecat.executor.graph.errors import GraphProblem
from nodecat.introspector.errors import CatalogError, Problem

router = APIRouter(tags=["catalogs"])

PaletteFormat = Literal["seed", "comfyui", "litegraph"]

# What a catalog problem means to a client: the status it is answered with (500 for any other code:
# a catalog the server ships that cannot be read is the server's fault).
_STATUS = {"unknown_library": 404, "not_installed": 404, "no_catalog": 404, "unknown_node": 404,
           "ambiguous_node": 409}
_CONDITIONAL = {304: {"description": "Not Modified: the If-None-Match header names the current ETag"}}
_MEMO_ENTRIES = 512  # answers kept; node lookups are keyed by what a client typed, so the memo is bounded

FileState = tuple[str, int, int] | str  # (path, mtime_ns, size), or the code of why there is no file


@dataclass(frozen=True)
class Answer:
    """A response made once: JSON bytes, the status, and (for 200) the strong ETag of the bytes."""

    status: int
    body: bytes

    @property
    def etag(self) -> str:
        return f'"{hashlib.sha256(self.body).hexdigest()[:40]}"'


class CatalogStore:
    """The installed versions' catalog files and the answers made from them, each made once per
    state of its files. Shared by the request threads: the memo is guarded by a lock (an answer
    two requests make at once is made twice, and one is kept)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._memo: OrderedDict[tuple[Any, ...], tuple[Answer, str]] = OrderedDict()

    def answer(self, key: tuple[Any, ...], make: Callable[[], Answer]) -> tuple[Answer, str]:
        """The answer for `key` (which holds the state of every file it is made from) and its ETag."""
        with self._lock:
            found = self._memo.get(key)
            if found is not None:
                self._memo.move_to_end(key)
                return found
        answer = make()
        made = (answer, answer.etag)
        with self._lock:
            self._memo[key] = made
            while len(self._memo) > _MEMO_ENTRIES:
                self._memo.popitem(last=False)
        return made


_STORE_LOCK = threading.Lock()


def catalog_store(request: Request) -> CatalogStore:
    """The app's store, made at its first use (one per app, so two apps in a process share nothing)."""
    state = request.app.state
    with _STORE_LOCK:
        store = getattr(state, "catalog_store", None)
        if store is None:
            store = state.catalog_store = CatalogStore()
    return store


Store = Depends(catalog_store)


def libraries() -> tuple[str, ...]:
    from nodecat.introspector.libraries import LIBRARIES
    return LIBRARIES


def catalog_file(library: str) -> Path:
    """The catalog file of the installed version (committed, else built into the user cache), or CatalogError."""
    if library not in libraries():
        raise CatalogError([Problem("unknown_library", f"no catalog of library {library!r}",
                                    hint="known: " + ", ".join(libraries()))])
    from nodecat.introspector.build import catalog_path_for
    return catalog_path_for(library)


def file_state(library: str) -> FileState:
    try:
        path = catalog_file(library)
        stat = path.stat()
    except CatalogError as exc:
        return exc.problems[0].code
    except OSError as exc:
        return type(exc).__name__
    return str(path), stat.st_mtime_ns, stat.st_size


def _load(library: str) -> Any:
    from nodecat.executor.graph.catalogs import load_catalog_cached  # shared with the checks' catalogs
    return load_catalog_cached(catalog_file(library))


def _json(value: Any, status: int = 200) -> Answer:
    from nodecat.introspector.jsonio import dumps
    return Answer(status, dumps(value).encode("utf-8"))


def problem_json(problem: Problem) -> dict[str, Any]:
    """A catalog problem in the server's error shape (GraphProblem's fields), with its candidates."""
    out: dict[str, Any] = GraphProblem(problem.code, problem.message, problem.entry, problem.pointer,  # type: ignore[arg-type]
                                       problem.hint).to_json()
    if problem.candidates:
        out["candidates"] = list(problem.candidates)
    return out


def _failure(exc: CatalogError) -> Answer:
    status = _STATUS.get(exc.problems[0].code, 500)
    return _json({"ok": False, "errors": [problem_json(p) for p in exc.problems]}, status)


def _guarded(make: Callable[[], Answer]) -> Callable[[], Answer]:
    def made() -> Answer:
        try:
            return make()
        except CatalogError as exc:
            return _failure(exc)
    return made


def respond(request: Request, answer: Answer, etag: str) -> Response:
    """The answer, or 304 when the client has it already (If-None-Match; weak tags compare too)."""
    if answer.status != 200:
        return Response(answer.body, answer.status, media_type="application/json")
    headers = {"ETag": etag, "Cache-Control": "no-cache"}  # keep it, but ask each time: the catalog may be rebuilt
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(answer.body, 200, media_type="application/json", headers=headers)


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


@router.get("/catalogs", responses=_CONDITIONAL,
            summary="Every library's catalog of its installed version: library, version, node count, file")
def list_catalogs(request: Request, store: CatalogStore = Store) -> Response:
    states = tuple(file_state(library) for library in libraries())

    def make() -> Answer:
        from nodecat.introspector.paths import relative
        found, unavailable = [], []
        for library in libraries():
            try:
                catalog, path = _load(library), catalog_file(library)
            except CatalogError as exc:
                unavailable.extend({"library": library, **problem_json(p)} for p in exc.problems)
                continue
            found.append({"library": library, "version": catalog.version, "nodes": len(catalog.nodes),
                          "excluded": len(catalog.excluded), "file": relative(path)})
        return _json({"catalogs": found, "unavailable": unavailable})

    return respond(request, *store.answer(("catalogs", states), make))


@router.get("/catalogs/{library}", responses=_CONDITIONAL,
            summary="The catalog document of LIBRARY's installed version (the catalog file, as it is)")
def catalog_document(library: str, request: Request, store: CatalogStore = Store) -> Response:
    def make() -> Answer:
        return Answer(200, catalog_file(library).read_bytes())

    return respond(request, *store.answer(("document", library, file_state(library)), _guarded(make)))


@router.get("/nodes/{name}", responses=_CONDITIONAL,
            summary="A node by id, alias or short name (torch.nn.Conv2d, nn.Conv2d, Conv2d), as `nodecat catalog show`")
def node(name: str, request: Request, library: str | None = Query(None, description="Catalog to search "
         "(default: the one the id starts with, else every one)"), store: CatalogStore = Store) -> Response:
    from nodecat.introspector.lookup import find_in_libraries, searched_libraries
    searched = searched_libraries(name, library, libraries())
    states = tuple(file_state(lib) for lib in searched)
    return respond(request, *store.answer(("node", name, searched, states),
                                          _guarded(lambda: _json(find_in_libraries(name, searched, _load).to_json()))))


@router.get("/palette/{format}", responses=_CONDITIONAL,
            summary="LIBRARY's catalog as an editor palette, as `nodecat catalog export --format FORMAT` writes it")
def palette(format: PaletteFormat, request: Request,
            library: str = Query("torch", description="Catalog to export (torch or keras)"),
            store: CatalogStore = Store) -> Response:
    def make() -> Answer:
        from nodecat.introspector.export_palette import PALETTE_FORMATS
        from nodecat.introspector.export_seed import seed_catalog
        export = {"seed": seed_catalog, **PALETTE_FORMATS}[format]
        return _json(export(_load(library)))

    return respond(request, *store.answer(("palette", format, library, file_state(library)), _guarded(make)))
