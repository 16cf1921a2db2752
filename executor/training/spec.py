"""The graph's `train` section as plain frozen values.

`TrainSpec.from_json` expects a section that already passed the graph schema (the loader checks
it); `to_json` gives it back. What the section names (ops, arguments, ports, outputs) is checked
against the catalogs by `nodecat.executor.training.check`; its columns are checked against the data when the
data is read (`nodecat.executor.training.data`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nodecat.executor.graph.vocabulary import MetricName, ScheduleStep
from nodecat.introspector.errors import json_pointer

DEFAULTS: dict[str, Any] = {"epochs": 10, "batch_size": 32, "validation_split": 0.2, "shuffle": True, "seed": 0}


@dataclass(frozen=True)
class Feed:
    """What feeds a loss input or a metric: a declared graph output, or a column of the data."""

    output: str | None = None
    column: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, str]) -> "Feed":
        return cls(output=data.get("output"), column=data.get("column"))

    def to_json(self) -> dict[str, str]:
        return {"output": self.output} if self.output is not None else {"column": str(self.column)}


@dataclass(frozen=True)
class Component:
    """A catalog optimizer, scheduler or loss with its literal arguments; `pointer` locates it."""

    op: str
    args: dict[str, Any]
    pointer: str

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "args": self.args} if self.args else {"op": self.op}


@dataclass(frozen=True)
class LossSpec:
    """Either a catalog loss fed by graph outputs and data columns, or a graph output that is the loss."""

    component: Component | None = None
    inputs: dict[str, Feed] = field(default_factory=dict)  # loss input port -> what feeds it
    output: str | None = None  # the graph output that is the loss

    def to_json(self) -> dict[str, Any]:
        if self.component is None:
            return {"output": self.output}
        return {**self.component.to_json(), "inputs": {port: feed.to_json() for port, feed in self.inputs.items()}}


@dataclass(frozen=True)
class MetricSpec:
    """A metric of the closed vocabulary, on a graph output against a data column.

    `short`: written as a bare name, which means "on the loss's prediction and target"; the
    checker fills in `output` and `column` from the loss."""

    name: MetricName
    output: str = ""
    column: str = ""
    short: bool = False
    index: int = 0

    def to_json(self) -> Any:
        return self.name if self.short else {"name": self.name, "output": self.output, "column": self.column}


@dataclass(frozen=True)
class TrainSpec:
    loss: LossSpec
    optimizer: Component
    schedule: Component | None = None
    schedule_every: ScheduleStep = "epoch"
    metrics: tuple[MetricSpec, ...] = ()
    feed: dict[str, tuple[str, ...]] = field(default_factory=dict)  # graph input id -> its data columns, as written
    data: str | None = None
    epochs: int = DEFAULTS["epochs"]
    batch_size: int = DEFAULTS["batch_size"]
    validation_split: float = DEFAULTS["validation_split"]
    shuffle: bool = DEFAULTS["shuffle"]
    seed: int = DEFAULTS["seed"]
    feed_lists: frozenset[str] = frozenset()  # inputs whose feed the file writes as a list

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TrainSpec":
        loss_data = data["loss"]
        if "op" in loss_data:
            loss = LossSpec(component=Component(loss_data["op"], dict(loss_data.get("args", {})),
                                                json_pointer(["train", "loss"])),
                            inputs={port: Feed.from_json(feed) for port, feed in loss_data["inputs"].items()})
        else:
            loss = LossSpec(output=loss_data["output"])
        schedule_data = data.get("schedule")
        schedule = None if schedule_data is None else Component(
            schedule_data["op"], dict(schedule_data.get("args", {})), json_pointer(["train", "schedule"]))
        metrics = tuple(MetricSpec(m, short=True, index=i) if isinstance(m, str)
                        else MetricSpec(m["name"], m["output"], m["column"], index=i)
                        for i, m in enumerate(data.get("metrics", ())))
        feed_data = data.get("feed", {})
        feed = {name: (cols,) if isinstance(cols, str) else tuple(cols) for name, cols in feed_data.items()}
        settings = {key: data.get(key, default) for key, default in DEFAULTS.items()}
        return cls(loss=loss, optimizer=Component(data["optimizer"]["op"], dict(data["optimizer"].get("args", {})),
                                                  json_pointer(["train", "optimizer"])),
                   schedule=schedule, schedule_every=(schedule_data or {}).get("every", "epoch"),
                   metrics=metrics, feed=feed, data=data.get("data"),
                   feed_lists=frozenset(k for k, v in feed_data.items() if isinstance(v, list)), **settings)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.data is not None:
            out["data"] = self.data
        if self.feed:
            out["feed"] = {name: list(cols) if name in self.feed_lists else cols[0] for name, cols in self.feed.items()}
        out["loss"] = self.loss.to_json()
        out["optimizer"] = self.optimizer.to_json()
        if self.schedule is not None:
            out["schedule"] = {**self.schedule.to_json(), "every": self.schedule_every}
        if self.metrics:
            out["metrics"] = [m.to_json() for m in self.metrics]
        for key in DEFAULTS:
            out[key] = getattr(self, key)
        return out

    def with_settings(self, **changes: Any) -> "TrainSpec":
        """A copy with loop settings replaced (e.g. --epochs from the command line)."""
        from dataclasses import replace
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
