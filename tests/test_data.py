"""Data plugins on small files made here, and the resumable batch order."""

import numpy as np
import pytest
import torch
from conftest import make_fashion_like, write_idx
from PIL import Image

from genzoo.data import ResumableBatchSampler
from genzoo.errors import GenzooError
from genzoo_datasets.idx import fashion_mnist, read_idx
from genzoo_datasets.image_folder import image_folder
from genzoo_datasets.texture_image import texture_image


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = write_idx(tmp_path / "x-idx3-ubyte", a, gz)
    assert np.array_equal(read_idx(p), a)


def test_idx_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad-idx3-ubyte"
    bad.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(GenzooError, match="not an IDX file"):
        read_idx(bad)
    a = np.zeros((10, 28, 28), np.uint8)
    p = write_idx(tmp_path / "short-idx3-ubyte", a, gz=False)
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(GenzooError, match="truncated"):
        read_idx(p)


def test_fashion_mnist_reads_splits_in_unit_range(tmp_path):
    root = make_fashion_like(tmp_path / "fm", n_train=40, n_test=12, gz=False)
    src = fashion_mnist(root=root, limit=30)
    assert src.sample_shape == (1, 28, 28)
    assert len(src.train) == 30 and len(src.test) == 12
    x, y = src.train[0]
    assert x.shape == (1, 28, 28) and -1 <= x.min() and x.max() <= 1 and 0 <= y < 10
    with pytest.raises(GenzooError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist(root=tmp_path / "nowhere")


def test_texture_crops_are_fixed_per_index_and_in_range():
    src = texture_image(image="gravel", size=32, resize=128, n_crops=50)
    assert src.sample_shape == (1, 32, 32)
    a, b = src.train[7], src.train[7]
    assert torch.equal(a, b) and a.shape == (1, 32, 32)
    assert -1 <= float(a.min()) and float(a.max()) <= 1
    assert not torch.equal(src.train[0], src.train[1])
    rgb = texture_image(image="brick", size=32, channels=3, n_crops=4)
    assert rgb.sample_shape == (3, 32, 32)


def test_texture_from_a_file_and_its_errors(tmp_path):
    arr = (np.random.default_rng(0).random((80, 96, 3)) * 255).astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "t.png")
    src = texture_image(path=tmp_path / "t.png", size=64, n_crops=3)
    assert src.sample_shape == (3, 64, 64)
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    with pytest.raises(GenzooError, match="is not a readable image"):
        texture_image(path=tmp_path / "junk.png")
    with pytest.raises(GenzooError, match="larger than the image"):
        texture_image(path=tmp_path / "t.png", size=96)


def test_image_folder_streams_resizes_and_splits(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(20):
        sub = tmp_path / "imgs" / f"class{i % 2}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((40 + i, 50, 3)) * 255).astype(np.uint8)).save(sub / f"{i}.jpg")
    src = image_folder(root=tmp_path / "imgs", size=32, test_fraction=0.25)
    assert src.sample_shape == (3, 32, 32)
    assert len(src.train) + len(src.test) == 20 and len(src.test) > 0
    assert src.train[0].shape == (3, 32, 32)
    with pytest.raises(GenzooError, match="holds no images"):
        (tmp_path / "empty").mkdir()
        image_folder(root=tmp_path / "empty")


def test_batch_order_depends_only_on_seed_and_step():
    full = ResumableBatchSampler(10, 3, seed=5)
    it = iter(full)
    batches = [next(it) for _ in range(8)]  # spans three epochs of 3 batches
    for start in (0, 2, 4, 7):
        it = iter(ResumableBatchSampler(10, 3, seed=5, start_step=start))
        assert [next(it) for _ in range(8 - start)] == batches[start:]
    epoch0 = sorted(sum(batches[:3], []))
    assert len(set(epoch0)) == 9  # no index twice within an epoch
    other = iter(ResumableBatchSampler(10, 3, seed=6))
    assert [next(other) for _ in range(3)] != batches[:3]


def test_image_folder_reads_files_on_demand_in_worker_processes(tmp_path):
    """Nothing is held in memory but paths: a file changed after the data set was built is read
    as it is now, and loader workers (one stream per process when sharded) give the same
    batches as the main process."""
    import torch

    from genzoo.data import batch_stream

    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(12):
        Image.new("RGB", (20, 20), (20 * i, 0, 0)).save(root / f"{i:02d}.png")
    src = image_folder(root=root, size=16)
    assert not any(torch.is_tensor(v) for v in vars(src.train).values())
    Image.new("RGB", (20, 20), (255, 255, 255)).save(root / "00.png")
    assert float(src.train[0].min()) == 1.0
    for shard in ((0, 1), (1, 2)):
        _, plain = batch_stream(src.train, 4, seed=1, shard=shard)
        _, workers = batch_stream(src.train, 4, seed=1, num_workers=2, shard=shard)
        for _ in range(5):
            assert torch.equal(next(plain), next(workers))


def test_batches_of_labelled_items_are_sample_tensors_and_indexed_ones_carry_their_index():
    from torch.utils.data import TensorDataset

    from genzoo.data import Example, WithIndex, batch_stream

    x = torch.arange(40.0).view(20, 2)
    labelled = TensorDataset(x, torch.arange(20))  # items (x, label): plain tuples
    _, batches = batch_stream(labelled, 4, seed=1)
    b = next(batches)
    assert torch.is_tensor(b) and b.shape == (4, 2)
    sampler, batches = batch_stream(WithIndex(labelled), 4, seed=1)
    e = next(batches)
    assert isinstance(e, Example) and torch.equal(e.x, b)
    assert torch.equal(e.x, x[e.index])  # each row is the example at its index
