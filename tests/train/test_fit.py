"""The training loop through its public surface: fit(), its events, its run directory."""

from __future__ import annotations

import json
import threading

import pytest
import torch
from safetensors.torch import load_file

from studio.core.errors import ProjectError
from studio.core.project.reading import load_project, parse_project
from studio.core.project.spec import Component, EarlyStopping
from studio.core.runs.metrics import read_metrics
from studio.core.train.callbacks import History
from studio.core.train.checkpoint import load_checkpoint
from studio.core.train.control import TrainControl
from studio.core.train.loop import checkpoint_project, fit
from tests.conftest import TEMPLATES

DIGITS = next(p for p in TEMPLATES if p.name == "digits-mlp.json")


def digits(epochs=2, **training):
    project = load_project(DIGITS)
    project.training.epochs = epochs
    for key, value in training.items():
        setattr(project.training, key, value)
    return project


def points(epochs=2, optimizer=None, scheduler=None, source="spirals"):
    project = parse_project(
        {
            "studio": 1,
            "name": "points",
            "data": {"source": source, "options": {"samples": 200}, "batch_size": 32},
            "model": {
                "layers": [
                    {"type": "Linear", "args": {"out_features": 16}},
                    {"type": "Tanh"},
                    {"type": "Linear", "args": {"out_features": 3 if source == "spirals" else 2}},
                ]
            },
            "training": {
                "epochs": epochs,
                "device": "cpu",
            },  # the figures below were taken on the CPU
        }
    )
    if optimizer:
        project.training.optimizer = optimizer
    project.training.scheduler = scheduler
    return project


def test_default_digits_project_reaches_95_percent_validation_accuracy(tmp_path):
    project = load_project(DIGITS)
    history = History()
    result = fit(project, callbacks=[history], runs_dir=tmp_path)
    epochs = history.of("epoch")
    assert result.reason == "completed" and len(epochs) == project.training.epochs == 20
    assert epochs[-1]["val_acc"] >= 0.95
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]


def test_run_directory_holds_project_metrics_checkpoints_weights_and_tensorboard(tmp_path):
    result = fit(digits(epochs=2), runs_dir=tmp_path)
    run = result.run_dir
    assert run.parent == tmp_path and run.name.startswith("digits-mlp-")
    assert json.loads((run / "project.json").read_text())["name"] == "Digits MLP"
    events = read_metrics(run)
    assert [e["event"] for e in events][0] == "start" and events[-1]["event"] == "stop"
    start = events[0]
    assert {"time", "project", "device", "world_size", "params", "steps_per_epoch"} <= set(start)
    epoch = next(e for e in events if e["event"] == "epoch")
    assert {
        "epoch",
        "step",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
        "epoch_seconds",
        "samples_per_second",
    } <= set(epoch)
    assert {"epoch", "path", "best"} <= set(next(e for e in events if e["event"] == "checkpoint"))
    assert events[-1]["reason"] == "completed"
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state["progress"]["epoch"] == 2 and (run / "checkpoints" / "best.pt").exists()
    weights = load_file(run / "model.safetensors")
    assert torch.equal(weights["1.weight"], result.model.state_dict()["1.weight"].cpu())
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam"])
def test_every_optimizer_trains(name, tmp_path):
    history = History()
    fit(
        points(epochs=3, optimizer=Component(name, {"lr": 0.05})),
        callbacks=[history],
        write_run=False,
    )
    losses = [e["train_loss"] for e in history.of("epoch")]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize(
    ("scheduler", "check"),
    [
        (
            Component("StepLR", {"step_size": 1, "gamma": 0.5}),
            lambda lrs: lrs == pytest.approx([0.05, 0.025, 0.0125]),
        ),
        (
            Component("CosineAnnealingLR"),
            lambda lrs: lrs == pytest.approx([0.05, 0.0375, 0.0125]),
        ),  # T_max = epochs
        (Component("OneCycleLR", {"max_lr": 0.1}), lambda lrs: max(lrs) > 0.09 and lrs[-1] < 0.01),
        (  # val_loss must fall by 1.0 an epoch to count as better: after epoch 2 the rate halves
            Component(
                "ReduceLROnPlateau",
                {"patience": 0, "factor": 0.5, "threshold": 1.0, "threshold_mode": "abs"},
            ),
            lambda lrs: lrs == pytest.approx([0.05, 0.05, 0.025]),
        ),
        (
            Component("ExponentialLR", {"gamma": 0.9}),
            lambda lrs: lrs == pytest.approx([0.05, 0.045, 0.0405]),
        ),
    ],
    ids=lambda v: getattr(v, "type", ""),
)
def test_schedulers_move_the_learning_rate(scheduler, check):
    """An epoch event's lr is the rate that epoch trained with."""
    history = History()
    fit(
        points(epochs=3, optimizer=Component("SGD", {"lr": 0.05}), scheduler=scheduler),
        callbacks=[history],
        write_run=False,
    )
    assert check([e["lr"] for e in history.of("epoch")])


