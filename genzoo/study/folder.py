"""A study folder: ``study.json`` (the study's fingerprint, storage, and once measured its
cells, statistics and claims), ``table.md``, the run folders of its cells
(``cells/VARIANT/seedN``) and tuning trials (``tune/VARIANT/trialN``), the best recipes
(``best/VARIANT.toml``) and its feature network. A folder refuses a second, different study
file, as a run folder refuses another recipe, unless that file only adds variants
(``grown.py``)."""

from __future__ import annotations

import fcntl
import json
from contextlib import contextmanager
from pathlib import Path

from genzoo.errors import GenzooError
from genzoo.store.files import atomic_write
from genzoo.study import grown
from genzoo.study import storage as storage_mod
from genzoo.study.spec import StudyFile


class StudyFolder:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.meta = self.root / "study.json"
        self.table = self.root / "table.md"

    def cell(self, variant: str, seed: int) -> Path:
        return self.root / "cells" / variant / f"seed{seed}"

    def trial(self, variant: str, number: int) -> Path:
        return self.root / "tune" / variant / f"trial{number}"

    def best(self, variant: str) -> Path:
        return self.root / "best" / f"{variant}.toml"

    def read(self) -> dict:
        try:
            return json.loads(self.meta.read_text()) if self.meta.exists() else {}
        except ValueError:
            raise GenzooError(
                f"'{self.meta}' is not valid JSON; restore it or start the study in a new folder"
            ) from None

    def write(self, meta: dict) -> None:
        atomic_write(self.meta, json.dumps(meta, indent=1).encode())

    def claim(self, spec: StudyFile, where: str | None, workers: int) -> str:
        """Take the folder for ``spec`` (made if missing) and return its storage URL: the one
        it was started with, which ``where`` (``--storage``) must agree with."""
        if self.root.exists() and not self.root.is_dir():
            raise GenzooError(f"'{self.root}' is a file; --out must name a folder")
        meta = self.read()
        if meta and meta.get("fingerprint") != spec.fingerprint():
            with self.locked("study"):  # refused unless it only adds variants (grown.py)
                meta = self.read()
                if meta.get("fingerprint") != spec.fingerprint():
                    meta = grown.grow(meta, spec, self.root)
                    self.write(meta)
        url = meta.get("storage") if meta else None
        if url and where and storage_mod.describe(where, self.root, workers) != url:
            raise GenzooError(
                f"this study's trials are in '{storage_mod._hidden(url)}'; pass that --storage, "
                f"or none"
            )
        url = url or storage_mod.describe(where, self.root, workers)
        if "://" in url and not url.startswith("sqlite"):
            storage_mod.open_storage(url)  # a database that cannot be reached: nothing written
        if not meta:
            self.root.mkdir(parents=True, exist_ok=True)
            text = spec.path.read_text() if spec.path else ""
            self.write(
                {
                    "name": spec.title,
                    "fingerprint": spec.fingerprint(),
                    "parts": spec.parts(),
                    "storage": url,
                    "study_file": text,
                }
            )
        return url

    @contextmanager
    def locked(self, name: str):
        """An exclusive lock of the folder's ``name`` (one writer of a shared file at a
        time, across processes and, on a shared file system, machines)."""
        path = self.root / f".{name}.lock"
        with open(path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
