"""A study grown by variants: a study file that keeps every variant, claim and shared setting
of the study a folder holds and adds variants, with claims that name them, continues in that
folder. The variants it had keep their trials and cells; the added ones are searched and
trained as if they had been there from the start. A claim added later must name an added
variant, which has not run yet, so it is registered before its data as the others were."""

from __future__ import annotations

import datetime

from genzoo.errors import GenzooError
from genzoo.study import spec as spec_mod
from genzoo.study.spec import StudyFile


def parts_before(meta: dict, spec: StudyFile) -> dict | None:
    """The parts of the study a folder holds: stored, or read again from its study file's text
    (folders made before parts were stored), if that text still gives its fingerprint."""
    if "parts" in meta:
        return meta["parts"]
    text = meta.get("study_file")
    if not text or spec.path is None:
        return None
    try:
        before = spec_mod.load(spec.path, text)
    except (GenzooError, ValueError):
        return None
    return before.parts() if before.fingerprint() == meta.get("fingerprint") else None


def added_variants(meta: dict, spec: StudyFile, root) -> tuple[list[str], list[str]]:
    """The variants and claims ``spec`` adds to the study in ``meta``; a one-line error naming
    what else it changes."""
    name = meta.get("name")
    before, now = parts_before(meta, spec), spec.parts()
    if before is None or before["shared"] != now["shared"]:
        raise GenzooError(
            f"'{root}' holds study '{name}' with other settings; pass another --out, or delete "
            f"the folder to start this study afresh"
        )
    changed = [v for v, fp in before["variants"].items() if now["variants"].get(v) != fp]
    if changed:
        raise GenzooError(
            f"'{root}' holds study '{name}', whose variant(s) {', '.join(changed)} this study "
            f"file changes or leaves out; a study may only add variants: restore them, or pass "
            f"another --out"
        )
    removed = [c for c in before["claims"] if c not in now["claims"]]
    if removed:
        raise GenzooError(
            f"claim {removed[0]!r} was registered in '{root}' and is not in this study file; a "
            f"registered claim stays: restore it"
        )
    added = [v for v in now["variants"] if v not in before["variants"]]
    claims = [c for c in spec_mod.claims_of(spec) if c.text not in before["claims"]]
    for c in claims:
        if c.a not in added and c.b not in added:
            raise GenzooError(
                f"claim {c.text!r} compares variants the study already had, whose results may "
                f"be known; a claim added later must name a variant added with it"
            )
    return added, [c.text for c in claims]


def grow(meta: dict, spec: StudyFile, root) -> dict:
    """``meta`` for the grown study: its fingerprint, parts and file, and what was added when."""
    added, claims = added_variants(meta, spec, root)
    at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return {
        **meta,
        "fingerprint": spec.fingerprint(),
        "parts": spec.parts(),
        "study_file": spec.path.read_text() if spec.path else "",
        "added": [*meta.get("added", []), {"variants": added, "claims": claims, "at": at}],
    }