def test_bf16_on_cpu_trains_and_fp16_on_cpu_is_refused_clearly():
    history = History()
    fit(digits(epochs=1, precision="bf16", device="cpu"), callbacks=[history], write_run=False)
    assert history.of("epoch")[0]["val_acc"] > 0.3
    with pytest.raises(ProjectError, match="fp16 is not supported on cpu: use bf16 or fp32"):
        fit(digits(epochs=1, precision="fp16", device="cpu"), write_run=False)


def test_gradient_clipping_and_regression(tmp_path):
    path = tmp_path / "line.csv"
    path.write_text("x,y\n" + "\n".join(f"{i / 50},{2 * i / 50 + 0.5}" for i in range(100)))
    project = parse_project(
        {
            "studio": 1,
            "data": {"source": "csv", "options": {"path": str(path)}},
            "model": {"layers": [{"type": "Linear", "args": {"out_features": 1}}]},
            "training": {
                "epochs": 30,
                "loss": {"type": "MSELoss"},
                "optimizer": {"type": "Adam", "args": {"lr": 0.05}},
                "grad_clip": 1.0,
            },
        }
    )
    history = History()
    fit(project, callbacks=[history], write_run=False)
    last = history.of("epoch")[-1]
    assert "train_acc" not in last and "val_acc" not in last
    assert last["val_loss"] < 0.05


def test_wrong_output_size_is_reported_before_training():
    project = digits()
    project.model.layers[-1].args["out_features"] = 7
    with pytest.raises(ProjectError, match="set the last layer's out_features to 10"):
        fit(project, write_run=False)


