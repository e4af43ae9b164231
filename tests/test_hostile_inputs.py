"""Bad input of every kind: one line naming the problem and the fix, exit code 2, no
traceback, nothing written outside the run directory and nothing lost from an existing run.
Every case id below has a row in docs/errors.md."""

import gzip
import hashlib
import shutil
from pathlib import Path

import pytest
import torch
from conftest import ROOT, make_fashion_like, tiny_texture_toml, write_clip

from genzoo.cli import main

RECIPE = tiny_texture_toml("hostile", seed=1, image="gravel", n_crops=32, steps=2)


def set_(*pairs):
    return [a for p in pairs for a in ("--set", p)]


def write_png_half(t):
    from PIL import Image

    Image.new("RGB", (64, 64), "red").save(t / "full.png")
    data = (t / "full.png").read_bytes()
    (t / "half.png").write_bytes(data[: len(data) // 2])
    return set_('data.path="half.png"')


def text_as_image(t):
    (t / "notes.png").write_text("this is not an image")
    return set_('data.path="notes.png"')


def empty_folder(t):
    (t / "empty").mkdir()
    return (
        set_('data.name="image_folder"', 'data.root="empty"', "data.image=0")
        if False
        else ["--set", 'data={name="image_folder", root="empty"}']
    )


def truncated_idx(t):
    root = make_fashion_like(t / "fm", n_train=16, n_test=4)
    f = root / "train-images-idx3-ubyte.gz"
    f.write_bytes(gzip.compress(gzip.decompress(f.read_bytes())[:-500]))
    return ["--set", f'data={{name="fashion_mnist", root="{root}"}}']


VIDEO_MODEL = 'model={arch="video3d", width=0.0625}'


def not_a_video(t):
    (t / "clip.avi").write_bytes(b"RIFF not really a video" * 50)
    return set_(VIDEO_MODEL, 'data={name="video_clips", path="clip.avi"}')


def short_clip(t, frames):
    write_clip(t / "short.mp4", n=20)
    return set_(
        VIDEO_MODEL, 'data={name="video_clips", path="short.mp4", size=16}', f"data.frames={frames}"
    )


def foreign_checkpoint(t):
    other = t / "other"
    assert_ok(
        [
            "run",
            t / "recipe.toml",
            "--out",
            other,
            "--quiet",
            "--set",
            "model.width=0.125",
            "--set",
            "train.steps=3",
        ]
    )
    for f in (other / "checkpoints").glob("step_00000003.*"):
        shutil.copy(f, t / "run" / "checkpoints" / f.name)
    shutil.rmtree(other)
    return ["--resume"]


def corrupt_all(t):
    for f in (t / "run" / "checkpoints").glob("*.safetensors"):
        f.write_bytes(f.read_bytes()[:100])
    return ["--resume"]


def assert_ok(args):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    assert exc.value.code == 0


# (id, recipe text change, extra args or a function(tmp) -> extra args, --out target, message)
CASES = [
    ("malformed-toml", lambda r: "objective = [\n" + r, [], "new", "is not valid TOML"),
    ("unknown-key", lambda r: "epochs = 3\n" + r, [], "new", "unknown recipe key 'epochs'"),
    (
        "misspelt-table",
        lambda r: r.replace("[train]", "[trian]"),
        [],
        "new",
        "(did you mean 'train'?)",
    ),
    ("misspelt-key", None, set_("train.stpes=3"), "new", "(did you mean 'steps'?)"),
    (
        "string-for-int",
        None,
        set_('train.steps="ten"'),
        "new",
        "'train.steps' must be an integer, got string",
    ),
    ("bool-for-int", None, set_("seed=true"), "new", "'seed' must be an integer, got boolean"),
    (
        "float-for-int",
        None,
        set_("train.batch_size=2.5"),
        "new",
        "'train.batch_size' must be an integer",
    ),
    (
        "negative-size",
        None,
        set_("train.batch_size=-4"),
        "new",
        "'train.batch_size' must lie in [1, 65536], got -4",
    ),
    (
        "zero-steps",
        None,
        set_("train.steps=0"),
        "new",
        "'train.steps' must lie in [1, 10^12], got 0",
    ),
    ("negative-lr", None, set_("train.alpha.lr=-1.0"), "new", "'train.alpha.lr' must be 0 or more"),
    (
        "betas-out-of-range",
        None,
        set_("train.phi.betas=[1.5, 0.9]"),
        "new",
        "'train.phi.betas[0]' must lie in [0, 1), got 1.5",
    ),
    (
        "zero-samples",
        None,
        set_("log.n_samples=0"),
        "new",
        "'log.n_samples' must lie in [1, 4096], got 0",
    ),
    (
        "huge-crop",
        None,
        set_("data.size=1000000"),
        "new",
        "'data.size' must lie in [1, 16384], got 1000000",
    ),
    (
        "huge-width",
        None,
        set_("model.width=1e9"),
        "new",
        "'model.width' must lie in (0, 64], got 1000000000.0",
    ),
    (
        "huge-batch",
        None,
        set_("train.batch_size=10000000"),
        "new",
        "'train.batch_size' must lie in [1, 65536]",
    ),
    (
        "unknown-device",
        None,
        set_('device="tpu"'),
        "new",
        "'device' must be auto, cpu, cuda or cuda:N",
    ),
    (
        "unknown-objective",
        None,
        set_('objective="triangel"'),
        "new",
        "unknown objective 'triangel' (did you mean 'triangle'?)",
    ),
    ("empty-objective", None, set_("objective=[]"), "new", "'objective' is an empty list"),
    (
        "bad-objective-entry",
        None,
        set_('objective=[{name="vae", wieght=2}]'),
        "new",
        "'objective[0]' must be a name or a table",
    ),
    (
        "unknown-objective-option",
        None,
        set_("objectives.acd.entropy_wieght=1.0"),
        "new",
        "objective 'acd' has no option 'entropy_wieght' (did you mean 'entropy_weight'?)",
    ),
    (
        "bad-objective-option-value",
        None,
        set_('objective="wgan_gp"', "objectives.wgan_gp.n_critic=0"),
        "new",
        "objective 'wgan_gp': wgan_gp needs penalty >= 0 and n_critic >= 1",
    ),
    (
        "duplicate-objective-network",
        None,
        set_('objective=["ali", "alice"]'),
        "new",
        "add a network named 'ali_joint'",
    ),
    (
        "unknown-occlusion-kind",
        None,
        set_('data.occlusion={kind="holes"}'),
        "new",
        "'data.occlusion.kind' must be one of 'pixels', 'blocks'",
    ),
    (
        "occlusion-larger-than-image",
        None,
        set_('data.occlusion={kind="blocks", size=64}'),
        "new",
        "size <= 32 (the image is 32x32)",
    ),
    (
        "per-example-state-on-nproc",
        None,
        [*set_('objective="abp"'), "--nproc", "2"],
        "new",
        "train on one process; drop --nproc",
    ),
    (
        "unknown-architecture",
        None,
        set_('model.arch="dcgn"'),
        "new",
        "unknown architecture 'dcgn' (did you mean 'dcgan'?)",
    ),
    (
        "misspelt-arch-option",
        None,
        set_("model.widht=0.5"),
        "new",
        "'model.widht' (did you mean 'width'?)",
    ),
    ("arch-option-type", None, set_('model.width="wide"'), "new", "'model.width' must be a number"),
    (
        "unknown-dataset",
        None,
        set_('data.name="texture_imag"'),
        "new",
        "unknown dataset 'texture_imag' (did you mean 'texture_image'?)",
    ),
    (
        "misspelt-data-option",
        None,
        set_("data.sise=32"),
        "new",
        "'data.sise' (did you mean 'size'?)",
    ),
    ("set-without-value", None, ["--set", "train.steps"], "new", "--set expects KEY=VALUE"),
    ("set-empty-key-part", None, set_("train..steps=1"), "new", "--set expects KEY=VALUE"),
    ("set-into-a-value", None, set_("seed.x=1"), "new", "'seed' is not a table"),
    ("missing-recipe", "missing", [], "new", "does not exist"),
    ("recipe-is-a-folder", "folder", [], "new", "is a folder"),
    ("recipe-not-text", "binary", [], "new", "cannot read recipe"),
    ("missing-image", None, set_('data.path="nope.png"'), "new", "nope.png' does not exist"),
    ("non-image-file", None, text_as_image, "new", "notes.png' is not a readable image"),
    ("truncated-image", None, write_png_half, "new", "half.png' is not a readable image"),
    (
        "image-smaller-than-crop",
        None,
        set_("data.size=1024"),
        "new",
        "data.size 1024 is larger than the image",
    ),
    ("crop-not-multiple-of-32", None, set_("data.size=48"), "new", "multiples of 32"),
    ("bad-channel-count", None, set_("data.channels=2"), "new", "data.channels must be 0"),
    (
        "wrong-size-for-dcgan",
        None,
        set_('model.arch="dcgan"', "data.size=96"),
        "new",
        "dcgan takes square 28x28, 32x32 or 64x64 images",
    ),
    ("empty-image-folder", None, empty_folder, "new", "holds no images"),
    (
        "missing-fashion-mnist",
        None,
        ["--set", 'data={name="fashion_mnist", root="nowhere"}'],
        "new",
        "apt-get install dataset-fashion-mnist",
    ),
    ("truncated-idx", None, truncated_idx, "new", "is truncated"),
    (
        "missing-video",
        None,
        set_(VIDEO_MODEL, 'data={name="video_clips", path="nope.avi"}'),
        "new",
        "video file",
    ),
    ("non-video-file", None, not_a_video, "new", "clip.avi' is not a readable video"),
    (
        "video-shorter-than-a-clip",
        None,
        lambda t: short_clip(t, 32),
        "new",
        "fewer than one clip of 32 frames",
    ),
    (
        "video-frames-not-multiple-of-16",
        None,
        lambda t: short_clip(t, 10),
        "new",
        "T, H and W multiples of 16",
    ),
    (
        "progressive-size-not-power-of-two",
        None,
        set_('model={arch="progressive", width=0.02}', 'data={name="photos", size=48}'),
        "new",
        "powers of two",
    ),
    ("run-dir-holds-a-run", None, [], "run", "already holds a run; pass --resume"),
    ("run-dir-is-a-file", None, [], "file", "is a file"),
    ("resume-and-force", None, ["--resume", "--force"], "run", "--resume and --force contradict"),
    (
        "resume-other-recipe",
        None,
        ["--resume", "--set", "model.width=0.125"],
        "run",
        "different recipe (model.width",
    ),
    (
        "gray-vs-rgb-on-resume",
        None,
        ["--resume", "--set", "data.channels=3"],
        "run",
        "different recipe (data.channels",
    ),
    (
        "checkpoint-from-another-recipe",
        None,
        foreign_checkpoint,
        "run",
        "was written by a different recipe",
    ),
    ("corrupt-checkpoints", None, corrupt_all, "run", "no usable checkpoint"),
    ("no-gpu", None, ["--device", "cuda"], "new", "no CUDA GPU is available"),
]


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    t = tmp_path_factory.mktemp("trained")
    (t / "recipe.toml").write_text(RECIPE)
    assert_ok(["run", t / "recipe.toml", "--out", t / "run", "--quiet"])
    return t / "run"


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, tmp_path, trained, monkeypatch, capsys):
    name, change, extra, out, expected = case
    if name == "no-gpu" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    t = tmp_path
    monkeypatch.chdir(t)
    recipe = t / "recipe.toml"
    recipe.write_text(RECIPE)
    shutil.copytree(trained, t / "run")
    if change == "missing":
        recipe = t / "absent.toml"
    elif change == "folder":
        recipe = t / "run"
    elif change == "binary":
        recipe.write_bytes(b"\xff\xfe\x00 binary \x80\x81")
    elif change is not None:
        recipe.write_text(change(RECIPE))
    if callable(extra):
        extra = extra(t)
        capsys.readouterr()
    target = {"new": t / "new", "run": t / "run", "file": t / "recipe.toml"}[out]
    before = tree(t)
    with pytest.raises(SystemExit) as exc:
        main(["run", str(recipe), "--out", str(target), "--quiet", *map(str, extra)])
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert expected in errors[0]
    assert all(line.startswith(("error: ", "warning: ")) for line in err.splitlines()), err
    assert tree(t) == before  # nothing written anywhere, nothing lost from the existing run


def test_every_case_is_documented():
    doc = (ROOT / "docs" / "errors.md").read_text()
    missing = [c[0] for c in CASES if f"`{c[0]}`" not in doc]
    assert not missing, missing
    assert len(CASES) >= 30


def test_sample_on_bad_run_directories(tmp_path, trained, capsys):
    for target, expected in [
        (tmp_path, "is not a genzoo run directory"),
        (tmp_path / "nope", "is not a genzoo run directory"),
    ]:
        with pytest.raises(SystemExit) as exc:
            main(["sample", str(target)])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and expected in err and "Traceback" not in err
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    for f in (run / "checkpoints").glob("*.safetensors"):
        f.write_bytes(b"garbage")
    with pytest.raises(SystemExit) as exc:
        main(["sample", str(run), "--out", str(tmp_path / "g.png")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "holds no usable checkpoint" in err
