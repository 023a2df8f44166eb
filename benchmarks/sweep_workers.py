"""A 12-trial digits sweep with 1 worker and with 2 worker processes on this machine: trials a
minute and their ratio (goal >= 1.6x), and the time a trial spends outside training (its process
share of the start, the study, the run folder), from the trials' own timestamps. Pruning off, so
both sweeps train the same amount."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRIALS = 12
EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 20


def sweep(folder: Path, workers: int) -> tuple[float, float]:
    """Trials a minute, and the median seconds a trial spent outside its training epochs."""
    import optuna

    from studio.core.runs.metrics import read_metrics

    project = json.loads((ROOT / "resources" / "templates" / "digits-mlp.json").read_text())
    project["training"].update(epochs=EPOCHS, device="cpu")
    (folder / "digits.json").write_text(json.dumps(project))
    (folder / "sweep.json").write_text(
        json.dumps(
            {
                "studio_sweep": 1,
                "project": "digits.json",
                "trials": TRIALS,
                "pruner": "none",
                "objective": {"metric": "val_acc", "direction": "maximize"},
                "space": {
                    "training.optimizer.args.lr": {"log_uniform": [1e-3, 3e-2]},
                    "model.layers.1.args.out_features": {"choice": [32, 64]},
                },
            }  # fmt: skip
        )
    )
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "studio", "sweep", str(folder / "sweep.json"), "--workers", str(workers)],
        check=True, capture_output=True, cwd=ROOT,
    )  # fmt: skip
    minutes = (time.perf_counter() - started) / 60
    study = optuna.load_study(
        study_name="sweep",
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(
                str(folder / "runs" / "sweep.optuna-journal.log")
            )
        ),
    )
    outside = []
    for trial in study.trials:
        events = read_metrics(Path(trial.user_attrs["run"]))
        training = sum(
            e["epoch_seconds"] + e.get("val_seconds", 0) for e in events if e["event"] == "epoch"
        )
        whole = (trial.datetime_complete - trial.datetime_start).total_seconds()
        outside.append(whole - training)
    outside.sort()
    return TRIALS / minutes, outside[len(outside) // 2]


def main() -> None:
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        alone, outside_alone = sweep(Path(one), 1)
        pair, outside_pair = sweep(Path(two), 2)
    print(f"{TRIALS}-trial digits sweep ({EPOCHS} epochs a trial)")
    print(f"1 worker:  {alone:.1f} trials a minute, {outside_alone:.2f} s a trial outside training")
    print(f"2 workers: {pair:.1f} trials a minute, {outside_pair:.2f} s a trial outside training")
    print(f"ratio 2 / 1 workers: {pair / alone:.2f}  (goal >= 1.6; outside training < 1 s)")


if __name__ == "__main__":
    main()
