"""File > Save As… of a project whose `model.weights` names a file beside it: saved into another
folder, the file goes along (copied beside the new project file, or as `NAME-2...` with
`model.weights` renamed when another file has its name there), so training the saved project
finds it; saved in the same folder, or where the same file already is, nothing is copied."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtGui import QAction

from tests.conftest import TEMPLATES
from tests.gui.conftest import answer_next_file_dialog

WEIGHTS = "digits.weights.safetensors"


def _weights(path: Path, project, seed: int) -> None:
    """The stack's own state dict (seeded), as a safetensors file at PATH."""
    from safetensors.torch import save_file

    from studio.core.model.build import build_model

    save_file(build_model(project.model, seed=seed).state_dict(), str(path))


def _project(folder: Path) -> Path:
    """The digits MLP with its initial weights beside it, in FOLDER."""
    from studio.core.project.reading import parse_project

    text = next(p for p in TEMPLATES if p.name == "digits-mlp.json").read_text(encoding="utf-8")
    data = json.loads(text)
    data["model"]["weights"] = WEIGHTS
    folder.mkdir()
    _weights(folder / WEIGHTS, parse_project(data), seed=1)
    path = folder / "digits.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _save_as(window, target: Path) -> None:
    """File > Save As…, the save dialog answered with TARGET."""

    answer_next_file_dialog(target)
    window.findChild(QAction, "saveAsAction").trigger()
    assert window.document.path == target and not window.document.dirty


def _trains_from(project_file: Path, weights: Path) -> bool:
    """Whether training the saved project starts from WEIGHTS: its stack, built and given its
    `model.weights` as training gives them, holds exactly those tensors."""
    import torch
    from safetensors.torch import load_file

    from studio.core.model.build import build_model
    from studio.core.model.initial_weights import load_initial
    from studio.core.project.reading import load_project

    project = load_project(project_file)
    model = build_model(project.model, seed=0)
    load_initial(model, project.model, project_file.parent)
    state, expected = model.state_dict(), load_file(str(weights))
    return state.keys() == expected.keys() and all(
        torch.equal(state[k], v) for k, v in expected.items()
    )


def test_save_as_into_another_folder_takes_the_weights_along(make_window, tmp_path):
    original = _project(tmp_path / "a")
    window = make_window(original)
    (tmp_path / "b").mkdir()
    _save_as(window, tmp_path / "b" / "copy.json")
    copied = tmp_path / "b" / WEIGHTS
    assert copied.read_bytes() == (tmp_path / "a" / WEIGHTS).read_bytes()
    assert window.document.project.model.weights == WEIGHTS
    assert _trains_from(tmp_path / "b" / "copy.json", tmp_path / "a" / WEIGHTS)
    assert "weights copied as digits.weights.safetensors" in window.statusBar().currentMessage()

    _save_as(window, tmp_path / "b" / "again.json")  # the same folder: nothing to copy
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [
        "again.json",
        "copy.json",
        WEIGHTS,
    ]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / WEIGHTS).write_bytes(copied.read_bytes())  # the same file is there
    _save_as(window, tmp_path / "c" / "third.json")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [WEIGHTS, "third.json"]
    assert window.document.project.model.weights == WEIGHTS


def test_another_file_of_the_name_there_is_kept_and_the_weights_renamed(make_window, tmp_path):
    original = _project(tmp_path / "a")
    window = make_window(original)
    steps = window.document.undo_stack.count()
    other = tmp_path / "b" / WEIGHTS
    other.parent.mkdir()
    _weights(other, window.document.project, seed=2)  # another project's, of the same name
    theirs = other.read_bytes()
    target = tmp_path / "b" / "copy.json"
    _save_as(window, target)
    renamed = "digits-2.weights.safetensors"
    assert other.read_bytes() == theirs
    assert (tmp_path / "b" / renamed).read_bytes() == (tmp_path / "a" / WEIGHTS).read_bytes()
    assert json.loads(target.read_text(encoding="utf-8"))["model"]["weights"] == renamed
    assert window.document.project.model.weights == renamed
    assert window.document.undo_stack.count() == steps + 1  # the rename, saved with the rest
    assert _trains_from(target, tmp_path / "a" / WEIGHTS)
    assert json.loads(original.read_text(encoding="utf-8"))["model"]["weights"] == WEIGHTS
