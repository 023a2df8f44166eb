"""A trained model as evaluation, export and prediction see it: the project, the weights, and
what an input must go through first (scaling, normalisation, the vocabulary).

A run directory, a checkpoint (`.pt`) and a run's `model.safetensors` all load to the same
`TrainedModel`. Every file is read with `weights_only=True` or safetensors: nothing executes.

Where the data is comes from a project, never from the copy a model file carries: a file alone
could name any file on the machine or any download. The run folder the file sits in (its
project.json) or a project the user names (`--data PROJECT`) says it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from studio.core.errors import CheckpointError, StudioError
from studio.core.project.reading import load_project, parse_project, parse_project_text
from studio.core.project.spec import TASKS, DataSpec, Project
from studio.core.runs.folder import METRICS, PROJECT, find_weights


@dataclass
class Preprocessing:
    """How raw input becomes the model's input, and what its outputs mean."""

    kind: str  # image | features | tokens
    task: str  # one of spec.TASKS: classification | multilabel | regression | segmentation
    input_shape: list[int]
    classes: list[str] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    scale: float = 255.0
    vocabulary: list[str] | None = None
    table: dict[str, Any] | None = None  # a table's column encoding (TableEncoding.to_json)
    resize: int | None = None  # images: shorter side resized to this, then centre-cropped
    # a regression: [mean, std], the model gives (y - mean) / std; several target columns:
    # [[mean, ...], [std, ...]], one a column
    target: list[Any] | None = None
    targets: list[str] | None = None  # a regression of several target columns: their names
    threshold: float | None = None  # a multi-label task: a label is predicted at this probability

    @classmethod
    def from_dataset(cls, dataset, threshold: float | None = None) -> Preprocessing:
        return cls(
            kind=dataset.kind,
            task=dataset.task,
            input_shape=list(dataset.input_shape),
            classes=list(dataset.classes),
            mean=list(dataset.mean),
            std=list(dataset.std),
            scale=float(dataset.scale),
            vocabulary=dataset.vocabulary,
            table=dataset.table.to_json() if dataset.table is not None else None,
            resize=dataset.resize,
            target=list(dataset.target_scale) if dataset.target_scale is not None else None,
            targets=list(dataset.targets) if dataset.targets else None,
            threshold=threshold if dataset.task in ("multilabel", "detection") else None,
        )

    @classmethod
    def from_json(cls, data: Any, source: Path | str = "") -> Preprocessing:
        """Read what `to_json` wrote; anything else (a damaged file) is one StudioError."""
        names = cls.__dataclass_fields__.keys()
        try:
            made = cls(**{k: v for k, v in data.items() if k in names})
            ok = (
                made.kind in ("image", "features", "tokens")
                and made.task in TASKS
                and all(isinstance(n, int) and n > 0 for n in made.input_shape)
                and all(isinstance(c, str) for c in made.classes)
                and all(isinstance(v, (int, float)) for v in [*made.mean, *made.std, made.scale])
                and (made.vocabulary is None or all(isinstance(w, str) for w in made.vocabulary))
                and (made.table is None or made.encoding().width == made.input_shape[-1])
                and (made.target is None or _is_scale(made.target))
                and (made.targets is None or all(isinstance(t, str) for t in made.targets))
                and (made.threshold is None or 0 < made.threshold < 1)
            )
        except (AttributeError, TypeError, KeyError, ValueError):
            ok = False
        if not ok:
            raise StudioError(
                f"{source}: damaged (its preprocessing record is not what the studio writes)"
            )
        return made

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def encoding(self):
        """A table's column encoding (data/table_encoding.py), or None for other data."""
        from studio.core.data.table_encoding import TableEncoding

        return TableEncoding.from_json(self.table) if self.table is not None else None

    def values(self, outputs: torch.Tensor) -> torch.Tensor:
        """A regression's outputs in the targets' own units (the model gives standardised ones;
        several targets: [samples, targets], each column its own scale)."""
        if self.target is None:
            return outputs
        mean, std = (torch.tensor(v, dtype=torch.float64) for v in self.target)
        return outputs.double() * std + mean

    def dataset_of(self, project: Project, base_dir, data: DataSpec | None = None, table=True):
        """`project`'s data (or `data`) as this model saw it: its task and target scale,
        whatever the data would say now, and (with `table`) its columns' encoding."""
        from studio.core.data import load_project_data

        data = data or project.data
        return load_project_data(
            replace(project, data=replace(data, task=data.task or self.task)),
            base_dir,
            table=self.encoding() if table else None,
            target_scale=self.target or (0.0, 1.0),  # from before standardised targets: as is
        )

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Raw samples (pixels 0..scale, feature values, token ids) as the model's input: the
        same Normalisation the training batches went through."""
        from studio.core.data.normalise import Normalisation

        return Normalisation(self.kind, self.mean, self.std, self.scale)(x)


@dataclass
class TrainedModel:
    project: Project
    model: nn.Module  # on the CPU, in eval mode
    preprocessing: Preprocessing
    source: Path  # the file the weights came from
    run_dir: Path | None = None
    base_dir: Path | None = None  # where the data's relative paths start
    data: DataSpec | None = None  # the run folder's or the user's; None: a model file alone

    @property
    def name(self) -> str:
        return self.project.name

    def load_data(self):
        """The run's dataset, prepared as in training (a table with the run's own column
        encoding, images as the run's pretrained weights wanted them)."""
        return _load_data(self.project, self.data, self.base_dir, self.source, self.preprocessing)


