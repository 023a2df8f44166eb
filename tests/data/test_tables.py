"""Tables as people have them: strings, blanks and NA cells, identifiers, other delimiters, a BOM,
quoted commas, Windows line ends. Real files written here, read through the `csv` source."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from studio.cli.main import main
from studio.core.data import load_dataset
from studio.core.data.table_encoding import MISSING, OTHER, encode_row
from studio.core.data.tabular import read_header, read_table
from studio.core.errors import DataError
from studio.core.project.spec import DataSpec
from tests.datafiles import PENGUIN_HEADER, write_penguins


def table(path, val_fraction: float = 0.2, **options):
    return load_dataset(
        DataSpec("csv", options={"path": str(path), **options}, val_fraction=val_fraction)
    )


def types(dataset) -> dict[str, str]:
    return {row["name"]: row["type"] for row in dataset.table.describe()}


def test_the_penguin_table_loads_with_each_column_typed(tmp_path):
    data = table(write_penguins(tmp_path / "penguins.csv"), target="species")
    assert data.task == "classification" and data.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert types(data) == {
        "island": "category", "bill_length_mm": "number", "bill_depth_mm": "number",
        "flipper_length_mm": "number", "body_mass_g": "number", "sex": "category",
        "year": "number", "species": "target",
    }  # fmt: skip
    # island: 3 values + other; sex: 2 values + other + missing; 5 numbers
    assert data.input_shape == [4 + 4 + 5] == [data.table.width]
    assert data.table.columns[5].categories == ["female", "male", OTHER, MISSING]
    assert not torch.isnan(data.train.x).any() and not torch.isnan(data.val.x).any()
    (note,) = [n for n in data.notes if "missing cells" in n]
    filled = sum(int(part.split()[-1]) for part in note.split("(")[1].split(")")[0].split(", "))
    assert note.startswith(f"{filled} missing cells in the training rows filled") and filled > 20


def test_missing_numbers_get_the_training_median_and_blanks_their_own_category(tmp_path):
    rows = ["x,colour,y"] + [f"{i},{'red' if i % 2 else 'blue'},{i % 2}" for i in range(30)]
    rows[5] = ",,0"  # row 5: both cells blank
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    data = table(path)
    x_column, colour = data.table.columns
    train_x = [float(v) for v in data.train.x[:, 0]]
    assert x_column.median == pytest.approx(
        float(np.median([v for v in train_x if v != x_column.median])), abs=1
    )
    assert colour.categories == ["blue", "red", OTHER, MISSING]
    encoded = data.table.encode(read_table(path, ","))
    assert encoded[4].tolist() == [x_column.median, 0, 0, 0, 1]  # file row 5: median, "(missing)"


def test_missing_values_can_drop_their_rows_instead(tmp_path):
    path = write_penguins(tmp_path / "penguins.csv")
    kept = table(path, target="species", missing="drop")
    everything = table(path, target="species")
    dropped = len(everything.train) + len(everything.val) - len(kept.train) - len(kept.val)
    assert dropped > 0 and f"{dropped} row(s) with a missing value dropped" in kept.notes
    assert MISSING not in kept.table.columns[5].categories


def test_a_row_without_a_target_is_dropped_and_counted(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "\n".join(f"{i},{i % 2}" for i in range(20)) + "\n7,\n8,NA\n")
    data = table(path)
    assert len(data.train) + len(data.val) == 20 and "2 row(s) without a b dropped" in data.notes


def test_an_identifier_column_is_ignored_with_a_note_and_the_user_can_retype_columns(tmp_path):
    rows = ["id,name,zip,year,size,label"]
    for i in range(60):
        rows.append(
            f"{1000 + i},bird{i},{[2134, 2139, 10001][i % 3]},{2000 + i % 5},{i * 0.37:.2f},{i % 2}"
        )
    path = tmp_path / "t.csv"
    path.write_text("\n".join(rows) + "\n")
    auto = table(path)
    assert types(auto) == {"id": "ignore", "name": "ignore", "zip": "number", "year": "number",
                           "size": "number", "label": "target"}  # fmt: skip
    assert (
        "identifier" in auto.table.columns[0].note
        and "every value distinct" in auto.table.columns[1].note
    )
    assert any("'id'" in note and "identifier" in note for note in auto.notes)
    chosen = table(path, columns={"zip": "category", "year": "ignore", "id": "number"})
    assert types(chosen)["zip"] == "category" and types(chosen)["year"] == "ignore"
    assert chosen.table.columns[2].categories == ["10001", "2134", "2139", OTHER]
    assert chosen.input_shape == [1 + 4 + 1]  # id, zip's 4 slots, size
    with pytest.raises(DataError, match="options.columns names no column colour"):
        table(path, columns={"colour": "ignore"})


def test_a_value_training_never_saw_goes_to_the_other_slot(tmp_path):
    data = table(write_penguins(tmp_path / "penguins.csv"), target="species")
    new = tmp_path / "new.csv"
    new.write_text("island,bill_length_mm,sex\nAtlantis,40.1,\nDream,NA,female\n")
    encoded = data.table.encode(read_table(new, ","))
    island, bill, depth, flipper, mass, sex, year = data.table.columns
    assert island.categories == ["Biscoe", "Dream", "Torgersen", OTHER]
    assert encoded[0, :4].tolist() == [0, 0, 0, 1] and encoded[1, :4].tolist() == [0, 1, 0, 0]
    assert encoded[:, 4].tolist() == pytest.approx([40.1, bill.median])  # NA: the training median
    absent = [depth.median, flipper.median, mass.median]  # columns the file does not have
    assert encoded[0, 5:8].tolist() == pytest.approx(absent) and encoded[0, 12] == year.median
    assert encoded[0, 8:12].tolist() == [0, 0, 0, 1]  # a blank sex: "(missing)"
    assert encoded[1, 8:12].tolist() == [1, 0, 0, 0]  # female


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("tabs.tsv", "a\tb\tlabel\n1\tx\t0\n2\ty\t1\n3\tx\t0\n"),
        ("semi.csv", "a;b;label\n1;x;0\n2;y;1\n3;x;0\n"),
        ("bom.csv", "\ufeffa,b,label\n1,x,0\n2,y,1\n3,x,0\n"),
        ("crlf.csv", "a,b,label\r\n1,x,0\r\n2,y,1\r\n3,x,0\r\n"),
        ("quoted.csv", 'a,b,label\n1,"x, the first",0\n2,"y",1\n3,"x, the first",0\n'),
    ],
)
def test_delimiters_bom_quotes_and_windows_line_ends(name, text, tmp_path):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    data = table(path, val_fraction=0)
    assert [c.name for c in data.table.columns] == ["a", "b"] and data.table.target == "label"
    assert data.table.columns[1].type == "category" and len(data.table.columns[1].categories) == 3
    assert data.classes == ["0", "1"]


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        ("", {}, "empty"),
        ("a,b\n", {}, "has a header \\(a, b\\) but no data rows"),
        ("a,b\n1,0\n", {"target": "c"}, "no column 'c' \\(columns: a, b\\)"),
        ("a,b\n1,0\n2,1,5\n", {}, "row 3 has 3 values, the header has 2"),
        ("a,b\nNA,\n,NA\n", {}, "column 'b' \\(the target\\) has no values"),
    ],
)
def test_unusable_tables_give_one_clear_line(content, options, message, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=f"{path}: {message}"):
        table(path, **options)


def test_the_script_encoder_matches_the_studio_on_messy_rows(tmp_path):
    """What an exported Python script does to raw rows (plain Python) equals what training does."""
    path = write_penguins(tmp_path / "penguins.csv")
    data = table(path, target="species")
    messy = tmp_path / "messy.csv"
    messy.write_text(
        ",".join(PENGUIN_HEADER) + "\n"
        "Adelie, Dream ,39.0,NA,181,3750,male,2007\n"
        ",Atlantis,,18,?,,,2008\n"
        "Gentoo,Biscoe,50.5,15.1,230.0,5000,female,2009.0\n"
        "Adelie,Torgersen,inf,17,190,not measured,Male,2007\n"
    )
    _, delimiter = read_header(messy)
    studio = data.table.encode(read_table(messy, delimiter))
    with open(messy, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns = data.table.to_json()["columns"]
    script = np.array([encode_row(columns, row) for row in rows], dtype=np.float32)
    assert np.array_equal(studio, script)


def test_datasets_and_summary_say_the_column_types_in_words(tmp_path, write_project, capsys):
    write_penguins(tmp_path / "penguins.csv")
    project = {
        "studio": 1, "name": "penguins",
        "data": {"source": "csv", "options": {"path": "penguins.csv", "target": "species",
                                              "columns": {"year": "ignore"}}},
        "model": {"layers": [{"type": "Linear", "args": {"out_features": 3}}]},
    }  # fmt: skip
    path = write_project(project)
    assert main(["datasets", str(path)]) == 0
    out = capsys.readouterr().out
    assert "columns (12 features from 7 columns):" in out
    assert "  island " in out and " category " in out and "(other)" in out
    assert "  year " in out and " ignored " in out and "ignored (options.columns)" in out
    assert "  species " in out and " target " in out
    assert main(["summary", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["input_shape"] == [12]
    assert {c["name"]: c["type"] for c in summary["columns"]}["sex"] == "category"
    assert main(["summary", str(path)]) == 0
    assert "penguins: one sample of shape [12]" in capsys.readouterr().out
