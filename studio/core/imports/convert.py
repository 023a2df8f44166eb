"""A traced model's graph as the studio's layers: each node mapped (modules.py, functions.py,
onnx_modules.py), then the dataflow laid out as a stack (structure.py)."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from studio.core.imports import graph
from studio.core.imports.functions import MERGE_NAMES, Call, call_layers, merge_of
from studio.core.imports.graph import Made, Op
from studio.core.imports.modules import Unmapped, catalogue_type, module_layers, same_source
from studio.core.imports.onnx_modules import onnx_layers, onnx_merge
from studio.core.imports.pretrained import pretrained_kind, pretrained_layers
from studio.core.imports.sources import ImportFailed, code_line, error_line
from studio.core.imports.structure import Dataflow, Naming, made_of, nest_concats, to_specs
from studio.core.model import blocks
from studio.core.project.spec import LayerSpec

_TUPLE_RECURRENT = (nn.RNN, nn.LSTM, nn.GRU)
_CASTS = {"long", "int", "float", "to", "type", "contiguous"}


@dataclass
class Conversion:
    """What a graph became: the layers, each layer's weights, and every op for the report."""

    layers: list[LayerSpec]
    made: dict[int, Made]  # by id() of a leaf LayerSpec in `layers`
    ops: list[Op]
    problems: list[Op] = field(default_factory=list)  # ops with no equivalent, in order
    of_op: dict[str, list[LayerSpec]] = field(default_factory=dict)  # what each op became


def convert(module: nn.Module, sample: torch.Tensor, label: str = "the model") -> Conversion:
    """The layers `module` is, read from its graph run on `sample`."""
    try:
        graph_module = graph.trace(module, one_layer)
        values = graph.run_values(graph_module, sample)
    except Exception as exc:  # torch.fx cannot follow the code (control flow on values)
        raise ImportFailed(
            f"{label}: cannot be traced{code_line(exc)}: {error_line(exc)}"
        ) from None
    reader = _Reader(graph_module, values)
    for node in graph_module.graph.nodes:
        reader.read(node)
    ops = reader.ops
    nest_concats(ops)
    problems = [op for op in ops if op.problem]
    if reader.start is None or reader.end is None:
        return Conversion([], {}, ops, problems)
    flow = Dataflow(ops, reader.start, reader.end)
    pieces = flow.pieces()
    for op, problem in flow.problems:
        if not op.problem:
            op.problem = problem
            problems.append(op)
    made = {**reader.inner_made, **made_of(pieces)}
    naming = Naming()
    layers = to_specs(pieces, naming)
    return Conversion(layers, made, ops, problems, naming.of_op)


def one_layer(module: nn.Module) -> bool:
    """A module that stands for one layer however it computes: the studio's blocks and pretrained
    layers as an exported script defines them (the same source), torchvision's StochasticDepth."""
    name = type(module).__name__
    if name == "Branch":
        return same_source(type(module), blocks.Branch)
    if name == "StochasticDepth":
        return catalogue_type(module) == name
    return pretrained_kind(module) is not None


