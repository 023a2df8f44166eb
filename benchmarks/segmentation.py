"""Segmentation: how good and how fast the U-Net template is, on scenes written in the real
mask-folder layout (images/*.png, masks/*.png palette PNGs of class ids, classes.txt).

- quality: the template's layers (examples/shapes-unet.json) trained by `fit` on the scenes
  (low-contrast shapes in heavy noise by default: a clean scene is solved in a few epochs);
  prints the best val_miou, the epochs and the wall minutes. Goal: val mIoU >= 0.8.
- speed: a studio epoch against a hand-written torchvision loop over the same tensors (the same
  nn.Module, AdamW, CrossEntropyLoss(ignore_index=255), flips through transforms.v2 on
  tv_tensors.Image / Mask pairs), alternating rounds; prints samples/s and the ratio (goal: the
  hand-written loop at most 1.1x faster).
- the split: decoding the images and masks from their files, the augmentation of an epoch's
  batches, and the epoch itself, in seconds.

    python benchmarks/segmentation.py [--images 400] [--size 64] [--epochs 40] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
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
from studio.core.train.callbacks import History  # noqa: E402
from studio.core.train.loop import fit  # noqa: E402
from studio.core.train.setup import make_optimizer  # noqa: E402
from tests.segmentation_files import write_mask_folders  # noqa: E402

ROUNDS = 3


def project_for(folder: Path, size: int, epochs: int, device: str, val_fraction: float):
    spec = json.loads((ROOT / "examples" / "shapes-unet.json").read_text())
    spec["data"]["options"] = {"images": "images", "masks": "masks", "classes": "classes.txt",
                               "size": [size, size]}  # fmt: skip
    spec["data"]["val_fraction"] = val_fraction
    spec["model"]["input_shape"] = [3, size, size]
    spec["training"].update(epochs=epochs, device=device, precision="fp32")
    return spec


def quality(folder: Path, args) -> dict:
    spec = project_for(folder, args.size, args.epochs, args.device, 0.2)
    spec["training"]["early_stopping"]["patience"] = 8
    history, started = History(), time.perf_counter()
    fit(parse_project(spec), callbacks=[history], write_run=False, base_dir=folder)
    epochs = history.of("epoch")
    best = max(epochs, key=lambda e: e["val_miou"])
    return {
        "best_val_miou": round(best["val_miou"], 4),
        "at_epoch": best["epoch"],
        "epochs_trained": len(epochs),
        "val_pixel_acc": round(best["val_pixel_acc"], 4),
        "minutes": round((time.perf_counter() - started) / 60, 2),
    }


def hand_written(project, dataset, device: torch.device, epochs: int) -> float:
    """Samples/s of a plain loop in the style of torchvision's segmentation reference."""
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    model = build_model(project.model, seed=0, device=device)
    optimizer = make_optimizer(project, model)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=255)
    augment = v2.Compose([v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()])
    mean = torch.tensor(dataset.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(dataset.std, device=device).view(1, -1, 1, 1)
    train = dataset.train.to(device)
    x, y, size, speeds = train.x, train.y, project.data.batch_size, []
    for _ in range(epochs):
        order = torch.randperm(len(y), device=device)
        started = time.perf_counter()
        for i in range(0, len(y), size):
            index = order[i : i + size]
            image, mask = augment(
                tv_tensors.Image(x[index].float() / 255), tv_tensors.Mask(y[index])
            )
            image = (image.as_subclass(torch.Tensor) - mean) / std
            loss = loss_fn(model(image), mask.as_subclass(torch.Tensor).long())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        speeds.append(len(y) / (time.perf_counter() - started))
    return statistics.median(speeds[1:] or speeds)


def speed(folder: Path, args) -> dict:
    spec = project_for(folder, args.size, args.speed_epochs, args.device, 0.0)
    spec["training"].pop("early_stopping", None)
    spec["training"].pop("scheduler", None)  # the plain loop has none either
    project = parse_project(spec)
    dataset = load_project_data(project, folder)
    device = torch.device(args.device)
    studio, plain = [], []
    for _ in range(ROUNDS):
        history = History()
        fit(project, callbacks=[history], write_run=False, base_dir=folder)
        studio += [e["samples_per_second"] for e in history.of("epoch")[1:]]
        plain.append(hand_written(project, dataset, device, args.speed_epochs))
    studio_speed, plain_speed = statistics.median(studio), statistics.median(plain)
    return {
        "studio_samples_per_s": round(studio_speed, 1),
        "hand_written_samples_per_s": round(plain_speed, 1),
        "ratio": round(studio_speed / plain_speed, 3),
        **split(project, dataset, folder, studio_speed),
    }


def split(project, dataset, folder: Path, samples_per_second: float) -> dict:
    """Seconds to decode the files (an empty cache), to augment an epoch's batches, and an epoch."""
    from studio.core.data.batches import Batches

    with tempfile.TemporaryDirectory() as cache:
        os.environ["STUDIO_CACHE_DIR"] = cache
        started = time.perf_counter()
        load_project_data(project, folder)
        decode = time.perf_counter() - started
    augment = build_augmentation(project.data.augment)
    batches = Batches(dataset, dataset.train, project.data.batch_size)
    started = time.perf_counter()
    for start in range(0, len(dataset.train), project.data.batch_size):
        x = dataset.train.x[start : start + project.data.batch_size]
        y = dataset.train.y[start : start + project.data.batch_size]
        dataset.prepare_pair(x, y, augment)
    augmenting = time.perf_counter() - started
    return {
        "decode_seconds": round(decode, 2),
        "augment_seconds_per_epoch": round(augmenting, 3),
        "epoch_seconds": round(len(dataset.train) / samples_per_second, 2),
        "batches": len(batches),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--speed-epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--contrast", type=float, default=0.3, help="shapes against background")
    parser.add_argument("--noise", type=float, default=30.0, help="pixel noise (std, 0..255)")
    parser.add_argument("--skip", choices=("quality", "speed"))
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ.setdefault("STUDIO_CACHE_DIR", str(folder / "cache"))
        write_mask_folders(
            folder, count=args.images, size=args.size, contrast=args.contrast, noise=args.noise
        )
        if args.skip != "quality":
            results["quality"] = quality(folder, args)
            print(f"quality: {results['quality']}", flush=True)
        if args.skip != "speed":
            results["speed"] = speed(folder, args)
            print(f"speed: {results['speed']}", flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
