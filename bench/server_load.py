"""The execution server under load on loopback: checks over HTTP against the same check in process.

Starts `nodecat serve` on a free loopback port (a fresh state directory), warms it (the first check
imports torch), then measures, in one run:

    single:  POST /check of examples/cnn.json from one client, one request at a time (median, warm)
    chain:   POST /check of a 1,000-node chain (bench/check_scaling.py's chain_document), median
    load:    --clients threads POST /check of examples/cnn.json for --seconds: throughput (checks/s),
             p50/p90/p99 latency, answers that were not 200 with "ok": true (should be 0)
    rss:     the server's resident memory after the load (VmRSS; VmHWM its peak), from /proc

and, once the server is stopped, the same two checks in this process
(nodecat.executor.checking.check_report of the parsed body: what the route does, without HTTP),
so the HTTP overhead is a ratio. Targets (issue 14): the demo CNN checks in under 50 ms at the
median once warm, a 1,000-node graph in under 0.5 s; each is printed "ok" or "ABOVE".

Usage: python bench/server_load.py [--seconds 10] [--clients 4] [--quick] [--json]
--quick: fewer single and chain samples, and 2 s of load unless --seconds says otherwise.
Nothing here asserts a time.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import httpx

from nodecat.executor.server.local import running_server

from check_scaling import chain_document  # bench/ is this script's directory, so first on sys.path

ROOT = Path(__file__).resolve().parent.parent
CNN = ROOT / "examples" / "cnn.json"
CHAIN_NODES = 1_000
TARGETS_S = {"cnn": 0.050, "chain": 0.5}


def serving(state: Path, startup_seconds: float = 120.0) -> Any:
    """`nodecat serve` until the block ends, then SIGTERM (killed if it does not stop in 30 s)."""
    return running_server(state, cwd=ROOT, startup_seconds=startup_seconds)


def post_check(client: httpx.Client, body: bytes) -> tuple[float, bool]:
    """Seconds for one POST /check, and whether it answered 200 with "ok": true."""
    start = time.perf_counter()
    answer = client.post("/check", content=body, headers={"content-type": "application/json"})
    seconds = time.perf_counter() - start
    return seconds, answer.status_code == 200 and answer.json().get("ok") is True


def median_of(call: Callable[[], float], samples: int) -> float:
    return statistics.median(call() for _ in range(samples))


def checked(result: tuple[float, bool]) -> float:
    seconds, ok = result
    if not ok:
        raise RuntimeError("a check that should pass did not (see the server log)")
    return seconds


def load(url: str, body: bytes, clients: int, seconds: float) -> dict[str, Any]:
    """`clients` threads, each with its own connection, POST /check back to back for `seconds`."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    start_line = threading.Barrier(clients + 1)

    def client_loop(index: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            post_check(client, body)  # connect outside the measured time
            start_line.wait()
            stop_at = time.perf_counter() + seconds
            while time.perf_counter() < stop_at:
                took, ok = post_check(client, body)
                latencies[index].append(took)
                failures[index] += not ok

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    start_line.wait(timeout=300)
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    every = sorted(t for per_client in latencies for t in per_client)
    return {"clients": clients, "seconds": round(elapsed, 3), "requests": len(every), "not_ok": sum(failures),
            "checks_per_s": round(len(every) / elapsed, 2),
            "latency_ms": {name: round(percentile(every, q) * 1000, 2) for name, q in
                           (("p50", 50), ("p90", 90), ("p99", 99))}}


def percentile(ordered: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q% of the values at or below it."""
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def memory(pid: int) -> dict[str, float | None]:
    """The process's resident memory now (VmRSS) and at its peak (VmHWM), in MiB; None off Linux."""
    found: dict[str, float | None] = {"rss_mib": None, "peak_rss_mib": None}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    found["rss_mib" if key == "VmRSS" else "peak_rss_mib"] = round(int(value.split()[0]) / 1024, 1)
    except OSError:
        pass
    return found


def in_process(cnn: bytes, chain: bytes, single: int, repeat: int) -> dict[str, float]:
    """The route's work without HTTP: the strict parse of the body, then the shared check report."""
    from nodecat.executor.checking import check_report
    from nodecat.executor.graph.load import parse_graph

    def once(body: bytes) -> float:
        start = time.perf_counter()
        report = check_report(parse_graph(body))
        seconds = time.perf_counter() - start
        if not report["ok"]:
            raise RuntimeError(f"in-process check failed: {report['errors'][:2]}")
        return seconds

    once(cnn), once(chain)  # imports (torch) and catalogs
    return {"cnn_s": median_of(lambda: once(cnn), single), "chain_s": median_of(lambda: once(chain), repeat)}


def verdict(seconds: float, target: float) -> str:
    return "ok" if seconds < target else "ABOVE"


def run(options: argparse.Namespace) -> dict[str, Any]:
    cnn = CNN.read_bytes()
    chain = json.dumps(chain_document(CHAIN_NODES)).encode()
    single, repeat = (10, 3) if options.quick else (50, 7)
    with tempfile.TemporaryDirectory(prefix="nodecat-server-load-") as tmp, serving(Path(tmp) / "state") as server:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            start = time.perf_counter()
            checked(post_check(client, cnn))
            first_s = time.perf_counter() - start  # the import of torch and the catalogs, in the server
            checked(post_check(client, chain))
            for _ in range(3):
                checked(post_check(client, cnn))
            http = {"first_check_s": round(first_s, 3),
                    "cnn_s": median_of(lambda: checked(post_check(client, cnn)), single),
                    "chain_s": median_of(lambda: checked(post_check(client, chain)), repeat)}
        loaded = load(server.url, cnn, options.clients, options.seconds)
        rss = memory(server.process.pid)
        # -- jobs: POST /runs submissions under the same load go here (accepted = finished, nothing
        #    lost), as a "jobs" entry of this result; run_routes owns that part.
        jobs = None
    local = in_process(cnn, chain, single, repeat)
    return {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_1min": round(os.getloadavg()[0], 2)},
        "single": {"samples": single, "http_ms": round(http["cnn_s"] * 1000, 2),
                   "in_process_ms": round(local["cnn_s"] * 1000, 2), "ratio": round(http["cnn_s"] / local["cnn_s"], 3),
                   "target_ms": TARGETS_S["cnn"] * 1000, "verdict": verdict(http["cnn_s"], TARGETS_S["cnn"])},
        "chain": {"nodes": CHAIN_NODES, "samples": repeat, "http_s": round(http["chain_s"], 4),
                  "in_process_s": round(local["chain_s"], 4), "ratio": round(http["chain_s"] / local["chain_s"], 3),
                  "target_s": TARGETS_S["chain"], "verdict": verdict(http["chain_s"], TARGETS_S["chain"])},
        "first_check_s": http["first_check_s"], "load": loaded, "server": rss, "jobs": jobs,
    }


def report(result: dict[str, Any]) -> str:
    single, chain, loaded, rss = result["single"], result["chain"], result["load"], result["server"]
    latency = loaded["latency_ms"]
    return "\n".join([
        f"POST /check on loopback; first check (imports torch in the server) {result['first_check_s']:.2f} s",
        f"  {'':34} {'HTTP':>10} {'in process':>11} {'ratio':>6}  target",
        f"  {'examples/cnn.json, median (1 client)':34} {single['http_ms']:>7.1f} ms {single['in_process_ms']:>8.1f} ms "
        f"{single['ratio']:>6.2f}  < {single['target_ms']:.0f} ms: {single['verdict']}",
        f"  {format(chain['nodes'], ',') + '-node chain, median':34} "
        f"{chain['http_s'] * 1000:>7.1f} ms {chain['in_process_s'] * 1000:>8.1f} ms {chain['ratio']:>6.2f}  "
        f"< {chain['target_s'] * 1000:.0f} ms: {chain['verdict']}",
        f"load: {loaded['clients']} clients for {loaded['seconds']:.1f} s: {loaded['requests']} checks, "
        f"{loaded['checks_per_s']:.1f} checks/s; latency p50 {latency['p50']:.1f} ms, p90 {latency['p90']:.1f} ms, "
        f"p99 {latency['p99']:.1f} ms; not ok: {loaded['not_ok']}",
        f"server memory after the load: RSS {rss['rss_mib']} MiB (peak {rss['peak_rss_mib']} MiB)",
        f"machine: {result['machine']['cpus']} cpus, Python {result['machine']['python']}; load average at the "
        f"end {result['machine']['load_average_1min']}",
    ])


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("KERAS_BACKEND", "torch")  # as nodecat does
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=None, help="length of the load phase (default 10; 2 with --quick)")
    parser.add_argument("--clients", type=int, default=4, help="client threads in the load phase (default 4)")
    parser.add_argument("--quick", action="store_true", help="fewer samples, and 2 s of load")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    options = parser.parse_args(argv)
    if options.seconds is None:
        options.seconds = 2.0 if options.quick else 10.0
    if options.seconds <= 0 or options.clients < 1:
        parser.error("--seconds must be positive and --clients at least 1")
    result = run(options)
    print(json.dumps(result, indent=2, sort_keys=True) if options.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
