"""``RUN/samples/``: PNG grids (clips: an animated GIF and a frame strip) of training data,
samples over training, each growing stage's end, and the final interpolations."""

from genzoo import hookimpl
from genzoo.images import save_grid, save_samples
from genzoo.store.rundir import SAMPLES


@hookimpl
def on_samples(run, step, name, images, real):
    folder = run.dir / SAMPLES
    if name == "interpolation":  # rows of 10 along straight latent lines (Fig. 10)
        save_grid(images, folder / "interpolation.png", nrow=10)
    else:
        save_samples(images, folder / name, real)
