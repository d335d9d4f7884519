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

"""Geometry: intrinsics rescaling, ray grid cache, back-projection and cloud packing."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from depth_anything_ros.core.geometry import (
    adapt_intrinsics,
    backproject,
    cloud_dtype,
    Intrinsics,
    is_rescaling,
    pack_cloud,
    pack_rgb,
    PixelMap,
    RayGrid,
    Rectifier,
    rectify_maps,
    scale_intrinsics,
    strided_size,
    subsample_intrinsics,
)

# Principal point deliberately away from the image centre (320, 240).
INTR = Intrinsics(fx=500.0, fy=520.0, cx=300.0, cy=200.0, width=640, height=480)


def project(intr: Intrinsics, xyz: np.ndarray) -> np.ndarray:
    """Pixel coordinates (N, 2) of points (N, 3) through a pinhole."""
    return np.stack([intr.fx * xyz[:, 0] / xyz[:, 2] + intr.cx,
                     intr.fy * xyz[:, 1] / xyz[:, 2] + intr.cy], axis=1)


def xyz(cloud: np.ndarray) -> np.ndarray:
    """(H, W, 3) float view of a structured cloud's coordinates."""
    return np.stack([cloud['x'], cloud['y'], cloud['z']], axis=-1)


def plane_depth(intr: Intrinsics, normal: tuple[float, float, float], d: float) -> np.ndarray:
    """Depth (H, W) of the plane n . P = d seen by each pixel ray."""
    u = (np.arange(intr.width) - intr.cx) / intr.fx
    v = (np.arange(intr.height) - intr.cy) / intr.fy
    uu, vv = np.meshgrid(u, v)
    a, b, c = normal
    return (d / (a * uu + b * vv + c)).astype(np.float32)


def test_fronto_parallel_plane_comes_back_at_its_depth() -> None:
    depth = np.full((480, 640), 2.0, np.float32)
    cloud = pack_cloud(depth, RayGrid().get(INTR))
    assert cloud.shape == (480, 640) and cloud.dtype == cloud_dtype(rgb=False)
    assert cloud.dtype.itemsize == 12 and cloud.dtype.names == ('x', 'y', 'z')
    pts = xyz(cloud)
    np.testing.assert_allclose(pts[..., 2], 2.0)
    # the principal point (row cy, column cx) is on the optical axis, not the image centre
    np.testing.assert_allclose(pts[200, 300, :2], [0.0, 0.0], atol=1e-7)
    assert abs(pts[240, 320, 0]) > 0.05
    # one pixel to the right is 1/fx of the depth further along x
    np.testing.assert_allclose(pts[200, 301, 0], 2.0 / 500.0, rtol=1e-6)
    np.testing.assert_allclose(pts[201, 300, 1], 2.0 / 520.0, rtol=1e-6)


def test_backprojection_inverts_projection() -> None:
    rng = np.random.default_rng(0)
    xyz = np.column_stack([rng.uniform(-1, 1, 50), rng.uniform(-1, 1, 50), rng.uniform(1, 5, 50)])
    uv = project(INTR, xyz)
    keep = (uv[:, 0] >= 0) & (uv[:, 0] < 639) & (uv[:, 1] >= 0) & (uv[:, 1] < 479)
    xyz, uv = xyz[keep], uv[keep]
    # put each point's depth at the pixel nearest to it and move the point onto that pixel's ray
    cols, rows = np.rint(uv[:, 0]).astype(int), np.rint(uv[:, 1]).astype(int)
    depth = np.full((480, 640), np.nan, np.float32)
    depth[rows, cols] = xyz[:, 2]
    pts = backproject(depth, RayGrid().get(INTR))
    expect_x = (cols - INTR.cx) / INTR.fx * xyz[:, 2]
    expect_y = (rows - INTR.cy) / INTR.fy * xyz[:, 2]
    np.testing.assert_allclose(pts[rows, cols, 0], expect_x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pts[rows, cols, 1], expect_y, rtol=1e-5, atol=1e-6)
    assert np.isnan(pts[0, 0]).all()


def test_tilted_plane_stays_planar() -> None:
    normal = np.array([0.3, -0.2, 1.0]) / np.linalg.norm([0.3, -0.2, 1.0])
    depth = plane_depth(INTR, tuple(normal), 2.5)
    pts = xyz(pack_cloud(depth, RayGrid().get(INTR))).reshape(-1, 3).astype(np.float64)
    residual = pts @ normal - 2.5
    assert np.abs(residual).max() < 1e-5
    centred = pts - pts.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    assert singular[2] / singular[1] < 1e-5  # rank-2 point set: a plane


