"""The layer catalogue: every layer a stack can hold, grouped as the torch.nn reference groups them.

This is the one list of layers. The palette, the parameter form, project validation, shape
inference, model building and code export all read it; nothing else names layer classes.
Parameters come from `inspect.signature`; `_OVERRIDES` corrects the few places where torch's
annotations are vague or where the studio's stacks need another default (batch-first sequences).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from torch import nn

from studio.core.catalogue.params import Param, first_doc_line, read_params
from studio.core.model import blocks, detectors, segmenters

CATEGORIES: dict[str, tuple[str, ...]] = {
    "Convolution Layers": (
        "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
        "Unfold",
    ),
    "Pooling Layers": (
        "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
        "LPPool1d", "LPPool2d", "LPPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
        "AdaptiveMaxPool3d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
        "FractionalMaxPool2d",
    ),
    "Padding Layers": tuple(
        f"{kind}Pad{d}d"
        for kind in ("Reflection", "Replication", "Zero", "Constant", "Circular")
        for d in (1, 2, 3)
    ),
    "Non-linear Activations (weighted sum, nonlinearity)": (
        "ReLU", "ReLU6", "LeakyReLU", "PReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU",
        "Mish", "Sigmoid", "Tanh", "Hardtanh", "Hardsigmoid", "Hardswish", "Hardshrink",
        "Softshrink", "Softplus", "Softsign", "Tanhshrink", "LogSigmoid", "Threshold", "GLU",
    ),
    "Non-linear Activations (other)": ("Softmax", "Softmin", "Softmax2d", "LogSoftmax"),
    "Normalization Layers": (
        "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "InstanceNorm1d", "InstanceNorm2d",
        "InstanceNorm3d", "LayerNorm", "GroupNorm", "RMSNorm", "LocalResponseNorm",
    ),
    "Recurrent Layers": ("RNN", "LSTM", "GRU", "SequenceLast", "SequenceMean"),
    "Transformer Layers": ("TransformerEncoderLayer", "TransformerEncoder"),
    "Linear Layers": ("Identity", "Linear"),
    "Dropout Layers": (
        "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
        "StochasticDepth",
    ),
    "Sparse Layers": ("Embedding", "EmbeddingBag"),
    "Vision Layers": ("PixelShuffle", "PixelUnshuffle", "Upsample"),
    "Shuffle Layers": ("ChannelShuffle",),
    "Utilities": ("Flatten", "Unflatten"),
    "Lazy Modules": (
        "LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d",
        "LazyConvTranspose2d", "LazyConvTranspose3d", "LazyBatchNorm1d", "LazyBatchNorm2d",
        "LazyBatchNorm3d",
    ),
    "Containers": ("Sequential", "Residual", "Branch"),
    "Pretrained Models": ("Backbone", "Segmenter", "Detector"),
}  # fmt: skip

CONTAINERS = {"Sequential": "layers", "Residual": "layers", "Branch": "branches"}

# Layers whose class is the studio's own (blocks.py) rather than torch.nn's.
_STUDIO_CLASSES: dict[str, type] = {
    "RNN": blocks.RNN,
    "LSTM": blocks.LSTM,
    "GRU": blocks.GRU,
    "TransformerEncoder": blocks.TransformerEncoder,
    "StochasticDepth": blocks.StochasticDepth,
    "SequenceLast": blocks.SequenceLast,
    "SequenceMean": blocks.SequenceMean,
    "Residual": blocks.Residual,
    "Branch": blocks.Branch,
    "Backbone": blocks.Backbone,
    "Segmenter": segmenters.Segmenter,
    "Detector": detectors.Detector,
}

# Arguments that restate the incoming shape: how each is read from it.
_INFERRED = {
    "in_features": "features",
    "in_channels": "channels",
    "num_features": "channels",
    "num_channels": "channels",
    "input_size": "features",
    "d_model": "features",
    "embed_dim": "features",
    "normalized_shape": "trailing",
}

# Sizes and counts that must be positive.
_POSITIVE = {
    "out_features", "out_channels", "kernel_size", "stride", "groups", "hidden_size",
    "num_layers", "num_embeddings", "embedding_dim", "nhead", "dim_feedforward", "num_groups",
    "size", "upscale_factor", "downscale_factor", "output_size", "num_parameters", "dilation",
}  # fmt: skip
_NON_NEGATIVE = {"padding", "output_padding"}


def _recurrent_params(with_nonlinearity: bool, with_proj: bool) -> tuple[Param, ...]:
    nonlinearity = Param("nonlinearity", "choice", "tanh", choices=("tanh", "relu"))
    return (
        Param("input_size", "int", inferred="features", minimum=1),
        Param("hidden_size", "int", minimum=1),
        Param("num_layers", "int", 1, minimum=1),
        *((nonlinearity,) if with_nonlinearity else ()),
        Param("bias", "bool", True),
        Param("batch_first", "bool", True),
        Param("dropout", "float", 0.0, minimum=0),
        Param("bidirectional", "bool", False),
        *((Param("proj_size", "int", 0, minimum=0),) if with_proj else ()),
    )


_TRANSFORMER_LAYER: dict[str, Any] = {
    "activation": Param("activation", "choice", "relu", choices=("relu", "gelu")),
    "batch_first": {"default": True},
}
_UPSAMPLE_MODES = ("nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact")

# torch hides the recurrent layers' parameters behind *args; the studio lists them itself.
_DECLARED: dict[str, tuple[Param, ...]] = {
    "RNN": _recurrent_params(with_nonlinearity=True, with_proj=False),
    "LSTM": _recurrent_params(with_nonlinearity=False, with_proj=True),
    "GRU": _recurrent_params(with_nonlinearity=False, with_proj=False),
}

_OVERRIDES: dict[str, dict[str, Any]] = {
    "GELU": {"approximate": {"kind": "choice", "choices": ("none", "tanh")}},
    "TransformerEncoderLayer": _TRANSFORMER_LAYER,
    "Softmax": {"dim": {"default": 1, "nullable": False}},
    "Softmin": {"dim": {"default": 1, "nullable": False}},
    "LogSoftmax": {"dim": {"default": 1, "nullable": False}},
    "Upsample": {"mode": {"kind": "choice", "choices": _UPSAMPLE_MODES}},
    "EmbeddingBag": {"mode": {"kind": "choice", "choices": ("sum", "mean", "max")}},
    "StochasticDepth": {"mode": {"kind": "choice", "choices": ("row", "batch")}},
    "LayerNorm": {"normalized_shape": {"kind": "ints", "arity": None}},
    "RMSNorm": {"normalized_shape": {"kind": "ints", "arity": None}},
    "Hardtanh": {"min_value": None, "max_value": None},
    "Unflatten": {"unflattened_size": {"kind": "shape"}},
    "AdaptiveAvgPool1d": {"output_size": {"kind": "ints", "nullable": False}},
    "AdaptiveMaxPool1d": {"output_size": {"kind": "ints", "nullable": False}},
}

# Per-sample input ranks (batch dimension excluded) where a layer needs a particular one.
_RANKS: dict[str, tuple[int, ...]] = {
    # torch's Linear takes any rank (it maps the last dimension); on an image-shaped sample that is
    # nearly always a missing Flatten, so the studio takes features or a sequence of them.
    "Linear": (1, 2),
    "LazyLinear": (1, 2),
    "BatchNorm1d": (1, 2),
    "LazyBatchNorm1d": (1, 2),
    "Unfold": (3,),
    "Softmax2d": (3,),
    "PixelShuffle": (3,),
    "PixelUnshuffle": (3,),
    "ChannelShuffle": (2, 3, 4),
    "LocalResponseNorm": (2, 3, 4),
    "Upsample": (2, 3, 4),
    "RNN": (2,),
    "LSTM": (2,),
    "GRU": (2,),
    "TransformerEncoderLayer": (2,),
    "TransformerEncoder": (2,),
    "SequenceLast": (2,),
    "SequenceMean": (2,),
    "EmbeddingBag": (1,),
    "Backbone": (3,),
    "Segmenter": (3,),
    "Detector": (3,),
}
_SPATIAL = re.compile(r"^(?P<family>.*?)(?P<d>[123])d$")
_TOKEN_LAYERS = {"Embedding", "EmbeddingBag"}

# Output shape is the input shape whatever it is (once rank and inferred sizes are checked), and
# torch counts no FLOPs in them: shape inference need not run them.
ELEMENTWISE = frozenset(
    {"Identity", *CATEGORIES["Non-linear Activations (weighted sum, nonlinearity)"]}
    - {"GLU", "PReLU"}
)
_SHAPE_PRESERVING = {
    *ELEMENTWISE, "Dropout", "AlphaDropout", "FeatureAlphaDropout", "Dropout1d", "Dropout2d",
    "Dropout3d", "StochasticDepth",
}  # fmt: skip


@dataclass(frozen=True)
class LayerInfo:
    """One catalogue entry: what the palette shows and what the form, checks and builder use."""

    type: str
    category: str
    doc: str
    params: tuple[Param, ...]
    ranks: tuple[int, ...] | None = None
    takes_tokens: bool = False
    preserves_shape: bool = False
    container: str | None = None

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def make(
        self, args: dict[str, Any], children: list[nn.Module] | None = None, merge: str = "concat"
    ) -> nn.Module:
        """Construct the module with every argument already resolved."""
        cls = layer_class(self.type)
        if self.container == "branches":
            return cls(children or [], merge=merge)
        if self.container == "layers":
            return cls(*(children or []))
        return cls(**args)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "category": self.category,
            "doc": self.doc,
            "params": [p.to_json() for p in self.params],
        }
        if self.container:
            out["container"] = self.container
        return out


def layer_class(name: str) -> Callable[..., nn.Module]:
    """The class behind a catalogue name; only catalogue names resolve."""
    if name not in _names():
        raise KeyError(name)
    return _STUDIO_CLASSES.get(name) or getattr(nn, name)


@cache
def _names() -> dict[str, str]:
    return {name: category for category, names in CATEGORIES.items() for name in names}


def _ranks_for(name: str) -> tuple[int, ...] | None:
    if name in _RANKS:
        return _RANKS[name]
    match = _SPATIAL.match(name)
    return (int(match["d"]) + 1,) if match else None


def _entry(name: str, category: str) -> LayerInfo:
    cls = layer_class(name)
    container = CONTAINERS.get(name)
    if container:
        params: tuple[Param, ...] = ()
        if name == "Branch":
            params = (Param("merge", "choice", "concat", choices=blocks.MERGES),)
        return LayerInfo(name, category, first_doc_line(cls), params, container=container)
    overrides: dict[str, Any] = {
        "return_indices": None,
        "inplace": None,
        **{n: {"inferred": how} for n, how in _INFERRED.items()},
        **{n: {"minimum": 1} for n in _POSITIVE},
        **{n: {"minimum": 0} for n in _NON_NEGATIVE},
    }
    if name.startswith("Conv") and "Transpose" not in name:
        overrides["padding"] = {"choices": ("same", "valid")}
    for param_name, change in _OVERRIDES.get(name, {}).items():
        base = overrides.get(param_name)
        overrides[param_name] = (
            {**base, **change} if isinstance(base, dict) and isinstance(change, dict) else change
        )
    if name in ("Backbone", "Segmenter", "Detector"):
        params = _pretrained_params(name)
    elif name in _DECLARED:
        params = _DECLARED[name]
    elif name == "TransformerEncoder":
        layer = _entry("TransformerEncoderLayer", category)
        params = (*layer.params, Param("num_layers", "int", 2, minimum=1))
    else:
        params = read_params(cls, overrides)
    params = _with_spatial_arity(name, params)
    doc_source = getattr(nn, name, cls)
    return LayerInfo(
        name,
        category,
        first_doc_line(doc_source),
        params,
        ranks=_ranks_for(name),
        takes_tokens=name in _TOKEN_LAYERS,
        preserves_shape=name in _SHAPE_PRESERVING,
    )


def _pretrained_params(name: str) -> tuple[Param, ...]:
    """A pretrained layer's arguments: its torchvision model's name, and what else it takes."""
    if name == "Backbone":
        from studio.core.model import backbones

        return (
            Param("name", "choice", "resnet18", choices=backbones.names()),
            Param("weights", "str", "DEFAULT", nullable=True),
            Param("frozen", "bool", True),
        )
    if name == "Segmenter":
        return (
            Param("name", "choice", "lraspp_mobilenet_v3_large", choices=segmenters.names()),
            Param("num_classes", "int", 21, minimum=1, maximum=254),
            Param("weights", "str", "DEFAULT", nullable=True),
            Param("frozen_backbone", "bool", False),
        )
    return (
        Param("name", "choice", "fasterrcnn_mobilenet_v3_large_fpn", choices=detectors.names()),
        Param("num_classes", "int", 2, minimum=1, maximum=10000),
        Param("weights", "str", None, nullable=True),
        Param("weights_backbone", "str", "DEFAULT", nullable=True),
        Param("trainable_backbone_layers", "int", None, nullable=True, minimum=0, maximum=6),
        Param("frozen_backbone", "bool", False),
        Param("detections", "int", 100, minimum=1, maximum=1000),
    )


def _with_spatial_arity(name: str, params: tuple[Param, ...]) -> tuple[Param, ...]:
    """torch types MaxPool2d's kernel_size as tuple[int, ...]; a 2-d layer takes pairs."""
    match = _SPATIAL.match(name)
    if not match:
        return params
    d = int(match["d"])
    return tuple(
        replace(p, arity=d) if p.kind in ("ints", "floats") and p.arity is None else p
        for p in params
    )


@cache
def catalogue() -> dict[str, LayerInfo]:
    """Every layer by its type name, in palette order."""
    return {name: _entry(name, category) for name, category in _names().items()}


@cache
def get(name: str) -> LayerInfo | None:
    """One layer's entry, made alone: reading a project builds only the entries it uses (the
    Backbone's lists torchvision's models, and importing torchvision takes seconds)."""
    return _entry(name, _names()[name]) if name in _names() else None


def known(name: str) -> bool:
    """Whether a type name is in the catalogue; cheap, needs no signature reading."""
    return name in _names()


def by_category() -> Iterator[tuple[str, list[LayerInfo]]]:
    entries = catalogue()
    for category, names in CATEGORIES.items():
        yield category, [entries[n] for n in names]
