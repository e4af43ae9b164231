"""Sample pictures: PNG grids of images (torchvision's image utilities), and for video clips
an animated GIF plus a frame strip (Fig. 12: training frames above generated ones)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from PIL import Image


def is_image_batch(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.shape[1] in (1, 3)


def is_video_batch(x: torch.Tensor) -> bool:
    return x.dim() == 5 and x.shape[1] in (1, 3)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    return x.detach().float().cpu().clamp(-1, 1).add(1).div(2)


def save_grid(x: torch.Tensor, path: Path | str, nrow: int | None = None) -> Path:
    """Save images in ``[-1, 1]`` (``B, C, H, W``) as one PNG grid, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, int(math.sqrt(x.shape[0])))
    tmp = path.with_name(path.name + ".tmp")
    from torchvision.utils import save_image  # torchvision's import costs a second: on use

    save_image(to_unit(x), tmp, nrow=nrow, padding=2, format="png")
    os.replace(tmp, path)
    return path


def save_clips_gif(
    x: torch.Tensor, path: Path | str, fps: float = 8.0, nrow: int | None = None
) -> Path:
    """Clips in ``[-1, 1]`` (``B, C, T, H, W``) as one animated GIF: frame t shows every clip's
    frame t in a grid. Written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nrow = nrow or max(1, int(math.sqrt(x.shape[0])))
    x = to_unit(x)
    from torchvision.utils import make_grid  # torchvision's import costs a second: on use

    frames = []
    for t in range(x.shape[2]):
        grid = make_grid(x[:, :, t], nrow=nrow, padding=2)
        a = grid.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        frames.append(Image.fromarray(a))
    tmp = path.with_name(path.name + ".tmp")
    frames[0].save(
        tmp,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=max(20, round(1000 / fps)),
        loop=0,
    )
    os.replace(tmp, path)
    return path


def frame_strip(x: torch.Tensor, n_frames: int = 6) -> torch.Tensor:
    """``n_frames`` frames spread evenly over each clip: ``(B * n_frames, C, H, W)``, clip by
    clip (one row per clip in a grid of ``n_frames`` columns)."""
    t = x.shape[2]
    idx = torch.linspace(0, t - 1, min(n_frames, t)).round().long()
    return x[:, :, idx].transpose(1, 2).flatten(0, 1)


def save_samples(
    x: torch.Tensor, stem: Path | str, real: torch.Tensor | None = None, n_frames: int = 6
) -> list[Path]:
    """Pictures of a batch of samples: ``stem.png`` for images; for clips ``stem.gif`` and
    ``stem_frames.png`` (rows of ``n_frames`` frames; the clips of ``real``, if given, above).
    Other data have no pictures (an empty list)."""
    stem = Path(stem)
    if is_image_batch(x):
        return [save_grid(x, stem.with_name(stem.name + ".png"))]
    if not is_video_batch(x):
        return []
    rows = [frame_strip(real, n_frames)] if real is not None else []
    rows.append(frame_strip(x, n_frames))
    strip = save_grid(
        torch.cat(rows), stem.with_name(stem.name + "_frames.png"), nrow=min(n_frames, x.shape[2])
    )
    return [save_clips_gif(x, stem.with_name(stem.name + ".gif")), strip]
