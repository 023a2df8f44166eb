"""Project files: every example loads, load -> save -> load is lossless, and every mistake is one
ProjectError that names the JSON path at fault."""

from __future__ import annotations

import json
import os

import pytest

from studio.core.errors import ProjectError
from studio.core.project.reading import load_project, parse_project
from studio.core.project.spec import save_project
from tests.conftest import EXAMPLES, TEMPLATES, minimal_project


@pytest.mark.parametrize("path", EXAMPLES + TEMPLATES, ids=lambda p: p.name)
def test_every_example_and_template_loads_and_round_trips(path, tmp_path):
    project = load_project(path)
    saved = tmp_path / "copy.json"
    save_project(project, saved)
    again = load_project(saved)
    assert again == project
    assert again.to_dict() == project.to_dict()
    # What the file said is kept: every key the author wrote comes back with the same value.
    original = json.loads(path.read_text())
    _assert_contains(project.to_dict(), original)


def _assert_contains(full, given):
    if isinstance(given, dict):
        for key, value in given.items():
            assert key in full, key
            _assert_contains(full[key], value)
    elif isinstance(given, list):
        assert len(full) == len(given)
        for a, b in zip(full, given, strict=True):
            _assert_contains(a, b)
    else:
        assert full == given


def test_defaults_fill_every_optional_field():
    project = parse_project({"studio": 1, "data": {"source": "digits"}, "model": {"layers": []}})
    assert project.name == "Untitled"
    assert project.data.batch_size == 64 and project.data.val_fraction == 0.2
    assert project.training.optimizer.type == "Adam"
    assert project.training.loss.type == "CrossEntropyLoss"
    assert project.model.input_shape is None


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "p.json"
    target.write_text("old contents")
    project = load_project(EXAMPLES[0])
    save_project(project, target)
    assert load_project(target) == project
    assert os.listdir(tmp_path) == ["p.json"]


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "p.json"
    target.write_text("previous")
    project = load_project(EXAMPLES[0])
    project.data.options["bad"] = object()  # not JSON-serialisable: the write fails midway
    with pytest.raises(TypeError):
        save_project(project, target)
    assert target.read_text() == "previous"
    assert os.listdir(tmp_path) == ["p.json"]


def _mlp(**changes):
    project = minimal_project(
        [{"type": "Flatten"}, {"type": "Linear", "args": {"out_features": 10}}]
    )
    for dotted, value in changes.items():
        node = project
        *parents, last = dotted.split("__")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        node[last] = value
    return project


BAD_FILES = {
    "unknown top-level key": (_mlp(modle={}), "modle"),
    "unknown data key": (_mlp(data__batchsize=3), "data.batchsize"),
    "wrong type of batch size": (_mlp(data__batch_size="64"), "data.batch_size"),
    "zero batch size": (_mlp(data__batch_size=0), "data.batch_size"),
    "val_fraction of one": (_mlp(data__val_fraction=1.0), "data.val_fraction"),
    "input shape with a zero": (_mlp(model__input_shape=[1, 0]), "model.input_shape"),
    "layers not a list": (_mlp(model__layers={}), "model.layers"),
    "layer without type": (_mlp(model__layers=[{"args": {}}]), "model.layers[0].type"),
    "unknown layer": (_mlp(model__layers=[{"type": "Conv4d"}]), "model.layers[0].type"),
    "an importable name": (_mlp(model__layers=[{"type": "os.system"}]), "model.layers[0].type"),
    "unknown layer key": (_mlp(model__layers=[{"type": "ReLU", "arg": {}}]), "model.layers[0].arg"),
    "unknown argument": (
        _mlp(model__layers=[{"type": "Conv2d", "args": {"out_channels": 3, "kernel_sise": 3}}]),
        "model.layers[0].args.kernel_sise",
    ),
    "bad kernel_size": (
        _mlp(
            model__layers=[
                {"type": "Flatten"},
                {"type": "Conv2d", "args": {"out_channels": 3, "kernel_size": [3, 3, 3]}},
            ]
        ),
        "model.layers[1].args.kernel_size",
    ),
    "missing required argument": (
        _mlp(model__layers=[{"type": "Linear", "args": {}}]),
        "model.layers[0].args.out_features",
    ),
    "nested bad argument": (
        _mlp(
            model__layers=[
                {
                    "type": "Residual",
                    "layers": [{"type": "ReLU"}, {"type": "Dropout", "args": {"p": "x"}}],
                }
            ]
        ),
        "model.layers[0].layers[1].args.p",
    ),
    "branch layer": (
        _mlp(model__layers=[{"type": "Branch", "branches": [[{"type": "Linear"}]]}]),
        "model.layers[0].branches[0][0].args.out_features",
    ),
    "bad merge": (
        _mlp(model__layers=[{"type": "Branch", "merge": "max", "branches": [[]]}]),
        "model.layers[0].merge",
    ),
    "duplicate names": (
        _mlp(model__layers=[{"type": "ReLU", "name": "a"}, {"type": "Tanh", "name": "a"}]),
        "model.layers[1].name",
    ),
    "unknown loss": (_mlp(training__loss={"type": "FocalLoss"}), "training.loss.type"),
    "unknown optimizer": (_mlp(training__optimizer={"type": "Adamm"}), "training.optimizer.type"),
    "bad optimizer argument": (
        _mlp(training__optimizer={"type": "SGD", "args": {"lr": "fast"}}),
        "training.optimizer.args.lr",
    ),
    "unknown scheduler": (
        _mlp(training__scheduler={"type": "LambdaLR"}),
        "training.scheduler.type",
    ),
    "bad device": (_mlp(training__device="gpu"), "training.device"),
    "bad precision": (_mlp(training__precision="fp8"), "training.precision"),
    "bad epochs": (_mlp(training__epochs=0), "training.epochs"),
    "bad early stopping": (
        _mlp(training__early_stopping={"monitor": "loss"}),
        "training.early_stopping.monitor",
    ),
    "negative grad clip": (_mlp(training__grad_clip=-1), "training.grad_clip"),
    "boolean as number": (_mlp(training__seed=True), "training.seed"),
    "nan learning rate": (
        _mlp(training__optimizer={"type": "SGD", "args": {"lr": float("nan")}}),
        "training.optimizer.args.lr",
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_project_names_the_json_path(name, write_project):
    data, path = BAD_FILES[name]
    file = write_project(data)
    with pytest.raises(ProjectError) as caught:
        load_project(file)
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{file}: {path}: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not valid JSON (line 1"),
        ("[]", "expected a project"),
        ('{"name": "x"}', "not a Torch Studio project"),
        ('{"studio": 2, "data": {}, "model": {}}', "newer Torch Studio"),
        ('{"studio": "1"}', "expected the format version 1"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_unusable_files_give_one_clear_message(text, expected, write_project):
    with pytest.raises(ProjectError, match=expected.replace("(", r"\(")):
        load_project(write_project(text))


def test_missing_file_is_a_project_error(tmp_path):
    with pytest.raises(ProjectError, match="no such file"):
        load_project(tmp_path / "nope.json")
