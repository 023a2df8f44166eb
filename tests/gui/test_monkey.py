"""GUI monkey test: 320 random edits (add, delete, move, duplicate, cut / copy / paste, change
arguments, undo, redo) on a realistic stack, then undo back to the file byte for byte."""

from __future__ import annotations

import random

from studio.core.catalogue import layers as catalogue
from studio.core.project.reading import parse_project
from studio.core.project.spec import save_project

EDITS = 320
STACK = {
    "studio": 1, "name": "Monkey ResNet", "data": {"source": "digits", "batch_size": 32},
    "model": {"input_shape": [1, 8, 8], "layers": [
        {"type": "Conv2d", "args": {"out_channels": 8, "kernel_size": 3, "padding": 1}},
        {"type": "BatchNorm2d"}, {"type": "ReLU"},
        {"type": "Residual", "layers": [
            {"type": "Conv2d", "args": {"out_channels": 8, "kernel_size": 3, "padding": 1}},
            {"type": "BatchNorm2d"}, {"type": "ReLU"}]},
        {"type": "Branch", "merge": "concat", "branches": [
            [{"type": "Conv2d", "args": {"out_channels": 4, "kernel_size": 1}}],
            [{"type": "MaxPool2d", "args": {"kernel_size": 3, "stride": 1, "padding": 1}}]]},
        {"type": "AdaptiveAvgPool2d", "args": {"output_size": 2}}, {"type": "Flatten"},
        {"type": "Dropout", "args": {"p": 0.2}}, {"type": "Linear", "args": {"out_features": 10}}]},
    "training": {"epochs": 3, "optimizer": {"type": "Adam", "args": {"lr": 0.001}}},
}  # fmt: skip
VALUES = {"int": [1, 2, 3, 8, 16, 0, -1], "float": [0.0, 0.1, 0.5, 2.0], "bool": [True, False],
          "ints": [[1, 1], [2, 2], [3, 1]], "floats": [[1.0, 1.0]], "shape": [[8], [2, 4]], "str": ["x"]}  # fmt: skip


def _paths(layers, prefix=""):
    for i, layer in enumerate(layers):
        path = f"{prefix}{i}"
        yield path, layer
        yield from _paths(layer.layers or [], f"{path}.")
        for b, branch in enumerate(layer.branches or []):
            yield from _paths(branch, f"{path}.branches.{b}.")


def test_random_edits_then_undo_everything_gives_the_file_back(make_window, tmp_path, qtbot):
    original = tmp_path / "monkey.json"
    save_project(parse_project(STACK), original)
    before = original.read_bytes()
    window = make_window(original)
    actions, undo_stack = window.layer_actions, window.document.undo_stack
    rng = random.Random(7)
    layer_types = sorted(catalogue.catalogue())
    done = {
        name: 0
        for name in (
            "select",
            "add",
            "delete",
            "duplicate",
            "cut",
            "copy",
            "paste",
            "up",
            "down",
            "argument",
            "undo",
            "redo",
        )
    }
    applied = 0  # actions that changed the project (others were refused, or select / copy)
    for _ in range(EDITS):
        text_before = window.document.text()
        paths = list(_paths(window.document.project.model.layers))
        kind = rng.choice(list(done))
        if kind == "select" and paths:
            window.select_layer(rng.choice(paths)[0])
        elif kind == "add":
            window.views.palette.layerChosen.emit(rng.choice(layer_types))
        elif kind in ("delete", "duplicate", "cut", "copy", "paste", "up", "down"):
            actions.actions[kind].trigger()
        elif kind == "argument" and paths:
            path, layer = rng.choice(paths)
            info = catalogue.get(layer.type)
            if info is not None and info.params:
                param = rng.choice(info.params)
                value = rng.choice(
                    list(param.choices) if param.choices else VALUES.get(param.kind, [1])
                )
                actions.set_argument(path, param.name, value)
        elif kind == "undo":
            undo_stack.undo()
        elif kind == "redo":
            undo_stack.redo()
        done[kind] += 1
        applied += window.document.text() != text_before
        qtbot.wait(1)  # let queued refreshes run, as between a user's clicks
    assert min(done.values()) > 5, done
    assert applied >= EDITS // 3, applied  # most edit kinds change the project
    print(
        f"{EDITS} actions, {applied} changed the project: {done}; undo stack {undo_stack.count()}"
    )
    while undo_stack.canUndo():
        undo_stack.undo()
    window.files.save()
    assert original.read_bytes() == before
    tree = window.views.stack.tree
    assert tree.topLevelItemCount() == len(STACK["model"]["layers"])
