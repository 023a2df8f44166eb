"""Shape inference on the meta device: per layer the output shape, parameters and FLOPs.

Runs in milliseconds and allocates nothing, so the GUI can re-run it on every edit. The result
keeps the rows up to the first failing layer and that layer's LayerError, so a view can show
both what works and where it stops.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from studio.core.errors import LayerError
from studio.core.model.build import LayerRow, walk_model
from studio.core.project.spec import ModelSpec


@dataclass
class ShapeReport:
    input_shape: list[int]
    rows: list[LayerRow] = field(default_factory=list)
    error: LayerError | None = None

    @property
    def top_rows(self) -> list[LayerRow]:
        return [row for row in self.rows if row.depth == 0]

    @property
    def total_params(self) -> int:
        return sum(row.params for row in self.top_rows)

    @property
    def trainable_params(self) -> int:
        return sum(row.trainable for row in self.top_rows)

    @property
    def total_flops(self) -> int:
        return sum(row.flops for row in self.top_rows)

    @property
    def output_shape(self) -> list[int]:
        top = self.top_rows
        return top[-1].output_shape if top and self.error is None else list(self.input_shape)

    def training_memory(self, batch_size: int) -> int:
        """Bytes one training step needs, roughly: fp32 weights, gradients and two optimizer
        moments (Adam's), plus each top-level layer's output for a batch."""
        activations = sum(math.prod(row.output_shape) for row in self.top_rows)
        return self.total_params * 4 * 4 + batch_size * 4 * activations

    def raise_error(self) -> ShapeReport:
        """Self when every layer took its input; else the first failure as LayerError."""
        if self.error is not None:
            raise self.error
        return self

    def to_json(self) -> dict[str, Any]:
        """The `studio summary --json` object (docs/cli.md); shapes are per sample."""
        layers = []
        for index, row in enumerate(self.rows):
            entry = asdict(row)
            if not entry["parts"]:  # a Detector's own modules; other rows have none
                del entry["parts"]
            layers.append(
                {
                    "index": index,
                    "path": entry.pop("path"),
                    "type": entry.pop("type"),
                    "output_shape": entry.pop("output_shape"),
                    "params": entry.pop("params"),
                    "flops": entry.pop("flops"),
                    **entry,
                }
            )
        return {
            "input_shape": list(self.input_shape),
            "layers": layers,
            "output_shape": self.output_shape,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_flops": self.total_flops,
        }


def infer_shapes(model: ModelSpec) -> ShapeReport:
    """Run the stack on the meta device; a layer that cannot take its input ends the report."""
    report = ShapeReport(input_shape=list(model.input_shape or []))
    try:
        _, report.rows = walk_model(model, device=torch.device("meta"), count_flops=True)
    except LayerError as exc:
        report.error = exc
        report.rows = exc.rows
    return report
