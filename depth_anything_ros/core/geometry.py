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

"""Camera geometry: intrinsics, their rescaling, the cached ray grid and point-cloud packing.

Pure numpy, no ROS. Conventions (REP 103/118): optical frame, x right, y down, z forward;
depth is the z coordinate in metres, NaN where invalid. Pixel ``(u, v)`` is the centre of column
``u`` and row ``v``; back-projection is ``(X, Y, Z) = Z K^-1 (u, v, 1)`` (:func:`unproject`:
``X = (u - cx - s Y/Z) / fx * Z``, ``Y = (v - cy) / fy * Z`` with the skew ``s = K[0, 1]``,
zero for ROS cameras).
Lens distortion: the intrinsics describe a rectified image (``image_rect``, or a raw image
rectified with :class:`Rectifier`, as image_proc does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import math
import sys
from typing import NamedTuple

import cv2
import numpy as np

__all__ = [
    'CLOUD_FIELDS_XYZ', 'CLOUD_FIELDS_XYZRGB', 'DISTORTION_MODELS', 'CameraInfoError',
    'CameraModel', 'Intrinsics', 'PixelMap', 'RayGrid', 'Rays', 'Rectifier', 'adapt_intrinsics',
    'backproject', 'check_calibration', 'cloud_dtype', 'is_rescaling', 'pack_cloud', 'pack_rgb',
    'rectify_maps', 'scale_intrinsics', 'strided_size', 'subsample_intrinsics', 'unproject',
]

# (name, byte offset) of each float32 field of the packed clouds; point_step = 4 * len(fields).
CLOUD_FIELDS_XYZ: tuple[tuple[str, int], ...] = (('x', 0), ('y', 4), ('z', 8))
CLOUD_FIELDS_XYZRGB: tuple[tuple[str, int], ...] = CLOUD_FIELDS_XYZ + (('rgb', 12),)


def cloud_dtype(rgb: bool) -> np.dtype:
    """Return the structured dtype of one cloud point: native float32 x, y, z [, rgb].

    Offsets 0, 4, 8 [, 12], no padding: point_step 12 (XYZ) or 16 (XYZRGB).
    """
    layout = CLOUD_FIELDS_XYZRGB if rgb else CLOUD_FIELDS_XYZ
    return np.dtype({'names': [n for n, _ in layout], 'formats': ['=f4'] * len(layout),
                     'offsets': [o for _, o in layout], 'itemsize': 4 * len(layout)})


# Relative tolerance on the aspect ratio when deciding whether a calibration of another size
# is a plain rescaling of the image (drivers round odd sizes, e.g. 1280x720 -> 427x240).
_ASPECT_TOLERANCE = 0.01
# A principal point farther than this many image sizes from the image is no calibration.
_PRINCIPAL_POINT_SPAN = 10.0
# Rays steeper than this (|x/z| or |y/z|) are NaN: no pinhole lens sees them, and bounding
# them keeps ray * depth finite in float32 whatever the calibration.
_MAX_RAY_SLOPE = 1.0e6
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class CameraInfoError(ValueError):
    """A calibration (CameraInfo) that cannot describe its image; the text names the field."""


def is_rescaling(src_w: int, src_h: int, dst_w: int, dst_h: int) -> bool:
    """Return True when ``dst`` is ``src`` resampled with one scale for both axes.

    Drivers round odd sizes (1280x720 -> 427x240), so the scales may differ by 1 %.
    """
    sx, sy = dst_w / src_w, dst_h / src_h
    return abs(sx - sy) <= _ASPECT_TOLERANCE * max(sx, sy)


def strided_size(size: int, stride: int) -> int:
    """Return the length of ``range(0, size, stride)``: pixels kept by ``image[::stride]``."""
    return -(-int(size) // int(stride))


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels for an image of ``width`` x ``height`` pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f'intrinsics must be finite, got fx, fy, cx, cy = {values}')
        if self.fx <= 0.0 or self.fy <= 0.0:
            raise ValueError(
                f'focal lengths must be positive, got fx={self.fx}, fy={self.fy}: the camera '
                'is not calibrated (CameraInfo K is zero); calibrate it or set the fx, fy, cx, cy '
                'parameters')
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f'image size must be positive, got {self.width}x{self.height}')

    @property
    def size(self) -> tuple[int, int]:
        """Return ``(width, height)`` in pixels."""
        return self.width, self.height

    def k_matrix(self) -> np.ndarray:
        """Return the 3x3 camera matrix K (float64)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


