"""torchvision's classification models (those the Backbone layer lists) imported from their
code: the families that import exactly, and the ones that cannot, with the reason."""

from __future__ import annotations

import json

import pytest

from studio.cli.main import main
from studio.core.model.walk import walk
from studio.core.project.reading import load_project
from tests.imports.corpus import HERE

FACTORY = f"{HERE / 'torchvision_models.py'}:model"
EXACT = ["resnet18", "mobilenet_v3_small", "efficientnet_b0", "densenet121", "regnet_x_400mf",
         "mnasnet0_5"]  # fmt: skip
REFUSED = {
    "shufflenet_v2_x0_5": "no layer reorders dimensions",  # its channel shuffle's transpose
    "convnext_tiny": "no layer reorders dimensions",  # channels-last blocks
}


def _import(capsys, tmp_path, name: str) -> tuple[int, dict]:
    argv = ["import", FACTORY, "--args", json.dumps({"name": name, "num_classes": 10})]
    code = main([*argv, "--input-shape", "3", "32", "32", "-o", str(tmp_path / "p.json"), "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", EXACT)
def test_torchvision_family_imports_exactly(name, tmp_path, capsys):
    code, result = _import(capsys, tmp_path, name)
    assert code == 0, result.get("error")
    assert result["report"]["max_abs_difference"] <= 1e-5
    project = load_project(tmp_path / "p.json")
    head = [n.layer for n in walk(project.model.layers) if n.layer.type == "Linear"][-1]
    assert head.args["out_features"] == 10  # the classifier, sized as the code asked


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_torchvision_family_that_cannot_import_says_why(name, tmp_path, capsys):
    code, result = _import(capsys, tmp_path, name)
    assert code == 2 and not (tmp_path / "p.json").exists()
    assert REFUSED[name] in result["error"]
    assert all(row["where"] for row in result["report"]["problems"])  # each at its line