def test_ray_grid_is_cached_until_intrinsics_change() -> None:
    grid = RayGrid()
    first = grid.get(INTR)
    assert grid.get(Intrinsics(500.0, 520.0, 300.0, 200.0, 640, 480))[0] is first[0]
    assert grid.builds == 1
    grid.get(scale_intrinsics(INTR, 320, 240))
    assert grid.builds == 2 and grid.get(INTR)[0].shape == (480, 640)
    assert grid.builds == 3


def test_stride_range_nan_and_rgb_layout() -> None:
    depth = np.full((480, 640), 3.0, np.float32)
    depth[10, 20] = np.nan
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 7
    rays = RayGrid().get(INTR)
    full = xyz(pack_cloud(depth, rays))
    strided = pack_cloud(depth, rays, rgb, stride=3)
    assert strided.shape == (160, 214) and strided.dtype.names == ('x', 'y', 'z', 'rgb')
    assert [strided.dtype.fields[n][1] for n in 'xyz'] + [strided.dtype.fields['rgb'][1]] == [
        0, 4, 8, 12]
    np.testing.assert_array_equal(xyz(strided), full[::3, ::3])
    bits = strided['rgb'].view(np.uint32)
    assert (bits == (200 << 16 | 100 << 8 | 7)).all()
    assert np.isnan(full[10, 20]).all() and np.isfinite(full[11, 20]).all()
    # a 3 m plane: only the rays within ~12 degrees of the axis are closer than 3.07 m
    ranged = pack_cloud(depth, rays, min_range=0.5, max_range=3.07)
    dist = np.linalg.norm(full, axis=2)
    keep = np.isfinite(ranged['z'])
    assert (np.isfinite(ranged['x']) == keep).all()
    np.testing.assert_array_equal(keep, dist <= 3.07)
    assert 0 < keep.sum() < keep.size
    assert np.isnan(xyz(pack_cloud(depth, rays, min_range=4.0))).all()


def test_pack_rgb_bits_and_errors() -> None:
    rgb = np.array([[[255, 0, 1], [1, 2, 3]]], np.uint8)
    assert pack_rgb(rgb).view(np.uint32).tolist() == [[0xFF0001, 0x010203]]
    with pytest.raises(ValueError, match='uint8'):
        pack_rgb(rgb.astype(np.float32))
    with pytest.raises(ValueError, match='intrinsics must describe'):
        pack_cloud(np.zeros((10, 10), np.float32), RayGrid().get(INTR))


def test_scaled_intrinsics_follow_pixel_centres() -> None:
    xyz = np.array([[0.4, -0.3, 2.0], [-1.0, 0.5, 4.0]])
    half = scale_intrinsics(INTR, 320, 240)
    uv_full, uv_half = project(INTR, xyz), project(half, xyz)
    np.testing.assert_allclose(uv_half, (uv_full + 0.5) * 0.5 - 0.5)
    assert adapt_intrinsics(INTR, 640, 480) is INTR
    assert adapt_intrinsics(INTR, 320, 240) == half
    with pytest.raises(ValueError, match='aspect ratios differ'):
        adapt_intrinsics(INTR, 640, 360)


def test_pixel_maps_compose_and_apply_to_k_and_p() -> None:
    assert subsample_intrinsics(INTR, 2) == Intrinsics(250.0, 260.0, 150.0, 100.0, 320, 240)
    assert subsample_intrinsics(Intrinsics(1, 1, 0, 0, 641, 481), 2).size == (321, 241)
    chain = PixelMap.crop(10, 20).then(PixelMap.binning(2, 2)).then(PixelMap.stride(2))
    k = INTR.k_matrix()
    step = PixelMap.stride(2).apply(PixelMap.binning(2, 2).apply(PixelMap.crop(10, 20).apply(k)))
    np.testing.assert_allclose(chain.apply(k), step)
    # P with a stereo baseline term: Tx scales with fx, the last row is untouched
    p = np.array([[500.0, 0, 300, -50.0], [0, 520, 200, 0], [0, 0, 1, 0]])
    mapped = PixelMap.resample(640, 480, 320, 240).apply(p)
    assert mapped[0, 3] == pytest.approx(-25.0) and mapped[2].tolist() == [0, 0, 1, 0]
    # binning 2 = resampling to half size for even sizes
    np.testing.assert_allclose(PixelMap.binning(2, 2).apply(k),
                               PixelMap.resample(640, 480, 320, 240).apply(k))


