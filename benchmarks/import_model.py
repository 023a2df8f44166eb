"""Importing resnet50 with `studio import`, whole processes: from its code (torchvision's, through a
factory function) and from an ONNX file, against the floor of the same machine in the same run:
a process that imports torch and torchvision and builds resnet50 (what any importer must do).

Goal: each import under 10 s. Run: `.venv/bin/python benchmarks/import_model.py [--runs 3]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FACTORY = """
import torchvision


def model(name="resnet50"):
    return torchvision.models.get_model(name, weights=None)
"""
FLOOR = "import torch, torchvision; torchvision.models.resnet50(weights=None).eval()"
EXPORT = """
import sys, torch, torchvision
model = torchvision.models.resnet50(weights=None).eval()
x = torch.randn(1, 3, 224, 224)
torch.onnx.export(model, (x,), sys.argv[1], dynamo=True, dynamic_shapes=({0: "batch"},))
"""


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        (here / "factory.py").write_text(FACTORY)
        onnx_file = here / "resnet50.onnx"
        subprocess.run(
            [sys.executable, "-c", EXPORT, str(onnx_file)], check=True, capture_output=True
        )
        studio = [sys.executable, "-m", "studio", "import"]
        code = [*studio, f"{here / 'factory.py'}:model", "--input-shape", "3", "224", "224"]
        times: dict[str, list[float]] = {"floor": [], "code": [], "onnx": []}
        for n in range(runs):  # in turn, so the machine's load falls on all three alike
            times["floor"].append(timed([sys.executable, "-c", FLOOR]))
            times["code"].append(timed([*code, "-o", str(here / f"code{n}.json")]))
            times["onnx"].append(
                timed([*studio, str(onnx_file), "-o", str(here / f"onnx{n}.json")])
            )
    floor = statistics.median(times["floor"])
    print(f"floor (import torch + torchvision, build resnet50): {floor:.2f} s")
    for kind in ("code", "onnx"):
        median = statistics.median(times[kind])
        shown = ", ".join(f"{t:.2f}" for t in times[kind])
        verdict = "met" if median < 10 else "NOT met"
        print(
            f"studio import resnet50 from its {kind}: {median:.2f} s median ({shown}); "
            f"{median / floor:.2f}x the floor; goal < 10 s: {verdict}"
        )


if __name__ == "__main__":
    main()
