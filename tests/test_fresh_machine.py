"""The suite reads nothing a new machine lacks: HOME, the data folder and the caches are
fresh empty folders, and opening anything under the machine's real caches fails the test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import conftest
import pytest
from conftest import ROOT

from genzoo.analysis.features import cache_dir
from genzoo.data import data_home
from genzoo.errors import GenzooError
from genzoo_video.clips import video_clips


def test_home_data_and_caches_are_fresh_folders_of_the_suite(tmp_path):
    assert tmp_path.is_relative_to(conftest.SANDBOX)
    for var in (
        "HOME",
        "GENZOO_DATA",
        "GENZOO_CACHE",
        "XDG_CACHE_HOME",
        "TORCH_HOME",
        "MPLCONFIGDIR",
        "TMPDIR",
    ):
        assert Path(os.environ[var]).is_relative_to(conftest.SANDBOX), var
    assert data_home().is_relative_to(conftest.SANDBOX)
    assert cache_dir().is_relative_to(conftest.SANDBOX)
    assert Path.home() != conftest.MACHINE_HOME


@pytest.mark.parametrize(
    "parts",
    [
        ("datasets", "fashion-mnist", "train-images-idx3-ubyte"),
        ("doc", "opencv-doc", "examples", "data", "tree.avi"),
    ],
)
def test_opening_machine_data_is_refused_and_recorded(parts):
    path = str(Path("/usr/share").joinpath(*parts))
    with pytest.raises(PermissionError, match="may not read machine state"):
        open(path, "rb")
    assert conftest.VIOLATIONS == [f"open: {path}"]
    del conftest.VIOLATIONS[:]  # this test wanted it; any other test that does it fails


def test_a_poisoned_clip_in_the_users_cache_is_never_read(tmp_path):
    """Where an earlier manual install left tree.avi, the video recipe's test still reads only
    the clip it makes: here the user's cached clip is garbage, and the test passes."""
    home = tmp_path / "home"
    cached = home / ".cache" / "genzoo" / "data" / "tree.avi"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"poison: not a video" * 64)
    with pytest.raises(GenzooError, match="not a readable video"):
        video_clips(path=cached)  # reading it would fail the run
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("GENZOO_DATA", "GENZOO_CACHE", "XDG_CACHE_HOME", "TORCH_HOME")
    }
    env["HOME"] = str(home)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_recipes_run.py",
            "-k",
            "dt_dyntex",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "1 passed" in out.stdout
    assert cached.read_bytes().startswith(b"poison")
