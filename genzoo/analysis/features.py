"""Feature networks that genzoo trains itself for sample-quality metrics (``genzoo features``).

For each labelled data set genzoo can train a classifier on the training labels and use its
penultimate layer as feature space: Fréchet distances in it are reported as ``FD-<dataset>``
(e.g. FD-FMNIST), never as FID, and are comparable only between runs measured with the same
weights (their hash is recorded). Published FIDs use the standard Inception-v3
(``genzoo_features.inception``); both go through the same torchmetrics objects.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file
from safetensors.torch import save as st_save

from genzoo import plugins
from genzoo.assemble import plugin_options
from genzoo.data import DataSource
from genzoo.errors import GenzooError
from genzoo.interfaces import PretrainedFeatures
from genzoo.store.files import atomic_write


def cache_dir() -> Path:
    return Path(os.environ.get("GENZOO_CACHE", Path.home() / ".cache" / "genzoo"))


def default_path(dataset: str) -> Path:
    return cache_dir() / "features" / f"{dataset}.safetensors"


def classifier_extractor(path: Path, device="cpu"):
    """A trained feature network as a :class:`genzoo.metrics.Extractor`."""
    import hashlib

    from genzoo.metrics import Extractor

    net, meta = load_feature_network(path)
    net.to(device)

    def pair(x):
        f = net.features(x)
        return f, net.logits(f)

    probe = torch.zeros((1, *meta["sample_shape"]), device=device)
    with torch.no_grad():
        dim = int(net.features(probe).shape[1])
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    return Extractor(
        pair,
        dim,
        {
            "feature_network": f"{meta['network']} trained on {meta['dataset']}",
            "weights": str(path),
            "weights_sha256": digest,
            "feature_network_accuracy": meta["test_accuracy"],
            "resize": "none",
        },
        device,
    )


def _labels(ds) -> torch.Tensor:
    if hasattr(ds, "labels"):
        return torch.as_tensor(ds.labels)
    return torch.tensor([int(ds[i][1]) for i in range(len(ds))])


def _images(ds) -> torch.Tensor:
    if hasattr(ds, "images"):
        return ds.images
    return torch.stack([ds[i][0] for i in range(len(ds))])


def accuracy(net, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    net.eval()
    with torch.no_grad():
        hits = sum(
            int((net(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
            for i in range(0, len(x), batch)
        )
    return hits / len(x)


def train_feature_network(
    dataset: str,
    options: dict,
    out: Path | None = None,
    epochs: int = 3,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    network: str = "classifier",
    show_progress: bool = True,
) -> dict:
    """Train ``network`` on ``dataset``'s training labels; save weights and a sidecar."""
    reg = plugins.registry()
    build = reg.get("feature_networks", network).obj
    if isinstance(build, PretrainedFeatures):
        raise GenzooError(
            f"feature network '{network}' comes with published weights and is not "
            f"trained here; pick a trainable one such as 'classifier'"
        )
    entry = reg.get("datasets", dataset)
    source: DataSource = entry.obj(**plugin_options("data", entry.obj, options, Path.cwd()))
    if source.test is None or not isinstance(source.train[0], (tuple, list)):
        raise GenzooError(
            f"dataset '{dataset}' has no labels and test split to train a feature "
            f"classifier on; sample-quality metrics need a labelled data set"
        )
    torch.manual_seed(seed)
    x, y = _images(source.train), _labels(source.train)
    xt, yt = _images(source.test), _labels(source.test)
    n_classes = int(max(y.max(), yt.max())) + 1
    net = build(source.sample_shape, n_classes)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * (len(x) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps))
    g = torch.Generator().manual_seed(seed)
    from rich.progress import Progress

    with Progress(disable=not show_progress) as prog:
        task = prog.add_task(f"training the {network} on {dataset}", total=steps)
        for _epoch in range(epochs):
            net.train()
            perm = torch.randperm(len(x), generator=g)
            for i in range(len(x) // batch_size):
                idx = perm[i * batch_size : (i + 1) * batch_size]
                loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                prog.advance(task)
    acc = accuracy(net, xt, yt)
    out = Path(out) if out else default_path(dataset)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "dataset": dataset,
        "options": {k: str(v) for k, v in options.items()},
        "network": network,
        "sample_shape": list(source.sample_shape),
        "n_classes": n_classes,
        "test_accuracy": acc,
        "epochs": epochs,
        "train_size": len(x),
        "test_size": len(xt),
    }
    atomic_write(out, st_save({k: v.contiguous() for k, v in net.state_dict().items()}))
    atomic_write(out.with_suffix(".json"), json.dumps(meta, indent=1).encode())
    return {**meta, "path": str(out)}


def load_feature_network(path: Path):
    """A trained feature network and its sidecar."""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    if not path.exists() or not sidecar.exists():
        raise GenzooError(
            f"feature network '{path}' not found; train it with 'genzoo features train DATASET'"
        )
    try:
        meta = json.loads(sidecar.read_text())
        net = (
            plugins.registry()
            .get("feature_networks", meta["network"])
            .obj(tuple(meta["sample_shape"]), meta["n_classes"])
        )
        net.load_state_dict(load_file(str(path)))
    except GenzooError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file of any kind
        raise GenzooError(
            f"feature network '{path}' is unreadable ({type(exc).__name__}); "
            f"train it again with 'genzoo features train'"
        ) from None
    return net.eval(), meta
