"""Where commands write. Results are written into a staging folder and moved into the output folder
only when the command has finished, so a failure leaves no half-written output; a file the command
did not write in this run is never replaced unless the user asks for it (``--overwrite``); nothing is
written through a symbolic link inside the output folder, so no file outside it changes; and a write
that fails (no permission, a read-only or full disk) becomes one line naming the path."""
from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from safetensors import SafetensorError

from .errors import OutputError

_REASONS = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
            errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
            errno.EPERM: "permission denied", errno.ENOTDIR: "a file is in the way of a folder",
            errno.EEXIST: "a file is in the way", errno.EISDIR: "a folder is in the way"}
_FULL = (errno.ENOSPC, errno.EDQUOT)
_TORCH_WRITE = re.compile(r"inline_container|PytorchStreamWriter|unexpected pos|file write failed")


def write_failure(err: BaseException, path: Path, fix: str = "",
                  staged: tuple[Path, Path] | None = None) -> OutputError | None:
    """The one-line error for a failed write of ``path``, or None when ``err`` is no write failure.
    safetensors and ``torch.save`` report a full disk in their own words; both are recognised. A file
    under ``staged[0]`` is named by its place under ``staged[1]``, where it was going."""
    code = None
    if isinstance(err, OSError):
        code = err.errno
        if err.filename:
            path = Path(err.filename)
            if staged is not None and path.is_relative_to(staged[0]):
                path = staged[1] / path.relative_to(staged[0])
    elif isinstance(err, SafetensorError):
        found = re.search(r"code: (\d+)", str(err))
        code = int(found.group(1)) if found else None
    elif not (isinstance(err, RuntimeError) and _TORCH_WRITE.search(str(err))):
        return None
    reason = _REASONS.get(code, " ".join(str(err).split()) or err.__class__.__name__)
    if isinstance(err, RuntimeError):
        reason, code = "the file was cut short (is the disk full?)", errno.ENOSPC
    advice = "free some space" if code in _FULL else "make it writable"
    return OutputError(f"{path}: cannot write ({reason}); {advice} or choose another folder{fix}")


@contextlib.contextmanager
def writing(path: str | os.PathLike, fix: str = "") -> Iterator[None]:
    """Turn a failed write under ``path`` into one ``OutputError``; ``fix`` is added to its advice."""
    try:
        yield
    except (OSError, SafetensorError, RuntimeError) as e:
        failure = write_failure(e, Path(path), fix)
        if failure is None:
            raise
        raise failure from None


class OutputFolder:
    """A command's output folder. ``check`` refuses, before any work, names that already exist there
    and symbolic links on the way to them; inside ``with`` the command writes into the staging folder
    it is given, and on success every file moves into place (the whole folder at once when it did not
    exist). On failure nothing moves. The folder itself may be a link to a folder: it is the folder the
    user named."""

    def __init__(self, path: str | os.PathLike, overwrite: bool = False, option: str = "--out"):
        self.path, self.overwrite, self.option = Path(path), overwrite, option
        self._staging: Path | None = None
        if self.path.is_symlink() and not self.path.exists():
            raise OutputError(f"{self.path}: is a symbolic link to {os.readlink(self.path)}, which does not exist; "
                              f"give {option} a new or existing folder")
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"{self.path}: is a file, not a folder; give {option} a new or existing folder")

    def check(self, names: Iterable[str]) -> None:
        """Refuse, before any work, a folder that cannot be written, a symbolic link on the way to any
        of these files (relative to the folder), or, unless overwriting, any of them that exists."""
        self._probe()
        names = list(names)
        self._refuse_links(names)
        if self.overwrite:
            return
        taken = [self.path / n for n in names if (self.path / n).exists()]
        if taken:
            more = f" (as do {len(taken) - 1} more files this command writes)" if len(taken) > 1 else ""
            raise OutputError(f"{taken[0]}: already exists{more}; pass --overwrite to replace it, or choose "
                              f"another {self.option} folder")

    def _refuse_links(self, names: list[str]) -> None:
        """A link under the folder (a sub-folder or the file itself) would send the write elsewhere,
        replacing files outside the folder, so the first one found is refused."""
        for name in names:
            path = self.path
            for part in Path(name).parts:
                path = path / part
                if path.is_symlink():
                    raise OutputError(f"{path}: is a symbolic link (to {os.readlink(path)}); nothing is written "
                                      f"through a link, so remove it or choose another {self.option} folder")
                if not path.exists():
                    break

    def _probe(self) -> None:
        """Create and remove a folder where the output will go (nothing is left behind)."""
        parent = next(p for p in (self.path, *self.path.parents) if p.exists())
        probe = parent / f".artworkflow-write-test-{os.getpid()}"
        try:
            probe.mkdir()
            probe.rmdir()
        except OSError as e:
            raise write_failure(OSError(e.errno, e.strerror), self.path) from None

    def __enter__(self) -> Path:
        inside = self.path.is_dir()
        parent = self.path if inside else self.path.parent
        staging = parent / f".{'artworkflow' if inside else self.path.name}.partial-{os.getpid()}"
        with writing(self.path):
            parent.mkdir(parents=True, exist_ok=True)
            if staging.exists():
                shutil.rmtree(staging)
            staging.mkdir()
        self._staging = staging
        return staging

    def __exit__(self, kind, err, tb) -> bool:
        staging = self._staging
        try:
            if kind is None:
                with writing(self.path):
                    self._commit(staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if err is not None:
            failure = write_failure(err, self.path, staged=(staging, self.path)) if isinstance(err, Exception) else None
            if failure is not None:
                raise failure from None
        return False

    def _commit(self, staging: Path) -> None:
        files = sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file())
        self.check(str(f) for f in files)
        if not self.path.exists():
            os.replace(staging, self.path)
            return
        for f in files:
            (self.path / f).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / f, self.path / f)
