"""The commands that talk to an execution server (`nodecat serve`): submit, runs.

    nodecat submit GRAPH --server URL [--train | --run | --evaluate | --profile | --export TO] [--follow]
    nodecat runs --server URL [ID] [--cancel ID] [--resume ID] [--delete ID] [--out DIR]

`submit --follow` shows a job as a local `nodecat train` shows its training: a progress bar per epoch
on stderr (driven by the job's `step` events) and the summary line of each epoch (its `epoch`
events), then downloads the run's files into --out. Ctrl-C stops following, not the job.

Exit codes: 0 success (a followed job that succeeded); 1 the server refused the graph or its options
(every problem printed with code and JSON Pointer), an unknown run, or a followed job that failed, was
cancelled or interrupted (its problems printed); 2 bad usage, a server that cannot be reached, or a
missing or wrong token (`unauthorized`); 130 Ctrl-C while following (the job goes on).
"""
from __future__ import annotations

import datetime
import sys
from pathlib import Path
from typing import Any, Callable

import click

from nodecat.executor.cli.options import EXIT_BAD_INPUT, EXIT_CHECK_FAILED, emit_json, print_problems

EXIT_INTERRUPTED = 130
SERVER_OPT = click.option("--server", "server", envvar="NODECAT_SERVER", required=True, metavar="URL",
                          help="The server, e.g. http://127.0.0.1:8188 (default: $NODECAT_SERVER).")
TOKEN_OPT = click.option("--token", envvar="NODECAT_TOKEN", default=None, metavar="T",
                         help="Bearer token the server asks for (default: $NODECAT_TOKEN).")
JSON_OUT = click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout, for machines.")
# run files a download leaves out unless --all-files: checkpoints are large and inputs/ came from the caller
SKIPPED_FILES = ("checkpoints/", "inputs/")
_STEP_KEYS = ("epoch", "epochs", "step", "steps", "loss", "samples_per_second", "eta_seconds")
_EPOCH_EXTRA = ("epochs", "eta_seconds", "checkpoint")


def _client(server: str, token: str | None) -> Any:
    try:
        from nodecat.executor.server.client import Client
    except ImportError as exc:
        raise click.UsageError(f"talking to a server needs the `server` extra ({exc.name} is missing): "
                               "pip install 'nodecat[server]'") from None
    return Client(server, token=token or None)


