"""Pretrained backbones on this machine, each figure against its baseline in the same run:

1. resnet18 at 224x224, frozen, 500 images, ten epochs: features computed once (the studio's
   cache) against computed every epoch. Goal: at least 5x faster.
2. Fine-tuning the whole resnet18: the studio's samples/s against a hand-written loop over the
   same prepared tensors. Goal: at least 0.95x.
3. training.compile against eager, on the digits MLP (last epochs, after its warm-up).

The weights are a seeded resnet18's, saved as a file beside the project (nothing is downloaded):
they count as pretrained weights, so the images are prepared as torchvision's weights want.

    python benchmarks/backbones.py [--device cuda] [--bf16] [--channels-last]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.core.data import load_project_data  # noqa: E402
from studio.core.project.reading import parse_project  # noqa: E402
from studio.core.train import loop as training_loop  # noqa: E402
from studio.core.train.callbacks import History  # noqa: E402
from studio.core.train.loop import fit  # noqa: E402
from tests.datafiles import write_image_folder  # noqa: E402


def project(folder: Path, device: str, precision: str, **training) -> dict:
    return {
        "studio": 1,
        "name": "backbone-bench",
        "data": {
            "source": "image_folder",
            "options": {"path": "photos"},
            "batch_size": 32,
            "val_fraction": 0,
        },
        "model": {
            "layers": [
                {"type": "Backbone", "args": {"name": "resnet18", "weights": "resnet18.pth"}},
                {"type": "Linear", "args": {"out_features": 2}},
            ]
        },
        "training": {"epochs": 10, "device": device, "precision": precision, **training},
    }


def run(spec: dict, folder: Path) -> tuple[float, list[dict]]:
    """Seconds from the first step's start to the end (features cached included; loading the
    data and building the model not), and the epoch events."""
    marks: dict[str, float] = {}

    class Clock(History):
        def on_event(self, event: dict) -> None:
            super().on_event(event)
            if event["event"] in ("start", "stop"):
                marks[event["event"]] = time.perf_counter()

    history = Clock()
    fit(parse_project(spec), callbacks=[history], write_run=False, base_dir=folder)
    return marks["stop"] - marks["start"], history.of("epoch")


def cached_vs_recomputed(folder: Path, device: str, precision: str) -> dict:
    spec = project(folder, device, precision)
    run({**spec, "training": {**spec["training"], "epochs": 1}}, folder)  # warm: caches, kernels
    cached, _ = run(spec, folder)
    stays = training_loop._features_stay_the_same
    training_loop._features_stay_the_same = lambda *_: False  # the same run, without the cache
    try:
        recomputed, _ = run(spec, folder)
    finally:
        training_loop._features_stay_the_same = stays
    ratio = round(recomputed / cached, 1)
    return {"cached_s": round(cached, 2), "recomputed_s": round(recomputed, 2), "ratio": ratio}


def hand_written(
    x: torch.Tensor, y: torch.Tensor, device: str, bf16: bool, channels_last: bool, epochs: int
) -> float:
    """Samples/s of a plain loop fine-tuning resnet18 (+ a Linear head) on prepared tensors."""
    from torchvision import models

    torch.manual_seed(0)
    backbone = models.resnet18()
    backbone.fc = nn.Identity()
    model = nn.Sequential(backbone, nn.Linear(512, 2)).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    x, y = x.to(device), y.to(device)
    for _ in range(epochs):  # the last epoch is timed, as the studio's is
        started = time.perf_counter()
        for i in range(0, len(x), 32):
            xb = x[i : i + 32]
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(
                device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=bf16
            ):
                loss = loss_fn(model(xb), y[i : i + 32])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return len(x) / (time.perf_counter() - started)


def fine_tuning(
    folder: Path, device: str, precision: str, channels_last: bool, rounds: int = 3, epochs: int = 2
) -> dict:
    """The last of `epochs` epochs, in both loops: the first one warms up (cuDNN's choices, the
    allocator), which on a GPU is a large part of 500 images."""
    spec = project(folder, device, precision, epochs=epochs)
    spec["model"]["layers"][0]["args"]["frozen"] = False
    data = load_project_data(parse_project(spec), folder)
    x, y = data.prepare(data.train.x), data.train.y
    studio, plain = [], []
    for _ in range(rounds):  # alternating: the machine's speed drifts
        _, ended = run(spec, folder)
        studio.append(ended[-1]["samples_per_second"])
        plain.append(hand_written(x, y, device, precision == "bf16", channels_last, epochs))
    return {
        "studio_samples_per_s": round(statistics.median(studio), 1),
        "hand_written_samples_per_s": round(statistics.median(plain), 1),
        "ratio": round(statistics.median(studio) / statistics.median(plain), 3),
    }


def compiled_vs_eager(folder: Path, device: str) -> dict:
    digits = json.loads((ROOT / "resources" / "templates" / "digits-mlp.json").read_text())
    digits["training"].update(epochs=6, device=device)
    out = {}
    for name, spec in (("digits_mlp", digits),):
        figures = {}
        for compiled in (False, True):
            spec["training"]["compile"] = compiled
            seconds, epochs = run(spec, folder)
            figures["compiled" if compiled else "eager"] = {
                "seconds": round(seconds, 1),
                "samples_per_s_last_epochs": round(
                    statistics.median(e["samples_per_second"] for e in epochs[2:])
                ),
            }
        figures["ratio"] = round(
            figures["compiled"]["samples_per_s_last_epochs"]
            / figures["eager"]["samples_per_s_last_epochs"],
            2,
        )
        out[name] = figures
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--images", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    precision = "bf16" if args.bf16 else "fp32"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_image_folder(folder / "photos", per_class=args.images // 2, size=(320, 240))
        from torchvision import models

        torch.manual_seed(0)
        torch.save(models.resnet18().state_dict(), folder / "resnet18.pth")
        print(f"resnet18, {args.images} images at 224x224, {args.device}, {precision}", flush=True)
        cache = cached_vs_recomputed(folder, args.device, precision)
        print(f"frozen, ten epochs: cached features {cache['cached_s']} s, recomputed {cache['recomputed_s']} s: "
              f"{cache['ratio']}x faster  (goal >= 5x)", flush=True)  # fmt: skip
        tuning = fine_tuning(folder, args.device, precision, args.channels_last)
        print(f"fine-tuning everything: studio {tuning['studio_samples_per_s']} samples/s, hand-written "
              f"{tuning['hand_written_samples_per_s']}: ratio {tuning['ratio']}  (goal >= 0.95)", flush=True)  # fmt: skip
        compiled = compiled_vs_eager(folder, args.device)
        print(f"torch.compile vs eager: {json.dumps(compiled)}", flush=True)


if __name__ == "__main__":
    main()