def load_trained(path: str | Path, data: str | Path | None = None) -> TrainedModel:
    """A run directory, checkpoint or run's model.safetensors, rebuilt and loaded on the CPU.
    `data`: a project file whose data to use (else the run folder's own, if the file is in one)."""
    weights = find_weights(path)
    if weights.suffix == ".safetensors":
        project, state, extra = _read_safetensors(weights)
    else:
        project, state, extra = _read_checkpoint(weights)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise StudioError(f"{weights}: damaged (its weights are not a table of tensors)")
    run_dir = _run_dir_of(weights)
    spec, base_dir = _own_data(run_dir, data, extra)
    if extra.get("preprocessing"):
        preprocessing = Preprocessing.from_json(extra["preprocessing"], weights)
    else:  # made before checkpoints carried it: the training data says it again
        preprocessing = Preprocessing.from_dataset(
            _load_data(project, spec, base_dir, weights, None)
        )
    if project.model.input_shape is None:
        project.model.input_shape = list(preprocessing.input_shape)
    model = rebuild(project, state, weights)
    return TrainedModel(project, model, preprocessing, weights, run_dir, base_dir, spec)


def _own_data(
    run_dir: Path | None, project_file: str | Path | None, extra: dict
) -> tuple[DataSpec | None, Path | None]:
    """The data section to follow and where its relative paths start: the named project's (paths
    beside it), else the run folder's project.json (paths where the run was trained from)."""
    if project_file is not None:
        return load_project(project_file).data, Path(project_file).resolve().parent
    if run_dir is None:
        return None, None
    spec = load_project(run_dir / PROJECT).data
    if not (run_dir / METRICS).is_file():  # a project's own folder: its paths start beside it
        return spec, run_dir
    base = extra.get("base_dir")  # a run: where it was trained from
    return spec, Path(base) if isinstance(base, str) else _guess_base_dir(run_dir)


def _load_data(project, spec, base_dir, source, preprocessing):
    from studio.core.data import load_project_data

    if spec is None:
        raise StudioError(
            f"{source}: outside its run folder, the data a model file names is not followed (it "
            "could name any file or download); say which data with --data PROJECT.json"
        )
    if preprocessing is not None:
        return preprocessing.dataset_of(project, base_dir, spec)
    # made before checkpoints carried their preparation: trained on the targets as they are
    return load_project_data(replace(project, data=spec), base_dir, target_scale=(0.0, 1.0))


def _is_scale(target) -> bool:
    """[mean, std] numbers, or [[mean, ...], [std, ...]] lists as long as each other (one value
    a target column), every std above 0."""
    if not isinstance(target, list) or len(target) != 2:
        return False
    if all(isinstance(v, list) for v in target):
        means, stds = target
        numbers = [*means, *stds]
        return (
            len(means) == len(stds) > 0
            and all(isinstance(v, (int, float)) for v in numbers)
            and all(s > 0 for s in stds)
        )
    return all(isinstance(v, (int, float)) for v in target) and target[1] > 0


def rebuild(project: Project, state: dict[str, torch.Tensor], source: Path | str) -> nn.Module:
    """The project's model with these weights, in eval mode; a mismatch is one clear error."""
    from studio.core.model.build import build_model

    model = build_model(project.model, seed=0)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines()[:3]]
        raise CheckpointError(
            f"{source}: the weights do not fit the project's model ({' '.join(lines)[:300]})"
        ) from None
    return model.eval()


def _read_checkpoint(path: Path) -> tuple[Project, dict, dict]:
    from studio.core.train.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    return parse_project(state["project"]), state["model"], state


def _read_safetensors(path: Path) -> tuple[Project, dict, dict]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    from studio.core.train.checkpoint import WEIGHTS_METADATA, verify_weights

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise StudioError(f"{path}: not a readable safetensors file ({str(exc)[:160]})") from None
    if "project" not in metadata:
        raise StudioError(f"{path}: has no project in its metadata (not written by Torch Studio)")
    unknown = sorted(set(metadata) - WEIGHTS_METADATA)
    if unknown:
        raise CheckpointError(f"{path} is damaged: unexpected metadata {', '.join(unknown)[:80]}")
    verify_weights(state, metadata, path)
    project = parse_project_text(metadata["project"])
    extra: dict[str, Any] = {}
    if metadata.get("preprocessing"):
        try:
            extra["preprocessing"] = json.loads(metadata["preprocessing"])
        except ValueError:
            raise StudioError(f"{path}: damaged (its preprocessing metadata is not JSON)") from None
    if metadata.get("base_dir"):
        extra["base_dir"] = metadata["base_dir"]
    return project, state, extra


def _run_dir_of(weights: Path) -> Path | None:
    folder = weights.parent.parent if weights.parent.name == "checkpoints" else weights.parent
    return folder if (folder / "project.json").is_file() else None


def _guess_base_dir(run_dir: Path | None) -> Path | None:
    """runs/ sits beside the project file by default, so its parent is where data paths start."""
    return run_dir.parent.parent if run_dir is not None else None
