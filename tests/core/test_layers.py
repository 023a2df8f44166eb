"""The layer catalogue: every entry builds, runs and reports its parameters as torch defines them."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from studio.core.catalogue import components, layers
from studio.core.model.build import build_model, sample_input
from studio.core.model.shapes import infer_shapes
from studio.core.project.reading import parse_project
from tests.conftest import minimal_project

# Arguments and a per-sample input for the entries that need more than their defaults.
SAMPLES: dict[str, tuple[dict, list[int]]] = {
    "Unfold": ({"kernel_size": 2}, [2, 6, 6]),
    "LPPool1d": ({"norm_type": 2.0, "kernel_size": 2}, [2, 6]),
    "LPPool2d": ({"norm_type": 2.0, "kernel_size": 2}, [2, 6, 6]),
    "LPPool3d": ({"norm_type": 2.0, "kernel_size": 2}, [2, 6, 6, 6]),
    "FractionalMaxPool2d": ({"kernel_size": 2, "output_size": 3}, [2, 6, 6]),
    "Threshold": ({"threshold": 0.1, "value": 0.0}, [6]),
    "GroupNorm": ({"num_groups": 2}, [4, 6]),
    "LocalResponseNorm": ({"size": 2}, [4, 6, 6]),
    "RNN": ({"hidden_size": 5}, [7, 3]),
    "LSTM": ({"hidden_size": 5, "proj_size": 2}, [7, 3]),
    "GRU": ({"hidden_size": 5, "bidirectional": True}, [7, 3]),
    "TransformerEncoderLayer": ({"nhead": 2, "dim_feedforward": 16}, [5, 8]),
    "TransformerEncoder": ({"nhead": 2, "dim_feedforward": 16, "num_layers": 3}, [5, 8]),
    "Embedding": ({"num_embeddings": 20, "embedding_dim": 4}, [7]),
    "EmbeddingBag": ({"num_embeddings": 20, "embedding_dim": 4}, [7]),
    "PixelShuffle": ({"upscale_factor": 2}, [8, 3, 3]),
    "PixelUnshuffle": ({"downscale_factor": 2}, [2, 4, 4]),
    "Upsample": ({"scale_factor": 2.0}, [2, 3, 3]),
    "ChannelShuffle": ({"groups": 2}, [4, 3, 3]),
    "Unflatten": ({"dim": 1, "unflattened_size": [2, 3]}, [6]),
    "Softmax2d": ({}, [3, 4, 4]),
    "GLU": ({}, [6]),
    "Linear": ({"out_features": 3}, [6]),
    "LazyLinear": ({"out_features": 3}, [6]),
    "Branch": ({}, [6]),
    "Backbone": ({"name": "mobilenet_v3_small", "weights": None}, [3, 32, 32]),
    "Segmenter": (
        {"name": "lraspp_mobilenet_v3_large", "num_classes": 3, "weights": None},
        [3, 32, 32],
    ),
    "Detector": (
        {
            "name": "fasterrcnn_mobilenet_v3_large_320_fpn",
            "num_classes": 2,
            "weights_backbone": None,
        },
        [3, 64, 64],
    ),
}


def _sample(info: layers.LayerInfo) -> tuple[dict, list[int]]:
    if info.type in SAMPLES:
        return SAMPLES[info.type]
    args = {}
    for p in info.params:
        if p.required:
            args[p.name] = {"kernel_size": 2, "padding": 1, "value": 0.5, "output_size": 2}.get(
                p.name, 3
            )
    rank = max(info.ranks or (2,))
    return args, [4, 6, 6, 6][:rank]


def _layer_json(info: layers.LayerInfo, args: dict) -> dict:
    if info.container == "layers":
        return {"type": info.type, "layers": [{"type": "Tanh"}]}
    if info.container == "branches":
        return {"type": info.type, "branches": [[{"type": "Tanh"}], [{"type": "ReLU"}]]}
    return {"type": info.type, "args": args}


@pytest.mark.parametrize("name", list(layers.catalogue()))
def test_every_layer_builds_and_matches_its_inferred_shape(name):
    info = layers.catalogue()[name]
    args, shape = _sample(info)
    project = parse_project(minimal_project([_layer_json(info, args)], shape))
    report = infer_shapes(project.model).raise_error()
    model = build_model(project.model, seed=0).eval()
    with torch.no_grad():
        out = model(sample_input(project.model, batch=2) + 1)
    assert list(out.shape[1:]) == report.output_shape
    assert sum(p.numel() for p in model.parameters()) == report.total_params
    assert info.doc and info.doc.endswith(".")


EXPECTED_CATEGORIES = {
    "Conv2d": "Convolution Layers",
    "FractionalMaxPool2d": "Pooling Layers",
    "CircularPad3d": "Padding Layers",
    "GLU": "Non-linear Activations (weighted sum, nonlinearity)",
    "Softmax2d": "Non-linear Activations (other)",
    "RMSNorm": "Normalization Layers",
    "SequenceMean": "Recurrent Layers",
    "TransformerEncoder": "Transformer Layers",
    "Identity": "Linear Layers",
    "FeatureAlphaDropout": "Dropout Layers",
    "EmbeddingBag": "Sparse Layers",
    "Upsample": "Vision Layers",
    "ChannelShuffle": "Shuffle Layers",
    "Unflatten": "Utilities",
    "LazyBatchNorm3d": "Lazy Modules",
    "Branch": "Containers",
    "Backbone": "Pretrained Models",
    "Segmenter": "Pretrained Models",
    "Detector": "Pretrained Models",
}


def test_layers_sit_in_the_torch_reference_categories():
    entries = layers.catalogue()
    assert len(entries) >= 110
    for name, category in EXPECTED_CATEGORIES.items():
        assert entries[name].category == category


def test_layers_needing_two_inputs_are_not_offered():
    for name in (
        "Bilinear",
        "MultiheadAttention",
        "Transformer",
        "TransformerDecoderLayer",
        "CosineSimilarity",
        "PairwiseDistance",
        "MaxUnpool2d",
    ):
        assert layers.get(name) is None


def test_parameters_come_from_torch_signatures():
    conv = layers.get("Conv2d")
    kernel = conv.param("kernel_size")
    assert kernel.kind == "ints" and kernel.arity == 2 and kernel.required
    assert conv.param("in_channels").inferred == "channels"
    assert conv.param("padding").choices == ("same", "valid")
    assert conv.param("padding_mode").choices == ("zeros", "reflect", "replicate", "circular")
    assert layers.get("ReflectionPad2d").param("padding").arity == 4
    assert layers.get("Dropout").param("p").default == 0.5
    assert (
        layers.get("LSTM").param("batch_first").default is True
    )  # the studio's stacks are batch-first
    assert layers.get("Linear").param("in_features").inferred == "features"
    assert layers.get("LayerNorm").param("normalized_shape").inferred == "trailing"
    assert layers.get("MaxPool2d").param("return_indices") is None  # a tuple output cannot stack


def test_param_checks_reject_wrong_values():
    kernel = layers.get("Conv2d").param("kernel_size")
    assert kernel.check(3) is None and kernel.check([3, 5]) is None
    assert kernel.check([3, 3, 3]) and kernel.check("3") and kernel.check(0) and kernel.check(True)
    assert layers.get("Conv2d").param("padding").check("same") is None
    assert layers.get("Dropout").param("p").check(float("inf"))


def test_training_components_list_losses_optimizers_and_schedulers():
    assert set(components.LOSSES) >= {"CrossEntropyLoss", "MSELoss", "HuberLoss", "KLDivLoss"}
    adam = components.optimizers()["Adam"]
    assert [p.name for p in adam.params][:2] == ["lr", "betas"]
    assert adam.factory is torch.optim.Adam
    one_cycle = components.schedulers()["OneCycleLR"]
    assert one_cycle.params[0].name == "max_lr"
    assert {p.name for p in one_cycle.params if p.inferred == "run"} == {
        "total_steps",
        "epochs",
        "steps_per_epoch",
    }
    assert components.losses()["CrossEntropyLoss"].factory is nn.CrossEntropyLoss


def test_stochastic_depth_is_torchvisions():
    """The studio's StochasticDepth (written out, torch alone) draws and scales as torchvision's."""
    from torchvision.ops import StochasticDepth as Torchvisions

    x = torch.randn(8, 3, 4, 4)
    for mode in ("row", "batch"):
        ours, theirs = layers.layer_class("StochasticDepth")(0.3, mode), Torchvisions(0.3, mode)
        torch.manual_seed(5)
        dropped = ours.train()(x)
        torch.manual_seed(5)
        assert torch.equal(dropped, theirs.train()(x)) and not torch.equal(dropped, x)
        assert torch.equal(ours.eval()(x), x)
