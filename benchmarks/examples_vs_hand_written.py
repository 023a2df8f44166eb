"""The studio's loop against a hand-written loop for each project in examples/, on one
device: the same nn.Module (built from the project), optimizer, loss, batch size and augmentation,
over the same prepared tensors. Data are written in each source's real format (MNIST IDX, CIFAR
batches, a CSV of reviews). Prints samples/s of both (median over the epochs after the first) and
the ratio. Goal on a GPU: >= 0.95.

    python benchmarks/examples_vs_hand_written.py [--device cuda] [--epochs 4]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.core.data import load_project_data  # noqa: E402
from studio.core.data.batches import build_augmentation  # noqa: E402
from studio.core.model.build import build_model  # noqa: E402
from studio.core.project.reading import parse_project  # noqa: E402
from studio.core.tasks import make_task  # noqa: E402
from studio.core.train.callbacks import History  # noqa: E402
from studio.core.train.loop import fit  # noqa: E402
from studio.core.train.setup import make_loss, make_optimizer  # noqa: E402
from tests.datafiles import write_cifar10, write_mnist  # noqa: E402

EXAMPLES = ROOT / "examples"
ROUNDS = 3


def write_data(name: str, folder: Path) -> None:
    if name == "mnist-lenet":
        write_mnist(folder / "data", n_train=20000, n_test=100)
    elif name == "cifar-resnet":
        write_cifar10(folder / "data", per_batch=4000, n_test=100)
    elif name == "text-lstm":
        rng = random.Random(0)
        words = ["good", "bad", "film", "plot", "great", "awful", "acting", "the", "a", "boring"]
        rows = ["review,sentiment"]
        for _ in range(8000):
            text = " ".join(rng.choice(words) for _ in range(rng.randint(5, 40)))
            rows.append(
                f"{text},{'pos' if text.count('good') + text.count('great') > text.count('bad') else 'neg'}"
            )
        (folder / "reviews.csv").write_text("\n".join(rows) + "\n")


def hand_written(project, dataset, device: torch.device, epochs: int) -> float:
    """Samples/s of a plain loop: the project's model, optimizer and loss, batches by indexing."""
    model = build_model(project.model, seed=0, device=device)
    optimizer = make_optimizer(project, model)
    targets = make_task(dataset.task, project.training.loss.type, dataset.classes)
    loss_fn = make_loss(project, targets)
    augment = build_augmentation(project.data.augment) if project.data.augment else None
    train = dataset.train.to(device)
    x = train.x if augment is not None else dataset.prepare(train.x)
    y, size, speeds = train.y, project.data.batch_size, []
    for _ in range(epochs):
        order = torch.randperm(len(y), device=device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for i in range(0, len(y), size):
            index = order[i : i + size]
            xb = dataset.prepare(x[index], augment) if augment is not None else x[index]
            output, target = targets.for_loss(model(xb), y[index])
            loss = loss_fn(output, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        speeds.append(len(y) / (time.perf_counter() - started))
    return statistics.median(speeds[1:] or speeds)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--only", nargs="*", help="example names (default: every one)")
    args = parser.parse_args()
    device = torch.device(args.device)
    results = {}
    for path in sorted(EXAMPLES.glob("*.json")):
        if args.only and path.stem not in args.only:
            continue
        if path.stem == "shapes-unet":  # masks move with images: benchmarks/segmentation.py
            continue
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            write_data(path.stem, folder)
            spec = json.loads(path.read_text())
            spec["training"].update(epochs=args.epochs, device=args.device, precision="fp32")
            spec["training"].pop("early_stopping", None)
            spec["data"]["val_fraction"] = 0
            project = parse_project(spec)
            dataset = load_project_data(project, folder)
            studio, plain = [], []
            for _ in range(ROUNDS):  # alternating: a device's speed drifts too
                history = History()
                fit(project, callbacks=[history], write_run=False, base_dir=folder)
                studio += [e["samples_per_second"] for e in history.of("epoch")[1:]]
                plain.append(hand_written(project, dataset, device, args.epochs))
            studio, plain = statistics.median(studio), statistics.median(plain)
            results[path.stem] = {
                "studio": round(studio),
                "hand_written": round(plain),
                "ratio": round(studio / plain, 3),
            }
            print(f"{path.stem:<14} studio {studio:>10,.0f} samples/s   hand-written {plain:>10,.0f}   "
                  f"ratio {studio / plain:.3f}", flush=True)  # fmt: skip
    print(json.dumps(results))


if __name__ == "__main__":
    main()
