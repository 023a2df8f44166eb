"""Detection: how good and how fast a Detector trains from scratch (`weights_backbone` null: no
pretrained weights), on scenes written in COCO's layout (images/NNNN.png and an instances JSON,
bbox as x, y, width, height). A scene: up to 4 squares and discs (16-42 px at 128) of random
colours half-way from a grey background, in noise; the class is the shape, never the colour.

- quality: ssdlite320_mobilenet_v3_large (one Detector layer, DetectionLoss, AdamW 3e-3 with
  OneCycleLR, batches of 2, horizontal and vertical flips, 128 px, 400 images of which 80 are
  validation) trained by `fit`; the best val_map50 and val_map as the run's metrics.jsonl holds
  them. Goal: val mAP50 >= 0.5. One core (taskset -c 1, one torch thread), the default run:
  val_map50 0.507 at epoch 2, 0.928 at epoch 3 (best); val_map 0.784 at epoch 4; 5.5 and 6.7
  minutes (5.4 and 6.2 CPU minutes) for the four epochs in two runs (the same figures in both:
  the run is seeded).
- speed: studio / hand-written samples/s (goal >= 0.91, the hand-written loop at most 1.1x
  faster), the same torchvision model with the same weights, AdamW, batches of 2, 96 images:
  (a) `fit` epochs (its batches, flips, Trainer.step) against a loop in the style of
  torchvision's detection reference (train_one_epoch: a list of images, a list of target dicts,
  flipped per sample with transforms.v2, the loss dict summed), three alternating rounds, the
  first epoch of each a warm-up: 0.935, 1.13, 1.12, 1.011 in four runs (medians of 4.6-5.3
  samples/s; an epoch is ~19 s and this 2-core machine is shared, so an epoch's speed moves
  10-20%); (b) Trainer.step and the reference's step in turn on each of the same 92 prepared
  batches: 0.994, 1.011, 0.994 in three runs (4.5-5.4 samples/s), the losses identical at
  every step. The studio's own work outside the model (batches and flips 0.1 s an epoch,
  targets, reports, layer health) is ~1% of an epoch (cProfile of a fit epoch).

Other candidates, one core, 128 px, from scratch: fasterrcnn_mobilenet_v3_large_320_fpn 1.2-4
and fasterrcnn_mobilenet_v3_large_fpn ~1.5 samples/s (likely the RoI heads: 512 proposals an
image whatever its size; not profiled), retinanet_resnet50_fpn ~2.6, fcos_resnet50_fpn ~2.5 (its
box loss stays at exactly 1.0 from scratch: zero-size boxes at initialisation, GIoU without a
gradient there, a ReLU after; the same in a plain torchvision loop), ssdlite ~5-6 (its transform
resizes every image to 320x320 whatever the data's size). SSDlite's batch norms (momentum 0.03) lag
while the learning rate is high: small batches (more steps) and a schedule that ends near zero
are what make validation right; with a background whose brightness varied widely between images
(60-190 instead of 90-130; 200 images, 6 epochs) val_map50 stayed at 0.22, and recomputing the
statistics over the training images after the run gave 0.40.

    python benchmarks/detection.py [--images 400] [--size 128] [--epochs 4] [--batch 2]
        [--lr 0.003] [--model ssdlite320_mobilenet_v3_large] [--speed-images 96]
        [--contrast 0.5] [--noise 20] [--skip quality|speed]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.core.data import load_project_data  # noqa: E402
from studio.core.model.build import build_model  # noqa: E402
from studio.core.project.reading import parse_project  # noqa: E402
from studio.core.runs.metrics import read_metrics  # noqa: E402
from studio.core.tasks.detection import find_detector  # noqa: E402
from studio.core.train.callbacks import History  # noqa: E402
from studio.core.train.loop import fit  # noqa: E402

CLASSES = ["square", "disc"]
ROUNDS = 3


def scene(rng: np.random.Generator, size: int, contrast: float, noise: float, most: int):
    """A noisy picture of a random grey with up to `most` shapes that do not overlap, each of a
    random colour `contrast` of the way from the grey: the class is the shape (a square, a
    disc), never the colour. Boxes are whole pixels (x0, y0, x1, y1)."""
    grey = rng.uniform(90, 130)
    image = np.full((size, size, 3), grey) + rng.normal(0.0, noise, (size, size, 3))
    yy, xx = np.mgrid[:size, :size] + 0.5  # pixel centres
    boxes: list[list[int]] = []
    labels: list[int] = []
    for _ in range(int(rng.integers(0, most + 1))):
        side = int(rng.integers(size // 8, size // 3 + 1))
        x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, 2))
        box = [x0, y0, x0 + side, y0 + side]
        if any(b[0] < box[2] and box[0] < b[2] and b[1] < box[3] and box[1] < b[3] for b in boxes):
            continue  # no occlusion: a box always holds its whole shape
        label = int(rng.integers(0, 2))
        if label == 0:
            inside = (xx >= x0) & (xx < x0 + side) & (yy >= y0) & (yy < y0 + side)
        else:
            inside = np.hypot(xx - (x0 + side / 2), yy - (y0 + side / 2)) <= side / 2
        tint = grey + contrast * (rng.uniform(0, 255, 3) - grey)
        image[inside] = tint + rng.normal(0.0, noise, (int(inside.sum()), 3))
        boxes.append(box)
        labels.append(label)
    return image.clip(0, 255).astype(np.uint8), boxes, labels


def write_coco(root: Path, count: int, size: int, args) -> dict:
    """root/images/NNNN.png and root/instances.json (COCO: bbox as x, y, width, height;
    category ids from 1); the data options."""
    from PIL import Image

    rng = np.random.default_rng(args.seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(count):
        image, boxes, labels = scene(rng, size, args.contrast, args.noise, args.most)
        Image.fromarray(image).save(root / "images" / f"{i:04d}.png")
        images.append({"id": i + 1, "file_name": f"{i:04d}.png", "width": size, "height": size})
        for (x0, y0, x1, y1), label in zip(boxes, labels, strict=True):
            annotations.append({
                "id": len(annotations) + 1, "image_id": i + 1, "category_id": label + 1,
                "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0), "iscrowd": 0,
            })  # fmt: skip
    categories = [{"id": i + 1, "name": name, "supercategory": "shape"}
                  for i, name in enumerate(CLASSES)]  # fmt: skip
    (root / "instances.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    return {"format": "coco", "images": "images", "annotations": "instances.json"}


def project_for(options: dict, args, epochs: int, val_fraction: float, schedule: bool) -> dict:
    optimizer = {"type": "AdamW", "args": {"lr": args.lr, "weight_decay": 1e-4}}
    training = {"epochs": epochs, "loss": {"type": "DetectionLoss"}, "optimizer": optimizer,
                "device": args.device, "precision": "fp32", "seed": 0}  # fmt: skip
    if schedule:  # warm-up, then down to nothing: the batch norms' statistics catch up
        training["scheduler"] = {"type": "OneCycleLR", "args": {"max_lr": args.lr}}
    detector = {"name": args.model, "num_classes": len(CLASSES), "weights_backbone": None}
    return {
        "studio": 1,
        "name": f"{args.model} on shapes",
        "data": {
            "source": "detection",
            "options": {**options, "size": [args.size] * 2},
            "val_fraction": val_fraction,
            "batch_size": args.batch,
            "augment": [{"type": "RandomHorizontalFlip"}, {"type": "RandomVerticalFlip"}],
        },
        "model": {
            "input_shape": [3, args.size, args.size],
            "layers": [{"type": "Detector", "args": detector}],
        },
        "training": training,
    }


def quality(folder: Path, options: dict, args) -> dict:
    """Train the project by `fit`; the best epoch as metrics.jsonl records it."""
    spec = project_for(options, args, args.epochs, 0.2, schedule=True)
    wall, cpu = time.perf_counter(), time.process_time()
    result = fit(parse_project(spec), runs_dir=folder / "runs", base_dir=folder)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    epochs = read_metrics(result.run_dir, ["epoch"])  # metrics.jsonl
    best = max(epochs, key=lambda e: (e["val_map50"], e["val_map"]))
    first = next((e for e in epochs if e["val_map50"] >= 0.5), None)
    return {
        "model": args.model,
        "size": args.size,
        "batch_size": args.batch,
        "best_val_map50": round(best["val_map50"], 4),
        "best_val_map": round(max(e["val_map"] for e in epochs), 4),
        "at_epoch": best["epoch"],
        "map50_0.5_at_epoch": first["epoch"] if first else None,
        "epochs_trained": len(epochs),
        "per_epoch": [
            (
                e["epoch"],
                *(round(e[k], 3) for k in ("val_map50", "val_map", "train_loss", "val_loss")),
            )
            for e in epochs
        ],
        "wall_minutes": round(wall / 60, 2),
        "cpu_minutes": round(cpu / 60, 2),
    }


def torchvision_model(project, device: torch.device):
    """The torchvision model the studio's Detector wraps, as the studio's run builds it (the
    same seed, the same weights), with the sizes the Detector gives its transform."""
    model = find_detector(build_model(project.model, seed=project.training.seed)).model
    transform, size = model.transform, project.model.input_shape[1:]
    if getattr(transform, "fixed_size", None) is None:  # as Detector.forward: no resizing
        transform.min_size, transform.max_size = (min(size),), max(size)
    return model.to(device)


def reference_batch(x: torch.Tensor, y: torch.Tensor, augment):
    """A batch as torchvision's reference feeds its model: a list of images (0..1) and a list
    of {"boxes", "labels"} (class 0 is the background), each sample flipped with its boxes."""
    from torchvision import tv_tensors

    images, targets = [], []
    for image, rows in zip(x, y, strict=True):
        real = rows[:, 4] >= 0
        boxes = tv_tensors.BoundingBoxes(
            rows[real, :4], format="XYXY", canvas_size=tuple(image.shape[-2:])
        )
        image, target = augment(
            tv_tensors.Image(image.float() / 255),
            {"boxes": boxes, "labels": rows[real, 4].long() + 1},
        )
        images.append(image.as_subclass(torch.Tensor))
        targets.append(
            {"boxes": target["boxes"].as_subclass(torch.Tensor), "labels": target["labels"]}
        )
    return images, targets


def reference_step(model, optimizer, images, targets) -> float:
    """One step as torchvision's detection reference takes it (references/detection/engine.py,
    train_one_epoch); the loss."""
    loss_dict = model(images, targets)
    losses = sum(loss for loss in loss_dict.values())
    loss_value = losses.item()
    if not math.isfinite(loss_value):  # as the reference: stop on a non-finite loss
        raise RuntimeError(f"loss is {loss_value}")
    optimizer.zero_grad()
    losses.backward()
    optimizer.step()
    return loss_value


def hand_model(project, device: torch.device):
    """The torchvision model and an AdamW over what trains, as the project sets it."""
    model = torchvision_model(project, device)
    model.train()
    args = project.training.optimizer.args
    return model, torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], **args)


def hand_written(project, dataset, device: torch.device, epochs: int) -> list[float]:
    """Samples/s of each epoch after the first of a hand-written loop: the reference's step on
    batches in the order the studio's generator draws them, flipped per sample."""
    from torchvision.transforms import v2

    model, optimizer = hand_model(project, device)
    augment = v2.Compose([v2.RandomHorizontalFlip(), v2.RandomVerticalFlip()])
    generator = torch.Generator(device=device).manual_seed(project.training.seed)
    x, y, size, speeds = dataset.train.x, dataset.train.y, project.data.batch_size, []
    for _ in range(epochs):
        order = torch.randperm(len(y), device=device, generator=generator)
        started = time.perf_counter()
        for start in range(0, len(y), size):
            index = order[start : start + size]
            reference_step(model, optimizer, *reference_batch(x[index], y[index], augment))
        speeds.append(len(y) / (time.perf_counter() - started))
    return speeds[1:]


