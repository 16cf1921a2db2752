"""Training a Keras graph: `model.fit` on the built keras.Model, one epoch per call.

The epoch loop stays in nodecat.executor.training.session; each epoch here is one `fit(..., epochs=1,
shuffle=False)` over the rows in the order `data.epoch_order` gives, so a Keras graph visits its
data exactly as a torch graph does (and as a hand-written `fit` on the same rows would), and a
resumed run continues bit for bit: the model's variables (Keras' seed generators included), the
optimizer's variables (its step count, so a schedule goes on where it was) and torch's random state
are all in the checkpoint.

The model trained is the built model restricted to the output the loss reads (it shares the
layers, so the weights saved are those of the whole graph). A graph output that is the loss is
minimised through a Keras loss that returns the mean of that output.
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from typing import Any, Iterator

import numpy as np

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.graph.validate import CheckedGraph

_PROGRESS_EVERY_S = 0.25  # the bar is refreshed this often (torch_train's rate)
_CHECKPOINT_HINT = "resume with the graph that wrote it, or use a new --out"


def _output_loss_class() -> Any:
    import keras

    class OutputMean(keras.losses.Loss):
        """The loss of a graph whose output is the loss: the mean of that output (y_true is unused)."""

        def call(self, y_true: Any, y_pred: Any) -> Any:
            return keras.ops.mean(y_pred)

    return OutputMean


class KerasTrainer:
    """The training backend of all-Keras graphs, as nodecat.executor.training.session drives it (see its Backend)."""

    def __init__(self, checked: CheckedGraph, prepared: Any, device: str, progress: bool, observer: Any = None):
        import keras

        from nodecat.executor.build.run import build
        from nodecat.executor.training.check import build_keras_parts
        assert checked.train is not None
        self.checked = checked
        self.train_spec = checked.train
        self.spec = checked.train.spec
        self.device = device
        self.progress = progress
        self.observer = observer  # a TrainObserver (progress.py), or None
        self.prepared = prepared
        self.input_names = [n.id for n in checked.inputs]
        self.model = build(checked, device=device, budget=None)  # the whole graph: what is saved
        output = self.train_spec.prediction if self.train_spec.loss is not None else self.spec.loss.output
        assert output is not None
        self.target = self.train_spec.target  # None for a graph-output loss
        self._check_metrics(output)
        self.train_model = self._restricted(output)
        optimizer, loss = build_keras_parts(self.train_spec)
        if loss is None:
            loss = _output_loss_class()(name="graph_output_loss")
        prediction_shape = tuple(self.train_model.outputs[0].shape)
        self.metric_names = [m.name for m in self.train_spec.metrics]
        metrics = []
        if self.target is not None:
            target_rank = self.prepared.targets[self.target].ndim
            classes = prediction_shape[-1] if len(prediction_shape) > 1 else None
            from nodecat.executor.training.metrics import keras_metric
            metrics = [keras_metric(m.name, len(prediction_shape), target_rank, classes)
                       for m in self.train_spec.metrics]
        with keras.device(device):
            self.train_model.compile(optimizer=optimizer, loss=loss, metrics=metrics or None, jit_compile=False)
            self._build_state()
        self.optimizer = optimizer

    # -- setup -----------------------------------------------------------------------------------
    def _check_metrics(self, output: str) -> None:
        """model.fit computes metrics on the output it trains against the target it trains with."""
        metrics = self.train_spec.metrics
        if self.train_spec.loss is None:
            if metrics:
                raise GraphError(GraphProblem(
                    "unsupported_training", "a Keras graph whose loss is a graph output trains without metrics: "
                    "model.fit computes metrics on the prediction the loss compares with a data column",
                    pointer="/train/metrics", hint='remove "metrics", or use a catalog loss (keras.losses.*)'))
            return
        problems = [GraphProblem(
            "unsupported_training", f"metric {m.name!r} reads output {m.output!r} and column {m.column!r}; "
            f"model.fit computes metrics only on the loss's prediction {output!r} against its target "
            f"{self.target!r}", pointer=f"/train/metrics/{m.index}",
            hint=f'write the metric as "{m.name}", or remove it')
            for m in metrics if m.output != output or m.column != self.target]
        if problems:
            raise GraphError(problems)

    def _build_state(self) -> None:
        """Create the metric, loss and optimizer state now, from shapes alone. Left to the first
        `fit`, Keras would build it by drawing a batch from a fresh data loader, which draws a seed
        from torch's global generator: the first epoch of a process (a resumed one included) would
        then see other dropout masks than the same epoch of an uninterrupted run."""
        build = getattr(self.train_model, "_symbolic_build", None)
        if build is None or self.prepared.rows == 0:
            return
        build(data_batch=self._data(np.zeros(1, dtype=np.int64)))

    def _restricted(self, output: str) -> Any:
        """The built model, or (several outputs) a model of the same layers ending at `output`."""
        import keras
        outputs = list(self.model.outputs)
        if len(outputs) == 1:
            return self.model
        names = [o.name for o in self.checked.graph.outputs]
        inputs = self.model.inputs
        return keras.Model(inputs[0] if len(inputs) == 1 else list(inputs), outputs[names.index(output)])

    # -- data ------------------------------------------------------------------------------------
    def _data(self, rows: np.ndarray) -> tuple[Any, np.ndarray]:
        inputs = [self.prepared.inputs[name][rows] for name in self.input_names]
        x = inputs[0] if len(inputs) == 1 else inputs
        if self.target is None:
            return x, np.zeros(len(rows), dtype=np.float32)  # unused by the output loss
        return x, self.prepared.targets[self.target][rows]

    def _numbers(self, logs: dict[str, Any]) -> dict[str, float]:
        """{"loss", <metric names>} from Keras' logs (whatever prefix Keras gives a metric)."""
        out = {"loss": float(_last(logs["loss"]))}
        for name in self.metric_names:
            key = name if name in logs else next(k for k in logs if k.endswith("_" + name))
            out[name] = float(_last(logs[key]))
        return out

    # -- the Backend protocol --------------------------------------------------------------------
    def train_epoch(self, epoch: int, order: np.ndarray) -> tuple[dict[str, float], float]:
        """One `fit` epoch over `order`; (train numbers, seconds). Raises loss_not_finite at the first bad step."""
        import keras

        from nodecat.executor.training.progress import EpochProgress
        batch_size = self.spec.batch_size
        steps = math.ceil(len(order) / batch_size)
        x, y = self._data(order)
        bar = EpochProgress(epoch + 1, self.spec.epochs, steps, enabled=self.progress)
        if self.observer is not None:
            bar.observer = self.observer
        watch = _epoch_watch(bar, steps, batch_size, len(order), self.metric_names)
        began = time.perf_counter()
        with bar, keras.device(self.device), _quiet_keras_numpy():
            history = self.train_model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0,
                                           callbacks=[watch])
        seconds = time.perf_counter() - began
        if watch.stopped_at is not None:
            from nodecat.executor.training.progress import TrainingStopped
            raise TrainingStopped(epoch + 1, watch.stopped_at)
        if watch.bad is not None:
            value, step = watch.bad
            raise GraphError(GraphProblem(
                "loss_not_finite", f"the loss became {value} at epoch {epoch + 1}, step {step + 1} of {steps}; "
                "training stopped", hint="lower the learning rate, or check the data for extreme values; the last "
                "checkpoint holds the weights of the last finished epoch"))
        return self._numbers(history.history), seconds

    def evaluate(self, rows: np.ndarray) -> dict[str, float]:
        """Loss and metrics over `rows` in inference mode (Keras' evaluate)."""
        import keras
        x, y = self._data(np.asarray(rows, dtype=np.int64))
        with keras.device(self.device), _quiet_keras_numpy():
            numbers = self.train_model.evaluate(x, y, batch_size=self.spec.batch_size, return_dict=True, verbose=0)
        return self._numbers(numbers)

    def end_epoch(self, validation_loss: float | None, train_loss: float) -> None:
        """Nothing: a Keras schedule is the optimizer's learning rate and counts steps itself."""

    def learning_rate(self) -> float:
        """The learning rate the next step uses (a schedule's value at the optimizer's step count)."""
        from nodecat.executor.build.arrays import to_numpy
        return float(to_numpy(self.optimizer.learning_rate))

    def snapshot(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Tensors: "model.<weight path>", "rng.<i>" (seed generators), "optimizer.<i>"; state: counts and torch's RNG."""
        from nodecat.executor.training.checkpoint import torch_rng_state
        tensors = {name: _tensor(v) for name, v in self._variables().items()}
        state: dict[str, Any] = {"optimizer": type(self.optimizer).__name__,
                                 "optimizer_variables": len(self.optimizer.variables),
                                 "rng_variables": len(self._rng_variables()), "rng": torch_rng_state()}
        return tensors, state

    def restore(self, tensors: dict[str, Any], state: dict[str, Any]) -> None:
        """Put back what snapshot() gave; anything missing, extra or mis-shaped is bad_checkpoint."""
        from nodecat.executor.training.checkpoint import set_torch_rng_state
        variables = self._variables()
        saved = tensors
        counts = (state.get("optimizer_variables"), state.get("rng_variables"))
        if counts != (len(self.optimizer.variables), len(self._rng_variables())):
            raise _bad_checkpoint(f"it holds {counts[0]} optimizer and {counts[1]} random-state variables, this "
                                  f"graph's {type(self.optimizer).__name__} has {len(self.optimizer.variables)} and "
                                  f"its layers {len(self._rng_variables())}")
        from nodecat.executor.build.weights import name_mismatch
        mismatch = name_mismatch({k: tuple(v.shape) for k, v in saved.items()},
                                 {k: tuple(v.shape) for k, v in variables.items()})
        if mismatch:
            raise _bad_checkpoint(mismatch)
        import keras
        try:
            rng = state["rng"]
            with keras.device(self.device):
                for name, variable in variables.items():
                    variable.assign(saved[name].to(_torch_dtype(variable)))
            set_torch_rng_state(rng)
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise _bad_checkpoint(str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__) from None

    def save_weights(self, path: Any) -> None:
        from nodecat.executor.build.weights import save_weights
        save_weights(self.model, path)

    def load_weights(self, path: Any) -> None:
        from nodecat.executor.build.weights import load_weights
        load_weights(self.model, path)

    # -- helpers ---------------------------------------------------------------------------------
    def _rng_variables(self) -> list[Any]:
        """Variables of the model that are not weights: seed generator states (dropout and the like).
        Their paths depend on how many generators the process made before, so they go by position."""
        weights = {id(v) for v in self.model.weights}
        return [v for v in self.model.variables if id(v) not in weights]

    def _variables(self) -> dict[str, Any]:
        from nodecat.executor.build.weights import keras_weight_name
        if not self.optimizer.built:  # before the first step (a snapshot at epoch 0, a restore)
            self.optimizer.build(self.train_model.trainable_variables)
        out = {f"model.{keras_weight_name(v)}": v for v in self.model.weights}
        out.update({f"rng.{i}": v for i, v in enumerate(self._rng_variables())})
        out.update({f"optimizer.{i}": v for i, v in enumerate(self.optimizer.variables)})
        return out


_CALLBACK: Any = None


def _epoch_watch(bar: Any, steps: int, batch_size: int, rows: int, metric_names: list[str]) -> Any:
    """A Keras callback that feeds the progress bar and stops fit at the first non-finite loss."""
    global _CALLBACK
    if _CALLBACK is None:
        import keras

        class EpochWatch(keras.callbacks.Callback):
            def __init__(self, bar: Any, steps: int, batch_size: int, rows: int, metric_names: list[str]):
                super().__init__()
                self.bar, self.steps, self.batch_size, self.rows = bar, steps, batch_size, rows
                self.metric_names = metric_names
                self.bad: tuple[float, int] | None = None  # (loss, step) of the first non-finite loss
                self.began = self.last_shown = time.perf_counter()
                self.shown_steps = 0
                self.stopped_at: int | None = None  # steps done when the observer asked to stop

            def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
                if getattr(self.bar, "observer", None) is not None and self.bar.stop_requested():
                    self.stopped_at = batch
                    self.model.stop_training = True

            def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
                self.began = self.last_shown = time.perf_counter()

            def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
                logs = logs or {}
                loss = float(logs.get("loss", math.nan))  # the running mean: non-finite from the bad step on
                if not math.isfinite(loss):
                    self.bad = (loss, batch)
                    self.model.stop_training = True
                    return
                now = time.perf_counter()
                if now - self.last_shown >= _PROGRESS_EVERY_S or batch + 1 == self.steps:
                    self.last_shown = now
                    done = min((batch + 1) * self.batch_size, self.rows)
                    running = {name: float(logs[name]) for name in self.metric_names if name in logs}
                    self.bar.update(batch + 1 - self.shown_steps, loss, running, done / max(now - self.began, 1e-9))
                    self.shown_steps = batch + 1

        _CALLBACK = EpochWatch
    return _CALLBACK(bar, steps, batch_size, rows, metric_names)


def _last(value: Any) -> Any:
    return value[-1] if isinstance(value, (list, tuple)) else value


def _tensor(variable: Any) -> Any:
    """A Keras variable's value as a torch tensor (the torch backend's variables hold one)."""
    import torch
    value = variable.value
    if isinstance(value, torch.Tensor):
        return value.detach()
    from nodecat.executor.build.arrays import to_numpy
    return torch.from_numpy(np.ascontiguousarray(to_numpy(variable)))


def _torch_dtype(variable: Any) -> Any:
    import torch
    return getattr(torch, str(variable.dtype))


def _bad_checkpoint(message: str) -> GraphError:
    return GraphError(GraphProblem("bad_checkpoint", f"the checkpoint does not fit this graph: {message}",
                                   hint=_CHECKPOINT_HINT))


@contextlib.contextmanager
def _quiet_keras_numpy() -> Iterator[None]:
    """Keras' torch backend turns tensors into numpy arrays with a call numpy 2 flags as deprecated,
    once per logged value: thousands of identical warnings per run that the user can do nothing about."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept a copy keyword",
                                category=DeprecationWarning)
        yield