def unproject(k: np.ndarray, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(x, y)``, the ray through pixel ``(u, v)`` at unit depth: ``K^-1 (u, v, 1)``.

    ``k`` is a 3x3 camera matrix (its skew ``K[0, 1]`` honoured); ``u`` (column) and ``v``
    (row) broadcast against each other; float64 results of their broadcast shape. The one
    back-projection of the package: the ray grid, anchor resampling and the floor use it.
    """
    k = np.asarray(k, np.float64)
    y = (np.asarray(v, np.float64) - k[1, 2]) / k[1, 1]
    x = (np.asarray(u, np.float64) - k[0, 2] - k[0, 1] * y) / k[0, 0]
    x, y = np.broadcast_arrays(x, y)      # y of a row vector v stays a column without skew
    return x, y


def scale_intrinsics(intr: Intrinsics, width: int, height: int) -> Intrinsics:
    """Return intrinsics for the same camera resampled to ``width`` x ``height`` pixels.

    Resampling (a driver's resize, ``cv2.resize``) maps pixel centres, so
    ``cx' = (cx + 0.5) * sx - 0.5`` with ``sx = width / intr.width`` (likewise y).
    """
    return PixelMap.resample(intr.width, intr.height, width, height).map_intrinsics(
        intr, width, height)


def subsample_intrinsics(intr: Intrinsics, stride: int) -> Intrinsics:
    """Return intrinsics of ``image[::stride, ::stride]``: pixel ``u'`` is pixel ``stride*u'``."""
    if stride < 1:
        raise ValueError(f'stride must be >= 1, got {stride}')
    if stride == 1:
        return intr
    return PixelMap.stride(stride).map_intrinsics(
        intr, strided_size(intr.width, stride), strided_size(intr.height, stride))


def adapt_intrinsics(intr: Intrinsics, width: int, height: int) -> Intrinsics:
    """Return ``intr`` for a ``width`` x ``height`` image, rescaling a calibration of another size.

    Raises:
        ValueError: the sizes differ in aspect ratio, so the calibration is for another camera
            mode (crop or different sensor window) and cannot be used safely.

    """
    if (width, height) == intr.size:
        return intr
    if not is_rescaling(intr.width, intr.height, width, height):
        raise ValueError(
            f'camera_info is for {intr.width}x{intr.height} but the image is {width}x{height}: '
            'not a rescaling (aspect ratios differ); publish camera_info that matches the image '
            'or set the calibration size parameters (calib_width, calib_height)')
    return scale_intrinsics(intr, width, height)


@dataclass(frozen=True)
class PixelMap:
    """An axis-aligned pixel-coordinate map ``u' = su * u + ou``, ``v' = sv * v + ov``.

    Every image operation the node applies between a calibration and its output (ROI crop,
    binning, resampling, striding) is such a map; composing them and applying the result to K
    and P keeps camera_info exact for the image it is published with.
    """

    su: float = 1.0
    ou: float = 0.0
    sv: float = 1.0
    ov: float = 0.0

    @staticmethod
    def crop(x_offset: float, y_offset: float) -> PixelMap:
        """Return the map of a crop whose top-left pixel is ``(x_offset, y_offset)``."""
        return PixelMap(1.0, -float(x_offset), 1.0, -float(y_offset))

    @staticmethod
    def resample(src_w: int, src_h: int, dst_w: int, dst_h: int) -> PixelMap:
        """Return the map of an area/bilinear resample (pixel centres map to pixel centres)."""
        su, sv = dst_w / src_w, dst_h / src_h
        return PixelMap(su, 0.5 * su - 0.5, sv, 0.5 * sv - 0.5)

    @staticmethod
    def binning(bx: int, by: int) -> PixelMap:
        """Return the map of ``bx`` x ``by`` binning (a binned pixel averages a bx*by block)."""
        return PixelMap(1.0 / bx, 0.5 / bx - 0.5, 1.0 / by, 0.5 / by - 0.5)

    @staticmethod
    def stride(step: int) -> PixelMap:
        """Return the map of ``image[::step, ::step]``."""
        return PixelMap(1.0 / step, 0.0, 1.0 / step, 0.0)

    def then(self, other: PixelMap) -> PixelMap:
        """Return the map that applies ``self`` first, then ``other``."""
        return PixelMap(other.su * self.su, other.su * self.ou + other.ou,
                        other.sv * self.sv, other.sv * self.ov + other.ov)

    def apply(self, matrix: np.ndarray) -> np.ndarray:
        """Return K (3x3) or P (3x4) for the mapped image: rows 0/1 += offset * row 2."""
        m = np.array(matrix, dtype=np.float64)
        out = m.copy()
        out[0] = self.su * m[0] + self.ou * m[2]
        out[1] = self.sv * m[1] + self.ov * m[2]
        return out

    def map_intrinsics(self, intr: Intrinsics, width: int, height: int) -> Intrinsics:
        """Return ``intr`` for the mapped image of ``width`` x ``height`` pixels."""
        return Intrinsics(self.su * intr.fx, self.sv * intr.fy, self.su * intr.cx + self.ou,
                          self.sv * intr.cy + self.ov, int(width), int(height))


def _calibration_error(field: str, problem: str, fix: str) -> CameraInfoError:
    return CameraInfoError(f'camera_info {field} {problem}; {fix}')


def check_calibration(k: np.ndarray, p: np.ndarray, d: Sequence[float], r: np.ndarray,
                      width: int, height: int, binning_x: int = 0, binning_y: int = 0,
                      roi: tuple[int, int, int, int] = (0, 0, 0, 0)) -> None:
    """Check a calibration as CameraInfo states it (K 3x3, P 3x4, D, R 3x3, size, binning, ROI).

    Binning 0 means 1; an all-zero ROI means the full image; an all-zero P means "use K".

    Raises:
        CameraInfoError: naming the first bad field and the fix.

    """
    recalibrate = 'recalibrate the camera or fix the driver'
    if width <= 0 or height <= 0:
        raise _calibration_error('width/height', f'is {width}x{height}',
                                 'it must give the calibrated image size')
    x, y, rw, rh = (int(v) for v in roi)
    if rw or rh or x or y:
        if rw == 0 or rh == 0 or x + rw > width or y + rh > height:
            raise _calibration_error(
                'roi', f'(x {x}, y {y}, {rw}x{rh}) is not inside the {width}x{height} image',
                'publish the ROI of the image, or all zeros for the full image')
        width, height = rw, rh
    for name, b, size in (('binning_x', binning_x, width), ('binning_y', binning_y, height)):
        if max(int(b), 1) > size:
            raise _calibration_error(name, f'{b} is larger than the image ({size} pixels)',
                                     'publish the binning the image was taken with (0 or 1: '
                                     'none)')
    for name, m in (('K', k), ('P', p), ('D', np.asarray(d, np.float64)), ('R', r)):
        if not np.isfinite(m).all():
            raise _calibration_error(name, 'contains NaN or inf', recalibrate)
    use_p = p[0, 0] != 0.0
    fx, fy = (p[0, 0], p[1, 1]) if use_p else (k[0, 0], k[1, 1])
    if k[0, 0] <= 0.0 or k[1, 1] <= 0.0 or fx <= 0.0 or fy <= 0.0:
        raise _calibration_error(
            'K/P', f'has focal length fx={fx}, fy={fy} (K fx={k[0, 0]}, fy={k[1, 1]}): the '
            'camera is not calibrated', 'calibrate it, or set the fx, fy, cx, cy, calib_width, '
            'calib_height parameters')
    span = _PRINCIPAL_POINT_SPAN
    for name, m in (('K', k), ('P', p)) if use_p else (('K', k),):
        cx, cy = m[0, 2], m[1, 2]
        if abs(cx) > span * width or abs(cy) > span * height:
            raise _calibration_error(name, f'principal point ({cx}, {cy}) is far outside the '
                                     f'{width}x{height} image', recalibrate)
        if m[2, 2] == 0.0:
            raise _calibration_error(name, 'has 0 in its last diagonal entry', recalibrate)


@dataclass(frozen=True, eq=False)
class CameraModel:
    """A calibration made to describe one image exactly.

    ``intrinsics`` (from P, or K when P is unset) are for the image's own pixel grid; ``k`` and
    ``p`` have ROI, binning and any rescaling folded in.
    """

    intrinsics: Intrinsics
    k: np.ndarray                   # (3, 3)
    p: np.ndarray                   # (3, 4)
    d: tuple[float, ...]
    r: np.ndarray                   # (3, 3)
    distortion_model: str

    @classmethod
    def from_calibration(cls, k: Sequence[float], p: Sequence[float], d: Sequence[float],
                         r: Sequence[float], distortion_model: str, width: int, height: int, *,
                         binning_x: int = 0, binning_y: int = 0,
                         roi: tuple[int, int, int, int] = (0, 0, 0, 0),
                         image_width: int, image_height: int) -> CameraModel:
        """Return the model of a ``width`` x ``height`` calibration for an image of its camera.

        Applies the ROI ``(x, y, w, h)`` and binning; a calibration of another size with the
        same aspect ratio (a driver's scaled mode) is rescaled to ``image_width`` x
        ``image_height``.

        Raises:
            CameraInfoError: a bad field (see :func:`check_calibration`), or a size that is
                neither the image's nor a rescaling of it.

        """
        k3 = np.asarray(k, dtype=np.float64).reshape(3, 3)
        p3 = np.asarray(p, dtype=np.float64).reshape(3, 4)
        r3 = np.asarray(r, dtype=np.float64).reshape(3, 3)
        check_calibration(k3, p3, d, r3, width, height, binning_x, binning_y, roi)
        cw, ch = int(width), int(height)
        pixel_map = PixelMap()
        if any(roi):
            pixel_map = pixel_map.then(PixelMap.crop(roi[0], roi[1]))
            cw, ch = int(roi[2]), int(roi[3])
        bx, by = max(int(binning_x), 1), max(int(binning_y), 1)
        if bx > 1 or by > 1:
            pixel_map = pixel_map.then(PixelMap.binning(bx, by))
            cw, ch = cw // bx, ch // by
        if (cw, ch) != (image_width, image_height):
            if not is_rescaling(cw, ch, image_width, image_height):
                raise CameraInfoError(
                    f'camera_info is for {cw}x{ch} pixels but the image is {image_width}x'
                    f'{image_height}, not a rescaling of it (aspect ratios differ); publish the '
                    'camera_info of this camera mode, or set calib_width/calib_height with the '
                    'fx, fy, cx, cy parameters')
            pixel_map = pixel_map.then(PixelMap.resample(cw, ch, image_width, image_height))
        base = cls(_intrinsics(k3, p3, cw, ch), k3, p3, tuple(float(x) for x in d), r3,
                   distortion_model)
        return base.mapped(pixel_map, image_width, image_height)

    def mapped(self, pixel_map: PixelMap, width: int, height: int) -> CameraModel:
        """Return the model of the image transformed by ``pixel_map`` to ``width`` x ``height``."""
        with np.errstate(over='ignore', invalid='ignore'):   # checked just below
            k, p = pixel_map.apply(self.k), pixel_map.apply(self.p)
        try:   # finite but huge entries (1e308) can overflow or flip sign once rescaled
            if not (np.isfinite(k).all() and np.isfinite(p).all()):
                raise ValueError('K or P overflows')
            intrinsics = _intrinsics(k, p, width, height)
        except ValueError as exc:
            raise CameraInfoError(f'camera_info K/P mapped to the {width}x{height} image give no '
                                  f'usable intrinsics ({exc}); recalibrate the camera or fix '
                                  'the driver') from exc
        return CameraModel(intrinsics, k, p, self.d, self.r, self.distortion_model)

    def strided(self, stride: int) -> CameraModel:
        """Return the model of ``image[::stride, ::stride]``."""
        if stride == 1:
            return self
        return self.mapped(PixelMap.stride(stride), strided_size(self.intrinsics.width, stride),
                           strided_size(self.intrinsics.height, stride))

    def check_rectifiable(self) -> None:
        """Raise CameraInfoError unless :class:`Rectifier` can undistort with this model."""
        coeffs = np.asarray(self.d, np.float64)
        if coeffs.any() and self.distortion_model not in DISTORTION_MODELS:
            raise CameraInfoError(
                f'camera_info distortion_model {self.distortion_model!r} is not supported for '
                f'rectification (supported: {", ".join(DISTORTION_MODELS)}); rectify with '
                'image_proc and set rectify: false')
        if coeffs.any() and coeffs.size not in (4, 5, 8, 12, 14):
            raise CameraInfoError(
                f'camera_info D has {coeffs.size} coefficients; {self.distortion_model} needs '
                '5 (plumb_bob), 8 (rational_polynomial) or 4 (equidistant); recalibrate')
        if self.r.any() and not np.allclose(self.r @ self.r.T, np.eye(3), atol=1e-3):
            raise CameraInfoError('camera_info R is not a rotation (R R^T != I); recalibrate '
                                  'the camera or publish R = identity')


def _intrinsics(k: np.ndarray, p: np.ndarray, width: int, height: int) -> Intrinsics:
    # Like image_geometry: P is the projection of the (rectified) image; K when no P is set.
    m = p if p[0, 0] != 0.0 else k
    return Intrinsics(float(m[0, 0]), float(m[1, 1]), float(m[0, 2]), float(m[1, 2]),
                      int(width), int(height))


class Rays(NamedTuple):
    """Per-pixel ray of one intrinsics, float32 ``(H, W)`` each.

    ``x``, ``y``: ``x/z`` and ``y/z`` of the pixel's ray; ``norm``: the ray's length per unit
    depth, ``sqrt(1 + x^2 + y^2)``, so that range = depth * norm without a per-frame sqrt.
    """

    x: np.ndarray
    y: np.ndarray
    norm: np.ndarray


class RayGrid:
    """Per-pixel rays for one intrinsics, cached until they change.

    ``get(intr)`` returns :class:`Rays`; it rebuilds only when the intrinsics or size differ
    from the last call, so a static camera costs one allocation per run.
    """

    def __init__(self) -> None:
        self._key: Intrinsics | None = None
        self._rays: Rays | None = None
        self.builds = 0  # how many times the grid was (re)computed; tests and diagnostics read it

    def get(self, intr: Intrinsics) -> Rays:
        """Return the rays of ``intr``, float32 ``(H, W)`` each."""
        if self._rays is None or intr != self._key:
            x, y = unproject(intr.k_matrix(), np.arange(intr.width)[None, :],
                             np.arange(intr.height)[:, None])                   # (H, W) each
            x, y = _bounded(x), _bounded(y)
            norm = np.sqrt(1.0 + x ** 2 + y ** 2)                                # (H, W)
            self._rays = Rays(x.astype(np.float32), y.astype(np.float32), norm.astype(np.float32))
            self._key = intr
            self.builds += 1
        return self._rays


def _bounded(slopes: np.ndarray) -> np.ndarray:
    """Return ``slopes`` with NaN where ``|slope| > _MAX_RAY_SLOPE`` or not finite."""
    with np.errstate(invalid='ignore'):
        return np.where(np.abs(slopes) <= _MAX_RAY_SLOPE, slopes, np.nan)


def _check_shape(depth: np.ndarray, rays: Rays) -> None:
    if depth.shape != rays.x.shape:
        raise ValueError(f'depth is {depth.shape[::-1]} (WxH) but the rays are for '
                         f'{rays.x.shape[::-1]}; intrinsics must describe the depth image')


def backproject(depth: np.ndarray, rays: Rays) -> np.ndarray:
    """Return points ``(H, W, 3)`` float32 in metres from depth ``(H, W)`` (z, metres).

    NaN depth gives NaN points; ``rays`` comes from :class:`RayGrid` for the depth's intrinsics.
    """
    _check_shape(depth, rays)
    z = depth.astype(np.float32, copy=False)
    out = np.empty(depth.shape + (3,), np.float32)                          # (H, W, 3)
    np.multiply(rays.x, z, out=out[..., 0])
    np.multiply(rays.y, z, out=out[..., 1])
    out[..., 2] = z
    return out


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """Return ``(H, W)`` float32 whose bits are ``0x00RRGGBB``: the PCL/RViz ``rgb`` field.

    ``rgb`` is uint8 ``(H, W, 3)`` in R, G, B order.
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'rgb must be uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}')
    out = np.empty(rgb.shape[:2], np.float32)
    _write_rgb(out, rgb)
    return out


def _write_rgb(dst: np.ndarray, rgb: np.ndarray) -> None:
    """Write packed ``0x00RRGGBB`` bits of uint8 ``rgb (H, W, 3)`` into float32 ``dst (H, W)``.

    On little-endian hosts those bits are the bytes B, G, R, 0: one OpenCV channel shuffle
    (RGB -> BGRA) builds them several times faster than integer shifts on a uint32 image.
    """
    if sys.byteorder == 'little':
        bgra = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGRA)   # (H, W, 4)
        bgra[..., 3] = 0     # alpha 0: the float's exponent never becomes all-ones (NaN/inf)
        dst[...] = bgra.view(np.float32)[..., 0]
        return
    as_bytes = dst[..., None].view(np.uint8)                                 # (H, W, 4)
    as_bytes[..., 0] = 0
    as_bytes[..., 1] = rgb[..., 0]
    as_bytes[..., 2] = rgb[..., 1]
    as_bytes[..., 3] = rgb[..., 2]


def pack_cloud(depth: np.ndarray, rays: Rays, rgb: np.ndarray | None = None, *,
               stride: int = 1, min_range: float = 0.0, max_range: float = math.inf,
               out: np.ndarray | None = None) -> np.ndarray:
    """Return an organized cloud: a structured ``(H', W')`` array of :func:`cloud_dtype`.

    Args:
        depth: ``(H, W)`` z in metres, NaN invalid.
        rays: :class:`RayGrid` output for the depth's intrinsics (full resolution).
        rgb: optional uint8 ``(H, W, 3)`` R, G, B colours for the XYZRGB layout.
        stride: keep every ``stride``-th row and column (``H' = ceil(H / stride)``).
        min_range, max_range: points whose distance from the camera centre (metres) is outside
            ``[min_range, max_range]`` become NaN (organized clouds keep every cell).
        out: optional array of the same shape and dtype to write into (e.g. the reusable
            buffer of :class:`~depth_anything_ros.ros.conversions.CloudBuffer`).

    Invalid points are NaN in x, y and z, so the message has ``is_dense = False``.

    """
    if stride < 1:
        raise ValueError(f'stride must be >= 1, got {stride}')
    _check_shape(depth, rays)
    if rgb is not None and (rgb.dtype != np.uint8 or rgb.shape != depth.shape + (3,)):
        raise ValueError(f'rgb must be uint8 {depth.shape + (3,)}, got {rgb.dtype} {rgb.shape}')
    xz, yz, norm = rays
    if stride > 1:
        depth, xz, yz, norm = (a[::stride, ::stride] for a in (depth, xz, yz, norm))
        rgb = None if rgb is None else rgb[::stride, ::stride]
    dtype = cloud_dtype(rgb is not None)
    if out is None:
        out = np.empty(depth.shape, dtype)                                  # (H', W')
    elif out.shape != depth.shape or out.dtype != dtype:
        raise ValueError(f'out must be {depth.shape} of {dtype}, got {out.shape} of {out.dtype}')
    # Always filtered, also without range limits: an infinite depth (or a ray * depth that
    # overflows float32) must become NaN, never inf, in a published cloud.
    with np.errstate(over='ignore', invalid='ignore'):   # overflow -> inf -> outside
        distance = np.multiply(depth, norm, dtype=np.float32)               # metres
    # cv2.inRange: branch-free, inclusive bounds, NaN is outside (numpy masks are 3x slower)
    inside = cv2.inRange(distance, float(min_range), min(float(max_range), _FLOAT32_MAX)) > 0
    depth = np.where(inside, depth, np.float32(np.nan))
    z = out['z']
    z[...] = depth
    np.multiply(xz, z, out=out['x'])
    np.multiply(yz, z, out=out['y'])
    if rgb is not None:
        _write_rgb(out['rgb'], rgb)
    return out


#: CameraInfo distortion models :func:`rectify_maps` handles (sensor_msgs distortion_models).
DISTORTION_MODELS = ('plumb_bob', 'rational_polynomial', 'equidistant')


def rectify_maps(k: np.ndarray, d: Sequence[float], r: np.ndarray, p: np.ndarray,
                 distortion_model: str, width: int, height: int, *,
                 fixed_point: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
    """Return the ``cv2.remap`` maps that rectify a raw ``width`` x ``height`` image, or None.

    Follows image_geometry: the rectified image is the projection ``P`` (``K`` when P is unset)
    of the rays the raw camera ``K, D`` sees, rotated by ``R``. None when rectifying changes
    nothing (no distortion, R = I and P = K). K and P must describe this image's own pixel
    grid (ROI, binning and rescaling already folded in); D is in normalised coordinates and
    does not change with them.

    Args:
        fixed_point: CV_16SC2 maps (fast remap, 1/32 pixel); else float32 maps.

    Raises:
        ValueError: a distortion model other than :data:`DISTORTION_MODELS`, or too few
            coefficients for it.
    """
    k = np.asarray(k, np.float64).reshape(3, 3)
    r = np.asarray(r, np.float64).reshape(3, 3)
    p = np.asarray(p, np.float64).reshape(3, 4)
    coeffs = np.asarray(d, np.float64).ravel()
    new_k = p[:, :3] if p[0, 0] != 0.0 else k
    if not r.any():
        r = np.eye(3)  # an all-zero R means "not set" in many drivers
    if not coeffs.any() and np.allclose(r, np.eye(3)) and np.allclose(new_k, k):
        return None
    kind = cv2.CV_16SC2 if fixed_point else cv2.CV_32FC1
    if distortion_model == 'equidistant':
        if coeffs.size < 4:
            raise ValueError(f'equidistant distortion needs 4 coefficients, camera_info has '
                             f'{coeffs.size}; recalibrate with the fisheye model')
        return cv2.fisheye.initUndistortRectifyMap(k, coeffs[:4], r, new_k, (width, height),
                                                   kind)
    if distortion_model not in DISTORTION_MODELS and coeffs.any():
        raise ValueError(f'distortion model {distortion_model!r} is not supported for '
                         f'rectification (supported: {", ".join(DISTORTION_MODELS)}); '
                         'rectify with image_proc and set rectify: false')
    if coeffs.size not in (0, 4, 5, 8, 12, 14):
        raise ValueError(f'{distortion_model} distortion with {coeffs.size} coefficients; '
                         'expected 5 (plumb_bob) or 8 (rational_polynomial)')
    return cv2.initUndistortRectifyMap(k, coeffs if coeffs.size else None, r, new_k,
                                       (width, height), kind)


class Rectifier:
    """Rectify raw frames for one camera calibration at a time (maps rebuilt when it changes)."""

    def __init__(self) -> None:
        """Start with no maps; the first frame builds them."""
        self._key: tuple | None = None
        self._maps: tuple[np.ndarray, np.ndarray] | None = None

    def __call__(self, image: np.ndarray, k: np.ndarray, d: Sequence[float], r: np.ndarray,
                 p: np.ndarray, distortion_model: str) -> np.ndarray:
        """Return ``image`` (HxW[xC] uint8) rectified; the input itself when nothing changes.

        Bilinear interpolation, as image_proc's default; pixels that see nothing of the raw
        image are black.
        """
        height, width = image.shape[:2]
        key = (np.asarray(k, np.float64).tobytes(), tuple(float(c) for c in d),
               np.asarray(r, np.float64).tobytes(), np.asarray(p, np.float64).tobytes(),
               distortion_model, width, height)
        if key != self._key:
            self._maps = rectify_maps(k, d, r, p, distortion_model, width, height)
            self._key = key
        if self._maps is None:
            return image
        out = cv2.remap(image, self._maps[0], self._maps[1], cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return out.reshape(image.shape)  # OpenCV drops a single channel axis