class _Reader:
    """Reads nodes in order into ops; `names` maps every node whose tensor an op gives to that
    op (itself, or what it passes on: a recurrent layer's `[0]`, a cast of the token ids)."""

    def __init__(self, graph_module: fx.GraphModule, values: dict[str, Any]) -> None:
        self.module = graph_module
        self.values = values
        self.ops: list[Op] = []
        self.names: dict[str, str] = {}  # node -> the op its tensor is
        self.start: str | None = None
        self.end: str | None = None
        self.called: dict[int, str] = {}  # a module with weights -> the first node calling it
        self.owners: dict[int, str] = {}  # a parameter -> the first module holding it
        self.tuples: set[str] = set()  # recurrent layers whose (output, hidden) the code unpacks
        self.inner_made: dict[int, Made] = {}  # the layers inside Branches

    def read(self, node: fx.Node) -> None:
        value = self.values.get(node.name)
        if node.op == "placeholder":
            self._input(node)
        elif node.op == "output":
            self._output(node)
        elif node.op == "get_attr":
            if graph.is_tensor(value):
                self._add(
                    node,
                    "a tensor of the model's",
                    problem=f"uses {node.target} directly: no layer holds it",
                )
        elif self._cast(node):
            self.names[node.name] = self.names[node.args[0].name]
        elif graph.gives_tensors(value):  # integer tensors (an ONNX graph's shapes): not data
            self._call(node)

    def _cast(self, node: fx.Node) -> bool:
        """`x.long()` of the token ids, `x.float()` of floats: the same values, passed on."""
        if node.op != "call_method" or node.target not in _CASTS or not node.args:
            return False
        given = node.args[0]
        if not isinstance(given, fx.Node) or given.name not in self.names:
            return False
        before, after = self.values.get(given.name), self.values.get(node.name)
        same = isinstance(after, torch.Tensor) and after.dtype == getattr(before, "dtype", None)
        return same or self.names[given.name] == self.start

    def _add(self, node: fx.Node, source: str, **fields) -> Op:
        inputs = [self.names[n.name] for n in graph.tensor_args(node, self.names)]
        value = self.values.get(node.name)
        shape = list(value.shape[1:]) if isinstance(value, torch.Tensor) else None
        op = Op(
            node.name,
            source,
            inputs,
            owner=graph.owner_of(node),
            where=graph.where_of(node),
            shape=shape,
            **fields,
        )
        self.ops.append(op)
        self.names[node.name] = node.name
        return op

    def _input(self, node: fx.Node) -> None:
        if self.start is not None and not any(
            graph.gives_tensors(self.values.get(user.name)) for user in node.users
        ):
            return  # an optional argument of forward, traced at its default (and checked so)
        if self.start is None:
            self.start = node.name
            self._add(node, "the input")
        else:
            self._add(node, "an input", problem="is a second input: a stack takes one")

    def _output(self, node: fx.Node) -> None:
        result = node.args[0]
        if isinstance(result, fx.Node) and result.name in self.names:
            self.end = self.names[result.name]
            return
        self._add(node, "the output", problem="returns several values: a stack gives one tensor")

    def _call(self, node: fx.Node) -> None:
        source = _describe(node, self.module)
        try:
            self._check_tensors(node)
            if node.op == "call_module":
                self._module(node, source)
            else:
                self._function(node, source)
        except Unmapped as exc:
            self._add(node, source, problem=exc.problem, nearest=exc.nearest)

    def _check_tensors(self, node: fx.Node) -> None:
        """Every tensor a call takes is a layer's output: not a constant, a mask of integers,
        or a tensor made from nothing; and one of them, but for the merges."""
        taken: list[str] = []
        fx.node.map_arg((node.args, node.kwargs), lambda n: taken.append(n.name) or n)
        tensors = [n for n in taken if isinstance(self.values.get(n), (torch.Tensor, tuple))]
        if _onnx_module(node, self.module):  # an ONNX Reshape's shape: not data
            tensors = [n for n in tensors if n in self.names]
        foreign = [n for n in tensors if n not in self.names]
        if foreign:
            raise Unmapped(f"takes {foreign[0]}, which no layer computes (a constant, or integers)")
        merging = node.op != "call_module" and graph.function_name(node) in MERGE_NAMES
        joins = _onnx_module(node, self.module) in ("OnnxBinaryMathOperation", "OnnxConcat")
        if len(tensors) > 1 and not merging and not joins:
            raise Unmapped(f"takes {len(tensors)} tensors: a layer takes one")
        if merging and graph.function_name(node) not in ("cat", "concat") and len(tensors) < 2:
            raise Unmapped(
                "joins a tensor with a number: no layer adds or multiplies by a constant"
            )

    def _check_own_weights(self, module: nn.Module, node: fx.Node) -> None:
        """A module with weights (or statistics) is called once, and owns them alone."""
        if any(True for _ in module.parameters()) or any(True for _ in module.buffers()):
            first = self.called.setdefault(id(module), node.name)
            if first != node.name:
                raise Unmapped(
                    f"calls {node.target} a second time: the studio's layers do not share weights"
                )
        for parameter in module.parameters():
            owner = self.owners.setdefault(id(parameter), str(node.target))
            if owner != str(node.target):
                raise Unmapped(
                    f"shares a weight with {owner} (tied weights): the studio's layers do not "
                    "share weights"
                )

    def _function(self, node: fx.Node, source: str) -> None:
        if node.target is operator.getitem and node.args[0].name in self.tuples:
            if node.args[1] != 0:
                raise Unmapped(
                    "uses a recurrent layer's hidden state: the studio's passes on its output "
                    "sequence",
                    "SequenceLast after it: the last step of the output",
                )
            self.names[node.name] = self.names[node.args[0].name]
            return
        call = Call(node, self.values)
        merge = merge_of(call)
        if merge == "concat" and len(graph.tensor_args(node, self.names)) == 1:
            merge = None  # torch.cat of one tensor: that tensor
        made = [] if merge else call_layers(call) or []  # none: it passes its input on
        self._add(node, source, made=made, merge=merge)

    def _module(self, node: fx.Node, source: str) -> None:
        module = self.module.get_submodule(str(node.target))
        self._check_own_weights(module, node)
        shape_in = _input_shape(node, self.values)
        if type(module).__name__.startswith("Onnx"):
            merge = onnx_merge(module, list(self.values[node.name].shape))
            made = [] if merge else onnx_layers(module, shape_in, self.values[node.name])
            self._add(node, source, made=made, merge=merge)
            return
        if type(module).__name__ == "Branch" and same_source(type(module), blocks.Branch):
            self._add(node, source, made=[self._branch(module, node)])
            return
        kind = pretrained_kind(module)
        if kind is not None:
            self._add(node, source, made=pretrained_layers(module, kind))
            return
        kind = catalogue_type(module)
        if kind is None:
            raise Unmapped(f"{type(module).__name__} is not in the layer catalogue")
        if type(module) in _TUPLE_RECURRENT:
            self.tuples.add(node.name)
        self._add(node, source, made=module_layers(module, kind))

    def _branch(self, module: nn.Module, node: fx.Node) -> Made:
        """A studio Branch (an exported script's): each branch converted on the same input."""
        sample = self.values[node.args[0].name]
        lists = []
        for branch in module.branches:
            inner = convert(branch, sample)
            if inner.problems:
                raise Unmapped(
                    f"a branch holds {inner.problems[0].source}: {inner.problems[0].problem}"
                )
            self.inner_made.update(inner.made)
            lists.append(inner.layers)
        return Made(LayerSpec("Branch", branches=lists, merge=module.merge))


