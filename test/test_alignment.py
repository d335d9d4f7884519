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

"""Metric alignment: robust fits, the floor, anchor resampling and the temporal filter."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from depth_anything_ros.core import alignment as al
from depth_anything_ros.training import synth

K = np.array([[200.0, 0.0, 79.5], [0.0, 200.0, 59.5], [0.0, 0.0, 1.0]])
SHAPE = (120, 160)
FAST = settings(max_examples=25, deadline=None)


def _scene_depth(seed: int = 3, pitch: float = -0.3) -> tuple[np.ndarray, synth.Scene]:
    """Exact depth of a procedural room, camera looking down at the floor."""
    scene = synth.random_indoor_scene(np.random.default_rng([seed, 7]))
    scene.rotation = synth.camera_to_world(0.1, pitch, 0.01)
    cam = synth.Camera(SHAPE[1], SHAPE[0], K[0, 0], K[1, 1], K[0, 2], K[1, 2])
    _, depth = synth.render(scene, cam)
    return depth, scene


def _disparity(depth: np.ndarray, scale: float, shift: float) -> np.ndarray:
    """Return the network output for which ``1/depth = scale * d + shift`` holds exactly."""
    return ((1.0 / depth - shift) / scale).astype(np.float64)


def _affine(draw: st.DrawFn) -> tuple[float, float]:
    scale = draw(st.floats(0.01, 10.0))
    # shift as a share of the nearest inverse depth (0.1 m -> 10 1/m): keeps 1/z - t > 0 ...
    return scale, draw(st.floats(-0.5, 0.05))


@st.composite
def affines(draw: st.DrawFn) -> tuple[float, float]:
    return _affine(draw)


# ---------------------------------------------------------------------------------------------
# the fit


@FAST
@given(affines(), st.integers(0, 2 ** 16), st.booleans())
def test_exact_recovery_without_noise(affine: tuple[float, float], seed: int,
                                      robust: bool) -> None:
    scale, shift = affine
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.5, 15.0, SHAPE)
    d = _disparity(depth, scale, shift)
    fit = al.fit_inverse_depth(d, depth, robust=robust)
    assert fit.ok, fit.reason
    assert fit.scale == pytest.approx(scale, rel=1e-6)
    assert fit.shift == pytest.approx(shift, rel=1e-6, abs=1e-9)
    assert fit.residual < 1e-6
    np.testing.assert_allclose(fit.depth(d), depth, rtol=1e-4)
    # the sparse form: 30 points
    uv = np.stack([rng.integers(0, SHAPE[1], 30), rng.integers(0, SHAPE[0], 30)], -1)
    sparse = al.fit_inverse_depth_points(d, uv, depth[uv[:, 1], uv[:, 0]], robust=robust)
    assert sparse.ok and sparse.scale == pytest.approx(scale, rel=1e-6)


@FAST
@given(affines(), st.integers(0, 2 ** 16), st.floats(0.0, 0.4))
def test_robust_to_outliers(affine: tuple[float, float], seed: int, outliers: float) -> None:
    scale, shift = affine
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.5, 10.0, SHAPE)
    d = _disparity(depth, scale, shift) * (1.0 + rng.normal(0, 0.01, SHAPE))
    anchor = depth * (1.0 + rng.normal(0, 0.01, SHAPE))
    bad = rng.random(SHAPE) < outliers
    anchor[bad] = rng.uniform(0.3, 12.0, bad.sum())
    anchor[rng.random(SHAPE) < 0.5] = np.nan                 # holes
    fit = al.fit_inverse_depth(d, anchor)
    assert fit.ok, fit.reason
    ratio = np.nanmedian(fit.depth(d) / depth)
    assert abs(ratio - 1.0) < 0.01
    assert fit.residual < 0.03


def test_plain_least_squares_is_pulled_by_outliers() -> None:
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 10.0, SHAPE)
    d = _disparity(depth, 0.3, 0.02)
    anchor = depth.copy()
    bad = rng.random(SHAPE) < 0.2
    anchor[bad] = 0.3
    robust = al.fit_inverse_depth(d, anchor)
    plain = al.fit_inverse_depth(d, anchor, robust=False)
    assert robust.scale == pytest.approx(0.3, rel=1e-6)
    assert abs(plain.scale / 0.3 - 1.0) > 0.02


@FAST
@given(st.integers(0, 2 ** 16), st.sampled_from(['shuffled', 'uniform', 'reversed']))
def test_unrelated_anchors_are_refused(seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.5, 10.0, SHAPE)
    d = _disparity(depth, 0.3, 0.02)
    if kind == 'shuffled':
        anchor = rng.permutation(depth.ravel()).reshape(SHAPE)
    elif kind == 'uniform':
        anchor = rng.uniform(0.5, 10.0, SHAPE)
    else:                                                    # far where the image says near
        anchor = 10.5 - depth
    fit = al.fit_inverse_depth(d, anchor)
    assert not fit.ok
    assert fit.reason


def test_refusal_reasons_name_the_problem() -> None:
    depth = np.full(SHAPE, np.nan)
    depth[0, :5] = 2.0
    fit = al.fit_inverse_depth(np.ones(SHAPE), depth)
    assert not fit.ok and 'only 5 valid anchors' in fit.reason
    assert math.isnan(fit.scale)
    flat = np.full(SHAPE, 3.0)                               # a wall: scale and shift not fixed
    fit = al.fit_inverse_depth(np.random.default_rng(0).uniform(1, 2, SHAPE), flat)
    assert not fit.ok
    with pytest.raises(ValueError, match='resample_depth'):
        al.fit_inverse_depth(np.ones(SHAPE), np.ones((10, 10)))


def test_fit_depth_is_nan_where_the_inverse_is_not_positive() -> None:
    fit = al.Fit(scale=1.0, shift=-1.0, inliers=10, residual=0.0, ok=True)
    out = fit.depth(np.array([0.5, 1.0, 2.0, np.nan]))
    assert np.isnan(out[:2]).all() and out[2] == 1.0 and np.isnan(out[3])
    assert out.dtype == np.float32


@FAST
@given(st.floats(0.5, 2.0), st.integers(0, 2 ** 16))
def test_fit_scale_corrects_a_metric_model(factor: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.5, 10.0, SHAPE)
    pred = truth * factor                                    # a metric model off by `factor`
    anchor = truth.copy()
    bad = rng.random(SHAPE) < 0.2
    anchor[bad] = rng.uniform(0.3, 12.0, bad.sum())
    fit = al.fit_scale(pred, anchor)
    assert fit.ok and fit.shift == 0.0
    np.testing.assert_allclose(fit.depth(1.0 / pred), truth, rtol=2e-3)   # outliers in the band
    uv = np.stack([rng.integers(0, SHAPE[1], 20), rng.integers(0, SHAPE[0], 20)], -1)
    sparse = al.fit_scale_points(pred, uv, truth[uv[:, 1], uv[:, 0]])
    assert sparse.ok and sparse.scale == pytest.approx(factor, rel=1e-6)


def test_fit_on_a_synthetic_room_with_lidar_like_anchors() -> None:
    depth, _ = _scene_depth()
    rng = np.random.default_rng(1)
    d = _disparity(depth, 0.25, 0.05) * (1.0 + rng.normal(0, 0.01, SHAPE))
    anchor = np.full(SHAPE, np.nan)
    rows = np.arange(2, SHAPE[0], 4)                         # a beam every 4th row
    anchor[rows] = depth[rows] + rng.normal(0, 0.02, (len(rows), SHAPE[1]))
    bad = rng.random(SHAPE) < 0.2
    anchor[bad & np.isfinite(anchor)] = 0.5
    fit = al.fit_inverse_depth(d, anchor)
    assert fit.ok, fit.reason
    absrel = np.mean(np.abs(fit.depth(d) - depth) / depth)
    assert absrel < 0.03


# ---------------------------------------------------------------------------------------------
# anchors on the network grid


def test_project_points_round_trip_and_extrinsic() -> None:
    rng = np.random.default_rng(0)
    uv = np.stack([rng.uniform(0, SHAPE[1] - 1, 50), rng.uniform(0, SHAPE[0] - 1, 50)], -1)
    z = rng.uniform(0.5, 5.0, 50)
    rays = np.linalg.solve(K, np.c_[uv, np.ones(50)].T).T
    points = rays * z[:, None]
    got_uv, got_z = al.project_points(points, K, SHAPE)
    np.testing.assert_allclose(got_uv, uv, atol=1e-9)
    np.testing.assert_allclose(got_z, z)
    # the same points in a LiDAR frame (x forward, y left, z up) 10 cm above the camera
    t = np.array([[0.0, -1.0, 0.0, 0.0], [0.0, 0.0, -1.0, -0.1], [1.0, 0.0, 0.0, 0.0],
                  [0.0, 0.0, 0.0, 1.0]])
    inv = np.linalg.inv(t)
    lidar = points @ inv[:3, :3].T + inv[:3, 3]
    got_uv, got_z = al.project_points(lidar, K, SHAPE, t)
    np.testing.assert_allclose(got_uv, uv, atol=1e-9)
    # behind the camera, outside the image, not finite: dropped
    extra = np.array([[0.0, 0.0, -1.0], [100.0, 0.0, 1.0], [np.nan, 0.0, 1.0]])
    got_uv, _ = al.project_points(np.r_[points, extra], K, SHAPE)
    assert len(got_uv) == 50


def test_resample_depth_from_a_half_resolution_camera() -> None:
    depth, _ = _scene_depth()
    half = depth[::2, ::2].copy()                            # pixel j is full pixel 2j
    half[5:20, 10:30] = np.nan                               # a hole
    k_half = K.copy()
    k_half[:2] /= 2.0
    out = al.resample_depth(half, k_half, K, SHAPE)
    assert out.shape == SHAPE and out.dtype == np.float32
    even = out[::2, ::2]
    ok = np.isfinite(half)
    np.testing.assert_allclose(even[ok], half[ok], rtol=1e-6)
    assert np.isnan(even[~ok]).all()
    assert np.isnan(out[1::2]).all()                         # nothing is interpolated


def test_resample_depth_keeps_the_nearest_surface() -> None:
    k_big = K.copy()
    k_big[:2] *= 2.0                                         # 320x240 camera, same centre
    big = np.full((240, 320), 4.0, np.float32)
    big[100, 100] = 1.0                                      # one near pixel among far ones
    out = al.resample_depth(big, k_big, K, SHAPE)
    assert np.nanmin(out) == pytest.approx(1.0)
    assert np.nanmax(out) == pytest.approx(4.0)


# ---------------------------------------------------------------------------------------------
# the floor


def _floor_only(height: float, pitch: float, roll: float) -> tuple[np.ndarray, synth.Scene]:
    plain = synth.Material('plain', np.zeros(3), np.zeros(3))
    floor = synth.Rect(np.zeros(3), np.array([1.0, 0, 0]), np.array([0, 0, 1.0]), 1e4, 1e4,
                       plain)
    # synth: pitch > 0 looks up, roll about the view axis
    scene = synth.Scene([floor], np.array([0.0, height, 0.0]),
                        synth.camera_to_world(0.3, -pitch, roll), np.array([0.0, 1.0, 0.0]))
    cam = synth.Camera(SHAPE[1], SHAPE[0], K[0, 0], K[1, 1], K[0, 2], K[1, 2])
    return synth.render(scene, cam)[1], scene


@FAST
@given(st.floats(0.2, 3.0), st.floats(-0.3, 1.2), st.floats(-0.4, 0.4))
def test_ground_plane_depth_is_exact_on_floor_pixels(height: float, pitch: float,
                                                     roll: float) -> None:
    truth, scene = _floor_only(height, pitch, roll)
    down = scene.rotation.T @ np.array([0.0, -1.0, 0.0])
    p, r = al.pitch_roll_from_gravity(down)
    got = al.ground_plane_depth(K, height, p, r, SHAPE)
    assert got.dtype == np.float32
    floor = np.isfinite(truth) & (truth < 1e3)
    np.testing.assert_allclose(got[floor], truth[floor], rtol=1e-4)
    beyond = got[np.isinf(truth)]                            # above the horizon (or past the
    assert not (beyond < 1e3).any()                          # floor's 10 km edge)


def test_pitch_roll_convention() -> None:
    assert al.pitch_roll_from_gravity(np.array([0.0, 1.0, 0.0])) == (0.0, 0.0)
    pitch, roll = al.pitch_roll_from_gravity(np.array([0.0, 1.0, 1.0]))   # looking down 45 deg
    assert pitch == pytest.approx(math.pi / 4) and roll == 0.0
    level = al.ground_plane_depth(K, 1.0, 0.0, 0.0, SHAPE)
    assert np.isnan(level[:60]).all() and np.isfinite(level[60:]).all()   # horizon at cy
    # roll > 0: the image x axis tips down, so the floor comes up on the right
    rolled = al.ground_plane_depth(K, 1.0, 0.0, 0.2, SHAPE)
    assert np.isfinite(rolled[50, -1]) and np.isnan(rolled[50, 0])
    with pytest.raises(ValueError, match='height'):
        al.ground_plane_depth(K, 0.0, 0.0, 0.0, SHAPE)


def test_floor_candidates_rule() -> None:
    ground = al.ground_plane_depth(K, 1.2, 0.1, 0.0, SHAPE)
    mask = al.floor_candidates(ground, lower_fraction=1 / 3, max_depth=5.0)
    assert not mask[:80].any()                               # only the bottom third
    assert (ground[mask] <= 5.0).all()
    assert mask[-1].all()


def test_fit_ground_aligns_the_whole_room_and_ignores_furniture() -> None:
    depth, scene = _scene_depth()
    d = _disparity(depth, 0.25, 0.05) * (1.0 + np.random.default_rng(0).normal(0, 0.01, SHAPE))
    pitch, roll = al.pitch_roll_from_gravity(scene.rotation.T @ np.array([0.0, -1.0, 0.0]))
    fit = al.fit_ground(d, K, float(scene.origin[1]), pitch, roll)
    assert fit.ok, fit.reason
    absrel = np.mean(np.abs(fit.depth(d) - depth) / depth)
    assert absrel < 0.05
    # same as the dense form with the rule's mask
    ground = al.ground_plane_depth(K, float(scene.origin[1]), pitch, roll, SHAPE)
    dense = al.fit_inverse_depth(d, ground, al.floor_candidates(ground))
    assert dense.scale == pytest.approx(fit.scale, rel=0.01)
    # the wrong height is a wrong scale, not a refusal: the shape is still a floor
    half = al.fit_ground(d, K, float(scene.origin[1]) / 2, pitch, roll)
    assert half.ok and np.nanmedian(half.depth(d) / depth) == pytest.approx(0.5, rel=0.05)


def test_fit_ground_refuses_a_view_without_floor() -> None:
    depth, scene = _scene_depth(pitch=0.35)                  # looking up: ceiling and walls
    d = _disparity(depth, 0.25, 0.05)
    pitch, roll = al.pitch_roll_from_gravity(scene.rotation.T @ np.array([0.0, -1.0, 0.0]))
    assert not al.fit_ground(d, K, float(scene.origin[1]), pitch, roll).ok


# ---------------------------------------------------------------------------------------------
# the filter


def _sparse_fit(rng: np.random.Generator, scale: float, depth: np.ndarray, n: int = 25,
                noise: float = 0.1) -> al.Fit:
    d = _disparity(depth, scale, 0.02)
    uv = np.stack([rng.integers(0, SHAPE[1], n), rng.integers(0, SHAPE[0], n)], -1)
    z = depth[uv[:, 1], uv[:, 0]] + rng.normal(0, noise, n)
    return al.fit_inverse_depth_points(d, uv, z)


def _ratio(p: al.ScaleShift, scale: float) -> float:
    """Aligned / true depth at disparity 1 (true: 1/depth = scale * d + 0.02)."""
    return (scale + 0.02) / (p.scale + p.shift)


@pytest.fixture(scope='module')
def room() -> np.ndarray:
    return _scene_depth()[0]


def test_filter_returns_constant_fits_and_smooths_noisy_ones(room: np.ndarray) -> None:
    filt = al.AlignmentFilter()
    exact = al.fit_inverse_depth(_disparity(room, 0.25, 0.02), room)
    for i in range(10):
        p = filt.update(exact, i / 30)
    assert p.scale == pytest.approx(0.25, rel=1e-6) and p.shift == pytest.approx(0.02, rel=1e-5)
    rng = np.random.default_rng(0)
    filt = al.AlignmentFilter()
    raw, out = [], []
    for i in range(120):
        fit = _sparse_fit(rng, 0.25, room)
        raw.append(_ratio(al.ScaleShift(fit.scale, fit.shift), 0.25))
        out.append(_ratio(filt.update(fit, i / 30), 0.25))
    flicker_raw = np.mean(np.abs(np.diff(raw[30:])))
    flicker = np.mean(np.abs(np.diff(out[30:])))
    assert flicker < flicker_raw / 3
    assert abs(np.median(out[30:]) - 1.0) < 0.02


def test_filter_follows_a_real_step_within_five_frames(room: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    filt = al.AlignmentFilter()
    for i in range(60):
        filt.update(_sparse_fit(rng, 0.25, room), i / 30)
    ratios = [_ratio(filt.update(_sparse_fit(rng, 0.25 * 1.2, room), (60 + i) / 30), 0.3)
              for i in range(10)]
    assert all(abs(r - 1.0) < 0.03 for r in ratios[5:]), ratios


def test_filter_follows_dense_fits_when_the_network_jitters(room: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    filt = al.AlignmentFilter()
    errs = []
    for i in range(60):
        scale = 0.25 * math.exp(rng.normal(0, 0.03))
        fit = al.fit_inverse_depth(_disparity(room, scale, 0.02), room)
        errs.append(abs(_ratio(filt.update(fit, i / 30), scale) - 1.0))
    assert np.median(errs[10:]) < 0.005


def test_filter_holds_then_loses_then_restarts(room: np.ndarray) -> None:
    filt = al.AlignmentFilter(hold_s=0.5)
    good = al.fit_inverse_depth(_disparity(room, 0.25, 0.02), room)
    bad = al.Fit.refused('no anchors')
    assert not filt.update(bad, 0.0).valid and filt.state == 'empty'
    first = filt.update(good, 0.1)
    assert filt.state == 'tracking'
    assert filt.update(bad, 0.4) == first and filt.state == 'holding'
    assert filt.age_s == pytest.approx(0.3)
    assert not filt.update(bad, 0.7).valid and filt.state == 'lost'
    other = al.fit_inverse_depth(_disparity(room, 0.3, 0.02), room)
    p = filt.update(other, 0.8)                              # restarts on the new fit
    assert filt.state == 'tracking' and p.scale == pytest.approx(0.3, rel=1e-6)


def test_filter_rejects_a_jump_unless_it_persists(room: np.ndarray) -> None:
    filt = al.AlignmentFilter(max_rel_jump=0.3, confirm_frames=3)
    good = al.fit_inverse_depth(_disparity(room, 0.25, 0.02), room)
    jump = al.fit_inverse_depth(_disparity(room, 0.5, 0.02), room)
    for i in range(5):
        ref = filt.update(good, i / 30)
    assert filt.update(jump, 5 / 30) == ref                  # one wild fit: ignored
    assert filt.update(good, 6 / 30).scale == pytest.approx(0.25, rel=1e-6)
    for i in range(3):
        p = filt.update(jump, (7 + i) / 30)
    assert p.scale == pytest.approx(0.5, rel=1e-6)           # three in a row: believed


def test_filter_resets_when_time_goes_backwards(room: np.ndarray) -> None:
    filt = al.AlignmentFilter()
    rng = np.random.default_rng(3)
    for i in range(30):
        filt.update(_sparse_fit(rng, 0.25, room), 100.0 + i / 30)
    fresh = _sparse_fit(rng, 0.26, room)
    p = filt.update(fresh, 0.0)                              # bag loop: no memory
    assert p.scale == pytest.approx(fresh.scale, rel=1e-9)
    assert p.shift == pytest.approx(fresh.shift, rel=1e-9)
    assert filt.restarts == 0                                # a reset, not a restart


def test_filter_validates_its_parameters() -> None:
    with pytest.raises(ValueError):
        al.AlignmentFilter(time_constant_s=0.0)
    with pytest.raises(ValueError):
        al.FitOptions(min_inlier_fraction=0.0)


# ---------------------------------------------------------------------------------------------
# the node's state machine, transforms, messages, parameters


def test_aligner_pairs_anchors_by_stamp(room: np.ndarray) -> None:
    d = _disparity(room, 0.25, 0.02)
    aligner = al.Aligner('sparse', slop_s=0.01)
    assert aligner.align(d, K, 1_000_000_000) is None        # no anchor yet: no metres
    assert 'no anchor' in aligner.last_reason
    half = room[::2, ::2].copy()
    k_half = K.copy()
    k_half[:2] /= 2.0
    aligner.add_depth(2_000_000_000, half, k_half)
    assert aligner.align(d, K, 2_500_000_000) is None        # 0.5 s away: not paired
    p = aligner.align(d, K, 2_005_000_000)                   # 5 ms away: paired
    assert p is not None and p.scale == pytest.approx(0.25, rel=1e-5)
    assert aligner.align(d, None, 2_010_000_000) is not None  # no K: refused, the filter holds
    assert 'intrinsics' in aligner.last_reason
    status = aligner.status()
    assert status['alignment_state'] == 'holding' and status['alignment_unpaired'] == '2'
    # an anchor image registered to the camera (no intrinsics of its own)
    registered = al.Aligner('sparse')
    registered.add_depth(5, room[::2, ::2].copy(), None)
    p = registered.align(d, K, 5)
    assert p is not None and p.scale == pytest.approx(0.25, rel=0.02)


def test_aligner_lidar_with_a_parameter_extrinsic(room: np.ndarray) -> None:
    d = _disparity(room, 0.25, 0.02)
    rows, cols = np.mgrid[0:SHAPE[0]:3, 0:SHAPE[1]:3]
    z = room[rows, cols].ravel()
    rays = np.linalg.solve(K, np.stack([cols.ravel(), rows.ravel(), np.ones(z.size)])).T
    points = rays * z[:, None]                               # optical frame
    t = al.parse_transform('0.1 0 -0.05 0.3 0 0')            # the anchor frame in the camera
    lidar = (points - t[:3, 3]) @ t[:3, :3]                  # the same points in that frame
    aligner = al.Aligner('lidar', extrinsic=t)
    aligner.add_points(7, lidar)
    p = aligner.align(d, K, 7)
    assert p is not None and p.scale == pytest.approx(0.25, rel=1e-5)


def test_aligner_ground_and_bad_kinds() -> None:
    depth, scene = _scene_depth()
    d = _disparity(depth, 0.25, 0.05)
    pitch, roll = al.pitch_roll_from_gravity(scene.rotation.T @ np.array([0.0, -1.0, 0.0]))
    aligner = al.Aligner('ground', height_m=float(scene.origin[1]), pitch_rad=pitch,
                         roll_rad=roll)
    p = aligner.align(d, K, 0)
    assert p is not None and np.nanmedian(p.depth(d) / depth) == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ValueError, match='no anchors'):
        al.Aligner('fixed')
    with pytest.raises(ValueError, match='height'):
        al.Aligner('ground')


def _lidar_points(depth: np.ndarray, rng: np.random.Generator, step: int = 3,
                  noise_m: float = 0.02, outliers: float = 0.2) -> np.ndarray:
    """Points (N, 3) in the optical frame on a grid of ``depth``, with noise and outliers."""
    rows, cols = np.mgrid[0:depth.shape[0]:step, 0:depth.shape[1]:step]
    z = depth[rows, cols].ravel() + rng.normal(0.0, noise_m, rows.size)
    bad = rng.random(z.size) < outliers
    z[bad] = rng.uniform(0.3, 12.0, bad.sum())               # glass, multipath, wrong returns
    rays = np.linalg.solve(K, np.stack([cols.ravel(), rows.ravel(), np.ones(z.size)])).T
    return rays * z[:, None]


def test_aligner_corrects_a_metric_model_scale_error(room: np.ndarray) -> None:
    rng = np.random.default_rng(4)
    aligner = al.Aligner('lidar', metric=True)
    assert aligner.filter.scale_only
    errors = []
    for i in range(20):                                      # a metric model 10 % too far
        pred = (room * 1.1 * (1.0 + rng.normal(0.0, 0.01, SHAPE))).astype(np.float32)
        stamp = i * 33_000_000
        aligner.add_points(stamp, _lidar_points(room, rng))
        p = aligner.align(pred, K, stamp)
        assert p is not None and p.shift == 0.0
        errors.append(abs(float(np.median(p.correct(pred) / room)) - 1.0))
    assert np.median(np.abs(pred / room - 1.0)) > 0.09          # before: 10 % off
    assert max(errors) < 0.005                                  # after: within 0.5 %
    assert aligner.status()['alignment_applied'].startswith('yes')
    # no anchor for longer than hold_s: no correction, and the diagnostics say so
    assert aligner.align(pred, K, 5_000_000_000) is None
    assert aligner.status()['alignment_applied'] == "no: the model's own metres, uncorrected"
    # sparse anchor images and the floor give the same correction
    sparse = al.Aligner('sparse', metric=True)
    anchor = room[::2, ::2].copy()
    anchor[rng.random(anchor.shape) < 0.9] = np.nan           # holey
    sparse.add_depth(0, anchor, None)
    p = sparse.align((room * 1.1).astype(np.float32), K, 0)
    assert p is not None and p.scale == pytest.approx(1.1, rel=0.02)
    depth, scene = _scene_depth()
    pitch, roll = al.pitch_roll_from_gravity(scene.rotation.T @ np.array([0.0, -1.0, 0.0]))
    ground = al.Aligner('ground', height_m=float(scene.origin[1]), pitch_rad=pitch,
                        roll_rad=roll, metric=True)
    p = ground.align((depth * 0.9).astype(np.float32), K, 0)
    assert p is not None and p.scale == pytest.approx(0.9, rel=0.02)
    with pytest.raises(ValueError, match='scale_only'):
        al.Aligner('lidar', metric=True, filter=al.AlignmentFilter())


def test_scale_only_filter_smooths_noisy_scales(room: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    f = al.AlignmentFilter(scale_only=True)
    pred = room * 1.1
    raw, out = [], []
    for i in range(60):
        uv = np.stack([rng.integers(0, SHAPE[1], 25), rng.integers(0, SHAPE[0], 25)], -1)
        z = room[uv[:, 1], uv[:, 0]] * (1.0 + rng.normal(0.0, 0.05, 25))
        fit = al.fit_scale_points(pred, uv, z)
        p = f.update(fit, i / 30.0)
        assert p.shift == 0.0
        raw.append(fit.scale)
        out.append(p.scale)
    flicker = np.mean(np.abs(np.diff(out[30:])))
    assert flicker < np.mean(np.abs(np.diff(raw[30:]))) / 3.0   # steadier than per-frame fits
    assert np.median(out[30:]) == pytest.approx(1.1, rel=0.01)


def test_parse_transform() -> None:
    assert al.parse_transform('') is None
    t = al.parse_transform('1 2 3 0 0 0')
    np.testing.assert_allclose(t[:3, 3], [1, 2, 3])
    np.testing.assert_allclose(t[:3, :3], np.eye(3))
    yaw = al.parse_transform('0 0 0 1.5707963267948966 0 0')
    np.testing.assert_allclose(yaw[:3, :3] @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    q = al.parse_transform('0 0 0 0 0 0.7071067811865476 0.7071067811865476')
    np.testing.assert_allclose(q, yaw, atol=1e-12)
    with pytest.raises(ValueError, match='x y z yaw pitch roll'):
        al.parse_transform('1 2 3')


def test_anchor_messages_to_arrays() -> None:
    from sensor_msgs.msg import PointField
    from std_msgs.msg import Header

    from depth_anything_ros.ros.conversions import (
        array_to_image,
        cloud_message,
        cloud_xyz,
        depth_image_metres,
    )
    mm = np.array([[0, 1500], [65535, 250]], np.uint16)
    got = depth_image_metres(array_to_image(mm, '16UC1', Header()))
    np.testing.assert_allclose(got, [[np.nan, 1.5], [65.535, 0.25]], rtol=1e-6)
    metres = np.array([[np.nan, 2.0], [-1.0, 0.5]], np.float32)
    got = depth_image_metres(array_to_image(metres, '32FC1', Header()))
    np.testing.assert_allclose(got, [[np.nan, 2.0], [np.nan, 0.5]])
    pts = np.zeros((1, 3), np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4')]))
    pts['z'] = [[1.0, np.nan, 3.0]]
    xyz = cloud_xyz(cloud_message(pts, Header()))
    np.testing.assert_allclose(xyz, [[0, 0, 1.0], [0, 0, 3.0]])
    msg = cloud_message(pts, Header())
    msg.fields = [PointField(name='intensity', offset=0, datatype=PointField.FLOAT32, count=1)]
    with pytest.raises(ValueError, match='x, y and z'):
        cloud_xyz(msg)


def test_alignment_parameters() -> None:
    from depth_anything_ros.params import validate
    cfg = validate({})
    assert cfg.alignment == 'fixed' and cfg.metric_output          # metric mode: unchanged
    assert not validate({'mode': 'relative'}).metric_output        # today's default: disparity
    assert validate({'mode': 'relative', 'alignment': 'sparse'}).metric_output
    assert validate({'alignment': 'lidar'}).alignment == 'lidar'   # a metric model's correction
    for bad, match in (({'alignment': 'ground'}, 'camera_height > 0'),
                       ({'mode': 'relative', 'alignment': 'ground'}, 'camera_height > 0'),
                       ({'mode': 'relative', 'alignment': 'sparse', 'disparity_scale': 1.0},
                        'applies with alignment fixed'),
                       ({'mode': 'relative', 'alignment': 'lidar', 'anchor_transform': '1 2'},
                        'x y z yaw pitch roll')):
        with pytest.raises(ValueError, match=match):
            validate(bad)
