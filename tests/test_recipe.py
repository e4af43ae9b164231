"""Recipes: every shipped recipe loads; typed validation; --set overrides; TOML round trip."""

import json
import tomllib

import pytest
from conftest import ROOT

from genzoo import assemble, plugins, recipe, toml_text
from genzoo.errors import GenzooError

RECIPES = sorted((ROOT / "recipes").glob("*.toml"))


def test_there_are_recipes():
    names = {p.name for p in RECIPES}
    assert {
        "dt_texture.toml",
        "dt_fashion.toml",
        "vae_fashion.toml",
        "acd_fashion.toml",
        "ws_fashion.toml",
    } <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_recipe_loads_and_names_installed_plugins(path):
    r = recipe.load(path)
    reg = plugins.registry()
    assemble.build_objective(r)
    arch = reg.get("architectures", r.model.arch).obj
    assemble.plugin_options(
        "model", arch, r.model.options, r.base_dir, positional=("sample_shape",)
    )
    data = reg.get("datasets", r.data.name).obj
    assemble.plugin_options("data", data, r.data.options, r.base_dir)


def test_fashion_recipes_differ_only_in_the_objective():
    def body(name):
        d = tomllib.loads((ROOT / "recipes" / name).read_text())
        d.pop("objective"), d.pop("name")
        return d

    ref = body("dt_fashion.toml")
    for other in ("vae_fashion.toml", "acd_fashion.toml", "ws_fashion.toml"):
        assert body(other) == ref


def write(tmp_path, text):
    p = tmp_path / "r.toml"
    p.write_text(text)
    return p


BASE = """
objective = "triangle"
[model]
arch = "texture"
[data]
name = "texture_image"
"""


@pytest.mark.parametrize(
    "text,expected",
    [
        (BASE + "[train]\nstpes = 3\n", "unknown recipe key 'train.stpes' (did you mean 'steps'?)"),
        (BASE + "[trian]\nsteps = 3\n", "unknown recipe key 'trian' (did you mean 'train'?)"),
        (
            BASE + '[train]\nsteps = "many"\n',
            "recipe key 'train.steps' must be an integer, got string 'many'",
        ),
        (BASE + "[train]\nsteps = 2.5\n", "recipe key 'train.steps' must be an integer"),
        (BASE + "[train]\nsteps = 0\n", "recipe key 'train.steps' must lie in [1, 10^12], got 0"),
        (
            BASE + "[train.alpha]\nbetas = [0.5]\n",
            "recipe key 'train.alpha.betas' must be a list of 2 values",
        ),
        (BASE + "seed = true\n", "recipe key 'seed' must be an integer, got boolean True"),
        ('[model]\narch = "texture"\n', "recipe is missing the required key 'data'"),
        (
            BASE.replace("[model]", "[model]\ns = -1.0"),
            "recipe key 'model.s' must be greater than 0",
        ),
        (BASE + 'device = "tpu"\n', "recipe key 'device' must be auto, cpu, cuda or cuda:N"),
        ("objective = [\n", "is not valid TOML"),
    ],
)
def test_bad_recipes_name_the_key(tmp_path, text, expected):
    # keys after a [table] header land in that table; put top-level keys first
    if text.startswith(BASE) and not text[len(BASE) :].startswith("["):
        text = text[len(BASE) :] + BASE
    with pytest.raises(GenzooError) as exc:
        recipe.load(write(tmp_path, text))
    assert expected in str(exc.value)
    assert "\n" not in str(exc.value)


