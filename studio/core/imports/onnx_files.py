"""ONNX files and torch.export programs as torch modules, through onnx2torch (a kept converter):
a newer opset converted down to the 17 it reads, the few spellings it refuses that change
nothing rewritten, and what the graph says of its input (shape, a fixed batch, token ids)."""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from studio.core.errors import ImportFailed


@dataclass
class Graph:
    module: nn.Module
    shape: list[int] | None  # one sample's, where the graph says
    batch: int | None  # where the graph fixes the batch size
    vocabulary: int | None  # token ids: the rows of the table its input indexes


def read_onnx(path: Path) -> Graph:
    """An ONNX file as onnx2torch's module."""
    try:
        import onnx
    except ImportError:
        raise ImportFailed(
            f"{path}: importing ONNX needs onnx (pip install 'torch-studio[export]')"
        ) from None

    try:
        proto = onnx.load(str(path))
    except Exception as exc:
        raise ImportFailed(f"{path}: not an ONNX model ({type(exc).__name__})") from None
    return _from_onnx(proto, path)


def _from_onnx(proto: Any, path: Path) -> Graph:
    """onnx2torch's module for an ONNX graph (newer opsets converted down to what it reads)."""
    try:
        import onnx2torch
        from onnx import numpy_helper, version_converter
    except ImportError:
        raise ImportFailed(
            f"{path}: importing ONNX needs onnx and onnx2torch (pip install 'torch-studio[export]')"
        ) from None

    shapes = {n.input[1] for n in proto.graph.node if n.op_type == "Reshape"}
    constants = {
        i.name: numpy_helper.to_array(i) for i in proto.graph.initializer if i.name in shapes
    }
    for node in proto.graph.node:  # allowzero changes nothing for a shape without zeros
        if (
            node.op_type == "Reshape"
            and node.input[1] in constants
            and constants[node.input[1]].all()
        ):
            for attribute in [a for a in node.attribute if a.name == "allowzero"]:
                node.attribute.remove(attribute)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 17)
    try:
        if opset > 17:
            proto = _converted_down(proto, version_converter, path)
        module = onnx2torch.convert(proto)
    except ImportFailed:
        raise
    except Exception as exc:  # an operator onnx2torch cannot read
        operator = re.search(r"operation_type='(\w+)', version=(\d+)", str(exc))
        if operator:
            raise ImportFailed(
                f"{path}: not imported: the ONNX operator {operator[1]} (opset {operator[2]}) has "
                "no converter to torch (onnx2torch) and so no layer"
            ) from None
        raise ImportFailed(f"{path}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    return Graph(module, *_onnx_input_shape(proto), _token_rows(proto))


def _converted_down(proto: Any, version_converter: Any, path: Path) -> Any:
    """The graph at opset 17, which onnx2torch reads. The converter copies the model through
    bytes twice: the large weights stand aside (as external data) meanwhile, untouched."""
    from onnx import TensorProto

    kept = {}
    for tensor in proto.graph.initializer:
        if len(tensor.raw_data) > 4096:
            kept[tensor.name] = tensor.raw_data
            tensor.ClearField("raw_data")
            tensor.data_location = TensorProto.EXTERNAL
            entry = tensor.external_data.add()
            entry.key, entry.value = "location", "set-aside"
    try:
        converted = version_converter.convert_version(proto, 17)
    except Exception as exc:  # an operator with no earlier version (LayerNormalization: 17)
        found = re.search(r"No Previous Version of (\w+)", str(exc))
        what = f" (its {found[1]} has no earlier version)" if found else ""
        raise ImportFailed(
            f"{path}: not imported: the ONNX graph cannot be converted down to opset 17, which "
            f"onnx2torch reads{what}"
        ) from None
    for tensor in converted.graph.initializer:
        if tensor.name in kept:
            tensor.raw_data = kept[tensor.name]
            tensor.data_location = TensorProto.DEFAULT
            del tensor.external_data[:]
    return converted


def _onnx_input_shape(proto: Any) -> tuple[list[int] | None, int | None]:
    """One sample's shape, and the batch size where the graph fixes one."""
    constants = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in constants]
    if len(inputs) != 1:
        return None, None
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    shape = dims[1:]
    batch = dims[0] if dims and dims[0] > 0 else None
    return (shape if shape and all(n > 0 for n in shape) else None), batch


def read_pt2(path: Path) -> Graph:
    """A torch.export program, read safely (file_kinds), through its ONNX translation."""
    from studio.core.use.export.file_kinds import check_pt2

    check_pt2(path)
    try:
        program = torch.export.load(str(path))
        with contextlib.redirect_stdout(io.StringIO()):  # its progress lines: not the studio's
            onnx_program = torch.onnx.export(program, dynamo=True, verbose=False)
    except Exception as exc:
        raise ImportFailed(f"{path}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    return _from_onnx(onnx_program.model_proto, path)


def _token_rows(proto: Any) -> int | None:
    """An integer input that indexes a table of weights (an embedding: Gather): the table's rows."""
    from onnx import TensorProto

    constants = {i.name: list(i.dims) for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in constants]
    integers = (TensorProto.INT64, TensorProto.INT32)
    if len(inputs) != 1 or inputs[0].type.tensor_type.elem_type not in integers:
        return None
    name = inputs[0].name
    for node in proto.graph.node:
        if node.op_type == "Gather" and node.input[1] == name and node.input[0] in constants:
            return constants[node.input[0]][0]
    return 2
