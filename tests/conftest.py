"""Shared fixtures: the example projects, a project-file writer, and the rules every test runs
under. Nothing a test does may read or write the user's own files: before anything else runs, the
home folder, the config, data and cache folders, the studio's settings, autosave and caches and
torch's hub cache all point into a temporary folder, for this process and every process a test
starts. The session fails if the user's folders changed all the same."""

from __future__ import annotations

import faulthandler
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings


def _user_folders() -> list[Path]:
    """Where the studio keeps a user's files (settings, recent files, layout, autosave, caches),
    as this environment names them before the tests replace it."""
    home = Path.home()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    data = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache")
    return [config / "torch-studio", data / "torch-studio", cache / "torch-studio"]


def snapshot(folders: list[Path]) -> dict[str, tuple[int, int] | None]:
    """Every file under the folders with its size and modification time (None: no folder)."""
    seen: dict[str, tuple[int, int] | None] = {}
    for folder in folders:
        if not folder.exists():
            seen[str(folder)] = None
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                stat = path.stat()
                seen[str(path)] = (stat.st_size, stat.st_mtime_ns)
    return seen


USER_FOLDERS = _user_folders()
USER_FILES = snapshot(USER_FOLDERS)
PRIVATE = Path(tempfile.mkdtemp(prefix="studio-tests-"))
for variable, folder in {
    "HOME": "home",
    "XDG_CONFIG_HOME": "config",
    "XDG_DATA_HOME": "data",
    "XDG_CACHE_HOME": "cache",
    "STUDIO_CONFIG_DIR": "studio-config",
    "STUDIO_CACHE_DIR": "studio-cache",
    "TORCH_HOME": "torch",
}.items():
    os.environ[variable] = str(PRIVATE / folder)
    (PRIVATE / folder).mkdir()

# CI explores the same examples every run, so a red build is reproducible; locally, new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
TEMPLATES = sorted((ROOT / "resources" / "templates").glob("*.json"))
LONG_TEST_SECONDS = (
    3600  # `make test-long`'s soak and kill -9 series; the rest: faulthandler_timeout
)


def pytest_configure(config: pytest.Config) -> None:
    assert EXAMPLES, f"the example projects are missing: {ROOT / 'examples'}"
    if hasattr(faulthandler, "register"):  # not on Windows
        # SIGTERM (CI's limit, `timeout`) prints every thread's stack, then ends the run as usual
        faulthandler.register(signal.SIGTERM, file=sys.__stderr__, all_threads=True, chain=True)


def _watchdog(item: pytest.Item) -> None:
    """faulthandler's watchdog for this test: faulthandler_timeout, or an hour for the long
    series (which runs past it)."""
    seconds = float(item.config.getini("faulthandler_timeout") or 0)
    if item.get_closest_marker("long") is not None:
        seconds = LONG_TEST_SECONDS
    if seconds > 0:
        faulthandler.dump_traceback_later(seconds, exit=True, file=sys.__stderr__)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _watchdog(item)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """pytest cancels its watchdog when a test fails: the teardown after it (a window closing,
    waiting for its background work) would run unguarded."""
    _watchdog(item)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    now = snapshot(USER_FOLDERS)
    changed = sorted(p for p in USER_FILES.keys() | now.keys() if USER_FILES.get(p) != now.get(p))
    shutil.rmtree(PRIVATE, ignore_errors=True)
    if changed:
        sys.__stderr__.write(f"\nthe tests changed the user's own files: {', '.join(changed)}\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Decoded-dataset caches go to a folder of each test's own."""
    monkeypatch.setenv("STUDIO_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def write_project(tmp_path: Path):
    """Write a project dict (or raw text) to a file and return its path."""

    def write(content, name: str = "project.json") -> Path:
        path = tmp_path / name
        path.write_text(
            content if isinstance(content, str) else json.dumps(content), encoding="utf-8"
        )
        return path

    return write


def minimal_project(layers: list, input_shape: list | None = None, **training) -> dict:
    project = {
        "studio": 1,
        "name": "test",
        "data": {"source": "digits"},
        "model": {"input_shape": input_shape or [1, 8, 8], "layers": layers},
    }
    if training:
        project["training"] = training
    return project


def train_once(project: dict, folder: Path, base_dir: Path | None = None) -> Path:
    """Train a project dict (real torch, real files) and return its run directory."""
    from studio.core.project.reading import parse_project
    from studio.core.train.loop import fit

    result = fit(parse_project(project), runs_dir=folder, base_dir=base_dir)
    assert result.reason == "completed", result.message
    return result.run_dir


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """The default digits project trained for one epoch, once per test session."""
    project = json.loads(next(p for p in TEMPLATES if p.name == "digits-mlp.json").read_text())
    project["training"]["epochs"] = 1
    return train_once(project, tmp_path_factory.mktemp("runs"))
