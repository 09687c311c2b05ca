"""Where CSV files may be read from: the data directories of ``FORECASTING_CSV_ROOTS``.

A series' ``path`` is chosen by whoever defines the series, who may be a client of
the service and not a user of its machine; so a file is read only if its real path
(every symlink resolved) lies inside one of these directories. The setting is one for
every component; only what applies when it is unset differs, and the entry point
says which: the CLI reads under its working directory, the service and the Airflow
tasks read no file at all and say how to set it.

Refusals name the path as given and the directories, never whether a file exists
outside them: the path is checked before the file system is asked anything about it
beyond resolving links (and resolving works the same for missing files). A path outside
the directories, with none configured, or naming no regular file inside them is an
unknown reference (:class:`UnknownFile`: a 404 in the service), the same answer whether a
file exists there or not.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from forecasting.errors import InvalidInput
from forecasting.limits import MAX_CSV_BYTES

CSV_ROOTS_SETTING = "FORECASTING_CSV_ROOTS"
SEPARATOR = ":"
TOO_LARGE = f"the file is larger than {MAX_CSV_BYTES} bytes, the most a CSV file may hold"


class UnknownFile(InvalidInput):
    """A CSV path that names no file that may be read: outside the roots (or none set), or no regular
    file inside them. The service answers 404, as for any unknown reference; elsewhere it is bad input."""


@dataclass(frozen=True)
class CsvRoots:
    """The directories (real paths) CSV files may be read from, and how they were set.

    ``base`` is where a relative path starts: the working directory for the CLI (as for
    any command), else the first directory. ``origin`` names the setting in messages.
    """

    directories: tuple[Path, ...]
    origin: str
    base: Path | None = None

    def resolve(self, path: str) -> Path:
        """The real path of ``path`` (``~`` expanded, every symlink and ``..`` resolved);
        UnknownFile unless it lies inside one of the directories."""
        if not self.directories:
            raise UnknownFile(
                f"reading CSV files is turned off here: set {self.origin} to the directories they may "
                f"be read from, separated by '{SEPARATOR}' (or send the file's content: "
                "POST /api/timeseries/<name>/upload)"
            )
        given = Path(_checked(path)).expanduser()
        real = Path(os.path.realpath((self.base or self.directories[0]) / given))
        if not self._contains(real):
            listed = SEPARATOR.join(map(str, self.directories))
            raise UnknownFile(
                f"{path} is not inside the directories CSV files may be read from ({self.origin}: {listed})"
            )
        return real

    def open(self, path: str) -> BinaryIO:
        """Open ``path`` for reading if it is a regular file inside the directories, of at most
        :data:`~forecasting.limits.MAX_CSV_BYTES`; its size is checked before anything is read.

        The file opened is checked again (a directory swapped for a symlink between the
        check and the open must not lead outside); FIFOs and devices are refused without
        blocking. Raises UnknownFile for a path outside or no regular file, InvalidInput for a file
        too large, OSError when the file cannot be opened.
        """
        real = self.resolve(path)
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        try:
            if _opened_path(fd, real) != real:
                raise InvalidInput(f"{path} changed while it was opened")
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise UnknownFile(f"{path} is not a regular file")
            if info.st_size > MAX_CSV_BYTES:
                raise InvalidInput(f"{path}: {TOO_LARGE}")
            return os.fdopen(fd, "rb", buffering=0)
        except BaseException:
            os.close(fd)
            raise

    def _contains(self, real: Path) -> bool:
        return any(real.is_relative_to(directory) for directory in self.directories)


def csv_roots(value: str | None, *, cwd_fallback: bool = False, setting: str = CSV_ROOTS_SETTING) -> CsvRoots:
    """The roots a component reads CSV files from, given the setting's ``value``.

    ``value`` is the directories separated by ':' (relative ones start at the working
    directory). Unset or blank: the working directory with ``cwd_fallback`` (the CLI),
    else none. ``setting`` is how the component's operator sets it, for messages.
    With ``cwd_fallback`` relative paths start at the working directory, else at the
    first directory.
    """
    entries = [entry for entry in (value or "").split(SEPARATOR) if entry.strip()]
    cwd = Path.cwd()
    base = cwd if cwd_fallback else None
    if not entries:
        if cwd_fallback:
            return CsvRoots((cwd.resolve(),), f"the working directory, as {setting} is unset", base)
        return CsvRoots((), setting)
    directories = tuple(Path(os.path.realpath(cwd / Path(_checked(entry)).expanduser())) for entry in entries)
    return CsvRoots(directories, setting, base)


def env_csv_roots(*, cwd_fallback: bool = False) -> CsvRoots:
    """:func:`csv_roots` of ``$FORECASTING_CSV_ROOTS``."""
    return csv_roots(os.environ.get(CSV_ROOTS_SETTING), cwd_fallback=cwd_fallback)


def _checked(path: str) -> str:
    """``path`` if the operating system can take it as a path (no NUL, encodable)."""
    try:
        os.fsencode(path)
    except UnicodeError:
        raise InvalidInput("the path is not valid text for a file name") from None
    if "\0" in path or not path:
        raise InvalidInput("the path is empty or holds a NUL character")
    return path


def _opened_path(fd: int, fallback: Path) -> Path:
    """The real path of an open file, from /proc where there is one (Linux)."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return fallback
