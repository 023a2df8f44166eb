"""Shared fixtures: the example projects from ../shared/examples and a project-file writer."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI explores the same examples every run, so a red build is reproducible; locally, new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT.parent / "shared" / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.json"))
TEMPLATES = sorted((ROOT / "resources" / "templates").glob("*.json"))


def pytest_configure(config: pytest.Config) -> None:
    assert EXAMPLES, f"the example projects are missing: {EXAMPLES_DIR}"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Decoded-dataset caches go to a temporary folder, never the user's."""
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
    from studio.core.train import fit

    result = fit(parse_project(project), runs_dir=folder, base_dir=base_dir)
    assert result.reason == "completed", result.message
    return result.run_dir


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory) -> Path:
    """The default digits project trained for one epoch, once per test session."""
    project = json.loads(next(p for p in TEMPLATES if p.name == "digits-mlp.json").read_text())
    project["training"]["epochs"] = 1
    return train_once(project, tmp_path_factory.mktemp("runs"))
