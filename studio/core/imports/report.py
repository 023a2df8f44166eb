"""What an import did, node by node: what each node of the source became in the stack, its
shape, what has no equivalent (with its place in the code and the nearest thing the studio has),
and the check against the source. As text for the terminal and the window, as JSON for --json."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from studio.core.imports.convert import Conversion
from studio.core.imports.verify import TOLERANCE, Check
from studio.core.model.walk import walk

_SHOWN_PROBLEMS = 20


@dataclass
class Row:
    node: str
    source: str
    became: list[str]  # the JSON paths of the layers it became; empty: passes its input on
    shape: list[int] | None
    merge: str | None = None
    where: str | None = None
    problem: str | None = None
    nearest: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"node": self.node, "source": self.source, "became": self.became, "shape": self.shape}
        for key in ("merge", "where", "problem", "nearest"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class Report:
    source: str
    kind: str
    input_shape: list[int] | None
    rows: list[Row] = field(default_factory=list)
    layers: int = 0  # in the stack, containers included
    check: Check | None = None  # against the source; None: not run

    @classmethod
    def of(cls, found: Any, conversion: Conversion) -> Report:
        paths = {id(node.layer): node.json_path for node in walk(conversion.layers)}
        rows = []
        for op in conversion.ops:
            specs = conversion.of_op.get(op.name, [])
            rows.append(
                Row(op.name, op.source, [paths[id(s)] for s in specs if id(s) in paths], op.shape,
                    op.merge, op.where, op.problem, op.nearest)
            )  # fmt: skip
        return cls(found.label, found.kind, found.input_shape, rows, len(paths))

    @property
    def difference(self) -> float | None:
        """The max abs difference against the source in evaluation mode (None: not compared)."""
        return self.check.difference if self.check else None

    @property
    def problems(self) -> list[Row]:
        return [row for row in self.rows if row.problem]

    def failure(self) -> str:
        """The import's failure in one line."""
        if self.problems:
            first = self.problems[0]
            where = f" ({first.where})" if first.where else ""
            more = f"; and {len(self.problems) - 1} more" if len(self.problems) > 1 else ""
            return f"{self.source}: not imported: {first.source} [{first.node}]{where} {first.problem}{more}"
        problem = self.check.problem if self.check else "it was not checked"
        return f"{self.source}: not imported: {problem} (at most {TOLERANCE:g} is an import)"

    def lines(self) -> list[str]:
        """The report as a person reads it."""
        out = [f"{self.source} ({self.kind}), input {self.input_shape}:"]
        for row in self.rows:
            became = ", ".join(row.became) or ("joins paths" if row.merge else "")
            if row.problem:
                became = f"NO EQUIVALENT: {row.problem}" + (
                    f" (nearest: {row.nearest})" if row.nearest else ""
                )
            elif not became:
                became = "passes its input on" if row.source != "the input" else "the stack's input"
            where = f"  [{row.where}]" if row.where and row.problem else ""
            shape = f" -> {row.shape}" if row.shape is not None else ""
            out.append(f"  {row.node:<24} {row.source:<34}{shape}  {became}{where}")
        check = self.check
        if check is not None and check.difference is not None:
            training = (
                f", while training {check.training:.3g}"
                if check.training is not None
                else " (training mode not compared: a detector trains on boxes)"
                if check.problem is None
                else ""
            )
            out.append(
                f"checked against the source on a random batch of {check.batch}: max abs "
                f"difference {check.difference:.3g}{training}"
            )
        if check is not None and check.problem:
            out.append(f"not imported: {check.problem}")
        return out

    def to_json(self) -> dict[str, Any]:
        check = self.check
        return {
            "source": self.source,
            "kind": self.kind,
            "input_shape": self.input_shape,
            "layers": self.layers,
            "nodes": [row.to_json() for row in self.rows],
            "problems": [row.to_json() for row in self.problems],
            "max_abs_difference": check.difference if check else None,
            "training_max_abs_difference": check.training if check else None,
            "checked_batch": check.batch if check else None,
            "check_problem": check.problem if check else None,
            "tolerance": TOLERANCE,
        }
