"""The fast data path and downloads with progress and cancel."""

from __future__ import annotations

import hashlib
import http.server
import threading
from functools import partial

import pytest
import torch

from studio.core.data import load_dataset
from studio.core.data.batches import Batches, make_generator
from studio.core.data.context import Cancelled, LoadContext
from studio.core.data.vision import fetch
from studio.core.project.spec import Component, DataSpec


def test_an_epoch_of_batches_covers_every_sample_once_shuffled_by_the_seed():
    data = load_dataset(DataSpec("digits"))
    index = torch.arange(len(data.train))
    data.train.y = index  # label each sample by its position to see which ones a batch holds
    batches = Batches(
        data,
        data.train,
        batch_size=64,
        shuffle=True,
        generator=make_generator(0, torch.device("cpu")),
    )
    seen = torch.cat([y for _, y in batches])
    assert len(batches) == -(-len(index) // 64)
    assert torch.equal(seen.sort().values, index) and not torch.equal(seen, index)
    again = torch.cat(
        [y for _, y in Batches(data, data.train, 64, True, make_generator(0, torch.device("cpu")))]
    )
    assert torch.equal(seen, again)


def test_batches_are_normalised_floats_with_training_statistics():
    data = load_dataset(DataSpec("digits"))
    x = torch.cat([xb for xb, _ in Batches(data, data.train, batch_size=500)])
    assert x.dtype == torch.float32 and x.shape[1:] == (1, 8, 8)
    assert x.mean().item() == pytest.approx(0, abs=1e-5) and x.std().item() == pytest.approx(
        1, abs=1e-3
    )


def test_augmentation_applies_to_the_batches_it_is_given():
    data = load_dataset(DataSpec("digits"))
    plain = next(iter(Batches(data, data.train, batch_size=32)))[0]
    flip = [Component("RandomHorizontalFlip", {"p": 1.0})]
    flipped = next(iter(Batches(data, data.train, batch_size=32, augment=flip)))[0]
    assert torch.allclose(flipped, plain.flip(-1))


def test_token_batches_stay_integer_ids():
    data = load_dataset(DataSpec("sequences", options={"samples": 100}))
    xb, yb = next(iter(Batches(data, data.train, batch_size=16)))
    assert xb.dtype == torch.long and xb.shape == (16, 20) and yb.dtype == torch.long


@pytest.fixture
def file_server(tmp_path):
    """A loopback HTTP server for a folder: downloads without the internet."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_download_reports_progress_and_checks_the_checksum(file_server, tmp_path_factory):
    folder, url = file_server
    payload = bytes(range(256)) * 1000
    (folder / "archive.bin").write_bytes(payload)
    target = tmp_path_factory.mktemp("dl") / "archive.bin"
    seen = []
    context = LoadContext(progress=lambda what, done, total: seen.append((done, total)))
    fetch(f"{url}/archive.bin", target, hashlib.md5(payload).hexdigest(), context)
    assert target.read_bytes() == payload
    assert seen[-1] == (len(payload), len(payload)) and len(seen) > 2

    wrong = target.with_name("wrong.bin")
    with pytest.raises(ValueError, match="checksum"):
        fetch(f"{url}/archive.bin", wrong, "0" * 32, LoadContext())
    assert list(wrong.parent.iterdir()) == [target]


def test_download_can_be_cancelled_and_leaves_nothing(file_server, tmp_path_factory):
    folder, url = file_server
    (folder / "big.bin").write_bytes(b"x" * 1_000_000)
    target = tmp_path_factory.mktemp("dl") / "big.bin"
    calls = []
    context = LoadContext(progress=lambda *a: calls.append(a), cancelled=lambda: len(calls) > 3)
    with pytest.raises(Cancelled):
        fetch(f"{url}/big.bin", target, None, context)
    assert list(target.parent.iterdir()) == []
