"""Training: one loop (`fit`) observed through events, controlled through TrainControl."""

from studio.core.train.callbacks import Callback, History
from studio.core.train.control import TrainControl
from studio.core.train.loop import FitResult, TrainingFailed, checkpoint_project, fit

__all__ = [
    "Callback",
    "FitResult",
    "History",
    "TrainControl",
    "TrainingFailed",
    "checkpoint_project",
    "fit",
]
