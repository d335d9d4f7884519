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

"""From one network prediction to the node's output arrays (pure numpy, no ROS).

A metric model predicts depth in metres. A relative model predicts affine-invariant disparity
(inverse depth up to an unknown scale and shift): it is published as disparity, and becomes
metric depth only through a user-supplied calibration ``1/depth = scale * d + shift``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from depth_anything_ros.conversions import depth_to_mm

__all__ = ['Prediction', 'encode_depth', 'split_prediction', 'stride_image']


@dataclass(frozen=True)
class Prediction:
    """Float32 ``(H, W)`` outputs of one frame; NaN marks invalid pixels."""

    depth: np.ndarray | None        # metres (metric model, or calibrated relative model)
    disparity: np.ndarray | None    # relative model only: affine-invariant inverse depth


def _limit(depth: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """Set NaN where depth is outside ``[min_depth, max_depth]`` or not finite (REP 118)."""
    with np.errstate(invalid='ignore'):
        bad = ~((depth >= min_depth) & (depth <= max_depth))     # NaN compares False -> bad
    return np.where(bad, np.float32(np.nan), depth).astype(np.float32, copy=False)


def split_prediction(pred: np.ndarray, *, metric_model: bool, min_depth: float,
                     max_depth: float, disparity_scale: float = 0.0,
                     disparity_shift: float = 0.0) -> Prediction:
    """Turn the estimator output ``pred`` (float32 ``(H, W)``) into depth and/or disparity.

    Raises:
        ValueError: ``pred`` has no finite value (a broken model or precision overflow).

    """
    if pred.ndim != 2:
        raise ValueError(f'prediction must be (H, W), got {pred.shape}')
    finite = np.isfinite(pred)
    if not finite.any():
        raise ValueError('the network output has no finite value (NaN/inf everywhere); with '
                         'precision fp16 try bf16 or fp32')
    pred = pred.astype(np.float32, copy=False)
    if metric_model:
        return Prediction(_limit(pred, min_depth, max_depth), None)
    disparity = np.where(finite, pred, np.float32(np.nan))
    if disparity_scale <= 0.0:
        return Prediction(None, disparity)
    inverse = disparity * np.float32(disparity_scale) + np.float32(disparity_shift)   # 1/m
    with np.errstate(divide='ignore', invalid='ignore'):
        depth = np.where(inverse > 0, 1.0 / inverse, np.nan).astype(np.float32)
    return Prediction(_limit(depth, min_depth, max_depth), disparity)


def stride_image(values: np.ndarray, stride: int) -> np.ndarray:
    """Return ``values[::stride, ::stride]`` (contiguous); intrinsics follow PixelMap.stride."""
    return values if stride == 1 else np.ascontiguousarray(values[::stride, ::stride])


def encode_depth(depth: np.ndarray, encoding: str) -> np.ndarray:
    """Return depth in metres as 32FC1 (float32, NaN invalid) or 16UC1 (uint16 mm, 0 invalid)."""
    if encoding == '32FC1':
        return depth.astype(np.float32, copy=False)
    if encoding == '16UC1':
        return depth_to_mm(depth)
    raise ValueError(f'depth encoding must be 32FC1 or 16UC1, got {encoding!r}')
