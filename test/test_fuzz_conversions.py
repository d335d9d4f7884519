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

"""Property tests: hostile Image, CompressedImage and CameraInfo messages, and parameter sets.

The properties: only the documented error types escape (ImageFormatError for images, a
ValueError naming the field for CameraInfo and parameters), every accepted message yields
arrays of the advertised size with no inf, and no message takes longer than a generous hang
limit to convert (a hang detector, not a benchmark).
"""

from __future__ import annotations

import math
import time

from fuzz_strategies import (
    camera_infos,
    compressed_images,
    compressed_msg,
    examples,
    good_camera_info,
    images,
    jpeg_claiming,
    PIXEL_LAYOUT,
    png_bomb,
    png_header_only,
)
from hypothesis import example, given, HealthCheck, settings
from hypothesis import strategies as st
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo

from depth_anything_ros.core.geometry import pack_cloud, RayGrid
from depth_anything_ros.params import SCHEMA, validate
from depth_anything_ros.ros.conversions import (
    camera_model,
    CameraInfoError,
    check_camera_info,
    compressed_to_array,
    image_to_array,
    ImageFormatError,
    output_camera_info,
)

# A conversion slower than this is a hang or a decompression bomb, not a slow host (the shared
# CI host stalls for 2 s; bombs are also refused by type in the explicit tests below).
HANG_S = 5.0


class Timer:
    """Measure one call; ``check()`` fails the example when it ran past :data:`HANG_S`."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start
        assert self.elapsed < HANG_S, f'took {self.elapsed:.1f} s (hang limit {HANG_S} s)'


@given(images())
def test_image_to_array_accepts_or_names_the_problem(msg) -> None:
    with Timer():
        try:
            pixels = image_to_array(msg)
        except ImageFormatError as exc:
            assert str(exc)
            return
    size, channels = PIXEL_LAYOUT[msg.encoding]
    expect = (msg.height, msg.width) if channels == 1 else (msg.height, msg.width, channels)
    assert pixels.shape == expect and pixels.dtype.itemsize == size
    assert pixels.dtype.isnative


# Bombs are built once per example set (about 0.4 s for the 12000x12000 one).
@settings(max_examples=examples(1.0), suppress_health_check=[HealthCheck.too_slow])
@given(compressed_images())
@example(compressed_msg(png_header_only(100000, 100000), 'png'))   # over OpenCV's own limit
@example(compressed_msg(jpeg_claiming(60000, 60000), 'jpeg'))
@example(compressed_msg(jpeg_claiming(20000, 20000), 'jpeg'))      # 600 bytes -> 400 MB
def test_compressed_to_array_accepts_or_names_the_problem_quickly(msg) -> None:
    with Timer():
        try:
            pixels, encoding = compressed_to_array(msg)
        except ImageFormatError as exc:
            assert str(exc)
            return
    assert encoding in ('mono8', 'bgr8', 'bgra8')
    assert pixels.dtype == np.uint8 and min(pixels.shape[:2]) >= 1


@pytest.mark.parametrize('bomb', ['png1', 'png3', 'jpeg'])
def test_decompression_bomb_is_refused_quickly(bomb: str) -> None:
    """Small files that would decode to 144 to 400 Mpx are refused from their header."""
    msg = compressed_msg(jpeg_claiming(20000, 20000), 'jpeg') if bomb == 'jpeg' else \
        compressed_msg(png_bomb(12000, 12000, int(bomb[-1])), 'png')
    with Timer(), pytest.raises(ImageFormatError, match='pixels'):
        compressed_to_array(msg)


_IMAGE_SIZES = st.tuples(st.integers(1, 64), st.integers(1, 64))


def _one_pixel_calibration(entry: str, index: int, value: float) -> CameraInfo:
    """Return a 1x1 calibration (rescaled x2 to a 2x2 image) with K or P[index] = value."""
    info = good_camera_info(1, 1, fx=1.0)
    getattr(info, entry)[index] = value
    return info


@settings(max_examples=examples(3.0))
@given(_IMAGE_SIZES.flatmap(lambda wh: st.tuples(st.just(wh), camera_infos(*wh))))
# finite entries that overflow or flip the focal length once the calibration is rescaled
@example(((2, 2), _one_pixel_calibration('p', 8, -1e308)))
@example(((2, 2), _one_pixel_calibration('p', 0, 1e308)))
@example(((2, 2), _one_pixel_calibration('k', 0, 1e308)))
def test_camera_model_accepts_or_names_the_problem(case) -> None:
    (width, height), info = case
    with Timer():
        try:
            check_camera_info(info)        # on arrival, without an image
        except CameraInfoError as exc:
            assert str(exc)
        try:
            model = camera_model(info, width, height)
        except CameraInfoError as exc:
            assert str(exc)
            return
    intr = model.intrinsics
    assert (intr.width, intr.height) == (width, height)
    assert all(math.isfinite(v) for v in (intr.fx, intr.fy, intr.cx, intr.cy))
    out = output_camera_info(model, info.header)
    assert (out.width, out.height) == (width, height)
    assert np.isfinite(out.k).all() and np.isfinite(out.p).all()
    # the cloud from these intrinsics holds numbers or NaN, never inf
    rays = RayGrid().get(intr)
    depth = np.full((height, width), 2.0, np.float32)
    cloud = pack_cloud(depth, rays)
    for axis in 'xyz':
        assert not np.isinf(cloud[axis]).any(), axis


_PARAM_VALUES = st.one_of(st.booleans(), st.integers(-2**40, 2**40), st.floats(),
                          st.text(max_size=20), st.none(), st.lists(st.integers(), max_size=2))


@given(st.dictionaries(st.sampled_from([s.name for s in SCHEMA] + ['bogus', '']),
                       _PARAM_VALUES, max_size=8))
def test_params_validate_accepts_or_lists_every_problem(values) -> None:
    try:
        cfg = validate(values)
    except ValueError as exc:
        assert str(exc).startswith('invalid depth node parameters')
        return
    for s in SCHEMA:
        assert type(getattr(cfg, s.name)) is s.type
