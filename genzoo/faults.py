"""The command line's boundary: one line for each failure that is the input's or the machine's
fault (a file that cannot be read or decoded, memory, nesting), and a traceback file for the
rest."""

from __future__ import annotations

import os
from pathlib import Path

from genzoo.cli_options import RUN_DIRS


def is_data_error(exc: BaseException) -> bool:
    """A file's content that cannot be decoded (an image bomb, a torch out-of-memory for an
    absurd size): the input's fault, not genzoo's."""
    try:
        from PIL import Image

        if isinstance(exc, Image.DecompressionBombError):
            return True
    except ImportError:  # pragma: no cover - PIL is a dependency
        pass
    import torch

    return isinstance(exc, torch.OutOfMemoryError)


def describe_fault(exc: BaseException) -> str:
    """One line naming the file and the cause of an OS, memory or decoding failure."""
    import torch

    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return (
            "out of memory; lower train.batch_size, model.width or the data's size, or "
            "use a device with more memory"
        )
    if isinstance(exc, RecursionError):
        return "input nested too deeply to read (a recipe or file of absurd depth); simplify it"
    if isinstance(exc, OSError):
        where = f" '{exc.filename}'" if getattr(exc, "filename", None) else ""
        cause = exc.strerror or str(exc) or type(exc).__name__
        return f"cannot use{where}: {cause}; check the path, its permissions and the free space"
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return f"{first}; the file cannot be decoded: replace it"


def write_error_log(exc: BaseException) -> Path:
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(exc))
    for folder in (*RUN_DIRS[-1:], Path(tempfile.gettempdir())):
        try:
            if Path(folder).is_dir():
                path = Path(folder) / (
                    "error.log" if folder in RUN_DIRS else f"genzoo-error-{os.getpid()}.log"
                )
                path.write_text(text)
                return path
        except OSError:
            continue
    return Path("(unwritable: " + tempfile.gettempdir() + ")")
