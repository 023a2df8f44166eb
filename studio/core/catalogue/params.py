"""Constructor parameters of torch classes, read with inspect.signature, checked against JSON values.

A `Param` says what a form should offer (kind, default, choices, tuple arity) and checks a value
from a project file without ever evaluating it.
"""

from __future__ import annotations

import collections.abc
import inspect
import numbers
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("int", "float", "bool", "str", "names", "choice", "ints", "floats", "shape", "mapping")
SKIPPED = frozenset({"self", "device", "dtype", "_weight", "_freeze", "_random_samples", "params"})


class _Required:
    """The default of a parameter that has none: the user must give it."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Param:
    """One constructor argument: what values it takes and what it defaults to.

    kind: int, float, bool, str, names (a string or a list of them), choice (one of `choices`), ints / floats (a number or a list of
    `arity` numbers; arity None means any length), shape (a list of ints), mapping (an object of
    names to one of `choices`: a table's column types). For `ints`, `choices`
    lists the strings also accepted (Conv2d's padding "same"). `inferred` names what fills it
    in from the incoming shape: "channels" (first dimension), "features" (last dimension),
    "trailing" (the last dimension as a list) or "run" (from the training settings).
    """

    name: str
    kind: str
    default: Any = REQUIRED
    choices: tuple[str, ...] = ()
    arity: int | None = None
    nullable: bool = False
    inferred: str | None = None
    minimum: float | None = None
    maximum: float | None = None  # a value past it could not fit in memory (data sizes)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED and not self.inferred

    def expected(self) -> str:
        """What a valid value looks like, in words."""
        base = {
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "str": "a string",
            "names": "a string or a list of strings",
            "shape": "a list of integers",
        }.get(self.kind)
        if self.kind == "choice":
            base = "one of " + ", ".join(f'"{c}"' for c in self.choices)
        elif self.kind == "mapping":
            base = "an object of names to " + " or ".join(f'"{c}"' for c in self.choices)
        elif self.kind in ("ints", "floats"):
            one = "an integer" if self.kind == "ints" else "a number"
            many = "integers" if self.kind == "ints" else "numbers"
            size = f"{self.arity} " if self.arity else ""
            base = f"{one} or a list of {size}{many}"
            if self.choices:
                base += " or one of " + ", ".join(f'"{c}"' for c in self.choices)
        if self.minimum is not None and self.maximum is not None:
            base += f" (from {self.minimum:g} to {self.maximum:,.0f})"
        elif self.minimum is not None:
            base += f" (at least {self.minimum:g})"
        return base + (" or null" if self.nullable else "")

    def check(self, value: Any) -> str | None:
        """None when `value` is acceptable, else what was expected."""
        if value is None:
            return None if self.nullable or self.default is None else self.expected()
        ok = {
            "int": lambda v: is_int(v) and _within(v, self.minimum, self.maximum),
            "float": lambda v: _is_number(v) and _within(v, self.minimum, self.maximum),
            "bool": lambda v: isinstance(v, bool),
            "str": lambda v: isinstance(v, str),
            "names": lambda v: (
                isinstance(v, str)
                or (isinstance(v, list) and bool(v) and all(isinstance(x, str) for x in v))
            ),
            "choice": lambda v: v in self.choices,
            "ints": lambda v: (
                (isinstance(v, str) and v in self.choices)
                or _numbers_ok(v, is_int, self.arity, self.minimum, self.maximum)
            ),
            "floats": lambda v: _numbers_ok(v, _is_number, self.arity, self.minimum, self.maximum),
            "shape": lambda v: isinstance(v, list) and all(is_int(x) and x > 0 for x in v),
            "mapping": lambda v: isinstance(v, dict) and all(c in self.choices for c in v.values()),
        }[self.kind]
        return None if ok(value) else self.expected()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        out["default"] = None if self.default is REQUIRED else self.default
        out["required"] = self.required
        if self.choices:
            out["choices"] = list(self.choices)
        if self.arity:
            out["arity"] = self.arity
        if self.nullable:
            out["nullable"] = True
        if self.inferred:
            out["inferred"] = self.inferred
        return out


def is_int(v: Any) -> bool:
    """An int that is not a bool (JSON's true is not 1 in a project file)."""
    return isinstance(v, int) and not isinstance(v, bool)


def call_args(args: Mapping[str, Any]) -> dict[str, Any]:
    """A project's arguments as torch's signatures take them: JSON lists become tuples."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}


def show_value(value: Any) -> str:
    """A value as a short JSON snippet for an error message."""
    import json

    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(v: Any) -> bool:
    return (
        isinstance(v, numbers.Real)
        and not isinstance(v, bool)
        and v == v
        and abs(v) != float("inf")
    )


def _within(v: Any, minimum: float | None, maximum: float | None = None) -> bool:
    return (minimum is None or v >= minimum) and (maximum is None or v <= maximum)


def _numbers_ok(
    v: Any,
    is_one: Callable[[Any], bool],
    arity: int | None,
    minimum: float | None,
    maximum: float | None = None,
) -> bool:
    if is_one(v):
        return _within(v, minimum, maximum)
    if not isinstance(v, list) or not v or (arity and len(v) != arity):
        return False
    return all(is_one(x) and _within(x, minimum, maximum) for x in v)


def _json_default(value: Any) -> Any:
    """A signature default as JSON (tuples become lists); REQUIRED for what JSON cannot hold."""
    if value is inspect.Parameter.empty:
        return REQUIRED
    if isinstance(value, tuple):
        return list(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return REQUIRED


_SIMPLE = {"int": int, "float": float, "bool": bool, "str": str}


def _kind_of(annotation: Any, default: Any) -> dict[str, Any] | None:
    """Map a torch annotation (or, lacking one, the default's type) to Param fields."""
    if isinstance(annotation, str):  # an annotation torch's module could not evaluate
        fields = _kind_of(_SIMPLE.get(annotation, inspect.Parameter.empty), default)
        if fields is not None and "None" in annotation:
            fields["nullable"] = True
        return fields
    if annotation is inspect.Parameter.empty:
        return _kind_of_default(default)
    origin = typing.get_origin(annotation)
    members = (
        typing.get_args(annotation) if origin in (typing.Union, types.UnionType) else (annotation,)
    )
    nullable = type(None) in members
    members = tuple(m for m in members if m is not type(None))
    return _kind_of_members(members, nullable)


def _kind_of_default(default: Any) -> dict[str, Any] | None:
    """The kind a default's own type gives, for a parameter torch left unannotated."""
    for t, kind in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if isinstance(default, t):
            return {"kind": kind}
    return None


def _kind_of_members(members: tuple[Any, ...], nullable: bool) -> dict[str, Any] | None:
    """The kind of a union's non-None members: a Literal, a sequence, a shape, then a scalar."""
    literals = [m for m in members if typing.get_origin(m) is typing.Literal]
    if literals:
        return {
            "kind": "choice",
            "choices": tuple(typing.get_args(literals[0])),
            "nullable": nullable,
        }
    for m in members:
        if typing.get_origin(m) in (tuple, collections.abc.Sequence):
            return _sequence_kind(m, nullable)
    for m in members:
        if typing.get_origin(m) is list or getattr(m, "__name__", "") == "Size":
            return {"kind": "shape", "nullable": nullable}
    for t, kind in (
        (bool, "bool"),
        (float, "float"),
        (numbers.Number, "float"),
        (int, "int"),
        (str, "str"),
    ):
        if t in members:
            return {"kind": kind, "nullable": nullable}
    return None


def _sequence_kind(member: Any, nullable: bool) -> dict[str, Any]:
    """A tuple or Sequence annotation as floats or ints, with its arity when it is fixed."""
    args = typing.get_args(member)
    numeric = (
        "floats" if float in args or any(float in typing.get_args(a) for a in args) else "ints"
    )
    arity = None if Ellipsis in args or typing.get_origin(member) is not tuple else len(args)
    return {"kind": numeric, "arity": arity, "nullable": nullable}


def read_params(
    cls: type,
    overrides: Mapping[str, Param | dict[str, Any] | None] | None = None,
    skip: frozenset[str] = frozenset(),
) -> tuple[Param, ...]:
    """The parameters of `cls.__init__`, with `overrides` replacing or amending what torch says.

    An override is a full Param (replaces, or adds one torch hides behind *args), a dict of
    fields to change, or None to leave the parameter out (it cannot be set from a project).
    """
    overrides = dict(overrides or {})
    params: list[Param] = []
    try:
        signature = inspect.signature(cls.__init__, eval_str=True)
    except (NameError, TypeError, SyntaxError):
        signature = inspect.signature(cls.__init__)
    for p in signature.parameters.values():
        if p.name in SKIPPED or p.name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        change = overrides.pop(p.name, {})
        if change is None:
            continue
        if isinstance(change, Param):
            params.append(change)
            continue
        default = _json_default(p.default)
        fields = _kind_of(p.annotation, p.default)
        if fields is None and "kind" not in change:
            continue  # a callable or an object: not something a project file can hold
        fields = {**(fields or {}), **change}
        fields.setdefault("default", default)
        if fields["default"] is None:
            fields["nullable"] = True
        params.append(Param(name=p.name, **fields))
    for leftover in overrides.values():
        if isinstance(leftover, Param):
            params.append(leftover)
    return tuple(params)


def first_doc_line(cls: type) -> str:
    """The first sentence of a class's docstring, as torch wrote it, without reST markup."""
    paragraphs = (inspect.getdoc(cls) or "").strip().split("\n\n")
    text = next((p for p in paragraphs if p and not p.startswith("__init__(")), "")
    text = re.sub(r":\w+:`([^`<]*?)(?:<[^>]*>)?`", r"\1", text.replace("\n", " "))
    text = re.sub(r"\\text\{([^}]*)\}", r"\1", text).replace("\\", "").replace("``", "`")
    text = text.replace("torch.nn.", "")
    sentence = re.split(r"(?<=[a-z0-9)])\. ", text.strip())[0].rstrip(".")
    return (sentence + ".") if sentence else cls.__name__


def check_args(
    params: tuple[Param, ...], args: Mapping[str, Any], where: str, what: str
) -> list[tuple[str, str]]:
    """Problems with `args` as (json_path, message): unknown names, bad values, missing ones."""
    by_name = {p.name: p for p in params}
    problems: list[tuple[str, str]] = []
    for name, value in args.items():
        param = by_name.get(name)
        if param is None:
            known = ", ".join(sorted(by_name)) or "none"
            problems.append(
                (f"{where}.{name}", f"{what} has no argument '{name}' (it takes: {known})")
            )
            continue
        expected = param.check(value)
        if expected:
            problems.append((f"{where}.{name}", f"expected {expected}, got {show_value(value)}"))
    for param in params:
        if param.required and param.name not in args:
            problems.append(
                (f"{where}.{param.name}", f"{what} needs '{param.name}' ({param.expected()})")
            )
    return problems


def with_defaults(params: tuple[Param, ...], args: Mapping[str, Any]) -> dict[str, Any]:
    """`args` completed with every non-inferred default (what the layer will really be built with)."""
    full = {p.name: p.default for p in params if p.default is not REQUIRED and not p.inferred}
    full.update(args)
    return full
