"""The layer tree's one walker: paths, depths and JSON paths of every layer in summary order, and
locate's answer for paths that lead somewhere and paths that do not."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from studio.core.errors import ProjectError
from studio.core.model.build import walk_model
from studio.core.model.walk import child_prefix, children, json_path, locate, walk
from studio.core.project.reading import parse_project
from studio.core.project.spec import LayerSpec
from tests.conftest import minimal_project


def _tree() -> list[LayerSpec]:
    """Flatten, Residual[Linear, Branch[[Sequential[Tanh, ReLU]], [Identity]]], Linear."""
    inner = LayerSpec("Sequential", layers=[LayerSpec("Tanh"), LayerSpec("ReLU")])
    branch = LayerSpec(
        "Branch", merge="add", branches=[[inner], [LayerSpec("Identity", name="id")]]
    )
    residual = LayerSpec("Residual", layers=[LayerSpec("Linear", {"out_features": 64}), branch])
    return [LayerSpec("Flatten"), residual, LayerSpec("Linear", {"out_features": 3})]


EXPECTED = [  # path, type, depth, JSON path, container
    ("0", "Flatten", 0, "model.layers[0]", False),
    ("1", "Residual", 0, "model.layers[1]", True),
    ("1.0", "Linear", 1, "model.layers[1].layers[0]", False),
    ("1.1", "Branch", 1, "model.layers[1].layers[1]", True),
    ("1.1.branches.0.0", "Sequential", 2, "model.layers[1].layers[1].branches[0][0]", True),
    ("1.1.branches.0.0.0", "Tanh", 3, "model.layers[1].layers[1].branches[0][0].layers[0]", False),
    ("1.1.branches.0.0.1", "ReLU", 3, "model.layers[1].layers[1].branches[0][0].layers[1]", False),
    ("1.1.branches.1.0", "Identity", 2, "model.layers[1].layers[1].branches[1][0]", False),
    ("2", "Linear", 0, "model.layers[2]", False),
]


def test_walk_gives_every_layer_in_pre_order_with_its_path_depth_and_json_path():
    got = [(n.path, n.layer.type, n.depth, n.json_path, n.container) for n in walk(_tree())]
    assert got == EXPECTED


def test_walk_says_what_holds_each_layer():
    nodes = {n.path: n for n in walk(_tree())}
    assert (nodes["0"].parent, nodes["0"].branch, nodes["0"].index) == (None, None, 0)
    assert (nodes["1.1"].parent, nodes["1.1"].branch, nodes["1.1"].index) == ("1", None, 1)
    assert (nodes["1.1.branches.1.0"].parent, nodes["1.1.branches.1.0"].branch) == ("1.1", 1)
    assert (nodes["1.1.branches.0.0.1"].parent, nodes["1.1.branches.0.0.1"].branch) == (
        "1.1.branches.0.0",
        None,
    )


def test_walk_from_a_prefix_and_depth_names_a_subtree_as_the_whole_walk_does():
    residual = _tree()[1]
    got = [(n.path, n.depth) for n in walk(residual.layers, "1.", 1)]
    assert got == [(path, depth) for path, _, depth, _, _ in EXPECTED if path.startswith("1.")]


def test_children_and_child_prefix_spell_the_path_scheme():
    tree = _tree()
    branch = tree[1].layers[1]
    assert children(tree[0], "0") == []
    assert [(c.prefix, c.branch) for c in children(tree[1], "1")] == [("1.", None)]
    groups = children(branch, "1.1")
    assert [(c.prefix, c.branch, c.layers) for c in groups] == [
        ("1.1.branches.0.", 0, branch.branches[0]),
        ("1.1.branches.1.", 1, branch.branches[1]),
    ]
    assert child_prefix("layer 3") == "layer 3." and child_prefix("3", 2) == "3.branches.2."
    assert children(LayerSpec("Sequential", layers=[]), "4") == [("4.", [], None)]


def test_walk_matches_the_built_models_rows_and_module_names():
    """The walker's paths and depths are the summary's rows, and the built model's module names."""
    project = parse_project(
        minimal_project([layer.to_dict() for layer in _tree()], input_shape=[64])
    )
    module, rows = walk_model(project.model, device=torch.device("meta"), count_flops=False)
    assert [(r.path, r.type, r.depth) for r in rows] == [
        (n.path, n.layer.type, n.depth) for n in walk(project.model.layers)
    ]
    names = dict(module.named_modules())
    assert all(n.path in names for n in walk(project.model.layers))


def test_a_json_path_is_the_one_the_reader_names_in_its_errors():
    tree = [layer.to_dict() for layer in _tree()]
    tree[1]["layers"][0]["name"] = "twice"  # the second use, in summary order, is the one named
    tree[1]["layers"][1]["branches"][0][0]["layers"][1]["name"] = "twice"
    with pytest.raises(ProjectError) as caught:
        parse_project(minimal_project(tree))
    assert caught.value.path == json_path("1.1.branches.0.0.1") + ".name"
    assert json_path("5.branches.1.0") == "model.layers[5].branches[1][0]"
    assert json_path("3", root="layer") == "layer[3]"


@pytest.mark.parametrize(
    ("path", "holder", "index"),
    [
        ("0", lambda t: t, 0),
        ("3", lambda t: t, 3),  # one past the end: where an insertion at the end goes
        ("1.0", lambda t: t[1].layers, 0),
        ("1.1.branches.0.0", lambda t: t[1].layers[1].branches[0], 0),
        ("1.1.branches.0.0.1", lambda t: t[1].layers[1].branches[0][0].layers, 1),
        ("1.1.branches.1.1", lambda t: t[1].layers[1].branches[1], 1),
    ],
)
def test_locate_finds_the_list_and_index_of_a_path(path, holder, index):
    tree = _tree()
    got, at = locate(tree, path)
    assert got is holder(tree) and at == index


@pytest.mark.parametrize(
    "path",
    [
        "4",  # past the end
        "-1",
        "5.0",  # no such layer to go into
        "0.0",  # Flatten holds nothing
        "1.1.0",  # a Branch holds branches, not layers
        "1.branches.0.0",  # a Residual holds layers, not branches
        "1.1.branches.0",  # a branch without the layer's index
        "1.1.branches.0.5",
        "1.1.branches.0.0.7",
    ],
)
def test_locate_raises_key_error_for_a_path_that_leads_nowhere(path):
    with pytest.raises(KeyError):
        locate(_tree(), path)


def test_walk_goes_as_deep_as_a_project_may_nest():
    tree = [LayerSpec("ReLU")]
    for _ in range(64):
        tree = [LayerSpec("Sequential", layers=tree)]
    nodes = list(walk(tree))
    assert [n.depth for n in nodes] == list(range(65))
    assert nodes[-1].path == ".".join(["0"] * 65) and nodes[-1].layer.type == "ReLU"


def test_importing_the_walker_loads_no_torch_and_no_qt():
    probe = "import studio.core.model.walk, sys; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert not set(out.stdout.split()) & {"torch", "PySide6", "numpy"}