def _input_shape(node: fx.Node, values: dict[str, Any]) -> list[int]:
    first = node.args[0] if node.args else None
    value = values.get(first.name) if isinstance(first, fx.Node) else None
    return list(value.shape) if isinstance(value, torch.Tensor) else []


def _describe(node: fx.Node, module: fx.GraphModule) -> str:
    """The node as the code says it: "layer1.0.conv1 (Conv2d)", "F.relu", "x.view"."""
    if node.op == "call_module":
        return f"{node.target} ({type(module.get_submodule(str(node.target))).__name__})"
    name = graph.function_name(node)
    if node.op == "call_method":
        return f"x.{name}()"
    if name in ("add", "iadd", "mul", "imul", "getitem"):
        return {"add": "+", "iadd": "+=", "mul": "*", "imul": "*=", "getitem": "x[...]"}[name]
    owner = getattr(node.target, "__module__", "") or ""
    short = {"torch.nn.functional": "F", "torch._C._nn": "F", "torch": "torch"}.get(
        owner, owner or "torch"
    )
    return f"{short}.{name}()"


def _onnx_module(node: fx.Node, module: fx.GraphModule) -> str | None:
    """The class name of the onnx2torch module a node calls (None for anything else)."""
    if node.op != "call_module":
        return None
    kind = type(module.get_submodule(str(node.target))).__name__
    return kind if kind.startswith("Onnx") else None
