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

"""Property tests of the per-frame stage with the tiny model: a hostile frame, then a good one.

Each example takes one message the way the node does (checks on arrival, decode, camera model,
``FramePipeline.process``) with random runtime parameters. Properties: only ImageFormatError /
CameraInfoError / ValueError escape; no step runs past a generous hang limit; every output has
the size of the image after its stride and holds no inf; and the next good frame through the
same pipeline gives exactly what a fresh pipeline gives (no cache is poisoned).
"""

from __future__ import annotations

import time
from typing import Any

from fuzz_strategies import (
    camera_infos,
    compressed_images,
    examples,
    good_camera_info,
    images,
    valid_images,
)
from hypothesis import event, given, HealthCheck, settings
from hypothesis import strategies as st
import numpy as np
import pytest
import torch

from depth_anything_ros.core.pipeline import FrameOutputs, FramePipeline, image_limits, Wanted
from depth_anything_ros.estimator import DepthEstimator
from depth_anything_ros.params import DepthConfig, spec, validate
from depth_anything_ros.ros.conversions import (
    camera_model,
    CameraInfoError,
    check_camera_info,
    check_image,
    compressed_to_array,
    image_to_array,
    INPUT_ENCODINGS,
)

# One frame of the tiny model at input 70 takes milliseconds; seconds mean a hang or a bomb
# (the stalls this found took 8 s and more). Not tighter: the shared CI host stalls for 2 s.
HANG_S = 5.0
BASE = {'mode': 'relative', 'disparity_scale': 0.5, 'disparity_shift': 0.05,
        'input_size': 70, 'checkpoint': 'untrained', 'allow_untrained_weights': True}
GOOD_W, GOOD_H = 40, 30


@pytest.fixture(scope='module')
def threads() -> Any:
    """One torch thread for the module (hypothesis forbids function-scoped fixtures)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def pipeline(tiny, threads) -> FramePipeline:
    """One pipeline shared by every example, as one camera's pipeline lives in the node."""
    return FramePipeline(DepthEstimator(tiny, device='cpu', input_size=70))


@pytest.fixture(scope='module')
def reference(tiny, threads) -> tuple[np.ndarray, FrameOutputs]:
    """Return the good frame and its outputs from a fresh pipeline (copied: cloud is reused)."""
    pixels = valid_frame()
    out = FramePipeline(DepthEstimator(tiny, device='cpu', input_size=70)).process(
        pixels, 'rgb8', camera_model(good_camera_info(GOOD_W, GOOD_H), GOOD_W, GOOD_H),
        validate(BASE), Wanted(image=True, info=True, colored=True, points=True))
    return pixels, _copy(out)


def valid_frame() -> np.ndarray:
    yy, xx = np.mgrid[0:GOOD_H, 0:GOOD_W]
    return np.stack([xx * 6, yy * 8, 255 - xx * 6], -1).astype(np.uint8)


def _copy(out: FrameOutputs) -> FrameOutputs:
    def c(a: Any) -> Any:
        return None if a is None else np.array(a, copy=True)
    return FrameOutputs(c(out.depth), c(out.disparity), out.camera, c(out.colored),
                        c(out.cloud), out.infer_ms)


def _choice(name: str) -> st.SearchStrategy:
    return st.sampled_from(spec(name).choices)


# Runtime parameters that change what the stage computes.
RUNTIME = st.fixed_dictionaries({
    'output_stride': st.integers(1, 8), 'cloud_stride': st.integers(1, 16),
    'depth_encoding': _choice('depth_encoding'), 'colormap': _choice('colormap'),
    'rectify': st.booleans(), 'cloud_rgb': st.booleans(),
    'cloud_max_range': st.sampled_from([0.0, 1.0, 100.0]),
    'color_max': st.sampled_from([0.0, 5.0]),
})
WANTED = st.builds(Wanted, st.booleans(), st.booleans(), st.booleans(), st.booleans())


def timed(fn: Any, *args: Any, **kwargs: Any) -> Any:
    start = time.perf_counter()
    try:
        return fn(*args, **kwargs)
    finally:
        elapsed = time.perf_counter() - start
        assert elapsed < HANG_S, f'{fn.__name__} took {elapsed:.1f} s (hang limit {HANG_S} s)'


def decode(msg: Any, cfg: DepthConfig) -> tuple[np.ndarray, str]:
    """Decode like the node: cheap structural checks first, then the pixels."""
    if hasattr(msg, 'format'):
        return timed(compressed_to_array, msg, image_limits(cfg))
    timed(check_image, msg, image_limits(cfg))
    return timed(image_to_array, msg, INPUT_ENCODINGS), msg.encoding


