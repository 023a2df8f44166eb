"""File > Import model… in the window: a model's code imported through the dialog's widgets in
the background, its report shown, the stack replaced in one undo step with its weights beside
the project (a project without a file saved first, where the user says); a model that cannot be
imported shows why and offers nothing to use; bad values are marked and block Import; and the
dialog lists a file's classes without running it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from tests.conftest import TEMPLATES
from tests.gui.conftest import answer_next_file_dialog

CORPUS = Path(__file__).resolve().parents[1] / "imports" / "corpus"
IMPORT_SECONDS = 120


def find(parent, name, kind=QWidget):
    widget = parent.findChild(kind, name)
    assert widget is not None, name
    return widget


def _project(folder: Path) -> Path:
    """The digits MLP, saved in the test's folder (the imported weights go beside it)."""
    template = next(p for p in TEMPLATES if p.name == "digits-mlp.json")
    path = folder / "digits.json"
    path.write_text(template.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def _model_file(folder: Path, name: str) -> Path:
    """A copy of a corpus file, so that running it writes nothing (bytecode) outside the test."""
    target = folder / "code" / name
    target.parent.mkdir(exist_ok=True)
    shutil.copy(CORPUS / name, target)
    return target


def _open_dialog(window):
    find(window, "importModelAction", QAction).trigger()
    dialog = find(window, "importDialog")
    assert dialog.isVisible()
    return dialog


def _import(qtbot, dialog, source: Path, shape: str) -> str:
    """Fill the dialog by its widgets, press Import, wait for the report; its text."""
    find(dialog, "importSource").setText(str(source))
    find(dialog, "importInputShape").setText(shape)
    button = find(dialog, "importButton")
    assert button.isEnabled(), find(dialog, "importStatus").text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert not button.isEnabled()  # while it runs
    assert "Importing" in find(dialog, "importStatus").text()
    report = find(dialog, "importReport")
    qtbot.waitUntil(lambda: report.toPlainText() != "", timeout=IMPORT_SECONDS * 1000)
    qtbot.waitUntil(button.isEnabled)
    return report.toPlainText()


def _layers(window) -> list:
    return [layer.to_dict() for layer in window.document.project.model.layers]


def test_a_model_is_imported_used_in_one_undo_step_and_undone(make_window, qtbot, tmp_path):
    window = make_window(_project(tmp_path))
    before, steps = _layers(window), window.document.undo_stack.count()
    was_dirty = window.document.dirty
    dialog = _open_dialog(window)
    source = _model_file(tmp_path, "lenet.py")
    find(dialog, "importSource").setText(str(source))
    symbol = find(dialog, "importSymbol")
    assert symbol.currentText() == "LeNet"  # found by parsing the file, which has not run
    note = find(dialog, "importRunsCode")
    assert note.isVisible() and "runs the code of lenet.py" in note.text()

    text = _import(qtbot, dialog, source, "1 32 32")
    assert "max abs difference" in text and "conv1 (Conv2d)" in text, text
    assert "✓ Imported: 12 layers" in find(dialog, "importStatus").text()
    assert window.document.undo_stack.count() == steps  # nothing used yet

    qtbot.mouseClick(find(dialog, "importApply"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=30000)
    model = window.document.project.model
    assert model.layers[0].type == "Conv2d" and model.layers[0].name == "conv1"
    assert model.input_shape == [1, 32, 32] and len(model.layers) == 12
    tree = find(window, "layerStack")
    assert tree.topLevelItemCount() == 12 and tree.topLevelItem(0).text(1) == "Conv2d  ·  conv1"
    assert tree.topLevelItem(11).text(3) == "[10]"  # shapes inferred for the new stack
    assert model.weights == "LeNet.weights.safetensors"
    assert (tmp_path / model.weights).is_file()  # beside the project file
    assert window.document.dirty and window.document.undo_stack.count() == steps + 1

    window.menus.undo.trigger()
    assert _layers(window) == before and window.document.project.model.weights is None
    assert tree.topLevelItem(0).text(1) == "Flatten" and window.document.dirty == was_dirty
    window.menus.redo.trigger()
    assert window.document.project.model.weights == "LeNet.weights.safetensors"


def test_a_project_without_a_file_is_saved_where_the_user_says(make_window, qtbot, tmp_path):
    window = make_window()
    assert window.document.path is None
    (tmp_path / "LeNet.weights.safetensors").write_bytes(b"another project's")
    dialog = _open_dialog(window)
    _import(qtbot, dialog, _model_file(tmp_path, "lenet.py"), "1 32 32")
    target = tmp_path / "imported.json"

    answer_next_file_dialog(target)  # the save dialog Use this model opens
    qtbot.mouseClick(find(dialog, "importApply"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=30000)
    assert window.document.path == target and not window.document.dirty
    saved = json.loads(target.read_text(encoding="utf-8"))["model"]
    assert saved["weights"] == "LeNet-2.weights.safetensors"  # the other file left alone
    assert (tmp_path / saved["weights"]).is_file() and saved["layers"][0]["name"] == "conv1"
    assert (tmp_path / "LeNet.weights.safetensors").read_bytes() == b"another project's"


def test_a_model_that_cannot_be_imported_says_why_and_offers_nothing(make_window, qtbot, tmp_path):
    window = make_window(_project(tmp_path))
    before, steps = _layers(window), window.document.undo_stack.count()
    dialog = _open_dialog(window)
    text = _import(qtbot, dialog, _model_file(tmp_path, "unsupported_permute.py"), "8 16")
    first, *rest = text.splitlines()
    assert first.startswith("✗") and "not imported" in first and "x.permute()" in first, first
    assert any("NO EQUIVALENT: no layer reorders dimensions" in line for line in rest), text
    assert any("unsupported_permute.py:16" in line for line in rest)  # where, in the code
    assert "Not imported" in find(dialog, "importStatus").text()
    assert not find(dialog, "importApply").isVisible()
    assert _layers(window) == before and window.document.undo_stack.count() == steps


def test_bad_values_are_marked_in_place_and_block_import(make_window, tmp_path):
    window = make_window(_project(tmp_path))
    dialog = _open_dialog(window)
    button, status = find(dialog, "importButton"), find(dialog, "importStatus")
    shape, args = find(dialog, "importInputShape"), find(dialog, "importArgs")
    assert not button.isEnabled() and "Choose a model file" in status.text()
    find(dialog, "importSource").setText(str(_model_file(tmp_path, "lenet.py")))
    assert not button.isEnabled() and "input shape" in status.text()  # needed for Python code
    assert not shape.property("invalid")  # empty is said, not marked
    for bad in ("3 32 -1", "3 x 0", "three", "1.5 2"):
        shape.setText(bad)
        assert shape.property("invalid") and "positive whole numbers" in shape.toolTip(), bad
        assert not button.isEnabled()
    shape.setText("1 32 32")
    assert not shape.property("invalid") and button.isEnabled()
    for bad in ("[1, 2]", "{num_classes: 3}"):
        args.setText(bad)
        assert args.property("invalid") and not button.isEnabled(), bad
    args.setText('{"num_classes": 3}')
    assert not args.property("invalid") and button.isEnabled()
    weights = find(dialog, "importWeights")
    weights.setText(str(tmp_path / "missing.pt"))
    assert weights.property("invalid") and not button.isEnabled()
    weights.clear()
    source = find(dialog, "importSource")
    source.setText(str(tmp_path / "weights.pth"))
    assert source.property("invalid") and "weights alone" in source.toolTip()
    assert not find(dialog, "importRunsCode").isVisible() and not button.isEnabled()
    graph = tmp_path / "model.onnx"
    graph.write_bytes(b"")  # an ONNX file names its input shape: none is needed, no code runs
    source.setText(str(graph))
    shape.clear()
    assert not source.property("invalid") and button.isEnabled()
    assert not find(dialog, "importRunsCode").isVisible()
    assert not find(dialog, "importSymbol").isEnabled() and not args.isEnabled()


def test_a_files_classes_are_listed_without_running_it(make_window, tmp_path):
    marker = tmp_path / "ran"
    code = tmp_path / "models.py"
    code.write_text(
        f"from torch import nn\nopen({str(marker)!r}, 'w').close()\n\n"
        "class Block(nn.Module):\n    pass\n\n"
        "class Net(Block):\n    def __init__(self, width=8, depth=2):\n        super().__init__()\n\n"
        "class Helper:\n    pass\n\n"
        "def make(classes):\n    return Net()\n"
    )
    window = make_window(_project(tmp_path))
    dialog = _open_dialog(window)
    find(dialog, "importSource").setText(str(code))
    symbol = find(dialog, "importSymbol")
    assert [symbol.itemText(i) for i in range(symbol.count())] == ["Block", "Net", "make"]
    assert symbol.currentText() == "Net"  # the last module class: the one built from the rest
    args = find(dialog, "importArgs")
    assert '"width": 8' in args.placeholderText()
    symbol.setCurrentText("make")
    assert "required: classes" in args.placeholderText()
    assert find(dialog, "importRunsCode").isVisible() and not marker.exists()


def _lenet_weights(path: Path) -> dict:
    """A LeNet state dict of its own, written at PATH (torch.save): the weights to import."""
    import torch

    from tests.imports.corpus.lenet import LeNet

    torch.manual_seed(7)
    state = LeNet().state_dict()
    torch.save(state, path)
    return state


def test_files_named_from_home_are_imported_as_they_were_checked(
    make_window, qtbot, tmp_path, monkeypatch
):
    import torch
    from safetensors.torch import load_file

    monkeypatch.setenv("HOME", str(tmp_path))  # what `~` names
    window = make_window(_project(tmp_path))
    dialog = _open_dialog(window)
    _model_file(tmp_path, "lenet.py")
    state = _lenet_weights(tmp_path / "lenet.pt")
    weights = find(dialog, "importWeights")
    weights.setText("~/lenet.pt")
    assert not weights.property("invalid")  # checked as ~ expanded, and imported so
    text = _import(qtbot, dialog, "~/code/lenet.py", "1 32 32")
    assert "✓ Imported: 12 layers" in find(dialog, "importStatus").text(), text
    qtbot.mouseClick(find(dialog, "importApply"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=30000)
    saved = load_file(tmp_path / window.document.project.model.weights)
    assert any(torch.equal(value, state["conv1.weight"]) for value in saved.values())


def _upper_case_code(window, tmp_path):
    """LeNet's code as LENET.PY, chosen in the dialog."""
    dialog = _open_dialog(window)
    code = _model_file(tmp_path, "lenet.py").rename(tmp_path / "code" / "LENET.PY")
    find(dialog, "importSource").setText(str(code))
    find(dialog, "importInputShape").setText("1 32 32")
    return dialog, code


def test_suffixes_are_read_as_the_core_reads_them(make_window, tmp_path):
    from studio.core.imports.sources import split_source

    dialog, code = _upper_case_code(make_window(_project(tmp_path)), tmp_path)
    assert split_source(f"{code}:LeNet") == (str(code), "LeNet")  # Python code to the core
    assert find(dialog, "importSymbol").currentText() == "LeNet"  # and to the dialog
    assert find(dialog, "importRunsCode").isVisible() and find(dialog, "importButton").isEnabled()
    weights = find(dialog, "importWeights")
    assert ".safetensors, or a torch state dict (.pt, .pth, .bin, .ckpt)" in (
        weights.placeholderText()
    )
    for name in ("w.safetensors", "w.pt", "w.pth", "w.bin", "w.ckpt", "W.SAFETENSORS", "w.npz"):
        (tmp_path / name).write_bytes(b"weights")
        weights.setText(str(tmp_path / name))
        wrong = name == "w.npz"
        assert weights.property("invalid") == wrong, name
        assert ("a torch state dict (.pt" in weights.toolTip()) == wrong, name


def test_an_upper_case_python_file_is_imported(make_window, qtbot, tmp_path):
    dialog, code = _upper_case_code(make_window(_project(tmp_path)), tmp_path)
    text = _import(qtbot, dialog, code, "1 32 32")
    assert "✓ Imported: 12 layers" in find(dialog, "importStatus").text(), text


def test_use_this_model_goes_when_a_field_changes_after_the_import(make_window, qtbot, tmp_path):
    window = make_window(_project(tmp_path))
    before = _layers(window)
    dialog = _open_dialog(window)
    source = _model_file(tmp_path, "lenet.py")
    apply, button = find(dialog, "importApply"), find(dialog, "importButton")
    status, args = find(dialog, "importStatus"), find(dialog, "importArgs")
    args.setText('{"num_classes": 3}')
    _import(qtbot, dialog, source, "1 32 32")
    assert apply.isVisible() and apply.isDefault()
    args.setText('{"num_classes": 5}')  # after the import
    assert not apply.isVisible() and button.isDefault() and button.isEnabled()
    assert "fields changed since the last import" in status.text()
    assert _layers(window) == before

    report = find(dialog, "importReport")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    args.setText('{"num_classes": 4}')  # while it runs
    qtbot.waitUntil(lambda: report.toPlainText() != "", timeout=IMPORT_SECONDS * 1000)
    qtbot.waitUntil(button.isEnabled)
    assert not apply.isVisible() and "fields changed since the last import" in status.text()

    _import(qtbot, dialog, source, "1 32 32")  # the next import: of the fields as they are
    assert apply.isVisible() and "✓ Imported" in status.text()
    qtbot.mouseClick(apply, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=30000)
    assert find(window, "layerStack").topLevelItem(11).text(3) == "[4]"
