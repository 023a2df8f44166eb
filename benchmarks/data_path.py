"""Data path: one training epoch over 60,000 MNIST-format samples (real IDX files), the same MLP,
through (a) the studio pipeline and (b) the torchvision tutorial pipeline (datasets.MNIST +
ToTensor + DataLoader(batch_size=64, shuffle=True)). Goal: studio <= 0.35 of the tutorial's time."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from studio.core.data import load_dataset  # noqa: E402
from studio.core.data.batches import Batches, make_generator  # noqa: E402
from studio.core.project.spec import DataSpec  # noqa: E402
from tests.datafiles import write_mnist  # noqa: E402


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def train_epoch(batches) -> float:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for x, y in batches:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()
    return time.perf_counter() - start


def studio_epoch(root: Path) -> float:
    start = time.perf_counter()
    data = load_dataset(DataSpec("mnist", options={"root": str(root)}, val_fraction=0.0))
    batches = Batches(
        data,
        data.train,
        batch_size=64,
        shuffle=True,
        generator=make_generator(0, torch.device("cpu")),
    )
    return (time.perf_counter() - start) + train_epoch(batches)


def tutorial_epoch(root: Path) -> float:
    from torch.utils.data import DataLoader
    from torchvision import datasets
    from torchvision.transforms import ToTensor

    start = time.perf_counter()
    dataset = datasets.MNIST(str(root), train=True, transform=ToTensor())
    loader = DataLoader(dataset, batch_size=64, shuffle=True)
    return (time.perf_counter() - start) + train_epoch(loader)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_mnist(root, n_train=60000, n_test=10000)
        studio_times, tutorial_times = [], []
        for _ in range(2):  # alternate, so both see the same machine state
            tutorial_times.append(tutorial_epoch(root))
            studio_times.append(studio_epoch(root))
    studio, tutorial = min(studio_times), min(tutorial_times)
    print(f"epoch over 60,000 samples, MLP 784-128-10, batch 64, {torch.get_num_threads()} threads")
    print(f"studio pipeline:   {studio:.2f} s (load included)")
    print(f"tutorial pipeline: {tutorial:.2f} s (load included)")
    print(f"ratio studio / tutorial: {studio / tutorial:.2f}  (goal: <= 0.35)")


if __name__ == "__main__":
    main()
