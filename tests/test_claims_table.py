"""benchmarks/claims_table.py: the claims table from a study's JSON and what the paper reports,
"not measured yet" until the study has finished."""

import json

from conftest import benchmark
from study_files import genzoo, study_text

claims_table = benchmark("claims_table")

CLAIMS = """study = "s.toml"
results = "study/study.json"
[paper.recon_mse]
source = "Table 2, CelebA test MSE"
values = { triangle = 0.030, vae = 0.039 }
[variants]
vae = "the textbook ELBO"
"""


def test_the_claims_table_reads_the_study_and_the_paper(tmp_path):
    (tmp_path / "s.toml").write_text(study_text())
    (tmp_path / "claims.toml").write_text(CLAIMS)
    page = tmp_path / "index.md"
    page.write_text("# Results\n")
    assert claims_table.main([str(tmp_path / "claims.toml"), "--page", str(page)]) == 0
    before = page.read_text()
    assert (
        "| triangle < vae on recon_mse | 0.03 vs 0.039 | — vs — | — | — | not measured yet |"
        in before
    )
    assert "`vae`: the textbook ELBO" in before and "Table 2, CelebA test MSE" in before

    p = genzoo("study", tmp_path / "s.toml", "--out", tmp_path / "study", "--quiet")
    assert p.returncode == 0, p.stderr
    res = json.loads((tmp_path / "study" / "study.json").read_text())
    t = res["claims"][0]
    assert claims_table.main([str(tmp_path / "claims.toml"), "--page", str(page)]) == 0
    after = page.read_text()
    assert after.count("<!-- claims_table -->") == 2  # the section replaced, not appended
    row = next(line for line in after.splitlines() if line.startswith("| triangle < vae"))
    assert f"| {t['test']} | {t['p_holm']:.2g} | **{t['verdict']}** |" in row
    mean = res["summary"]["triangle"]["recon_mse"]["mean"]
    assert f"{mean:.4g} [" in row and f"difference {t['diff']:.4g}" in row
    assert "not measured yet" not in after


def test_a_claim_added_with_its_variant_says_so(tmp_path):
    (tmp_path / "s.toml").write_text(study_text())
    p = genzoo("study", tmp_path / "s.toml", "--out", tmp_path / "study", "--quiet")
    assert p.returncode == 0, p.stderr
    grown = study_text(
        variants=("triangle", "vae", "wake_sleep"),
        claims=("triangle < vae on recon_mse", "triangle < wake_sleep on recon_mse"),
    )
    (tmp_path / "s.toml").write_text(grown)
    p = genzoo("study", tmp_path / "s.toml", "--out", tmp_path / "study", "--quiet")
    assert p.returncode == 0, p.stderr
    (tmp_path / "claims.toml").write_text(CLAIMS)
    page = tmp_path / "index.md"
    assert claims_table.main([str(tmp_path / "claims.toml"), "--page", str(page)]) == 0
    rows = [line for line in page.read_text().splitlines() if line.startswith("| triangle <")]
    at = json.loads((tmp_path / "study" / "study.json").read_text())["added"][0]["at"][:10]
    assert rows[0].startswith("| triangle < vae on recon_mse |")  # registered first
    assert rows[1].startswith(f"| triangle < wake_sleep on recon_mse (added {at}, before its")


def test_a_study_the_paper_has_no_values_for_and_a_variant_two_studies_describe(tmp_path):
    for name in ("s", "t"):
        (tmp_path / f"{name}.toml").write_text(study_text())
    (tmp_path / "claims.toml").write_text(CLAIMS)
    own = 'study = "t.toml"\nresults = "none.json"\n[variants]\nvae = "a VAE of its own"\n'
    (tmp_path / "own.toml").write_text(own)
    page = tmp_path / "index.md"
    page.write_text("# Results\n")
    files = [str(tmp_path / "claims.toml"), str(tmp_path / "own.toml")]
    assert claims_table.main([*files, "--page", str(page)]) == 0
    text = page.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| triangle < vae")]
    assert rows[0].startswith("| triangle < vae on recon_mse | 0.03 vs 0.039 |")
    assert rows[1].startswith("| triangle < vae on recon_mse | — vs — |")  # none of the paper's
    assert "the paper reports no values for them." in text and "the paper's values: ." not in text
    assert "- `s`: from" in text and "- `t`: from" in text  # a study without a name: its file's
    assert "- `vae` (s): the textbook ELBO" in text and "- `vae` (t): a VAE of its own" in text
