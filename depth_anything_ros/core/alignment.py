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

"""Metric alignment of relative depth from the metric signals a robot carries (no rclpy).

A relative model predicts affine-invariant disparity ``d``: ``1/depth = scale * d + shift`` for
unknown ``scale``, ``shift`` that the network chooses per image. Anchors of known depth (a
LiDAR, a few sparse points, a holey RGB-D image, or the floor seen from a camera of known
height) fix them per frame; :class:`AlignmentFilter` smooths the parameters over time.

* :func:`fit_inverse_depth` / :func:`fit_inverse_depth_points` / :func:`fit_ground`: a robust
  per-frame fit (least median of squares over two-point hypotheses, then least squares on the
  inliers) of the *relative depth error* ``z * (scale * d + shift) - 1``; it refuses (``ok``
  false, with a ``reason``) anchors that are too few, too noisy or unrelated to the image.
* :func:`fit_scale`: the same for a metric model (scale only, ``shift = 0`` on ``1/depth``).
* :func:`ground_plane_depth`, :func:`floor_candidates`: the floor as an anchor.
* :func:`project_points`, :func:`resample_depth`: anchors of any resolution, intrinsics and
  frame onto the network's pixel grid.
* :class:`AlignmentFilter`: a Kalman filter on the log inverse depth at two reference
  disparities, weighted by each fit's covariance, with fading memory, jump rejection, step
  detection, hold-last-good and reset on stamps that go backwards.
* :class:`Aligner`: the node's state machine (anchors paired by stamp, fit, filter, status).

Pixel coordinates are ``(u, v)`` = (column, row) with pixel centres at integers (OpenCV, ROS
CameraInfo); camera frames are optical (x right, y down, z forward); depths are metres.
See docs/alignment.md for the maths and how to choose the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import NamedTuple

import numpy as np

from depth_anything_ros.core.geometry import Intrinsics, scale_intrinsics, unproject
from depth_anything_ros.core.sync import StampMatcher
from depth_anything_ros.vocabulary import ALIGNMENTS, ANCHORED, transform_values

__all__ = ['ALIGNMENTS', 'ANCHORED', 'Aligner', 'AlignmentFilter', 'Fit', 'FitOptions',
           'ScaleShift', 'fit_ground', 'fit_inverse_depth', 'fit_inverse_depth_points',
           'fit_scale', 'fit_scale_points', 'floor_candidates', 'ground_plane_depth',
           'parse_transform', 'pitch_roll_from_gravity', 'project_points', 'resample_depth',
           'sample_at', 'transform_matrix', 'valid_anchor_pixels']

# MAD -> standard deviation of a normal distribution
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class FitOptions:
    """Gates and effort of the robust fit (relative errors are fractions: 0.05 = 5 %)."""

    min_inliers: int = 8                # fewer inlier anchors: refused
    min_inlier_fraction: float = 0.5    # share of the anchors the fit must explain
    max_residual: float = 0.1           # median |relative depth error| on the inliers
    min_gain: float = 2.0               # the fit must beat a constant depth by this factor
    max_points: int = 2000              # anchors used per frame (a deterministic subsample)
    hypotheses: int = 64                # two-point hypotheses (LMedS) ...
    score_points: int = 256             # ... each scored on this many anchors
    inlier_sigmas: float = 3.0          # inlier band in robust standard deviations ...
    min_band: float = 0.01              # ... but at least this relative error
    max_band: float = 0.3               # ... and at most this one
    seed: int = 0                       # fixed: the same anchors give the same fit

    def __post_init__(self) -> None:
        if self.min_inliers < 2:
            raise ValueError(f'min_inliers must be >= 2 (two parameters), got {self.min_inliers}')
        if not 0.0 < self.min_inlier_fraction <= 1.0:
            raise ValueError('min_inlier_fraction must be in (0, 1], got '
                             f'{self.min_inlier_fraction}')
        if self.max_points < self.min_inliers or self.hypotheses < 1:
            raise ValueError('max_points must be >= min_inliers and hypotheses >= 1')
        if not 0.0 < self.min_band <= self.max_band:
            raise ValueError('need 0 < min_band <= max_band')


@dataclass(frozen=True)
class Fit:
    """One frame's alignment ``1/depth = scale * disparity + shift`` and its quality.

    ``residual`` is the median absolute relative depth error on the ``inliers``; ``support`` the
    anchors considered; ``cov`` the 2x2 covariance of ``(scale, shift)`` (row-major);
    ``span`` the 10th and 90th percentile of the inliers' disparities; ``reason`` says why a
    fit is refused (``ok`` false).
    """

    scale: float
    shift: float
    inliers: int
    residual: float
    ok: bool
    support: int = 0
    reason: str = ''
    cov: tuple[float, float, float, float] = field(default=(0.0, 0.0, 0.0, 0.0), compare=False)
    span: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def refused(cls, reason: str, support: int = 0) -> Fit:
        """Return a fit that must not be used, with the reason."""
        return cls(math.nan, math.nan, 0, math.nan, False, support, reason)

    @property
    def covariance(self) -> np.ndarray:
        """Return ``cov`` as a (2, 2) array."""
        return np.asarray(self.cov, np.float64).reshape(2, 2)

    def depth(self, disparity: np.ndarray) -> np.ndarray:
        """Metres (float32) for ``disparity``; NaN where ``scale * d + shift <= 0`` or NaN."""
        inverse = np.asarray(disparity, np.float32) * np.float32(self.scale) \
            + np.float32(self.shift)
        with np.errstate(divide='ignore', invalid='ignore'):
            return np.where(inverse > 0, 1.0 / inverse, np.nan).astype(np.float32)


class ScaleShift(NamedTuple):
    """Filtered ``(scale, shift)``; NaN when the filter has no usable estimate."""

    scale: float
    shift: float

    @property
    def valid(self) -> bool:
        """Return whether the pair can be applied."""
        return math.isfinite(self.scale) and math.isfinite(self.shift)

    def depth(self, disparity: np.ndarray) -> np.ndarray:
        """Metres (float32) as :meth:`Fit.depth`."""
        return Fit(self.scale, self.shift, 0, 0.0, self.valid).depth(disparity)

    def correct(self, depth: np.ndarray) -> np.ndarray:
        """Return a metric model's corrected depth ``depth / scale`` (see :func:`fit_scale`)."""
        return (np.asarray(depth, np.float32) / np.float32(self.scale)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# the robust fit on samples (disparity d_i, anchor depth z_i)


def _lstsq(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``a @ p = 1`` in least squares; return ``p`` and ``(a.T a)^-1``."""
    ata = a.T @ a
    try:
        inv = np.linalg.inv(ata)
    except np.linalg.LinAlgError:
        inv = np.linalg.pinv(ata)
    return inv @ a.sum(0), inv


def _hypotheses(d: np.ndarray, z: np.ndarray, n: int, rng: np.random.Generator,
                scale_only: bool) -> np.ndarray:
    """Return ``(n, 2)`` candidate ``(scale, shift)`` from minimal samples."""
    m = len(d)
    inv_z = 1.0 / z
    if scale_only:
        i = rng.integers(0, m, n)
        return np.stack([inv_z[i] / d[i], np.zeros(n)], -1)
    i = rng.integers(0, m, n)
    j = (i + rng.integers(1, m, n)) % m                      # j != i
    with np.errstate(divide='ignore', invalid='ignore'):
        s = (inv_z[i] - inv_z[j]) / (d[i] - d[j])
    return np.stack([s, inv_z[i] - s * d[i]], -1)


def _relative_errors(p: np.ndarray, d: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Return ``z * (s d + t) - 1`` for each candidate row of ``p`` (K, 2) -> (K, N)."""
    return z * (p[:, :1] * d + p[:, 1:]) - 1.0


def _fit_samples(d: np.ndarray, z: np.ndarray, robust: bool, scale_only: bool,
                 options: FitOptions) -> Fit:
    """Fit ``1/z = s d + t`` (``t = 0`` when ``scale_only``) on 1-D samples; gate the result."""
    ok = np.isfinite(d) & np.isfinite(z) & (z > 0)
    d, z = d[ok].astype(np.float64), z[ok].astype(np.float64)
    n = len(d)
    if n < options.min_inliers:
        return Fit.refused(f'only {n} valid anchors (need {options.min_inliers})', n)
    rng = np.random.default_rng(options.seed)
    if n > options.max_points:
        keep = rng.choice(n, options.max_points, replace=False)
    else:
        keep = rng.permutation(n)
    d, z = d[keep], z[keep]
    # features of the relative error: z * (s d + t) - 1 = [z d, z] @ (s, t) - 1
    a = np.stack([z * d, z], -1)[:, :1 if scale_only else 2]
    if robust:
        cand = _hypotheses(d, z, options.hypotheses, rng, scale_only)
        cand = cand[np.isfinite(cand).all(1) & (cand[:, 0] > 0)]
        if len(cand) == 0:
            return Fit.refused('no positive-scale hypothesis: disparity does not decrease '
                               'with anchor depth', len(d))
        m = min(options.score_points, len(d))               # d is already in random order
        med = np.median(np.abs(_relative_errors(cand, d[:m], z[:m])), axis=1)
        p = cand[int(np.argmin(med))]
        inl = np.ones(len(d), bool)
        for _ in range(3):                                   # LMedS band, then LS on inliers
            r = np.abs(_relative_errors(p[None], d, z)[0])
            band = np.clip(options.inlier_sigmas * _MAD_TO_SIGMA * np.median(r),
                           options.min_band, options.max_band)
            new = r <= band
            if new.sum() < 2:
                break
            inl = new
            sol, _ = _lstsq(a[inl])
            p = np.array([sol[0], 0.0 if scale_only else sol[1]])
    else:
        inl = np.ones(len(d), bool)
        sol, _ = _lstsq(a)
        p = np.array([sol[0], 0.0 if scale_only else sol[1]])
    scale, shift = float(p[0]), float(p[1])
    r = _relative_errors(p[None], d, z)[0]
    pred = scale * d[inl] + shift
    with np.errstate(divide='ignore', invalid='ignore'):
        rel_depth_err = np.abs(1.0 / (1.0 + r[inl]) - 1.0)   # |z_pred - z| / z
    k = int(inl.sum())
    residual = float(np.median(rel_depth_err)) if k else math.nan
    dof = max(k - a.shape[1], 1)
    sigma2 = float(np.sum(r[inl] ** 2) / dof)
    _, inv = _lstsq(a[inl])
    cov = np.zeros((2, 2))
    cov[:a.shape[1], :a.shape[1]] = sigma2 * inv
    span = tuple(float(v) for v in np.percentile(d[inl], [10, 90])) if k else (0.0, 0.0)
    reason = ''
    if not (scale > 0 and np.isfinite(shift)):
        reason = f'scale {scale:.3g} <= 0: disparity does not decrease with anchor depth'
    elif k < options.min_inliers:
        reason = f'{k} inlier anchors (need {options.min_inliers})'
    elif k < options.min_inlier_fraction * len(d):
        reason = (f'only {k} of {len(d)} anchors agree with the image '
                  f'(need {options.min_inlier_fraction:.0%})')
    elif not residual <= options.max_residual:
        reason = f'residual {residual:.1%} > max_residual {options.max_residual:.1%}'
    elif not (pred > 0).all():
        reason = 'the fit puts some anchors behind the camera'
    elif not scale_only:
        # the affine fit must explain the anchors much better than one constant depth does
        const = np.abs(z * np.median(1.0 / z) - 1.0)
        gain = float(np.median(const) / max(np.median(np.abs(r)), 1e-12))
        if gain < options.min_gain:
            reason = (f'the anchors look unrelated to the image or span too little depth (fit '
                      f'{gain:.2g}x better than a constant; need {options.min_gain:g}x)')
    return Fit(scale, shift, k, residual, not reason, len(d), reason,
               tuple(float(v) for v in cov.ravel()), span)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# dense and sparse anchors


def valid_anchor_pixels(anchor_depth: np.ndarray, mask: np.ndarray | None = None,
                        max_points: int = 2000) -> np.ndarray:
    """Return flat indices of usable anchor pixels (finite, > 0, in ``mask``).

    Dense anchor images are first read on a strided grid with about ``4 * max_points`` cells,
    so a 640x480 frame costs a fraction of a millisecond; when that grid finds too few
    anchors (LiDAR rows, sparse points) every pixel is scanned.
    """
    h, w = anchor_depth.shape
    stride = max(1, int(math.sqrt(h * w / (4.0 * max_points))))
    if stride > 1:
        sub = anchor_depth[::stride, ::stride]
        ok = np.isfinite(sub) & (sub > 0)
        if mask is not None:
            ok &= mask[::stride, ::stride]
        rows, cols = np.nonzero(ok)
        if len(rows) >= max_points // 2:
            return (rows * stride) * w + cols * stride
    with np.errstate(invalid='ignore'):
        ok = anchor_depth > 0                                # NaN compares False
    ok &= np.isfinite(anchor_depth)
    if mask is not None:
        ok &= mask
    return np.flatnonzero(ok)


def fit_inverse_depth(disparity: np.ndarray, anchor_depth: np.ndarray,
                      mask: np.ndarray | None = None, *, robust: bool = True,
                      options: FitOptions = FitOptions()) -> Fit:
    """Fit ``1/anchor_depth = scale * disparity + shift`` on the valid anchor pixels.

    ``disparity`` and ``anchor_depth`` (metres; NaN, inf or <= 0 = no anchor) are ``(H, W)`` on
    the same grid (see :func:`resample_depth`); ``mask`` (bool) restricts the pixels used.
    """
    _check_same_shape(disparity, anchor_depth, 'anchor_depth')
    if mask is not None:
        _check_same_shape(disparity, mask, 'mask')
    idx = valid_anchor_pixels(anchor_depth, mask, options.max_points)
    return _fit_samples(disparity.ravel()[idx], anchor_depth.ravel()[idx], robust, False,
                        options)


def fit_inverse_depth_points(disparity: np.ndarray, pixels: np.ndarray, depths: np.ndarray, *,
                             robust: bool = True, options: FitOptions = FitOptions()) -> Fit:
    """Fit on sparse anchors: ``pixels`` (N, 2) ``(u, v)`` with ``depths`` (N,) in metres."""
    return _fit_samples(sample_at(disparity, pixels), np.asarray(depths, np.float64), robust,
                        False, options)


def fit_scale(depth: np.ndarray, anchor_depth: np.ndarray, mask: np.ndarray | None = None, *,
              robust: bool = True, options: FitOptions = FitOptions()) -> Fit:
    """Scale correction of a metric model: ``anchor = depth / fit.scale`` (``fit.shift = 0``).

    The fit is the inverse-depth fit with ``shift`` fixed at 0 on ``disparity = 1 / depth``,
    so the same gates and :class:`AlignmentFilter` apply; ``fit.depth(1 / depth)`` applies it.
    """
    _check_same_shape(depth, anchor_depth, 'anchor_depth')
    idx = valid_anchor_pixels(anchor_depth, mask, options.max_points)
    with np.errstate(divide='ignore'):
        inverse = 1.0 / depth.ravel()[idx].astype(np.float64)
    return _fit_samples(inverse, anchor_depth.ravel()[idx], robust, True, options)


def fit_scale_points(depth: np.ndarray, pixels: np.ndarray, depths: np.ndarray, *,
                     robust: bool = True, options: FitOptions = FitOptions()) -> Fit:
    """Sparse-anchor form of :func:`fit_scale`."""
    with np.errstate(divide='ignore'):
        inverse = 1.0 / sample_at(depth, pixels)
    return _fit_samples(inverse, np.asarray(depths, np.float64), robust, True, options)


def sample_at(image: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Return ``image`` at the nearest pixel of each ``(u, v)`` row (NaN outside), float64."""
    pixels = np.asarray(pixels, np.float64).reshape(-1, 2)
    h, w = image.shape
    col = np.rint(pixels[:, 0])
    row = np.rint(pixels[:, 1])
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    out = np.full(len(pixels), np.nan)
    out[inside] = image[row[inside].astype(np.intp), col[inside].astype(np.intp)]
    return out


def _check_same_shape(a: np.ndarray, b: np.ndarray, name: str) -> None:
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f'{name} must be (H, W) like the disparity {a.shape}, got {b.shape}; '
                         'resample anchors onto the network grid with resample_depth')


def project_points(points: np.ndarray, k: np.ndarray, shape: tuple[int, int],
                   extrinsic: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Project 3-D points into an image: return ``pixels`` (M, 2) ``(u, v)`` and depths (M,).

    ``points`` (N, 3) are in the camera optical frame, or in another frame when ``extrinsic``
    (4, 4) maps that frame into the camera optical frame. Points behind the camera, not
    finite, or outside the ``(H, W)`` image are dropped.
    """
    pts = np.asarray(points, np.float64).reshape(-1, 3)
    if extrinsic is not None:
        t = np.asarray(extrinsic, np.float64)
        if t.shape != (4, 4):
            raise ValueError(f'extrinsic must be a 4x4 transform, got {t.shape}')
        pts = pts @ t[:3, :3].T + t[:3, 3]
    k = np.asarray(k, np.float64)
    z = pts[:, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        u = k[0, 0] * pts[:, 0] / z + k[0, 1] * pts[:, 1] / z + k[0, 2]
        v = k[1, 1] * pts[:, 1] / z + k[1, 2]
    h, w = shape
    keep = np.isfinite(u) & np.isfinite(v) & (z > 0) & (u > -0.5) & (u < w - 0.5) & \
        (v > -0.5) & (v < h - 0.5)
    return np.stack([u[keep], v[keep]], -1), z[keep]


def resample_depth(depth: np.ndarray, k_depth: np.ndarray, k: np.ndarray,
                   shape: tuple[int, int], extrinsic: np.ndarray | None = None) -> np.ndarray:
    """Re-project an anchor depth image onto another camera's pixel grid (float32, NaN = none).

    ``depth`` (metres; NaN, inf or <= 0 = hole) has intrinsics ``k_depth`` and any resolution;
    the result is ``shape`` ``(H, W)`` with intrinsics ``k``. Without ``extrinsic`` both
    cameras share the optical centre and axes (a registered depth image); otherwise
    ``extrinsic`` (4, 4) maps the depth camera's frame into the target's. Every valid anchor
    pixel is back-projected and lands on its nearest target pixel; where several land, the
    nearest surface wins; nothing is interpolated across holes or edges.
    """
    depth = np.asarray(depth)
    rows, cols = np.nonzero(np.isfinite(depth) & (depth > 0))
    z = depth[rows, cols].astype(np.float64)
    x, y = unproject(k_depth, cols, rows)
    pixels, zt = project_points(np.stack([x * z, y * z, z], -1), k, shape, extrinsic)
    out = np.full(shape, np.inf)
    flat = np.rint(pixels[:, 1]).astype(np.intp) * shape[1] + np.rint(pixels[:, 0]).astype(np.intp)
    np.minimum.at(out.reshape(-1), flat, zt)
    out[np.isinf(out)] = np.nan
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# the floor as an anchor


def _down_vector(pitch_rad: float, roll_rad: float) -> np.ndarray:
    """Return the unit gravity direction in the optical frame for the camera's pitch and roll."""
    cp = math.cos(pitch_rad)
    return np.array([math.sin(roll_rad) * cp, math.cos(roll_rad) * cp, math.sin(pitch_rad)])


def pitch_roll_from_gravity(down: np.ndarray) -> tuple[float, float]:
    """Return ``(pitch, roll)`` (radians) from the gravity direction in the optical frame.

    ``down`` (3,) is any non-zero vector pointing down (e.g. an IMU's acceleration at rest,
    negated, rotated into the optical frame); inverse of the convention of
    :func:`ground_plane_depth`.
    """
    n = np.asarray(down, np.float64)
    norm = float(np.linalg.norm(n))
    if not norm > 0:
        raise ValueError('the gravity vector must be non-zero and finite')
    n = n / norm
    return math.asin(float(np.clip(n[2], -1, 1))), math.atan2(float(n[0]), float(n[1]))


def _floor_depth(k: np.ndarray, height_m: float, pitch_rad: float, roll_rad: float,
                 u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Return the floor's depth (float64, metres) along the rays of pixels ``(u, v)``.

    ``u``, ``v`` broadcast; NaN where the ray does not go down to the floor (``n . r <= 0``).
    The one floor model of :func:`ground_plane_depth` and :func:`fit_ground`.
    """
    _check_height(height_m)
    n = _down_vector(pitch_rad, roll_rad)
    x, y = unproject(k, u, v)
    dot = n[0] * x + n[1] * y + n[2]                  # 1 / floor depth per metre of height
    with np.errstate(divide='ignore'):
        return np.where(dot > 0, height_m / dot, np.nan)


def _near_floor(ground_depth: np.ndarray, max_depth: float) -> np.ndarray:
    """Return where the floor is hit within ``max_depth`` metres (NaN, the sky: False)."""
    with np.errstate(invalid='ignore'):
        return ground_depth <= max_depth


def ground_plane_depth(k: np.ndarray, height_m: float, pitch_rad: float, roll_rad: float,
                       shape: tuple[int, int]) -> np.ndarray:
    """Depth (float32 ``(H, W)``, metres) of each pixel's ray on a flat floor; NaN above it.

    The floor lies ``height_m`` below the camera centre. In the optical frame gravity points
    along ``n = (sin(roll) cos(pitch), cos(roll) cos(pitch), sin(pitch))``: ``pitch_rad > 0``
    when the optical axis points below the horizon, ``roll_rad > 0`` when the camera is turned
    clockwise about its optical axis as seen from behind (the image x axis tips down). A ray
    ``r = K^-1 (u, v, 1)`` (z = 1) meets the floor at ``depth = height / (n . r)`` where
    ``n . r > 0``.
    """
    h, w = shape
    return _floor_depth(k, height_m, pitch_rad, roll_rad, np.arange(w)[None, :],
                        np.arange(h)[:, None]).astype(np.float32)      # (H, W)


def _check_height(height_m: float) -> None:
    if not height_m > 0:
        raise ValueError(f'camera height must be > 0 m, got {height_m}; set the camera height '
                         'above the floor')


def _first_floor_row(height: int, lower_fraction: float) -> int:
    """First image row of the floor candidates: the bottom ``lower_fraction`` of the rows."""
    if not 0.0 < lower_fraction <= 1.0:
        raise ValueError(f'lower_fraction must be in (0, 1], got {lower_fraction}')
    return height - max(1, int(round(height * lower_fraction)))


def floor_candidates(ground_depth: np.ndarray, *, lower_fraction: float = 1.0 / 3.0,
                     max_depth: float = 10.0) -> np.ndarray:
    """Return the pixels that may show the floor (bool ``(H, W)``): the floor rule's first half.

    Candidates are the bottom ``lower_fraction`` of the rows where the floor ray is below the
    horizon and hits within ``max_depth`` metres (rays near the horizon turn a small pitch
    error into a large depth error). The second half is the robust fit itself
    (:func:`fit_ground`): only candidates whose predicted disparity agrees with one plane
    (the fit's inliers) anchor the frame, so furniture standing on the floor is rejected,
    and a frame where fewer than ``FitOptions.min_inlier_fraction`` of the candidates agree
    (the floor is hidden) is refused.
    """
    first = _first_floor_row(ground_depth.shape[0], lower_fraction)
    mask = np.zeros(ground_depth.shape, bool)
    mask[first:] = _near_floor(ground_depth[first:], max_depth)
    return mask


def fit_ground(disparity: np.ndarray, k: np.ndarray, height_m: float, pitch_rad: float,
               roll_rad: float, *, lower_fraction: float = 1.0 / 3.0, max_depth: float = 10.0,
               scale_only: bool = False, options: FitOptions = FitOptions()) -> Fit:
    """Fit ``disparity`` to the floor seen by a camera ``height_m`` above it (floor rule).

    Same result as ``fit_inverse_depth(disparity, ground, floor_candidates(ground))`` with
    ``ground = ground_plane_depth(...)``, but the floor depth is only computed on a strided grid
    of the candidate rows (about ``4 * options.max_points`` pixels). ``scale_only``: a metric
    model's correction, with ``disparity = 1 / depth`` (as :func:`fit_scale`).
    """
    h, w = disparity.shape
    first = _first_floor_row(h, lower_fraction)
    stride = max(1, int(math.sqrt((h - first) * w / (4.0 * options.max_points))))
    ground = _floor_depth(k, height_m, pitch_rad, roll_rad, np.arange(0, w, stride)[None, :],
                          np.arange(first, h, stride)[:, None])
    ground[~_near_floor(ground, max_depth)] = np.nan
    samples = disparity[first::stride, ::stride]
    return _fit_samples(samples.ravel(), ground.ravel(), True, scale_only, options)


# ---------------------------------------------------------------------------------------------
# temporal filter of the parameters


class AlignmentFilter:
    """Kalman filter of ``(scale, shift)`` over frames, weighted by each fit's covariance.

    The state is the log inverse depth at two reference disparities (the 10th and 90th
    percentile of the first good fit's anchors): both are relative quantities, so one process
    noise, one jump limit and one step test fit every scene. Per frame:

    * a stamp earlier than the last one (bag loop, simulated time reset) resets the filter;
    * the prediction inflates the covariance by ``exp(dt / time_constant_s)`` (fading memory:
      with fits of constant quality the filter is an exponential average with that time
      constant) and adds ``drift_per_sqrt_s**2 * dt`` (how fast the network's scale wanders);
    * a good fit updates the state with its covariance (``Fit.cov``, from its support and
      residual): dense precise anchors pull the state to the fit, few noisy ones barely move it;
      a fit beyond ``huber_sigmas`` counts as a noisier one (Huber);
    * innovations that stay larger than expected (running means over ``adapt_s``; a geometric
      mean, so one wild fit barely counts) become process noise: a network whose scale jitters
      is followed where the anchors see it; this learnt jitter survives restarts;
    * a fit that moves the depth by more than ``max_rel_jump`` is rejected, unless
      ``confirm_frames`` such fits in a row agree, which restarts the filter on them;
    * a two-sided CUSUM of the normalised innovation detects a real step (the network's scale
      moved) within two frames and restarts the filter on the current fit;
    * refused fits hold the last estimate for ``hold_s`` seconds, then the output is NaN.

    ``scale_only`` (a metric model's correction, fits of :func:`fit_scale`): the estimate is
    ``(scale, 0)``, the scale from the common mode of the two references.
    """

    def __init__(self, time_constant_s: float = 2.0, max_rel_jump: float = 0.3, *,
                 drift_per_sqrt_s: float = 0.005, hold_s: float = 1.0, confirm_frames: int = 3,
                 step_threshold: float = 6.0, step_slack: float = 1.0,
                 adapt_s: float = 0.5, huber_sigmas: float = 3.0,
                 min_rel_sigma: float = 1e-4, scale_only: bool = False) -> None:
        if not time_constant_s > 0 or not max_rel_jump > 0 or hold_s < 0:
            raise ValueError('time_constant_s and max_rel_jump must be > 0, hold_s >= 0')
        self.time_constant_s = float(time_constant_s)
        self.max_rel_jump = float(max_rel_jump)
        self._jump2 = math.log1p(self.max_rel_jump) ** 2
        self.drift = float(drift_per_sqrt_s)
        self.hold_s = float(hold_s)
        self.confirm_frames = int(confirm_frames)
        self.step_threshold = float(step_threshold)
        self.step_slack = float(step_slack)
        self.adapt_s = float(adapt_s)
        self.huber_sigmas = float(huber_sigmas)
        self.min_var = float(min_rel_sigma) ** 2
        self.scale_only = bool(scale_only)
        self.reset()

    def reset(self) -> None:
        """Forget everything (the next good fit starts the filter)."""
        self._x: np.ndarray | None = None       # (2,) log inverse depth at the references
        self._p = np.zeros((2, 2))
        self._refs = (0.0, 1.0)
        self._stamp: float | None = None
        self._good_stamp: float | None = None
        self._jumps = 0
        self._cusum = [0.0, 0.0]
        self._nu2 = 0.0                         # running mean square innovation ...
        self._log_nu2: float | None = None      # (its log, running)
        self._s2 = 0.0                          # ... and its expected value
        self.state = 'empty'                   # empty | tracking | holding | lost
        self.restarts = 0

    @property
    def age_s(self) -> float:
        """Seconds from the last accepted fit to the last update (inf before any)."""
        if self._good_stamp is None or self._stamp is None:
            return math.inf
        return self._stamp - self._good_stamp

    def _measure(self, fit: Fit) -> tuple[np.ndarray, np.ndarray] | None:
        """Return the fit in state coordinates and its covariance, or None if unusable."""
        d = np.asarray(self._refs)
        inv = fit.scale * d + fit.shift
        if not (np.isfinite(inv).all() and (inv > 0).all()):
            return None
        jac = np.stack([d, np.ones(2)], -1) / inv[:, None]  # d log(s d + t) / d(s, t)
        r = jac @ fit.covariance @ jac.T + self.min_var * np.eye(2)
        return np.log(inv), r

    def _start(self, fit: Fit, stamp_s: float) -> ScaleShift:
        lo, hi = fit.span
        self._refs = (lo, hi) if hi - lo > 1e-9 * max(abs(hi), 1.0) else (lo, lo + 1.0)
        m = self._measure(fit)
        if m is None:
            return self._hold(stamp_s)
        self._x, self._p = m
        self._good_stamp = stamp_s
        self._jumps = 0
        self._cusum = [0.0, 0.0]
        if self._log_nu2 is None:   # the learnt jitter belongs to the network: kept on restarts
            self._s2 = float(np.trace(self._p)) / 2.0
            self._log_nu2 = math.log(max(self._s2, 1e-30))
        self.state = 'tracking'
        return self.value()

    def value(self) -> ScaleShift:
        """Return the current estimate (NaN unless tracking or holding)."""
        if self._x is None or self.state not in ('tracking', 'holding'):
            return ScaleShift(math.nan, math.nan)
        if self.scale_only:   # the common mode of log(scale * ref) at both references
            return ScaleShift(float(np.exp(np.mean(self._x - np.log(self._refs)))), 0.0)
        (d1, d2), (i1, i2) = self._refs, np.exp(self._x)
        scale = (i2 - i1) / (d2 - d1)
        return ScaleShift(float(scale), float(i1 - scale * d1))

    def _hold(self, stamp_s: float) -> ScaleShift:
        if self._x is not None and self._good_stamp is not None \
                and stamp_s - self._good_stamp <= self.hold_s:
            self.state = 'holding'
        elif self._x is not None or self.state != 'empty':
            self.state = 'lost'
        return self.value()

    def update(self, fit: Fit, stamp_s: float) -> ScaleShift:
        """Feed one frame's fit (refused fits too) at ``stamp_s`` seconds; return the estimate."""
        if self._stamp is not None and stamp_s < self._stamp:
            self.reset()                                     # time went backwards
        dt = 0.0 if self._stamp is None else stamp_s - self._stamp
        self._stamp = stamp_s
        if self._x is not None:
            self._p = self._p * math.exp(dt / self.time_constant_s) \
                + self.drift ** 2 * dt * np.eye(2)
        if not fit.ok:
            return self._hold(stamp_s)
        if self._x is None or self.state == 'lost':
            self.restarts += self._x is not None
            return self._start(fit, stamp_s)
        m = self._measure(fit)
        if m is None:
            return self._hold(stamp_s)
        z, r = m
        nu = z - self._x
        if np.abs(nu).max() > math.log1p(self.max_rel_jump):
            self._jumps += 1
            if self._jumps >= self.confirm_frames:           # persistent: the scale did move
                self.restarts += 1
                return self._start(fit, stamp_s)
            return self._hold(stamp_s)
        self._jumps = 0
        # process noise learnt from the past innovations: when the fits keep moving by more
        # than the filter expects (the network's scale jitters), follow them instead of
        # averaging; this frame's innovation counts from the next frame on; the expectation is
        # a running mean too, so a single precise fit does not make the past look like jitter
        beta = 1.0 - math.exp(-dt / self.adapt_s) if dt > 0 else 1.0
        self._s2 += beta * (float(np.trace(self._p + r)) / 2.0 - self._s2)
        self._p = self._p + max(0.0, self._nu2 - 2.0 * self._s2) * np.eye(2)
        s = self._p + r
        # a fit further than huber_sigmas from the prediction counts as a noisier one (Huber)
        d2 = float(nu @ np.linalg.solve(s, nu))
        weight = min(1.0, self.huber_sigmas ** 2 / max(d2, 1e-30))
        # a geometric running mean: one wild fit barely moves it, a jitter in every frame does
        # (exp E[log(chi2_2 / 2)] = exp(-0.577): the factor 1.78 makes it a mean square again)
        self._log_nu2 += beta * (math.log(max(min(float(np.mean(nu ** 2)), self._jump2), 1e-30))
                                 - self._log_nu2)
        self._nu2 = 1.78 * math.exp(self._log_nu2)
        s = self._p + r / weight
        # step test on the common mode (a change of scale moves both references alike)
        common = float(nu.mean()) / math.sqrt(max(float(s.sum()) / 4.0, 1e-30))
        common = max(-4.0, min(4.0, common))
        self._cusum = [max(0.0, self._cusum[0] + common - self.step_slack),
                       max(0.0, self._cusum[1] - common - self.step_slack)]
        if max(self._cusum) > self.step_threshold:
            self.restarts += 1
            return self._start(fit, stamp_s)
        gain = self._p @ np.linalg.inv(s)
        self._x = self._x + gain @ nu
        self._p = (np.eye(2) - gain) @ self._p
        self._good_stamp = stamp_s
        self.state = 'tracking'
        return self.value()


# ---------------------------------------------------------------------------------------------
# transforms for anchors given in another frame


def transform_matrix(translation: np.ndarray, quaternion_xyzw: np.ndarray) -> np.ndarray:
    """Return the 4x4 transform of a translation (metres) and a unit quaternion (x, y, z, w)."""
    x, y, z, w = (float(v) for v in quaternion_xyzw)
    n = math.sqrt(x * x + y * y + z * z + w * w)
    if not n > 0:
        raise ValueError('the rotation quaternion must be non-zero')
    x, y, z, w = x / n, y / n, z / n, w / n
    t = np.eye(4)
    t[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                 [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                 [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    t[:3, 3] = np.asarray(translation, np.float64).reshape(3)
    return t


def parse_transform(text: str) -> np.ndarray | None:
    """Parse ``'x y z yaw pitch roll'`` (metres, radians) or ``'x y z qx qy qz qw'``.

    The pose of the anchor sensor's frame in the camera optical frame (it maps anchor points
    into the optical frame), in the argument order of ``static_transform_publisher``; yaw,
    pitch, roll rotate about z, y, x of the camera frame in that order. Empty: None (the
    anchors are already in the camera optical frame).

    Raises:
        ValueError: not 6 or 7 numbers.

    """
    values = transform_values(text)
    if values is None:
        return None
    if len(values) == 7:
        return transform_matrix(np.array(values[:3]), np.array(values[3:]))
    yaw, pitch, roll = values[3:]
    cy, sy, cp, sp, cr, sr = (math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch),
                              math.cos(roll), math.sin(roll))
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    t = np.eye(4)
    t[:3, :3] = rz @ ry @ rx
    t[:3, 3] = values[:3]
    return t


# ---------------------------------------------------------------------------------------------
# the node's state machine


class Aligner:
    """Per-camera alignment the node feeds: anchors in, ``(scale, shift)`` per frame out.

    ``kind``: ``sparse`` (anchor depth images, :meth:`add_depth`), ``lidar`` (points,
    :meth:`add_points`) or ``ground`` (camera height, pitch, roll). Anchors are paired with a
    frame by the nearest stamp within ``slop_s``; none within it is a refused fit (the filter
    holds). :meth:`align` returns the filtered pair, or None when the frame must not be
    published as metres. Anchors may arrive on other threads than :meth:`align` runs on.

    ``metric``: the network is a metric model; :meth:`align` takes its depth (metres) and
    returns a scale correction ``(scale, 0)`` (corrected depth ``depth / scale``,
    :meth:`ScaleShift.correct`), or None: then the model's own metres stand uncorrected.
    """

    def __init__(self, kind: str, *, slop_s: float = 0.05, height_m: float = 0.0,
                 pitch_rad: float = 0.0, roll_rad: float = 0.0,
                 extrinsic: np.ndarray | None = None,
                 filter: AlignmentFilter | None = None,   # noqa: A002 -- the natural name
                 options: FitOptions = FitOptions(), metric: bool = False) -> None:
        if kind not in ANCHORED:
            raise ValueError(f'alignment {kind!r} has no anchors; use one of {ANCHORED}')
        if kind == 'ground':
            _check_height(height_m)
        self.kind = kind
        self.slop_s = float(slop_s)
        self.ground = (float(height_m), float(pitch_rad), float(roll_rad))
        self.extrinsic = extrinsic
        self.metric = bool(metric)
        self.filter = filter if filter is not None else AlignmentFilter(scale_only=self.metric)
        if self.filter.scale_only != self.metric:
            raise ValueError('a metric model needs AlignmentFilter(scale_only=True), a relative '
                             'one scale_only=False')
        self.options = options
        self._anchors: StampMatcher[tuple[np.ndarray, np.ndarray | None]] = StampMatcher()
        self.last_fit: Fit | None = None
        self.last_reason = ''
        self.frames = 0
        self.aligned = 0
        self.unpaired = 0
        self.applied = False   # whether the last frame got the alignment

    def add_depth(self, stamp_ns: int, depth_m: np.ndarray, k: np.ndarray | None) -> None:
        """Store an anchor depth image (metres, NaN/0 = none) with its intrinsics.

        ``k`` None: the image is registered to the camera (same view, e.g. a driver's
        aligned depth); the camera's intrinsics are rescaled to its size.
        """
        self._anchors.add(stamp_ns, (np.asarray(depth_m, np.float32), k))

    def add_points(self, stamp_ns: int, points: np.ndarray,
                   extrinsic: np.ndarray | None = None) -> None:
        """Store anchor points (N, 3); ``extrinsic`` (4, 4) maps them into the optical frame."""
        t = extrinsic if extrinsic is not None else self.extrinsic
        self._anchors.add(stamp_ns, (np.asarray(points, np.float64).reshape(-1, 3), t))

    def anchor(self, stamp_ns: int) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Return the anchor stamped within ``slop_s`` of ``stamp_ns``, or None.

        ``(depth image, its K or None)`` (sparse) or ``(points (N, 3), extrinsic or None)``
        (lidar): what a prompted network takes as its prompt (core/prompt.py).
        """
        if self.kind == 'ground':
            return None
        item, kind = self._anchors.match(stamp_ns, self.slop_s)
        return item if item is not None and kind in ('exact', 'nearest') else None

    def fit(self, prediction: np.ndarray, k: np.ndarray, stamp_ns: int) -> Fit:
        """Return this frame's fit (refused when no anchor is paired).

        ``prediction``: the relative model's disparity, or the metric model's depth (metres).
        """
        if self.kind == 'ground':
            if self.metric:
                with np.errstate(divide='ignore'):
                    inverse = 1.0 / prediction
                return fit_ground(inverse, k, *self.ground, scale_only=True,
                                  options=self.options)
            return fit_ground(prediction, k, *self.ground, options=self.options)
        item, kind = self._anchors.match(stamp_ns, self.slop_s)
        if item is None or kind not in ('exact', 'nearest'):
            self.unpaired += 1
            return Fit.refused(f'no anchor stamped within {self.slop_s:g} s of the frame')
        data, extra = item
        if self.kind == 'lidar':
            pixels, depths = project_points(data, k, prediction.shape, extra)
            fit_points = fit_scale_points if self.metric else fit_inverse_depth_points
            return fit_points(prediction, pixels, depths, options=self.options)
        h, w = data.shape
        if extra is None and (h, w) == prediction.shape:
            anchor = data   # registered at the prediction's own grid: resampling is the identity
        else:
            k_anchor = extra if extra is not None else _rescaled_k(k, prediction.shape, (h, w))
            anchor = resample_depth(data, k_anchor, k, prediction.shape)
        fit_image = fit_scale if self.metric else fit_inverse_depth
        return fit_image(prediction, anchor, options=self.options)

    def align(self, prediction: np.ndarray, k: np.ndarray | None,
              stamp_ns: int) -> ScaleShift | None:
        """Fit and filter one frame; return ``(scale, shift)`` or None (no alignment).

        ``prediction`` as :meth:`fit`. None: a relative model publishes no metres for the
        frame, a metric model its own uncorrected metres.
        """
        self.frames += 1
        if k is None:
            fit = Fit.refused('no camera intrinsics (camera_info) for the frame')
        else:
            fit = self.fit(prediction, np.asarray(k, np.float64), stamp_ns)
        self.last_fit = fit
        if not fit.ok:
            self.last_reason = fit.reason
        estimate = self.filter.update(fit, stamp_ns * 1e-9)
        self.applied = estimate.valid
        if not estimate.valid:
            return None
        self.aligned += 1
        return estimate

    def status(self) -> dict[str, str]:
        """Return key/values for /diagnostics."""
        fit = self.last_fit
        est = self.filter.value()
        age = self.filter.age_s
        return {
            'alignment': self.kind, 'alignment_state': self.filter.state,
            'alignment_applied': _applied(self.applied, self.metric),
            'alignment_scale': f'{est.scale:.6g}', 'alignment_shift': f'{est.shift:.6g}',
            'alignment_inliers': str(fit.inliers if fit else 0),
            'alignment_residual': '' if fit is None or not fit.ok else f'{fit.residual:.4f}',
            'alignment_age_s': '' if math.isinf(age) else f'{age:.2f}',
            'alignment_frames_aligned': str(self.aligned),
            'alignment_frames': str(self.frames),
            'alignment_unpaired': str(self.unpaired),
            'alignment_restarts': str(self.filter.restarts),
            'alignment_last_refusal': self.last_reason,
        }


def _applied(applied: bool, metric: bool) -> str:
    """Diagnostics text: whether the last frame was aligned, and what was published instead."""
    if applied:
        return 'yes: metric depth corrected by the anchors' if metric else \
            'yes: metric depth from the anchors'
    return ("no: the model's own metres, uncorrected" if metric else
            'no: disparity only (no metric depth)')


def _rescaled_k(k: np.ndarray, shape: tuple[int, int], to: tuple[int, int]) -> np.ndarray:
    """Return ``k`` of an ``shape`` (H, W) image for the same view at ``to`` (H, W) pixels."""
    k = np.asarray(k, np.float64)
    intr = Intrinsics(k[0, 0], k[1, 1], k[0, 2], k[1, 2], shape[1], shape[0])
    return scale_intrinsics(intr, to[1], to[0]).k_matrix()
