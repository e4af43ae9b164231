"""benchmarks/sample_cost.py: the FLOPs of one sample are K times one Langevin step for a
chain of K steps, and one generator pass for the triangle; the JSON and the section are
written."""

import json

from conftest import ROOT, benchmark, make_fashion_like
from study_files import genzoo

sample_cost = benchmark("sample_cost")

TINY = ["model.width=0.0625", "train.steps=2", "train.batch_size=8", 'device="cpu"']


def train(tmp_path, recipe, name, *extra):
    data = make_fashion_like(tmp_path / "data")
    sets = [*TINY, f'data.root="{data}"', *extra]
    args = ["run", ROOT / "recipes" / recipe, "--out", tmp_path / name, "--quiet"]
    for s in sets:
        args += ["--set", s]
    p = genzoo(*args)
    assert p.returncode == 0, p.stderr
    return tmp_path / name


def test_a_chain_costs_k_steps_and_the_triangle_one_generator_pass(tmp_path):
    k5 = train(tmp_path, "short_run_fashion.toml", "k5", "objectives.short_run.langevin_steps=5")
    k10 = train(tmp_path, "short_run_fashion.toml", "k10", "objectives.short_run.langevin_steps=10")
    gen = train(tmp_path, "dt_fashion.toml", "triangle")
    out, page = tmp_path / "cost.json", tmp_path / "page.md"
    args = [str(k5), str(k10), str(gen), "--batch", "4", "--repeats", "2", "--threads", "1"]
    assert sample_cost.main([*args, "--json", str(out), "--markdown", str(page)]) == 0
    rows = {r["run"]: r for r in json.loads(out.read_text())["rows"]}
    f5, f10 = rows[k5.as_posix()]["gflops_per_image"], rows[k10.as_posix()]["gflops_per_image"]
    assert abs(f10 / f5 - 2) < 0.05
    import genzoo
    from genzoo.flops import CountFlops

    model = genzoo.load(gen)
    with CountFlops() as one_pass:
        model.models.generator(model.prior(4, seed=0))
    assert rows[gen.as_posix()]["gflops_per_image"] == one_pass.total / 4 / 1e9
    assert all(r["seconds_per_image"] > 0 for r in rows.values())
    assert rows[k5.as_posix()]["objective"] == "short_run"
    text = page.read_text()
    assert "<!-- sample_cost:ebm_fashion -->" in text and "short_run" in text
    # a model measured later joins the rows at the same settings; other settings start anew
    before = json.loads(out.read_text())["rows"]
    again = [str(k5), *args[3:], "--json", str(out), "--markdown", str(page)]
    assert sample_cost.main(again) == 0
    after = json.loads(out.read_text())["rows"]
    assert [r["run"] for r in after] == [k10.as_posix(), gen.as_posix(), k5.as_posix()]
    assert after[:2] == [r for r in before if r["run"] != k5.as_posix()]
    assert all(len(r["date"]) == 10 for r in after)
    assert sample_cost.main([*again[:1], "--batch", "2", *again[3:]]) == 0
    assert [r["run"] for r in json.loads(out.read_text())["rows"]] == [k5.as_posix()]