def same_batches(project, base: Path, device: torch.device, warm: int = 4) -> dict:
    """Trainer.step and the reference's step in turn on each of the same prepared batches (two
    models with the same weights, so the same losses): seconds of each, after `warm` batches."""
    from studio.core.train.control import TrainControl
    from studio.core.train.engine import Trainer
    from studio.core.train.loop import prepare

    setup, _ = prepare(project, base)
    trainer = Trainer(setup, TrainControl(), 1, emit=lambda event: None)
    model, optimizer = hand_model(project, device)
    batches = [b for _ in range(2) for b in setup.train_batches.epoch()]  # augmented once
    setup.model.train()
    times: dict[str, list[float]] = {"studio": [], "hand": []}
    gap = 0.0
    for x, y in batches:
        started = time.perf_counter()
        studio_loss = float(trainer.step(x, y)[0])
        times["studio"].append(time.perf_counter() - started)
        started = time.perf_counter()
        rows = [(image, r[r[:, 4] >= 0]) for image, r in zip(x, y, strict=True)]
        hand_loss = reference_step(model, optimizer, [image for image, _ in rows],
                                   [{"boxes": r[:, :4], "labels": r[:, 4].long() + 1}
                                    for _, r in rows])  # fmt: skip
        times["hand"].append(time.perf_counter() - started)
        gap = max(gap, abs(studio_loss - hand_loss) / max(abs(hand_loss), 1e-9))
    studio, hand = sum(times["studio"][warm:]), sum(times["hand"][warm:])
    count = sum(len(y) for _, y in batches[warm:])
    return {
        "studio_samples_per_s": round(count / studio, 2),
        "hand_written_samples_per_s": round(count / hand, 2),
        "ratio": round(hand / studio, 3),
        "batches": len(batches) - warm,
        "largest_loss_difference": f"{gap:.1e}",  # relative: the same computation
    }


