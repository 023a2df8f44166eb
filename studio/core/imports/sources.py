"""What `studio import` reads: a class or factory in a Python file (`model.py:Name`), an ONNX file
(through onnx2torch) or a torch.export program (`.pt2`, through ONNX too), and weights for it (a
state dict, read weights-only). Each becomes one `Source`: the module and what its input is."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from studio.core.errors import ImportFailed
from studio.core.imports import onnx_files

_PICKLED = (".pt", ".pth", ".pkl", ".ckpt", ".bin")


@dataclass
class Source:
    """A model to import: the module, its input shape (one sample's), whether it takes token ids
    (and how many different ones), and what it was read from, in words."""

    module: nn.Module
    input_shape: list[int] | None
    kind: str  # "python", "onnx", "pt2"
    label: str
    vocabulary: int | None = None  # token models: ids are below this
    batch: int | None = None  # a graph made for one batch size only (an ONNX file's static one)
    loaded: list[str] = field(default_factory=list)  # the code's own modules in sys.modules

    def forget(self) -> None:
        """Take the code's modules out of sys.modules (the model keeps working)."""
        for name in self.loaded:
            sys.modules.pop(name, None)

    def sample(self, batch: int = 2, seed: int = 0) -> torch.Tensor:
        if self.input_shape is not None and not all(n > 0 for n in self.input_shape):
            raise ImportFailed(f"--input-shape: positive sizes, got {self.input_shape}")
        if self.input_shape is None:
            raise ImportFailed(
                f"{self.label}: the input shape cannot be read from it: give --input-shape, "
                "e.g. --input-shape 3 32 32"
            )
        generator = torch.Generator().manual_seed(seed)
        shape = (self.batch or batch, *self.input_shape)
        if self.vocabulary:
            return torch.randint(0, self.vocabulary, shape, generator=generator)
        return torch.randn(shape, generator=generator)


def code_line(exc: Exception) -> str:
    """at file:line (the line), of the innermost frame outside torch, where there is one."""
    import traceback

    from studio.core.imports.graph import TORCH_DIR

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if TORCH_DIR not in f.filename]
    frames = [f for f in frames if Path(f.filename).parts[-4:-2] != ("studio", "core")]
    if not frames:
        return ""
    frame = frames[-1]
    return f" at {frame.filename}:{frame.lineno} ({(frame.line or '').strip()})"


def error_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def split_source(source: str) -> tuple[str, str]:
    """SOURCE as (file, symbol): "models/net.py:Net" -> ("models/net.py", "Net"); a file without
    a symbol (an ONNX file, or a Python file not yet told which) has symbol "". The suffix is
    read case-insensitively (NET.PY:Net)."""
    head, colon, symbol = source.rpartition(":")
    if colon and head.lower().endswith(".py") and symbol.isidentifier():
        return head, symbol
    return source, ""


def source_name(source: str) -> str:
    """What an imported project is named after: the class's or function's name, else the file's."""
    path, symbol = split_source(source)
    return symbol or Path(path).stem


def read_source(
    source: str, input_shape: list[int] | None = None, args: str | None = None
) -> Source:
    """The model SOURCE names: `path.py:Name`, `model.onnx` or `program.pt2`."""
    path_text, symbol = split_source(source)
    path = Path(path_text)
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".py":
        loaded: list[str] = []
        module = _python_model(path, symbol, _keywords(args), loaded)
        found = Source(module, input_shape, "python", f"{path}:{symbol}", loaded=loaded)
        found.vocabulary = _vocabulary(module)
        return found
    if suffix in (".onnx", ".pt2"):
        graph = onnx_files.read_onnx(path) if suffix == ".onnx" else onnx_files.read_pt2(path)
        return Source(
            graph.module, input_shape or graph.shape, suffix[1:], str(path), graph.vocabulary,
            graph.batch,
        )  # fmt: skip
    if suffix in _PICKLED or suffix == ".safetensors":
        raise ImportFailed(
            f"{path}: weights alone have no architecture: give the model's code "
            f"(model.py:Name) and these weights with --weights"
        )
    raise ImportFailed(f"{path}: import reads model.py:Name, .onnx or .pt2 files")


