"""Dynamic textures: the video reader, clips, 3-D networks, GIF/frame-strip output, the recipe."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import ROOT, cli, write_clip
from PIL import Image

from genzoo.errors import GenzooError
from genzoo.images import frame_strip, save_samples
from genzoo_video import clips as clips_mod
from genzoo_video.clips import read_frames, video_clips
from genzoo_video.nets import build_video3d


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("video") / "clip.mp4")


def test_reader_reads_every_frame_centre_cropped_and_scaled(clip):
    v = read_frames(clip, size=16)
    assert v.shape == (3, 40, 16, 16)
    assert v.min() >= -1 and v.max() <= 1
    # the centre crop of a 64-wide frame keeps columns 8..56: its left half is gray, right red
    left = (v[:, :, :, :6] + 1) * 127.5
    ramp = left.mean(dim=(0, 2, 3))
    assert torch.allclose(ramp, 4 * torch.arange(40.0), atol=6)
    right = (v[:, :, :, -6:] + 1) * 127.5
    assert right[0].mean() > 150 and right[1].mean() < 40


def test_clips_follow_frame_step_and_test_clips_share_no_frame(clip):
    src = video_clips(path=clip, frames=4, size=16, frame_step=2, test_fraction=0.25)
    span = (4 - 1) * 2 + 1
    assert src.sample_shape == (3, 4, 16, 16)
    assert len(src.train) == 30 - span + 1 and len(src.test) == 10 - span + 1
    v = read_frames(clip, size=16)
    assert torch.equal(src.train[3], v[:, 3 : 3 + span : 2])
    assert src.train.starts[-1] + span <= 30 <= src.test.starts[0]


def test_missing_unreadable_and_default_clip_errors(tmp_path, monkeypatch):
    with pytest.raises(GenzooError, match="does not exist"):
        video_clips(path=tmp_path / "nope.avi")
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(GenzooError, match="not a readable video"):
        video_clips(path=bad)
    monkeypatch.setenv("GENZOO_DATA", str(tmp_path / "a"))
    monkeypatch.setattr(clips_mod, "OPENCV_DOC", tmp_path / "b")
    with pytest.raises(GenzooError, match="apt-get download opencv-doc") as exc:
        video_clips()
    assert str(tmp_path / "a") in str(exc.value)  # the install hint names the data folder


def test_default_clip_is_found_in_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(clips_mod, "OPENCV_DOC", tmp_path / "b")
    (tmp_path / "data").mkdir()
    write_clip(tmp_path / "data" / "tree.avi")
    src = video_clips(frames=4, size=16)
    assert "tree.avi" in src.description and len(src.train) == 33


def test_video_too_short_for_one_clip(clip):
    with pytest.raises(GenzooError, match="fewer than one clip"):
        video_clips(path=clip, frames=16, frame_step=4)


@pytest.mark.parametrize(
    "shape,width", [((3, 16, 32, 32), 0.125), ((3, 32, 64, 64), 0.0625), ((1, 16, 16, 48), 0.125)]
)
def test_video3d_shapes(shape, width):
    m = build_video3d(shape, width=width, latent_channels=10)
    c, t, h, w = shape
    assert m.generator.latent_shape == (10, t // 16, 1, 1)  # the paper: 10 x 1x1x2 at T = 32
    z = m.generator.sample_latent(2)
    x = m.generator(z)
    assert x.shape == (2, *shape) and x.abs().max() <= 1
    q = m.encoder(x)
    assert q.mean.shape == z.shape and q.log_std.shape == z.shape
    assert m.energy(x).shape == (2,)


def test_video3d_energy_is_summed_over_time():
    """The energy's last layer is convolutional in time: f of a clip played twice is twice
    the f of one play, up to the border frames its kernels straddle."""
    m = build_video3d((1, 16, 16, 16), width=0.125)
    x = torch.randn(1, 1, 16, 16, 16)
    m.energy.eval()
    per_step = m.energy.net(x)
    assert per_step.shape[2] == 2 and per_step.shape[3:] == (1, 1)
    assert torch.allclose(m.energy(x), per_step.flatten(1).sum(1))


def test_video3d_rejects_bad_shapes():
    with pytest.raises(ValueError, match="multiples of 16"):
        build_video3d((3, 10, 32, 32))
    with pytest.raises(ValueError, match="clips"):
        build_video3d((3, 32, 32))


def test_save_samples_writes_a_gif_of_every_frame_and_a_strip(tmp_path):
    fake = torch.rand(3, 3, 8, 16, 16) * 2 - 1
    real = torch.rand(2, 3, 8, 16, 16) * 2 - 1
    gif, strip = save_samples(fake, tmp_path / "s", real=real, n_frames=4)
    with Image.open(gif) as im:
        assert im.n_frames == 8
    with Image.open(strip) as im:
        # 4 columns of 16 px + padding; 2 real rows above 3 generated rows
        assert im.size == (4 * 18 + 2, 5 * 18 + 2)
    rows = frame_strip(fake, 4)
    assert torch.equal(rows[4:8], fake[1, :, [0, 2, 5, 7]].transpose(0, 1))


def test_dyntex_recipe_end_to_end(clip, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = cli(
        capsys,
        "run",
        ROOT / "recipes" / "dt_dyntex.toml",
        "--out",
        out,
        "--quiet",
        "--set",
        f'data.path="{clip}"',
        "--set",
        "train.steps=3",
        "--set",
        "train.batch_size=2",
        "--set",
        "model.width=0.0625",
        "--set",
        "data.size=16",
        "--set",
        "data.frame_step=1",
        "--set",
        "log.n_samples=2",
        "--device",
        "cpu",
    )
    assert code == 0, err
    names = sorted(p.name for p in (out / "samples").iterdir())
    assert names == ["data.gif", "data_frames.png", "final.gif", "final_frames.png"]
    with Image.open(out / "samples" / "final.gif") as im:
        assert im.n_frames == 16
    assert (out / "checkpoints").is_dir()
    code, _, err = cli(capsys, "sample", out, "--n", 2, "--out", tmp_path / "clips.png")
    assert code == 0, err
    assert (tmp_path / "clips.gif").is_file() and (tmp_path / "clips_frames.png").is_file()
    code, _, err = cli(capsys, "eval", out, "--n", 4)
    assert code == 0, err
    report = json.loads((out / "eval.json").read_text())
    # 40 frames: the last 4 are too few for a 16-frame test clip, so eval uses training clips
    assert report["kind"] == "clips" and report["split"] == "train" and report["n"] == 4
    assert 0 < report["recon_mse"] < 1
