"""The command line as users and scripts call it (docs/cli.md): output, JSON contracts, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from studio import __version__
from studio.cli.main import main
from tests.conftest import EXAMPLES, minimal_project


def studio(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=120
    )


def test_version_and_help_as_a_process():
    result = studio("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"Torch Studio {__version__}"
    result = studio("summary", "--help")
    assert result.returncode == 0 and "--json" in result.stdout


def test_summary_json_as_a_process():
    lenet = next(p for p in EXAMPLES if p.name == "mnist-lenet.json")
    result = studio("summary", str(lenet), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["input_shape"] == [1, 28, 28]
    assert [layer["output_shape"] for layer in data["layers"]][-1] == [10]
    assert data["total_params"] == 61706
    assert {"index", "path", "type", "output_shape", "params", "flops"} <= set(data["layers"][0])


def test_bad_layer_exits_2_with_one_line_naming_layer_shape_and_fix(write_project):
    file = write_project(
        minimal_project(
            [
                {"type": "Flatten"},
                {"type": "Linear", "args": {"in_features": 10, "out_features": 3}},
            ]
        )
    )
    result = studio("summary", str(file))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "layer 1 (Linear) received [64]" in lines[0]
    assert "set in_features to 64" in lines[0]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{", "not valid JSON"),
        (
            json.dumps(minimal_project([{"type": "Conv9d"}])),
            "model.layers[0].type: unknown layer 'Conv9d'",
        ),
        (json.dumps({**minimal_project([]), "studio": 7}), "newer Torch Studio"),
    ],
)
def test_bad_project_exits_2_with_one_line(content, expected, write_project, capsys):
    file = write_project(content)
    assert main(["summary", str(file)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and str(file) in err


def test_missing_file_exits_2(tmp_path, capsys):
    assert main(["summary", str(tmp_path / "none.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_summary_table_shows_every_layer_and_totals(capsys):
    resnet = next(p for p in EXAMPLES if p.name == "cifar-resnet.json")
    assert main(["summary", str(resnet)]) == 0
    out = capsys.readouterr().out
    assert "6.branches.1.0" in out and "Residual" in out
    assert "Total params: 30,442" in out
    assert "Output: [10]" in out


def test_layers_lists_the_catalogue_by_category(capsys):
    assert main(["layers"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Convolution Layers\n")
    assert "TransformerEncoderLayer" in out and "in_features=auto" in out


def test_layers_json_gives_parameters_with_defaults(capsys):
    assert main(["layers", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_type = {layer["type"]: layer for c in data["categories"] for layer in c["layers"]}
    conv = {p["name"]: p for p in by_type["Conv2d"]["params"]}
    assert conv["stride"] == {
        "name": "stride",
        "kind": "ints",
        "default": 1,
        "required": False,
        "arity": 2,
    }
    assert conv["in_channels"]["inferred"] == "channels"
    assert by_type["Linear"]["doc"].startswith("Applies an affine linear transformation")
    assert {o["type"] for o in data["optimizers"]} >= {"SGD", "Adam", "AdamW"}
    assert [c["name"] for c in data["categories"]][0] == "Convolution Layers"


def test_datasets_lists_every_source_with_offline_availability(capsys):
    assert main(["datasets", "--json"]) == 0
    sources = {s["id"]: s for s in json.loads(capsys.readouterr().out)["sources"]}
    assert {
        "digits",
        "mnist",
        "fashion_mnist",
        "kmnist",
        "cifar10",
        "cifar100",
        "svhn",
        "image_folder",
        "csv",
        "spirals",
        "moons",
        "circles",
        "blobs",
        "sequences",
    } <= set(sources)
    assert sources["digits"]["offline"] is True and sources["mnist"]["offline"] is False
    assert [o["name"] for o in sources["mnist"]["options"]] == ["root", "download"]
    assert main(["datasets"]) == 0
    assert "digits" in capsys.readouterr().out


def test_summary_takes_the_input_shape_from_the_dataset(write_project, capsys):
    project = minimal_project(
        [{"type": "Flatten"}, {"type": "Linear", "args": {"out_features": 10}}]
    )
    del project["model"]["input_shape"]
    assert main(["summary", str(write_project(project)), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["input_shape"] == [1, 8, 8] and data["layers"][0]["output_shape"] == [64]


def test_summary_with_a_broken_dataset_exits_2_naming_the_file(write_project, tmp_path, capsys):
    (tmp_path / "table.csv").write_text("a,b\n1,0\n7,1,5\n")
    project = minimal_project([{"type": "Linear", "args": {"out_features": 2}}])
    project["data"] = {"source": "csv", "options": {"path": "table.csv"}}
    del project["model"]["input_shape"]
    assert main(["summary", str(write_project(project))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "table.csv: row 3 has 3 values, the header has 2" in err


def test_unknown_dataset_option_is_a_project_error(write_project, capsys):
    project = minimal_project([{"type": "ReLU"}])
    project["data"] = {"source": "mnist", "options": {"rot": "data"}}
    assert main(["summary", str(write_project(project))]) == 2
    assert "data.options.rot" in capsys.readouterr().err


def _without_display() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }


def test_a_mistyped_command_is_one_line_listing_the_commands_not_the_window():
    result = subprocess.run(
        [sys.executable, "-m", "studio", "frobnicate", "x.json"],
        capture_output=True, text=True, timeout=60, env=_without_display(),
    )  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert (
        "unknown command 'frobnicate'" in result.stderr
        and "train, evaluate, export" in result.stderr
    )
    result = subprocess.run(
        [sys.executable, "-m", "studio", "nowhere.json"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "no such project file 'nowhere.json'" in result.stderr


def test_without_a_display_the_window_says_so_and_names_the_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "studio"],
        capture_output=True,
        text=True,
        timeout=60,
        env=_without_display(),
    )
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "no display" in result.stderr and "studio train PROJECT" in result.stderr


def test_an_existing_project_file_still_opens_the_window(tmp_path):
    project = tmp_path / "p.json"
    project.write_text(
        json.dumps(
            minimal_project([{"type": "Flatten"}, {"type": "Linear", "args": {"out_features": 10}}])
        )
    )
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "STUDIO_AUTOSAVE": str(tmp_path / "a.json"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "studio", str(project), "--smoke"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-1000:]


def test_devices_count_threads_in_words(capsys):
    assert main(["devices"]) == 0
    cpu = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("cpu"))
    assert "1 threads" not in cpu and (" thread" in cpu)


def test_a_step_slower_than_a_second_is_shown_in_seconds_per_step():
    from studio.cli.train import speed

    assert speed(0.25) == "4.0 s/step" and speed(12.4) == "12 steps/s" and speed(0) == "-- steps/s"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            {"data": {"source": "spirals", "options": {"samples": 100_000_000_000}}},
            "data.options.samples",
        ),
        (
            {"data": {"source": "image_folder", "options": {"path": "x", "size": [60000, 60000]}}},
            "data.options.size",
        ),
        (
            {
                "data": {
                    "source": "sequences",
                    "options": {"samples": 10_000_000, "length": 100_000},
                }
            },
            "would not fit in memory",
        ),
        ({"model": {"layers": [{"type": "ReLU"}] * 20_000}}, "a stack holds at most 10,000"),
    ],
    ids=["1e11 samples", "60000-pixel images", "1e12 tokens", "20000 layers"],
)
def test_what_cannot_fit_is_one_line_before_anything_is_allocated(
    change, where, write_project, capsys
):
    project = minimal_project(
        [{"type": "Flatten"}, {"type": "Linear", "args": {"out_features": 2}}]
    )
    project.update(change)
    command = "datasets" if "data" in change else "summary"
    assert main([command, str(write_project(project))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and where in err and "Traceback" not in err, err
