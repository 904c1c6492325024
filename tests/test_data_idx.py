"""The IDX reader and the Fashion-MNIST loader on files written here (gzipped and plain, broken)."""

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from data_fixture import synthetic_fashion, write_fashion_folder, write_idx  # noqa: E402

from hyperweights.data import fashion_mnist_dirs, load_dataset, load_fashion_mnist, read_idx
from hyperweights.data.loaders import FASHION_DIRS


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_read_idx_returns_the_written_array_plain_and_gzipped(tmp_path, name):
    images, _ = synthetic_fashion(7, seed=3)
    out = read_idx(write_idx(tmp_path / name, images))
    assert out.dtype == np.uint8 and out.shape == (7, 28, 28)
    np.testing.assert_array_equal(out, images)
    out[0, 0, 0] = 1                                    # writable: torch.as_tensor must not warn


def test_read_idx_reads_big_endian_wider_types(tmp_path):
    values = np.array([[1, -2], [300, 40000]], dtype=">i4")
    path = tmp_path / "ints-idx2"
    path.write_bytes(bytes([0, 0, 0x0C, 2, 0, 0, 0, 2, 0, 0, 0, 2]) + values.tobytes())
    np.testing.assert_array_equal(read_idx(path), values.astype(np.int32))


def test_truncated_file_is_a_clear_error(tmp_path):
    images, _ = synthetic_fashion(4, seed=0)
    path = write_idx(tmp_path / "x-idx3-ubyte", images)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"truncated.*shape \(4, 28, 28\).*download it again"):
        read_idx(path)
    path.write_bytes(path.read_bytes()[:9])
    with pytest.raises(ValueError, match="truncated inside its header"):
        read_idx(path)


def test_truncated_gzip_and_foreign_files_are_clear_errors(tmp_path):
    images, _ = synthetic_fashion(4, seed=0)
    gz = write_idx(tmp_path / "x-idx3-ubyte.gz", images)
    gz.write_bytes(gz.read_bytes()[:40])
    with pytest.raises(ValueError, match="not a complete gzip file"):
        read_idx(gz)
    html = tmp_path / "y-idx1-ubyte.gz"
    html.write_bytes(gzip.compress(b"<html>not found</html>"))
    with pytest.raises(ValueError, match="not an IDX file: its magic number is 3c68746d"):
        read_idx(html)


@pytest.mark.parametrize("gzipped", [True, False])
def test_loader_reads_a_folder_in_either_form(tmp_path, gzipped):
    folder = write_fashion_folder(tmp_path / "fm", gzipped=gzipped, train=60, test=20)
    split = load_fashion_mnist(folder, seed=1)
    assert split.x_train.shape == (60, 784) and split.x_test.shape == (20, 784)
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    assert 0.0 <= split.x_train.min() and split.x_train.max() <= 1.0
    # the training rows are shuffled with the seed, the test rows keep the file's order
    images, labels = synthetic_fashion(20, seed=1)
    torch.testing.assert_close(split.x_test, torch.tensor(images.reshape(20, 784) / 255.0, dtype=torch.float32))
    assert split.y_test.tolist() == labels.tolist()
    again = load_fashion_mnist(folder, seed=2)
    assert sorted(again.y_train.tolist()) == sorted(split.y_train.tolist())
    assert not torch.equal(again.y_train, split.y_train)


def test_environment_variable_is_the_only_place_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("HYPERWEIGHTS_DATA", str(tmp_path))
    assert fashion_mnist_dirs() == [tmp_path / "fashion-mnist"]
    with pytest.raises(FileNotFoundError, match=r"make data.*HYPERWEIGHTS_DATA"):
        load_fashion_mnist()                          # never falls back to the system folder
    write_fashion_folder(tmp_path / "fashion-mnist", gzipped=False, train=30, test=10)
    assert len(load_dataset("fashion_mnist").x_train) == 30
    monkeypatch.delenv("HYPERWEIGHTS_DATA")
    assert fashion_mnist_dirs() == [Path(d) for d in FASHION_DIRS]   # the loader's own default


def test_the_suite_reads_the_synthetic_copy(fashion_mnist_fixture):
    split = load_fashion_mnist()
    assert fashion_mnist_dirs() == [fashion_mnist_fixture / "fashion-mnist"]
    assert len(split.x_train) == 3000 and len(split.x_test) == 500


def test_a_missing_file_and_mismatched_parts_are_clear_errors(tmp_path):
    folder = write_fashion_folder(tmp_path / "fm", gzipped=True, train=10, test=10)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="lacks t10k-labels-idx1-ubyte"):
        load_fashion_mnist(folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(9, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"t10k files hold images of shape \(10, 28, 28\) and labels of shape \(9,\)"):
        load_fashion_mnist(folder)