def _keywords(args: str | None) -> dict[str, Any]:
    if not args:
        return {}
    try:
        value = json.loads(args)
    except json.JSONDecodeError as exc:
        raise ImportFailed(
            f"--args: not JSON ({exc.msg}): give an object, e.g. '{{\"width\": 8}}'"
        ) from None
    if not isinstance(value, dict):
        raise ImportFailed("--args: give a JSON object of keyword arguments")
    return value


def _python_model(
    path: Path, symbol: str, keywords: dict[str, Any], loaded: list[str]
) -> nn.Module:
    """Run the file (the user's own code) and call `symbol` with the keyword arguments; the
    modules it loaded from its own folder go into `loaded` (to forget once the import is done,
    so a later import reads them afresh)."""
    if not symbol:
        raise ImportFailed(f"{path}: say which class or function builds the model: {path}:Name")
    name = f"_studio_import_{uuid.uuid4().hex}"
    loader = importlib.machinery.SourceFileLoader(name, str(path))  # NET.PY too
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    code = importlib.util.module_from_spec(spec)
    sys.modules[name] = code  # dataclasses and inspect.getsource look their module up
    sys.path.insert(0, str(path.parent.resolve()))
    before = set(sys.modules)
    try:
        spec.loader.exec_module(code)
        maker = getattr(code, symbol, None)
        if maker is None or not callable(maker):
            found = sorted(
                k
                for k, v in vars(code).items()
                if isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == name
            )
            raise ImportFailed(
                f"{path}: no class or function {symbol}"
                + (f" (there is {', '.join(found)})" if found else "")
            )
        model = maker(**keywords)
    except ImportFailed:
        raise
    except (Exception, SystemExit) as exc:  # the user's code failing (or exiting): in one line
        raise ImportFailed(f"{path}:{symbol}: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(str(path.parent.resolve()))
        loaded.extend([name, *_own_modules(set(sys.modules) - before, path.parent)])
    if not isinstance(model, nn.Module):
        raise ImportFailed(f"{path}:{symbol} gave a {type(model).__name__}, not a torch nn.Module")
    return model


def _own_modules(names: set[str], folder: Path) -> list[str]:
    """The modules among `names` whose files are in `folder` or below it."""
    folder = folder.resolve()
    own = []
    for name in names:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file and Path(file).resolve().is_relative_to(folder):
            own.append(name)
    return own


def _vocabulary(module: nn.Module) -> int | None:
    """Token ids the model takes: what its input goes to first is an Embedding (rows: the ids),
    read from its graph; where it cannot be traced, its first module."""
    from torch import fx

    embeddings = (nn.Embedding, nn.EmbeddingBag)
    try:
        graph = fx.symbolic_trace(module).graph
    except Exception:  # traced properly later, where the failure is reported
        first = next((m for m in module.modules() if not list(m.children())), None)
        return first.num_embeddings if isinstance(first, embeddings) else None
    pending = [n for n in graph.nodes if n.op == "placeholder"][:1]
    while pending:
        node = pending.pop(0)
        for user in node.users:
            if user.op == "call_module":
                taker = module.get_submodule(str(user.target))
                if isinstance(taker, embeddings):
                    return taker.num_embeddings
            elif user.op == "call_method" and user.target in ("long", "int", "to", "type"):
                pending.append(user)
    return None


def load_weights(module: nn.Module, weights: Path) -> None:
    """A state dict (`.pt`/`.pth` read weights-only, `.safetensors`) into the source model."""
    from studio.core.errors import WeightsError
    from studio.core.model.backbones import read_state_dict

    try:
        state = read_state_dict(weights)
    except WeightsError as exc:
        text = str(exc).lower()
        if "weights only" in text or "global" in text:
            raise ImportFailed(
                f"{weights}: a whole pickled model, which the studio does not run: pass its "
                "code (model.py:Name) and a state dict, saved with "
                "torch.save(model.state_dict(), 'weights.pt')"
            ) from None
        raise ImportFailed(str(exc)) from None
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise ImportFailed(
            f"{weights}: does not fit the model: {str(exc).splitlines()[1].strip()}"
        ) from None
