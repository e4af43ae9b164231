"""The devices genzoo runs on, as a recipe, an option or the Python API names them: checked in
one place, so that a bad name is one line wherever it comes from."""

from __future__ import annotations

import re

from genzoo.errors import GenzooError

DEVICE = re.compile(r"auto|cpu|cuda(:\d{1,3})?")


def check_device(name) -> str:
    """``name`` if it is a device genzoo runs on (auto, cpu, cuda, cuda:N), else one line."""
    if not isinstance(name, str) or not DEVICE.fullmatch(name):
        raise GenzooError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}")
    return name
