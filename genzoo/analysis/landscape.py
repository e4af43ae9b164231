"""Energy-landscape mapping (section 4.3): local minima of -f, energy barriers between them,
and the hierarchical clustering behind a disconnectivity graph.

Every function takes an energy model ``f`` (a callable returning one score per example; the
energy is ``-f``) and works in batches, so thousands of minima map in minutes on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from genzoo.analysis import box_descent
from genzoo.analysis import paths as paths_mod
from genzoo.analysis.box_descent import energy_of
from genzoo.errors import GenzooError


def _advance(progress, task, n: int) -> None:
    if progress is not None:
        progress.advance(task, n)


def descend(
    f,
    x0: torch.Tensor,
    eta: float = 0.01,
    max_steps: int = 500,
    grad_tol: float = 1e-3,
    energy_tol: float = 1e-6,
    bounds: tuple[float, float] | None = (-1.0, 1.0),
    batch: int = 256,
    progress=None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Steepest descent on the energy -f: ``x <- x + eta * grad f(x)``, clamped to ``bounds``.

    A point stops once its gradient norm falls under ``grad_tol`` or its energy changes by less
    than ``energy_tol``. Returns ``(minima, energies, steps_taken)``.
    """
    outs, energies, steps = [], [], []
    task = progress.add_task("descending", total=len(x0)) if progress is not None else None
    for i in range(0, len(x0), batch):
        x = x0[i : i + batch].clone().detach()
        active = torch.ones(len(x), dtype=torch.bool, device=x.device)
        taken = torch.zeros(len(x), dtype=torch.long)
        e_prev = torch.full((len(x),), float("inf"), device=x.device, dtype=x.dtype)
        for _ in range(max_steps):
            if not bool(active.any()):
                break
            xa = x[active].requires_grad_(True)
            fa = f(xa)
            (g,) = torch.autograd.grad(fa.sum(), xa)
            gnorm = g.flatten(1).norm(dim=1)
            e = -fa.detach()
            with torch.no_grad():
                step = xa + eta * g
                if bounds is not None:
                    step = step.clamp(*bounds)
                idx = active.nonzero().squeeze(1)
                done = (gnorm < grad_tol) | ((e_prev[idx] - e).abs() < energy_tol)
                x[idx[~done]] = step[~done].detach()
                e_prev[idx] = e
                taken[idx[~done].cpu()] += 1
                active[idx[done]] = False
        outs.append(x.detach())
        energies.append(energy_of(f, x))
        steps.append(taken)
        _advance(progress, task, len(x))
    return torch.cat(outs), torch.cat(energies), torch.cat(steps)


def projected_grad_norm(
    f, x: torch.Tensor, bounds: tuple[float, float] | None = (-1.0, 1.0), batch: int = 256
) -> torch.Tensor:
    """Norm of each point's descent direction ``grad f`` inside the box ``bounds``: components
    that push a pixel already at a bound further out are dropped (they cannot move it). Zero
    at a true (possibly constrained) minimum."""
    out = []
    for i in range(0, len(x), batch):
        xa = x[i : i + batch].detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(f(xa).sum(), xa)
        out.append(box_descent.projected(g, xa, bounds).flatten(1).norm(dim=1).detach())
    return torch.cat(out) if out else torch.zeros(0)


def descent_report(
    f,
    x: torch.Tensor,
    taken: torch.Tensor,
    max_steps: int,
    bounds: tuple[float, float] | None = (-1.0, 1.0),
) -> dict:
    """How far the descent got: the share of points that stopped before ``max_steps``, the
    median projected gradient norm at the end, and the share of pixels sitting on a bound."""
    gn = projected_grad_norm(f, x, bounds)
    at_bound = 0.0
    if bounds is not None and len(x):
        at_bound = float(((x <= bounds[0]) | (x >= bounds[1])).float().mean())
    return {
        "converged": float((taken < max_steps).float().mean()) if len(taken) else 1.0,
        "grad_norm_median": float(gn.median()) if len(gn) else 0.0,
        "at_bound": at_bound,
        "max_steps": max_steps,
    }


def merge_minima(x: torch.Tensor, energies: torch.Tensor, tol: float) -> torch.Tensor:
    """Group minima that are the same point: RMS distance per coordinate under ``tol``.
    Returns for each input the index of its group's lowest-energy representative."""
    n = len(x)
    flat = x.flatten(1)
    scale = flat.shape[1] ** 0.5
    order = energies.argsort()
    rep = torch.full((n,), -1, dtype=torch.long)
    reps: list[int] = []
    for i in order.tolist():
        if reps:
            d = torch.cdist(flat[i : i + 1], flat[reps]).squeeze(0) / scale
            j = int(d.argmin())
            if float(d[j]) < tol:
                rep[i] = reps[j]
                continue
        rep[i] = i
        reps.append(i)
    return rep


