"""`studio sweep` on Optuna: trials as run folders, errors before any trial, a study that goes on,
workers that share one study, on the journal file and on a real PostgreSQL server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from studio.cli.main import main
from tests.conftest import ROOT, TEMPLATES

DIGITS = next(p for p in TEMPLATES if p.name == "digits-mlp.json")
SPACE = {
    "training.optimizer.args.lr": {"log_uniform": [1e-3, 3e-2]},
    "model.layers.1.args.out_features": {"choice": [16, 32]},
    "data.batch_size": {"int": [32, 128], "log": True},
}


def write_sweep(folder: Path, trials: int = 3, name: str = "sweep", **changes) -> Path:
    project = json.loads(DIGITS.read_text())
    project["training"]["epochs"] = 2
    (folder / "digits.json").write_text(json.dumps(project))
    sweep = {
        "studio_sweep": 1,
        "project": "digits.json",
        "trials": trials,
        "objective": {"metric": "val_acc", "direction": "maximize"},
        "space": SPACE,
        "pruner": "none",
        **changes,
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(sweep))
    return path


def sweep_json(args: list[str], capsys) -> dict:
    assert main(["sweep", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_each_trial_is_a_run_folder_tagged_with_the_sweep(tmp_path, capsys):
    path = write_sweep(tmp_path)
    study = sweep_json([str(path)], capsys)
    trials = study["trials"]
    assert [t["state"] for t in trials] == ["complete"] * 3
    assert study["best"]["value"] == max(t["value"] for t in trials)
    for trial in trials:
        run = Path(trial["run"])
        assert run.parent == tmp_path / "runs" and (run / "model.safetensors").is_file()
        tag = json.loads((run / "sweep.json").read_text())
        assert tag["sweep"] == "sweep" and tag["trial"] == trial["number"]
        frozen = json.loads((run / "project.json").read_text())
        assert (
            frozen["training"]["optimizer"]["args"]["lr"]
            == trial["params"]["training.optimizer.args.lr"]
        )
        assert 1e-3 <= trial["params"]["training.optimizer.args.lr"] <= 3e-2
        assert trial["params"]["model.layers.1.args.out_features"] in (16, 32)
    assert (tmp_path / "runs" / "sweep.optuna-journal.log").is_file()  # no server needed
    assert main(["runs", str(tmp_path / "runs"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["runs"]
    assert len(rows) == 3 and "training.optimizer.args.lr" in rows[0]["varying"]


def test_a_second_call_goes_on_with_the_same_study(tmp_path, capsys):
    path = write_sweep(tmp_path, trials=2)
    assert len(sweep_json([str(path)], capsys)["trials"]) == 2
    write_sweep(tmp_path, trials=3)  # one more asked for
    assert main(["sweep", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\ntrial ") + out.startswith("trial ") == 1 and "best: trial" in out
    assert len(sweep_json([str(path)], capsys)["trials"]) == 3  # nothing more to do: the study


@pytest.mark.parametrize(
    ("space", "message"),
    [
        (
            {"model.layers.9.args.out_features": {"choice": [8]}},
            "the project has no model.layers.9",
        ),
        (
            {"training.optimiser.args.lr": {"uniform": [0.1, 0.2]}},
            "the project has no training.optimiser",
        ),
        ({"model.layers.1.args.out_features": {"choice": [0, 8]}}, "0 is refused by the project"),
        ({"data.batch_size": {"int": [64, 16]}}, "expected [low, high] with low < high"),
        ({"training.optimizer.args.lr": {"log_uniform": [0, 1]}}, "the low end must be above 0"),
        ({"training.optimizer.args.lr": {"normal": [0, 1]}}, "expected one of log_uniform"),
    ],
)
def test_a_bad_space_is_one_error_before_any_trial(space, message, tmp_path, capsys):
    path = write_sweep(tmp_path, space=space)
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "sweep.json" in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_two_workers_share_the_study_and_the_trials_add_up(tmp_path):
    path = write_sweep(tmp_path, trials=4)
    result = subprocess.run(
        [sys.executable, "-m", "studio", "sweep", str(path), "--workers", "2"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("trial")]
    assert sorted(int(line.split()[1]) for line in lines) == [0, 1, 2, 3]
    assert len(list((tmp_path / "runs").glob("digits-mlp-*"))) == 4


@pytest.fixture(scope="module")
def postgres() -> str:
    """A real PostgreSQL server: $STUDIO_TEST_POSTGRES (.ci/run starts one), else one started
    here where PostgreSQL is installed."""
    pytest.importorskip("psycopg", reason="psycopg is needed for postgresql:// storages")
    url = os.environ.get("STUDIO_TEST_POSTGRES")
    if not url and shutil.which("pg_lsclusters"):
        started = subprocess.run(
            ["bash", str(ROOT / ".ci" / "postgres.sh")], capture_output=True, text=True, timeout=120
        )
        url = started.stdout.strip().splitlines()[-1] if started.returncode == 0 else ""
    if not url:
        pytest.skip("no PostgreSQL server: set STUDIO_TEST_POSTGRES or install postgresql")
    return url


def test_workers_on_two_machines_join_one_study_in_postgresql(postgres, tmp_path):
    """Two separate `studio sweep --storage postgresql://...` processes, as on two machines."""
    name = f"sweep-{uuid.uuid4().hex[:8]}"
    path = write_sweep(tmp_path, trials=4, name=name)
    command = [sys.executable, "-m", "studio", "sweep", str(path), "--storage", postgres]
    machines = [
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )
        for _ in range(2)
    ]
    outputs = [machine.communicate(timeout=600) for machine in machines]
    assert [m.returncode for m in machines] == [0, 0], outputs
    ran = [line for out, _ in outputs for line in out.splitlines() if line.startswith("trial")]
    import optuna

    study = optuna.load_study(study_name=name, storage=postgres)
    finished = [t for t in study.trials if t.state.is_finished()]
    # the two machines' trials add up to the sweep's; two starting a trial at the same moment
    # may run one more (docs/cli.md): never fewer, never one a machine does not report
    assert 4 <= len(finished) <= 5 and len(finished) == len(ran), (finished, ran)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in finished)
    assert {Path(t.user_attrs["run"]).parent for t in finished} == {tmp_path / "runs"}
    password = postgres.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    said = [out for out, _ in outputs][0]
    assert "study in postgresql://" in said and f":{password}@" not in said  # never printed


@pytest.mark.parametrize(
    "how",
    ["ctrl-c", "stdin closed", "stdin closed, two workers"],
)
def test_a_stop_ends_the_trial_cleanly_and_the_next_call_goes_on(how, tmp_path):
    """Ctrl-C, or (`--stop-on-eof`, how the window stops a sweep on every system) closing the
    sweep's standard input: the trial stops after its batch with its checkpoint, exit 130."""
    import signal
    import time

    workers = 2 if "two workers" in how else 1
    path = write_sweep(tmp_path, trials=workers)  # with two workers, each trains a trial
    project = json.loads((tmp_path / "digits.json").read_text())
    project["training"]["epochs"] = 500  # long enough to be interrupted
    (tmp_path / "digits.json").write_text(json.dumps(project))
    command = [sys.executable, "-m", "studio", "sweep", str(path)]
    extra = [] if how == "ctrl-c" else ["--stop-on-eof"]
    extra += ["--workers", "2"] if workers == 2 else []
    sweep = subprocess.Popen(
        command + extra,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until each trial has trained an epoch
        metrics = list((tmp_path / "runs").glob("*/metrics.jsonl"))
        if len(metrics) == workers and all('"event": "epoch"' in m.read_text() for m in metrics):
            break
        time.sleep(0.2)
    if how == "ctrl-c":
        sweep.send_signal(signal.SIGINT)
        out, err = sweep.communicate(timeout=60)
    else:
        out, err = sweep.communicate(timeout=60)  # closes its standard input, then waits
    assert sweep.returncode == 130, err
    stopped = list((tmp_path / "runs").glob("digits-mlp-*"))
    assert len(stopped) == workers  # the worker process's trial was stopped too, mid-trial
    for run in stopped:
        assert (run / "checkpoints" / "last.pt").is_file()  # stopped after a batch
    project["training"]["epochs"] = 1
    (tmp_path / "digits.json").write_text(json.dumps(project))
    again = subprocess.run(
        command + ["--json"], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert again.returncode == 0, again.stderr
    states = sorted(t["state"] for t in json.loads(again.stdout)["trials"])
    assert states == ["complete"] * workers + ["fail"] * len(stopped)  # stopped ones do not count


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"trials": 0}, "trials: expected an integer of at least 1, got 0"),
        ({"trails": 3}, "trails: unknown key (expected studio_sweep, project, space"),
        (
            {"objective": {"metric": "accuracy"}},
            "objective.metric: expected one of val_loss, val_acc",
        ),
        ({"pruner": "hyperband"}, "pruner: expected one of median, none"),
    ],
)
def test_a_bad_sweep_file_is_named_by_its_json_path(changes, message, tmp_path, capsys):
    path = write_sweep(tmp_path, **changes)
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"sweep.json: {message}" in err and not (tmp_path / "runs").exists()