def test_early_stopping_ends_the_run(tmp_path):
    project = digits(epochs=20, early_stopping=EarlyStopping("val_loss", patience=2))
    project.training.optimizer = Component("SGD", {"lr": 0.0})  # nothing improves after epoch 1
    history = History()
    result = fit(project, callbacks=[history], runs_dir=tmp_path)
    assert result.reason == "early_stopping" and len(history.of("epoch")) == 3
    assert history.of("stop")[0]["reason"] == "early_stopping"


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    project = digits(epochs=5)
    project.training.optimizer = Component("SGD", {"lr": 0.01})
    project.training.scheduler = Component("ExponentialLR", {"gamma": 1e12})  # explodes in epoch 2
    history = History()
    result = fit(project, callbacks=[history], runs_dir=tmp_path)
    assert result.reason == "non_finite_loss"
    stop = history.of("stop")[0]
    assert (
        "at step" in stop["message"]
        and int(stop["message"].split("at step ")[1].split(";")[0]) > 23
    )
    state = load_checkpoint(result.run_dir / "checkpoints" / "last.pt")
    assert state["progress"]["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert not (result.run_dir / "model.safetensors").exists()


class _Steps:
    """Counts step events and signals each one (an Event to wait on, not a sleep)."""

    def __init__(self):
        self.count, self.new = 0, threading.Event()

    def on_event(self, event):
        if event["event"] == "step":
            self.count += 1
            self.new.set()

    def close(self):
        pass


def test_pause_resume_and_stop_from_another_thread(tmp_path):
    control, history, steps = TrainControl(), History(), _Steps()
    result = {}
    worker = threading.Thread(
        target=lambda: result.update(
            r=fit(
                digits(epochs=500),
                callbacks=[history, steps],
                control=control,
                runs_dir=tmp_path,
                report_seconds=0.01,
            )
        )
    )
    worker.start()
    assert steps.new.wait(timeout=60)  # training is under way
    control.pause()
    assert control.held.wait(timeout=10)  # the loop now waits between two batches
    when_paused = steps.count
    steps.new.clear()
    assert control.held.is_set() and steps.count == when_paused and not steps.new.is_set()
    control.resume()
    assert steps.new.wait(timeout=10) and steps.count > when_paused
    control.stop()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert result["r"].reason == "stopped" and history.of("stop")[0]["reason"] == "stopped"
    assert (result["r"].run_dir / "checkpoints" / "last.pt").exists()


class _StopAt:
    """Stops the run at the first event that matches."""

    def __init__(self, control, kind, number):
        self.control, self.kind, self.number = control, kind, number

    def on_event(self, event):
        key = "epoch" if self.kind == "epoch" else "step"
        if event["event"] == self.kind and event[key] >= self.number:
            self.control.stop()

    def close(self):
        pass


@pytest.mark.parametrize(
    ("kind", "number"), [("epoch", 2), ("step", 30)], ids=["after-epoch", "mid-epoch"]
)
def test_interrupted_and_resumed_run_ends_with_the_same_weights_bit_for_bit(kind, number, tmp_path):
    straight = fit(digits(epochs=4), runs_dir=tmp_path / "a")
    control = TrainControl()
    interrupted = fit(
        digits(epochs=4),
        callbacks=[_StopAt(control, kind, number)],
        control=control,
        runs_dir=tmp_path / "b",
        report_seconds=0.0,
    )
    assert interrupted.reason == "stopped" and interrupted.epochs_done < 4
    checkpoint = interrupted.run_dir / "checkpoints" / "last.pt"
    resumed = fit(checkpoint_project(checkpoint), resume=checkpoint)
    assert resumed.reason == "completed" and resumed.run_dir == interrupted.run_dir
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    epochs = [e["epoch"] for e in read_metrics(resumed.run_dir) if e["event"] == "epoch"]
    assert epochs == [1, 2, 3, 4]  # one metrics stream, each epoch once


def test_same_seed_same_run():
    a, b = History(), History()
    fit(digits(epochs=2), callbacks=[a], write_run=False)
    fit(digits(epochs=2), callbacks=[b], write_run=False)
    assert [e["val_loss"] for e in a.of("epoch")] == [e["val_loss"] for e in b.of("epoch")]


def test_compile_shows_its_warm_up_and_the_run_keeps_plain_weights(tmp_path, capsys):
    from studio.cli.main import main
    from studio.core.model.build import build_model

    history = History()
    project = points(epochs=2)
    project.training.compile = True
    result = fit(project, callbacks=[history], runs_dir=tmp_path)
    kinds = [e["event"] for e in history.events if e["event"] not in ("step", "health")]
    assert kinds[:4] == ["start", "compile", "compiled", "epoch"]  # said before the first epoch
    assert history.of("health")[0]["step"] == 2  # sampled eagerly after the compiled first step
    (compiled,) = history.of("compiled")
    assert compiled["step"] == 1 and compiled["seconds"] > 0
    eager = History()
    fit(points(epochs=2), callbacks=[eager], write_run=False)
    assert result.reason == "completed"  # the same training, compiled or not
    assert history.of("epoch")[-1]["val_loss"] == pytest.approx(
        eager.of("epoch")[-1]["val_loss"], rel=1e-4
    )
    plain = build_model(project.model, seed=0).state_dict().keys()  # no torch.compile prefixes
    assert load_file(result.run_dir / "model.safetensors").keys() == plain
    assert load_checkpoint(result.run_dir / "checkpoints" / "last.pt")["model"].keys() == plain
    assert main(["evaluate", str(result.run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] > 0


def test_compile_must_be_true_or_false():
    spec = json.loads(DIGITS.read_text())
    spec["training"]["compile"] = "yes"
    with pytest.raises(ProjectError, match='training.compile: expected true or false, got "yes"'):
        parse_project(spec)
