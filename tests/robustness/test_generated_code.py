"""Strings a user wrote never become code: the Python export writes the project's name, class
labels, column names and file names as literals, so a name built to break out of a docstring or
a string (quotes, triple quotes, backslashes, newlines, non-BMP characters) runs nothing, neither
when the studio checks the export nor when someone runs the script later."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

from studio.cli.main import main
from tests.conftest import train_once

# Each tries to end the string or docstring it is spliced into and run its own line.
HOSTILE = [
    'A""" \'\'\'\nimport os; os.system("touch {marker}")\nclass Model(object):  #',
    "b'''\\\nopen('{marker}', 'w')#",
    'c"\\"); open("{marker}", "w")  # \U0001f600',
    "d\n__import__('pathlib').Path('{marker}').touch()\n",
]


def test_hostile_names_labels_columns_and_file_names_stay_data(tmp_path, capsys):
    marker = tmp_path / "ran"
    hostile = [text.format(marker=marker) for text in HOSTILE]
    with open(tmp_path / "table.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([hostile[1], hostile[2], "label"])  # column names
        for i in range(60):
            writer.writerow([i % 7, (i * 3) % 5, hostile[i % 3]])  # class labels
    project = {
        "studio": 1,
        "name": hostile[0],
        "data": {"source": "csv", "options": {"path": "table.csv", "target": "label"}},
        "model": {"layers": [{"type": "Linear", "args": {"out_features": 3}}]},
        "training": {"epochs": 1},
    }
    run = train_once(project, tmp_path / "runs", base_dir=tmp_path)
    script = tmp_path / f'{hostile[3].strip()[:12]}\'"""x.py'.replace("/", "_").replace("\n", "_")
    assert main(["export", str(run), "--format", "python", "-o", str(script), "--json"]) == 0
    capsys.readouterr()
    assert not marker.exists()  # the export ran its own check of the script: nothing ran
    probe = (
        "import importlib.util, json, sys\n"
        "spec = importlib.util.spec_from_file_location('exported', sys.argv[1])\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(json.dumps({'project': module.PROJECT, 'classes': module.CLASSES,\n"
        "                  'columns': [c['name'] for c in module.COLUMNS]}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["project"] == hostile[0]  # the very text, as a value
    assert sorted(seen["classes"]) == sorted(hostile[:3])
    assert seen["columns"] == [hostile[1], hostile[2]]
    ran = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr  # `python model.py`, as a user would run it later
    assert not marker.exists()
