"""What a source loader gets besides its options: where relative paths start, the seed,
and hooks to report progress and to be cancelled."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from studio.core.errors import DataError


class Cancelled(DataError):
    """The user cancelled a download or a long load."""


@dataclass(frozen=True)
class ImagePreparation:
    """How images must be prepared for pretrained weights (their `transforms()`): the shorter side
    resized to `resize`, the centre cropped to `crop` x `crop`, scaled to [0, 1] and normalised
    with these mean and std."""

    resize: int
    crop: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass
class LoadContext:
    base_dir: Path = field(default_factory=Path.cwd)
    seed: int = 0
    progress: Callable[[str, int, int], None] | None = None  # (what, done, total)
    cancelled: Callable[[], bool] | None = None
    images: ImagePreparation | None = None  # image folders are decoded this way when set
    task: str | None = None  # data.task: what the project says a target is (None: told)

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def names(self, given, missing: str) -> tuple[list[str], str]:
        """Class names given as a list, or as a text file of one name a line (line n names id
        n), and where they came from (for messages); `missing`: the error when neither."""
        if isinstance(given, list):
            return [str(name).strip() for name in given], "options.classes"
        if not isinstance(given, str):
            raise DataError(missing)
        path = self.resolve(given)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(
                f"{path}: cannot read the class names ({exc.__class__.__name__})"
            ) from None
        return [line.strip() for line in text.splitlines() if line.strip()], str(path)

    def report(self, what: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(what, done, total)
        if self.cancelled is not None and self.cancelled():
            raise Cancelled(f"{what}: cancelled")
