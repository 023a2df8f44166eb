"""Functional calls and tensor methods of the code as catalogue layers: `F.relu` -> ReLU,
`torch.flatten(x, 1)` and `x.view(x.size(0), -1)` -> Flatten, `F.max_pool2d` -> MaxPool2d,
`x.mean((2, 3))` -> AdaptiveAvgPool2d + Flatten, `out[:, -1]` -> SequenceLast; `+`, `*` and
`torch.cat` join paths (merges). The node's recorded values decide what a call does (which
dimensions a view keeps), never its spelling alone."""

from __future__ import annotations

import math
from typing import Any

from torch import fx

from studio.core.catalogue import layers as catalogue
from studio.core.imports.graph import Made, function_name, resolve
from studio.core.imports.modules import Unmapped, catalogue_args
from studio.core.project.spec import LayerSpec

# Elementwise activations: the call's name, the layer, its arguments (position after x, name).
_ACTIVATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "relu": ("ReLU", ()), "relu6": ("ReLU6", ()), "elu": ("ELU", ("alpha",)),
    "leaky_relu": ("LeakyReLU", ("negative_slope",)), "gelu": ("GELU", ("approximate",)),
    "silu": ("SiLU", ()), "sigmoid": ("Sigmoid", ()), "tanh": ("Tanh", ()),
    "hardswish": ("Hardswish", ()), "hardsigmoid": ("Hardsigmoid", ()), "mish": ("Mish", ()),
    "softplus": ("Softplus", ("beta", "threshold")), "selu": ("SELU", ()),
    "celu": ("CELU", ("alpha",)), "logsigmoid": ("LogSigmoid", ()), "softsign": ("Softsign", ()),
    "hardtanh": ("Hardtanh", ("min_val", "max_val")), "tanhshrink": ("Tanhshrink", ()),
    "softmax": ("Softmax", ("dim",)), "log_softmax": ("LogSoftmax", ("dim",)),
    "softmin": ("Softmin", ("dim",)),
}  # fmt: skip
_POOLS = {
    "max_pool": ("MaxPool", ("kernel_size", "stride", "padding", "dilation", "ceil_mode")),
    "avg_pool": ("AvgPool", ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad")),
    "adaptive_avg_pool": ("AdaptiveAvgPool", ("output_size",)),
    "adaptive_max_pool": ("AdaptiveMaxPool", ("output_size",)),
}
_DROPOUTS = {"dropout": "Dropout", "dropout1d": "Dropout1d", "dropout2d": "Dropout2d",
             "dropout3d": "Dropout3d", "alpha_dropout": "AlphaDropout"}  # fmt: skip
_NO_OP = {"clone"}
_MERGES = {"add": "add", "iadd": "add", "mul": "mul", "imul": "mul", "cat": "concat",
           "concat": "concat"}  # fmt: skip
MERGE_NAMES = frozenset(_MERGES)
_NO_LAYER = {
    "permute": "no layer reorders dimensions",
    "transpose": "no layer reorders dimensions",
    "matmul": "no layer multiplies two computed tensors",
    "bmm": "no layer multiplies two computed tensors",
}


class Call:
    """A call node's arguments, its values resolved: `call.arg(1, "dim", default)`."""

    def __init__(self, node: fx.Node, values: dict[str, Any]) -> None:
        self.node = node
        self.name = function_name(node)
        self.args = resolve(tuple(node.args), values)
        self.kwargs = resolve(dict(node.kwargs), values)
        self.shape_in = _shape(self.args[0]) if self.args else None
        self.shape_out = _shape(values.get(node.name))

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        if len(self.args) > index:
            return self.args[index]
        return self.kwargs.get(name, default)


def _shape(value: Any) -> list[int] | None:
    shape = getattr(value, "shape", None)
    return list(shape) if shape is not None else None


def merge_of(call: Call) -> str | None:
    """How a call joins paths ("add", "mul", "concat"), None when it is no merge."""
    merge = _MERGES.get(call.name)
    if merge == "concat":
        dim = call.arg(1, "dim", 0)
        rank = len(call.shape_out or [])
        if dim not in (1, 1 - rank):
            raise Unmapped(
                f"joins along dimension {dim}: a Branch joins channels/features (dimension 1)"
            )
    return merge


def call_layers(call: Call) -> list[Made] | None:
    """The layers a call is (none: it passes its input on); Unmapped when there are none.
    None for a call that is not a layer at all (a merge is read by `merge_of`)."""
    name = call.name
    if name in _NO_OP:
        return []
    if name in _ACTIVATIONS:
        layer, names = _ACTIVATIONS[name]
        args = {
            n: call.arg(i + 1, n) for i, n in enumerate(names) if call.arg(i + 1, n) is not None
        }
        return [Made(LayerSpec(layer, _clean(layer, args)))]
    for prefix, (family, names) in _POOLS.items():
        if name.startswith(prefix) and name[len(prefix) :] in ("1d", "2d", "3d"):
            args = {n: call.arg(i + 1, n) for i, n in enumerate(names)}
            layer = f"{family}{name[-2:]}"
            return [Made(LayerSpec(layer, _clean(layer, args)))]
    if name in _DROPOUTS:
        return [Made(LayerSpec(_DROPOUTS[name], _clean("Dropout", {"p": call.arg(1, "p", 0.5)})))]
    if name in ("flatten", "view", "reshape"):
        return reshape_layers(call.shape_in or [], call.shape_out or [])
    if name == "mean":
        dims = call.arg(1, "dim")
        return mean_layers(call.shape_in or [], dims, bool(call.arg(2, "keepdim", False)))
    if name == "getitem":
        return _getitem(call)
    if name == "interpolate":
        return _interpolate(call)
    if name in _NO_LAYER:
        raise Unmapped(_NO_LAYER[name])
    if name in _MERGES:
        return None
    raise Unmapped(f"{name} has no layer in the catalogue")


def _clean(layer: str, args: dict[str, Any]) -> dict[str, Any]:
    return catalogue_args(catalogue.get(layer).params, args)


def reshape_layers(before: list[int], after: list[int]) -> list[Made]:
    """A flatten / view / reshape from one shape to another (batch included): Flatten where it
    merges neighbouring dimensions, Unflatten where it splits one, else Flatten then Unflatten
    (the same values in the same order, as a reshape keeps them)."""
    if not before or not after or before[0] != after[0]:
        raise Unmapped(
            "reshapes across samples (the batch dimension changes)",
            "Flatten keeps the batch dimension",
        )
    if after == before:
        return []
    merged = _merged_run(before, after)
    if merged is not None:
        start, end = merged
        args = {"start_dim": start} if start != 1 else {}
        if end != len(before) - 1:
            args["end_dim"] = end
        return [Made(LayerSpec("Flatten", args))]
    split = _merged_run(after, before)
    if split is not None:
        start, end = split
        return [
            Made(LayerSpec("Unflatten", {"dim": start, "unflattened_size": after[start : end + 1]}))
        ]
    made = [Made(LayerSpec("Flatten"))] if len(before) > 2 else []
    if len(after) > 2:
        made.append(Made(LayerSpec("Unflatten", {"dim": 1, "unflattened_size": after[1:]})))
    return made


def _merged_run(longer: list[int], shorter: list[int]) -> tuple[int, int] | None:
    """(start, end) when `shorter` is `longer` with dimensions start..end multiplied into one."""
    extra = len(longer) - len(shorter)
    if extra < 1:
        return None
    start = next(
        (i for i, (a, b) in enumerate(zip(longer, shorter, strict=False)) if a != b),
        len(shorter) - 1,
    )
    end = start + extra
    same = longer[:start] == shorter[:start] and longer[end + 1 :] == shorter[start + 1 :]
    return (start, end) if same and math.prod(longer[start : end + 1]) == shorter[start] else None


def mean_layers(shape: list[int], dims: Any, keep: bool) -> list[Made]:
    """A mean over every spatial dimension (a global average pool) or over a sequence's time."""
    rank = len(shape)
    dims = [dims] if isinstance(dims, int) else list(dims or range(rank))
    dims = sorted(d % rank for d in dims)
    if rank == 3 and dims == [1] and not keep:
        return [Made(LayerSpec("SequenceMean"))]
    if 3 <= rank <= 5 and dims == list(range(2, rank)):
        pool = Made(LayerSpec(f"AdaptiveAvgPool{rank - 2}d", {"output_size": 1}))
        return [pool] if keep else [pool, Made(LayerSpec("Flatten"))]
    raise Unmapped(
        f"averages dimensions {dims} of a {rank}-d tensor",
        "AdaptiveAvgPool (all spatial dimensions) or SequenceMean (time)",
    )


def _getitem(call: Call) -> list[Made]:
    index = call.args[1]
    rank = len(call.shape_in or [])
    whole = slice(None, None, None)
    last = isinstance(index, tuple) and index[:2] == (whole, -1)
    if rank == 3 and last and all(i == whole for i in index[2:]):
        return [Made(LayerSpec("SequenceLast"))]
    raise Unmapped(f"indexes with {index!r}", "SequenceLast takes a sequence's last step")


def _interpolate(call: Call) -> list[Made]:
    args = {
        "size": call.arg(1, "size"),
        "scale_factor": call.arg(2, "scale_factor"),
        "mode": call.arg(3, "mode", "nearest"),
        "align_corners": call.arg(4, "align_corners"),
    }
    return [Made(LayerSpec("Upsample", _clean("Upsample", args)))]
