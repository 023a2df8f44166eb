"""GPU checks, run on a machine with CUDA: device listing, training in fp32 / bf16 / fp16 with the
data resident on the GPU, exact resume, the out-of-memory message, exports of a GPU-trained run,
and torchrun on one GPU. Prints one line a check and writes every figure to gpu_check.json.

    python benchmarks/gpu_check.py [OUTPUT_DIR]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from studio.core.project.reading import load_project, parse_project  # noqa: E402
from studio.core.train.loop import TrainingFailed, fit  # noqa: E402

FIGURES: dict = {}


def record(name: str, value) -> None:
    FIGURES[name] = value
    print(f"{name}: {json.dumps(value)}", flush=True)


def check(name: str, work) -> None:
    started = time.perf_counter()
    try:
        work()
    except Exception as exc:  # one failing check must not hide the others
        record(f"{name}.error", f"{type(exc).__name__}: {str(exc)[:400]}")
    record(f"{name}.seconds", round(time.perf_counter() - started, 2))


def devices() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "studio", "devices", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    record(
        "devices", json.loads(out.stdout)["devices"] if out.returncode == 0 else out.stderr[-400:]
    )


def train_digits(runs: Path) -> None:
    for precision in ("fp32", "bf16", "fp16"):
        project = load_project(ROOT / "resources" / "templates" / "digits-mlp.json")
        project.training.device, project.training.precision, project.training.epochs = (
            "cuda",
            precision,
            20,
        )
        result = fit(project, runs_dir=runs)
        last = result.last_epoch
        record(
            f"digits.{precision}",
            {
                "val_acc": round(last["val_acc"], 4),
                "samples_per_second": round(last["samples_per_second"]),
                "data_on": str(result.dataset.device),
                "reason": result.reason,
            },
        )


def train_cifar(runs: Path, data: Path) -> Path:
    from tests.datafiles import write_cifar10

    write_cifar10(data, per_batch=4000, n_test=2000)
    project = load_project(ROOT / "resources" / "templates" / "cifar-resnet.json")
    project.data.options["root"] = str(data)
    project.training.epochs = 3
    figures = {}
    run_dir = None
    for device, precision in (("cuda", "fp32"), ("cuda", "bf16"), ("cpu", "fp32")):
        project.training.device, project.training.precision = device, precision
        if device == "cpu":
            project.training.epochs = 1
        result = fit(project, runs_dir=runs)
        last = result.last_epoch
        figures[f"{device}.{precision}"] = {
            "samples_per_second": round(last["samples_per_second"]),
            "epoch_seconds": round(last["epoch_seconds"], 2),
            "data_on": str(result.dataset.device),
        }
        if device == "cuda" and precision == "bf16":
            run_dir = result.run_dir
    figures["cuda_bf16_over_cpu"] = round(
        figures["cuda.bf16"]["samples_per_second"] / figures["cpu.fp32"]["samples_per_second"], 1
    )
    record("cifar_resnet_20k_random_images", figures)
    return run_dir


def exact_resume(runs: Path) -> None:
    project = load_project(ROOT / "resources" / "templates" / "digits-mlp.json")
    project.training.device, project.training.epochs = "cuda", 2
    straight = fit(project, runs_dir=runs).model.state_dict()
    project.training.epochs = 1
    first = fit(project, runs_dir=runs)
    project.training.epochs = 2
    resumed = fit(
        project, runs_dir=runs, resume=first.run_dir / "checkpoints" / "last.pt"
    ).model.state_dict()
    record("resume_bit_exact_on_cuda", all(torch.equal(straight[k], resumed[k]) for k in straight))


def out_of_memory(runs: Path) -> None:
    free, total = torch.cuda.mem_get_info()
    width = int(free // 4 // 64 // 3)  # a Linear whose weights fit but whose activations do not
    project = parse_project(
        {
            "studio": 1,
            "name": "oom",
            "data": {"source": "digits", "batch_size": 1024},
            "model": {
                "layers": [
                    {"type": "Flatten"},
                    {"type": "Linear", "args": {"out_features": width}},
                    {"type": "Linear", "args": {"out_features": 10}},
                ]
            },
            "training": {
                "device": "cuda",
                "epochs": 1,
                "optimizer": {"type": "SGD", "args": {"lr": 0.01}},
            },
        }
    )
    try:
        fit(project, runs_dir=runs)
        record("oom.message", "no error (the model fitted)")
    except TrainingFailed as exc:
        record("oom.message", str(exc))
    except torch.OutOfMemoryError as exc:
        record("oom.message", f"UNCAUGHT OutOfMemoryError: {str(exc)[:200]}")
    torch.cuda.empty_cache()


def exports(run_dir: Path | None) -> None:
    if run_dir is None:
        record("exports", "no GPU run to export")
        return
    results = {}
    for fmt in ("pt2", "onnx", "python"):
        out = subprocess.run(
            [sys.executable, "-m", "studio", "export", str(run_dir), "--format", fmt, "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
        results[fmt] = (
            json.loads(out.stdout)["max_abs_diff"]
            if out.returncode == 0
            else out.stderr.strip()[-300:]
        )
    out = subprocess.run(
        [sys.executable, "-m", "studio", "evaluate", str(run_dir), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    results["evaluate_accuracy"] = (
        json.loads(out.stdout)["accuracy"] if out.returncode == 0 else out.stderr[-300:]
    )
    record("exports_of_a_gpu_run", results)


def table_on_gpu(work: Path) -> None:
    """A CSV with strings and blanks trained on the GPU; its sealed checkpoint reloads, and raw rows
    predict through the CLI as evaluation scored them."""
    from tests.datafiles import write_penguins

    write_penguins(work / "penguins.csv")
    project = parse_project(
        {
            "studio": 1,
            "name": "penguins",
            "data": {"source": "csv", "options": {"path": "penguins.csv", "target": "species"}},
            "model": {
                "layers": [
                    {"type": "Linear", "args": {"out_features": 32}},
                    {"type": "ReLU"},
                    {"type": "Linear", "args": {"out_features": 3}},
                ]
            },
            "training": {"device": "cuda", "precision": "bf16", "epochs": 10},
        }
    )
    result = fit(project, runs_dir=work / "table-runs", base_dir=work)
    figures = {
        "val_acc": round(result.last_epoch["val_acc"], 4),
        "data_on": str(result.dataset.device),
    }
    for command in (
        ["evaluate", str(result.run_dir)],
        ["predict", str(result.run_dir), str(work / "penguins.csv")],
    ):
        out = subprocess.run(
            [sys.executable, "-m", "studio", *command, "--json"],
            capture_output=True, text=True, cwd=ROOT, timeout=300,
        )  # fmt: skip
        figures[command[0]] = (
            len(json.loads(out.stdout).get("predictions", []))
            if command[0] == "predict" and out.returncode == 0
            else (json.loads(out.stdout)["accuracy"] if out.returncode == 0 else out.stderr[-300:])
        )
    record("table_on_gpu", figures)


def torchrun_one_gpu(runs: Path) -> None:
    env = {**os.environ, "STUDIO_RUNS_DIR": str(runs / "ddp")}
    project = ROOT / "resources" / "templates" / "digits-mlp.json"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=1",
            "-m",
            "studio",
            "train",
            str(project),
            "--epochs",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env=env,
    )
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    start = next((e for e in events if e["event"] == "start"), {})
    stop = next((e for e in events if e["event"] == "stop"), {})
    record(
        "torchrun_nccl_one_gpu",
        {
            "rc": out.returncode,
            "device": start.get("device"),
            "world_size": start.get("world_size"),
            "stop": stop.get("reason"),
            "stderr_tail": out.stderr.strip()[-300:] if out.returncode else "",
        },
    )


def main() -> int:
    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")
    record("torch", torch.__version__)
    if not torch.cuda.is_available():
        record("cuda", "not available: nothing to check")
        return 0
    record("gpu", torch.cuda.get_device_name(0))
    work = Path(tempfile.mkdtemp(prefix="studio-gpu-"))
    runs = work / "runs"
    check("devices", devices)
    check("digits", lambda: train_digits(runs))
    holder: dict = {}
    check("cifar", lambda: holder.setdefault("run", train_cifar(runs, work / "cifar")))
    check("resume", lambda: exact_resume(runs))
    check("oom", lambda: out_of_memory(runs))
    check("exports", lambda: exports(holder.get("run")))
    check("torchrun", lambda: torchrun_one_gpu(runs))
    check("table", lambda: table_on_gpu(work))
    (out_dir / "gpu_check.json").write_text(json.dumps(FIGURES, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
