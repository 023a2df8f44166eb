"""Typed errors for mistakes a user can make: each carries a message a person can act on, and
the exit status the command line ends with (2: bad input, 1: a failure while running)."""

from __future__ import annotations

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


class StudioError(Exception):
    """Base of the errors the CLI and GUI show as one line, never a traceback."""

    exit_code = EXIT_BAD_INPUT


class ProjectError(StudioError):
    """A project file that cannot be used; `path` is the JSON path at fault (`model.layers[3].type`)."""

    def __init__(self, path: str, message: str, file: str | None = None):
        self.path = path
        self.detail = message
        self.file = file
        super().__init__(self._compose())

    def _compose(self) -> str:
        where = f"{self.file}: " if self.file else ""
        return f"{where}{self.path}: {self.detail}" if self.path else f"{where}{self.detail}"

    def in_file(self, file: str) -> ProjectError:
        self.file = file
        self.args = (self._compose(),)
        return self


class LayerError(StudioError):
    """A layer that cannot take its input: where it is, what it got, what it needed, and a fix."""

    def __init__(
        self,
        path: str,
        layer_type: str,
        received: list[int] | None,
        problem: str,
        fix: str | None = None,
        action: dict | None = None,
    ):
        self.path = path
        self.action = action  # the fix as an edit a window can apply: see model/build.py
        self.layer_type = layer_type
        self.received = received
        self.problem = problem
        self.fix = fix
        self.rows: list = []  # the summary rows walked before the failure (shapes.ShapeReport)
        got = f" received {list(received)}:" if received is not None else ""
        hint = f"; fix: {fix}" if fix else ""
        super().__init__(f"layer {path} ({layer_type}){got} {problem}{hint}")


class DataError(StudioError):
    """A dataset that cannot be read: names the file and, where it applies, the row or column."""


class CheckpointError(StudioError):
    """A checkpoint or weights file that cannot be used: missing, damaged, or not the studio's."""


class ExportError(StudioError):
    """An export that could not be written or did not check out; nothing is left behind."""


class WeightsError(StudioError):
    """Pretrained weights that cannot be had: not cached and not downloadable, or a bad file."""


class TrainingFailed(StudioError):
    """Training started and then failed (out of memory, a kernel error)."""

    exit_code = EXIT_FAILED


class RunWriteError(StudioError):
    """A run's own file could not be written (the disk full, the folder gone read-only): the run
    ends as failed, its last complete checkpoint kept."""

    exit_code = EXIT_FAILED


def first_line(exc: BaseException | str, limit: int = 300) -> str:
    """An exception's (or a message's) first non-empty line, at most `limit` long; an exception
    without a message gives its type's name."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else ("" if isinstance(exc, str) else type(exc).__name__)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ImportFailed(StudioError):
    """A model that cannot be brought in, in one line (the report, where there is one, beside)."""

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class HostError(StudioError):
    """A host (`studio hosts`) cannot be reached, refuses us, or lacks what training there
    needs: one line saying which and what to do."""

    exit_code = EXIT_FAILED