def speed(folder: Path, args) -> dict:
    """A studio epoch (fit: its batches, augmentation and Trainer.step) against the hand-written
    loop over the same images, alternating rounds; each round's first epoch is a warm-up."""
    options = write_coco(folder / "speed", args.speed_images, args.size, args)
    spec = project_for(options, args, args.speed_epochs, 0.0, schedule=False)
    project = parse_project(spec)
    base, device = folder / "speed", torch.device(args.device)
    dataset = load_project_data(project, base).to(device)
    studio, plain = [], []
    for _ in range(ROUNDS):
        history = History()
        fit(project, callbacks=[history], write_run=False, base_dir=base)
        studio += [e["samples_per_second"] for e in history.of("epoch")[1:]]
        plain += hand_written(project, dataset, device, args.speed_epochs)
    studio_speed, plain_speed = statistics.median(studio), statistics.median(plain)
    return {
        "studio_samples_per_s": round(studio_speed, 2),
        "hand_written_samples_per_s": round(plain_speed, 2),
        "ratio": round(studio_speed / plain_speed, 3),
        "studio_epochs": [round(s, 2) for s in studio],
        "hand_written_epochs": [round(s, 2) for s in plain],
        "batch_seconds_per_epoch": batch_seconds(project, dataset),
        "images": len(dataset.train),
        "same_batches": same_batches(project, base, device),
    }