def barrier(
    f, a: torch.Tensor, b: torch.Tensor, grid: int = 32, batch: int = 4096, progress=None
) -> torch.Tensor:
    """The highest energy along each straight path ``a[k] -> b[k]`` on ``grid`` points of
    gamma in [0, 1] (both ends included)."""
    gammas = torch.linspace(0, 1, grid, device=a.device, dtype=a.dtype)
    task = progress.add_task("barriers", total=len(a)) if progress is not None else None
    out = []
    pairs_per_batch = max(1, batch // grid)
    for i in range(0, len(a), pairs_per_batch):
        aa, bb = a[i : i + pairs_per_batch], b[i : i + pairs_per_batch]
        shape = (-1,) + (1,) * (aa.dim() - 1)
        path = aa.unsqueeze(1) + gammas.view(1, grid, *shape[1:]) * (bb - aa).unsqueeze(1)
        e = energy_of(f, path.flatten(0, 1), batch).view(len(aa), grid)
        out.append(e.max(1).values)
        _advance(progress, task, len(aa))
    return torch.cat(out) if out else torch.zeros(0)


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i


@dataclass
class MergeTree:
    """Single-linkage clustering of minima by barrier energy.

    ``merges`` lists ``(level, a, b, new)``: clusters ``a`` and ``b`` join at barrier ``level``
    into cluster ``new`` (clusters ``0..n-1`` are the minima, later ids the merges), in
    increasing order of level; ``links[k]`` is the pair of minima whose barrier made merge k.
    """

    n: int
    merges: list[tuple[float, int, int, int]] = field(default_factory=list)
    links: list[tuple[int, int]] = field(default_factory=list)

    def threshold_for(self, k: int) -> float:
        """The barrier level below which the merges leave ``k`` clusters (inf: the tree has
        too few merges to get down to ``k``)."""
        cut = self.n - max(1, k)
        return self.merges[cut][0] if 0 <= cut < len(self.merges) else float("inf")

    def clusters_below(self, threshold: float) -> list[int]:
        """Component (a root minimum) of each minimum, joining only below ``threshold``."""
        uf = _UnionFind(self.n)
        for (level, *_), (i, j) in zip(self.merges, self.links):
            if level >= threshold:
                break
            uf.parent[uf.find(i)] = uf.find(j)
        return [uf.find(i) for i in range(self.n)]


def cluster(n: int, pairs: torch.Tensor, barriers: torch.Tensor) -> MergeTree:
    """Single linkage over the given ``(i, j)`` pairs with their barriers (Kruskal order)."""
    uf = _UnionFind(n)
    cluster_of = list(range(n))  # union-find root -> current cluster id
    tree = MergeTree(n)
    for k in barriers.argsort(stable=True).tolist():
        i, j = (int(v) for v in pairs[k])
        ri, rj = uf.find(i), uf.find(j)
        if ri == rj:
            continue
        new = n + len(tree.merges)
        tree.merges.append((float(barriers[k]), cluster_of[ri], cluster_of[rj], new))
        tree.links.append((i, j))
        uf.parent[ri] = rj
        cluster_of[rj] = new
    return tree


def candidate_pairs(x: torch.Tensor, k: int) -> torch.Tensor:
    """Each minimum with its ``k`` nearest others (Euclidean): the pairs whose barriers are
    computed. Returns unique ``(i, j)`` with ``i < j``."""
    flat = x.flatten(1)
    n = len(flat)
    if n < 2:
        return torch.zeros((0, 2), dtype=torch.long)
    k = min(k, n - 1)
    d = torch.cdist(flat, flat)
    d.fill_diagonal_(float("inf"))
    nn_idx = d.topk(k, largest=False).indices
    i = torch.arange(n).repeat_interleave(k)
    j = nn_idx.flatten().cpu()
    pairs = torch.stack([torch.minimum(i, j), torch.maximum(i, j)], 1)
    return torch.unique(pairs, dim=0)


def connect(
    f, x: torch.Tensor, pairs: torch.Tensor, bars: torch.Tensor, grid: int, batch: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Add barriers between disconnected components (their closest pair of minima) until the
    pair graph connects every minimum, so the clustering ends in one basin."""
    n = len(x)
    flat = x.flatten(1)
    while True:
        tree = cluster(n, pairs, bars)
        if len(tree.merges) >= n - 1:
            return pairs, bars
        comp = torch.tensor(tree.clusters_below(float("inf")))  # the graph's components
        roots = comp.unique().tolist()
        new = []
        for a_i, ra in enumerate(roots):
            ia = (comp == ra).nonzero().squeeze(1)
            best = None
            for rb in roots[a_i + 1 :]:
                ib = (comp == rb).nonzero().squeeze(1)
                d = torch.cdist(flat[ia], flat[ib])
                flat_idx = int(d.argmin())
                cand = (
                    float(d.flatten()[flat_idx]),
                    int(ia[flat_idx // len(ib)]),
                    int(ib[flat_idx % len(ib)]),
                )
                best = cand if best is None or cand[0] < best[0] else best
            if best is not None:
                new.append(sorted(best[1:]))
        new_pairs = torch.tensor(new, dtype=torch.long)
        new_bars = barrier(f, x[new_pairs[:, 0]], x[new_pairs[:, 1]], grid, batch)
        pairs = torch.cat([pairs, new_pairs])
        bars = torch.cat([bars, new_bars])


@dataclass
class Landscape:
    minima: torch.Tensor  # (m, ...) distinct minima
    energies: torch.Tensor  # (m,)
    start_to_min: torch.Tensor  # (n,) index into minima for each starting point
    tree: MergeTree
    basin_of_min: list[int]  # basin id (0..B-1) of each minimum
    basin_levels: list[float]  # lowest energy in each basin
    threshold: float
    pairs: torch.Tensor  # (p, 2) minima whose barriers were computed
    barriers: torch.Tensor  # (p,)
    descent: dict = field(default_factory=dict)  # descent_report of the starting points
    converged: torch.Tensor | None = None  # (n,) bool: each start's descent reached a minimum
    straight_barriers: torch.Tensor | None = None  # (p,) the straight line's, where paths ran
    path_barriers: torch.Tensor | None = None  # (p,) the relaxed strings' (genzoo.analysis.paths)

    @property
    def n_basins(self) -> int:
        return len(self.basin_levels)

    @property
    def basin_of_start(self) -> list[int]:
        return [self.basin_of_min[m] for m in self.start_to_min.tolist()]

    def basin_tree(self) -> MergeTree:
        """The merge tree between basins: single linkage over the barriers between minima of
        different basins."""
        b = torch.tensor(self.basin_of_min, dtype=torch.long)
        if len(self.pairs) == 0:
            return MergeTree(self.n_basins)
        bp = b[self.pairs]
        keep = bp[:, 0] != bp[:, 1]
        return cluster(self.n_basins, bp[keep], self.barriers[keep])


def map_landscape(
    f,
    x0: torch.Tensor,
    eta: float = 0.01,
    max_steps: int = 500,
    grad_tol: float = 1e-3,
    energy_tol: float = 1e-6,
    same_tol: float = 1e-3,
    threshold: float | None = None,
    n_basins: int = 20,
    neighbours: int = 10,
    grid: int = 32,
    bounds: tuple[float, float] | None = (-1.0, 1.0),
    batch: int = 256,
    show_progress: bool = False,
    method: str = "steepest",
    paths: dict | None = None,
) -> Landscape:
    """Descend from every start, merge identical minima, compute barriers between
    neighbouring minima, cluster by barrier, and cut basins at the barrier ``threshold``
    (by default, the level that leaves ``n_basins`` basins).

    ``method``: ``"steepest"``, the paper's fixed step ``eta`` (:func:`descend`), or
    ``"projected"``, projected gradient descent with a line search that stops only at a
    minimum (:func:`genzoo.analysis.box_descent.descend_box`). ``paths``: keywords of
    :func:`genzoo.analysis.paths.path_barriers` (``images``, ``iterations``, ``step``) to
    relax a string between every pair as well; a pair's barrier is then the lower of the
    straight line's and the string's highest point (both bound the true one from above)."""
    if len(x0) == 0:
        raise GenzooError("landscape mapping needs at least one starting point")
    from rich.progress import Progress

    with Progress(disable=not show_progress) as progress:
        if method == "projected":
            d = box_descent.descend_box(f, x0, eta, max_steps, grad_tol, bounds, batch, progress)
            x, e, converged = d.minima, d.energies, d.converged
            report = box_descent.report(d, bounds, max_steps, grad_tol)
        else:
            x, e, taken = descend(
                f, x0, eta, max_steps, grad_tol, energy_tol, bounds, batch, progress
            )
            report = descent_report(f, x, taken, max_steps, bounds)
            converged = taken < max_steps
        rep = merge_minima(x, e, same_tol)
        keep = rep.unique()
        pairs = candidate_pairs(x[keep], neighbours)
        bars = (
            barrier(f, x[keep][pairs[:, 0]], x[keep][pairs[:, 1]], grid, progress=progress)
            if len(pairs)
            else torch.zeros(0)
        )
    index = {int(r): i for i, r in enumerate(keep.tolist())}
    start_to_min = torch.tensor([index[int(r)] for r in rep.tolist()])
    minima, energies = x[keep], e[keep]
    pairs, bars = connect(f, minima, pairs, bars, grid, 4096) if len(minima) > 1 else (pairs, bars)
    straight = along = None
    if paths is not None and len(pairs):
        with Progress(disable=not show_progress) as progress:
            along = paths_mod.path_barriers(
                f,
                minima[pairs[:, 0]],
                minima[pairs[:, 1]],
                bounds=bounds,
                progress=progress,
                **paths,
            )
        straight, bars = bars, torch.minimum(bars, along)
    tree = cluster(len(minima), pairs, bars)
    if threshold is None:
        threshold = tree.threshold_for(n_basins)
    comp = tree.clusters_below(threshold)
    ids = {c: i for i, c in enumerate(dict.fromkeys(comp))}
    basin_of_min = [ids[c] for c in comp]
    basin_levels = [float("inf")] * len(ids)
    for m, b in enumerate(basin_of_min):
        basin_levels[b] = min(basin_levels[b], float(energies[m]))
    return Landscape(
        minima,
        energies,
        start_to_min,
        tree,
        basin_of_min,
        basin_levels,
        threshold,
        pairs,
        bars,
        report,
        converged,
        straight,
        along,
    )
