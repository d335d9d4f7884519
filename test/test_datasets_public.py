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

"""Public-dataset loaders on tiny files written in each dataset's own layout and encoding."""

import csv

import cv2
import h5py
import numpy as np
import pytest

from depth_anything_ros.training.datasets import (
    build_dataset,
    hypersim_distance_to_depth,
    KITTIDepth,
    NYUDepthV2,
    VirtualKITTI2,
)

H, W = 12, 16


def _rgb(path, seed: int = 0) -> np.ndarray:
    rgb = np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return rgb


def _png16(path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), values.astype(np.uint16))


def test_nyu_sync_layout_millimetres(tmp_path) -> None:
    mm = np.full((H, W), 2500, np.uint16)
    mm[0, 0] = 0                                         # hole
    _rgb(tmp_path / 'train' / 'kitchen_0028a' / 'rgb_00045.jpg')
    _png16(tmp_path / 'train' / 'kitchen_0028a' / 'sync_depth_00045.png', mm)
    ds = build_dataset('nyu', tmp_path, 'train')
    assert isinstance(ds, NYUDepthV2) and len(ds) == 1
    s = ds.load(0)
    assert s['depth'][1, 1] == pytest.approx(2.5) and not s['valid_mask'][0, 0]
    assert s['intrinsics'][0, 0] == pytest.approx(518.8579)
    # the common split-file form: "/scene/rgb_X.jpg /scene/sync_depth_X.png focal"
    (tmp_path / 'nyu_train.txt').write_text(
        '/train/kitchen_0028a/rgb_00045.jpg /train/kitchen_0028a/sync_depth_00045.png 518.8579\n')
    assert len(NYUDepthV2(tmp_path, str(tmp_path / 'nyu_train.txt'))) == 1


def test_kitti_sparse_png_over_256(tmp_path) -> None:
    raw = np.zeros((H, W), np.uint16)
    raw[5, 7] = 256 * 12                                 # 12 m, everything else invalid
    raw[6, 7] = 256 * 100                                # beyond the 80 m cap
    drive = '2011_09_26_drive_0001_sync'
    _rgb(tmp_path / '2011_09_26' / drive / 'image_02' / 'data' / '0000000005.png')
    _png16(tmp_path / drive / 'proj_depth' / 'groundtruth' / 'image_02' / '0000000005.png', raw)
    ds = build_dataset('kitti', tmp_path, 'train')
    assert isinstance(ds, KITTIDepth) and len(ds) == 1
    s = ds.load(0)
    assert s['valid_mask'].sum() == 1 and s['depth'][5, 7] == pytest.approx(12.0)
    (tmp_path / 'eigen.txt').write_text(
        f'2011_09_26/{drive}/image_02/data/0000000005.png '
        f'{drive}/proj_depth/groundtruth/image_02/0000000005.png 721.5377\n'
        f'2011_09_26/{drive}/image_02/data/0000000006.png None 721.5377\n')
    ds = build_dataset('kitti', tmp_path, 'eigen')
    assert len(ds) == 1                                  # rows without ground truth dropped
    k = ds.load(0)['intrinsics']
    assert k[0, 0] == pytest.approx(721.5377) and k[0, 2] == pytest.approx((W - 1) / 2)


def test_vkitti2_centimetres_sky_invalid_and_intrinsics(tmp_path) -> None:
    cm = np.full((H, W), 1234, np.uint16)
    cm[:3] = 65535                                       # sky: 655.35 m
    base = tmp_path / 'Scene01' / 'clone'
    _rgb(base / 'frames' / 'rgb' / 'Camera_0' / 'rgb_00000.jpg')
    _png16(base / 'frames' / 'depth' / 'Camera_0' / 'depth_00000.png', cm)
    (base / 'intrinsic.txt').write_text('frame cameraID K[0,0] K[1,1] K[0,2] K[1,2]\n'
                                        '0 0 725.0087 725.0087 620.5 187.0\n'
                                        '0 1 700.0 701.0 600.5 180.0\n')
    ds = build_dataset('vkitti2', tmp_path, 'train')
    assert isinstance(ds, VirtualKITTI2)
    s = ds.load(0)
    assert s['depth'][5, 5] == pytest.approx(12.34) and not s['valid_mask'][:3].any()
    assert s['valid_mask'][3:].all()
    np.testing.assert_allclose(s['intrinsics'][0], [725.0087, 0, 620.5])


def test_hypersim_ray_distance_to_planar_depth(tmp_path) -> None:
    # full-size geometry: a fronto-parallel wall at z = 3 m seen by the 1024x768 camera
    f = 886.81
    u = np.arange(1024) - 511.5
    v = np.arange(768) - 383.5
    dist = 3.0 * np.sqrt(u[None] ** 2 + v[:, None] ** 2 + f * f) / f
    np.testing.assert_allclose(hypersim_distance_to_depth(dist), 3.0, rtol=1e-6)
    corner = 3.0 * np.sqrt(511.5 ** 2 + 383.5 ** 2 + f * f) / f
    assert dist[0, 0] == pytest.approx(corner)

    # a small file in the real layout; f scales with the width
    fs = f * W / 1024
    us, vs = np.arange(W) - (W - 1) / 2, np.arange(H) - (H - 1) / 2
    small = 2.0 * np.sqrt(us[None] ** 2 + vs[:, None] ** 2 + fs * fs) / fs
    small[0, 0] = np.nan
    scene = tmp_path / 'ai_001_001' / 'images'
    _rgb(scene / 'scene_cam_00_final_preview' / 'frame.0000.tonemap.jpg')
    (scene / 'scene_cam_00_geometry_hdf5').mkdir(parents=True)
    with h5py.File(scene / 'scene_cam_00_geometry_hdf5' / 'frame.0000.depth_meters.hdf5',
                   'w') as h5:
        h5.create_dataset('dataset', data=small.astype(np.float16))
    with (tmp_path / 'metadata_images_split_scene_v1.csv').open('w', newline='') as fcsv:
        w = csv.writer(fcsv)
        w.writerow(['scene_name', 'camera_name', 'frame_id', 'included_in_public_release',
                    'exclude_reason', 'split_partition_name'])
        w.writerow(['ai_001_001', 'cam_00', 0, 'True', '', 'val'])
    assert len(build_dataset('hypersim', tmp_path, 'val')) == 1
    with pytest.raises(FileNotFoundError, match='no Hypersim samples'):
        build_dataset('hypersim', tmp_path, 'train')
    s = build_dataset('hypersim', tmp_path, 'val').load(0)
    assert not s['valid_mask'][0, 0]                     # NaN -> invalid
    np.testing.assert_allclose(s['depth'][s['valid_mask']], 2.0, rtol=2e-3)   # float16 file
    assert s['intrinsics'][0, 0] == pytest.approx(fs)


def test_loader_with_transform_returns_tensors(tmp_path) -> None:
    from depth_anything_ros.training.transforms import TrainTransform
    _rgb(tmp_path / 'kitchen' / 'rgb_00001.jpg')
    _png16(tmp_path / 'kitchen' / 'sync_depth_00001.png', np.full((H, W), 1500))
    ds = build_dataset('nyu', tmp_path, 'train', TrainTransform(28))
    s = ds[(0, 123)]
    assert tuple(s['image'].shape) == (3, 28, 28) and s['name'] == 'kitchen_rgb_00001'
    assert float(s['depth'].max()) == pytest.approx(1.5)