def batch_seconds(project, dataset) -> float:
    """Seconds the studio takes to draw, augment and normalise an epoch's batches (no model)."""
    from studio.core.data.batches import Batches

    generator = torch.Generator().manual_seed(0)
    batches = Batches(dataset, dataset.train, project.data.batch_size, shuffle=True,
                      generator=generator, augment=project.data.augment)  # fmt: skip
    started = time.perf_counter()
    for _ in batches.epoch():
        pass
    return round(time.perf_counter() - started, 3)


def summary(results: dict) -> str:
    """The figures in words, with their goals."""
    lines = []
    if "quality" in results:
        q = results["quality"]
        met = "met" if q["best_val_map50"] >= 0.5 else "NOT met"
        lines.append(
            f"quality: {q['model']} at {q['size']} px, batches of {q['batch_size']}, "
            f"{q['epochs_trained']} epochs: best val_map50 {q['best_val_map50']} (epoch "
            f"{q['at_epoch']}), best val_map {q['best_val_map']}; val_map50 >= 0.5 from epoch "
            f"{q['map50_0.5_at_epoch']}; {q['wall_minutes']} min ({q['cpu_minutes']} CPU min). "
            f"Goal val_map50 >= 0.5: {met}"
        )
    if "speed" in results:
        s, same = results["speed"], results["speed"]["same_batches"]
        met = "met" if s["ratio"] >= 0.91 else "NOT met"
        lines.append(
            f"speed: studio {s['studio_samples_per_s']} vs hand-written "
            f"{s['hand_written_samples_per_s']} samples/s, ratio {s['ratio']} (medians of "
            f"{len(s['studio_epochs'])} epochs each, goal >= 0.91: {met}); step by step on the "
            f"same batches {same['studio_samples_per_s']} vs {same['hand_written_samples_per_s']}, "
            f"ratio {same['ratio']}, losses apart by at most {same['largest_loss_difference']}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.003)
    parser.add_argument("--model", default="ssdlite320_mobilenet_v3_large")
    parser.add_argument("--speed-images", type=int, default=96)
    parser.add_argument("--speed-epochs", type=int, default=2, help="the first is a warm-up")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (both arms)")
    parser.add_argument("--contrast", type=float, default=0.5, help="shapes against background")
    parser.add_argument("--noise", type=float, default=20.0, help="pixel noise (std, 0..255)")
    parser.add_argument("--most", type=int, default=4, help="most shapes a scene")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", choices=("quality", "speed"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ.setdefault("STUDIO_CACHE_DIR", str(folder / "cache"))
        if args.skip != "quality":
            options = write_coco(folder, args.images, args.size, args)
            results["quality"] = quality(folder, options, args)
            print(f"quality: {results['quality']}", flush=True)
        if args.skip != "speed":
            results["speed"] = speed(folder, args)
            print(f"speed: {results['speed']}", flush=True)
    print(json.dumps(results))
    print(summary(results))


if __name__ == "__main__":
    main()
