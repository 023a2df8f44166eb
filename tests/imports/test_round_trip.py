"""Code -> stack -> code: the Python script the studio exports for a model, imported back, is
the same stack (layers, arguments) with the same weights, for every example and template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from studio.cli.main import main
from studio.core.catalogue import layers as catalogue
from studio.core.catalogue.params import with_defaults
from studio.core.model.build import build_model
from studio.core.project.reading import load_project
from studio.core.project.spec import LayerSpec, Project
from studio.core.use.export.python_code import model_source
from studio.core.use.trained import Preprocessing
from tests.conftest import EXAMPLES

TEMPLATES = sorted((Path(__file__).parents[2] / "resources" / "templates").glob("*.json"))
PROJECTS = [*EXAMPLES, *TEMPLATES]


def _preprocessing(project: Project) -> Preprocessing:
    shape = list(project.model.input_shape)
    tokens = project.model.layers[0].type == "Embedding"
    channels = shape[0] if len(shape) == 3 else 1
    return Preprocessing(
        kind="tokens" if tokens else "image" if len(shape) == 3 else "features",
        task=project.data.task or "classification",
        input_shape=shape,
        classes=["a", "b"],
        mean=[0.0] * channels,
        std=[1.0] * channels,
        vocabulary=["<pad>", "<unk>"] if tokens else None,
    )


def _plain(layers: list[LayerSpec]) -> list[dict]:
    """A stack as what it builds: every argument with its default, inferred ones left out."""
    out = []
    for layer in layers:
        info = catalogue.get(layer.type)
        args = {
            k: v
            for k, v in with_defaults(info.params, layer.args).items()
            if not (info.param(k) and info.param(k).inferred)
        }
        if layer.type in ("Backbone", "Segmenter"):  # its weights are the project's model.weights
            args.pop("weights")
            args.pop("frozen", None)  # the script trains its backbone: it comes back unfrozen
        entry = {"type": layer.type, "args": json.loads(json.dumps(args))}
        if layer.layers is not None:
            entry["layers"] = _plain(layer.layers)
        if layer.branches is not None:
            entry["merge"] = layer.merge or "concat"
            entry["branches"] = [_plain(branch) for branch in layer.branches]
        out.append(entry)
    return out


@pytest.mark.parametrize("project_file", PROJECTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_exported_script_imports_back_to_the_same_stack(project_file, tmp_path, capsys):
    project = load_project(project_file)
    model = build_model(project.model, seed=3)
    torch.save(model.state_dict(), tmp_path / "model.pt")
    script = tmp_path / "model.py"
    script.write_text(
        model_source(project, _preprocessing(project), "model.py", "model.pt", "s.pt")
    )
    out = tmp_path / "back.json"
    shape = [str(n) for n in project.model.input_shape]
    argv = ["import", f"{script}:Model", "--weights", str(tmp_path / "model.pt"), "-o", str(out)]
    code = main([*argv, "--input-shape", *shape, "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result.get("error")
    back = load_project(out)
    assert _plain(back.model.layers) == _plain(project.model.layers)
    assert back.model.input_shape == project.model.input_shape
    from safetensors.torch import load_file

    weights = load_file(str(tmp_path / back.model.weights))
    original = model.state_dict()
    assert weights.keys() == original.keys()
    assert all(torch.equal(weights[k], original[k]) for k in original)


def test_a_trained_runs_python_export_imports_back_and_trains_on(digits_run, tmp_path, capsys):
    """studio export --format python, studio import of that script with its weights file, then
    studio train of the imported project: it starts from the trained weights."""
    from studio.core.use.trained import load_trained

    script = tmp_path / "digits_model.py"
    assert main(["export", str(digits_run), "--format", "python", "-o", str(script)]) == 0
    weights = tmp_path / "digits_model_weights.pt"
    out = tmp_path / "digits.json"
    argv = ["import", f"{script}:Model", "--weights", str(weights), "--input-shape", "1", "8", "8"]
    assert main([*argv, "-o", str(out)]) == 0
    trained = load_trained(digits_run)
    back = load_project(out)
    assert _plain(back.model.layers) == _plain(trained.project.model.layers)
    from safetensors.torch import load_file

    state = load_file(str(tmp_path / back.model.weights))
    assert all(torch.equal(state[k], v) for k, v in trained.model.state_dict().items())
    back.data = trained.project.data  # the digits, as the run had them
    back.training.epochs = 1
    back_file = tmp_path / "digits-back.json"
    back_file.write_text(back.to_json())
    first = _first_epoch(capsys, back_file, tmp_path / "runs")
    assert first["start"]["weights"] == [f"initial weights {back.model.weights}"]
    back.model.weights = None  # the same project from scratch: worse after its first epoch
    back_file.write_text(back.to_json())
    scratch = _first_epoch(capsys, back_file, tmp_path / "runs")
    assert "weights" not in scratch["start"]
    assert first["epoch"]["val_loss"] < scratch["epoch"]["val_loss"]


def _first_epoch(capsys, project: Path, runs: Path) -> dict:
    capsys.readouterr()
    assert main(["train", str(project), "--json", "--runs-dir", str(runs)]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]
    found = {}
    for kind in ("start", "epoch"):
        found[kind] = next(e for e in events if e["event"] == kind)
    return found
