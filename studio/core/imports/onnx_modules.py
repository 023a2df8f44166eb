"""The modules onnx2torch makes for ONNX operators that torch.nn has no class for, as catalogue
layers or merges; torch.nn's own (Conv2d, Linear, ReLU...) are read as any module is."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from studio.core.imports.functions import mean_layers, reshape_layers
from studio.core.imports.graph import Made
from studio.core.imports.modules import Unmapped
from studio.core.project.spec import LayerSpec


def onnx_merge(module: nn.Module, shape_out: list[int]) -> str | None:
    """How an ONNX Add / Mul / Concat joins its inputs; None when it is no merge."""
    kind = type(module).__name__
    if kind == "OnnxBinaryMathOperation":
        found = {torch.add: "add", torch.mul: "mul"}.get(module.math_op_function)
        if found is None:
            raise Unmapped(f"{module.math_op_function.__name__} of two tensors has no merge")
        return found
    if kind == "OnnxConcat":
        if module.axis not in (1, 1 - len(shape_out)):
            raise Unmapped(f"joins along axis {module.axis}: a Branch joins axis 1")
        return "concat"
    return None


def onnx_layers(module: nn.Module, shape_in: list[int], value: Any) -> list[Made]:
    """The layers of one onnx2torch module (shapes with the batch), Unmapped if none fit."""
    kind = type(module).__name__
    shape_out = list(value.shape)
    if kind in ("OnnxReshape", "OnnxFlatten"):
        return reshape_layers(shape_in, shape_out)
    if kind == "OnnxReduceStaticAxes" and module.operation_type == "ReduceMean":
        return mean_layers(shape_in, module.axes, module.keepdims)
    if kind.startswith("OnnxGlobalAveragePool"):
        rank = len(shape_in)
        return [Made(LayerSpec(f"AdaptiveAvgPool{rank - 2}d", {"output_size": 1}))]
    raise Unmapped(f"the ONNX operator behind {kind} has no layer in the catalogue")
