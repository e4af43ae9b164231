"""A study shaped like benchmarks/studies/ebm_fashion.toml, end to end at a tiny size: the
triangle beside energies trained by MCMC alone and the latent-space prior, at matched FLOPs;
claims on FD, on the cost of one sample and on reconstruction where only one side of another
pair reconstructs; its section written by benchmarks/study_section.py; the latent prior's
chains measured again longer by benchmarks/longer_chains.py."""

import json

from conftest import ROOT, benchmark
from study_files import fashion_study, tiny_fashion

from genzoo.study import report

study_section = benchmark("study_section")
longer_chains = benchmark("longer_chains")


def study(root, features) -> str:
    recipe = lambda name: (ROOT / "recipes" / f"{name}.toml").as_posix()  # noqa: E731
    return "\n".join(
        [
            'name = "ebm_tiny"',
            f'recipe = "{recipe("dt_fashion")}"',
            "seeds = [0, 1]",
            tiny_fashion(
                root,
                "objectives.short_run.langevin_steps=6",
                "objectives.latent_ebm.prior_steps=2",
                "objectives.latent_ebm.posterior_steps=2",
            ),
            "claims = [",
            '  "triangle < short_run on fd",',
            '  "triangle < short_run on sample_gflops",',
            '  "triangle < latent_ebm on recon_mse",',
            "]",
            '[budget]\ncompute = "flops"\niterations = 3\nreference = "triangle"',
            "[evaluate]",
            'metrics = ["fd", "recon_mse", "sample_gflops", "f_data"]',
            f'n = 32\nevery = 2\nsplit = "test"\nvalidation = 0.0\nfeatures = "{features.as_posix()}"',
            "[variants.triangle]",
            f'[variants.short_run]\nrecipe = "{recipe("short_run_fashion")}"',
            f'[variants.latent_ebm]\nrecipe = "{recipe("latent_ebm_fashion")}"',
        ]
    )


def test_an_ebm_study_tests_its_claims_writes_its_section_and_lengthens_chains(tmp_path, capsys):
    path, out, res = fashion_study(tmp_path, capsys, study, n_train=96, n_test=32, epochs=1)
    last = {}
    for c in res["cells"]:
        evals = c["evaluations"]
        last[c["variant"], c["seed"]] = evals[str(max(map(int, evals)))]
    for seed in (0, 1):
        # an energy trained by MCMC alone reconstructs nothing, and its samples cost chains
        assert last["short_run", seed]["recon_mse"] is None
        assert last["latent_ebm", seed]["recon_mse"] > 0
        assert last["short_run", seed]["sample_gflops"] > last["triangle", seed]["sample_gflops"]
        assert last["short_run", seed]["f_data"] is not None
    tests = {t["claim"]: t for t in res["claims"]}
    assert list(tests) == [
        "triangle < short_run on fd",
        "triangle < short_run on sample_gflops",
        "triangle < latent_ebm on recon_mse",
    ]
    assert all(t["verdict"] in ("holds", "fails", "undecided") for t in tests.values())
    page = tmp_path / "ebm.md"
    page.write_text("# The MCMC-trained energy models\n\nText kept.\n")
    section = [str(path), str(out / "study.json"), str(page), "--images", str(tmp_path / "img")]
    assert study_section.main(section) == 0
    text = page.read_text()
    assert text.startswith("# The MCMC-trained energy models\n\nText kept.")
    assert "Study `ebm_tiny`" in text and "triangle < short_run on sample_gflops" in text
    for m in ("fd", "recon_mse", "sample_gflops", "f_data"):  # each metric's curves, shown
        assert (tmp_path / "img" / f"study_ebm_tiny_{m}.png").stat().st_size > 1000
        assert f"](img/study_ebm_tiny_{m}.png)" in text
    # the curves are the study's means, against iterations and against FLOPs
    fig = report.curves_figure(res, "fd")
    for ax, x in zip(fig.axes, ("step", "flops")):
        assert sorted(line.get_label() for line in ax.get_lines()) == sorted(res["curves"])
        for line in ax.get_lines():
            pts = [p for p in res["curves"][line.get_label()] if p["fd"]["n"]]
            assert len(pts) >= 2
            assert list(line.get_xdata()) == [p[x] for p in pts]
            assert list(line.get_ydata()) == [p["fd"]["mean"] for p in pts]
    # written again, the section is replaced, not added
    assert study_section.main(section) == 0
    assert page.read_text() == text
    # the latent prior's chains measured again longer (benchmarks/longer_chains.py)
    args = [path, out / "study.json", page, "--variant", "latent_ebm", "--cells", out]
    args += ["--option", "objectives.latent_ebm.prior_steps", "--steps", "2,8"]
    assert longer_chains.main([*map(str, args), "--out", str(tmp_path / "lc.json")]) == 0
    got = json.loads((tmp_path / "lc.json").read_text())["measured"]
    for seed, own in got["2"].items():  # the study's own length: the study's own figures
        cell = next(
            c for c in res["cells"] if (c["variant"], c["seed"]) == ("latent_ebm", int(seed))
        )
        measured = cell["evaluations"][str(max(map(int, cell["evaluations"])))]
        assert own["fd"] == measured["fd"] and own["sample_gflops"] == measured["sample_gflops"]
        # longer prior chains on the latents, then one generator pass: dearer, not 4x
        assert own["sample_gflops"] < got["8"][seed]["sample_gflops"] < 4 * own["sample_gflops"]
