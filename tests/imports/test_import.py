"""`studio import` through the command line: the corpus of models written as people write them,
ONNX files and torch.export programs, weights, and what cannot be imported (docs/cli.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from studio.cli.main import main
from studio.core.model.build import build_model
from studio.core.model.initial_weights import load_initial
from studio.core.project.reading import load_project
from studio.core.project.spec import LayerSpec
from tests.imports.corpus import CORPUS, Entry, path

EXACT = [e for e in CORPUS if e.expected == "exact"]
REFUSED = [e for e in CORPUS if e.expected != "exact"]


def _source_model(entry: Entry) -> torch.nn.Module:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"corpus_{entry.name}", path(entry))
    code = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = code  # a whole model can be pickled (to be refused)
    spec.loader.exec_module(code)
    return getattr(code, entry.symbol)(**entry.args).eval()


def _sample(entry: Entry, batch: int = 4) -> torch.Tensor:
    generator = torch.Generator().manual_seed(7)
    if entry.tokens:
        vocab = entry.args.get("vocab_size", 100)
        return torch.randint(0, vocab, (batch, *entry.input_shape), generator=generator)
    return torch.randn((batch, *entry.input_shape), generator=generator)


def _import(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["import", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


def _run_project(project_file: Path, x: torch.Tensor) -> torch.Tensor:
    """The project's model as training builds it: the stack, then model.weights loaded."""
    project = load_project(project_file)
    model = build_model(project.model, seed=123)
    assert load_initial(model, project.model, project_file.parent).words
    with torch.no_grad():
        return model.eval()(x)


@pytest.mark.parametrize("entry", EXACT, ids=[e.name for e in EXACT])
def test_corpus_model_imports_exactly(entry, tmp_path, capsys):
    torch.manual_seed(0)
    source = _source_model(entry)
    weights = tmp_path / "weights.pt"
    torch.save(source.state_dict(), weights)
    out = tmp_path / f"{entry.name}.json"
    argv = [f"{path(entry)}:{entry.symbol}", "-o", str(out), "--args", json.dumps(entry.args)]
    argv += ["--weights", str(weights), "--input-shape", *map(str, entry.input_shape)]
    code, result = _import(capsys, *argv)
    assert code == 0, result
    report = result["report"]
    assert report["max_abs_difference"] <= 1e-5 and not report["problems"]
    assert Path(result["weights"]).is_file() and result["weights"].endswith(".safetensors")
    # the saved project (a fresh build with other random weights, then model.weights) is the model
    x = _sample(entry)
    with torch.no_grad():
        expected = source(x)
    assert (_run_project(out, x) - expected).abs().max() <= 1e-5
    # every node of the source is accounted for: a layer, a merge, or passing its input on
    for node in report["nodes"]:
        assert node["became"] or node.get("merge") or node["source"] in PASSING, node


PASSING = {"the input", "x.contiguous()", "torch.flatten()", "x.view()", "x.reshape()"}


def test_imported_stack_reads_like_the_code(tmp_path, capsys):
    resnet = next(e for e in CORPUS if e.name == "resnet")
    out = tmp_path / "resnet.json"
    code, _ = _import(
        capsys, f"{path(resnet)}:{resnet.symbol}", "-o", str(out), "--args", '{"width": 8}',
        "--input-shape", "3", "32", "32",
    )  # fmt: skip
    assert code == 0
    layers = json.loads(out.read_text())["model"]["layers"]
    assert [(layer["type"], layer.get("name")) for layer in layers[:3]] == [
        ("Conv2d", "conv1"), ("BatchNorm2d", "bn1"), ("ReLU", "relu")
    ]  # fmt: skip
    stage = next(layer for layer in layers if layer.get("name") == "layer2")
    block = stage["layers"][0]
    assert block["type"] == "Sequential" and block["name"] == "layer2.0"
    merge = block["layers"][0]  # a block that changes the width: its shortcut is a branch
    assert merge["type"] == "Branch" and merge["merge"] == "add"
    shortcut = merge["branches"][1][0]
    assert shortcut["name"] == "layer2.0.downsample" and shortcut["type"] == "Sequential"
    first = next(layer for layer in layers if layer.get("name") == "layer1")["layers"][0]
    assert first["layers"][0]["type"] == "Residual"  # x + f(x)
    assert [layer["type"] for layer in layers[-3:]] == ["AdaptiveAvgPool2d", "Flatten", "Linear"]
    assert "in_channels" not in layers[0]["args"]  # inferred from the shape, as a stack leaves it


@pytest.mark.parametrize("entry", REFUSED, ids=[e.name for e in REFUSED])
def test_what_has_no_equivalent_is_named_with_its_line(entry, tmp_path, capsys):
    out = tmp_path / "refused.json"
    argv = [
        f"{path(entry)}:{entry.symbol}",
        "-o",
        str(out),
        "--input-shape",
        *map(str, entry.input_shape),
    ]
    code = main(["import", *argv])
    captured = capsys.readouterr()
    assert code == 2 and not out.exists()
    line = captured.err.strip()
    assert line.count("\n") == 0 and "not imported" in line
    assert f"{entry.file}:" in line  # file:line of the code
    assert "NO EQUIVALENT" in captured.out
    if entry.expected == "permute":
        assert "x.permute()" in line and "reorders dimensions" in line
    else:
        assert "second time" in line and "share weights" in line