@pytest.mark.parametrize('bad', [{'fx': 0.0}, {'fy': -1.0}, {'cx': math.nan}, {'width': 0}])
def test_intrinsics_reject_uncalibrated_values(bad: dict) -> None:
    values = {'fx': 500.0, 'fy': 500.0, 'cx': 320.0, 'cy': 240.0, 'width': 640, 'height': 480}
    values.update(bad)
    with pytest.raises(ValueError):
        Intrinsics(**values)


# --------------------------------------------------------------------------- rectification
_K = np.array([[300.0, 0.0, 158.0], [0.0, 310.0, 122.0], [0.0, 0.0, 1.0]])
_P = np.array([[280.0, 0.0, 161.0, 0.0], [0.0, 280.0, 119.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
_R = cv2.Rodrigues(np.array([0.01, -0.02, 0.005]))[0]
_DIST = {
    'plumb_bob': [-0.28, 0.09, 0.001, -0.002, 0.0],
    'rational_polynomial': [-0.2, 0.05, 0.001, -0.001, 0.0, 0.1, 0.02, 0.0],
    'equidistant': [0.05, -0.01, 0.002, -0.001],
}


def _raw_pixels(model: str, u: np.ndarray, v: np.ndarray, r: np.ndarray,
                new_k: np.ndarray) -> np.ndarray:
    """Where the raw camera sees the ray of rectified pixel (u, v): independent of the maps."""
    rays = np.linalg.inv(new_k) @ np.stack([u, v, np.ones_like(u)])  # (3, N) rectified
    rays = (r.T @ rays).T[:, None, :]  # (N, 1, 3) in the raw camera
    zero = np.zeros(3)
    d = np.array(_DIST[model])
    if model == 'equidistant':
        pix, _ = cv2.fisheye.projectPoints(rays, zero, zero, _K, d)
    else:
        pix, _ = cv2.projectPoints(rays, zero, zero, _K, d)
    return pix[:, 0, :]  # (N, 2)


@pytest.mark.parametrize('model', list(_DIST))
def test_rectify_maps_sample_the_raw_pixel_of_each_rectified_ray(model: str) -> None:
    mx, my = rectify_maps(_K, _DIST[model], _R, _P, model, 320, 240, fixed_point=False)
    assert mx.shape == my.shape == (240, 320) and mx.dtype == np.float32
    v, u = np.mgrid[10:230:37, 12:310:41].reshape(2, -1).astype(np.float64)
    want = _raw_pixels(model, u, v, _R, _P[:, :3])
    got = np.stack([mx[v.astype(int), u.astype(int)], my[v.astype(int), u.astype(int)]], -1)
    np.testing.assert_allclose(got, want, atol=2e-3)
    # distortion really moves pixels here (the check above is not the identity)
    assert np.abs(want - np.stack([u, v], -1)).max() > 3.0


def test_rectify_maps_identity_and_unset_p() -> None:
    eye = np.eye(3)
    assert rectify_maps(_K, [0.0] * 5, eye, np.zeros((3, 4)), 'plumb_bob', 320, 240) is None
    assert rectify_maps(_K, [], np.zeros((3, 3)), np.hstack([_K, np.zeros((3, 1))]),
                        'plumb_bob', 320, 240) is None
    # P unset: the rectified image keeps K (image_geometry's rule), only D is removed
    mx, my = rectify_maps(_K, _DIST['plumb_bob'], eye, np.zeros((3, 4)), 'plumb_bob', 320, 240,
                          fixed_point=False)
    want = _raw_pixels('plumb_bob', np.array([40.0]), np.array([200.0]), eye, _K)
    np.testing.assert_allclose([mx[200, 40], my[200, 40]], want[0], atol=2e-3)
    fixed = rectify_maps(_K, _DIST['plumb_bob'], eye, _P, 'plumb_bob', 320, 240)
    assert fixed[0].dtype == np.int16 and fixed[0].shape == (240, 320, 2)


@pytest.mark.parametrize(('model', 'd', 'message'), [
    ('unified', [0.1, 0.0, 0.0, 0.0, 0.0], "'unified' is not supported"),
    ('equidistant', [0.1, 0.0], 'needs 4 coefficients'),
    ('plumb_bob', [0.1, 0.0, 0.0], '3 coefficients'),
])
def test_rectify_maps_reject_what_they_cannot_model(model: str, d: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rectify_maps(_K, d, np.eye(3), _P, model, 320, 240)


@pytest.mark.parametrize('channels', [0, 3])
def test_rectifier_undoes_a_synthetic_distortion(channels: int) -> None:
    # A smooth scene as the rectified camera sees it ...
    v, u = np.mgrid[0:240, 0:320].astype(np.float32)
    scene = (127 + 60 * np.sin(u / 9.0) + 60 * np.cos(v / 7.0)).astype(np.uint8)
    if channels:
        scene = np.dstack([scene, scene[::-1], 255 - scene])
    # ... and as the distorted raw camera sees it: each raw pixel looks up its rectified one.
    raw_uv = np.stack([u.ravel(), v.ravel()], -1)[:, None, :].astype(np.float64)
    rect = cv2.undistortPoints(raw_uv, _K, np.array(_DIST['plumb_bob']), R=_R, P=_P)
    rect = rect.reshape(240, 320, 2).astype(np.float32)
    raw = cv2.remap(scene, rect[..., 0], rect[..., 1], cv2.INTER_LINEAR)
    rectifier = Rectifier()
    out = rectifier(raw, _K, _DIST['plumb_bob'], _R, _P, 'plumb_bob')
    assert out.shape == scene.shape and out.dtype == np.uint8
    inner = (slice(40, 200), slice(50, 270))
    err = np.abs(out[inner].astype(int) - scene[inner]).mean()
    assert err < 2.0, err  # two bilinear resamplings of a smooth pattern
    assert np.abs(raw[inner].astype(int) - scene[inner]).mean() > 10 * err
    # the maps are cached per calibration; a distortion-free one passes frames through
    assert rectifier(raw, _K, _DIST['plumb_bob'], _R, _P, 'plumb_bob') is not raw
    plain = rectifier(raw, _K, [0.0] * 5, np.eye(3), np.zeros((3, 4)), 'plumb_bob')
    assert plain is raw


def test_cloud_never_holds_inf() -> None:
    """Steep rays are NaN and an infinite or overflowing depth gives NaN, not inf."""
    steep = Intrinsics(1e-9, 1e-9, 0.5, 0.5, 4, 3)
    rays = RayGrid().get(steep)
    assert np.isnan(rays.x[:, 2:]).all() and np.isnan(rays.norm[:, 2:]).all()
    depth = np.array([[1.0, np.inf, 3e38, 2.0]] * 3, np.float32)
    cloud = pack_cloud(depth, RayGrid().get(INTR_SMALL))
    for name in ('x', 'y', 'z'):
        assert not np.isinf(cloud[name]).any(), name
    assert np.isnan(cloud['z'][:, 1]).all() and (cloud['z'][:, 0] == 1.0).all()


INTR_SMALL = Intrinsics(2.0, 2.0, 1.5, 1.0, 4, 3)


def test_strided_size_and_rescaling_rule() -> None:
    assert [strided_size(n, 2) for n in (640, 641, 1)] == [320, 321, 1]
    assert is_rescaling(1280, 720, 427, 240) and not is_rescaling(1280, 720, 640, 480)


def test_unproject_inverts_the_projection_with_skew() -> None:
    """The one K^-1: a skewed K back-projects so that projecting again lands on the pixel."""
    from depth_anything_ros.core.alignment import project_points
    from depth_anything_ros.core.geometry import unproject
    k = np.array([[500.0, 3.5, 320.0], [0.0, 480.0, 240.0], [0.0, 0.0, 1.0]])
    v, u = np.mgrid[0:48:5, 0:64:7].astype(np.float64)
    x, y = unproject(k, u, v)
    z = np.linspace(0.5, 9.0, u.size).reshape(u.shape)
    pixels, depth = project_points(np.stack([x * z, y * z, z], -1).reshape(-1, 3), k, (480, 640))
    np.testing.assert_allclose(pixels, np.stack([u.ravel(), v.ravel()], -1), atol=1e-9)
    np.testing.assert_allclose(depth, z.ravel())


def test_ray_grid_is_the_unprojection_of_its_intrinsics() -> None:
    from depth_anything_ros.core.geometry import unproject
    intr = Intrinsics(fx=300.0, fy=310.0, cx=30.5, cy=20.0, width=64, height=40)
    rays = RayGrid().get(intr)
    x, y = unproject(intr.k_matrix(), np.arange(64)[None, :], np.arange(40)[:, None])
    assert rays.x.dtype == np.float32 and rays.x.shape == rays.y.shape == (40, 64)
    np.testing.assert_array_equal(rays.x, x.astype(np.float32))
    np.testing.assert_array_equal(rays.y, y.astype(np.float32))
    np.testing.assert_array_equal(rays.x[0], ((np.arange(64) - 30.5) / 300.0).astype(np.float32))
