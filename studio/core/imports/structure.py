"""A dataflow of ops as the studio's stack: a chain is layers in order; where a tensor goes down
several paths that meet again, the paths are a Branch merged as they meet (`torch.cat` ->
concat, `+`, `*`), and `x + f(x)` is a Residual. The pieces then group by the modules of the
code they came from (`layer1`, `layer1.0`), as named Sequentials, so the stack reads like the
code. A dataflow that is not made of chains and such paths (two paths sharing a node, a second
input) is a problem named at the node, never approximated."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby

from studio.core.imports.graph import Made, Op
from studio.core.project.spec import LayerSpec


@dataclass
class Piece:
    """One entry of the stack before grouping: a layer, or a Residual/Branch of pieces."""

    made: Made | None  # a layer; None for a container
    owner: str
    op: str  # the op it came from
    kind: str = ""  # "Residual" or "Branch" for a container
    merge: str | None = None
    inner: list[list[Piece]] = field(default_factory=list)


class Dataflow:
    """The ops between an input and an output, with who uses whom."""

    def __init__(self, ops: list[Op], start: str, end: str) -> None:
        self.ops = {op.name: op for op in ops}
        self.order = {op.name: i for i, op in enumerate(ops)}
        self.sequence = [op.name for op in ops]
        self.users: dict[str, list[str]] = {op.name: [] for op in ops}
        for op in ops:
            for name in dict.fromkeys(op.inputs):
                self.users[name].append(op.name)
        self.start, self.end = start, end
        self.problems: list[tuple[Op, str]] = []  # (op, problem) of the structure itself

    def pieces(self) -> list[Piece]:
        return self.chain(self.start, self.end, self.between(self.start, self.end))

    def between(self, start: str, end: str) -> set[str]:
        """The ops on a path from start (left out) to end (kept)."""
        after, pending = set(), [start]
        while pending:
            for user in self.users[pending.pop()]:
                if user not in after:
                    after.add(user)
                    pending.append(user)
        before, pending = {end}, [end]
        while pending:
            for name in self.ops[pending.pop()].inputs:
                if name not in before and name in after:
                    before.add(name)
                    pending.append(name)
        return after & before

    def chain(self, start: str, end: str, allowed: set[str]) -> list[Piece]:
        pieces: list[Piece] = []
        current = start
        while current != end:
            users = [u for u in self.users[current] if u in allowed]
            if not users:  # what takes it is no layer (an integer cast, a mask)
                return self._fail(
                    pieces, self.ops[current], "nothing the stack holds takes its output"
                )
            op = self.ops[users[0]] if len(users) == 1 else None
            if op is not None and op.merge is None:
                if set(op.inputs) != {current}:
                    return self._fail(pieces, op, "takes tensors from two places no Branch joins")
                pieces += [Piece(made, op.owner, op.name) for made in op.made]
                current = op.name
                continue
            join = self.join(current, end, allowed)
            if join is None:
                return self._fail(pieces, self.ops[users[0]], "its paths never meet again")
            piece = self.merge(current, self.ops[join])
            if piece is None:
                return pieces
            pieces.append(piece)
            current = join
        return pieces

    def _fail(self, pieces: list[Piece], op: Op, problem: str) -> list[Piece]:
        self.problems.append((op, problem))
        return pieces

    def join(self, start: str, end: str, allowed: set[str]) -> str | None:
        """Where every path from start meets (its immediate post-dominator): going through the
        ops in order, the first one that every path still open leads into. Linear in the ops."""
        open_paths = {user: 1 for user in self.users[start] if user in allowed}
        for name in self.sequence[self.order[start] + 1 :]:
            if name not in open_paths:
                continue
            if len(open_paths) == 1:
                return name
            del open_paths[name]
            for user in self.users[name]:
                if user in allowed:
                    open_paths[user] = 1
            if name == end:
                return None
        return None

    def merge(self, start: str, join: Op) -> Piece | None:
        if join.merge is None:
            self.problems.append((join, "takes the same tensor twice, and is not a merge"))
            return None
        paths = [self.between(start, name) if name != start else set() for name in join.inputs]
        outside = [n for n, path in zip(join.inputs, paths, strict=True) if n != start and not path]
        if outside:
            self.problems.append((join, f"joins {outside[0]}, which no path from {start} leads to"))
            return None
        seen: set[str] = set()
        for path in paths:
            if path & seen:
                shared = self.ops[min(path & seen, key=self.order.__getitem__)]
                self.problems.append((shared, f"is on two of the paths {join.name} joins"))
                return None
            seen |= path
        branches = [
            self.chain(start, name, path) if path else []
            for name, path in zip(join.inputs, paths, strict=True)
        ]
        if join.merge == "add" and len(branches) == 2 and [] in branches and any(branches):
            inner = branches[0] or branches[1]
            return Piece(None, join.owner, join.name, "Residual", inner=[inner])
        return Piece(None, join.owner, join.name, "Branch", join.merge, inner=branches)


class Naming:
    """Names given so far (a name is used once) and which specs each op became (the report)."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self.of_op: dict[str, list[LayerSpec]] = {}

    def label(self, path: str) -> str | None:
        """A module's path as a layer's name, unless it is only numbers (a Sequential's indices)
        or already taken (a module called twice)."""
        if all(part.isdigit() for part in path.split(".")) or path in self.names:
            return None
        self.names.add(path)
        return path


