"""Layer health's cost: training with health sampled at the default interval vs health off.

Two models, each trained in alternating rounds with health on and off in the same process: the
digits MLP (the default project, 30 epochs) and LeNet-5 on 12,000 MNIST-format images (2 epochs).
The ratio compares the median training-phase times (the epochs' `epoch_seconds`); the sampled
steps and their measured cost are printed too. Goal: <= 1.03.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.core.project.reading import parse_project  # noqa: E402
from studio.core.train.callbacks import History  # noqa: E402
from studio.core.train.loop import fit  # noqa: E402
from tests.datafiles import write_mnist  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 5


def digits_mlp() -> dict:
    project = json.loads((ROOT / "resources" / "templates" / "digits-mlp.json").read_text())
    project["training"].update(epochs=30, device="cpu")
    return project


def lenet(root: Path) -> dict:
    project = json.loads((ROOT / "examples" / "mnist-lenet.json").read_text())
    project["data"]["options"]["root"] = str(root)
    project["training"].update(epochs=2, device="cpu")
    return project


def train(project: dict, health: bool) -> tuple[float, int]:
    """Training seconds (validation left out) and the number of health samples."""
    spec = parse_project(
        {**project, "training": {**project["training"], "health": {"enabled": health}}}
    )
    history = History()
    fit(spec, callbacks=[history], write_run=False)
    return sum(e["epoch_seconds"] for e in history.of("epoch")), len(history.of("health"))


def compare(name: str, project: dict) -> float:
    train(project, True)  # warm-up: first-call costs belong to neither
    on, off, samples = [], [], 0
    for _ in range(ROUNDS):
        seconds, samples = train(project, True)
        on.append(seconds)
        off.append(train(project, False)[0])
    ratio = statistics.median(on) / statistics.median(off)
    print(f"{name}: {samples} health samples a run")
    print(
        f"  health on:  {statistics.median(on):.3f} s  (runs: {', '.join(f'{t:.3f}' for t in on)})"
    )
    print(
        f"  health off: {statistics.median(off):.3f} s  (runs: {', '.join(f'{t:.3f}' for t in off)})"
    )
    print(f"  ratio on / off: {ratio:.3f}  (goal: <= 1.03)")
    return ratio


def main() -> None:
    torch.set_num_threads(1)  # two threads on a small shared machine add more noise than signal
    with tempfile.TemporaryDirectory() as tmp:
        write_mnist(Path(tmp), n_train=12000, n_test=100)
        compare("digits MLP, 30 epochs (690 steps)", digits_mlp())
        compare("LeNet-5, 12,000 MNIST-format images, 2 epochs (150 steps)", lenet(Path(tmp)))


if __name__ == "__main__":
    main()
