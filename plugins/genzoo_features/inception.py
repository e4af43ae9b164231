"""The standard Inception-v3 of FID/KID/IS (the TensorFlow 2015-12-05 graph, as torch-fidelity
and torchmetrics run it), as a :class:`genzoo.metrics.Extractor`.

Weights: a file given as ``--inception-weights`` or ``$GENZOO_INCEPTION_WEIGHTS``; otherwise
torch-fidelity's published file, downloaded once into ``$GENZOO_CACHE/inception`` and checked
against the SHA-256 prefix in its name (a mismatch is deleted). Whatever the source, the
weights are read as tensors only (safetensors, or ``torch.load(weights_only=True)``), never
unpickled as arbitrary objects. Images are mapped from [-1, 1] to 0..255, gray ones repeated
to three channels, and resized to 299x299 by torch-fidelity's TF-1.x-exact bilinear filter.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

from genzoo.analysis.features import cache_dir
from genzoo.errors import GenzooError
from genzoo.metrics import Extractor

INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    "weights-inception-2015-12-05-6726825d.pth"
)
SHA256_PREFIX = "6726825d"
ENV = "GENZOO_INCEPTION_WEIGHTS"


def weights_path(path: Path | None = None) -> Path:
    """The weights file to use: ``path``, ``$GENZOO_INCEPTION_WEIGHTS``, or the cached download
    (fetched now if missing)."""
    given = path or os.environ.get(ENV)
    if given:
        p = Path(given).expanduser()
        if not p.is_file():
            raise GenzooError(
                f"Inception weights '{p}' not found; pass an existing file to "
                f"--inception-weights (or {ENV}), or leave both unset to download"
            )
        return p
    dst = cache_dir() / "inception" / INCEPTION_URL.rsplit("/", 1)[1]
    if not dst.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(
                INCEPTION_URL, str(dst), hash_prefix=SHA256_PREFIX, progress=False
            )
        except RuntimeError as exc:  # the hash did not match: the temporary file is gone
            raise GenzooError(
                f"the Inception weights downloaded from {INCEPTION_URL} failed "
                f"their checksum and were removed ({exc}); try again"
            ) from None
        except OSError as exc:
            raise GenzooError(
                f"could not download the Inception weights from {INCEPTION_URL} "
                f"({exc}); download the file by hand and pass it with "
                f"--inception-weights or {ENV}"
            ) from None
    return dst


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict of tensors from a .safetensors or .pth file, without unpickling objects."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any damaged or foreign file
        raise GenzooError(
            f"Inception weights '{path}' are unreadable ({type(exc).__name__}); download them again"
        ) from None
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise GenzooError(f"'{path}' holds no Inception state dict of tensors")
    return state


def inception_extractor(path: Path | None = None, device="cpu") -> Extractor:
    """The Inception-v3 extractor: 2048-d pool features and the 1008 unbiased logits."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    path = weights_path(path)
    state = read_weights(path)
    with tempfile.TemporaryDirectory() as tmp:  # torch-fidelity reads a path: give it ours
        clean = Path(tmp) / "inception.pth"
        torch.save(state, clean)
        try:
            net = FeatureExtractorInceptionV3(
                "inception-v3-compat",
                ["2048", "logits_unbiased"],
                feature_extractor_weights_path=str(clean),
            )
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0][:120]
            raise GenzooError(
                f"'{path}' is not the FID Inception-v3 state dict ({first}); use "
                f"torch-fidelity's weights file"
            ) from None
    net = net.to(device).eval()

    def pair(x: torch.Tensor):
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        images = x.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)
        return net(images)

    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return Extractor(
        pair,
        2048,
        {
            "feature_network": "inception-v3-compat (FID)",
            "weights": str(path),
            "weights_sha256": digest,
            "resize": "bilinear to 299x299 (torch-fidelity, TF 1.x exact)",
        },
        device,
    )