def test_plugin_options_are_checked_against_the_plugin_signature(tmp_path):
    r = recipe.load(
        write(tmp_path, BASE.replace('arch = "texture"', 'arch = "texture"\nwidht = 0.5'))
    )
    with pytest.raises(
        GenzooError, match=r"unknown recipe key 'model.widht' \(did you mean 'width'\?\)"
    ):
        assemble.build_models(r, (1, 64, 64))
    r = recipe.load(
        write(tmp_path, BASE.replace('arch = "texture"', 'arch = "texture"\nwidth = "wide"'))
    )
    with pytest.raises(GenzooError, match="recipe key 'model.width' must be a number"):
        assemble.build_models(r, (1, 64, 64))
    r = recipe.load(
        write(tmp_path, BASE.replace('objective = "triangle"', 'objective = "triangel"'))
    )
    with pytest.raises(
        GenzooError, match=r"unknown objective 'triangel' \(did you mean 'triangle'\?\)"
    ):
        assemble.build_objective(r)
    r = recipe.load(write(tmp_path, "[objectives.acd]\nentropy_wieght = 1.0\n" + BASE))
    with pytest.raises(
        GenzooError,
        match=r"objective 'acd' has no option 'entropy_wieght' \(did you mean 'entropy_weight'\?\)",
    ):
        assemble.build_objective(r)


def test_overrides_are_typed_and_checked(tmp_path):
    p = write(tmp_path, BASE)
    r = recipe.load(
        p,
        [
            "train.steps=7",
            "model.width=0.5",
            "data.image=grass",
            'objective=["vae", "acd"]',
            "train.alpha.betas=[0.0, 0.9]",
        ],
    )
    assert r.train.steps == 7 and r.model.options["width"] == 0.5
    assert r.data.options["image"] == "grass" and r.objective == ["vae", "acd"]
    assert r.train.alpha.betas == (0.0, 0.9)
    with pytest.raises(GenzooError, match="--set expects KEY=VALUE"):
        recipe.load(p, ["train.steps"])
    with pytest.raises(GenzooError, match="--set expects KEY=VALUE"):
        recipe.load(p, ["train..steps=3"])
    with pytest.raises(GenzooError, match="must be an integer, got string '2OO'"):
        recipe.load(p, ["train.steps=2OO"])


def test_relative_paths_resolve_against_the_recipe(tmp_path):
    p = write(
        tmp_path,
        BASE.replace('name = "texture_image"', 'name = "texture_image"\npath = "img/t.png"'),
    )
    r = recipe.load(p)
    data = plugins.registry().get("datasets", "texture_image").obj
    opts = assemble.plugin_options("data", data, r.data.options, r.base_dir)
    assert opts["path"] == tmp_path / "img" / "t.png"


def test_resolved_recipe_round_trips_through_toml(tmp_path):
    r = recipe.load(
        ROOT / "recipes" / "dt_texture.toml", ['objective=[{name="vae", weight=0.5}, "acd"]']
    )
    text = toml_text.dumps(r.to_dict())
    again = recipe.from_dict(tomllib.loads(text))
    assert again.to_dict() == r.to_dict()
    assert again.identity_hash() == r.identity_hash()
    longer = recipe.load(
        ROOT / "recipes" / "dt_texture.toml",
        ["train.steps=5", "log.every=3", 'objective=[{name="vae", weight=0.5}, "acd"]'],
    )
    assert longer.identity_hash() == r.identity_hash()  # run length and logging do not count
    wider = recipe.load(ROOT / "recipes" / "dt_texture.toml", ["model.width=0.5"])
    assert (
        wider.identity_hash() != recipe.load(ROOT / "recipes" / "dt_texture.toml").identity_hash()
    )


def test_keys_added_later_count_in_the_hash_only_off_their_default():
    """A run written before a key existed resumes under the same hash; the key left at its
    default keeps it, and any other value changes it."""
    base = recipe.load(ROOT / "recipes" / "dt_texture.toml")
    d = base.to_dict()
    for section, key in (
        ("model", "s_resolution"),
        ("model", "running_stats"),
        ("model", "posterior_clamp"),
        ("train", "theta_z_hat"),
    ):
        older = json.loads(json.dumps(d))
        del older[section][key]  # as written before the key existed
        # the hash a checkpoint written then carries
        assert recipe.hash_of(recipe.identity(older)) == base.identity_hash()
    changed = recipe.load(ROOT / "recipes" / "dt_texture.toml", ['model.running_stats="prior"'])
    assert changed.identity_hash() != base.identity_hash()
