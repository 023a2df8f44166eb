"""A module of the code as catalogue layers: its class says which, its attributes give the
arguments (what torch's constructors keep), its state dict the weights.

The arguments the studio infers from the incoming shape are left out, so the stack stays
editable; the arguments equal to the catalogue's defaults too, so it reads like a stack made by
hand. What is read here is checked by running the imported model against the source.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from studio.core.catalogue import layers as catalogue
from studio.core.catalogue.params import REQUIRED, Param
from studio.core.imports.graph import Made
from studio.core.model import blocks
from studio.core.project.spec import LayerSpec

# The studio's blocks as an exported script copies them: recognised by their source, exactly.
_BLOCK_SOURCES = (
    "RNN", "LSTM", "GRU", "TransformerEncoder", "SequenceLast", "SequenceMean", "StochasticDepth",
)  # fmt: skip


class Unmapped(Exception):
    """A module (or call) with no catalogue equivalent: why, and the nearest thing there is."""

    def __init__(self, problem: str, nearest: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.nearest = nearest


def catalogue_type(module: nn.Module) -> str | None:
    """The catalogue layer a module is: its class exactly (torch.nn's or the studio's), or a
    studio block an exported script defines (the same source)."""
    cls = type(module)
    name = cls.__name__
    if catalogue.known(name):
        if catalogue.layer_class(name) is cls:
            return name
        if name in _BLOCK_SOURCES and same_source(cls, getattr(blocks, name)):
            return name
    if cls in (nn.RNN, nn.LSTM, nn.GRU):
        return name  # torch's own: its (output, hidden) tuple is unpacked by the code
    if cls is nn.TransformerEncoder:
        return name  # the studio's is torch's, set up from its layers' arguments
    if name == "StochasticDepth" and cls.__module__.startswith("torchvision."):
        return name  # the studio's is torchvision's, written out
    return None


def same_source(cls: type, studio_cls: type) -> bool:
    try:
        return inspect.getsource(cls) == inspect.getsource(studio_cls)
    except (OSError, TypeError):
        return False


def module_layers(module: nn.Module, kind: str) -> list[Made]:
    """The catalogue layers for a module whose catalogue type is `kind`."""
    if kind == "TransformerEncoder":
        return _transformer_encoder(module)
    if kind == "TransformerEncoderLayer":
        return [Made(LayerSpec(kind, _transformer_layer_args(module)), module.state_dict())]
    info = catalogue.get(kind)
    return [Made(LayerSpec(kind, read_args(info.params, module)), dict(module.state_dict()))]


def read_args(params: tuple[Param, ...], module: nn.Module) -> dict[str, Any]:
    """The module's constructor arguments as the catalogue names them, defaults left out."""
    given = {p.name: getattr(module, p.name) for p in params if hasattr(module, p.name)}
    return catalogue_args(params, given)


def catalogue_args(params: tuple[Param, ...], given: dict[str, Any]) -> dict[str, Any]:
    """Arguments as a project file writes them: what the studio infers from the incoming shape
    and what equals the catalogue's default left out (a pool's stride equal to its kernel too)."""
    args = {}
    for param in params:
        if param.inferred or param.name not in given:
            continue
        value = plain_value(given[param.name], param)
        if param.default is REQUIRED or value != plain_value(param.default, param):
            args[param.name] = value
    stride = next((p for p in params if p.name == "stride"), None)
    if (
        stride is not None
        and stride.default is None
        and args.get("stride") == args.get("kernel_size")
    ):
        args.pop("stride", None)  # a pool's stride defaults to its kernel size
    return args


def plain_value(value: Any, param: Param) -> Any:
    """A value as a project file writes it: tensors as whether they exist (bias), tuples as
    lists, a tuple of one repeated number as that number (kernel_size=3)."""
    if isinstance(value, torch.Tensor) or (value is None and param.name == "bias"):
        return value is not None
    if isinstance(value, (tuple, list)):
        items = [plain_value(v, param) for v in value]
        repeated = bool(items) and all(v == items[0] for v in items)
        single = param.arity is not None or not isinstance(param.default, (list, tuple))
        if param.kind in ("ints", "floats") and repeated and single:
            return items[0]
        return items
    return value


def _transformer_layer_args(layer: nn.TransformerEncoderLayer) -> dict[str, Any]:
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", type(activation).__name__).lower()
    if name not in ("relu", "gelu"):
        raise Unmapped(f"its activation is {name}: the studio's takes relu or gelu")
    given = {
        "nhead": layer.self_attn.num_heads,
        "dim_feedforward": layer.linear1.out_features,
        "dropout": layer.dropout.p,
        "activation": name,
        "layer_norm_eps": layer.norm1.eps,
        "batch_first": layer.self_attn.batch_first,
        "norm_first": layer.norm_first,
        "bias": layer.linear1.bias is not None,
    }
    params = catalogue.get("TransformerEncoderLayer").params
    defaults = {p.name: p.default for p in params}
    return {k: v for k, v in given.items() if k in defaults and defaults[k] != v}


def _transformer_encoder(encoder: nn.TransformerEncoder) -> list[Made]:
    first = encoder.layers[0]
    layer_args = _transformer_layer_args(first)
    shapes = [(k, v.shape) for k, v in first.state_dict().items()]
    for n, layer in enumerate(encoder.layers):
        other = _transformer_layer_args(layer)
        if other != layer_args or [(k, v.shape) for k, v in layer.state_dict().items()] != shapes:
            raise Unmapped(
                f"its layers differ (layer {n}: {other} where layer 0 has {layer_args}): the "
                "studio's TransformerEncoder repeats one layer",
                "one TransformerEncoderLayer a layer",
            )
    args = {"num_layers": len(encoder.layers), **layer_args}
    if args["num_layers"] == 2:
        del args["num_layers"]
    state = {k: v for k, v in encoder.state_dict().items() if k.startswith("layers.")}
    made = [Made(LayerSpec("TransformerEncoder", args), state)]
    if encoder.norm is not None:  # a final norm: the layer after it
        if type(encoder.norm) is not nn.LayerNorm:
            raise Unmapped(f"its final norm is {type(encoder.norm).__name__}, not LayerNorm")
        made += module_layers(encoder.norm, "LayerNorm")
    return made
