"""``RUN/texture.jsonl``: for a run on one stationary texture, every sample grid's texture
statistics against crops of the training image (genzoo.analysis.texture): the shares of power
at the highest and at the Nyquist frequencies (each beside the data's), the distance of the
local-orientation histograms and the Gram distance in a fixed random network."""

import json

from genzoo import hookimpl
from genzoo.analysis.texture import texture_report
from genzoo.data import spread_samples

FILE = "texture.jsonl"
REFERENCE = 256  # data crops the statistics are measured against


@hookimpl
def on_samples(run, step, name, images, real):
    data = run.data
    if data is None or not data.stationary or not name.startswith(("step_", "final")):
        return
    if images.dim() != 4:
        return
    if "texture_reference" not in run.state:
        run.state["texture_reference"] = spread_samples(data.train, REFERENCE)
    report = texture_report(images, run.state["texture_reference"])
    with open(run.dir / FILE, "a") as fh:
        fh.write(json.dumps({"step": step, "grid": name, **report}) + "\n")
