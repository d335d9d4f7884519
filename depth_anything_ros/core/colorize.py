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

"""Colourised depth / disparity for humans (RViz, demo pictures); never for algorithms."""

from __future__ import annotations

import cv2
import numpy as np

from depth_anything_ros.params import COLORMAPS

__all__ = ['COLORMAP_IDS', 'auto_range', 'colorize']

#: colour map name (the ``colormap`` parameter's choices) -> OpenCV colour map; gray: none.
COLORMAP_IDS: dict[str, int | None] = {
    name: None if name == 'gray' else getattr(cv2, f'COLORMAP_{name.upper()}')
    for name in COLORMAPS}


def auto_range(values: np.ndarray, low_pct: float = 2.0,
               high_pct: float = 98.0) -> tuple[float, float] | None:
    """Return robust ``(lo, hi)`` percentiles of the finite values, or None if there are none.

    Percentiles come from a 4x-subsampled grid: the same range for a fraction of the cost.
    """
    sample = values[::4, ::4] if values.ndim == 2 else values
    finite = sample[np.isfinite(sample)]
    if finite.size == 0:
        return None
    lo, hi = np.percentile(finite, [low_pct, high_pct])
    if hi <= lo:
        hi = lo + max(abs(lo) * 1e-3, 1e-6)
    return float(lo), float(hi)


def colorize(values: np.ndarray, colormap: str = 'turbo',
             value_range: tuple[float, float] | None = None,
             near_is_high: bool = False) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Return ``(bgr8 (H, W, 3), range used)`` for depth or disparity ``(H, W)``.

    Args:
        values: float ``(H, W)``; NaN/inf pixels are drawn black.
        colormap: a key of :data:`COLORMAP_IDS`.
        value_range: ``(lo, hi)`` mapped to the two ends of the map; None: :func:`auto_range`.
        near_is_high: True for disparity (large = near). Near is drawn with the map's last
            colour either way (red in turbo), so depth and disparity views read alike.

    """
    if colormap not in COLORMAP_IDS:
        raise ValueError(f'unknown colormap {colormap!r}; choose from {", ".join(COLORMAP_IDS)}')
    if values.ndim != 2:
        raise ValueError(f'values must be (H, W), got shape {values.shape}')
    used = value_range if value_range is not None else auto_range(values)
    if used is None:
        return np.zeros(values.shape + (3,), np.uint8), None
    lo, hi = used
    if not hi > lo:
        raise ValueError(f'colour range must have lo < hi, got {used}')
    finite = np.isfinite(values)
    with np.errstate(invalid='ignore'):
        t = (values.astype(np.float32) - lo) * (1.0 / (hi - lo))            # (H, W) 0..1
    if not near_is_high:
        t = 1.0 - t
    idx = (np.clip(np.nan_to_num(t, nan=0.0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    cmap = COLORMAP_IDS[colormap]
    if cmap is None:
        coloured = np.repeat(idx[..., None], 3, axis=2)                      # (H, W, 3)
    else:
        coloured = cv2.applyColorMap(idx, cmap)                              # (H, W, 3)
    if not finite.all():
        # OpenCV's masked AND: numpy boolean indexing of (H, W, 3) is ~100x slower
        coloured = cv2.bitwise_and(coloured, coloured, mask=finite.view(np.uint8))
    return coloured, used
