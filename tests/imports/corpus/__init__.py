"""A corpus of small PyTorch models written the way people write them, for the model importer's
tests. Each file beside this one holds plain torch code (no studio imports) defining one model
class; CORPUS names, for each, the file, the class, its constructor arguments and the shape of
one sample (no batch axis). `tokens` marks models whose input is integer token ids in
[0, args["vocab_size"]). `expected` is "exact" where a graph importer that maps torch.nn modules,
functional calls, `+` / `*` / `torch.cat` merges and LSTM/GRU tuple unpacking should reproduce the
model, or else a short reason it honestly cannot."""

from __future__ import annotations

import pathlib
from typing import NamedTuple

HERE = pathlib.Path(__file__).resolve().parent


class Entry(NamedTuple):
    name: str
    file: str
    symbol: str
    input_shape: tuple[int, ...]
    args: dict
    tokens: bool
    expected: str


CORPUS: list[Entry] = [
    Entry("lenet", "lenet.py", "LeNet", (1, 32, 32), {"num_classes": 10}, False, "exact"),
    Entry("resnet", "resnet_block.py", "SmallResNet", (3, 32, 32), {"width": 8}, False, "exact"),
    Entry("inception", "inception.py", "MiniInception", (3, 32, 32), {}, False, "exact"),
    Entry("unet", "unet.py", "TinyUNet", (3, 32, 32), {"n_classes": 2}, False, "exact"),
    Entry(
        "lstm_text",
        "lstm_text.py",
        "LSTMClassifier",
        (12,),
        {"vocab_size": 100, "embed_dim": 16, "hidden": 32, "num_classes": 4},
        True,
        "exact",
    ),
    Entry("gru_text", "gru_text.py", "GRUClassifier", (12,), {"vocab_size": 100}, True, "exact"),
    Entry(
        "transformer_text",
        "transformer_text.py",
        "TransformerClassifier",
        (16,),
        {"vocab_size": 100, "d_model": 32, "nhead": 4},
        True,
        "exact",
    ),
    Entry("mobilenet", "mobilenet_block.py", "TinyMobileNet", (3, 32, 32), {}, False, "exact"),
    Entry("mlp", "mlp.py", "MLP", (20,), {"in_features": 20, "num_classes": 3}, False, "exact"),
    Entry("vgg", "vgg_style.py", "MiniVGG", (3, 32, 32), {"num_classes": 10}, False, "exact"),
    Entry("senet", "se_block.py", "SENet", (3, 32, 32), {}, False, "exact"),
    Entry("autoencoder", "autoencoder.py", "ConvAutoencoder", (1, 28, 28), {}, False, "exact"),
    Entry("densenet", "densenet_block.py", "TinyDenseNet", (3, 32, 32), {}, False, "exact"),
    Entry("mixer", "gelu_layernorm_mlp.py", "MixerStyle", (8, 16), {"dim": 16}, False, "exact"),
    Entry(
        "permute",
        "unsupported_permute.py",
        "PermuteConvNet",
        (8, 16),
        {"in_features": 16},
        False,
        "permute",
    ),
    Entry(
        "shared",
        "unsupported_shared.py",
        "SharedWeightMLP",
        (20,),
        {},
        False,
        "shared weights",
    ),
]


def path(entry: Entry) -> pathlib.Path:
    """The model file an entry names, in this folder."""
    return HERE / entry.file
