"""The check before an import is called one: the imported model and its source on the same fresh
random batch, each given its own copy, in evaluation mode and in training mode (the same random
draws for both: dropout masks, stochastic depth; batch statistics), every buffer put back after.

Training mode is what evaluation cannot show: a functional dropout that was off, code under
`if self.training:`, a transformer layer's own dropout. A detector is checked in evaluation
only: it trains on boxes."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch
from torch import nn

TOLERANCE = 1e-5  # the largest difference an fp32 import may show against its source
VERIFY_BATCH = 2  # samples the imported model and its source are compared on


@dataclass
class Check:
    batch: int
    difference: float | None = None  # evaluation mode: max abs difference; None: not compared
    training: float | None = None  # training mode; None: not compared
    problem: str | None = None  # why the outputs cannot be compared, or do not agree

    @property
    def passed(self) -> bool:
        return self.problem is None


def compare(source: nn.Module, built: nn.Module, sample) -> Check:
    """`sample(batch, seed)` gives the batch; the check, failed or not."""
    batch = sample(VERIFY_BATCH, 1)
    check = Check(batch=len(batch))
    check.difference, check.problem = _one_mode(source, built, batch, training=False)
    if check.problem is None and check.difference > TOLERANCE:
        check.problem = f"its output differs from the source's by up to {check.difference:.3g}"
    if check.problem is not None or len(batch) < 2 or _detects(source) or _detects(built):
        return check
    check.training, problem = _one_mode(source, built, batch, training=True)
    if problem is None and check.training > TOLERANCE:
        problem = (
            f"while training its output differs from the source's by up to {check.training:.3g} "
            "(a dropout that is off, code under `if self.training:` or a layer's own dropout "
            "the stack does not have)"
        )
    check.problem = problem
    return check


def _one_mode(
    source: nn.Module, built: nn.Module, batch: torch.Tensor, training: bool
) -> tuple[float | None, str | None]:
    mode = " while training" if training else ""
    outputs = []
    for model, what in ((source, "the source"), (built, "the imported stack")):
        with _kept(model, training), torch.no_grad():
            torch.manual_seed(0)
            try:
                outputs.append(model(batch.clone()))
            except Exception as exc:  # a batch size written into the code, most often
                return None, (
                    f"{what} does not run{mode} on a batch of {len(batch)}: "
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                )
    expected, got = outputs
    if not isinstance(expected, torch.Tensor) or expected.shape != got.shape:
        shape = list(getattr(expected, "shape", []))
        return None, f"it gives {list(got.shape)} where the source gives {shape}"
    return _largest(expected, got)


def _largest(expected: torch.Tensor, got: torch.Tensor) -> tuple[float | None, str | None]:
    """The largest difference; NaN where only one of them has it is a failure."""
    a, b = expected.double(), got.double()
    if not torch.equal(torch.isnan(a), torch.isnan(b)):
        return None, "it gives NaN where the source does not, or the other way round"
    same = torch.isnan(a) | (a == b)  # NaN in both, or infinities that agree
    difference = torch.where(same, torch.zeros_like(a), (a - b).abs())
    largest = float(difference.max()) if difference.numel() else 0.0
    if not math.isfinite(largest):
        return None, "it gives infinities where the source does not, or the other way round"
    return largest, None


@contextlib.contextmanager
def _kept(model: nn.Module, training: bool):
    """The model in the mode asked, its buffers (running statistics) and mode as they were after."""
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    modes = {module: module.training for module in model.modules()}
    model.train(training)
    try:
        yield
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                if name in buffers:
                    b.copy_(buffers[name])
        for module, was in modes.items():
            module.training = was


def _detects(model: nn.Module) -> bool:
    return any(type(m).__name__ == "Detector" for m in model.modules())
