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

"""Training / evaluation transforms of the metric fine-tuning recipe.

Train: keep-aspect "lower bound" resize so the short side reaches ``input_size`` (sides
multiples of 14; cubic for the image, nearest for depth and mask), ImageNet normalisation,
random ``input_size`` square crop, random horizontal flip, optional colour jitter. Eval: the
image is resized the same way; depth and mask stay at native resolution (predictions are
upsampled to them). Randomness comes from an explicit ``numpy.random.Generator`` so that a
sample's augmentation depends only on its seed (exact resume, any number of workers).

Samples are dicts: ``image`` uint8 (H, W, 3) RGB, ``depth`` float32 (H, W) metres,
``valid_mask`` bool (H, W), optional ``intrinsics`` float32 (3, 3).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from depth_anything_ros.models.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    target_size,
    validate_input_size,
)
from depth_anything_ros.vocabulary import PATCH_SIZE

# The model package's names, kept here for the training code that imports them.
PATCH = PATCH_SIZE
MEAN = np.array(IMAGENET_MEAN)
STD = np.array(IMAGENET_STD)
#: The inference size rule (aspect kept, short side >= target, multiples of 14); an alias.
lower_bound_size = target_size


def normalize(rgb_float: np.ndarray) -> torch.Tensor:
    """(H, W, 3) RGB in [0, 1] -> float32 tensor (3, H, W) with ImageNet mean/std."""
    x = (rgb_float - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).float()


def resize_image(rgb_uint8: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Cubic resize of an RGB uint8 image to ``size=(h, w)`` in float64 [0, 1] (no clipping)."""
    h, w = size
    return cv2.resize(rgb_uint8.astype(np.float64) / 255.0, (w, h), interpolation=cv2.INTER_CUBIC)


def resize_nearest(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a depth map or mask (H, W) to ``size=(h, w)``."""
    h, w = size
    dtype = arr.dtype
    src = arr.astype(np.uint8) if dtype == np.bool_ else arr
    out = cv2.resize(src, (w, h), interpolation=cv2.INTER_NEAREST)
    return out.astype(dtype)


def scale_intrinsics(k: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Intrinsics (3, 3) of an image resized by ``sx``, ``sy`` (pixel-centre convention)."""
    k = k.astype(np.float32).copy()
    k[0, 0] *= sx
    k[1, 1] *= sy
    k[0, 2] = (k[0, 2] + 0.5) * sx - 0.5
    k[1, 2] = (k[1, 2] + 0.5) * sy - 0.5
    return k


def color_jitter(rgb: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Random brightness, contrast and saturation in ``[1 - s, 1 + s]`` on RGB float [0, 1]."""
    b, c, s = rng.uniform(1 - strength, 1 + strength, size=3)
    out = rgb * b
    out = (out - out.mean()) * c + out.mean()
    gray = out @ np.array([0.299, 0.587, 0.114])
    out = (out - gray[..., None]) * s + gray[..., None]
    return np.clip(out, 0.0, 1.0)


class TrainTransform:
    """Resize (lower bound), jitter, normalise, random square crop, random h-flip."""

    def __init__(self, input_size: int, *, hflip: bool = True, jitter: float = 0.0) -> None:
        validate_input_size(input_size)
        self.size = input_size
        self.hflip = hflip
        self.jitter = jitter

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        image, depth, valid = sample['image'], sample['depth'], sample['valid_mask']
        h0, w0 = depth.shape
        h, w = target_size(h0, w0, self.size)
        img = resize_image(image, (h, w))                 # (h, w, 3) float64
        dep = resize_nearest(depth, (h, w))               # (h, w) metres
        val = resize_nearest(valid, (h, w))               # (h, w) bool
        if self.jitter > 0:
            img = color_jitter(img, self.jitter, rng)
        y0 = int(rng.integers(0, h - self.size + 1))
        x0 = int(rng.integers(0, w - self.size + 1))
        sl = (slice(y0, y0 + self.size), slice(x0, x0 + self.size))
        img, dep, val = img[sl], dep[sl], val[sl]
        flip = self.hflip and bool(rng.random() < 0.5)
        if flip:
            img, dep, val = img[:, ::-1], dep[:, ::-1], val[:, ::-1]
        out = {'image': normalize(img),                               # (3, S, S)
               'depth': torch.from_numpy(np.ascontiguousarray(dep)),   # (S, S)
               'valid_mask': torch.from_numpy(np.ascontiguousarray(val))}
        if sample.get('intrinsics') is not None:
            k = scale_intrinsics(sample['intrinsics'], w / w0, h / h0)
            k[0, 2] -= x0
            k[1, 2] -= y0
            if flip:
                k[0, 2] = self.size - 1 - k[0, 2]
            out['intrinsics'] = torch.from_numpy(k)
        return out


class EvalTransform:
    """Resize + normalise the image only; ground truth stays at native resolution.

    ``keep_rgb``: also keep the frame itself (``'rgb'``, uint8), for a network that brings its
    own image processing.
    """

    def __init__(self, input_size: int, *, keep_rgb: bool = False) -> None:
        validate_input_size(input_size)
        self.size = input_size
        self.keep_rgb = keep_rgb

    def __call__(self, sample: dict[str, Any], rng: np.random.Generator | None = None
                 ) -> dict[str, Any]:
        h0, w0 = sample['depth'].shape
        h, w = target_size(h0, w0, self.size)
        out = {'image': normalize(resize_image(sample['image'], (h, w))),  # (3, h, w)
               'depth': torch.from_numpy(np.ascontiguousarray(sample['depth'])),
               'valid_mask': torch.from_numpy(np.ascontiguousarray(sample['valid_mask']))}
        if sample.get('intrinsics') is not None:
            out['intrinsics'] = torch.from_numpy(sample['intrinsics'].astype(np.float32))
        if self.keep_rgb:
            out['rgb'] = np.ascontiguousarray(sample['image'])
        return out
