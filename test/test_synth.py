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

"""Procedural RGB-D generator: exact ray-cast depth, determinism, dataset output."""

import numpy as np
import pytest

from depth_anything_ros.training.datasets import GenericDataset
from depth_anything_ros.training.synth import (
    Box,
    Camera,
    camera_to_world,
    Cylinder,
    generate,
    Material,
    Rect,
    render,
    render_sample,
    Scene,
    Sphere,
)

PLAIN = Material('plain', np.array([0.5, 0.5, 0.5]), np.array([0.2, 0.2, 0.2]))
CAM = Camera.from_fov(48, 36, 60.0)


def _scene(prims, height: float = 0.0, yaw: float = 0.0) -> Scene:
    return Scene(prims, np.array([0.0, height, 0.0]), camera_to_world(yaw, 0.0),
                 np.array([0.0, 1.0, 0.0]))


def test_fronto_parallel_wall_has_constant_depth() -> None:
    wall = Rect(np.array([0.0, 0.0, 3.0]), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]),
                50.0, 50.0, PLAIN)
    _, depth = render(_scene([wall]), CAM)
    np.testing.assert_allclose(depth, 3.0, rtol=1e-6)


def test_ground_plane_depth_matches_pinhole_formula() -> None:
    h = 1.5
    ground = Rect(np.array([0.0, 0.0, 0.0]), np.array([1.0, 0, 0]), np.array([0, 0, 1.0]),
                  1e3, 1e3, PLAIN)
    _, depth = render(_scene([ground], height=h), CAM)
    rows = np.arange(CAM.height)
    below = rows > CAM.cy
    expected = h * CAM.fy / (rows[below] - CAM.cy)        # z = h * fy / (v - cy)
    np.testing.assert_allclose(depth[below], np.repeat(expected[:, None], CAM.width, 1),
                               rtol=1e-6)
    assert np.isinf(depth[~below]).all()                  # above the horizon: sky, no depth


def test_occlusion_and_primitive_depths() -> None:
    wall = Rect(np.array([0.0, 0.0, 6.0]), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]),
                50.0, 50.0, PLAIN)
    sphere = Sphere(np.array([0.0, 0.0, 4.0]), 0.5, PLAIN)
    box = Box(np.array([1.2, 0.0, 3.0]), np.array([0.3, 0.3, 0.3]), 0.0, PLAIN)
    cyl = Cylinder(-1.5, 3.5, 0.25, -1.0, 1.0, PLAIN)
    _, depth = render(_scene([wall, sphere, box, cyl]), Camera(49, 37, 20.0, 20.0, 24.0, 18.0))
    assert depth[18, 24] == pytest.approx(3.5)            # sphere front, on the optical axis
    assert depth[18, 24 + round(20 * 1.2 / 2.7)] == pytest.approx(2.7, abs=1e-6)  # box face
    assert depth[18, 24 - round(20 * 1.5 / 3.25)] == pytest.approx(3.25, abs=0.01)  # cylinder
    assert depth[0, 0] == pytest.approx(6.0)              # the wall behind everything


def test_rotation_keeps_depth_planar() -> None:
    # yawing the camera by 30 deg in front of a wall: depth = distance / cos along the view
    wall = Rect(np.array([0.0, 0.0, 4.0]), np.array([1.0, 0, 0]), np.array([0, 1.0, 0]),
                100.0, 100.0, PLAIN)
    _, depth = render(_scene([wall], yaw=np.radians(30)), Camera(5, 5, 2.0, 2.0, 2.0, 2.0))
    assert depth[2, 2] == pytest.approx(4.0 / np.cos(np.radians(30)))


@pytest.mark.parametrize('scene,lo,hi', [('indoor', 0.25, 12.0), ('outdoor', 1.5, 96.0)])
def test_random_scenes_are_deterministic_and_in_range(scene, lo, hi) -> None:
    rgb, depth, cam = render_sample(scene, 3, seed=7, size=(48, 64))
    rgb2, depth2, _ = render_sample(scene, 3, seed=7, size=(48, 64))
    assert np.array_equal(rgb, rgb2) and np.array_equal(depth, depth2)
    rgb3, _, _ = render_sample(scene, 3, seed=8, size=(48, 64))
    assert not np.array_equal(rgb, rgb3)
    finite = np.isfinite(depth)
    assert lo <= depth[finite].min() and depth[finite].max() <= hi
    assert rgb.std() > 10                                  # textured, not flat
    if scene == 'outdoor':
        assert 0.01 < (~finite).mean() < 0.6               # some sky, not all sky
        assert not finite[0].all()                         # sky sits at the top
    else:
        assert finite.all()                                # closed room


def test_generate_writes_a_loadable_dataset(tmp_path) -> None:
    root = generate(tmp_path / 'd', 'outdoor', num=5, seed=1, size=(28, 42), progress=False)
    train, val = GenericDataset(root, 'train'), GenericDataset(root, 'val')
    assert (len(train), len(val)) == (4, 1)
    s = val.load(0)
    _, depth, cam = render_sample('outdoor', 4, 1, (28, 42))
    finite = np.isfinite(depth)
    assert np.array_equal(s['valid_mask'], finite & (depth >= 1e-3))
    np.testing.assert_allclose(s['depth'][finite], depth[finite], atol=1 / 512)
    np.testing.assert_allclose(s['intrinsics'], cam.matrix(), atol=1e-5)
    with pytest.raises(ValueError, match='--num'):
        generate(tmp_path / 'e', 'indoor', num=0)


def test_synth_command(tmp_path) -> None:
    from depth_anything_ros.commands.cli import main
    assert main(['synth', '--scene', 'indoor', '--num', '3', '--size', '28x42', '--seed', '2',
                 '--out', str(tmp_path / 'd'), '--val-fraction', '0.34']) == 0
    assert (len(GenericDataset(tmp_path / 'd', 'train')),
            len(GenericDataset(tmp_path / 'd', 'val'))) == (2, 1)
    with pytest.raises(SystemExit):
        main(['synth', '--size', '28by42', '--out', str(tmp_path / 'e')])
