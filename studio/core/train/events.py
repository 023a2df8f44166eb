"""The metrics events (docs/cli.md): what a run tells its observers, one JSON object a line in
metrics.jsonl and on `studio train --json`. Each kind is typed here, in one place; at run time an
event is a plain dict, so writing, sending across threads and reading back cost nothing extra.

`describe` turns an event into the line a person reads, the same in the terminal and in the
window's log; `warning_line` does the same for a layer-health warning, said once per layer and
kind (`WarningsSeen`). Which way a metric is
better, and how it is written, is said here once too. Importing this module loads no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:  # the annotations are never evaluated at run time (events are plain dicts)
    from typing_extensions import NotRequired

# What an `epoch` event measures (each task reports its own: core/tasks), and can be monitored.
EPOCH_METRICS = (
    "val_loss", "val_acc", "train_loss", "train_acc", "val_miou", "val_pixel_acc", "val_f1",
    "val_map", "val_map50",
)  # fmt: skip
_HIGHER = ("acc", "miou", "f1", "map", "r2")


class StartEvent(TypedDict):
    event: Literal["start"]
    time: float  # seconds since the epoch: what runs are ordered by
    project: str
    device: str
    world_size: int
    params: int
    steps_per_epoch: int
    epochs: int
    resumed_at_epoch: int | None
    host: str  # the machine it trains on
    run: NotRequired[str]  # the run folder's name (`studio attach RUN`), when a run is written
    weights: NotRequired[list[str]]  # pretrained weights loaded, in words (a new run only)


class StepEvent(TypedDict):
    """A few a second at most: the mean loss since the last one."""

    event: Literal["step"]
    epoch: int
    step: int  # over all epochs
    train_loss: float
    lr: float
    batch: int  # into this epoch
    batches: int


class EpochEvent(TypedDict):
    event: Literal["epoch"]
    epoch: int
    step: int
    train_loss: float
    train_acc: NotRequired[float]  # classification only, as are the accuracies below
    val_loss: NotRequired[float]  # when there is a validation split
    val_acc: NotRequired[float]
    lr: float
    epoch_seconds: float  # the training phase alone
    samples_per_second: float


class CheckpointEvent(TypedDict):
    event: Literal["checkpoint"]
    epoch: int
    path: str
    best: bool


class StopEvent(TypedDict):
    event: Literal["stop"]
    reason: str  # completed | early_stopping | stopped | pruned | non_finite_loss | error
    message: str
    epoch: int
    step: int
    weights_in_sync: NotRequired[bool]  # under torchrun


class DownloadEvent(TypedDict):
    """Pretrained weights arriving, before the run has a folder (stdout only)."""

    event: Literal["download"]
    what: str
    done: int  # bytes
    total: int


class FeaturesEvent(TypedDict):
    event: Literal["features"]
    samples: int
    shape: list[int]
    seconds: float
    message: str


class FineTuneEvent(TypedDict):
    event: Literal["fine_tune"]
    epoch: int
    message: str


class CompileEvent(TypedDict):
    event: Literal["compile"]
    message: str


class CompiledEvent(TypedDict):
    event: Literal["compiled"]
    step: int
    seconds: float


class HealthWarning(TypedDict):
    layer: str  # the summary path: "3", "5.branches.1.0"
    kind: str  # health.KINDS
    message: str


class HealthEvent(TypedDict):
    event: Literal["health"]
    step: int
    epoch: int
    layers: list[dict[str, Any]]  # per layer: path, type, the measures (docs/cli.md)
    warnings: list[HealthWarning]


MetricsEvent = (
    StartEvent | StepEvent | EpochEvent | CheckpointEvent | StopEvent | DownloadEvent
    | FeaturesEvent | FineTuneEvent | CompileEvent | CompiledEvent | HealthEvent
)  # fmt: skip
KINDS = (
    "start", "step", "epoch", "checkpoint", "stop", "download", "features", "fine_tune",
    "compile", "compiled", "health",
)  # fmt: skip


def higher_is_better(metric: str) -> bool:
    """Accuracies, IoUs, F1 and mAP are better high, losses low."""
    return metric.endswith(_HIGHER) or metric.startswith("val_iou_")


def show_metric(metric: str | None, value: float) -> str:
    """97.20% for an accuracy, 0.1234 for a loss."""
    return f"{value:.2%}" if metric and higher_is_better(metric) else f"{value:.4g}"


def describe(event: dict[str, Any], epochs: int | None = None) -> str | None:
    """The line a person reads for an event; None for the kinds that are shown otherwise
    (steps and downloads as progress, checkpoints not at all, health by `warning_line`).
    `epochs`: how many the run trains, for "epoch 3/20"."""
    kind = event["event"]
    if kind == "start":
        return (
            f"training {event['project']} on {event['device']}: {event['params']:,} parameters, "
            f"{event['steps_per_epoch']} steps an epoch"
            + "".join(f"; {w}" for w in event.get("weights", ()))
        )
    if kind == "epoch":
        parts = [f"epoch {event['epoch']}/{epochs or '?'}", f"loss {event['train_loss']:.4f}"]
        for key in (
            "train_acc",
            "val_loss",
            "val_acc",
            "val_miou",
            "val_f1",
            "val_map",
            "val_map50",
        ):
            if key in event:
                value = event[key]
                parts.append(
                    f"{key} {value:.2%}" if higher_is_better(key) else f"{key} {value:.4f}"
                )
        parts.append(f"{event['samples_per_second']:,.0f} samples/s")
        return "  ".join(parts)
    if kind == "stop":
        return f"{event['reason']}: {event['message']}"
    if kind == "compiled":
        return f"compiled the model in {event['seconds']:.1f} s"
    if kind in ("features", "fine_tune", "compile"):
        return event["message"]
    return None


def warning_line(warning: dict[str, Any]) -> str:
    return f"warning: {warning['message']}"


class WarningsSeen:
    """A run's layer-health warnings, each said once per layer and kind however many samples
    repeat it (the terminal and the window both keep one)."""

    def __init__(self) -> None:
        self.by_layer: dict[str, list[dict[str, Any]]] = {}  # a layer's path: its warnings

    def new(self, warnings: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The warnings not seen before, which are now remembered."""
        fresh = []
        for warning in warnings:
            kinds = self.by_layer.setdefault(warning["layer"], [])
            if all(seen["kind"] != warning["kind"] for seen in kinds):
                kinds.append(warning)
                fresh.append(warning)
        return fresh
