# Copyright 2026 depth_anything_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Generic RGB-D folder format (writer and loader) and the training / eval transforms."""

import cv2
import numpy as np
import pytest
import torch

from depth_anything_ros.training.datasets import (
    build_dataset,
    GenericDataset,
    GenericWriter,
    read_depth,
)
from depth_anything_ros.training.transforms import (
    EvalTransform,
    lower_bound_size,
    MEAN,
    STD,
    TrainTransform,
)


def _scene(h: int = 30, w: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = np.tile(np.linspace(0.5, 6.0, w, dtype=np.float32), (h, 1))
    depth[0, :5] = 0.0
    depth[1, :5] = np.nan
    return rgb, depth


@pytest.mark.parametrize('fmt', ['png16', 'npy'])
def test_writer_and_loader_round_trip(tmp_path, fmt) -> None:
    writer = GenericWriter(tmp_path, depth_scale=1e-3, depth_format=fmt,
                           camera={'fx': 50.0, 'fy': 51.0, 'cx': 19.5, 'cy': 14.5})
    rgb, depth = _scene()
    k_own = np.array([[40.0, 0, 20], [0, 40.0, 15], [0, 0, 1]])
    writer.add('a', rgb, depth, 'train')
    writer.add('b', rgb[::-1].copy(), depth, 'val', intrinsics=k_own)
    writer.close()
    train = GenericDataset(tmp_path, 'train')
    s = train.load(0)
    assert np.array_equal(s['image'], rgb)
    tol = 5e-4 if fmt == 'png16' else 0.0
    np.testing.assert_allclose(s['depth'][2:], depth[2:], atol=tol)
    assert not s['valid_mask'][:2, :5].any() and s['valid_mask'][2:].all()
    assert (s['depth'][~s['valid_mask']] == 0).all()
    np.testing.assert_allclose(s['intrinsics'], [[50, 0, 19.5], [0, 51, 14.5], [0, 0, 1]])
    val = build_dataset('generic', tmp_path, 'val', max_depth=3.0)
    v = val.load(0)
    np.testing.assert_allclose(v['intrinsics'], k_own)
    assert not v['valid_mask'][depth > 3.0].any()          # max_depth cap applies


def test_loader_errors_name_the_problem(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match='dataset.yaml'):
        GenericDataset(tmp_path, 'train')
    w = GenericWriter(tmp_path)
    rgb, depth = _scene()
    w.add('a', rgb, depth, 'train')
    w.close()
    with pytest.raises(FileNotFoundError, match='val.txt'):
        GenericDataset(tmp_path, 'val')
    with pytest.raises(ValueError, match='16-bit range'):
        w.add('far', rgb, depth * 100, 'train')
    cv2.imwrite(str(tmp_path / 'depth' / 'a.png'), np.zeros((10, 10), np.uint16))
    with pytest.raises(ValueError, match='registered'):
        GenericDataset(tmp_path, 'train').load(0)
    with pytest.raises(ValueError, match='unknown dataset type'):
        build_dataset('nyu2', tmp_path, 'train')


def test_float_tiff_depth_is_metres(tmp_path) -> None:
    d = np.array([[1.25, np.inf], [-1.0, 3.5]], np.float32)
    cv2.imwrite(str(tmp_path / 'd.tiff'), d)
    np.testing.assert_array_equal(read_depth(tmp_path / 'd.tiff', 1e-3), [[1.25, 0], [0, 3.5]])


@pytest.mark.parametrize('hw,target,expected', [
    ((480, 640), 518, (518, 686)), ((640, 480), 518, (686, 518)),
    ((720, 1280), 518, (518, 924)), ((375, 1242), 518, (518, 1722)),
    ((480, 640), 364, (364, 490)), ((100, 100), 518, (518, 518)), ((30, 40), 112, (112, 154))])
def test_lower_bound_size(hw, target, expected) -> None:
    assert lower_bound_size(*hw, target) == expected


def test_train_transform_crops_flips_and_keeps_masks_consistent() -> None:
    rgb, depth = _scene(60, 80)
    valid = depth > 0
    k = np.array([[50.0, 0, 40.0], [0, 50.0, 30.0], [0, 0, 1]], np.float32)
    sample = {'image': rgb, 'depth': np.where(valid, depth, 0), 'valid_mask': valid,
              'intrinsics': k}
    t = TrainTransform(56, hflip=True, jitter=0.2)
    out = t(sample, np.random.default_rng(3))
    assert out['image'].shape == (3, 56, 56) and out['image'].dtype == torch.float32
    assert out['depth'].shape == (56, 56) and out['valid_mask'].dtype == torch.bool
    assert (out['depth'][out['valid_mask']] > 0).all()
    assert (out['depth'][~out['valid_mask']] == 0).all()
    again = t(sample, np.random.default_rng(3))
    assert torch.equal(out['image'], again['image'])           # same seed, same augmentation
    flips = set()
    for seed in range(12):
        o = TrainTransform(56)(sample, np.random.default_rng(seed))
        row = o['depth'][30]
        flips.add(bool(row[0] > row[-1]))     # depth grows with x unless flipped
        # focal lengths follow the per-axis resize (60x80 -> 56x70), not the crop
        h, w = lower_bound_size(60, 80, 56)
        assert float(o['intrinsics'][0, 0]) == pytest.approx(50.0 * w / 80)
        assert float(o['intrinsics'][1, 1]) == pytest.approx(50.0 * h / 60)
        assert 0 <= float(o['intrinsics'][0, 2]) < 56
    assert flips == {True, False}


def test_eval_transform_keeps_native_ground_truth() -> None:
    rgb, depth = _scene(30, 40)
    out = EvalTransform(112)({'image': rgb, 'depth': depth, 'valid_mask': depth > 0})
    assert out['image'].shape == (3, 112, 154)
    assert out['depth'].shape == (30, 40)
    # normalisation: a mid-grey image maps to (0.5 - mean) / std
    grey = np.full((28, 28, 3), 128, np.uint8)
    img = EvalTransform(28)({'image': grey, 'depth': np.ones((28, 28), np.float32),
                             'valid_mask': np.ones((28, 28), bool)})['image']
    np.testing.assert_allclose(img[:, 0, 0].numpy(), (128 / 255 - MEAN) / STD, rtol=1e-5)
