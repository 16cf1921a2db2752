"""Training a torch graph: a plain PyTorch loop over the executor's module.

The loop is what a person would write by hand (forward, loss, zero_grad, backward, step), so a
graph trains as fast as its hand-written equivalent and, with the same seed and row order, gives
the same loss curve. Rows are visited in `data.epoch_order`, which depends only on (seed, epoch):
a resumed run visits the same batches as an uninterrupted one.

Under torch.distributed (`--nproc` or torchrun) the module is wrapped in DDP and every global
batch is split across the processes; each process scales its mean loss by its share of the batch,
so the averaged gradients are those of the whole batch and the weights match a single process.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from nodecat.executor.graph.errors import GraphError, GraphProblem
from nodecat.executor.training.metrics import MetricSum
from nodecat.executor.training.progress import TrainingStopped
from nodecat.executor.training.check import CheckedTrain, construct
from nodecat.executor.graph.validate import CheckedGraph

_DATA_ON_DEVICE_BYTES = 512 * 1024 ** 2  # smaller datasets move to the accelerator once, not per batch
_PROGRESS_EVERY_S = 0.25  # the bar is refreshed (and running metrics synchronised) this often


@dataclass(frozen=True)
class Distributed:
    rank: int
    world: int

    @property
    def main(self) -> bool:
        return self.rank == 0


@dataclass
class EpochNumbers:
    """Sums of one pass; `means()` gives loss and metrics per sample/element."""

    metrics: list[MetricSum]
    loss_sum: float = 0.0
    rows: int = 0

    def means(self) -> dict[str, float]:
        return {"loss": self.loss_sum / max(self.rows, 1), **{m.name: m.value() for m in self.metrics}}


class TorchTrainer:
    def __init__(self, checked: CheckedGraph, module: torch.nn.Module, device: str, dist: Distributed | None = None):
        assert checked.train is not None
        self.checked = checked
        self.train_spec: CheckedTrain = checked.train
        self.device = device
        self.dist = dist
        self.model = module
        if dist is not None and dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel
            self.model = DistributedDataParallel(module, device_ids=[device] if device.startswith("cuda") else None)
        self.module = module  # unwrapped: evaluation and state dicts never go through DDP
        # Without DDP the generated forward is called directly: the built module has no hooks, and
        # GraphModule.__call__ only adds a traceback wrapper, a few µs per step on a small model.
        self.forward = self.model if self.model is not module else getattr(module, "forward", module)
        self.optimizer = construct(self.train_spec.optimizer, list(module.parameters()))
        self.scheduler = None if self.train_spec.schedule is None else construct(self.train_spec.schedule, self.optimizer)
        self.loss_fn = None if self.train_spec.loss is None else construct(self.train_spec.loss).to(device)
        self.closure = isinstance(self.optimizer, torch.optim.LBFGS)  # it evaluates the loss several times
        self.input_names = [n.id for n in checked.inputs]
        self.output_names = [o.name for o in checked.graph.outputs]
        self.step_schedule = self.scheduler is not None and self.train_spec.spec.schedule_every == "step"
        self._loss_call = self._loss_caller()

    def _loss_caller(self) -> Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], torch.Tensor]:
        """The loss as a call with its arguments looked up in a fixed order: decided once, since
        building keyword dicts every step costs a measurable share of a small model's step."""
        spec = self.train_spec.spec.loss
        if self.loss_fn is None:
            name = str(spec.output)
            return lambda outputs, targets: outputs[name]
        ports = [p.name for p in self.train_spec.loss.descriptor.inputs]  # type: ignore[union-attr]
        fed = [(port, spec.inputs[port]) for port in ports if port in spec.inputs]
        loss_fn = self.loss_fn
        if [port for port, _ in fed] == ports[:len(fed)]:  # a prefix of the signature: positional
            getters = [(f.output is not None, f.output if f.output is not None else str(f.column)) for _, f in fed]
            if len(getters) == 2:
                (first_out, a), (second_out, b) = getters
                return lambda o, t: loss_fn((o if first_out else t)[a], (o if second_out else t)[b])
            return lambda o, t: loss_fn(*[(o if is_out else t)[k] for is_out, k in getters])
        return lambda o, t: loss_fn(**{port: o[f.output] if f.output is not None else t[str(f.column)]
                                       for port, f in fed})
    # -- one batch -------------------------------------------------------------------------------
    def outputs(self, model: Any, inputs: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        values = model(*inputs)
        if len(self.output_names) == 1:
            return {self.output_names[0]: values}
        return dict(zip(self.output_names, values))

    def loss(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        value = self._loss_call(outputs, targets)
        return value if value.dim() == 0 else value.mean()  # reduction="none": the mean is minimised

    def step(self, inputs: list[torch.Tensor], targets: dict[str, torch.Tensor],
             scale: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.closure:
            seen: list[tuple[torch.Tensor, dict[str, torch.Tensor]]] = []

            def closure() -> torch.Tensor:
                self.optimizer.zero_grad(set_to_none=True)
                outputs = self.outputs(self.forward, inputs)
                loss = self.loss(outputs, targets)
                (loss * scale if scale != 1.0 else loss).backward()
                seen.append((loss, outputs))
                if self.dist is not None and self.dist.world > 1:
                    # LBFGS decides from the returned loss how often to call again: every process
                    # must see the same (global) loss, or their collectives stop matching
                    import torch.distributed as dist
                    synced = loss.detach() * (scale / self.dist.world)
                    dist.all_reduce(synced)
                    return synced
                return loss
            self.optimizer.step(closure)
            return seen[0]
        outputs = self.outputs(self.forward, inputs)
        loss = self.loss(outputs, targets)
        self.optimizer.zero_grad(set_to_none=True)
        (loss * scale if scale != 1.0 else loss).backward()
        self.optimizer.step()
        return loss, outputs

    # -- passes over the data --------------------------------------------------------------------
    def train_epoch(self, epoch: int, epochs: int, order: np.ndarray, data: "DeviceData", batch_size: int,
                    progress: Callable[[int, int, int], Any]) -> tuple[EpochNumbers, float]:
        """One epoch over `order`; (train numbers, seconds). Raises loss_not_finite at the first bad step."""
        self.model.train()
        world = self.dist.world if self.dist is not None else 1
        rank = self.dist.rank if self.dist is not None else 0
        starts = _batch_starts(len(order), batch_size, world)
        numbers = self._new_numbers()
        bar = progress(epoch, epochs, len(starts))
        order_t = data.index(order)
        began = last_shown = time.perf_counter()
        shown = 0
        watched = getattr(bar, "observer", None) is not None  # someone may ask the loop to stop
        with bar:
            for step, start in enumerate(starts):
                if watched and bar.stop_requested():
                    raise TrainingStopped(epoch + 1, step)
                rows = order_t[start:start + batch_size]
                size = len(rows)
                if world > 1:
                    rows = rows[rank::world]  # this process's share of the global batch
                inputs, targets = data.batch(rows)
                loss, outputs = self.step(inputs, targets, len(rows) * world / size if world > 1 else 1.0)
                value = self._batch_loss(loss, len(rows), size)
                if not math.isfinite(value):
                    raise GraphError(GraphProblem(
                        "loss_not_finite", f"the loss became {value} at epoch {epoch + 1}, step {step + 1} of "
                        f"{len(starts)}; training stopped", hint="lower the learning rate, or check the data for "
                        "extreme values; the last checkpoint holds the weights of the last finished epoch"))
                numbers.loss_sum += value * size
                numbers.rows += size
                with torch.no_grad():
                    self._add_metrics(numbers, outputs, targets)
                if self.step_schedule:
                    self.scheduler.step()  # type: ignore[union-attr]
                now = time.perf_counter()
                if now - last_shown >= _PROGRESS_EVERY_S or step + 1 == len(starts):
                    last_shown = now
                    running = {m.name: m.value() for m in numbers.metrics}
                    bar.update(step + 1 - shown, numbers.loss_sum / numbers.rows, running,
                               numbers.rows / max(now - began, 1e-9))
                    shown = step + 1
        seconds = time.perf_counter() - began
        self._reduce_metrics(numbers)
        return numbers, seconds

    def evaluate(self, rows: np.ndarray, data: "DeviceData", batch_size: int) -> EpochNumbers:
        """Loss and metrics over `rows` in inference mode (every process evaluates all of them)."""
        self.module.eval()
        numbers = self._new_numbers()
        order_t = data.index(rows)
        with torch.inference_mode():
            for start in range(0, len(rows), batch_size):
                batch = order_t[start:start + batch_size]
                inputs, targets = data.batch(batch)
                outputs = self.outputs(self.module, inputs)
                numbers.loss_sum += float(self.loss(outputs, targets)) * len(batch)
                numbers.rows += len(batch)
                self._add_metrics(numbers, outputs, targets)
        self.module.train()
        return numbers

    def end_epoch(self, validation_loss: float | None, train_loss: float) -> None:
        if self.scheduler is not None and self.train_spec.spec.schedule_every == "epoch":
            if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(validation_loss if validation_loss is not None else train_loss)
            else:
                self.scheduler.step()

    def learning_rate(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # -- helpers ---------------------------------------------------------------------------------
    def _new_numbers(self) -> EpochNumbers:
        return EpochNumbers([MetricSum(m.name, class_dim=1) for m in self.train_spec.metrics])

    def _add_metrics(self, numbers: EpochNumbers, outputs: dict[str, torch.Tensor],
                     targets: dict[str, torch.Tensor]) -> None:
        for metric, spec in zip(numbers.metrics, self.train_spec.metrics):
            metric.add(outputs[spec.output], targets[spec.column])

    def _batch_loss(self, loss: torch.Tensor, local_rows: int, global_rows: int) -> float:
        """The global batch's mean loss as a float (the one host sync per step)."""
        if self.dist is None or self.dist.world == 1:
            return loss.item()
        import torch.distributed as dist
        share = loss.detach() * (local_rows / global_rows)
        dist.all_reduce(share)
        return share.item()

    def _reduce_metrics(self, numbers: EpochNumbers) -> None:
        """Per-process metric sums and counts become the global ones (the loss already is)."""
        if self.dist is None or self.dist.world == 1 or not numbers.metrics:
            return
        import torch.distributed as dist
        packed = torch.tensor([float(m.total) for m in numbers.metrics] + [float(m.count) for m in numbers.metrics],
                              dtype=torch.float64, device=self.device)
        dist.all_reduce(packed)
        count = len(numbers.metrics)
        for i, metric in enumerate(numbers.metrics):
            metric.total, metric.count = packed[i].item(), int(packed[count + i].item())


def _batch_starts(rows: int, batch_size: int, world: int) -> list[int]:
    """Start of each global batch; with several processes a last batch smaller than the number of
    processes is dropped (a process with no rows would leave the others waiting)."""
    starts = list(range(0, rows, batch_size))
    if world > 1 and starts and rows - starts[-1] < world:
        starts.pop()
    return starts


class DeviceData:
    """The prepared arrays as tensors; on an accelerator moved once when small enough."""

    def __init__(self, inputs: dict[str, np.ndarray], targets: dict[str, np.ndarray], input_names: list[str],
                 device: str):
        arrays = [inputs[name] for name in input_names] + list(targets.values())
        resident = device == "cpu" or sum(a.nbytes for a in arrays) <= _DATA_ON_DEVICE_BYTES
        self.device = device
        self.where = device if resident else "cpu"
        self.inputs = [torch.from_numpy(inputs[name]).to(self.where) for name in input_names]
        self.targets = {name: torch.from_numpy(array).to(self.where) for name, array in targets.items()}

    def index(self, rows: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int64)).to(self.where)

    def batch(self, rows: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
        inputs = [t.index_select(0, rows) for t in self.inputs]
        targets = {name: t.index_select(0, rows) for name, t in self.targets.items()}
        if self.where != self.device:
            inputs = [t.to(self.device, non_blocking=True) for t in inputs]
            targets = {name: t.to(self.device, non_blocking=True) for name, t in targets.items()}
        return inputs, targets


class TorchBackend:
    """The training backend of torch (and mixed torch+Keras) graphs, as nodecat.executor.training.session drives it."""

    def __init__(self, checked: CheckedGraph, prepared: Any, device: str, rank: int, world: int, progress: bool,
                 observer: Any = None):
        from nodecat.executor.build.run import build
        self.checked = checked
        self.spec = checked.train.spec  # type: ignore[union-attr]
        module = build(checked, device=device, budget=None)
        if rank > 0:  # same initial weights everywhere (seeded before the build), own dropout masks
            torch.manual_seed(self.spec.seed + rank)
        self.trainer = TorchTrainer(checked, module, device, Distributed(rank, world) if world > 1 else None)
        self.data = DeviceData(prepared.inputs, prepared.targets, self.trainer.input_names, device)
        self.progress = progress
        self.observer = observer  # a TrainObserver (progress.py), or None

    def _bar(self, epoch: int, epochs: int, steps: int) -> Any:
        from nodecat.executor.training.progress import EpochProgress
        bar = EpochProgress(epoch + 1, epochs, steps, enabled=self.progress)
        if self.observer is not None:
            bar.observer = self.observer
        return bar

    def train_epoch(self, epoch: int, order: np.ndarray) -> tuple[dict[str, float], float]:
        numbers, seconds = self.trainer.train_epoch(epoch, self.spec.epochs, order, self.data, self.spec.batch_size,
                                                    self._bar)
        return numbers.means(), seconds

    def evaluate(self, rows: np.ndarray) -> dict[str, float]:
        return self.trainer.evaluate(rows, self.data, self.spec.batch_size).means()

    def end_epoch(self, validation_loss: float | None, train_loss: float) -> None:
        self.trainer.end_epoch(validation_loss, train_loss)

    def learning_rate(self) -> float:
        return self.trainer.learning_rate()

    def snapshot(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Weights as tensors; optimizer, scheduler and RNG state as they are (the checkpoint stores
        their tensors beside the weights and the rest as JSON)."""
        from nodecat.executor.training.checkpoint import torch_rng_state
        tensors = {f"model.{k}": v for k, v in self.trainer.module.state_dict().items()}
        state: dict[str, Any] = {"optimizer": self.trainer.optimizer.state_dict(), "rng": torch_rng_state()}
        if self.trainer.scheduler is not None:
            state["scheduler"] = self.trainer.scheduler.state_dict()
        return tensors, state

    def restore(self, tensors: dict[str, Any], state: dict[str, Any]) -> None:
        from nodecat.executor.training.checkpoint import set_torch_rng_state
        model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        try:
            self.trainer.module.load_state_dict(model, strict=True)
            self.trainer.optimizer.load_state_dict(state["optimizer"])
            if self.trainer.scheduler is not None:
                self.trainer.scheduler.load_state_dict(state["scheduler"])
            set_torch_rng_state(state["rng"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise GraphError(GraphProblem("bad_checkpoint", f"the checkpoint does not fit this graph: "
                                          f"{str(exc).splitlines()[0][:300]}",
                                          hint="resume with the graph that wrote it, or use a new --out")) from None

    def save_weights(self, path: Any) -> None:
        from nodecat.executor.build.weights import save_weights
        save_weights(self.trainer.module, path)

    def load_weights(self, path: Any) -> None:
        from nodecat.executor.build.weights import load_weights
        load_weights(self.trainer.module, path)
