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

"""Colourised depth: ranges, orientation (near = warm), invalid pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depth_anything_ros.core.colorize import auto_range, colorize, COLORMAP_IDS


def ramp() -> np.ndarray:
    return np.tile(np.linspace(1.0, 5.0, 64, dtype=np.float32), (8, 1))   # (8, 64) metres


def test_fixed_range_maps_ends_to_the_colormap_ends() -> None:
    turbo = cv2.applyColorMap(np.array([[0, 255]], np.uint8), cv2.COLORMAP_TURBO)[0]
    img, used = colorize(ramp(), 'turbo', (1.0, 5.0))
    assert img.shape == (8, 64, 3) and img.dtype == np.uint8 and used == (1.0, 5.0)
    # depth: nearest (1 m) gets the last colour of the map, farthest (5 m) the first
    np.testing.assert_array_equal(img[0, 0], turbo[1])
    np.testing.assert_array_equal(img[0, -1], turbo[0])
    # disparity (large = near) reads the same way round
    disp, _ = colorize(1.0 / ramp(), 'turbo', (0.2, 1.0), near_is_high=True)
    np.testing.assert_array_equal(disp[0, 0], turbo[1])


def test_values_outside_the_range_saturate_and_nan_is_black() -> None:
    depth = ramp()
    depth[0, 3] = np.nan
    img, _ = colorize(depth, 'gray', (2.0, 4.0))
    assert img[0, 3].tolist() == [0, 0, 0]
    assert (img[1, :5] == 255).all() and (img[1, -5:] == 0).all()
    grey = img[1, :, 0].astype(int)
    assert (np.diff(grey) <= 0).all()   # farther is never brighter


def test_auto_range_is_robust_to_outliers() -> None:
    depth = np.tile(ramp(), (16, 1))                 # (128, 64)
    depth[0, 0] = 1000.0
    depth[4, 4] = 0.001
    lo, hi = auto_range(depth)
    assert 1.0 <= lo < 1.5 and 4.5 < hi <= 5.0
    assert auto_range(np.full((4, 4), np.nan)) is None
    img, used = colorize(np.full((4, 4), np.nan, np.float32))
    assert used is None and not img.any()
    lo, hi = auto_range(np.full((4, 4), 2.0))
    assert lo == 2.0 and hi > lo


@pytest.mark.parametrize('name', list(COLORMAP_IDS))
def test_every_colormap_renders(name: str) -> None:
    img, _ = colorize(ramp(), name)
    assert img.shape == (8, 64, 3) and len(np.unique(img.reshape(-1, 3), axis=0)) > 10


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match='unknown colormap'):
        colorize(ramp(), 'rainbow')
    with pytest.raises(ValueError, match='lo < hi'):
        colorize(ramp(), 'turbo', (3.0, 3.0))
    with pytest.raises(ValueError, match='must be \\(H, W\\)'):
        colorize(np.zeros((2, 2, 3)))


def test_colour_maps_are_the_parameter_choices() -> None:
    from depth_anything_ros.params import spec
    assert tuple(COLORMAP_IDS) == spec('colormap').choices
    assert COLORMAP_IDS['gray'] is None and COLORMAP_IDS['turbo'] == cv2.COLORMAP_TURBO
