"""Damaged and hostile files: truncated or bit-flipped checkpoints and safetensors, and a .pt
whose pickle would run code. Each is refused with one clear line; nothing is executed."""

from __future__ import annotations

import json
import random
import shutil

import pytest
import torch

from studio.cli.main import main
from studio.core.errors import StudioError
from studio.core.use.trained import load_trained

FLIPS = 40
CUTS = 12


class _WouldRunCode:
    """Unpickling this with weights_only=False would create `marker`: the attack, made harmless."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _one_line_refusal(capsys, argv, needle: str = "") -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert needle in err, err
    return err


def test_a_pickle_that_would_run_code_is_refused_everywhere(digits_run, tmp_path, capsys):
    marker = tmp_path / "owned"
    project = json.loads((digits_run / "project.json").read_text())
    evil = tmp_path / "evil.pt"
    torch.save({"model": _WouldRunCode(marker), "project": project}, evil)
    for argv in (
        ["evaluate", str(evil)],
        ["export", str(evil), "--format", "onnx"],
        ["predict", str(evil), "x.png"],
        ["train", str(digits_run / "project.json"), "--resume", str(evil)],
    ):
        _one_line_refusal(capsys, argv, "not a readable Torch Studio checkpoint")
    # the same pickle dressed as a state_dict export with a genuine sidecar
    export = tmp_path / "exports"
    assert (
        main(["export", str(digits_run), "--format", "state_dict", "-o", str(export / "m.pt")]) == 0
    )
    capsys.readouterr()
    torch.save({"1.weight": _WouldRunCode(marker)}, export / "m.pt")
    _one_line_refusal(
        capsys,
        ["predict", str(export / "m.pt"), "x.png"],
        "not a readable Torch Studio weights file",
    )
    assert not marker.exists()


@pytest.mark.parametrize("name", ["checkpoints/last.pt", "model.safetensors"])
def test_truncated_files_are_refused_with_one_line(digits_run, tmp_path, capsys, name):
    data = (digits_run / name).read_bytes()
    for n, cut in enumerate(
        sorted({0, 1, 8, 64, *random.Random(0).sample(range(9, len(data) - 1), CUTS - 4)})
    ):
        damaged = tmp_path / f"cut{n}{(digits_run / name).suffix}"
        damaged.write_bytes(data[:cut])
        with pytest.raises(StudioError):
            load_trained(damaged)
    _one_line_refusal(capsys, ["evaluate", str(damaged)])


@pytest.mark.parametrize("name", ["checkpoints/last.pt", "model.safetensors"])
def test_every_bit_flip_is_refused_in_one_line(digits_run, tmp_path, name):
    """Neither torch's zip nor safetensors checks its data, so the studio seals what it writes
    (integrity.py): a flip anywhere, tensor bytes included, is refused as a StudioError."""
    data = bytearray((digits_run / name).read_bytes())
    rng = random.Random(1)
    messages = []
    for n in range(FLIPS):
        flipped = bytearray(data)
        position = rng.randrange(len(flipped))
        flipped[position] ^= 1 << rng.randrange(8)
        path = tmp_path / f"flip{n}{(digits_run / name).suffix}"
        path.write_bytes(bytes(flipped))
        with pytest.raises(StudioError) as refused:
            load_trained(path)
        messages.append(str(refused.value))
    assert all("\n" not in m and str(tmp_path) in m for m in messages)
    mismatches = sum("is damaged: checksum mismatch" in m for m in messages)
    assert mismatches >= FLIPS // 2  # most flips land in tensor bytes, which only the seal sees
    print(f"{name}: {FLIPS} single-bit flips, {FLIPS} refused ({mismatches} by the checksum)")


def test_a_safetensors_header_claiming_terabytes_is_refused(digits_run, tmp_path, capsys):
    path = tmp_path / "huge.safetensors"
    path.write_bytes((2**62).to_bytes(8, "little") + b"{}")
    _one_line_refusal(capsys, ["evaluate", str(path)], "not a readable safetensors file")
    text = tmp_path / "notes.safetensors"
    text.write_text("hello")
    _one_line_refusal(capsys, ["evaluate", str(text)], "not a readable safetensors file")


def test_damaged_exports_are_refused_by_predict(digits_run, tmp_path, capsys):
    for fmt, ext in (("onnx", ".onnx"), ("pt2", ".pt2")):
        out = tmp_path / f"m{ext}"
        assert main(["export", str(digits_run), "--format", fmt, "-o", str(out)]) == 0
        capsys.readouterr()
        out.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
        _one_line_refusal(capsys, ["predict", str(out), "x.png"], f"not a readable {fmt} file")


def test_a_run_directory_with_its_checkpoints_damaged_is_refused(digits_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    for name in ("best.pt", "last.pt"):
        (run / "checkpoints" / name).write_bytes(b"PK\x03\x04 not really a zip")
    _one_line_refusal(capsys, ["evaluate", str(run)], "best.pt")


def test_an_export_never_changes_the_process_umask(digits_run, tmp_path, capsys):
    """Files other threads create while an export runs keep the umask's mode (the export once
    set the umask to 0 for a moment to read it), and the exported files get it too."""
    import os
    import threading

    old = os.umask(0o022)
    made, done = tmp_path / "others", threading.Event()
    made.mkdir()

    def create() -> None:
        n = 0
        while not done.is_set():
            os.close(os.open(made / f"f{n}", os.O_CREAT | os.O_WRONLY, 0o666))
            n += 1

    other = threading.Thread(target=create)
    other.start()
    try:
        for n in range(3):
            out = tmp_path / f"model{n}.safetensors"
            assert main(["export", str(digits_run), "-f", "safetensors", "-o", str(out)]) == 0
    finally:
        done.set()
        other.join()
        os.umask(old)
    capsys.readouterr()
    modes = {path.stat().st_mode & 0o777 for path in made.iterdir()}
    assert modes == {0o644}, sorted(oct(m) for m in modes)
    assert (tmp_path / "model0.safetensors").stat().st_mode & 0o777 == 0o644


def _rezip(path, change) -> None:
    """Rewrite a zip archive, entry by entry: `change(name, data)` gives the new bytes (or None to
    leave the entry out); entries it returns under `extra` are added."""
    import io
    import zipfile

    with zipfile.ZipFile(path) as archive:
        entries = [(info.filename, archive.read(info)) for info in archive.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in change(entries):
            archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())


@pytest.mark.parametrize("attack", ["pickled weight", "pickled sample inputs", "compiled code"])
def test_a_crafted_pt2_runs_nothing_and_is_refused_in_one_line(
    attack, digits_run, tmp_path, capsys
):
    import io

    marker, path = tmp_path / "ran", tmp_path / "m.pt2"
    assert main(["export", str(digits_run), "-f", "pt2", "-o", str(path)]) == 0
    capsys.readouterr()
    evil = io.BytesIO()
    torch.save((_WouldRunCode(marker),), evil)

    def change(entries):
        for name, data in entries:
            if attack == "pickled weight" and name.endswith("_weights_config.json"):
                config = json.loads(data)
                next(iter(config["config"].values()))["use_pickle"] = True
                data = json.dumps(config).encode()
            elif attack == "pickled weight" and name.endswith("data/weights/weight_0"):
                data = evil.getvalue()
            elif attack == "pickled sample inputs" and "/data/sample_inputs/" in name:
                data = evil.getvalue()  # torch retries an unloadable one as a full pickle
            yield name, data
        if attack == "compiled code":
            yield f"{entries[0][0].split('/')[0]}/data/aotinductor/model/model.so", b"\x7fELF"

    _rezip(path, change)
    err = _one_line_refusal(capsys, ["predict", str(path), "1,2,3"], "refused")
    assert not marker.exists(), err


def test_the_loader_is_chosen_by_the_file_not_by_its_sidecar(digits_run, tmp_path, capsys):
    """A torch pickle named like a program, its sidecar saying pt2: refused by what it is."""
    path = tmp_path / "m.pt"
    assert main(["export", str(digits_run), "-f", "state_dict", "-o", str(path)]) == 0
    capsys.readouterr()
    disguised = tmp_path / "m.pt2"
    shutil.copy(path, disguised)
    sidecar = json.loads(path.with_name("m.pt.json").read_text())
    sidecar["format"] = "pt2"
    disguised.with_name("m.pt2.json").write_text(json.dumps(sidecar))
    _one_line_refusal(capsys, ["predict", str(disguised), "1,2,3"], "the file is a state_dict file")


def test_metadata_naming_fewer_classes_than_the_model_scores_is_one_line(
    digits_run, tmp_path, capsys
):
    from PIL import Image

    out = tmp_path / "m.onnx"
    assert main(["export", str(digits_run), "-f", "onnx", "-o", str(out)]) == 0
    capsys.readouterr()
    sidecar = out.with_name("m.onnx.json")
    info = json.loads(sidecar.read_text())
    info["preprocessing"]["classes"] = info["preprocessing"]["classes"][:3]  # ten scores, 3 names
    sidecar.write_text(json.dumps(info))
    Image.new("L", (8, 8)).save(tmp_path / "digit.png")
    _one_line_refusal(
        capsys, ["predict", str(out), str(tmp_path / "digit.png")], "gives 10 scores but"
    )


def _resealed(source, path, data: dict, base_dir: str) -> None:
    """A copy of a studio safetensors whose project names other data, sealed again as an
    attacker would (the seal is a checksum, not a signature)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save

    from studio.core.train.checkpoint import WEIGHTS_DIGEST, weights_digest

    with safe_open(str(source), framework="pt") as handle:
        metadata = dict(handle.metadata())
    project = json.loads(metadata["project"])
    project["data"] = data
    metadata.update(project=json.dumps(project), base_dir=base_dir)
    metadata.pop(WEIGHTS_DIGEST)
    tensors = load_file(str(source))
    metadata[WEIGHTS_DIGEST] = weights_digest(tensors, metadata)
    path.write_bytes(save(tensors, metadata=metadata))


