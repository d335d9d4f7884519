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

"""What the per-pixel outputs of a depth network mean for the depth a user sees (numpy only).

* :func:`mask_invalid`: depth with the pixels it must not be trusted at set to NaN (invalid, as
  REP 118 asks): confidence below a threshold, and sky (never a far wall).
* :func:`network_focal`: a camera's focal length in pixels of the network input, the value a
  network that gives metres only with the focal length needs (each axis scales with its own
  resize factor, as the camera matrix does).
* :func:`pipeline_values`: one frame's outputs as the per-frame pipeline takes them (metres
  for metric models, disparity for relative ones), invalid pixels NaN.
* :func:`depth_to_disparity`: relative depth (larger = farther, known up to scale) as the
  inverse the rest of the pipeline handles for relative models (disparity, larger = nearer;
  a scale of depth is a scale of its inverse, so disparity alignment applies unchanged).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ['depth_to_disparity', 'mask_invalid', 'network_focal', 'pipeline_values']


def mask_invalid(depth: np.ndarray, confidence: np.ndarray | None = None,
                 sky: np.ndarray | None = None, min_confidence: float = 0.0) -> np.ndarray:
    """Return float32 ``depth`` (H, W) with NaN where ``confidence < min_confidence`` or sky.

    ``confidence`` (H, W) or None (then ``min_confidence`` does not apply); ``sky`` (H, W)
    boolean mask or None. ``depth`` itself is not changed (a copy is returned when a pixel is
    masked). NaN confidence counts as below any threshold > 0.
    """
    if not (isinstance(min_confidence, (int, float)) and not isinstance(min_confidence, bool)
            and math.isfinite(min_confidence) and min_confidence >= 0):
        raise ValueError(f'min_confidence must be a finite number >= 0, got {min_confidence!r}')
    out = np.asarray(depth, dtype=np.float32)
    drop = np.zeros(out.shape, bool)
    for name, mask in (('confidence', confidence), ('sky', sky)):
        if mask is not None and np.shape(mask) != out.shape:
            raise ValueError(f"{name} map {np.shape(mask)} is not the depth map's size "
                             f'{out.shape}')
    if confidence is not None and min_confidence > 0:
        with np.errstate(invalid='ignore'):
            drop |= ~(np.asarray(confidence) >= min_confidence)
    if sky is not None:
        drop |= np.asarray(sky, bool)
    if not drop.any():
        return out
    out = out.copy()
    out[drop] = np.nan
    return out


def network_focal(fx: float, fy: float, image_hw: tuple[int, int],
                  network_hw: tuple[int, int]) -> tuple[float, float]:
    """(fx, fy) in pixels of an image of size ``image_hw`` -> in pixels of the network input.

    Raises:
        ValueError: a focal length that is not a finite number > 0, or an empty size.

    """
    try:
        fx, fy = float(fx), float(fy)
    except (TypeError, ValueError):
        raise ValueError(f'focal lengths must be numbers of pixels, got fx={fx!r}, '
                         f'fy={fy!r}') from None
    if not (math.isfinite(fx) and math.isfinite(fy) and fx > 0 and fy > 0):
        raise ValueError(f'focal lengths must be finite and > 0 pixels, got fx={fx}, fy={fy}')
    (h, w), (nh, nw) = image_hw, network_hw
    if min(h, w, nh, nw) <= 0:
        raise ValueError(f'sizes must be positive, got image {image_hw}, network {network_hw}')
    return fx * nw / w, fy * nh / h


def depth_to_disparity(depth: np.ndarray) -> np.ndarray:
    """Return float32 ``1 / depth`` where depth is finite and > 0, NaN elsewhere."""
    depth = np.asarray(depth, dtype=np.float32)
    with np.errstate(divide='ignore', invalid='ignore'):
        ok = np.isfinite(depth) & (depth > 0)
        return np.where(ok, np.float32(1.0) / np.where(ok, depth, np.float32(1.0)),
                        np.float32(np.nan)).astype(np.float32, copy=False)


def pipeline_values(depth: np.ndarray, output: str, confidence: np.ndarray | None = None,
                    sky: np.ndarray | None = None, min_confidence: float = 0.0) -> np.ndarray:
    """Return a frame's ``depth`` as the pipeline takes it, with invalid pixels NaN.

    ``output`` is what ``depth`` is (``disparity``, ``depth`` or ``metric``, as
    models.registry.OUTPUTS): disparity and metres pass through, relative depth becomes
    disparity (:func:`depth_to_disparity`); pixels below ``min_confidence`` and sky pixels
    become NaN (:func:`mask_invalid`).
    """
    if output not in ('disparity', 'depth', 'metric'):
        raise ValueError(f'unknown output {output!r}; expected disparity, depth or metric')
    values = mask_invalid(depth, confidence, sky, min_confidence)
    return depth_to_disparity(values) if output == 'depth' else values
