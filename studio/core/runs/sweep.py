"""Sweeps: Optuna searches a project's settings, each trial a normal run folder.

A sweep file names the project, the trials, the objective (a per-epoch metric and its direction),
the space (any project field by its JSON path) and the pruner. Everything is checked before the
first trial: a path the project lacks, or a value from the space the project rejects, is one
error. Trials are counted in the study, so workers in several processes (or on several machines
sharing a database) add up to the sweep's trials, and running the sweep again goes on with it.

Where the study is kept, and which of its trials are alive, is study.py's.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.errors import ProjectError, StudioError, TrainingFailed, first_line
from studio.core.project.json_fields import check_keys, json_integer, json_object, json_string
from studio.core.runs.study import (
    database_failure,
    fail_dead_trials,
    finished_trials,
    is_database,
    masked,
    note_worker,
    open_study,
    trial_summary,
    worker_lock,
)
from studio.core.train.events import EPOCH_METRICS, higher_is_better

KINDS = ("log_uniform", "uniform", "int", "choice")
PRUNERS = ("median", "none")
SWEEP_TAG = "sweep.json"  # in each trial's run folder: the sweep, the trial and its values


@dataclass
class Dimension:
    path: str  # JSON path in the project: "training.optimizer.args.lr"
    kind: str  # one of KINDS
    values: list[Any]  # [low, high] or the choices
    log: bool = False


@dataclass
class Sweep:
    file: Path
    project_file: Path
    project: dict[str, Any]  # the project as written (JSON)
    trials: int
    metric: str
    direction: str  # maximize | minimize
    space: list[Dimension] = field(default_factory=list)
    pruner: str = "median"
    heartbeat: int = 60  # seconds between a database worker's beats (study.py)

    @property
    def name(self) -> str:
        return self.file.stem

    def project_for(self, values: dict[str, Any]) -> dict[str, Any]:
        """The project with `values` ({path: value}) set."""
        project = copy.deepcopy(self.project)
        for path, value in values.items():
            _set(project, path, value)
        return project


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file (see the module); errors name the file and the JSON path."""
    from studio.core.project.reading import load_project

    path = Path(path)
    data = _read_json(path)
    where = str(path)
    if not isinstance(data, dict) or data.get("studio_sweep") != 1:
        raise ProjectError("studio_sweep", 'not a sweep file (expected "studio_sweep": 1)', where)
    try:
        check_keys(
            data,
            "",
            ("studio_sweep", "project", "space"),
            ("trials", "objective", "pruner", "heartbeat"),
        )
        project_file = (path.parent / json_string(data["project"], "project")).resolve()
        trials = json_integer(data.get("trials", 20), "trials", 1)
        heartbeat = json_integer(data.get("heartbeat", 60), "heartbeat", 1)
        objective = json_object(data.get("objective", {}), "objective", "{metric, direction}")
        check_keys(objective, "objective", (), ("metric", "direction"))
    except ProjectError as exc:
        raise exc.in_file(where) from None
    load_project(project_file)  # its own errors, with its own name
    project = json.loads(project_file.read_text(encoding="utf-8"))
    metric, direction = _objective(objective, where)
    pruner = data.get("pruner", "median")
    if pruner not in PRUNERS:
        raise ProjectError("pruner", f"expected one of {', '.join(PRUNERS)}, got {pruner!r}", where)
    space = data.get("space")
    if not isinstance(space, dict) or not space:
        raise ProjectError("space", "expected at least one project field to search", where)
    sweep = Sweep(path, project_file, project, trials, metric, direction, [], pruner, heartbeat)
    for key, spec in space.items():
        sweep.space.append(_dimension(key, spec, project, where))
    _check_edges(sweep, where)
    return sweep


def _read_json(path: Path) -> Any:
    """The file's JSON, or a StudioError naming the file when it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise StudioError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise StudioError(f"{path}: not JSON ({exc})") from None


def _objective(objective: dict[str, Any], where: str) -> tuple[str, str]:
    """The objective's metric and direction, checked; the direction defaults from the metric."""
    metric = objective.get("metric", "val_loss")
    if metric not in EPOCH_METRICS:
        raise ProjectError(
            "objective.metric",
            f"expected one of {', '.join(EPOCH_METRICS)}, got {metric!r}",
            where,
        )
    direction = objective.get("direction", "maximize" if higher_is_better(metric) else "minimize")
    if direction not in ("maximize", "minimize"):
        raise ProjectError("objective.direction", "expected maximize or minimize", where)
    return metric, direction


