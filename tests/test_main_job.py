"""The README's main job, end to end at its default size (slow: minutes on 2 CPU cores)."""

import json
import math

import pytest
from conftest import ROOT

from genzoo.cli import main


@pytest.mark.slow
def test_default_texture_recipe_trains_to_the_end(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "run",
                str(ROOT / "recipes" / "dt_texture.toml"),
                "--out",
                str(tmp_path / "run"),
                "--quiet",
                "--device",
                "cpu",
            ]
        )
    assert exc.value.code == 0, capsys.readouterr().err
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(v) for line in lines for v in line.values())
    first, last = lines[0], lines[-1]
    # the inference model and generator learn to reconstruct the texture
    assert last["phi/vae.kl_q_p.recon"] < 0.5 * first["phi/vae.kl_q_p.recon"]
    assert (tmp_path / "run" / "samples" / "final.png").exists()
