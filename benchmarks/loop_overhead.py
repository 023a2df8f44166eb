"""Loop overhead: the studio's training loop against a minimal hand-written one, same process.

Both train the same MLP (784-128-10, ReLU, Adam, batch 64) on in-memory MNIST-sized tensors
(60,000 samples, written as real IDX files for the studio to load). Epochs alternate between the
two so both see the same machine state; the ratio compares the median training-phase times.
Goal on CPU: <= 1.05. (Reference: Lightning's Trainer ~1.9x, a DataLoader over a TensorDataset
~1.3x the hand-written loop on this kind of machine.)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.core.data import load_dataset  # noqa: E402
from studio.core.project.reading import parse_project  # noqa: E402
from studio.core.train.callbacks import History  # noqa: E402
from studio.core.train.loop import fit  # noqa: E402
from tests.datafiles import write_mnist  # noqa: E402

ROUNDS = 5


def project(root: Path):
    return parse_project(
        {
            "studio": 1,
            "name": "overhead",
            "data": {
                "source": "mnist",
                "options": {"root": str(root)},
                "batch_size": 64,
                "val_fraction": 0,
            },
            "model": {
                "input_shape": [1, 28, 28],
                "layers": [
                    {"type": "Flatten"},
                    {"type": "Linear", "args": {"out_features": 128}},
                    {"type": "ReLU"},
                    {"type": "Linear", "args": {"out_features": 10}},
                ],
            },
            "training": {
                "epochs": 1,
                "optimizer": {"type": "Adam", "args": {"lr": 0.001}},
                "device": "cpu",
            },
        }
    )


def hand_written_epoch(x: torch.Tensor, y: torch.Tensor) -> float:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    order = torch.randperm(len(x))
    for i in range(0, len(x), 64):
        index = order[i : i + 64]
        xb, yb = x[index], y[index]
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        optimizer.step()
    return time.perf_counter() - start


def studio_epoch(spec) -> float:
    history = History()
    fit(spec, callbacks=[history], write_run=False)
    return history.of("epoch")[0]["epoch_seconds"]


def main() -> None:
    # one thread for both: two threads on a small shared machine make the timing noise larger
    # than the overhead being measured
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_mnist(root, n_train=60000, n_test=100)
        spec = project(root)
        data = load_dataset(spec.data)
        x = data.prepare(data.train.x)  # the hand loop gets its tensors normalised up front
        y = data.train.y
        studio, hand = [], []
        for _ in range(ROUNDS):
            hand.append(hand_written_epoch(x, y))
            studio.append(studio_epoch(spec))
    s, h = statistics.median(studio), statistics.median(hand)
    print(
        f"MLP 784-128-10, Adam, batch 64, 60,000 samples, {torch.get_num_threads()} threads, {ROUNDS} rounds"
    )
    print(f"hand-written loop: {h:.3f} s an epoch  (runs: {', '.join(f'{t:.3f}' for t in hand)})")
    print(f"studio loop:       {s:.3f} s an epoch  (runs: {', '.join(f'{t:.3f}' for t in studio)})")
    print(f"ratio studio / hand-written: {s / h:.3f}  (goal: <= 1.05)")


if __name__ == "__main__":
    main()
