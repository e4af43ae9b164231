"""TensorBoard, with ``log.tensorboard = true``: every scalar of metrics.jsonl under the same
names, the sample grids as images, the recipe as text, in ``RUN/tensorboard/``
(``tensorboard --logdir runs``). Needs ``pip install 'genzoo[tensorboard]'``."""

from genzoo import hookimpl
from genzoo.errors import GenzooError
from genzoo.images import to_unit
from genzoo.toml_text import dumps

FOLDER = "tensorboard"


def _writer(run):
    return run.state.get("tensorboard")


@hookimpl
def on_fit_start(run, step):
    if not run.recipe.log.tensorboard:
        return
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise GenzooError(
            "log.tensorboard = true needs the tensorboard package: pip install "
            "'genzoo[tensorboard]' (or set log.tensorboard = false)"
        ) from None
    folder = run.dir / FOLDER
    try:  # TensorBoard writes from a thread of its own, whose failure would be a traceback
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".genzoo-write-probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise GenzooError(
            f"cannot write TensorBoard files into '{folder}' ({exc.strerror or exc}); make it "
            f"writable, or set log.tensorboard = false"
        ) from None
    w = run.state["tensorboard"] = SummaryWriter(str(folder), purge_step=step or None)
    w.add_text("recipe", "```toml\n" + dumps(run.recipe.to_dict()) + "```", step)


@hookimpl
def on_log(run, step, metrics):
    w = _writer(run)
    if w is not None:
        for name, value in metrics.items():
            if name != "step":
                w.add_scalar(name, value, step)
        w.flush()


@hookimpl
def on_samples(run, step, name, images, real):
    w = _writer(run)
    if w is None or images.dim() != 4:
        return
    from torchvision.utils import make_grid

    tag = "samples" if name.startswith("step_") or name == "final" else name
    w.add_image(tag, make_grid(to_unit(images), nrow=8, padding=2), step)


@hookimpl
def on_fit_end(run, step, metrics):
    w = run.state.pop("tensorboard", None)
    if w is not None:
        w.close()