def _lenet():
    entry = next(e for e in CORPUS if e.name == "lenet")
    torch.manual_seed(1)
    return entry, _source_model(entry)


def test_onnx_file_imports_with_its_weights_and_shape(tmp_path, capsys):
    entry, model = _lenet()
    onnx_file = tmp_path / "lenet.onnx"
    x = torch.randn(2, 1, 32, 32)
    torch.onnx.export(model, (x,), str(onnx_file), dynamo=True, dynamic_shapes=({0: "batch"},))
    capsys.readouterr()  # the exporter's progress lines
    out = tmp_path / "from-onnx.json"
    code, result = _import(capsys, str(onnx_file), "-o", str(out))  # the shape is the file's
    assert code == 0, result
    assert result["report"]["input_shape"] == [1, 32, 32] and result["report"]["kind"] == "onnx"
    types = [layer["type"] for layer in json.loads(out.read_text())["model"]["layers"]]
    assert types[:3] == ["Conv2d", "ReLU", "MaxPool2d"] and "Flatten" in types
    with torch.no_grad():
        assert (_run_project(out, x) - model(x)).abs().max() <= 1e-5


def test_onnx_files_of_the_older_exporter_and_an_operator_without_a_layer(tmp_path, capsys):
    """The TorchScript exporter writes x.view(x.size(0), -1) as Shape/Gather/Concat nodes on
    integer tensors: shape arithmetic, not data. An LSTM operator has no converter: one line."""
    entry, model = _lenet()
    legacy = tmp_path / "legacy.onnx"
    x = torch.randn(3, 1, 32, 32)
    dynamic = {"x": {0: "batch"}}
    torch.onnx.export(
        model, (x[:1],), str(legacy), dynamo=False, input_names=["x"], dynamic_axes=dynamic
    )
    capsys.readouterr()
    out = tmp_path / "legacy.json"
    code, result = _import(capsys, str(legacy), "-o", str(out))
    assert code == 0, result
    with torch.no_grad():
        assert (_run_project(out, x) - model(x)).abs().max() <= 1e-5
    lstm = next(e for e in CORPUS if e.name == "lstm_text")
    recurrent = tmp_path / "lstm.onnx"
    tokens = _sample(lstm, 2)
    torch.onnx.export(_source_model(lstm), (tokens,), str(recurrent), dynamo=True)
    capsys.readouterr()
    assert main(["import", str(recurrent), "-o", str(tmp_path / "lstm.json")]) == 2
    assert "the ONNX operator LSTM" in capsys.readouterr().err


def test_pt2_program_imports(tmp_path, capsys):
    entry, model = _lenet()
    program = tmp_path / "lenet.pt2"
    x = torch.randn(1, 1, 32, 32)
    torch.export.save(torch.export.export(model, (x,)), str(program))
    out = tmp_path / "from-pt2.json"
    code, result = _import(capsys, str(program), "-o", str(out))
    assert code == 0, result
    assert result["report"]["kind"] == "pt2" and result["report"]["max_abs_difference"] <= 1e-5
    with torch.no_grad():
        assert (_run_project(out, x) - model(x)).abs().max() <= 1e-5


def test_weights_file_is_imported_and_a_pickled_model_refused(tmp_path, capsys):
    entry, model = _lenet()
    weights = tmp_path / "trained.pt"
    torch.save(model.state_dict(), weights)
    out = tmp_path / "lenet.json"
    source = f"{path(entry)}:{entry.symbol}"
    code, result = _import(
        capsys, source, "-o", str(out), "--weights", str(weights), "--input-shape", "1", "32", "32"
    )
    assert code == 0, result
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        assert (_run_project(out, x) - model(x)).abs().max() <= 1e-5
    pickled = tmp_path / "whole.pt"
    torch.save(model, pickled)
    assert (
        main(
            [
                "import",
                source,
                "-o",
                str(tmp_path / "x.json"),
                "--weights",
                str(pickled),
                "--input-shape",
                "1",
                "32",
                "32",
            ]
        )
        == 2
    )
    assert "whole pickled model" in capsys.readouterr().err
    assert main(["import", str(weights)]) == 2
    assert "weights alone have no architecture" in capsys.readouterr().err


