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

"""Depth that does not flicker: ego-motion-compensated fusion over frames (no rclpy).

:class:`TemporalFusion` keeps the previous fused depth, warps it into each new frame with the
camera's motion (a pose per frame from TF or odometry, and the intrinsics) and fuses it per
pixel with the new prediction: a Kalman filter on the log inverse depth of every pixel,
weighted by the prediction's confidence, that keeps history only where it agrees with the new
prediction. See docs/temporal.md for the rules and why.

* :func:`warp_inverse_depth`: an *inverse* warp (each target pixel looks up its source), with a
  fixed-point iteration on the target depth and a consistency test; exact on planes.
* :func:`relative_transform`, :func:`pose_problem`, :func:`pose_matrix`: poses as 4x4
  transforms from the camera optical frame into a fixed frame (``odom``).
* :class:`FusionOptions`, :class:`TemporalFusion`, :class:`Fused`: the per-pixel filter, its
  resets (pose gap, stamp backwards, calibration change, scale jump; :func:`stream_break`) and
  the static-camera fallback without a pose.
* :class:`PoseBuffer`: transforms over time looked up by tf2's rule without ROS (process-bag
  replays a bag's /tf with it; the node asks TF).
* :class:`CameraTemporal`: one camera's temporal state, held by ``camera_stage.CameraStage``
  (``temporal`` fuse: the fusion and the camera's poses; vda: a stateful model's stream).

Conventions as in :mod:`.geometry`: optical frame (x right, y down, z forward), depth = z in
metres, pixel centres at integers. Poses: ``pose`` maps points of the camera optical frame into
the fixed frame (``T_fixed_camera``), as a TF lookup of the camera frame in ``odom`` gives.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass
import math
import threading
from typing import Any, NamedTuple, Protocol

import cv2
import numpy as np

from depth_anything_ros.core import stats
from depth_anything_ros.core.geometry import Intrinsics, RayGrid

__all__ = ['FUSION_SPACES', 'CameraTemporal', 'Fused', 'FusionOptions', 'PoseBuffer',
           'PoseSource', 'PoseUnavailable', 'TemporalFusion', 'VDA_NEEDS_STATEFUL',
           'make_temporal', 'pose_matrix', 'pose_problem', 'project_depth',
           'quaternion_from_matrix', 'relative_confidence', 'relative_transform',
           'sample_depth', 'stream_break', 'warp_inverse_depth']

#: What :meth:`TemporalFusion.update` is given: metres, inverse metres (e.g. a relative model's
#: disparity aligned to ``1/depth``), or affine-invariant disparity with no metric scale
#: (static-camera fusion only: a translation cannot be applied without a scale).
FUSION_SPACES = ('depth', 'inverse_depth', 'disparity')

# A map coordinate that cv2.remap reads as outside every image (NaN coordinates are undefined).
_OUTSIDE = -1.0e6
# A rotation matrix is accepted when R^T R is within this of the identity.
_ROTATION_TOLERANCE = 1.0e-3


# ---------------------------------------------------------------------------------------------
# poses


def pose_matrix(translation: np.ndarray, quaternion_xyzw: np.ndarray) -> np.ndarray:
    """Return the 4x4 transform of a translation (metres) and a quaternion ``(x, y, z, w)``.

    The quaternion is normalised; a zero or non-finite one gives a matrix of NaN (which
    :func:`pose_problem` refuses), never an exception: TF data is input, not a programming error.
    """
    q = np.asarray(quaternion_xyzw, np.float64).reshape(4)
    n = float(np.sqrt(np.sum(q * q)))
    out = np.full((4, 4), np.nan)
    if not (math.isfinite(n) and n > 0):
        return out
    x, y, z, w = q / n
    out[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                   [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                   [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    out[:3, 3] = np.asarray(translation, np.float64).reshape(3)
    out[3] = (0.0, 0.0, 0.0, 1.0)
    return out


def quaternion_from_matrix(rotation: np.ndarray) -> np.ndarray:
    """Return the unit quaternion ``(x, y, z, w)``, ``w >= 0``, of a 3x3 rotation matrix."""
    m = np.asarray(rotation, np.float64)
    # Shepperd's method: start from the largest of w, x, y, z (no cancellation)
    trace = float(np.trace(m))
    candidates = (trace, m[0, 0], m[1, 1], m[2, 2])
    i = int(np.argmax(candidates))
    if i == 0:
        w = math.sqrt(max(1.0 + trace, 0.0)) / 2.0
        q = np.array([(m[2, 1] - m[1, 2]) / (4 * w), (m[0, 2] - m[2, 0]) / (4 * w),
                      (m[1, 0] - m[0, 1]) / (4 * w), w])
    else:
        a = i - 1
        b, c = (a + 1) % 3, (a + 2) % 3
        r = math.sqrt(max(1.0 + m[a, a] - m[b, b] - m[c, c], 0.0))
        q = np.zeros(4)
        q[a] = r / 2.0
        q[b] = (m[b, a] + m[a, b]) / (2 * r)
        q[c] = (m[c, a] + m[a, c]) / (2 * r)
        q[3] = (m[c, b] - m[b, c]) / (2 * r)
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


def pose_problem(pose: np.ndarray | None) -> str:
    """Return why ``pose`` cannot be used ('' when it can): missing, not finite, not rigid."""
    if pose is None:
        return 'no pose'
    p = np.asarray(pose, np.float64)
    if p.shape != (4, 4):
        return f'pose is {p.shape}, not a 4x4 transform'
    if not np.isfinite(p).all():
        return 'pose is not finite'
    r = p[:3, :3]
    if np.abs(r.T @ r - np.eye(3)).max() > _ROTATION_TOLERANCE or np.linalg.det(r) < 0 \
            or np.abs(p[3] - (0.0, 0.0, 0.0, 1.0)).max() > 0:
        return 'pose is not a rigid transform'
    return ''


def relative_transform(pose_src: np.ndarray, pose_dst: np.ndarray) -> np.ndarray:
    """Return ``T_dst_src`` (4x4): maps points of the source camera frame into the destination's.

    ``pose_*`` map their camera's points into the same fixed frame (``T_fixed_camera``).
    """
    src, dst = np.asarray(pose_src, np.float64), np.asarray(pose_dst, np.float64)
    r, t = dst[:3, :3], dst[:3, 3]
    inv = np.eye(4)
    inv[:3, :3], inv[:3, 3] = r.T, -r.T @ t
    return inv @ src


def _motion(transform: np.ndarray) -> tuple[float, float]:
    """Return the translation (metres) and rotation angle (radians) of a 4x4 transform."""
    cos = (float(np.trace(transform[:3, :3])) - 1.0) / 2.0
    return float(np.linalg.norm(transform[:3, 3])), math.acos(max(-1.0, min(1.0, cos)))


# ---------------------------------------------------------------------------------------------
# the warp


def project_depth(depth: np.ndarray, intr_src: Intrinsics, transform: np.ndarray,
                  intr_dst: Intrinsics, rays: RayGrid | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Carry every pixel of a source depth map (metres, (h, w)) into another camera.

    ``transform`` is ``T_dst_src``. Returns ``(u, v, z)`` float32 (h, w): the sub-pixel
    position of each source pixel's point in the destination image and its depth there (NaN
    where the source depth is invalid; ``z <= 0`` behind the destination camera).
    """
    grid = rays or RayGrid()
    rs = grid.get(intr_src)
    t = np.asarray(transform, np.float64)
    d = np.where(np.asarray(depth, np.float32) > 0, depth, np.nan).astype(np.float32)
    x, y = rs.x * d, rs.y * d
    p = [np.float32(t[i, 0]) * x + np.float32(t[i, 1]) * y + np.float32(t[i, 2]) * d
         + np.float32(t[i, 3]) for i in range(3)]
    with np.errstate(divide='ignore', invalid='ignore'):
        u = np.float32(intr_dst.fx) * p[0] / p[2] + np.float32(intr_dst.cx)
        v = np.float32(intr_dst.fy) * p[1] / p[2] + np.float32(intr_dst.cy)
    return u, v, p[2]


