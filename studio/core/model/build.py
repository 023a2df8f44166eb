"""ModelSpec -> nn.Module, through the same walk that shape inference runs on the meta device.

The walk constructs each layer with its inferred arguments filled in from the incoming shape,
runs it on a one-sample batch and records what came out. On the meta device that costs no
memory and gives the summary; on a real device it gives the model. One walk, so the summary
and the model can never disagree.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from studio.core.catalogue import layers as catalogue
from studio.core.catalogue.params import call_args, with_defaults
from studio.core.errors import LayerError, ProjectError, first_line
from studio.core.model import blocks, walk
from studio.core.project.spec import LayerSpec, ModelSpec

_WHAT = {"channels": "channels (first dimension)", "features": "features (last dimension)"}


@dataclass
class LayerRow:
    """One row of a summary: a layer (or container) and what it gives for one sample."""

    path: str
    type: str
    depth: int
    output_shape: list[int] = field(default_factory=list)
    params: int = 0
    trainable: int = 0
    flops: int = 0
    inferred: dict[str, Any] = field(default_factory=dict)
    parts: list[dict[str, Any]] = field(default_factory=list)  # a Detector's: name, type, params


def build_model(
    model: ModelSpec, seed: int | None = None, device: str | torch.device = "cpu"
) -> nn.Sequential:
    """The real model; raises LayerError at the first layer that cannot take its input."""
    if seed is not None:
        torch.manual_seed(seed)
    module, _ = walk_model(model, device=torch.device(device), count_flops=False)
    return module


def walk_model(
    model: ModelSpec, device: torch.device, count_flops: bool
) -> tuple[nn.Sequential, list[LayerRow]]:
    """Construct and run every layer in order; returns the model and one row per layer."""
    if model.input_shape is None:
        raise ProjectError(
            "model.input_shape",
            "not set: pick a dataset, or give one sample's shape, e.g. [1, 28, 28]",
        )
    walker = _Walker(device, count_flops)
    # Two samples for a real run: batch statistics (BatchNorm without running stats) need them.
    x = sample_input(model, batch=1 if device.type == "meta" else 2, device=device)
    try:
        children, _ = walker.walk_list(model.layers, x, "", 0)
    except LayerError as exc:
        exc.rows = walker.rows
        raise
    module = nn.Sequential(*children)
    module.train()
    return module, walker.rows


def sample_input(
    model: ModelSpec, batch: int = 1, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """A batch of zeros the model accepts: token ids when the stack starts with an embedding."""
    dtype = torch.long if _first_takes_tokens(model.layers) else torch.float32
    return torch.zeros((batch, *(model.input_shape or [])), dtype=dtype, device=device)


def _first_takes_tokens(layers: list[LayerSpec]) -> bool:
    for spec in layers:
        info = catalogue.get(spec.type)
        if info is None:
            return False
        if not info.container:
            return info.takes_tokens
        lists = [group.layers for group in walk.children(spec, "")]
        # An empty Sequential or Residual passes its input on; a Branch feeds it to every branch.
        if info.container == "branches" or any(lists):
            return any(_first_takes_tokens(inner) for inner in lists)
    return False


class _Walker:
    def __init__(self, device: torch.device, count_flops: bool):
        self.device = device
        self.count_flops = count_flops
        self.flops = 0
        self.rows: list[LayerRow] = []

    def run(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Forward one layer, adding the FLOPs torch's counter sees (matmuls, convolutions)."""
        with torch.no_grad():
            if not self.count_flops:
                return module(x)
            from torch.utils.flop_counter import FlopCounterMode

            counter = FlopCounterMode(display=False)
            with counter:
                y = module(x)
            self.flops += counter.get_total_flops()
            return y

    @staticmethod
    def _probe(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The output of a shape-preserving layer without a (slow) meta forward: the input itself.

        An elementwise one still runs once on a one-element CPU tensor, so that argument values
        torch only checks in forward (CELU's alpha=0) fail here as they would in training.
        """
        if module.__class__.__name__ in catalogue.ELEMENTWISE:
            with torch.no_grad():
                module(torch.zeros([1] * x.dim()))
        return x

    def walk_list(
        self, specs: list[LayerSpec], x: torch.Tensor, prefix: str, depth: int
    ) -> tuple[list[nn.Module], torch.Tensor]:
        modules = []
        for i, spec in enumerate(specs):
            module, x = self.walk_one(spec, x, f"{prefix}{i}", depth)
            modules.append(module)
        return modules, x

    def walk_one(
        self, spec: LayerSpec, x: torch.Tensor, path: str, depth: int
    ) -> tuple[nn.Module, torch.Tensor]:
        info = catalogue.get(spec.type)
        if info is None:
            raise LayerError(path, spec.type, _shape(x), "is not in the layer catalogue")
        row = LayerRow(path=path, type=spec.type, depth=depth)
        self.rows.append(row)
        flops_before = self.flops
        if info.container:
            module, y = self._container(info, spec, x, path, depth)
        else:
            module, y = self._leaf(info, spec, x, path, row)
        row.output_shape = _shape(y)
        row.flops = int(self.flops - flops_before)
        row.params = sum(p.numel() for p in module.parameters())
        row.trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
        row.parts = module.parts() if hasattr(module, "parts") else []  # a Detector's modules
        return module, y

    def _container(
        self, info: catalogue.LayerInfo, spec: LayerSpec, x: torch.Tensor, path: str, depth: int
    ) -> tuple[nn.Module, torch.Tensor]:
        groups = walk.children(spec, path)
        if info.container == "layers":
            children, y = [], x
            for group in groups:  # its one list (none when the spec leaves `layers` out)
                inner, y = self.walk_list(group.layers, y, group.prefix, depth + 1)
                children += inner
            module = info.make({}, children)
            if spec.type == "Residual":
                if y.shape != x.shape:
                    raise LayerError(
                        path, spec.type, _shape(x), *_residual_problem(_shape(x), _shape(y))
                    )
                y = x + y
            return module, y
        branches, outs = [], []
        for group in groups:
            children, out = self.walk_list(group.layers, x, group.prefix, depth + 1)
            branches.append(nn.Sequential(*children))
            outs.append(out)
        merge = spec.merge or "concat"
        try:
            y = blocks.merge_outputs(outs, merge)
        except (ValueError, RuntimeError) as exc:
            raise LayerError(
                path,
                spec.type,
                _shape(x),
                f"cannot merge its branches: {exc}",
                "make the branches give shapes the merge accepts",
            ) from None
        return info.make({}, branches, merge=merge), y

    def _leaf(
        self, info: catalogue.LayerInfo, spec: LayerSpec, x: torch.Tensor, path: str, row: LayerRow
    ) -> tuple[nn.Module, torch.Tensor]:
        shape = _shape(x)
        _check_input(info, path, x)
        args = with_defaults(info.params, spec.args)
        _check_dims(info, path, shape, args)
        if info.category == "Pretrained Models":
            from studio.core.model.backbones import check_pretrained

            check_pretrained(info.type, path, shape, args)
        for param in info.params:
            if param.inferred in ("channels", "features", "trailing"):
                value = _infer(param.inferred, shape)
                if param.name in spec.args:
                    _check_given(
                        info, path, shape, param.name, param.inferred, spec.args[param.name], value
                    )
                else:
                    row.inferred[param.name] = value
                args[param.name] = value
        args = call_args(args)
        try:
            with self.device:
                module = info.make(args)
        except Exception as exc:  # torch rejects the arguments: the user's input, shown in place
            raise LayerError(
                path, spec.type, shape, f"cannot be built: {first_line(exc, 200)}"
            ) from None
        module.eval()
        try:
            if info.preserves_shape and self.device.type == "meta":
                return module, self._probe(module, x)
            y = self.run(module, x)
        except Exception as exc:  # torch rejects the input shape: the user's stack, shown in place
            raise LayerError(path, spec.type, shape, *_explain(exc, shape)) from None
        if not isinstance(y, torch.Tensor):
            raise LayerError(path, spec.type, shape, "does not give a single tensor")
        return module, y


def _shape(x: torch.Tensor) -> list[int]:
    return list(x.shape[1:])


def _infer(how: str, shape: list[int]) -> Any:
    if how == "channels":
        return shape[0]
    if how == "features":
        return shape[-1]
    return [shape[-1]]


def _check_input(info: catalogue.LayerInfo, path: str, x: torch.Tensor) -> None:
    shape = _shape(x)
    if info.takes_tokens and x.dtype.is_floating_point:
        raise LayerError(
            path,
            info.type,
            shape,
            "needs token ids (integers) but receives real values",
            f"put {info.type} first in the stack, on a text or sequence dataset",
        )
    if (
        not info.takes_tokens
        and not x.dtype.is_floating_point
        and info.type not in ("Flatten", "Unflatten", "Identity")
    ):
        raise LayerError(
            path,
            info.type,
            shape,
            "receives token ids but needs real values",
            "put an Embedding layer before it",
        )
    needs_dims = any(p.inferred in ("channels", "features", "trailing") for p in info.params)
    if info.ranks and len(shape) not in info.ranks:
        raise LayerError(path, info.type, shape, *_rank_problem(info, shape))
    if needs_dims and not shape:
        raise LayerError(
            path,
            info.type,
            shape,
            "needs at least one dimension per sample",
            "insert Unflatten before it",
        )


def _check_dims(
    info: catalogue.LayerInfo, path: str, shape: list[int], args: dict[str, Any]
) -> None:
    """Dimension arguments count the batch dimension, as in torch; meta kernels do not check them."""
    rank = len(shape) + 1
    for name in ("dim", "start_dim", "end_dim"):
        value = args.get(name)
        if isinstance(value, int) and not -rank <= value < rank:
            raise LayerError(
                path,
                info.type,
                shape,
                f"{name}={value} is outside the input's dimensions (batch included: {-rank} to {rank - 1})",
                f"set {name} to a value from {-rank} to {rank - 1}",
            )


def _rank_problem(info: catalogue.LayerInfo, shape: list[int]) -> tuple[str, str, dict | None]:
    """What is wrong with the input's rank, the fix in words, and the fix as an edit."""
    wanted = " or ".join(f"{r}-d" for r in info.ranks or ())
    problem = f"needs a {wanted} input per sample, got {len(shape)}-d"
    rank = len(shape)
    match = re.match(r"^(.*?)[123]d$", info.type)
    if match and 2 <= rank <= 4 and catalogue.known(f"{match[1]}{rank - 1}d"):
        other = f"{match[1]}{rank - 1}d"
        return problem, f"use {other} instead", {"kind": "retype", "type": other}
    if rank > max(info.ranks or (1,)):
        target = min(info.ranks or (1,))  # flatten as far as the layer allows: Linear gets features
        args = {"start_dim": target} if target > 1 else {}
        start = f"(start_dim={target})" if target > 1 else ""
        return problem, f"insert Flatten{start} before it", _insert("Flatten", args)
    target = max(info.ranks or (1,))
    if rank == 1 and target == 3:
        side = int(round((shape[0]) ** 0.5))
        if side * side == shape[0]:
            args = {"dim": 1, "unflattened_size": [1, side, side]}
            return (
                problem,
                f"insert Unflatten(dim=1, unflattened_size=[1, {side}, {side}]) before it",
                _insert("Unflatten", args),
            )
    if rank == target - 1:
        args = {"dim": 1, "unflattened_size": [1, *shape]}
        return (
            problem,
            f"insert Unflatten(dim=1, unflattened_size=[1, {', '.join(map(str, shape))}]) before it",
            _insert("Unflatten", args),
        )
    return problem, "insert Unflatten before it to give it that shape", None


def _insert(layer_type: str, args: dict) -> dict:
    layer = {"type": layer_type, "args": args} if args else {"type": layer_type}
    return {"kind": "insert_before", "layer": layer}


def _check_given(
    info: catalogue.LayerInfo,
    path: str,
    shape: list[int],
    name: str,
    how: str,
    given: Any,
    value: Any,
) -> None:
    if how == "trailing":
        given_list = given if isinstance(given, list) else [given]
        if given_list == shape[-len(given_list) :] and len(given_list) <= len(shape):
            return
        trailing = shape[-len(given_list) :] if len(given_list) <= len(shape) else shape
        raise LayerError(
            path,
            info.type,
            shape,
            f"{name} is {given} but the input ends with {trailing}",
            f"set {name} to {trailing}, or leave it out to infer it",
            {"kind": "unset", "arg": name},
        )
    if given != value and how == "features" and len(shape) > 1 and given == math.prod(shape):
        raise LayerError(
            path,
            info.type,
            shape,
            f"{name} is {given}, the size of the whole sample",
            "insert Flatten before it",
            _insert("Flatten", {}),
        )
    if given != value:
        raise LayerError(
            path,
            info.type,
            shape,
            f"{name} is {given} but the input has {value} {_WHAT[how]}",
            f"set {name} to {value}, or leave it out to infer it",
            {"kind": "unset", "arg": name},
        )


def _residual_problem(x: list[int], y: list[int]) -> tuple[str, str]:
    problem = f"its layers give {y} but a residual block must give back its input's shape {x}"
    if len(x) == len(y) and x[1:] == y[1:]:
        return problem, f"make its last layer output {x[0]} channels"
    return problem, "keep the block's sizes (use padding, no pooling or stride inside it)"


_KNOWN_FAILURES = (
    (re.compile(r"too small|can't be greater than actual input|larger than (the )?input", re.I),
     "the input is smaller than the kernel: use a smaller kernel_size, add padding, or pool less before it"),
    (re.compile(r"divisible|must divide", re.I),
     "choose sizes that divide evenly (channels by groups, embedding size by heads)"),
)  # fmt: skip


def _explain(exc: Exception, shape: list[int]) -> tuple[str, str | None]:
    message = first_line(exc, 200)
    for pattern, fix in _KNOWN_FAILURES:
        if pattern.search(message):
            return f"cannot take it: {message}", fix
    return f"cannot take it: {message}", None