def test_bad_sources_are_one_line(tmp_path, capsys):
    entry, _ = _lenet()
    cases = [
        ([f"{path(entry)}:LeNet"], "give --input-shape"),
        ([f"{path(entry)}:Nope", "--input-shape", "1", "32", "32"], "no class or function Nope"),
        (
            [f"{path(entry)}:LeNet", "--args", "[1]", "--input-shape", "1", "32", "32"],
            "JSON object",
        ),
        (
            [f"{path(entry)}:LeNet", "--args", '{"wrong": 1}', "--input-shape", "1", "32", "32"],
            "TypeError",
        ),
        ([str(tmp_path / "missing.onnx")], "no such file"),
    ]
    for argv, expected in cases:
        assert main(["import", *argv, "-o", str(tmp_path / "p.json")]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert expected in err and "\n" not in err, err


def test_training_starts_from_the_imported_weights(tmp_path, capsys):
    """model.weights: prepare() (train, check, lr-find) loads them; a file for another stack is
    one line naming the field."""
    from studio.core.errors import ProjectError
    from studio.core.train.loop import prepare

    mlp = next(e for e in CORPUS if e.name == "mlp")
    out = tmp_path / "mlp.json"
    code, _ = _import(capsys, f"{path(mlp)}:{mlp.symbol}", "-o", str(out), "--input-shape", "20")
    assert code == 0
    rows = [",".join([*(f"x{i}" for i in range(20)), "label"])]
    generator = torch.Generator().manual_seed(0)
    for n in range(60):
        values = torch.randn(20, generator=generator).tolist()
        rows.append(",".join([*(f"{v:.4f}" for v in values), str(n % 3)]))
    (tmp_path / "data.csv").write_text("\n".join(rows) + "\n")
    project = load_project(out)
    assert project.model.weights == "mlp.weights.safetensors"
    setup, _ = prepare(project, tmp_path)
    from safetensors.torch import load_file

    saved = load_file(str(tmp_path / project.model.weights))
    state = setup.raw_model.state_dict()
    assert all(torch.equal(state[k].cpu(), saved[k]) for k in saved)
    assert "initial weights mlp.weights.safetensors" in setup.weights_loaded
    project.model.layers.append(LayerSpec("Linear", {"out_features": 3}))  # the rest still loads
    setup, _ = prepare(project, tmp_path)
    (loaded,) = setup.weights_loaded
    assert "left as initialised" in loaded and "changed since the import" in loaded
    assert all(torch.equal(setup.raw_model.state_dict()[k].cpu(), saved[k]) for k in saved)
    project.model.layers = [LayerSpec("Flatten"), LayerSpec("Linear", {"out_features": 3})]
    with pytest.raises(ProjectError, match=r"model.weights: .*fits none of the stack"):
        prepare(project, tmp_path)


def test_a_model_that_does_not_run_on_the_shape_or_gives_no_tensor(tmp_path, capsys):
    entry, _ = _lenet()
    lenet = f"{path(entry)}:{entry.symbol}"
    assert (
        main(["import", lenet, "--input-shape", "3", "32", "32", "-o", str(tmp_path / "a.json")])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "does not run on a batch of shape [1, 3, 32, 32] at " in err and "lenet.py:17" in err
    assert err.endswith("(is --input-shape right?)") and "\n" not in err
    code_file = tmp_path / "dict_model.py"
    code_file.write_text(
        "from torch import nn\n\n\nclass D(nn.Module):\n    def __init__(self):\n"
        "        super().__init__()\n        self.fc = nn.Linear(4, 2)\n\n"
        "    def forward(self, x):\n        return {'out': self.fc(x)}\n"
    )
    assert (
        main(["import", f"{code_file}:D", "--input-shape", "4", "-o", str(tmp_path / "d.json")])
        == 2
    )
    assert "gives a dict, not one tensor" in capsys.readouterr().err


def test_initial_weights_follow_layers_by_name_when_the_stack_changes(tmp_path, capsys):
    """A block taken out of an imported ResNet: the layers after it keep their own weights
    (found by name), not the weights of the layer that was at their place."""
    from safetensors.torch import load_file

    from studio.core.model.walk import locate, walk

    resnet = next(e for e in CORPUS if e.name == "resnet")
    out = tmp_path / "resnet.json"
    argv = [f"{path(resnet)}:{resnet.symbol}", "-o", str(out), "--args", '{"width": 8}']
    assert _import(capsys, *argv, "--input-shape", "3", "32", "32")[0] == 0
    project = load_project(out)
    paths = {node.layer.name: node.path for node in walk(project.model.layers) if node.layer.name}
    saved = load_file(str(tmp_path / project.model.weights))
    kept = saved[f"{paths['layer1.1.conv1']}.weight"]
    siblings, index = locate(project.model.layers, paths["layer1.0"])
    del siblings[index]  # the first block of layer1
    model = build_model(project.model, seed=5)
    (words,) = load_initial(model, project.model, tmp_path).words
    moved = {node.layer.name: node.path for node in walk(project.model.layers) if node.layer.name}
    assert moved["layer1.1.conv1"] != paths["layer1.1.conv1"]
    assert torch.equal(model.state_dict()[f"{moved['layer1.1.conv1']}.weight"], kept)
    assert "left as initialised" not in words and "of the file's unused" in words
