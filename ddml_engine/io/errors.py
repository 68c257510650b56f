"""The one error type of the file readers: a malformed file, named by path and line."""
from __future__ import annotations

import os


class FileFormatError(ValueError):
    """Malformed input file. `path` and `line` (1-based, or None when unknown) locate the fault.

    str(error) reads "path:line: what is wrong" (or "path: what is wrong" without a line).
    """

    def __init__(self, path: str | os.PathLike, line: int | None, message: str) -> None:
        self.path = os.fspath(path)
        self.line = line
        self.reason = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")
