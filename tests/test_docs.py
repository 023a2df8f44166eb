"""The reference documents in docs/ stay current: every command, automation name, event, stop
reason, health warning and project key the code has is in them, and every example loads."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from studio.core.errors import ProjectError

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CLI_DOC = DOCS / "cli.md"
GUI_DOC = DOCS / "gui.md"
FORMAT_DOC = DOCS / "project-format.md"
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))

OBJECT_NAME = re.compile(r"""(?:\bobjectName=|\bsetObjectName\()\s*["']([^"'{}]+)["']""")
EVENT_KIND = re.compile(r"""\bevent=["']([a-z_]+)["']""")  # StepEvent(event="step", ...)
STOP_REASON = re.compile(r"""\.stop\(\s*["']([a-z_]+)["']""")
UNKNOWN = "__not_a_key__"


def _text(path: Path) -> str:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    return path.read_text(encoding="utf-8")


def _backticked(text: str) -> list[str]:
    """Everything written `like this` (inline code spans) in a Markdown text."""
    return re.findall(r"`([^`\n]+)`", text)


def _mentions(spans: list[str], name: str) -> bool:
    """Whether `name` appears in a code span as a whole word or dotted path, alone or inside
    a longer one (`training.health.every` inside `"training": ...` does not count)."""
    pattern = re.compile(rf"(?<![\w.]){re.escape(name)}(?![\w])")
    return any(pattern.search(span) for span in spans)


def _missing(names: set[str], doc: Path) -> list[str]:
    spans = _backticked(_text(doc))
    return sorted(name for name in names if not _mentions(spans, name))


def _sources(folder: str) -> list[Path]:
    files = sorted((ROOT / "studio" / folder).rglob("*.py"))
    assert files, f"no Python files under studio/{folder}: has it moved?"
    return files


def _found(pattern: re.Pattern[str], folder: str) -> set[str]:
    return {
        match
        for path in _sources(folder)
        for match in pattern.findall(path.read_text(encoding="utf-8"))
    }


# ---------------------------------------------------------------------------- cli.md


def test_every_command_is_in_the_cli_reference():
    from studio.cli.main import _COMMANDS

    text = _text(CLI_DOC)
    commands = [c for c in _COMMANDS if c != "gui"]
    assert "train" in commands and "sweep" in commands
    missing = [c for c in commands if not re.search(rf"studio {re.escape(c)}(?![\w-])", text)]
    assert not missing, f"docs/cli.md does not describe: {', '.join(missing)}"


def test_every_event_the_core_emits_is_in_the_cli_reference():
    from studio.core.train.events import KINDS

    emitted = _found(EVENT_KIND, "core")  # every event the core builds names its kind
    assert {"start", "step", "epoch", "checkpoint", "stop", "health"} <= emitted, emitted
    assert emitted <= set(KINDS), f"events.py does not type: {emitted - set(KINDS)}"
    missing = _missing(set(KINDS), CLI_DOC)
    assert not missing, f"docs/cli.md does not list these events: {', '.join(missing)}"


def test_every_stop_reason_is_in_the_cli_reference():
    reasons = _found(STOP_REASON, "") | {"completed", "error"}  # these two are the loop's own
    assert {"stopped", "early_stopping", "non_finite_loss"} <= reasons, reasons
    missing = _missing(reasons, CLI_DOC)
    assert not missing, f"docs/cli.md does not list these stop reasons: {', '.join(missing)}"


def test_every_health_warning_kind_is_in_the_cli_reference():
    from studio.core.train.health import KINDS

    missing = _missing(set(KINDS), CLI_DOC)
    assert not missing, f"docs/cli.md does not list these warnings: {', '.join(missing)}"


# ---------------------------------------------------------------------------- gui.md


def test_every_automation_name_is_in_the_gui_reference():
    names = _found(OBJECT_NAME, "gui")
    assert {"trainButton", "layerStack", "runsTable", "sweepView"} <= names, sorted(names)
    spans = set(_backticked(_text(GUI_DOC)))
    missing = sorted(names - spans)
    assert not missing, f"docs/gui.md does not name: {', '.join(missing)}"


# ---------------------------------------------------------------------------- project-format.md


def _minimal() -> dict:
    return {
        "studio": 1,
        "data": {"source": "digits", "augment": [{"type": "RandomHorizontalFlip"}]},
        "model": {
            "input_shape": [1, 8, 8],
            "layers": [
                {"type": "Flatten"},
                {"type": "Sequential", "layers": [{"type": "Identity"}]},
                {"type": "Branch", "branches": [[{"type": "Identity"}]]},
                {"type": "Linear", "args": {"out_features": 10}},
            ],
        },
        "training": {
            "loss": {"type": "CrossEntropyLoss"},
            "early_stopping": {},
            "fine_tune": {},
            "health": {},
        },
    }


def _accepted_keys(where: list) -> list[str]:
    """The keys the project reader accepts in the object at `where`, read from its own message
    about a key it does not know ("unknown key (expected a, b, c)")."""
    from studio.core.project.reading import parse_project

    project = copy.deepcopy(_minimal())
    target = project
    for step in where:
        target = target[step]
    target[UNKNOWN] = 1
    with pytest.raises(ProjectError) as caught:
        parse_project(project)
    found = re.search(r"unknown key \(expected ([^)]*)\)", str(caught.value))
    assert found, f"at {where}: {caught.value}"
    return [key.strip() for key in found.group(1).split(",")]


# (object in the minimal project, the JSON path its keys are documented under; "" means by name)
_SECTIONS = [
    ([], ""),
    (["data"], "data."),
    (["model"], "model."),
    (["training"], "training."),
    (["training", "early_stopping"], "training.early_stopping."),
    (["training", "fine_tune"], "training.fine_tune."),
    (["training", "health"], "training.health."),
    (["training", "loss"], ""),
    (["data", "augment", 0], ""),
    (["model", "layers", 0], ""),
    (["model", "layers", 1], ""),
    (["model", "layers", 2], ""),
]


def _dataclass_keys() -> set[str]:
    """The same keys from the project's dataclasses, as JSON paths."""
    from dataclasses import fields

    from studio.core.project import spec

    prefixes = {
        spec.Project: "",
        spec.DataSpec: "data.",
        spec.ModelSpec: "model.",
        spec.TrainSpec: "training.",
        spec.EarlyStopping: "training.early_stopping.",
        spec.FineTune: "training.fine_tune.",
        spec.Health: "training.health.",
        spec.Component: "",
        spec.LayerSpec: "",
    }
    return {prefix + f.name for cls, prefix in prefixes.items() for f in fields(cls)}


def test_every_project_key_is_in_the_format_reference():
    keys = {prefix + key for where, prefix in _SECTIONS for key in _accepted_keys(where)}
    keys |= _dataclass_keys()
    assert {"studio", "data.batch_size", "training.health.every", "merge"} <= keys, sorted(keys)
    missing = _missing(keys, FORMAT_DOC)
    assert not missing, f"docs/project-format.md does not describe: {', '.join(missing)}"


def test_every_data_source_and_option_is_in_the_format_reference():
    from studio.core.data.catalogue import SOURCES

    names = set(SOURCES) | {p.name for info in SOURCES.values() for p in info.options}
    assert {"digits", "csv", "path", "target", "columns", "missing"} <= names
    missing = _missing(names, FORMAT_DOC)
    assert not missing, f"docs/project-format.md does not describe: {', '.join(missing)}"


def test_every_sweep_key_and_kind_is_in_the_format_reference(tmp_path):
    from studio.core.runs.sweep import KINDS, PRUNERS, load_sweep

    def accepted(sweep: dict) -> list[str]:
        path = tmp_path / "sweep.json"
        path.write_text(json.dumps(sweep), encoding="utf-8")
        with pytest.raises(ProjectError) as caught:
            load_sweep(path)
        found = re.search(r"unknown key \(expected ([^)]*)\)", str(caught.value))
        assert found, str(caught.value)
        return [key.strip() for key in found.group(1).split(",")]

    base = {"studio_sweep": 1, "project": "p.json", "space": {}}
    keys = set(accepted({**base, UNKNOWN: 1}))
    keys |= {f"objective.{k}" for k in accepted({**base, "objective": {UNKNOWN: 1}})}
    keys |= {*KINDS, *PRUNERS, "log"}
    assert {"studio_sweep", "trials", "objective.metric", "log_uniform", "median"} <= keys
    missing = _missing(keys, FORMAT_DOC)
    assert not missing, f"docs/project-format.md does not describe: {', '.join(missing)}"


def _json_blocks(text: str) -> list[str]:
    return re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)


def test_the_projects_in_the_format_reference_load_and_infer():
    from studio.core.model.shapes import infer_shapes
    from studio.core.project.reading import parse_project_text

    blocks = [b for b in _json_blocks(_text(FORMAT_DOC)) if '"studio": 1' in b]
    assert blocks, "docs/project-format.md has no complete example project"
    for block in blocks:
        project = parse_project_text(block)
        report = infer_shapes(project.model)
        assert report.error is None, f"{project.name}: {report.error}"


def test_the_sweep_in_the_format_reference_loads(tmp_path):
    from studio.core.runs.sweep import load_sweep

    blocks = [b for b in _json_blocks(_text(FORMAT_DOC)) if '"studio_sweep"' in b]
    assert blocks, "docs/project-format.md has no example sweep"
    project = next(p for p in EXAMPLES if p.name == "digits-mlp.json")
    (tmp_path / "project.json").write_text(project.read_text(encoding="utf-8"), encoding="utf-8")
    for block in blocks:
        sweep = json.loads(block)
        sweep["project"] = "project.json"
        path = tmp_path / "sweep.json"
        path.write_text(json.dumps(sweep), encoding="utf-8")
        assert load_sweep(path).space


# ---------------------------------------------------------------------------- examples


def test_the_examples_are_there_and_described():
    assert len(EXAMPLES) >= 4, "examples/*.json are missing"
    readme = _text(ROOT / "examples" / "README.md")
    missing = [p.name for p in EXAMPLES if p.name not in readme]
    assert not missing, f"examples/README.md does not describe: {', '.join(missing)}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_loads_and_its_shapes_infer(path):
    from studio.core.model.shapes import infer_shapes
    from studio.core.project.reading import load_project

    project = load_project(path)
    report = infer_shapes(project.model)
    assert report.error is None, f"{path.name}: {report.error}"
    assert report.rows, f"{path.name}: no layers"


# ---------------------------------------------------------------------------- architecture.md


def test_every_module_is_named_in_the_architecture_where_its_folder_is_described():
    """Each folder of studio/ has a row in the stages table naming its modules: a module added
    or moved without it is a layout a newcomer would have to reverse-engineer."""
    rows = [
        line
        for line in _text(DOCS / "architecture.md").splitlines()
        if line.startswith("| `studio/")
    ]
    folders = {re.match(r"\| `(studio/[\w/]*)`", row).group(1): row for row in rows}
    missing = []
    for path in sorted((ROOT / "studio").rglob("*.py")):
        relative = path.relative_to(ROOT)
        if path.name == "__init__.py" and relative.parent.name != "export":
            continue
        here = f"{relative.parent.as_posix()}/"
        owner = max((f for f in folders if here.startswith(f)), key=len, default=None)
        inner = here[len(owner) :] if owner else ""
        name = f"{inner}{path.name}" if path.name != "__init__.py" else inner
        if owner is None or not (
            f"`{name}`" in folders[owner] or f"`{path.name}`" in folders[owner]
        ):
            missing.append(str(relative))
    assert not missing, f"docs/architecture.md does not place: {', '.join(missing)}"
