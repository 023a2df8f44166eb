"""A model as a dataflow of tensors: torch.fx's graph of it, run once on a sample so that every
node's value (a tensor's shape, a `size()`'s number) is known, turned into `Op`s the rest of the
import reads: what each node became, what it took, which module of the code it came from and
where in the code it is."""

from __future__ import annotations

import inspect
import operator
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import fx, nn

from studio.core.project.spec import LayerSpec

# torch.nn classes that are one layer each, though fx would trace through them: their
# constructor arguments say what they are.
_LEAVES = (nn.RNNBase, nn.TransformerEncoder, nn.TransformerEncoderLayer)
TORCH_DIR = str(Path(torch.__file__).parent) + os.sep  # (torchvision's lies beside it)


@dataclass
class Made:
    """One catalogue layer an op became, and the weights it carries (its state-dict keys)."""

    spec: LayerSpec
    state: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class Op:
    """A node of the graph that gives a tensor, and what it becomes in the stack."""

    name: str
    source: str  # what the code does there, in words: "conv1 (Conv2d)", "F.relu", "x.view"
    inputs: list[str] = field(default_factory=list)  # the ops whose tensors it takes, in order
    made: list[Made] = field(default_factory=list)  # none: it passes its input on
    merge: str | None = None  # "add", "mul", "concat": it joins the paths of its inputs
    owner: str = ""  # the module of the code it belongs to: "layer1.0"
    where: str | None = None  # file:line in the code, where the code is Python
    shape: list[int] | None = None  # one sample's output
    problem: str | None = None  # what has no equivalent in the studio
    nearest: str | None = None  # the studio's nearest expression of it, if any


class Tracer(fx.Tracer):
    """torch.fx's tracer, keeping recurrent and transformer layers whole, and the modules
    `whole(m)` says are one layer (the studio's blocks as an exported script defines them), and
    recording where in the code each node was made."""

    def __init__(self, whole: Callable[[nn.Module], bool]) -> None:
        super().__init__()
        self.record_stack_traces = True
        self.whole = whole

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, _LEAVES) or self.whole(m):
            return True
        return super().is_leaf_module(m, module_qualified_name)


def trace(module: nn.Module, whole: Callable[[nn.Module], bool]) -> fx.GraphModule:
    """The module's graph (fx), without the nodes nothing uses (`out, _ = lstm(x)`'s `_`);
    forward's optional arguments keep their defaults."""
    if isinstance(module, fx.GraphModule) and not _has_stack(module):
        graph_module = module  # already a graph (an ONNX file's): trace nothing again
    else:
        tracer = Tracer(whole)
        graph = tracer.trace(module, concrete_args=optional_arguments(module) or None)
        graph_module = fx.GraphModule(tracer.root, graph)
    graph_module.graph.eliminate_dead_code()
    graph_module.recompile()
    return graph_module


def forward_inputs(module: nn.Module) -> list[str]:
    """The arguments forward needs (those without a default)."""
    return [p.name for p in _forward_parameters(module) if p.default is inspect.Parameter.empty]


def optional_arguments(module: nn.Module) -> dict[str, Any]:
    """forward's arguments with a default, after the first: traced with that default."""
    return {
        p.name: p.default
        for p in _forward_parameters(module)[1:]
        if p.default is not inspect.Parameter.empty
    }


def _forward_parameters(module: nn.Module) -> list[inspect.Parameter]:
    try:
        parameters = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p for p in parameters if p.kind in kinds]


def _has_stack(module: fx.GraphModule) -> bool:
    return any(node.meta.get("nn_module_stack") for node in module.graph.nodes)


class _Recorder(fx.Interpreter):
    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module)
        self.values: dict[str, Any] = {}

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        self.values[n.name] = result
        return result


def run_values(graph_module: fx.GraphModule, sample: torch.Tensor) -> dict[str, Any]:
    """Every node's value for `sample` (in eval mode, without gradients)."""
    recorder = _Recorder(graph_module)
    with torch.no_grad():
        recorder.run(sample)
    return recorder.values


def is_tensor(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.is_floating_point()


def gives_tensors(value: Any) -> bool:
    """A float tensor, or a recurrent layer's (output, hidden) tuple."""
    if isinstance(value, tuple):
        return bool(value) and all(gives_tensors(v) for v in value)
    return is_tensor(value)


def owner_of(node: fx.Node) -> str:
    """The module of the code a node belongs to: a module call's own path, else the innermost
    module whose forward made it ("" at the top)."""
    if node.op == "call_module":
        return str(node.target)
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    return path if isinstance(path, str) else ""


def where_of(node: fx.Node) -> str | None:
    """file:line of the code that made the node: the innermost frame outside torch."""
    trace_text = node.meta.get("stack_trace") or ""
    found = None
    for line in trace_text.splitlines():
        line = line.strip()
        if line.startswith('File "') and TORCH_DIR not in line:
            file, _, rest = line[6:].partition('", line ')
            found = f"{file}:{rest.split(',')[0]}"
    return found


def resolve(value: Any, values: dict[str, Any]) -> Any:
    """A node argument with its nodes replaced by their values (numbers, shapes, tensors)."""
    if isinstance(value, fx.Node):
        return values.get(value.name)
    if isinstance(value, (list, tuple)):
        items = [resolve(v, values) for v in value]
        return type(value)(items) if isinstance(value, tuple) else items
    if isinstance(value, slice):
        return slice(*(resolve(v, values) for v in (value.start, value.stop, value.step)))
    return value


def tensor_args(node: fx.Node, known: dict[str, str]) -> list[fx.Node]:
    """The nodes among `known` (those giving tensors) a node takes, in argument order, repeats
    kept (`x + x`)."""
    found: list[fx.Node] = []

    def visit(arg: fx.Node) -> fx.Node:
        if arg.name in known:
            found.append(arg)
        return arg

    fx.node.map_arg((node.args, node.kwargs), visit)
    return found


def function_name(node: fx.Node) -> str:
    """The name a call_function / call_method node's target goes by: "relu", "add", "view"."""
    if node.op == "call_method":
        return str(node.target)
    if node.target is operator.getitem:
        return "getitem"
    name = getattr(node.target, "__name__", str(node.target))
    return name.strip("_")
