"""What a sample's target is, and everything that follows from it: how the model's output meets
the loss, what is scored while training and in evaluation, what a prediction says. One module a
task; the loop, evaluation and prediction ask the task, never branch on its name.

A new task (detection next) is a new module with a `Task` subclass, named in `make_task` below and in
`spec.TASKS`."""

from __future__ import annotations

from studio.core.tasks.base import Scores, Task


def make_task(name: str, loss_type: str, classes: list[str]) -> Task:
    """The task `name` (a dataset's `task`) for a loss and the data's classes."""
    from studio.core.tasks import classification, multilabel, regression, segmentation

    kinds: dict[str, type[Task]] = {
        "classification": classification.Classification,
        "multilabel": multilabel.MultiLabel,
        "regression": regression.Regression,
        "segmentation": segmentation.Segmentation,
    }
    return kinds[name](loss_type, list(classes))


__all__ = ["Scores", "Task", "make_task"]
