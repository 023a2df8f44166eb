"""Shape inference latency: a 50-layer stack on the meta device, against a real CPU forward pass
of the same model (what a torchinfo-style summary costs). Goal: inference under 50 ms."""

from __future__ import annotations

import statistics
import time

import torch

from studio.core.model.build import build_model, sample_input
from studio.core.model.shapes import infer_shapes
from studio.core.project.reading import parse_project


def fifty_layers() -> dict:
    layers = [{"type": "Conv2d", "args": {"out_channels": 16, "kernel_size": 3, "padding": 1}}]
    for _ in range(8):
        layers += [
            {"type": "Conv2d", "args": {"out_channels": 16, "kernel_size": 3, "padding": 1}},
            {"type": "BatchNorm2d"},
            {"type": "ReLU"},
            {
                "type": "Residual",
                "layers": [
                    {
                        "type": "Conv2d",
                        "args": {"out_channels": 16, "kernel_size": 3, "padding": 1},
                    },
                    {"type": "ReLU"},
                ],
            },
        ]
    layers += [{"type": "AdaptiveAvgPool2d", "args": {"output_size": 1}}, {"type": "Flatten"}]
    layers += [{"type": "Linear", "args": {"out_features": 32}}, {"type": "ReLU"}] * 4
    layers += [{"type": "Linear", "args": {"out_features": 10}}]
    return {
        "studio": 1,
        "data": {"source": "cifar10"},
        "model": {"input_shape": [3, 32, 32], "layers": layers},
    }


def median_ms(fn, repeat: int = 31) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    model = parse_project(fifty_layers()).model
    report = infer_shapes(model).raise_error()
    built = build_model(model).eval()
    x = sample_input(model)

    def real_forward():
        with torch.no_grad():
            built(x)

    meta = median_ms(lambda: infer_shapes(model))
    real = median_ms(lambda: (build_model(model), real_forward()))
    print(f"layers in the stack: {len(report.rows)}")
    print(f"shape inference (meta device): {meta:.1f} ms  (goal: under 50 ms)")
    print(f"build + real CPU forward:      {real:.1f} ms")
    print(f"ratio meta / real: {meta / real:.2f}")


if __name__ == "__main__":
    main()
