"""`studio sweep SWEEP --on a,b --storage postgresql://...`: a worker on each host, one study in
a real PostgreSQL server, the trials' run folders back in the local runs folder."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.cli.test_sweep import postgres, write_sweep  # noqa: F401 (the fixture)
from tests.remote.conftest import studio


def test_a_worker_on_each_host_shares_one_study(add_host, postgres, tmp_path):  # noqa: F811
    work_a, work_b = add_host("a"), add_host("b")
    sweep = write_sweep(tmp_path, trials=4, name=f"sweep-{uuid.uuid4().hex[:8]}")
    done = studio("sweep", str(sweep), "--on", "a,b", "--storage", postgres, "--json")
    assert done.returncode == 0, done.stderr
    study = json.loads(done.stdout)
    assert [t["state"] for t in study["trials"]].count("complete") >= 4
    ran_on = {
        name: list(work.glob("runs/sweep-*/*/metrics.jsonl"))
        for name, work in (("a", work_a), ("b", work_b))
    }
    assert ran_on["a"] and ran_on["b"], ran_on  # both hosts ran trials
    for trial in study["trials"]:
        run = Path(trial["run"])
        assert run.parent == tmp_path / "runs" and (run / "metrics.jsonl").is_file()
    listed = json.loads(studio("runs", str(tmp_path / "runs"), "--json").stdout)["runs"]
    assert len(listed) == len(study["trials"])


def test_a_sweep_on_hosts_needs_a_database_they_all_reach(add_host, tmp_path):
    add_host("a")
    said = studio("sweep", str(write_sweep(tmp_path)), "--on", "a")
    assert said.returncode == 1 and "--storage postgresql://" in said.stderr
