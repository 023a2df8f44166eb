"""What the loop counts: running totals, where a run stands, and the losses of recent steps.

`Progress` is saved in every checkpoint as `asdict(progress)` and read back with
`Progress.from_dict`, so what is written and what is restored cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class Totals:
    """Sums over the steps of an epoch (or a part of one): what its mean loss and accuracy come from."""

    loss_sum: float = 0.0
    correct: float = 0.0
    count: float = 0.0
    seconds: float = 0.0

    def add(self, other: Totals) -> None:
        self.loss_sum += other.loss_sum
        self.correct += other.correct
        self.count += other.count
        self.seconds += other.seconds

    @property
    def loss(self) -> float:
        return self.loss_sum / max(1.0, self.count)

    @property
    def accuracy(self) -> float:
        return self.correct / max(1.0, self.count)

    @classmethod
    def from_saved(cls, value: Any) -> Totals:
        """A checkpoint's totals: a mapping, or the [loss, correct, count, seconds] list of
        checkpoints written before this class existed."""
        return cls(**value) if isinstance(value, dict) else cls(*map(float, value))


@dataclass
class Progress:
    """Where a run stands; everything in it goes into the checkpoint."""

    epoch: int = 0  # completed epochs
    step: int = 0  # optimisation steps taken, over all epochs
    batches_done: int = 0  # into the current epoch, when stopped part-way through it
    best: float | None = None  # the best value of the monitored metric so far
    bad_epochs: int = 0  # epochs in a row without an improvement of it
    partial: Totals = field(
        default_factory=Totals
    )  # the current epoch's totals, when stopped in it

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Progress:
        return cls(**{**data, "partial": Totals.from_saved(data["partial"])})


@dataclass
class LossesRead:
    """The losses of the steps since the last read, brought to the host in one transfer."""

    first_step: int  # the global step number of losses[0]
    losses: torch.Tensor  # float64, on the CPU, one per step
    totals: Totals

    @property
    def first_non_finite(self) -> int | None:
        """The step whose loss was NaN or infinite first, if any."""
        bad = (~torch.isfinite(self.losses)).nonzero()
        return self.first_step + int(bad[0]) if len(bad) else None


class StepWindow:
    """Per-step results kept on the device until the next read: one host sync per read."""

    def __init__(self) -> None:
        self.losses: list[torch.Tensor] = []
        self.sizes: list[int] = []
        self.hits: list[torch.Tensor] = []  # the task's training metric, summed a batch

    def add(self, loss: torch.Tensor, size: int, hits: torch.Tensor | None) -> None:
        self.losses.append(loss)
        self.sizes.append(size)
        if hits is not None:
            self.hits.append(hits)

    def read(self, last_step: int) -> LossesRead | None:
        """Everything since the last read (the last step being `last_step`), or None if nothing."""
        if not self.losses:
            return None
        losses = torch.stack(self.losses).double().cpu()
        sizes = torch.tensor(self.sizes, dtype=torch.float64)
        correct = float(torch.stack(self.hits).sum()) if self.hits else 0.0
        totals = Totals(float((losses * sizes).sum()), correct, float(sizes.sum()))
        read = LossesRead(last_step - len(self.losses) + 1, losses, totals)
        self.losses, self.sizes, self.hits = [], [], []
        return read