def check_outputs(out: FrameOutputs, h: int, w: int, cfg: DepthConfig, wanted: Wanted,
                  has_camera: bool) -> None:
    s, k = cfg.output_stride, cfg.cloud_stride
    strided = (-(-h // s), -(-w // s))
    for name in ('depth', 'disparity'):
        arr = getattr(out, name)
        if arr is not None:
            assert arr.shape == strided, name
            assert not np.isinf(arr).any(), name
    if wanted.image:
        assert out.depth is not None and out.disparity is not None
        assert out.depth.dtype == (np.float32 if cfg.depth_encoding == '32FC1' else np.uint16)
    if wanted.colored:
        assert out.colored.shape == strided + (3,) and out.colored.dtype == np.uint8
    if has_camera:
        intr = out.camera.intrinsics
        assert (intr.height, intr.width) == strided
        assert np.isfinite(out.camera.k).all() and np.isfinite(out.camera.p).all()
    if out.cloud is not None:
        assert out.cloud.shape == (-(-h // k), -(-w // k))
        for axis in 'xyz':
            assert not np.isinf(out.cloud[axis]).any(), axis
    elif wanted.points:
        assert not has_camera, 'points wanted with a camera model, but no cloud'


def assert_same(out: FrameOutputs, ref: FrameOutputs) -> None:
    for name in ('depth', 'disparity', 'colored'):
        np.testing.assert_array_equal(getattr(out, name), getattr(ref, name), err_msg=name)
    for axis in 'xyz':
        np.testing.assert_array_equal(out.cloud[axis], ref.cloud[axis], err_msg=axis)
    np.testing.assert_array_equal(out.camera.k, ref.camera.k)


def run_hostile_then_good(pipeline: FramePipeline, reference: Any, msg: Any, data: Any,
                          runtime: dict, wanted: Wanted) -> None:
    try:
        cfg = validate({**BASE, **runtime})
    except ValueError:
        return
    try:
        pixels, encoding = decode(msg, cfg)
    except ValueError as exc:          # ImageFormatError
        assert str(exc)
        event('image refused')
        pixels = None
    if pixels is not None:
        h, w = pixels.shape[:2]
        camera = None
        if data.draw(st.integers(0, 3)):
            info = data.draw(camera_infos(w, h), label='camera_info')
            try:
                timed(check_camera_info, info, rectify=cfg.rectify)
                camera = timed(camera_model, info, w, h)
            except CameraInfoError as exc:
                assert str(exc)
                event('camera_info refused')
        try:
            out = timed(pipeline.process, pixels, encoding, camera, cfg, wanted)
        except ValueError as exc:      # ImageFormatError, CameraInfoError, no finite output
            assert str(exc)
            event(f'frame refused: {type(exc).__name__}')
        else:
            event('frame processed' + (' with camera' if camera is not None else ''))
            check_outputs(out, h, w, cfg, wanted, camera is not None)
    # the next good frame, through the same pipeline, as if nothing had happened
    good, ref = reference
    out = timed(pipeline.process, good, 'rgb8',
                camera_model(good_camera_info(GOOD_W, GOOD_H), GOOD_W, GOOD_H),
                validate(BASE), Wanted(image=True, info=True, colored=True, points=True))
    assert_same(out, ref)


@settings(max_examples=examples(2.0), suppress_health_check=[HealthCheck.too_slow])
@given(msg=images(), data=st.data(), runtime=RUNTIME, wanted=WANTED)
def test_raw_frame_then_good_frame(pipeline, reference, msg, data, runtime, wanted) -> None:
    run_hostile_then_good(pipeline, reference, msg, data, runtime, wanted)


@settings(max_examples=examples(2.0), suppress_health_check=[HealthCheck.too_slow])
@given(msg=valid_images(), data=st.data(), runtime=RUNTIME, wanted=WANTED)
def test_valid_frame_hostile_camera_info_then_good_frame(pipeline, reference, msg, data,
                                                         runtime, wanted) -> None:
    run_hostile_then_good(pipeline, reference, msg, data, runtime, wanted)


@settings(max_examples=examples(1.0), suppress_health_check=[HealthCheck.too_slow])
@given(msg=compressed_images(), data=st.data(), runtime=RUNTIME, wanted=WANTED)
def test_compressed_frame_then_good_frame(pipeline, reference, msg, data, runtime,
                                          wanted) -> None:
    run_hostile_then_good(pipeline, reference, msg, data, runtime, wanted)
