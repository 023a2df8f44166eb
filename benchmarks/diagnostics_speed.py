"""How long `studio lr-find` and `studio check` take on the digits project: in-process (what the
window waits for: torch already loaded) and as commands, next to the floor any torch command
has here (a process that imports torch and makes one optimizer, which loads torch._dynamo).
Goal for lr-find: under 5 s."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DIGITS = ROOT / "resources" / "templates" / "digits-mlp.json"
FLOOR = "import torch; torch.optim.Adam(torch.nn.Linear(2, 2).parameters())"


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    from studio.core.project.reading import load_project
    from studio.core.train.loop import prepare
    from studio.core.train.lr_find import range_test
    from studio.core.train.preflight import run_checks

    project = load_project(DIGITS)
    prepare(project)  # first-use costs (torch._dynamo) belong to neither
    started = time.perf_counter()
    setup, _ = prepare(project)
    found = range_test(setup, project)
    in_process = time.perf_counter() - started
    started = time.perf_counter()
    checks = run_checks(project)
    checked = time.perf_counter() - started
    floor = min(wall([sys.executable, "-c", FLOOR]) for _ in range(2))
    lr_cli = min(wall([sys.executable, "-m", "studio", "lr-find", str(DIGITS)]) for _ in range(2))
    check_cli = min(wall([sys.executable, "-m", "studio", "check", str(DIGITS)]) for _ in range(2))
    print(f"lr-find in process: {in_process:.2f} s ({len(found.lrs)} steps)  (goal: < 5 s)")
    print(
        f"check in process:   {checked:.2f} s ({sum(c.passed for c in checks)} of {len(checks)} pass)"
    )
    print(f"floor (import torch + one optimizer): {floor:.2f} s")
    print(f"studio lr-find: {lr_cli:.2f} s, {lr_cli - floor:.2f} s above the floor")
    print(f"studio check:   {check_cli:.2f} s, {check_cli - floor:.2f} s above the floor")


if __name__ == "__main__":
    main()
