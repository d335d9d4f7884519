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

"""Metric prompts for a prompted depth network (Prompt Depth Anything), from the anchors.

The same anchors that ``alignment:`` takes (``anchor/depth`` images, ``anchor/points``
clouds) become the network's prompt: a depth image in metres at the *prompt resolution*
(:func:`prompt_shape`: the frame's aspect, the longest side :data:`PROMPT_LONG_SIDE` pixels,
the size of the phone LiDAR maps the network was trained with). Points are projected onto
that grid (:func:`points_prompt`, the nearest surface wins a cell), a depth image is
re-projected onto it (:func:`depth_prompt`); neither interpolates.

The network expects a *dense* low-resolution map: it normalises the prompt by its minimum and
maximum and resizes it bilinearly into every decoder level, so empty cells (0) would read as
surfaces at the minimum depth and smear into their neighbours. :func:`densify` fills them:

* ``nearest`` (the default): each empty cell takes the depth of the nearest measured cell
  (Euclidean distance, OpenCV's labelled distance transform): piecewise constant, never a
  depth the sensor did not measure, edges stay sharp;
* ``smooth``: push-pull interpolation (measurements averaged down an image pyramid, holes
  filled from the coarser level on the way up): smooth between measurements, and every
  filled depth a weighted mean of measured ones (OpenCV's Telea inpainting overshoots, even
  below zero, between measurements this sparse);
* ``none``: the sparse map as it is (0 where unmeasured), what the network is known to fail
  on with very sparse vehicle LiDAR; kept to measure that (benchmarks/bench_prompt.py).
"""

from __future__ import annotations

import cv2
import numpy as np

from depth_anything_ros.core.alignment import project_points, resample_depth

__all__ = ['DENSIFY', 'densify', 'depth_prompt', 'MIN_PROMPT_CELLS', 'points_prompt',
           'PROMPT_LONG_SIDE', 'prompt_shape', 'scaled_k']

#: Ways to fill the empty cells of a sparse prompt (see the module docstring).
DENSIFY = ('nearest', 'smooth', 'none')
#: Longest side of the prompt grid (pixels): the 256x192 LiDAR maps of the training data.
PROMPT_LONG_SIDE = 256
#: A prompt with fewer measured cells than this is no prompt (the frame falls back).
MIN_PROMPT_CELLS = 4


def prompt_shape(height: int, width: int, long_side: int = PROMPT_LONG_SIDE) -> tuple[int, int]:
    """Return the prompt grid ``(h, w)`` of an ``height`` x ``width`` frame (its aspect)."""
    scale = min(1.0, long_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def scaled_k(k: np.ndarray, frame: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """Return the intrinsics ``k`` of a ``frame`` (H, W) image for the same view at ``grid``."""
    k = np.array(k, np.float64, copy=True)
    sy, sx = grid[0] / frame[0], grid[1] / frame[1]
    k[0, 0], k[0, 1], k[1, 1] = k[0, 0] * sx, k[0, 1] * sx, k[1, 1] * sy
    k[0, 2] = (k[0, 2] + 0.5) * sx - 0.5   # pixel centres, as the frame is resized
    k[1, 2] = (k[1, 2] + 0.5) * sy - 0.5
    return k


def points_prompt(points: np.ndarray, k: np.ndarray, frame: tuple[int, int],
                  grid: tuple[int, int], extrinsic: np.ndarray | None = None) -> np.ndarray:
    """Project metric points (N, 3) into a sparse prompt (float32 ``grid``, 0 = none).

    ``k``: the frame's intrinsics (pixels of ``frame`` (H, W)); ``extrinsic`` (4, 4) maps the
    points' frame into the camera optical frame (None: they are in it). Where several points
    land on one cell, the nearest wins.
    """
    pixels, z = project_points(points, scaled_k(k, frame, grid), grid, extrinsic)
    out = np.full(grid, np.inf)
    flat = np.rint(pixels[:, 1]).astype(np.intp) * grid[1] + \
        np.rint(pixels[:, 0]).astype(np.intp)
    np.minimum.at(out.reshape(-1), flat, z)
    out[np.isinf(out)] = 0.0
    return out.astype(np.float32)


def depth_prompt(depth: np.ndarray, k_depth: np.ndarray | None, k: np.ndarray,
                 frame: tuple[int, int], grid: tuple[int, int]) -> np.ndarray:
    """Re-project a metric depth image onto a sparse prompt (float32 ``grid``, 0 = none).

    ``k_depth``: the depth image's intrinsics (None: it is registered to the frame, whose
    intrinsics ``k`` are rescaled to its size).
    """
    depth = np.asarray(depth, np.float32)
    if k_depth is None:
        k_depth = scaled_k(k, frame, depth.shape[:2])
    out = resample_depth(depth, k_depth, scaled_k(k, frame, grid), grid)
    return np.nan_to_num(out, nan=0.0).astype(np.float32)


def densify(sparse: np.ndarray, method: str = 'nearest') -> np.ndarray:
    """Fill the empty cells (0, NaN) of a sparse prompt; float32, same size.

    Raises:
        ValueError: an unknown ``method`` (one of :data:`DENSIFY`), or no measured cell.

    """
    if method not in DENSIFY:
        raise ValueError(f'densify must be one of {DENSIFY}, got {method!r}')
    sparse = np.nan_to_num(np.asarray(sparse, np.float32), nan=0.0, posinf=0.0)
    measured = sparse > 0
    if not measured.any():
        raise ValueError('the prompt has no measured cell')
    if method == 'none' or measured.all():
        return sparse.copy()
    if method == 'nearest':
        # the distance transform's labels name, for every cell, its nearest zero of the input:
        # measured cells are the zeros, so each cell gets the label of its nearest measurement
        _, labels = cv2.distanceTransformWithLabels(
            (~measured).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE,
            labelType=cv2.DIST_LABEL_PIXEL)
        values = np.zeros(labels.max() + 1, np.float32)
        values[labels[measured]] = sparse[measured]
        return values[labels]
    return _push_pull(sparse, measured)


def _push_pull(sparse: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Fill the holes of ``sparse`` from an image pyramid of its measurements."""
    values = np.where(measured, sparse, 0.0).astype(np.float32)
    weights = measured.astype(np.float32)
    levels = [(values, weights)]
    while not (weights > 0).all() and min(values.shape) > 1:   # push: halve, averaging
        size = ((values.shape[1] + 1) // 2, (values.shape[0] + 1) // 2)
        values = cv2.resize(values, size, interpolation=cv2.INTER_AREA)
        weights = cv2.resize(weights, size, interpolation=cv2.INTER_AREA)
        levels.append((values, weights))
    with np.errstate(divide='ignore', invalid='ignore'):
        mean = float(values.sum() / weights.sum())
        estimate = np.where(weights > 0, values / weights, mean).astype(np.float32)
        for values, weights in reversed(levels[:-1]):   # pull: blend in the coarser estimate
            coarse = cv2.resize(estimate, (values.shape[1], values.shape[0]),
                                interpolation=cv2.INTER_LINEAR)
            alpha = np.clip(weights, 0.0, 1.0)   # measured share of the cell
            local = np.where(weights > 0, values / weights, 0.0)
            estimate = (alpha * local + (1.0 - alpha) * coarse).astype(np.float32)
    return estimate
