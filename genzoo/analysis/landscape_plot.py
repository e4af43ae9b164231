"""Drawing a disconnectivity graph (Figs. 14 and 15) with matplotlib."""

from __future__ import annotations

from pathlib import Path

import torch

from genzoo.analysis.landscape import Landscape


def _drawn_tree(land: Landscape, kept: set[int]):
    """The basin merge tree restricted to ``kept`` basins: ``children`` of each drawn internal
    node, its ``level``, and the roots."""
    tree = land.basin_tree()
    drawn: dict[int, int | None] = {b: (b if b in kept else None) for b in range(tree.n)}
    children: dict[int, tuple[int, int]] = {}
    level: dict[int, float] = {b: land.basin_levels[b] for b in kept}
    for lv, a, b, new in tree.merges:
        da, db = drawn.get(a), drawn.get(b)
        if da is not None and db is not None:
            children[new] = (da, db)
            level[new] = lv
            drawn[new] = new
        else:
            drawn[new] = da if da is not None else db
    used = {c for pair in children.values() for c in pair}
    roots = [n for n in set(children) | kept if n not in used]
    return children, level, roots


def draw_disconnectivity(
    land: Landscape,
    out: Path,
    min_size: int = 4,
    max_images: int = 12,
    labels: list[int] | None = None,
    title: str = "",
) -> Path:
    """Vertical lines: basin depth in energy; horizontal lines: the barrier at which basins
    merge; under each basin up to ``max_images`` of its minima, lowest energy first. Basins
    with fewer than ``min_size`` members (starting points) are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = torch.bincount(torch.tensor(land.basin_of_start), minlength=land.n_basins).tolist()
    kept = {b for b, s in enumerate(sizes) if s >= min_size} or set(range(land.n_basins))
    children, level, roots = _drawn_tree(land, kept)

    order: list[int] = []

    def visit(node):
        if node in children:
            for c in children[node]:
                visit(c)
        else:
            order.append(node)

    for r in sorted(roots, key=lambda n: level[n]):
        visit(r)
    x: dict[int, float] = {leaf: float(i) for i, leaf in enumerate(order)}

    def place(node):
        if node not in x:
            a, b = children[node]
            x[node] = (place(a) + place(b)) / 2
        return x[node]

    for r in roots:
        place(r)

    image_like = land.minima.dim() == 4 and land.minima.shape[1] in (1, 3)
    # lay the figure out in inches: every basin column is `cell` wide, so member images keep
    # their aspect under their basin however many basins there are
    cell = min(0.5, 12.0 / max(1, len(order)))
    left, right, tree_h, gap = 1.0, 0.3, 4.0, 0.6
    axes_w = max(4.0, len(order) * cell)
    pad = (axes_w / cell - len(order)) / 2
    xlim = (-0.5 - pad, len(order) - 0.5 + pad)
    img_h = max_images * cell if image_like else 0.0
    fig_w, fig_h = left + axes_w + right, tree_h + gap + img_h + 0.8
    fig = plt.figure(figsize=(fig_w, fig_h))
    ax = fig.add_axes([left / fig_w, (img_h + gap) / fig_h, axes_w / fig_w, tree_h / fig_h])
    top = max(level.values()) if level else 0.0
    span = (top - min(level.values())) if level else 1.0
    parent_level = {c: level[p] for p, cs in children.items() for c in cs}
    for node, y0 in level.items():
        y1 = parent_level.get(node, top + 0.05 * (span or 1.0))
        ax.plot([x[node], x[node]], [y0, y1], color="k", lw=1)
    for node, (a, b) in children.items():
        ax.plot([x[a], x[b]], [level[node], level[node]], color="k", lw=1)
    for leaf in order:
        text = f"{sizes[leaf]}"
        if labels is not None:
            members = [y for bb, y in zip(land.basin_of_start, labels) if bb == leaf]
            top_label = max(set(members), key=members.count)
            text += f"\n[{top_label}]"
        ax.annotate(
            text,
            (x[leaf], level[leaf]),
            textcoords="offset points",
            xytext=(0, -14),
            ha="center",
            va="top",
            fontsize=7,
        )
    ax.set_xlim(*xlim)
    ax.set_xticks([])
    ax.set_ylabel("energy  -f(x)")
    ax.set_title(
        title
        or f"{len(order)} of {land.n_basins} basins (>= {min_size} members), "
        f"{len(land.minima)} minima",
        fontsize=9,
    )
    if image_like:
        _draw_members(
            fig.add_axes([left / fig_w, 0.1 / fig_h, axes_w / fig_w, img_h / fig_h]),
            land,
            order,
            max_images,
            xlim,
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _draw_members(ax, land: Landscape, order: list[int], max_images: int, xlim) -> None:
    c, h, w = land.minima.shape[1:]
    canvas = torch.ones(c, max_images * (h + 1), len(order) * (w + 1))
    for col, basin in enumerate(order):
        members = [m for m, b in enumerate(land.basin_of_min) if b == basin]
        members.sort(key=lambda m: float(land.energies[m]))
        for row, m in enumerate(members[:max_images]):
            img = land.minima[m].detach().float().cpu().clamp(-1, 1).add(1).div(2)
            canvas[:, row * (h + 1) : row * (h + 1) + h, col * (w + 1) : col * (w + 1) + w] = img
    picture = canvas.permute(1, 2, 0).numpy()
    ax.imshow(
        picture[..., 0] if c == 1 else picture,
        cmap="gray" if c == 1 else None,
        vmin=0,
        vmax=1,
        aspect="auto",
        extent=(-0.5, len(order) - 0.5, max_images, 0),
    )
    ax.set_xlim(*xlim)
    ax.set_ylim(max_images, 0)
    ax.axis("off")
