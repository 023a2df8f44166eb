"""The layer stack as a tree: the one place that knows how containers nest and paths name layers.

A summary path names a layer by its indices: "3", "3.1" (a Sequential's or Residual's layer),
"5.branches.1.0" (the first layer of a Branch's branch 1); it is also the built model's module
name. Its JSON path names the same layer in the project file: `model.layers[5].branches[1][0]`.
What a layer holds comes from the spec's own fields (`layers`, `branches`), which the reader sets
exactly for the catalogue's containers, so walking needs neither the catalogue nor torch.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from studio.core.project.spec import LayerSpec

JSON_ROOT = "model.layers"


class Children(NamedTuple):
    """One list of a container's children: the path prefix its layers' paths start with."""

    prefix: str
    layers: list[LayerSpec]
    branch: int | None  # which branch of a Branch; None for a Sequential's or Residual's layers


@dataclass(frozen=True)
class Node:
    """One layer met by `walk`: where it is in the tree and what holds it."""

    layer: LayerSpec
    path: str
    depth: int  # the containers around it
    index: int  # its place in its list
    parent: str | None  # the container's path; None at the top of the walk
    branch: int | None  # which of the parent's branches holds it; None outside a Branch

    @property
    def container(self) -> bool:
        """Whether it holds layers (its children follow it in the walk)."""
        return self.layer.layers is not None or self.layer.branches is not None

    @property
    def json_path(self) -> str:
        """Its path in the project file, as errors name it: model.layers[3].layers[1]."""
        return json_path(self.path)


def child_prefix(path: str, branch: int | None = None) -> str:
    """Where a container's children's paths start: "3." (its layers), "3.branches.1." (a branch)."""
    return f"{path}." if branch is None else f"{path}.branches.{branch}."


def children(layer: LayerSpec, path: str) -> list[Children]:
    """The child lists of the layer at `path`, in order (none for a layer that holds none)."""
    out = []
    if layer.layers is not None:
        out.append(Children(child_prefix(path), layer.layers, None))
    for b, branch in enumerate(layer.branches or []):
        out.append(Children(child_prefix(path, b), branch, b))
    return out


def walk(layers: list[LayerSpec], prefix: str = "", depth: int = 0) -> Iterator[Node]:
    """Every layer in pre-order (a container, then all inside it), in the summary's order."""
    # A stack of list iterators rather than recursion: one step per layer however deep the nesting.
    stack = [(iter(enumerate(layers)), prefix, depth, None, None)]
    while stack:
        items, start, level, parent, branch = stack[-1]
        item = next(items, None)
        if item is None:
            stack.pop()
            continue
        i, layer = item
        node = Node(layer, f"{start}{i}", level, i, parent, branch)
        yield node
        for group in reversed(children(layer, node.path)):
            stack.append(
                (iter(enumerate(group.layers)), group.prefix, level + 1, node.path, group.branch)
            )


def json_path(path: str, root: str = JSON_ROOT) -> str:
    """A layer's path in the project file: "5.branches.1.0" -> model.layers[5].branches[1][0]."""
    tokens = path.split(".")
    out = f"{root}[{tokens.pop(0)}]"
    while tokens:
        if tokens[0] == "branches" and len(tokens) >= 3:
            out += f".branches[{tokens[1]}][{tokens[2]}]"
            tokens = tokens[3:]
        else:
            out += f".layers[{tokens.pop(0)}]"
    return out


def locate(layers: list[LayerSpec], path: str) -> tuple[list[LayerSpec], int]:
    """The list holding the layer at a summary path ("3", "3.1", "5.branches.1.0") and its index.

    The index may be the list's length (where an insertion there would go). Raises KeyError for a
    path that leads nowhere.
    """
    tokens = path.split(".")
    current, index = layers, int(tokens.pop(0))
    while tokens:
        if not 0 <= index < len(current):
            raise KeyError(path)
        layer = current[index]
        if tokens[0] == "branches":
            if layer.branches is None or len(tokens) < 3:
                raise KeyError(path)
            current, index = layer.branches[int(tokens[1])], int(tokens[2])
            tokens = tokens[3:]
        else:
            if layer.layers is None:
                raise KeyError(path)
            current, index = layer.layers, int(tokens.pop(0))
    if not 0 <= index <= len(current):
        raise KeyError(path)
    return current, index
