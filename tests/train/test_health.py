"""Per-layer health while training: the `health` events, their warnings, and that sampling
leaves training as it was."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from studio.cli.main import main
from studio.core.errors import ProjectError
from studio.core.project.reading import parse_project
from studio.core.project.spec import Health
from studio.core.runs.metrics import read_metrics
from studio.core.train.callbacks import History
from studio.core.train.health import LayerHealth, stack_layers
from studio.core.train.loop import fit
from tests.conftest import EXAMPLES, TEMPLATES, minimal_project
from tests.datafiles import write_example_data

DIGITS = next(p for p in TEMPLATES if p.name == "digits-mlp.json")
KEYS = {
    "path",
    "type",
    "act_mean",
    "act_std",
    "zero_fraction",
    "dead_fraction",
    "grad_norm",
    "update_ratio",
}  # fmt: skip (docs/cli.md's keys)


def digits(**training) -> dict:
    project = json.loads(DIGITS.read_text())
    project["training"].update(training)
    return project


def train_cli(project: dict, tmp_path, capsys) -> tuple[list[dict], str]:
    """`studio train` on a project file: the run's metrics events and the terminal's warnings."""
    path = tmp_path / "project.json"
    path.write_text(json.dumps(project))
    code = main(["train", str(path), "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 0, err
    (run,) = (tmp_path / "runs").iterdir()
    return read_metrics(run), err


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_stack_reports_the_health_of_each_layer(example, tmp_path, capsys):
    project = json.loads(example.read_text())
    project["training"]["epochs"] = 1
    shutil.copy(example, tmp_path / "project.json")
    events, _ = train_cli(project, write_example_data(tmp_path), capsys)
    samples = [e for e in events if e["event"] == "health"]
    assert samples and samples[0]["step"] == 1 and samples[0]["epoch"] == 1
    layers = samples[0]["layers"]
    spec = parse_project(project).model.layers
    assert [(x["path"], x["type"]) for x in layers] == stack_layers(spec)  # every layer, in order
    for layer in layers:
        assert layer.keys() >= KEYS
        assert layer["act_std"] is not None and layer["act_std"] >= 0, layer
        if layer["type"] == "ReLU":
            assert 0 <= layer["dead_fraction"] <= layer["zero_fraction"] <= 1
        else:
            assert layer["zero_fraction"] is None
        if layer["type"] in (
            "Conv2d",
            "ConvTranspose2d",
            "Linear",
            "LSTM",
            "Embedding",
            "BatchNorm2d",
        ):
            assert layer["grad_norm"] > 0 and layer["update_ratio"] > 0, layer
        else:
            assert layer["grad_norm"] is None and layer["update_ratio"] is None
        assert sum(layer["act_hist"]["counts"]) > 0


def test_ten_sigmoid_layers_deep_warn_that_the_first_layers_gradient_vanishes(tmp_path, capsys):
    layers = [{"type": "Flatten"}]
    for _ in range(10):
        layers += [{"type": "Linear", "args": {"out_features": 32}}, {"type": "Sigmoid"}]
    layers.append({"type": "Linear", "args": {"out_features": 10}})
    project = digits(epochs=1, optimizer={"type": "SGD", "args": {"lr": 0.01}})
    project["model"]["layers"] = layers
    events, err = train_cli(project, tmp_path, capsys)
    warnings = [w for e in events if e["event"] == "health" for w in e["warnings"]]
    vanishing = {w["layer"] for w in warnings if w["kind"] == "vanishing_gradient"}
    assert "1" in vanishing and "21" not in vanishing  # the first Linear, not the last
    assert "warning: layer 1 (Linear): its gradient is" in err
    assert "ReLU instead of Sigmoid" in err
    assert err.count("warning: layer 1 (Linear)") == 1  # once, however many samples repeat it


def test_sgd_at_a_huge_rate_warns_of_large_updates_exploding_gradients_and_dead_units(
    tmp_path, capsys
):
    project = digits(epochs=1, optimizer={"type": "SGD", "args": {"lr": 50}}, health={"every": 1})
    events, err = train_cli(project, tmp_path, capsys)
    kinds = {
        (w["layer"], w["kind"]) for e in events if e["event"] == "health" for w in e["warnings"]
    }
    assert {("1", "update_too_large"), ("4", "update_too_large")} <= kinds
    assert ("2", "dead_units") in kinds  # the ReLU after the first Linear
    assert ("1", "exploding_gradient") in kinds
    assert "warning: layer 2 (ReLU):" in err and "never fire" in err
    assert "a lower learning rate usually helps" in err


def test_a_healthy_run_warns_of_nothing(tmp_path, capsys):
    events, err = train_cli(digits(epochs=2, health={"every": 5}), tmp_path, capsys)
    samples = [e for e in events if e["event"] == "health"]
    assert [e["step"] for e in samples] == list(range(1, 47, 5))  # 23 steps an epoch
    assert all(e["warnings"] == [] for e in samples) and "warning" not in err
    ratios = [x["update_ratio"] for e in samples for x in e["layers"] if x["type"] == "Linear"]
    assert all(1e-5 < r < 1e-1 for r in ratios)  # Adam at 1e-3: near the rule of thumb's 1e-3


def test_sampling_leaves_training_exactly_as_it_was_and_removes_its_hooks():
    on, off = History(), History()
    sampled = fit(parse_project(digits(epochs=2, health={"every": 3})), [on], write_run=False)
    plain = fit(parse_project(digits(epochs=2, health={"enabled": False})), [off], write_run=False)
    assert len(on.of("health")) == 16 and off.of("health") == []
    assert [e["val_loss"] for e in on.of("epoch")] == [e["val_loss"] for e in off.of("epoch")]
    for a, b in zip(sampled.model.parameters(), plain.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert all(not m._forward_hooks for m in sampled.model.modules())


def test_hooks_are_removed_when_the_sampled_step_fails():
    """The handler's context wraps the first step (as the Trainer enters it); a step that fails
    inside it leaves no hook behind."""
    from studio.core.train.control import TrainControl
    from studio.core.train.engine import Event, Trainer
    from studio.core.train.loop import prepare

    project = parse_project(digits())
    setup, _ = prepare(project)
    trainer = Trainer(setup, TrainControl(), 1, emit=lambda event: None)
    health = LayerHealth(stack_layers(project.model.layers), Health())
    health.attach(trainer)
    trainer.fire(Event.STARTED)
    model = setup.raw_model
    with pytest.raises(RuntimeError, match="out of memory"), health.before_step(trainer):
        assert any(m._forward_hooks for m in model.modules())
        raise RuntimeError("CUDA out of memory")
    assert all(not m._forward_hooks for m in model.modules())


def test_the_interval_adapts_to_keep_sampling_cheap():
    history = History()
    fit(parse_project(digits(epochs=20)), [history], write_run=False)
    steps = [e["step"] for e in history.of("health")]
    assert steps[0] == 1 and len(steps) >= 2  # the first step, then every 10 to 1000 steps
    assert all(10 <= b - a <= 1000 for a, b in zip(steps, steps[1:], strict=False))


@given(
    overhead=st.floats(0, 10, allow_nan=False),
    step=st.floats(1e-6, 1, allow_nan=False),
)
def test_the_interval_is_the_shortest_that_keeps_sampling_within_its_budget(overhead, step):
    from studio.core.train.health import BUDGET, MAX_INTERVAL, MIN_INTERVAL, sampling_interval

    every = sampling_interval(overhead, step)
    assert MIN_INTERVAL <= every <= MAX_INTERVAL
    share = overhead / (every * step)  # of the training time, one sample every `every` steps
    assert every == MAX_INTERVAL or share <= BUDGET * (1 + 1e-9)
    assert every == MIN_INTERVAL or overhead / ((every - 1) * step) > BUDGET  # no shorter one


@pytest.mark.parametrize(
    ("health", "message"),
    [
        ({"every": 0}, "training.health.every"),
        ({"every": "often"}, "training.health.every"),
        ({"enabled": "yes"}, 'training.health.enabled: expected true or false, got "yes"'),
        ({"sometimes": 1}, "sometimes"),
        (3, "training.health"),
    ],
)
def test_bad_health_settings_are_refused_by_name(health, message):
    with pytest.raises(ProjectError, match=message):
        parse_project(digits(health=health))


def test_health_settings_round_trip_and_default_to_on():
    assert parse_project(minimal_project([{"type": "Flatten"}])).training.health == Health()
    project = parse_project(digits(health={"enabled": False, "every": 7}))
    again = parse_project(json.loads(json.dumps(project.to_dict())))
    assert again.training.health == Health(enabled=False, every=7)


def test_tensorboard_gets_each_layers_measures_and_histograms(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events, _ = train_cli(digits(epochs=1, health={"every": 10}), tmp_path, capsys)
    (run,) = (tmp_path / "runs").iterdir()
    board = EventAccumulator(str(run / "tensorboard"), size_guidance={"histograms": 0})
    board.Reload()
    tags = board.Tags()
    assert "activations/layer 2 ReLU" in tags["histograms"]
    assert "output_gradients/layer 1 Linear" in tags["histograms"]
    assert "health/grad_norm/layer 1 Linear" in tags["scalars"]
    steps = [e["step"] for e in events if e["event"] == "health"]
    assert [h.step for h in board.Histograms("activations/layer 2 ReLU")] == steps
    sample = board.Histograms("activations/layer 2 ReLU")[0].histogram_value
    assert sample.min == 0 and sample.num == 4096  # a ReLU's output, from its 4,096-value sample


def test_a_rate_too_small_to_move_the_weights_is_named_after_two_samples(tmp_path, capsys):
    project = digits(epochs=1, optimizer={"type": "SGD", "args": {"lr": 1e-9}}, health={"every": 5})
    events, err = train_cli(project, tmp_path, capsys)
    samples = [e for e in events if e["event"] == "health"]
    first, second = ({(w["layer"], w["kind"]) for w in e["warnings"]} for e in samples[:2])
    assert ("1", "update_too_small") not in first  # once might be a warm-up
    assert {("1", "update_too_small"), ("4", "update_too_small")} <= second
    assert "a higher learning rate usually helps" in err
