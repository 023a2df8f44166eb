"""Checks before training (`studio check`), each with a verdict and why, in the spirit of
Karpathy's "A Recipe for Training Neural Networks": inputs are finite, labels fit the output,
the classes are balanced enough, the loss at initialisation is what chance predicts, the model can
memorise one batch, and it does better with its real input than with zeros.

The training checks take real steps through the run's own `Trainer.step` on copies of the
initial weights, with the project's optimizer at its learning rate (no schedule).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from studio.core.errors import ProjectError
from studio.core.project.spec import Project
from studio.core.train.control import TrainControl
from studio.core.train.engine import Trainer
from studio.core.train.setup import Setup, make_optimizer

OVERFIT_BATCH = 32  # samples in the batch the model must memorise
OVERFIT_STEPS = 300  # at most this many steps to do it
OVERFIT_SECONDS = 30.0  # ... or this long
IMBALANCE = 10.0  # the largest class at most this many times the smallest
INIT_TOLERANCE = 0.5  # the loss at initialisation within this share of its expected value
SCAN_BATCHES = 20  # batches read for non-finite values, as the model sees them


@dataclass
class Check:
    name: str
    passed: bool
    value: Any
    expected: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_checks(project: Project, base_dir: str | Path | None = None) -> list[Check]:
    """Every check on `project`, in order. User mistakes in the project raise ProjectError or
    DataError as training would, except a model whose output does not fit the labels: that is a
    failed check (and the checks that train are skipped)."""
    from studio.core.train.loop import prepare

    try:
        setup, _ = prepare(project, base_dir)
    except ProjectError as exc:
        if not exc.detail.startswith("the model gives"):
            raise
        return _output_does_not_fit(project, base_dir, exc.detail)
    checks = [_finite_inputs(setup), _labels(setup), _balance(setup.dataset)]
    if not checks[0].passed:
        return checks  # training on NaN says nothing about the model
    batch = _fixed_batch(setup)
    checks.append(_initial_loss(project, setup, batch))
    overfit, steps = _overfit_one_batch(project, setup, batch)
    checks.append(overfit)
    checks.append(_zero_input(project, setup, batch, steps, overfit.value))
    return checks


def _output_does_not_fit(project: Project, base_dir, message: str) -> list[Check]:
    """The labels check failed before anything could train: the data checks alone."""
    from studio.core.data import load_project_data
    from studio.core.model.build import build_model
    from studio.core.tasks import make_task
    from studio.core.train.setup import _output_shape

    dataset = load_project_data(project, base_dir)
    shape = _output_shape(build_model(project.model, seed=0), dataset, torch.device("cpu"))
    if make_task(dataset.task, "", dataset.classes).class_targets:  # ids against the outputs
        value = _label_range(
            make_task(dataset.task, "", dataset.classes).class_ids(dataset.train.y)
        )
        expected = [0, (shape[0] if dataset.task == "segmentation" else math.prod(shape)) - 1]
    else:  # the output a sample against the target a sample: a value, or one a label or column
        value, expected = shape, list(dataset.train.y.shape[1:]) or [1]
    check = Check("labels", False, value, expected, message)
    return [check, _balance(dataset)]


# ---------------------------------------------------------------------------- data


def _finite_inputs(setup: Setup) -> Check:
    """Non-finite values in the training split as stored, and in its first batches as the model
    sees them (after normalisation)."""
    train, bad = setup.dataset.train, 0
    for tensor in (train.x, train.y):
        if tensor.is_floating_point():
            bad += int((~torch.isfinite(tensor)).sum())
    for i, (x, _) in enumerate(setup.train_batches):
        if i >= SCAN_BATCHES:
            break
        if x.is_floating_point():
            bad += int((~torch.isfinite(x)).sum())
    if bad:
        return Check(
            "finite_inputs",
            False,
            bad,
            0,
            f"{bad:,} values of the training data are NaN or infinite (numbers beyond "
            "float32's 3.4e38 become infinite): fix or drop them (a table's missing cells: "
            "data.options.missing)",
        )
    return Check(
        "finite_inputs", True, 0, 0, f"all {len(train):,} training samples are finite numbers"
    )


def _label_range(y: torch.Tensor) -> list[int]:
    """The lowest and highest class id among the targets (a mask's ignored 255 left out)."""
    if y.dtype == torch.uint8:  # masks
        y = y[y != 255]
    if y.numel() == 0:  # nothing labelled (background images only)
        return [0, 0]
    return [int(y.min()), int(y.max())]


def _labels(setup: Setup) -> Check:
    task, dataset = setup.task, setup.dataset
    if not task.class_targets:
        return Check(
            "labels", True, None, None, f"a {task.name} task: its targets are not class ids"
        )
    low, high = _label_range(task.class_ids(dataset.train.y))
    size = task.num_classes
    passed = low >= 0 and high < size
    message = (
        f"labels run from {low} to {high}, within the model's {size} outputs"
        if passed
        else f"labels run from {low} to {high} but the model has {size} outputs"
    )
    return Check("labels", passed, [low, high], [0, size - 1], message)


def _balance(dataset) -> Check:
    if dataset.task != "classification":
        return Check(
            "class_balance",
            True,
            None,
            None,
            f"a {dataset.task} task: no sample classes to balance",
        )
    counts = torch.tensor(dataset.class_counts)
    names = dataset.classes
    big, small = int(counts.argmax()), int(counts.argmin())
    if counts[small] == 0:
        return Check(
            "class_balance",
            False,
            math.inf,
            IMBALANCE,
            f"class {names[small]!r} has no training samples: add some, or remove the class",
        )
    ratio = float(counts[big] / counts[small])
    majority = float(counts[big] / counts.sum())
    detail = (
        f"the largest class ({names[big]!r}, {int(counts[big]):,}) has {ratio:.1f}x the samples "
        f"of the smallest ({names[small]!r}, {int(counts[small]):,}); always answering "
        f"{names[big]!r} scores {majority:.0%}"
    )
    if ratio > IMBALANCE:
        return Check(
            "class_balance",
            False,
            ratio,
            IMBALANCE,
            f"{detail}: weight the loss (CrossEntropyLoss's weight), resample, and judge by "
            "macro F1 rather than accuracy",
        )
    return Check("class_balance", True, ratio, IMBALANCE, detail)


# ---------------------------------------------------------------------------- training


def _fixed_batch(setup: Setup) -> tuple[torch.Tensor, torch.Tensor]:
    """The first training batch (augmented as training would), cut to OVERFIT_BATCH samples."""
    x, y = next(iter(setup.train_batches.epoch()))
    return x[:OVERFIT_BATCH], y[:OVERFIT_BATCH]


def _loss(setup: Setup, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float | None]:
    """The loss (and, for classes, the accuracy) on one batch, in evaluation mode."""
    model = setup.model
    model.eval()
    try:
        with torch.no_grad(), setup.autocast():
            output, target = setup.task.for_loss(model(x), y)
            loss = float(setup.task.loss_of(model, setup.loss_fn, x, output, target))
    finally:
        model.train()
    accuracy = None
    hits = setup.task.hits(output, y)
    if hits is not None:
        accuracy = float(hits) / max(1, len(y))
    return loss, accuracy


def _expected_initial_loss(project: Project, setup: Setup) -> float | None:
    loss = project.training.loss
    classes = setup.task.num_classes
    if not setup.task.class_targets:
        return None
    if loss.type == "CrossEntropyLoss":
        return math.log(classes)  # uniform predictions over C classes (label smoothing or not)
    if loss.type == "BCEWithLogitsLoss":
        return math.log(2)
    return None


def _initial_loss(project: Project, setup: Setup, batch) -> Check:
    loss, _ = _loss(setup, *batch)
    expected = _expected_initial_loss(project, setup)
    kind = project.training.loss.type
    if expected is None:
        return Check(
            "initial_loss",
            math.isfinite(loss),
            loss,
            None,
            f"{kind} at initialisation is {loss:.4g} (no expected value to compare with)",
        )
    classes = setup.task.num_classes
    passed = math.isfinite(loss) and abs(loss - expected) <= INIT_TOLERANCE * expected
    chance = f"ln {classes} = {expected:.3f}" if kind == "CrossEntropyLoss" else "ln 2 = 0.693"
    if passed:
        message = f"{loss:.3f} at initialisation, near chance ({chance})"
    elif loss > expected:
        message = (
            f"{loss:.3f} at initialisation, far above chance ({chance}): the model starts "
            "confidently wrong; smaller initial weights in the last layer, or inputs on a "
            "smaller scale (normalisation), usually help"
        )
    else:
        message = (
            f"{loss:.3f} at initialisation, far below chance ({chance}): before any training "
            "the model already knows the answers, which points to labels leaking into the inputs"
        )
    return Check("initial_loss", passed, loss, expected, message)


def _floor(project: Project, setup: Setup) -> float:
    """The lowest loss the batch can reach: above zero with label smoothing."""
    spec = project.training.loss
    smoothing = float(spec.args.get("label_smoothing", 0.0) or 0.0)
    classes = setup.task.num_classes
    if spec.type != "CrossEntropyLoss" or smoothing <= 0:
        return 0.0
    right, wrong = 1 - smoothing + smoothing / classes, smoothing / classes
    return -(right * math.log(right) + (classes - 1) * wrong * math.log(wrong))


def _train_on(
    project: Project, setup: Setup, x: torch.Tensor, y: torch.Tensor, steps: int, goal=None
) -> tuple[int, float, float | None]:
    """Train a fresh copy of the initial weights on one batch; (steps taken, loss, accuracy).
    With `goal(loss, accuracy)`, stop as soon as it holds (looked at every 10 steps)."""
    model = setup.raw_model
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    optimizer = make_optimizer(project, model)
    trainer = Trainer(
        replace(setup, optimizer=optimizer, scheduler=None, per_batch_scheduler=False),
        TrainControl(),
        epochs=1,
        emit=lambda event: None,
    )
    started, done = time.perf_counter(), 0
    try:
        while done < steps:
            trainer.step(x, y)
            done += 1
            if done % 10 == 0 and (
                time.perf_counter() - started > OVERFIT_SECONDS
                or (goal is not None and goal(*_loss(setup, x, y)))
            ):
                break
        loss, accuracy = _loss(setup, x, y)
    finally:
        model.load_state_dict(initial)
    return done, loss, accuracy


def _overfit_one_batch(project: Project, setup: Setup, batch) -> tuple[Check, int]:
    x, y = batch
    start, _ = _loss(setup, x, y)
    floor = _floor(project, setup)
    target = floor + setup.task.overfit_share * max(0.0, start - floor)

    def memorised(loss: float, accuracy: float | None) -> bool:
        return loss <= target

    steps, loss, accuracy = _train_on(project, setup, x, y, OVERFIT_STEPS, memorised)
    passed = math.isfinite(loss) and memorised(loss, accuracy)
    got = f"the loss on one batch of {len(y)} fell from {start:.3g} to {loss:.3g} in {steps} steps"
    if accuracy is not None:
        got += f" ({accuracy:.0%} right)"
    if passed:
        return Check("overfit_one_batch", True, loss, target, f"{got}: it can learn"), steps
    message = (
        f"{got}, not near {target:.3g}: a model that cannot memorise one batch points to a bug "
        "in the data, the model or the loss (labels that do not match their inputs, a missing "
        "activation, the wrong loss for the task, a learning rate far off), not to too little "
        "capacity"
    )
    return Check("overfit_one_batch", False, loss, target, message), steps


def _zero_input(project: Project, setup: Setup, batch, steps: int, real: float) -> Check:
    x, y = batch
    zeros = torch.zeros_like(x)
    steps = max(steps, 20)
    _, zero_loss, _ = _train_on(project, setup, zeros, y, steps)
    passed = math.isfinite(real) and real < 0.9 * zero_loss
    if passed:
        message = (
            f"after {steps} steps on one batch, zeros as input reach a loss of {zero_loss:.3g}, "
            f"the real input {real:.3g}: the model uses its input"
        )
    else:
        message = (
            f"after {steps} steps on one batch, zeros as input reach a loss of {zero_loss:.3g}, "
            f"no worse than the real input's {real:.3g}: the model is not using its input; check "
            "that the data reaches it (the input columns, normalisation, a layer that discards "
            "its input)"
        )
    return Check("zero_input", passed, zero_loss, real, message)  # zeros must do worse
