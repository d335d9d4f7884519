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

"""Camera images -> Depth Anything 3 input, as the official inference prepares them.

The official default: the longest side is resized to ``process_res`` = 504 (``cv2.INTER_AREA``
when shrinking, ``INTER_CUBIC`` when enlarging, on the uint8 image), then each side to the
nearest multiple of 14 (ties go up) by a second small resize; intrinsics follow both resizes.
Images of different sizes are centre-cropped to the smallest (the official code crops the
image at ``round(d / 2)`` but moves the principal point by ``d // 2``; kept as it is).
RGB uint8 -> /255 -> ImageNet mean/std, float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import Tensor

from depth_anything_ros.vocabulary import PATCH_SIZE

#: The official default processing resolution (longest side).
PROCESS_RES = 504
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """uint8 resize: INTER_CUBIC when either side grows, else INTER_AREA."""
    up = w > img.shape[1] or h > img.shape[0]
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC if up else cv2.INTER_AREA)


def _nearest_multiple(x: int, p: int = PATCH_SIZE) -> int:
    down = x // p * p
    return max(1, down + p if (down + p) - x <= x - down else down)


def process_sizes(h: int, w: int, process_res: int = PROCESS_RES,
                  ) -> tuple[tuple[int, int], tuple[int, int]]:
    """(h, w) -> size after the longest-side resize, and the final size (multiples of 14)."""
    longest = max(h, w)
    if longest != process_res:
        s = process_res / float(longest)
        h, w = max(1, int(round(h * s))), max(1, int(round(w * s)))
    return (h, w), (_nearest_multiple(h), _nearest_multiple(w))


def _scale_k(k: np.ndarray, sx: float, sy: float) -> np.ndarray:
    k = k.copy()
    k[0] *= sx
    k[1] *= sy
    return k


def prepare_image(rgb: np.ndarray, intrinsics: np.ndarray | None = None,
                  process_res: int = PROCESS_RES) -> tuple[Tensor, np.ndarray | None]:
    """RGB uint8 (h, w, 3) [+ K (3, 3) in its pixels] -> (3, H, W) float32 [+ K at (H, W)]."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected an RGB uint8 image (h, w, 3), got {rgb.dtype} '
                         f'{rgb.shape}')
    h0, w0 = rgb.shape[:2]
    (h1, w1), (h2, w2) = process_sizes(h0, w0, process_res)
    img, k = rgb, None if intrinsics is None else np.asarray(intrinsics, dtype=np.float64)
    for (h, w), (hp, wp) in (((h1, w1), (h0, w0)), ((h2, w2), (h1, w1))):
        if (h, w) != (hp, wp):
            img = _resize(img, w, h)
        if k is not None:
            k = _scale_k(k, w / float(wp), h / float(hp))
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div(255)
    mean = torch.tensor(MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(STD, dtype=torch.float32)[:, None, None]
    return (x - mean) / std, k


def prepare_views(images: Sequence[np.ndarray],
                  intrinsics: Sequence[np.ndarray] | np.ndarray | None = None,
                  process_res: int = PROCESS_RES) -> tuple[Tensor, Tensor | None]:
    """RGB uint8 views -> (1, S, 3, H, W) network input and intrinsics (1, S, 3, 3) float32.

    Views of different sizes are centre-cropped to the smallest.
    """
    ks = [None] * len(images) if intrinsics is None else list(intrinsics)
    if len(ks) != len(images):
        raise ValueError(f'{len(images)} images but {len(ks)} intrinsics')
    done = [prepare_image(img, k, process_res) for img, k in zip(images, ks)]
    hmin = min(x.shape[1] for x, _ in done)
    wmin = min(x.shape[2] for x, _ in done)
    xs, out_k = [], []
    for x, k in done:
        dh, dw = x.shape[1] - hmin, x.shape[2] - wmin
        top, left = int(round(dh / 2.0)), int(round(dw / 2.0))
        xs.append(x[:, top:top + hmin, left:left + wmin])
        if k is not None:
            k = k.copy()
            k[0, 2] -= dw // 2
            k[1, 2] -= dh // 2
            out_k.append(k)
    kt = torch.from_numpy(np.asarray(out_k)).float()[None] if out_k else None
    return torch.stack(xs)[None], kt