def to_specs(pieces: list[Piece], naming: Naming, prefix: str = "") -> list[LayerSpec]:
    """The pieces as layer specs, grouped by the code's modules under `prefix` ("layer1.")."""
    specs = []
    for key, run in groupby(pieces, key=lambda p: _group(p.owner, prefix)):
        run = list(run)
        if key is None:
            specs += [_spec(p, naming) for p in run]
        elif len(run) == 1 and run[0].owner == key:
            specs.append(_spec(run[0], naming, naming.label(key)))
        else:
            layers = to_specs(run, naming, f"{key}.")
            specs.append(LayerSpec("Sequential", name=naming.label(key), layers=layers))
    return specs


def _group(owner: str, prefix: str) -> str | None:
    """The module directly under `prefix` that `owner` belongs to."""
    if not owner.startswith(prefix) or owner == prefix.rstrip("."):
        return None
    return prefix + owner[len(prefix) :].split(".")[0]


def _spec(piece: Piece, naming: Naming, name: str | None = None) -> LayerSpec:
    if piece.made is not None:
        spec = piece.made.spec
        spec.name = name
    else:
        prefix = f"{piece.owner}." if piece.owner else ""
        lists = [to_specs(inner, naming, prefix) for inner in piece.inner]
        if piece.kind == "Residual":
            spec = LayerSpec("Residual", name=name, layers=lists[0])
        else:
            spec = LayerSpec("Branch", name=name, branches=lists, merge=piece.merge)
    naming.of_op.setdefault(piece.op, []).append(spec)
    return spec


def made_of(pieces: list[Piece]) -> dict[int, Made]:
    """Every layer's Made by its spec's id (the weights to load into the built model)."""
    found: dict[int, Made] = {}
    pending = list(pieces)
    while pending:
        piece = pending.pop()
        if piece.made is not None:
            found[id(piece.made.spec)] = piece.made
        for inner in piece.inner:
            pending += inner
    return found


def nest_concats(ops: list[Op]) -> None:
    """A torch.cat of a list that extends an earlier torch.cat's list (a DenseNet block: each
    layer takes every earlier output) reads as that earlier one joined with the rest: the same
    values, concatenation being associative, on paths a Branch holds."""
    seen: dict[tuple[str, ...], str] = {}
    for op in ops:
        if op.merge != "concat":
            continue
        listed = tuple(op.inputs)
        for size in range(len(listed) - 1, 1, -1):
            earlier = seen.get(listed[:size])
            if earlier is not None:
                op.inputs = [earlier, *listed[size:]]
                break
        seen.setdefault(listed, op.name)
