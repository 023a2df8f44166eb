"""GPU checks for what shows inside training, run on a machine with CUDA: layer health on vs off
(digits MLP in fp32 and bf16, the small ResNet on 10,000 CIFAR-format images, alternating
rounds), `studio check` and `studio lr-find` on the GPU, and their timings.

    python benchmarks/gpu_inside_training.py [OUTPUT_DIR]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from studio.core.project.reading import parse_project  # noqa: E402
from studio.core.train.callbacks import History  # noqa: E402
from studio.core.train.loop import fit  # noqa: E402
from studio.core.train.lr_find import lr_find  # noqa: E402
from studio.core.train.preflight import run_checks  # noqa: E402
from tests.datafiles import write_cifar10  # noqa: E402

FIGURES: dict = {}


def template(name: str, **training) -> dict:
    project = json.loads((ROOT / "resources" / "templates" / name).read_text())
    project["training"].update(device="cuda", **training)
    return project


def train(project: dict, health: bool, base: Path | None = None) -> tuple[float, History]:
    spec = {**project, "training": {**project["training"], "health": {"enabled": health}}}
    history = History()
    fit(parse_project(spec), callbacks=[history], write_run=False, base_dir=base)
    return sum(e["epoch_seconds"] for e in history.of("epoch")), history


def compare(name: str, project: dict, rounds: int, base: Path | None = None) -> None:
    train(project, True, base)  # warm-up
    on, off = [], []
    for _ in range(rounds):
        seconds, history = train(project, True, base)
        on.append(seconds)
        off.append(train(project, False, base)[0])
    samples = history.of("health")
    warnings = sorted({(w["layer"], w["kind"]) for e in samples for w in e["warnings"]})
    ratio = statistics.median(on) / statistics.median(off)
    FIGURES[name] = {
        "on": on, "off": off, "ratio": ratio, "samples": len(samples),
        "layers": len(samples[0]["layers"]) if samples else 0, "warnings": warnings,
        "val_acc": history.of("epoch")[-1].get("val_acc"),
    }  # fmt: skip
    print(
        f"{name}: health on/off {ratio:.3f} (on {statistics.median(on):.2f} s, off "
        f"{statistics.median(off):.2f} s), {len(samples)} samples of "
        f"{FIGURES[name]['layers']} layers, warnings {warnings}",
        flush=True,
    )


def main(out: Path) -> None:
    print(torch.cuda.get_device_name(0), torch.__version__, flush=True)
    compare("digits fp32", template("digits-mlp.json", epochs=20), 3)
    compare("digits bf16", template("digits-mlp.json", epochs=20, precision="bf16"), 3)
    with tempfile.TemporaryDirectory() as tmp:
        write_cifar10(Path(tmp), per_batch=2000, n_test=100)
        resnet = template("cifar-resnet.json", epochs=2)
        resnet["data"]["options"]["root"] = tmp
        compare("cifar-resnet bf16", resnet, 2)
    digits = parse_project(template("digits-mlp.json"))
    started = time.perf_counter()
    checks = run_checks(digits)
    FIGURES["check"] = {
        "seconds": time.perf_counter() - started,
        "checks": [c.to_dict() for c in checks],
    }
    print(
        f"check on cuda: {FIGURES['check']['seconds']:.1f} s, "
        + ", ".join(f"{c.name} {'pass' if c.passed else 'FAIL'}" for c in checks),
        flush=True,
    )
    started = time.perf_counter()
    found = lr_find(parse_project(template("digits-mlp.json")))
    FIGURES["lr_find"] = {"seconds": time.perf_counter() - started, **found.to_dict()}
    print(f"lr-find on cuda: {FIGURES['lr_find']['seconds']:.1f} s, {found.message}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_inside_training.json").write_text(json.dumps(FIGURES, indent=2, default=str))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