def _check_edges(sweep: Sweep, where: str) -> None:
    """Every edge of the space must make a project that loads, so no trial fails on a value."""
    from studio.core.project.reading import parse_project

    for dimension in sweep.space:
        for value in _edges(dimension):
            try:
                parse_project(sweep.project_for({dimension.path: value}))
            except ProjectError as exc:
                raise ProjectError(
                    f"space.{dimension.path}", f"{value!r} is refused by the project: {exc}", where
                ) from None


def _dimension(path: str, spec: Any, project: dict, where: str) -> Dimension:
    at = f"space.{path}"
    if not isinstance(spec, dict):
        raise ProjectError(at, f"expected one of {', '.join(KINDS)}", where)
    kinds = [k for k in KINDS if k in spec]
    if len(kinds) != 1 or set(spec) - {kinds[0], "log"}:
        raise ProjectError(at, f"expected one of {', '.join(KINDS)} (and for int, log)", where)
    kind, values = kinds[0], spec[kinds[0]]
    _parent(project, path, at, where)
    if kind == "choice":
        if not isinstance(values, list) or not values:
            raise ProjectError(at, "choice: expected a list of values", where)
    else:
        numbers = isinstance(values, list) and len(values) == 2
        numbers = numbers and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        )
        if not numbers or not values[0] < values[1]:
            raise ProjectError(at, f"{kind}: expected [low, high] with low < high", where)
        if kind == "log_uniform" and values[0] <= 0:
            raise ProjectError(at, "log_uniform: the low end must be above 0", where)
        if kind == "int" and not all(isinstance(v, int) for v in values):
            raise ProjectError(at, "int: expected whole numbers", where)
    return Dimension(path, kind, list(values), bool(spec.get("log", kind == "log_uniform")))


def _edges(dimension: Dimension) -> list[Any]:
    return list(dimension.values) if dimension.kind == "choice" else dimension.values[:2]


def _parent(project: dict, path: str, at: str, where: str) -> None:
    """The field's container must exist (its last key may be new: an argument left at its
    default), so a typo in the path is caught before any trial."""
    node: Any = project
    parts = path.split(".")
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, dict) and part == "args" and i == len(parts) - 2:
            return  # a layer or component without arguments yet
        else:
            raise ProjectError(at, f"the project has no {'.'.join(parts[: i + 1])}", where)
    if not isinstance(node, (dict, list)):
        raise ProjectError(at, f"the project has no {path}", where)
    last = parts[-1]
    if isinstance(node, list) and not (last.isdigit() and int(last) < len(node)):
        raise ProjectError(at, f"the project has no {path}", where)


def _set(project: dict, path: str, value: Any) -> None:
    node: Any = project
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value


# ---------------------------------------------------------------------------- running


def run_trials(
    sweep: Sweep,
    storage: str,
    runs_dir: Path,
    on_trial=None,  # called with each finished trial's summary (a dict)
    control=None,  # a TrainControl: its stop ends the sweep after the trial that is running
) -> None:
    """Run trials in this process until the study holds `sweep.trials` finished ones. A
    database that stops answering is one TrainingFailed; the trial it cut short is failed and
    retried by the next call (study.py)."""
    try:
        with worker_lock(runs_dir) as lock:
            _run_trials(sweep, open_study(sweep, storage), runs_dir, on_trial, control, lock)
        lock.path.unlink(missing_ok=True)  # every trial it ran is finished: nothing names it now
    except StudioError:
        raise
    except Exception as exc:  # noqa: BLE001  what a database driver raises when the server goes
        if not is_database(storage):
            raise
        raise TrainingFailed(
            f"the sweep's database {masked(storage)} stopped answering "
            f"({first_line(database_failure(exc), 120)}); "
            "run the sweep again once it is back: the trial cut short is run again"
        ) from None


