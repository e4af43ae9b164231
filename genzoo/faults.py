"""The command line's boundary: one line for each failure that is the input's or the machine's
fault (a file that cannot be read or decoded, memory, nesting), and a traceback file for the
rest."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from genzoo.cli_options import RUN_DIRS
from genzoo.errors import GenzooError

OUT_OF_MEMORY = (
    "out of memory; lower train.batch_size, model.width, the data's size or --n, or use a "
    "device with more memory"
)


def describe_fault(exc: BaseException) -> str | None:
    """One line for a failure of the kinds that are the input's or the machine's fault, by the
    exception families of the libraries genzoo calls: memory (torch's on any device), nesting,
    the file system and the network (``OSError``, urllib's errors among them), text that is
    not UTF-8, JSON that is not JSON, and files safetensors or PIL cannot decode (device
    names never reach torch unchecked: :func:`genzoo.devices.check_device`). None for anything
    else (a bug: an internal error)."""
    import torch
    from PIL import Image
    from safetensors import SafetensorError

    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)) or (
        isinstance(exc, RuntimeError)
        and ("can't allocate memory" in first or "DefaultCPUAllocator" in first)
    ):
        return OUT_OF_MEMORY
    if isinstance(exc, RecursionError):
        return "input nested too deeply to read (a recipe or file of absurd depth); simplify it"
    if isinstance(exc, OSError):
        where = f" '{exc.filename}'" if getattr(exc, "filename", None) else ""
        cause = exc.strerror or str(exc) or type(exc).__name__
        return f"cannot use{where}: {cause}; check the path, its permissions and the free space"
    if isinstance(exc, UnicodeDecodeError):
        return f"a file is not UTF-8 text ({first}); replace it with the one genzoo wrote"
    if isinstance(exc, json.JSONDecodeError):
        return f"a file is not valid JSON ({first}); replace it with the one genzoo wrote"
    if isinstance(
        exc, (SafetensorError, Image.UnidentifiedImageError, Image.DecompressionBombError)
    ):
        return f"{first}; the file cannot be decoded: replace it"
    return None


def boundary(fn):
    """The Python API's edge: what :func:`describe_fault` knows becomes one
    :class:`GenzooError`, as on the command line; anything else passes as it is."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GenzooError:
            raise
        except Exception as exc:
            line = describe_fault(exc)
            if line is None:
                raise
            raise GenzooError(line) from None

    return wrapped


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
