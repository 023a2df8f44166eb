"""int8 dynamic quantisation (Linear, LSTM, GRU) and a weights-only file format for the result.

torch keeps a quantised LSTM's weights in packed script objects that `torch.load(weights_only=
True)` refuses; the file holds their int8 tensors instead and packs them again on load.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from studio.core.model import blocks
from studio.core.project.spec import Project


def _dynamic():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch points eager quantisation users to torchao
        import torch.ao.nn.quantized.dynamic as nnqd
        from torch.ao.quantization import quantize_dynamic
    return nnqd, quantize_dynamic


def _recurrent_classes() -> dict[type, type]:
    """The studio's output-only LSTM/GRU mapped to quantised classes that keep that behaviour."""
    nnqd, _ = _dynamic()

    def make(float_class: type, quantised: type) -> type:
        def from_float(cls, mod, use_precomputed_fake_quant=False):
            plain = float_class.__new__(float_class)  # torch converts exact nn.LSTM / nn.GRU only
            plain.__dict__.update(mod.__dict__)
            converted = quantised.from_float(plain)
            converted.__class__ = cls
            return converted

        name = f"Quantized{float_class.__name__}"
        return type(
            name, (blocks._SequenceOutput, quantised), {"from_float": classmethod(from_float)}
        )

    return {blocks.LSTM: make(nn.LSTM, nnqd.LSTM), blocks.GRU: make(nn.GRU, nnqd.GRU)}


_CLASSES: dict[type, type] = {}


def quantize_dynamic(model: nn.Module) -> nn.Module:
    """A copy of `model` with int8 weights in its Linear, LSTM and GRU layers (CPU inference)."""
    nnqd, quantize = _dynamic()
    if not _CLASSES:
        _CLASSES.update(_recurrent_classes())
    mapping = {nn.Linear: nnqd.Linear, **_CLASSES}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize(
            model, set(mapping), mapping=mapping, dtype=torch.qint8, inplace=False
        ).eval()


def quantized_layers(model: nn.Module) -> list[str]:
    """Paths of the layers that quantisation converted."""
    return list(_quantized(model))


def _quantized(model: nn.Module) -> dict[str, nn.Module]:
    nnqd, _ = _dynamic()
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, (nnqd.Linear, nnqd.LSTM, nnqd.GRU))
    }


def _inside(key: str, modules: dict[str, nn.Module]) -> bool:
    return any(key.startswith(f"{name}.") for name in modules)


def quantized_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The quantised model's state as plain and int8 tensors (loadable with weights_only=True).

    torch's own state_dict of these layers holds packed script objects, which a weights-only
    load refuses; their weights are unpacked here and packed again by `load_quantized`.
    """
    nnqd, _ = _dynamic()
    quantized = _quantized(model)
    state = {k: v for k, v in model.state_dict().items() if not _inside(k, quantized)}
    for name, module in quantized.items():
        if isinstance(module, nnqd.Linear):
            weight, bias = module._weight_bias()
            state[f"{name}.weight"] = weight
            if bias is not None:
                state[f"{name}.bias"] = bias
        else:
            for tensors in module._weight_bias().values():
                state.update({f"{name}.{key}": value for key, value in tensors.items()})
    return state


def load_quantized(project: Project, state: dict[str, torch.Tensor]) -> nn.Module:
    """Rebuild the project's model, quantise it the same way, and load a `quantized_state`."""
    from studio.core.model.build import build_model

    nnqd, _ = _dynamic()
    model = quantize_dynamic(build_model(project.model, seed=0).eval())
    quantized = _quantized(model)
    used = set()
    for name, module in quantized.items():
        prefix = f"{name}."
        mine = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        used.update(prefix + k for k in mine)
        if isinstance(module, nnqd.Linear):
            module.set_weight_bias(mine["weight"], mine.get("bias"))
        else:
            module.set_weight_bias(mine)
    tensors = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    for key, tensor in tensors.items():
        if not _inside(key, quantized):
            with torch.no_grad():
                tensor.copy_(state[key])
            used.add(key)
    if used != set(state):
        raise KeyError(f"unexpected entries: {sorted(set(state) - used)[:5]}")
    return model.eval()
