"""One progress bar per training epoch, cheap enough to update on every step; and the observer
hook through which a caller (the server's worker) hears each step and epoch and asks the loop to stop.

On a terminal: `epoch 3/10  [######      ]   45%  00:00:12  loss 0.1234  accuracy 0.9512  1,234 samples/s`,
redrawn in place. Elsewhere (CI logs, pipes) click's bar prints only the label, once, so a log gets
two lines an epoch (the label and the summary), never thousands of carriage returns.
"""
from __future__ import annotations

import math
import sys
import time
from types import TracebackType
from typing import Any, Mapping, Protocol, TextIO

# click redraws on every bar.update() (it only skips writing an unchanged line, and with a new
# loss every step the line always changes), so updates are batched here: at most ~10 redraws/s.
RENDER_INTERVAL_S = 0.1
_BOOKKEEPING = ("lr", "seconds", "samples_per_second")


class TrainObserver(Protocol):
    """What a training run tells its caller besides the bars (TrainOptions.observer), main process only.

    `on_step` comes as often as the bar is refreshed (about 4 times a second, and at the last step of
    an epoch), `on_epoch` once an epoch's row is in the history and its checkpoint is written.
    `stop_requested` is asked before every step: True makes the loop stop there (TrainingStopped),
    keeping the checkpoint of the last finished epoch, so a resume continues exactly."""

    def on_step(self, epoch: int, epochs: int, step: int, steps: int, loss: float, metrics: Mapping[str, float],
                samples_per_second: float) -> None: ...

    def on_epoch(self, epoch: int, epochs: int, row: Mapping[str, float], checkpoint: str | None) -> None: ...

    def stop_requested(self) -> bool: ...


class TrainingStopped(Exception):
    """The observer asked the loop to stop; raised between steps, caught by the session's epoch loop,
    which returns a report with stopped=True (an interruption asked for, not an error)."""

    def __init__(self, epoch: int, step: int):
        super().__init__(f"stopped as asked at epoch {epoch}, step {step}")
        self.epoch, self.step = epoch, step


class EpochProgress:
    """A bar for one epoch on stderr (or `stream`); `finish(summary)` ends it with one summary line.

        with EpochProgress(epoch, epochs, steps) as progress:
            for batch in batches:
                ...
                progress.update(1, loss, {"accuracy": acc}, samples_per_second)
            progress.finish({"loss": ..., "accuracy": ..., "val_loss": ..., "seconds": ...})

    enabled=False prints nothing and makes update() a single attribute test. `loss` and the
    metrics are turned into text only when the bar is redrawn, so passing a value whose float()
    is costly (a GPU scalar) costs that only ~10 times a second, not every step. An `observer`
    hears every update() (with the loss and metrics as floats) and is asked by `stop_requested()`.
    """

    def __init__(self, epoch: int, epochs: int, steps: int, enabled: bool = True,
                 stream: TextIO | None = None, observer: TrainObserver | None = None):
        self.label = f"epoch {epoch}/{epochs}"
        self.epoch, self.epochs = epoch, epochs
        self.observer = observer
        self._done = 0  # steps reported so far (the observer's step count)
        self.steps = max(int(steps), 0)
        self.enabled = enabled
        self._stream = stream
        self._bar: Any = None
        self._closed = False
        self._pending = 0
        self._next_render = 0.0
        self._loss: Any = None  # None until the first update: the bar shows no numbers yet
        self._metrics: Mapping[str, Any] = {}
        self._samples_per_second: Any = math.nan

    def __enter__(self) -> EpochProgress:
        self._open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._close()

    def update(self, steps: int, loss: float, metrics: Mapping[str, float],
               samples_per_second: float) -> None:
        """Advance by `steps` and remember the latest numbers; redraws at most every 0.1 s."""
        if self.observer is not None:
            self._done += steps
            self.observer.on_step(self.epoch, self.epochs, self._done, self.steps, float(loss),
                                  {name: float(value) for name, value in metrics.items()}, float(samples_per_second))
        if not self.enabled or self._closed:
            return
        self._pending += steps
        self._loss, self._metrics, self._samples_per_second = loss, metrics, samples_per_second
        now = time.monotonic()
        if now < self._next_render:
            return
        self._next_render = now + RENDER_INTERVAL_S
        self._open()
        self._flush()

    def stop_requested(self) -> bool:
        """Whether the observer asks the loop to stop before its next step (False without one)."""
        return self.observer is not None and self.observer.stop_requested()

    def finish(self, summary: Mapping[str, float]) -> None:
        """End the bar and print `<label>  loss 0.1234  accuracy 0.95  val_loss ...  12.3s  1,234 samples/s`."""
        if not self.enabled:
            return
        self._close()
        stream = self._target()
        stream.write(f"{self.label}  {format_numbers(summary)}".rstrip() + "\n")
        stream.flush()

    def _target(self) -> TextIO:
        # looked up late, not at import or construction: tests and callers may swap sys.stderr
        return self._stream if self._stream is not None else sys.stderr

    def _open(self) -> None:
        if not self.enabled or self._bar is not None or self._closed:
            return
        import click
        self._bar = click.progressbar(length=self.steps, label=self.label, file=self._target(),
                                      width=24, item_show_func=self._info)
        self._bar.__enter__()
        self._next_render = time.monotonic() + RENDER_INTERVAL_S

    def _flush(self) -> None:
        if self._pending and self._bar is not None:
            self._bar.update(self._pending)
            self._pending = 0

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._flush()
            self._bar.__exit__(None, None, None)
            self._bar = None

    def _info(self, _item: object) -> str:
        if self._loss is None:
            return ""
        numbers = {"loss": self._loss, **self._metrics, "samples_per_second": self._samples_per_second}
        return format_numbers(numbers)


def format_numbers(values: Mapping[str, Any]) -> str:
    """`loss 0.1234  accuracy 0.9512  lr 0.01  1.2s  1,234 samples/s`: the metrics in the order
    given, then the learning rate, the time and the throughput; "epoch" is left out."""
    parts = [f"{name} {_number(value)}" for name, value in values.items()
             if name != "epoch" and name not in _BOOKKEEPING]
    if "lr" in values:
        parts.append(f"lr {float(values['lr']):.3g}")
    if "seconds" in values:
        parts.append(f"{float(values['seconds']):.1f}s")
    if "samples_per_second" in values:
        rate = float(values["samples_per_second"])
        parts.append(f"{rate:,.0f} samples/s" if math.isfinite(rate) else "")
    return "  ".join(p for p in parts if p)


def _number(value: Any) -> str:
    number = float(value)
    if not math.isfinite(number):
        return str(number)
    if number != 0 and not 1e-3 <= abs(number) < 1e4:
        return f"{number:.3e}"  # a tiny lr-like or huge loss stays readable in a fixed width
    return f"{number:.4f}"
