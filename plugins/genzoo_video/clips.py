"""One video cut into training clips of T frames (dynamic textures, section 4.1.5).

The video is read once with imageio's ffmpeg plugin (``imageio-ffmpeg`` ships its own ffmpeg
binary), every frame centre-cropped to a square and resized to ``size`` x ``size``. Clip ``i``
is the ``frames`` frames starting at frame ``i`` (every ``frame_step``-th frame). The last
``test_fraction`` of the video is held out: test clips never share a frame with training clips.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from genzoo.data import DataSource, data_home, to_unit_range
from genzoo.errors import GenzooError

# The default clip is OpenCV's sample "tree.avi" (swaying foliage, 449 frames of 320x240 at
# 15 fps, from Debian's opencv-doc package); docs/data.md says how to put it in the data folder.
DEFAULT_CLIP = "tree.avi"
OPENCV_DOC = Path("/usr/share/doc/opencv-doc/examples/data")


def search_path() -> tuple[Path, ...]:
    """Where the default clip is looked for: the data folder (``$GENZOO_DATA``), then
    opencv-doc's install folder."""
    return (data_home() / DEFAULT_CLIP, OPENCV_DOC / DEFAULT_CLIP)


def install_hint() -> str:
    return (
        f"apt-get download opencv-doc && dpkg-deb -x opencv-doc_*.deb opencv-doc && "
        f"mkdir -p {data_home()} && cp opencv-doc{OPENCV_DOC}/{DEFAULT_CLIP} {data_home()}/"
    )


def read_frames(path: Path, size: int, channels: int = 3, max_frames: int = 0) -> torch.Tensor:
    """All frames of a video file as ``(C, N, size, size)`` in [-1, 1]."""
    path = Path(path)
    if not path.is_file():
        raise GenzooError(f"video file '{path}' does not exist; check data.path")
    try:
        import imageio.v2 as imageio
    except ImportError:
        raise GenzooError(
            "reading video needs imageio and imageio-ffmpeg; pip install imageio imageio-ffmpeg"
        ) from None
    frames = []
    try:
        reader = imageio.get_reader(path, format="ffmpeg")
        try:
            for frame in reader:
                frames.append(_square(np.asarray(frame), size, channels))
                if max_frames and len(frames) >= max_frames:
                    break
        finally:
            reader.close()
    except ImportError:
        raise GenzooError(
            "reading video needs imageio-ffmpeg (it ships ffmpeg); pip install imageio-ffmpeg"
        ) from None
    except (OSError, RuntimeError, ValueError, IndexError) as exc:
        if not frames:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
            raise GenzooError(
                f"'{path}' is not a readable video ({first}); replace the "
                f"file or set data.path to another clip"
            ) from None
        # a truncated file: keep the frames that decoded
    if not frames:
        raise GenzooError(f"video '{path}' holds no frames; set data.path to another clip")
    return to_unit_range(torch.from_numpy(np.stack(frames, 1)))


def _square(frame: np.ndarray, size: int, channels: int) -> np.ndarray:
    im = Image.fromarray(frame)
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC)
    a = np.asarray(im.convert("L" if channels == 1 else "RGB"), dtype=np.uint8)
    return (a[:, :, None] if a.ndim == 2 else a).transpose(2, 0, 1)


class Clips(Dataset):
    """Clips of ``frames`` frames, ``step`` apart, starting at each of ``starts``."""

    def __init__(self, video: torch.Tensor, starts: list[int], frames: int, step: int):
        self.video, self.starts, self.frames, self.step = video, starts, frames, step

    def __len__(self):
        return len(self.starts)

    def __getitem__(self, i):
        s = self.starts[i]
        return self.video[:, s : s + self.frames * self.step : self.step]


def video_clips(
    path: Path | None = None,
    frames: int = 16,
    size: int = 32,
    frame_step: int = 1,
    channels: int = 3,
    test_fraction: float = 0.1,
    max_frames: int = 0,
) -> DataSource:
    """Training clips of ``frames`` frames at ``size`` x ``size`` cut from one video.

    ``path``: the video (any format ffmpeg reads; relative to the recipe); by default OpenCV's
    sample ``tree.avi``. ``frame_step``: take every k-th frame. ``test_fraction``: share of the
    video, at its end, held out for test clips. ``max_frames``: read at most this many (0: all).
    """
    if (
        frames <= 0
        or size <= 0
        or frame_step <= 0
        or channels not in (1, 3)
        or not 0 <= test_fraction < 1
        or max_frames < 0
    ):
        raise GenzooError(
            "data.frames, data.size and data.frame_step must be positive, "
            "data.channels 1 or 3, data.test_fraction in [0, 1)"
        )
    if path is None:
        search = search_path()
        found = [p for p in search if p.is_file()]
        if not found:
            raise GenzooError(
                f"the default clip '{DEFAULT_CLIP}' is not installed (looked in "
                f"{', '.join(str(p.parent) for p in search)}); install it with: "
                f"{install_hint()}; or set data.path to a video file"
            )
        path = found[0]
    video = read_frames(path, size, channels, max_frames)
    n = video.shape[1]
    span = (frames - 1) * frame_step + 1
    n_test = int(round(n * test_fraction))
    n_train = n - n_test
    if n_train < span:
        raise GenzooError(
            f"video '{path}' has {n_train} training frames, fewer than one clip "
            f"of {frames} frames every {frame_step}; lower data.frames or "
            f"data.frame_step"
        )
    train = Clips(video, list(range(n_train - span + 1)), frames, frame_step)
    test = (
        Clips(video, list(range(n_train, n - span + 1)), frames, frame_step)
        if n - n_train >= span
        else None
    )
    return DataSource(
        train,
        (channels, frames, size, size),
        test,
        description=f"{len(train)} clips of {frames} frames at {size}x{size} "
        f"from {Path(path).name} ({n} frames)",
    )