def _bilinear(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` (h, w) float32 at ``(u, v)``; NaN outside the image.

    Exact in float32 arithmetic, unlike cv2.remap's bilinear mode, which rounds positions to
    1/32 pixel (an error of 1e-3 on a floor seen at a grazing angle). The four neighbours are
    gathered by one nearest-neighbour remap at integer positions of a 4-channel image (the
    image and its copies shifted by a column, a row, both): 5x faster than numpy indexing.
    """
    h, w = image.shape
    with np.errstate(invalid='ignore'):
        inside = (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
    u0 = np.floor(np.where(inside, u, _OUTSIDE)).astype(np.float32)
    v0 = np.floor(np.where(inside, v, _OUTSIDE)).astype(np.float32)
    quad = np.full((h, w, 4), np.nan, np.float32)
    quad[..., 0] = image
    quad[:, :-1, 1] = image[:, 1:]
    quad[:-1, :, 2] = image[1:, :]
    quad[:-1, :-1, 3] = image[1:, 1:]
    # the last column / row: its right / lower neighbour is only ever weighted by 0
    quad[:, -1, 1] = image[:, -1]
    quad[-1, :, 2] = image[-1, :]
    quad[-1, :-1, 3] = image[-1, 1:]
    quad[:-1, -1, 3] = image[1:, -1]
    quad[-1, -1, 3] = image[-1, -1]
    n = cv2.remap(quad, u0, v0, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                  borderValue=(float('nan'),) * 4)
    fu, fv = u - u0, v - v0
    top = n[..., 0] + fu * (n[..., 1] - n[..., 0])
    bottom = n[..., 2] + fu * (n[..., 3] - n[..., 2])
    return (top + fv * (bottom - top)).astype(np.float32)


def sample_depth(depth: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sample a depth map (metres) at sub-pixel ``(u, v)``: bilinear in inverse depth.

    Exact on planes (their inverse depth is affine in the pixel coordinates); NaN outside the
    image and wherever one of the four neighbours is invalid.
    """
    d = np.asarray(depth, np.float32)
    with np.errstate(divide='ignore', invalid='ignore'):
        inv = np.where(d > 0, 1.0 / d, np.nan).astype(np.float32)
    s = _bilinear(inv, u, v)
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(s > 0, 1.0 / s, np.nan).astype(np.float32)


def warp_inverse_depth(inverse_src: np.ndarray, intr_src: Intrinsics, transform: np.ndarray,
                       intr_dst: Intrinsics, seed: np.ndarray, *, iterations: int = 2,
                       tolerance: float = 0.01, exact: bool = True,
                       rays: RayGrid | None = None) -> np.ndarray:
    """Warp a source inverse depth map (1/m, (h, w)) into the destination camera.

    ``transform`` is ``T_src_dst`` (destination points into the source frame; see
    :func:`relative_transform`); ``seed`` (H, W) is a first guess of the destination's inverse
    depth (the new prediction). Returns the destination's inverse depth (H, W) float32 as the
    source saw it, NaN where there is no consistent correspondence: out of the source's view,
    behind it, next to a NaN, occluded in the source or disoccluded in the destination.

    An inverse warp: each destination pixel ``p`` at inverse depth ``w`` is a 3-D point; it
    lands at a sub-pixel position of the source, where the source's inverse depth is sampled
    bilinearly (exact on planes: inverse depth is affine in the pixel coordinates of a plane)
    and the source point is carried back into the destination, which gives the next ``w``.
    After ``iterations`` steps from ``seed``, a pixel whose last step still moved ``w`` by
    more than ``tolerance`` (relative) has no fixed point: the source sees another surface
    there (occlusion, disocclusion, a depth edge) and the pixel is NaN.

    ``exact``: the last step samples with exact bilinear weights; otherwise every step uses
    cv2.remap, whose positions are rounded to 1/32 pixel: about 1e-3 relative error on a
    surface seen at a grazing angle, nothing next to a prediction's noise, and twice as fast.
    """
    return _warp(inverse_src, intr_src, transform, intr_dst, seed, iterations, tolerance,
                 exact, rays)[0]


def _warp(inverse_src: np.ndarray, intr_src: Intrinsics, transform: np.ndarray,
          intr_dst: Intrinsics, seed: np.ndarray, iterations: int, tolerance: float,
          exact: bool, rays: RayGrid | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`warp_inverse_depth`, also returning the last step's source coordinates (u, v)."""
    r = np.asarray(transform, np.float64)[:3, :3]
    t = np.asarray(transform, np.float64)[:3, 3]
    grid = rays or RayGrid()
    rd = grid.get(intr_dst)
    if seed.shape != rd.x.shape or inverse_src.shape != (intr_src.height, intr_src.width):
        raise ValueError(f'seed {seed.shape} and source {inverse_src.shape} must match their '
                         'intrinsics')
    f32 = np.float32
    # the destination ray rotated into the source frame: a = R (x, y, 1); the point at inverse
    # depth w is a / w + t in the source, i.e. a + t w homogeneously (no division by w)
    a = [f32(r[i, 0]) * rd.x + f32(r[i, 1]) * rd.y + f32(r[i, 2]) for i in range(3)]
    # carrying a source point back: its destination z is (R^T (q / s - t))_z with q the source
    # ray, so its inverse depth is s / (R^T q)_z - s (R^T t)_z); (R^T q)_z is affine in u, v
    rtz = r[:, 2]                                                # row 2 of R^T
    bx, by = rtz[0] / intr_src.fx, rtz[1] / intr_src.fy
    b0 = rtz[2] - bx * intr_src.cx - by * intr_src.cy
    c = f32(rtz @ t)
    src = np.ascontiguousarray(inverse_src, f32)
    w = np.asarray(seed, f32)
    prev = w
    steps = max(1, iterations)
    for k in range(steps):
        den = a[2] + f32(t[2]) * w                               # source z * w
        with np.errstate(divide='ignore', invalid='ignore'):
            inv_den = np.where(den > 0, 1.0 / den, np.nan).astype(f32)
            mu = f32(intr_src.fx) * (a[0] + f32(t[0]) * w) * inv_den + f32(intr_src.cx)
            mv = f32(intr_src.fy) * (a[1] + f32(t[1]) * w) * inv_den + f32(intr_src.cy)
        bad = ~(np.isfinite(mu) & np.isfinite(mv))
        mu[bad] = _OUTSIDE
        mv[bad] = _OUTSIDE
        if k < steps - 1 or not exact:   # positions rounded to 1/32 pixel: enough to converge
            s = cv2.remap(src, mu, mv, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=float('nan'))
        else:               # the last step exact
            s = _bilinear(src, mu, mv)
        qz = f32(bx) * mu + f32(by) * mv + f32(b0)
        with np.errstate(divide='ignore', invalid='ignore'):
            back = qz - s * c
            new = np.where((s > 0) & (back > 0), s / back, np.nan).astype(f32)
        prev, w = w, new
    with np.errstate(invalid='ignore'):
        moved = np.abs(w - prev) > f32(tolerance) * w
    w[moved] = np.nan
    return w, mu, mv


def stream_break(stamp_prev: float | None, stamp_s: float, max_gap_s: float,
                 calibration_prev: Hashable, calibration: Hashable, epoch_prev: Hashable,
                 epoch: Hashable) -> str:
    """Return why a frame cannot carry on from the previous one ('' when it can).

    The rules every temporal state of a camera resets on (the fusion's history, a stateful
    model's stream): the first frame, a stamp going backwards, the previous frame's stamp
    again (a frame re-sent: fusing it with itself would count one prediction twice), a gap
    over ``max_gap_s`` (seconds), a change of calibration (intrinsics, size, output space) or
    of the scale epoch.
    """
    if stamp_prev is None:
        return 'started'
    if not math.isfinite(stamp_s) or stamp_s < stamp_prev:
        return 'time went backwards'
    if stamp_s == stamp_prev:
        return 'stamp repeated'
    if stamp_s - stamp_prev > max_gap_s:
        return 'gap'
    if calibration_prev != calibration:
        return 'calibration changed'
    if epoch_prev != epoch:
        return 'scale jump'
    return ''


# ---------------------------------------------------------------------------------------------
# the per-pixel filter


@dataclass(frozen=True)
class FusionOptions:
    """How :class:`TemporalFusion` weighs, gates and resets (relative errors: 0.05 = 5 %).

    The filter runs on the log inverse depth, where a relative error is an additive one.
    """

    noise: float = 0.05            # relative std of one prediction per pixel (confidence 1)
    process_noise: float = 0.02    # relative std the warped history loses per frame
    max_frames: float = 8.0        # history never weighs more than this many predictions
    gate_sigmas: float = 3.0       # a prediction further than this from the history: restart
    iterations: int = 2            # fixed-point steps of the warp
    warp_tolerance: float = 0.01   # relative change of the last step: no correspondence
    max_gap_s: float = 0.5         # a longer gap between frames resets
    max_speed: float = 5.0         # m/s: a pose that moves faster is a jump (frame unfused)
    max_turn_rate: float = 6.0     # rad/s: a pose that turns faster is a jump
    scale_jump: float = 0.15       # a common change of the whole frame over this: a scale jump
    min_agreement: float = 0.5     # fewer pixels agreeing with the history: pose/scale wrong
    static_threshold: float = 2.0  # grey levels: the image "hardly changed" (no pose)
    static_scale: int = 8          # the image is compared at 1/static_scale of its size

    def __post_init__(self) -> None:
        positive = ('noise', 'max_frames', 'gate_sigmas', 'warp_tolerance', 'max_gap_s',
                    'max_speed', 'max_turn_rate', 'scale_jump', 'static_threshold')
        for name in positive:
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f'{name} must be a positive number, got {value}')
        if not (math.isfinite(self.process_noise) and self.process_noise >= 0):
            raise ValueError(f'process_noise must be >= 0, got {self.process_noise}')
        if not 0.0 <= self.min_agreement <= 1.0:
            raise ValueError(f'min_agreement must be in [0, 1], got {self.min_agreement}')
        if self.iterations < 1 or self.static_scale < 1 or self.max_frames < 1:
            raise ValueError('iterations, static_scale and max_frames must be >= 1')


class Fused(NamedTuple):
    """One frame's output: ``values`` (H, W) float32 in the input's space.

    ``fused`` false: ``values`` is the input unchanged and ``reason`` says why (the history was
    reset, or this frame's pose or image could not be trusted). ``history``: the share of the
    frame's valid pixels that took history into account (0 when not fused).
    """

    values: np.ndarray
    fused: bool
    reason: str
    history: float


@dataclass
class _State:
    log_inv: np.ndarray       # (H, W) float32 log inverse depth, NaN = nothing known
    var: np.ndarray           # (H, W) float32 variance of log_inv
    intr: Intrinsics
    pose: np.ndarray | None   # T_fixed_camera of the state's frame, None = unknown
    space: str
    epoch: Hashable


class TemporalFusion:
    """Per-pixel, ego-motion-compensated fusion of one camera's depth over frames.

    Per frame (:meth:`update`): the fused depth of the previous frame is warped into this one
    (:func:`warp_inverse_depth` with the relative pose; the identity when the camera is
    known to stand still), then every pixel runs a Kalman update on its log inverse depth:

    * the warped history's variance grows by ``process_noise**2`` (warp interpolation, the
      scene's own slow changes) and never falls below ``noise**2 / max_frames``;
    * the prediction's variance is ``noise**2 / confidence`` (confidence in (0, 1], default 1);
    * a prediction further than ``gate_sigmas`` standard deviations from the history restarts
      that pixel from the prediction alone: this is the occlusion and moving-object rule (a
      surface that was not there, or that moved, disagrees with the warped history); pixels
      without a consistent warp (disocclusion, out of view) start from the prediction too.

    The whole history is dropped, and the frame goes out unfused (``Fused.fused`` false, the
    input unchanged, the reason counted in :attr:`counts`), on: the first frame; a stamp going
    backwards; a gap over ``max_gap_s``; a change of intrinsics, size or space; a new
    ``scale_epoch`` (the alignment restarted); a pose that is not finite or not rigid, or that
    moves faster than ``max_speed`` / ``max_turn_rate`` (a jump); fewer than ``min_agreement``
    of the overlapping pixels agreeing with the history: a scale jump the caller did not
    signal when they agree once their common change (over ``scale_jump``) is removed, else a
    wrong pose ('poor agreement'); a missing pose after frames with poses (a TF gap). Without
    poses at all (or without a metric scale, space ``disparity``) the camera is assumed still
    only when the image hardly changed (mean absolute difference under ``static_threshold``
    grey levels at 1/``static_scale`` size); otherwise the frame goes out unfused.
    """

    def __init__(self, options: FusionOptions | None = None) -> None:
        self.options = options or FusionOptions()
        self.rays = RayGrid()
        self.counts: Counter[str] = Counter()   # unfused frames by reason
        self.frames = 0
        self.fused_frames = 0
        self._state: _State | None = None
        self._stamp: float | None = None
        self._gray: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the history (the next frame starts it again)."""
        self._state = None

    @property
    def resets(self) -> int:
        """Frames that went out unfused, all reasons together."""
        return sum(self.counts.values())

    def status(self) -> dict[str, object]:
        """Return counters for diagnostics: frames, fused frames, unfused frames by reason."""
        return {'frames': self.frames, 'fused_frames': self.fused_frames,
                'unfused': dict(self.counts)}

    # -- helpers ------------------------------------------------------------------------------

    def _small_gray(self, image: np.ndarray | None) -> np.ndarray | None:
        if image is None:
            return None
        img = np.asarray(image)
        if img.ndim == 3:
            img = cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2GRAY)
        k = self.options.static_scale
        size = (max(1, img.shape[1] // k), max(1, img.shape[0] // k))
        return cv2.resize(img.astype(np.float32), size, interpolation=cv2.INTER_AREA)

    def _still(self, gray: np.ndarray | None, previous: np.ndarray | None) -> bool:
        """Return whether the image hardly changed since the previous frame."""
        if gray is None or previous is None or gray.shape != previous.shape:
            return False
        return float(np.mean(np.abs(gray - previous))) < self.options.static_threshold

    def _restart(self, values: np.ndarray, log_inv: np.ndarray, r: np.ndarray | float,
                 intr: Intrinsics, pose: np.ndarray | None, space: str, epoch: Hashable,
                 reason: str) -> Fused:
        var = np.broadcast_to(np.float32(r), log_inv.shape).astype(np.float32)
        self._state = _State(log_inv, var, intr, pose, space, epoch)
        self.counts[reason] += 1
        return Fused(np.array(values, np.float32), False, reason, 0.0)

    # -- the update -----------------------------------------------------------------------------

    def update(self, stamp_s: float, values: np.ndarray, intr: Intrinsics,
               pose: np.ndarray | None = None, *, space: str = 'depth',
               confidence: np.ndarray | None = None, image: np.ndarray | None = None,
               scale_epoch: Hashable = None) -> Fused:
        """Fuse one frame; return its output (see :class:`Fused`).

        ``values`` (H, W): metres (``space='depth'``), inverse metres (``inverse_depth``: e.g.
        ``scale * disparity + shift`` from the alignment) or affine-invariant ``disparity``
        (no metric scale: static-camera fusion only); invalid pixels NaN or <= 0, which stay
        NaN in the output. ``intr``: the intrinsics of ``values``. ``pose``: the camera optical
        frame in a fixed frame at ``stamp_s`` (4x4), None when unknown. ``confidence`` (H, W)
        in (0, 1] weighs the prediction. ``image`` (H, W[, 3]) uint8: this frame's camera
        image, for the static-camera test when there is no pose. ``scale_epoch``: a number
        the caller changes when the depth's scale was reset (e.g. ``AlignmentFilter.restarts``).
        """
        if space not in FUSION_SPACES:
            raise ValueError(f'space must be one of {", ".join(FUSION_SPACES)}, got {space!r}')
        opt = self.options
        vals = np.asarray(values, np.float32)
        if vals.shape != (intr.height, intr.width):
            raise ValueError(f'values are {vals.shape[::-1]} (WxH) but the intrinsics are for '
                             f'{intr.width}x{intr.height}')
        self.frames += 1
        with np.errstate(divide='ignore', invalid='ignore'):
            inv = np.where(vals > 0, (1.0 / vals) if space == 'depth' else vals, np.nan)
            log_z = np.log(inv).astype(np.float32)               # NaN where invalid
            inv = inv.astype(np.float32)
        r: np.ndarray | float = opt.noise ** 2
        if confidence is not None:
            conf = np.clip(np.nan_to_num(np.asarray(confidence, np.float32), nan=0.0),
                           1e-3, 1.0)
            r = (np.float32(opt.noise ** 2) / conf).astype(np.float32)
        gray, previous_gray = self._small_gray(image), self._gray
        self._gray = gray
        stamp_prev, self._stamp = self._stamp, float(stamp_s)
        state = self._state
        problem = pose_problem(pose) if pose is not None else ''

        def restart(reason: str, keep_pose: bool = True) -> Fused:
            return self._restart(vals, log_z, r, intr, pose if keep_pose and not problem
                                 else None, space, scale_epoch, reason)

        broken = 'started' if state is None else stream_break(
            stamp_prev, stamp_s, opt.max_gap_s, (state.intr, state.space), (intr, space),
            state.epoch, scale_epoch)
        if broken:
            return restart(broken)
        dt = stamp_s - stamp_prev
        if problem:
            return restart(problem, keep_pose=False)
        if pose is None and state.pose is not None:
            # a stream with poses lost one (a TF gap): the motion since is unknown
            return restart('pose missing', keep_pose=False)
        transform = None
        if pose is not None and state.pose is not None and space != 'disparity':
            transform = relative_transform(pose, state.pose)      # T_prev_cur
            moved, turned = _motion(transform)
            step = max(dt, 1e-3)
            if moved > opt.max_speed * step or turned > opt.max_turn_rate * step:
                return restart('pose jump')
        elif not self._still(gray, previous_gray):
            return restart('no pose' if gray is None else 'no pose and the image moved',
                           keep_pose=False)
        # the history, in this frame
        if transform is None:
            log_w = state.log_inv
            var_w = state.var
            pose = state.pose if pose is None else pose           # the camera stood still
        else:
            history = np.exp(state.log_inv)
            # seed: the prediction; where it has none, the history at the same pixel
            seed = np.where(np.isfinite(inv), inv, history).astype(np.float32)
            # positions to 1/32 pixel (exact=False): 1e-3 at most, far below the prediction's
            # noise, and the update costs half as much
            warped, mu, mv = _warp(history, state.intr, transform, intr, seed,
                                   opt.iterations, opt.warp_tolerance, False, self.rays)
            with np.errstate(divide='ignore', invalid='ignore'):
                log_w = np.log(warped).astype(np.float32)
            # the variance travels with the depth; the nearest source pixel's is enough
            var_w = cv2.remap(state.var, mu, mv, cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=float('nan'))
        floor = np.float32(opt.noise ** 2 / opt.max_frames)
        var_p = np.maximum(var_w + np.float32(opt.process_noise ** 2), floor)
        innovation = log_z - log_w
        both = np.isfinite(innovation)
        n_both = int(np.count_nonzero(both))
        s = var_p + r
        with np.errstate(invalid='ignore'):
            agree = both & (innovation * innovation <= np.float32(opt.gate_sigmas ** 2) * s)
        if n_both >= 64 and np.count_nonzero(agree) < opt.min_agreement * n_both:
            # most of the frame disagrees with the history: a change of scale moves every
            # pixel alike (the innovations agree once their median is removed); anything else
            # is a wrong pose (or a scene that changed as a whole)
            step = max(1, n_both // 4096)
            e, v = innovation[both][::step], s[both][::step]
            median = float(np.median(e))
            alike = np.count_nonzero((e - median) ** 2 <= np.float32(opt.gate_sigmas ** 2) * v)
            if abs(median) > math.log1p(opt.scale_jump) and alike >= opt.min_agreement * len(e):
                return restart('scale jump')
            return restart('poor agreement')
        gain = np.where(agree, var_p / s, 0.0).astype(np.float32)
        fused_log = np.where(agree, log_w + gain * np.nan_to_num(innovation), log_z)
        fused_var = np.where(agree, (1.0 - gain) * var_p, r)
        fused_var = np.maximum(fused_var, floor).astype(np.float32)
        # where the prediction is invalid, the history carries on (but is not output)
        keep = ~np.isfinite(log_z) & np.isfinite(log_w)
        state_log = np.where(keep, log_w, fused_log).astype(np.float32)
        state_var = np.where(keep, var_p, fused_var).astype(np.float32)
        self._state = _State(state_log, state_var, intr, pose, space, scale_epoch)
        out = np.exp(fused_log)
        if space == 'depth':
            with np.errstate(divide='ignore'):
                out = 1.0 / out
        self.fused_frames += 1
        n_valid = int(np.count_nonzero(np.isfinite(log_z)))
        return Fused(out.astype(np.float32), True, '',
                     float(np.count_nonzero(agree)) / max(n_valid, 1))


# ---------------------------------------------------------------------------------------------
# poses over time (TF without ROS)


class PoseUnavailable(ValueError):
    """The camera's pose at a stamp cannot be had (no such transform, or not at that time)."""


def _slerp(q0: np.ndarray, q1: np.ndarray, t: float) -> np.ndarray:
    """Return the spherical interpolation of unit quaternions ``(x, y, z, w)`` at ``t``."""
    dot = float(np.dot(q0, q1))
    if dot < 0.0:            # the shorter way round
        q1, dot = -q1, -dot
    if dot > 0.9995:         # nearly equal: linear, then normalised
        q = q0 + t * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = math.acos(min(dot, 1.0))
    return (math.sin((1 - t) * theta) * q0 + math.sin(t * theta) * q1) / math.sin(theta)


class PoseBuffer:
    """Transforms over time, looked up by tf2's rule, without ROS (process-bag replays /tf).

    Each child frame has one parent. :meth:`pose` chains the transforms between two frames
    through their common ancestor; each is taken at the stamp: a sample stamped exactly then,
    else interpolated between the samples around it (translation linearly, rotation by slerp),
    never extrapolated beyond the first or last sample; static transforms hold at every time.
    A transform that is not finite (or a zero quaternion) is refused on arrival, as tf2 does
    (:attr:`refused` counts them), so a lookup at its stamp interpolates its neighbours.
    """

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}
        self._samples: dict[str, tuple[list[int], list[tuple[np.ndarray, np.ndarray]]]] = {}
        self._static: dict[str, np.ndarray] = {}
        self.refused: Counter[str] = Counter()

    def add(self, parent: str, child: str, stamp_ns: int, translation: np.ndarray,
            quaternion_xyzw: np.ndarray, *, static: bool = False) -> bool:
        """Take ``T_parent_child`` at ``stamp_ns``; return False when it is refused (counted)."""
        t = np.asarray(translation, np.float64).reshape(3)
        q = np.asarray(quaternion_xyzw, np.float64).reshape(4)
        n = float(np.linalg.norm(q))
        if not (np.isfinite(t).all() and math.isfinite(n) and n > 0):
            self.refused[f'{parent} -> {child}: not finite'] += 1
            return False
        self._parent[child] = parent
        if static:
            self._static[child] = pose_matrix(t, q)
            return True
        stamps, values = self._samples.setdefault(child, ([], []))
        stamp_ns = int(stamp_ns)
        # a bag's /tf comes in order: appending is O(1) (a search of the list is O(log n);
        # np.searchsorted would copy the whole list on every call, quadratic over a bag)
        i = len(stamps) if not stamps or stamp_ns > stamps[-1] else \
            bisect.bisect_left(stamps, stamp_ns)
        if i < len(stamps) and stamps[i] == stamp_ns:
            values[i] = (t, q / n)
        else:
            stamps.insert(i, stamp_ns)
            values.insert(i, (t, q / n))
        return True

    def _edge(self, child: str, stamp_ns: int) -> np.ndarray:
        """Return ``T_parent_child`` at ``stamp_ns``."""
        if child in self._static:
            return self._static[child]
        stamps, values = self._samples[child]
        i = bisect.bisect_left(stamps, stamp_ns)
        if i < len(stamps) and stamps[i] == stamp_ns:
            return pose_matrix(*values[i])
        if i == 0 or i == len(stamps):
            side = 'before the first' if i == 0 else 'after the last'
            raise PoseUnavailable(
                f'{self._parent[child]} -> {child} at {stamp_ns * 1e-9:.3f} s is {side} '
                f'transform ({stamps[0 if i == 0 else -1] * 1e-9:.3f} s): no extrapolation')
        (t0, q0), (t1, q1) = values[i - 1], values[i]
        ratio = (stamp_ns - stamps[i - 1]) / (stamps[i] - stamps[i - 1])
        return pose_matrix(t0 + ratio * (t1 - t0), _slerp(q0, q1, ratio))

    def _chain(self, frame: str) -> list[str]:
        chain = [frame]
        while chain[-1] in self._parent and len(chain) <= len(self._parent):
            chain.append(self._parent[chain[-1]])
        return chain

    def pose(self, fixed: str, frame: str, stamp_ns: int) -> np.ndarray:
        """Return ``T_fixed_frame`` (4x4) at ``stamp_ns``.

        Raises:
            PoseUnavailable: the frames are not connected, or not at that time.

        """
        up, down = self._chain(frame), self._chain(fixed)
        common = next((f for f in up if f in down), None)
        if common is None:
            raise PoseUnavailable(f'no transform {fixed} <- {frame} (TF connects neither to '
                                  'the other)')
        out = np.eye(4)
        for child in up[:up.index(common)]:                 # frame -> common
            out = self._edge(child, stamp_ns) @ out
        back = np.eye(4)
        for child in down[:down.index(common)]:             # fixed -> common
            back = self._edge(child, stamp_ns) @ back
        return np.linalg.inv(back) @ out


# ---------------------------------------------------------------------------------------------
# one camera's temporal state (the camera stage holds one)


class PoseSource(Protocol):
    """Where a camera's poses come from: TF live (ros.tf), the bag's /tf offline (PoseBuffer)."""

    def pose(self, fixed: str, frame: str, stamp_ns: int) -> np.ndarray:
        """Return ``T_fixed_frame`` at ``stamp_ns``; raise :class:`PoseUnavailable`."""


#: Why ``temporal: vda`` is refused with a model that keeps no state between frames.
VDA_NEEDS_STATEFUL = ('temporal: vda needs a Video Depth Anything checkpoint '
                      '(checkpoint:=vda-small); this model keeps no state between frames: '
                      'use temporal:=fuse with it')


def relative_confidence(confidence: np.ndarray | None) -> np.ndarray | None:
    """Return a model's confidence as weights in (0, 1]: divided by the frame's median.

    Models give confidence on scales of their own (DA3: 1 + exp, >= 1); the filter needs the
    share of a typical prediction's weight: a pixel at the median counts as one prediction,
    less confident ones less, more confident ones no more.
    """
    if confidence is None:
        return None
    c = np.asarray(confidence, np.float32)
    # the median of a 1/16 sample is as good and costs 1/16 (a 640x480 frame: 0.2 ms, not 4)
    sample = c[::4, ::4] if c.ndim == 2 and c.size >= 4096 else c
    finite = sample[np.isfinite(sample) & (sample > 0)]
    if finite.size == 0:
        return None
    return np.clip(c / np.float32(np.median(finite)), 0.0, 1.0).astype(np.float32)


class CameraTemporal:
    """One camera's temporal state: ``temporal`` fuse (the fusion) or vda (a model's stream).

    ``fuse``: :meth:`fuse` runs :class:`TemporalFusion` on each frame's output, with the
    camera's pose in ``fixed_frame`` at the frame's stamp from :attr:`poses` (TF live, the
    bag's /tf offline; None: no poses, static-camera fusion only). A pose that cannot be had
    is no pose (the reason is kept in :attr:`pose_problem`): the fusion resets on it after
    frames with poses, and never warps without one.

    ``vda``: the model keeps its own state per camera: :meth:`stream` returns this camera's
    stream, made once by ``estimator.new_stream()`` and ``reset()`` on the rules of
    :func:`stream_break` (first frame, stamp backwards, gap, calibration change); the
    estimator receives it with each frame (``estimate_batch(..., streams=...)``). An alignment
    restart does not reset it: the model's state holds its own features of earlier frames,
    which come before any alignment.

    Raises:
        ValueError: ``vda`` with an estimator whose family keeps no state (``stateful``).

    """

    def __init__(self, mode: str, fixed_frame: str = 'odom', estimator: Any = None,
                 options: FusionOptions | None = None) -> None:
        if mode not in ('fuse', 'vda'):
            raise ValueError(f"temporal must be 'fuse' or 'vda' here, got {mode!r}")
        if mode == 'vda' and not getattr(estimator, 'stateful', False):
            raise ValueError(VDA_NEEDS_STATEFUL)
        self.mode = mode
        self.fixed_frame = fixed_frame
        self.fusion = TemporalFusion(options) if mode == 'fuse' else None
        self.options = self.fusion.options if self.fusion is not None else \
            (options or FusionOptions())
        self.poses: PoseSource | None = None
        self.pose_problem = ''
        self.last_reason = ''
        self._estimator = estimator
        self._stream: Any = None
        self._previous: tuple[float, Hashable] | None = None
        # counters as of the last frame: the worker updates, the diagnostics timer reads
        self._lock = threading.Lock()
        self._frames = self._continued = 0
        self._counts: dict[str, int] = {}

    # -- fuse -----------------------------------------------------------------------------
    def fuse(self, stamp_ns: int, frame_id: str, values: np.ndarray, space: str,
             intr: Intrinsics | None, confidence: np.ndarray | None = None,
             image: np.ndarray | None = None, scale_epoch: Hashable = None
             ) -> np.ndarray | None:
        """Fuse one frame's output; return the fused values, or None where it goes out unfused.

        ``values`` (H, W) in ``space`` (see :meth:`TemporalFusion.update`); ``intr`` its
        intrinsics (None: no camera model, then no pose is used); ``frame_id`` the image's
        optical frame; ``confidence`` the model's own (see :func:`relative_confidence`).
        """
        assert self.fusion is not None, 'fuse is for temporal fuse'
        pose = None
        if intr is None:   # no camera model: nothing to warp with, the camera must stand still
            h, w = values.shape
            intr = Intrinsics(1.0, 1.0, 0.0, 0.0, w, h)
        elif space != 'disparity':
            problem = 'no pose source (no TF)' if self.poses is None else \
                'the image has no frame_id' if not frame_id else ''
            if not problem:
                try:
                    pose = self.poses.pose(self.fixed_frame, frame_id, stamp_ns)
                except PoseUnavailable as exc:
                    problem = str(exc)
            self.pose_problem = problem
        fusion = self.fusion
        out = fusion.update(stamp_ns * 1e-9, values, intr, pose, space=space,
                            confidence=relative_confidence(confidence), image=image,
                            scale_epoch=scale_epoch)
        with self._lock:
            self._frames, self._continued = fusion.frames, fusion.fused_frames
            self._counts = dict(fusion.counts)
            self.last_reason = out.reason or self.last_reason
        return out.values if out.fused else None

    # -- vda ------------------------------------------------------------------------------
    def stream(self, stamp_ns: int, calibration: Hashable) -> Any:
        """Return this camera's model stream for the frame at ``stamp_ns``, reset if it must be.

        ``calibration``: what the frame's intrinsics and size are (any comparable value).
        """
        if self._stream is None:
            self._stream = self._estimator.new_stream()
        stamp = stamp_ns * 1e-9
        prev_stamp, prev_cal = self._previous if self._previous is not None else (None, None)
        reason = stream_break(prev_stamp, stamp, self.options.max_gap_s, prev_cal, calibration,
                              None, None)
        self._previous = (stamp, calibration)
        with self._lock:
            self._frames += 1
            if reason:
                self._counts[reason] = self._counts.get(reason, 0) + 1
                self.last_reason = reason
            else:
                self._continued += 1
        if reason and reason != 'started':
            self._stream.reset()
        return self._stream

    # -- diagnostics ----------------------------------------------------------------------
    def status(self) -> dict[str, str]:
        """Return key/values for /diagnostics (keys from core.stats)."""
        with self._lock:
            frames, fused, counts = self._frames, self._continued, dict(self._counts)
            last = self.last_reason
        return {
            stats.TEMPORAL: self.mode, stats.TEMPORAL_FRAMES: str(frames),
            stats.TEMPORAL_FRAMES_FUSED: str(fused),
            stats.TEMPORAL_RESETS: str(sum(counts.values())),
            stats.TEMPORAL_RESET_REASONS: ', '.join(
                f'{reason}: {n}' for reason, n in sorted(counts.items())),
            stats.TEMPORAL_LAST_REASON: last,
            stats.TEMPORAL_POSE_PROBLEM: self.pose_problem,
        }


def make_temporal(mode: str, fixed_frame: str, estimator: Any) -> CameraTemporal | None:
    """Return a camera's temporal state for the ``temporal`` parameter (None: ``none``).

    Raises:
        ValueError: ``vda`` with a model that keeps no state (:data:`VDA_NEEDS_STATEFUL`).

    """
    return None if mode == 'none' else CameraTemporal(mode, fixed_frame, estimator)