def _guarded(as_json: bool, action: Callable[[], Any]) -> Any:
    """Run an action; the server's refusals print as problems (exit 1; `unauthorized` exit 2), a
    server that cannot be reached as one line naming it (exit 2). Never a traceback."""
    from nodecat.executor.graph.errors import GraphError
    from nodecat.executor.server.client import ClientError
    try:
        return action()
    except ClientError as exc:
        if as_json:
            emit_json({"ok": False, "server": exc.url, "errors": [], "connection_error": exc.message})
        else:
            click.secho(f"error {exc.message}", fg="red", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except GraphError as exc:
        if as_json:
            emit_json({"ok": False, "errors": [p.to_json() for p in exc.problems]})
        else:
            print_problems(exc.problems)
        sys.exit(EXIT_BAD_INPUT if exc.code == "unauthorized" else EXIT_CHECK_FAILED)


def _problems(errors: list[dict[str, Any]] | None) -> list[Any]:
    from nodecat.executor.graph.errors import GraphProblem
    return [GraphProblem(str(p.get("code", "")), str(p.get("message", "")), str(p.get("node", "") or ""),  # type: ignore[arg-type]
                         str(p.get("pointer", "") or ""), str(p.get("hint", "") or "")) for p in errors or []]


def _read_input(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise click.BadParameter(f"{text!r} is not NAME=FILE.npy", param_hint="--input")
    if not Path(path).is_file():
        raise click.BadParameter(f"{path!r} is not a file", param_hint="--input")
    return name, path


class Follower:
    """The events of a followed job shown as a local `nodecat train` shows its training: a bar per epoch
    (progress.EpochProgress, fed by `step` events) and each epoch's summary line (`epoch` events)."""

    def __init__(self, progress: bool, show_output: bool):
        self.progress, self.show_output = progress, show_output
        self.bar: Any = None
        self.shown = 0  # steps of the current epoch already given to the bar

    def __call__(self, event_id: int, kind: str, data: Any) -> None:
        from nodecat.executor.training.progress import EpochProgress
        if kind == "step" and self.progress:
            if self.bar is None or self.bar.epoch != data["epoch"]:
                self.close()
                self.bar = EpochProgress(data["epoch"], data["epochs"], data["steps"]).__enter__()
                self.shown = 0
            metrics = {k: v for k, v in data.items() if k not in _STEP_KEYS and isinstance(v, (int, float))}
            self.bar.update(max(data["step"] - self.shown, 0), data["loss"], metrics, data["samples_per_second"])
            self.shown = data["step"]
        elif kind == "epoch":
            self.close()
            click.echo(epoch_line(data), err=True)
        elif kind == "state":
            if data.get("state") == "running":
                click.echo(f"running on the server (pid {data.get('pid', '?')})", err=True)
        elif kind == "cancel":
            self.close()
            click.echo("the job was asked to stop (cancel)", err=True)
        elif kind == "output" and self.show_output:
            line = str(data.get("line", ""))
            self.close()
            click.echo(f"  | {line}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def epoch_line(data: dict[str, Any]) -> str:
    """`epoch 2/5  loss 0.1234  accuracy 0.9512  val_loss ...  lr 0.001  1.2s  1,234 samples/s`: the line
    a local `nodecat train` prints after each epoch (progress.format_numbers), from an `epoch` event (whose
    JSON keys come sorted: loss first, then the metrics, then the held-out ones, as the history has them)."""
    return f"epoch {data['epoch']}/{data['epochs']}  {_numbers(data)}"


def _numbers(row: dict[str, Any]) -> str:
    """progress.format_numbers of a history row whose keys came sorted: loss, the metrics, then val_*."""
    from nodecat.executor.training.progress import format_numbers
    names = [k for k, v in row.items() if k not in _EPOCH_EXTRA and k != "epoch" and v is not None]
    order = sorted(names, key=lambda k: (k.startswith("val_"), k.removeprefix("val_") != "loss", k))
    return format_numbers({k: row[k] for k in order})


def _job_line(job: dict[str, Any]) -> str:
    created = datetime.datetime.fromtimestamp(job["created"]).strftime("%Y-%m-%d %H:%M:%S") if job.get("created") \
        else "-"
    return f"{job['id']}  {job['kind']:<8}  {job['state']:<11}  {created}  {_progress_text(job)}"


def _progress_text(job: dict[str, Any]) -> str:
    metrics = job.get("metrics") or {}
    parts = []
    if "epoch" in metrics:
        parts.append(f"epoch {metrics['epoch']}/{metrics.get('epochs', '?')}")
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if isinstance(metrics.get(name), (int, float)):
            parts.append(f"{name} {metrics[name]:.4f}")
    if job.get("seconds") is not None:
        parts.append(f"{job['seconds']:.1f}s")
    return "  ".join(parts)


def _print_job(job: dict[str, Any]) -> None:
    click.echo(_job_line(job))
    if job.get("graph"):
        click.echo(f"  graph      {job['graph']}")
    for name in ("started", "finished"):
        if job.get(name):
            click.echo(f"  {name:<10} {datetime.datetime.fromtimestamp(job[name]).strftime('%Y-%m-%d %H:%M:%S')}")
    result = job.get("result") or {}
    if job.get("kind") == "train" and isinstance(result.get("loss"), (int, float)):
        # as a local `nodecat train` ends
        what = "held-out accuracy" if "val_accuracy" in (result.get("final") or {}) else "training accuracy"
        numbers = f"{what} {result['accuracy']:.4f} (loss {result['loss']:.4f})" \
            if isinstance(result.get("accuracy"), (int, float)) else f"loss {result['loss']:.4f}"
        click.echo(f"  {numbers} after {result.get('epochs')} epochs in {result.get('seconds', 0):.1f} s "
                   f"on {result.get('device')}")
    if isinstance(result.get("final"), dict):
        click.echo(f"  final      {_numbers(result['final'])}")
    for name in ("device", "weights", "plot", "history", "checkpoint", "file"):
        if isinstance(result.get(name), str):
            click.echo(f"  {name:<10} {result[name]}")
    for name, output in (result.get("outputs") or {}).items():
        click.echo(f"  output     {name}: {output.get('file')} {output.get('shape')} {output.get('dtype')}")
    if job.get("error"):
        print_problems(_problems(job["error"]))


@click.command("submit")
@click.argument("graph", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@SERVER_OPT
@TOKEN_OPT
@click.option("--train", "kind", flag_value="train", default=True, help="Train the graph (the default).")
@click.option("--run", "kind", flag_value="run", help="Run the graph once on --input arrays.")
@click.option("--evaluate", "kind", flag_value="evaluate", help="Loss and metrics with --weights over the data.")
@click.option("--profile", "kind", flag_value="profile", help="Time and memory of each node.")
@click.option("--export", "export_to", type=click.Choice(["python", "torch", "onnx", "keras"]), default=None,
              help="Export the graph as this (an export job).")
@click.option("--epochs", type=click.IntRange(1, 1_000_000), default=None, help="Train until this many epochs.")
@click.option("--batch-size", type=click.IntRange(1, 2**20), default=None, help="Rows per optimizer step.")
@click.option("--batch", type=click.IntRange(1, 2**20), default=None, help="Batch size of a --profile job.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None)
@click.option("--device", default=None, help="auto, cpu, mps, cuda or cuda:N on the server (default: auto).")
@click.option("--data", "data", multiple=True, metavar="[COLUMN=]FILE",
              help="Data file on the server, inside its data roots (repeatable).")
@click.option("--input", "inputs", multiple=True, metavar="NAME=FILE.npy",
              help="An input of a --run job: a local .npy file, uploaded (repeatable).")
@click.option("--weights", default=None, metavar="RUN_ID|FILE",
              help="Weights of an --evaluate job: a run's id (its weights.safetensors) or a file in the data roots.")
@click.option("--follow", is_flag=True, help="Show the job's progress until it ends, then download its files.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where --follow downloads the run's files (default: runs/<id>).")
@click.option("--all-files", is_flag=True, help="Download checkpoints/ and inputs/ too.")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="A progress bar per epoch on stderr while following (epoch lines are printed either way).")
@click.option("--show-output", is_flag=True, help="Also print the lines the job wrote to stdout and stderr.")
@JSON_OUT
def submit_cmd(graph: Path, server: str, token: str | None, kind: str, export_to: str | None, epochs: int | None,
               batch_size: int | None, batch: int | None, seed: int | None, device: str | None, data: tuple[str, ...],
               inputs: tuple[str, ...], weights: str | None, follow: bool, out_dir: Path | None, all_files: bool,
               progress: bool, show_output: bool, as_json: bool) -> None:
    """Queue GRAPH as a job on a nodecat server; with --follow, show it as a local `nodecat train`
    would and download its files. Ctrl-C stops following, not the job."""
    if export_to is not None:
        kind = "export"
    if out_dir is not None and not follow:
        raise click.UsageError("--out is where --follow downloads the files: add --follow "
                               "(or download later with `nodecat runs ID --out DIR`)")
    options: dict[str, Any] = {"epochs": epochs, "batch_size": batch_size, "seed": seed, "device": device,
                               "batch": batch, "to": export_to, "data": list(data) or None}
    if inputs:
        options["inputs"] = dict(_read_input(text) for text in inputs)
    if weights is not None:
        is_run = len(weights) == 32 and all(c in "0123456789abcdef" for c in weights)
        options["weights"] = {"run": weights} if is_run else {"file": weights}
    client = _client(server, token)
    with client:
        job = _guarded(as_json, lambda: client.submit(graph, kind, **options))
        if not follow:
            if as_json:
                emit_json({"ok": True, **job})
            else:
                click.echo(f"queued {job['kind']} job {job['id']} on {client.url}")
                click.echo(f"  follow it: nodecat runs --server {client.url} {job['id']}")
            return
        if not as_json:
            click.echo(f"queued {job['kind']} job {job['id']} on {client.url}", err=True)
        _follow(client, job["id"], out_dir or Path("runs") / job["id"], all_files, progress, show_output, as_json)


def _follow(client: Any, run_id: str, out_dir: Path, all_files: bool, progress: bool, show_output: bool,
            as_json: bool) -> None:
    follower = Follower(progress, show_output)
    try:
        final = _guarded(as_json, lambda: client.wait(run_id, follower))
    except KeyboardInterrupt:
        follower.close()
        click.echo(f"\nstopped following; job {run_id} goes on on the server. Cancel it with "
                   f"`nodecat runs --server {client.url} --cancel {run_id}`", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        follower.close()
    files: list[Path] = []
    if final["state"] == "succeeded":
        skip = () if all_files else SKIPPED_FILES
        files = _guarded(as_json, lambda: client.download_all(run_id, out_dir, skip))
    if as_json:
        emit_json({"ok": final["state"] == "succeeded", **final, "out_dir": str(out_dir),
                   "downloaded": [str(p) for p in files]})
    else:
        _print_job(final)
        if files:
            click.echo(f"  files      {len(files)} in {out_dir}")
    if final["state"] != "succeeded":
        if not final.get("error") and not as_json:
            click.secho(f"error the job ended {final['state']}", fg="red", err=True)
        sys.exit(EXIT_CHECK_FAILED)


@click.command("runs")
@click.argument("run_id", required=False, metavar="[ID]")
@SERVER_OPT
@TOKEN_OPT
@click.option("--state", type=click.Choice(["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]),
              default=None, help="Only the jobs in this state.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--cancel", "cancel_id", default=None, metavar="ID", help="Cancel this job (queued or running).")
@click.option("--delete", "delete_id", default=None, metavar="ID", help="Delete this ended job and its files.")
@click.option("--resume", "resume_id", default=None, metavar="ID",
              help="Queue this interrupted training job again, from its newest checkpoint.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="With ID: download the run's files here.")
@click.option("--all-files", is_flag=True, help="With --out: download checkpoints/ and inputs/ too.")
@JSON_OUT
def runs_cmd(run_id: str | None, server: str, token: str | None, state: str | None, limit: int,
             cancel_id: str | None, delete_id: str | None, resume_id: str | None, out_dir: Path | None,
             all_files: bool, as_json: bool) -> None:
    """The jobs of a nodecat server (id, kind, state, created, progress), newest first; one job with ID;
    --cancel, --resume or --delete one."""
    if sum(x is not None for x in (run_id, cancel_id, delete_id, resume_id)) > 1:
        raise click.UsageError("give one of ID, --cancel ID, --resume ID, --delete ID")
    if out_dir is not None and run_id is None:
        raise click.UsageError("--out downloads the files of one run: give its ID")
    client = _client(server, token)
    with client:
        if cancel_id is not None or delete_id is not None or resume_id is not None:
            answer = _guarded(as_json, lambda: client.cancel(cancel_id) if cancel_id else
                              client.resume(resume_id) if resume_id else client.delete(delete_id))
            if as_json:
                emit_json({"ok": True, **answer})
            elif cancel_id:
                click.echo(f"asked job {cancel_id} to stop; it is {answer['state']}")
            elif resume_id:
                click.echo(f"job {resume_id} is {answer['state']} again; it continues from its newest checkpoint")
            else:
                click.echo(f"deleted job {delete_id} and its files")
            return
        if run_id is not None:
            job = _guarded(as_json, lambda: client.run(run_id))
            files: list[Path] = []
            if out_dir is not None:
                files = _guarded(as_json, lambda: client.download_all(run_id, out_dir,
                                                                      () if all_files else SKIPPED_FILES))
            if as_json:
                emit_json({"ok": True, **job, **({"downloaded": [str(p) for p in files]} if out_dir else {})})
            else:
                _print_job(job)
                if out_dir is not None:
                    click.echo(f"  files      {len(files)} in {out_dir}")
            return
        jobs = _guarded(as_json, lambda: client.runs(state, limit))
        if as_json:
            emit_json({"ok": True, "server": client.url, "runs": jobs})
            return
        if not jobs:
            click.echo(f"no jobs on {client.url}")
        for job in jobs:
            click.echo(_job_line(job))
