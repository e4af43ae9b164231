"""How well a landscape's basins sort the data: purity (the share of each basin's members
with its majority label), the purity basins of the same sizes reach by chance, and both at
every level of the merge tree, from many small basins to a few large ones."""

from __future__ import annotations

import torch


def purity(basin_of_start: list[int], labels: list[int]) -> tuple[float, dict[int, float]]:
    """Share of each basin's members that carry its majority label, and overall (weighted by
    basin size)."""
    per: dict[int, list[int]] = {}
    for b, y in zip(basin_of_start, labels):
        per.setdefault(b, []).append(y)
    out, agree = {}, 0
    for b, ys in per.items():
        top = max(ys.count(v) for v in set(ys))
        out[b] = top / len(ys)
        agree += top
    return agree / max(1, len(labels)), out


def chance_purity(
    basin_of_start: list[int], labels: list[int], draws: int = 200, seed: int = 0
) -> tuple[float, float]:
    """The purity that basins of the same sizes reach by chance: mean and std of ``purity``
    over ``draws`` random permutations of the labels. A purity is informative only as far as
    it exceeds this (one basin holding everything has exactly its majority share)."""
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(draws):
        perm = torch.randperm(len(labels), generator=g).tolist()
        values.append(purity(basin_of_start, [labels[i] for i in perm])[0])
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), float(t.std()) if draws > 1 else 0.0


def purity_by_level(land, labels: list[int], draws: int = 200, seed: int = 0) -> list[dict]:
    """Purity against chance at each level of the minima's merge tree where the number of
    clusters halves (1, 2, 4, ... up to the number of minima): the cluster count, the
    barrier threshold of the cut, the purity of the starting points' clusters, its chance
    mean and std, and how many chance stds the purity lies above the chance mean."""
    tree, m = land.tree, len(land.minima)
    out, k = [], 1
    while k <= m:
        threshold = tree.threshold_for(k)
        comp = tree.clusters_below(threshold)
        of_start = [comp[i] for i in land.start_to_min.tolist()]
        p, _ = purity(of_start, labels)
        mean, std = chance_purity(of_start, labels, draws, seed)
        out.append(
            {
                "clusters": len(set(comp)),
                "threshold": threshold,
                "purity": p,
                "chance_mean": mean,
                "chance_std": std,
                "above_chance_in_std": (p - mean) / std if std > 0 else None,
            }
        )
        k *= 2
    return out