def test_data_a_model_file_names_is_never_followed(digits_run, tmp_path, capsys):
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$SECRET-HASH:19000:0:99999:7:::\n")
    chosen = tmp_path / "chosen-root"
    attacks = {
        "read": {"source": "csv", "options": {"path": str(secret), "target": "label"}},
        "download": {"source": "mnist", "options": {"root": str(chosen), "download": True}},
    }
    for name, data in attacks.items():
        evil = tmp_path / f"{name}.safetensors"
        _resealed(digits_run / "model.safetensors", evil, data, str(tmp_path))
        err = _one_line_refusal(capsys, ["evaluate", str(evil)], "--data PROJECT")
        assert "SECRET" not in err
        out = tmp_path / f"{name}-export.onnx"
        assert main(["export", str(evil), "-f", "onnx", "-o", str(out), "--json"]) == 0
        checks = json.loads(capsys.readouterr().out)["checks"]
        assert any("random input" in check for check in checks), checks
        # the user's own project says where the data is, and the model is evaluated on it
        assert main(["evaluate", str(evil), "--data", str(digits_run / "project.json")]) == 0
        assert "accuracy" in capsys.readouterr().out
    assert not chosen.exists()  # no folder made, no download tried


def test_a_compressed_entry_in_a_checkpoint_is_refused_before_it_unpacks(
    digits_run, tmp_path, capsys
):
    """A 1 MB .pt whose one tensor inflates to 256 MiB: refused from the zip's directory."""
    import zipfile

    big = tmp_path / "big.pt"
    project = json.loads((digits_run / "project.json").read_text())
    torch.save({"model": {"w": torch.zeros(2**26)}, "project": project}, big)
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(big) as source, zipfile.ZipFile(bomb, "w") as packed:
        for entry in source.infolist():
            packed.writestr(entry, source.read(entry), compress_type=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 2**20
    for argv in (["evaluate", str(bomb)], ["predict", str(bomb), "1,2"]):
        _one_line_refusal(capsys, argv, "bomb.pt: holds a compressed entry")


def test_no_loader_follows_or_runs_what_a_shared_export_holds(digits_run, tmp_path, capsys):
    """ONNX external data through a link to a private file; code in the strings of a sidecar
    and a safetensors' metadata: refused or shown as text, never read out or run."""
    import onnx
    from PIL import Image

    secret, marker = tmp_path / "shadow", tmp_path / "ran"
    secret.write_text("root:SECRET-HASH\n")
    image = tmp_path / "digit.png"
    Image.new("L", (8, 8)).save(image)
    out = tmp_path / "shared" / "m.onnx"
    assert main(["export", str(digits_run), "-f", "onnx", "-o", str(out)]) == 0
    capsys.readouterr()
    model = onnx.load(str(out))
    tensor = model.graph.initializer[0]
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="weights.bin")
    (out.parent / "weights.bin").symlink_to(secret)  # inside the folder, pointing out of it
    onnx.save(model, str(out))
    err = _one_line_refusal(capsys, ["predict", str(out), str(image)], "through a link")
    assert "SECRET" not in err
    # code in every string a sidecar carries to the screen
    payload = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    clean = tmp_path / "o.onnx"
    assert main(["export", str(digits_run), "-f", "onnx", "-o", str(clean)]) == 0
    capsys.readouterr()
    sidecar = tmp_path / "o.onnx.json"
    info = json.loads(sidecar.read_text())
    info["preprocessing"]["classes"] = [f"{payload}#{i}" for i in range(10)]
    info["project"]["name"] = payload
    sidecar.write_text(json.dumps(info))
    assert main(["predict", str(clean), str(image), "--json"]) == 0
    said = json.loads(capsys.readouterr().out)["predictions"][0]
    assert said["top"][0]["class"].startswith(payload)  # shown as the text it is
    # and in a safetensors' metadata, naming its data
    evil = tmp_path / "t.safetensors"
    _resealed(digits_run / "model.safetensors", evil, {"source": payload}, payload)
    _one_line_refusal(capsys, ["evaluate", str(evil)], "unknown dataset")  # read as a name
    assert not marker.exists()