def _run_trials(sweep: Sweep, study, runs_dir: Path, on_trial, control, lock) -> None:
    import optuna

    from studio.core.train.control import TrainControl

    stopping = control or TrainControl()

    def objective(trial: optuna.Trial) -> float:
        note_worker(trial, lock)
        return _run_trial(sweep, trial, runs_dir, stopping)

    def told(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if on_trial is not None:
            on_trial(trial_summary(trial))

    failures = 0
    # one trial at a time, counting the ones other workers are running, so that workers in
    # several processes (or machines) add up to the sweep's trials
    while not stopping.stop_requested:
        fail_dead_trials(study)
        if finished_trials(study, running=True) >= sweep.trials:
            break
        study.optimize(objective, n_trials=1, callbacks=[told], catch=(StudioError,))
        last = study.get_trials(deepcopy=False)[-1]
        if last.state == optuna.trial.TrialState.FAIL and not stopping.stop_requested:
            failures += 1
            if failures > sweep.trials:
                raise StudioError(f"every trial fails: {last.system_attrs.get('fail_reason', '')}")


def _run_trial(sweep: Sweep, trial, runs_dir: Path, stopping) -> float:
    """One trial: the project with the trial's values, trained in a run folder tagged with them."""
    from studio.core.project.reading import parse_project
    from studio.core.train.control import TrainControl
    from studio.core.train.loop import fit

    values = {d.path: _suggest(trial, d) for d in sweep.space}
    project = parse_project(sweep.project_for(values))
    control = TrainControl()
    best: list[float] = []
    result = fit(
        project,
        callbacks=[_pruning(sweep, trial, control, stopping, best)],
        control=control,
        runs_dir=runs_dir,
        base_dir=sweep.project_file.parent,
    )
    if result.run_dir is not None:
        _tag_run(sweep, trial, values, result.run_dir)
    return _trial_value(sweep, trial, result, best)


def _pruning(sweep: Sweep, trial, control, stopping, best: list[float]):
    """A callback: each epoch's metric to the trial and `best`, a stop when pruned or stopping."""
    from studio.core.train.callbacks import Callback

    class Pruning(Callback):
        def on_event(self, event: dict[str, Any]) -> None:
            if stopping.stop_requested:
                control.stop("stopped")
            if event["event"] != "epoch" or sweep.metric not in event:
                return
            value = float(event[sweep.metric])
            best.append(value)
            try:
                trial.report(value, event["epoch"])
                prune = trial.should_prune()
            except Exception as exc:  # noqa: BLE001  the study's storage failed (a database gone)
                said = (
                    f"the study could not be told epoch {event['epoch']} ({first_line(exc, 120)})"
                )
                control.stop("error", said, resumable=False)
                return
            if prune:
                control.stop("pruned", f"pruned after epoch {event['epoch']}")

    return Pruning()


def _tag_run(sweep: Sweep, trial, values: dict[str, Any], run_dir: Path) -> None:
    """Note the run in the trial, and the sweep, trial and values in the run folder (SWEEP_TAG)."""
    trial.set_user_attr("run", str(run_dir))
    tag = {
        "sweep": sweep.name,
        "file": str(sweep.file),
        "trial": trial.number,
        "values": values,
    }
    (run_dir / SWEEP_TAG).write_text(json.dumps(tag, indent=2), encoding="utf-8")


def _trial_value(sweep: Sweep, trial, result, best: list[float]) -> float:
    """The trial's best epoch; pruned if none is finite or Optuna pruned, an error if stopped."""
    import optuna

    if result.reason == "stopped":  # not finished (even in its first epoch): it does not count
        raise StudioError(f"trial {trial.number} stopped by its user")
    if not best or not all(math.isfinite(v) for v in best):
        raise optuna.TrialPruned("no finite metric")
    if result.reason == "pruned":
        raise optuna.TrialPruned()
    return max(best) if sweep.direction == "maximize" else min(best)


def _suggest(trial, dimension: Dimension) -> Any:
    low, high = dimension.values[0], dimension.values[-1]
    if dimension.kind == "choice":
        return trial.suggest_categorical(dimension.path, dimension.values)
    if dimension.kind == "int":
        return trial.suggest_int(dimension.path, low, high, log=dimension.log)
    return trial.suggest_float(dimension.path, low, high, log=dimension.kind == "log_uniform")
