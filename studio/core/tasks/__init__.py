"""What a sample's target is, and everything that follows from it: how the model's output meets
the loss, what is scored while training and in evaluation, what a prediction says. One module a
task; the loop, evaluation and prediction ask the task, never branch on its name.

A new task is a new module with a `Task` subclass, named in `make_task` below and in
`spec.TASKS`."""

from __future__ import annotations

from studio.core.tasks.base import Scores, Task


def make_task(
    name: str, loss_type: str, classes: list[str], threshold: float | None = None
) -> Task:
    """The task `name` (a dataset's `task`) for a loss and the data's classes (`threshold`: the
    score a multi-label task predicts a label at, a detection a box at, data.threshold; None: 0.5)."""
    from studio.core.tasks import classification, detection, multilabel, regression, segmentation

    kinds: dict[str, type[Task]] = {
        "classification": classification.Classification,
        "multilabel": multilabel.MultiLabel,
        "regression": regression.Regression,
        "segmentation": segmentation.Segmentation,
        "detection": detection.Detection,
    }
    task = kinds[name](loss_type, list(classes))
    if threshold is not None:
        task.threshold = threshold
    return task


__all__ = ["Scores", "Task", "make_task"]
