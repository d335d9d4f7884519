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

"""Pre- and post-processing shared by every inference backend.

Two preprocessing paths produce the network input [B,3,h,w] (ImageNet-normalised RGB, h and w
multiples of 14, short side on ``input_size`` keeping the aspect ratio):

* :func:`preprocess_exact` reproduces the official pipeline bit for bit: float64 OpenCV
  bicubic resize of the [0,1] image, float64 normalisation, cast to float32.
* :func:`preprocess_fast` does the same maths on the device in float32 with torch's bicubic
  (uint8 goes to the device, not floats); on CPU :func:`preprocess_fast_cpu` uses OpenCV's
  float32 resize instead (about 2x faster there). Both are a few 1e-5 away from exact in
  the final depth.

:func:`postprocess` resizes the prediction back to the camera resolution (bilinear,
align_corners=True, as the official code does).

A family whose :class:`~depth_anything_ros.models.registry.InputPolicy` has
``aspect='library'`` owns its processing instead: its network's ``prepare(rgb_frames)`` makes
the input and ``finish(pred, size, focal_px)`` the depth at the frame size (the library's own
image processor, as its pipeline uses it); :func:`library_processing` finds those two.
"""

from __future__ import annotations

from collections.abc import Sequence
import math

import cv2
import numpy as np
import torch
from torch import Tensor
import torch.nn.functional as F

from depth_anything_ros.models.registry import IMAGENET_MEAN, IMAGENET_STD, InputPolicy
from depth_anything_ros.vocabulary import PATCH_SIZE

__all__ = ['ENCODINGS', 'IMAGENET_MEAN', 'IMAGENET_STD', 'LIBRARY', 'PATCH', 'SUPPORTED_POLICY',
           'LibraryProcessing', 'check_input_policy', 'library_processing', 'postprocess',
           'preprocess_exact', 'preprocess_fast', 'preprocess_fast_cpu', 'target_size', 'to_rgb',
           'validate_image', 'validate_input_size']

PATCH = PATCH_SIZE   # the name this module has always used
#: The input policy these functions implement.
SUPPORTED_POLICY = InputPolicy(multiple=PATCH_SIZE, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                               aspect='keep')
#: ``InputPolicy.aspect`` of a family whose network brings its own image processing.
LIBRARY = 'library'
#: uint8 [0,255] -> normalised: x * _SCALE - _OFFSET (float32, per RGB channel)
_SCALE = (1.0 / (255.0 * np.asarray(IMAGENET_STD))).astype(np.float32)
_OFFSET = (np.asarray(IMAGENET_MEAN) / np.asarray(IMAGENET_STD)).astype(np.float32)

#: encoding -> (channels, indices of R, G, B in the pixel); mono replicates its one channel.
ENCODINGS: dict[str, tuple[int, tuple[int, int, int]]] = {
    'bgr8': (3, (2, 1, 0)),
    'rgb8': (3, (0, 1, 2)),
    'bgra8': (4, (2, 1, 0)),
    'rgba8': (4, (0, 1, 2)),
    'mono8': (1, (0, 0, 0)),
}


def check_input_policy(policy: InputPolicy) -> None:
    """Raise ValueError unless these functions implement ``policy`` (a family's input policy).

    They normalise with ImageNet statistics and keep the aspect ratio with sides that are
    multiples of 14; a family that needs another policy extends this module first, or owns
    its processing (``aspect='library'``, :func:`library_processing`).
    """
    if policy.aspect == LIBRARY:
        return

    def key(p: InputPolicy) -> tuple:
        return p.multiple, tuple(p.mean), tuple(p.std), p.aspect

    if key(policy) != key(SUPPORTED_POLICY):
        raise ValueError(f'the preprocessing implements {SUPPORTED_POLICY}, not {policy}; '
                         'extend depth_anything_ros/models/transforms.py for this family')


class LibraryProcessing:
    """The processing a network brings along (its library's image processor).

    ``prepare(rgb_frames) -> [B,3,h,w]`` and ``finish(pred [B,h,w], (H, W), focal_px) ->
    [B,H,W]`` are the network's own methods; ``focal_px`` (per frame, None: unknown) is the
    camera's focal length in pixels, which a family that estimates one replaces it with.
    """

    def __init__(self, network: object) -> None:
        self.prepare = network.prepare
        self.finish = network.finish
        self.network = network


def library_processing(policy: InputPolicy, network: object) -> LibraryProcessing | None:
    """Return the network's own processing when its family's policy says so (else None).

    Raises:
        ValueError: the policy is ``'library'`` but the network has no ``prepare``/``finish``.

    """
    if policy.aspect != LIBRARY:
        return None
    if not (callable(getattr(network, 'prepare', None))
            and callable(getattr(network, 'finish', None))):
        raise ValueError(f'{type(network).__name__}: its family processes images with its own '
                         'library (input aspect "library") but the network has no prepare() '
                         'and finish()')
    return LibraryProcessing(network)


def target_size(height: int, width: int, input_size: int = 518,
                multiple: int = PATCH) -> tuple[int, int]:
    """Network input size (h, w) for an image: keep aspect, short side >= ``input_size``.

    One scale s = max(input_size/height, input_size/width) for both sides; each side is
    rounded to a multiple of 14 half-to-even (numpy rounding), or rounded up when that falls
    below ``input_size``. 480x640 -> 518x686 at 518, 364x490 at 364.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f'image size must be positive, got {height}x{width}')
    s = max(input_size / height, input_size / width)

    def side(x: float) -> int:
        y = int(np.round(x / multiple) * multiple)
        return int(math.ceil(x / multiple) * multiple) if y < input_size else y

    return side(s * height), side(s * width)


def validate_input_size(input_size: int) -> int:
    """Return ``input_size`` if it is a positive multiple of 14, else raise ValueError."""
    if isinstance(input_size, bool) or not isinstance(input_size, (int, np.integer)):
        raise ValueError(f'input_size must be an int, got {input_size!r}')
    if input_size < PATCH or input_size % PATCH:
        lo = max(PATCH, input_size // PATCH * PATCH)
        raise ValueError(f'input_size must be a positive multiple of {PATCH} (e.g. 518, 364, '
                         f'266), got {input_size}; use {lo} or {lo + PATCH}')
    return int(input_size)


def validate_image(image: np.ndarray, encoding: str) -> np.ndarray:
    """Check an image against its encoding; return it as HxWxC uint8 (C = 1, 3 or 4)."""
    if encoding not in ENCODINGS:
        raise ValueError(f'unsupported encoding {encoding!r}; use one of '
                         f'{", ".join(ENCODINGS)} (convert other formats with cv2.cvtColor)')
    if not isinstance(image, np.ndarray):
        raise ValueError(f'image must be a numpy array, got {type(image).__name__}')
    if image.size == 0:
        raise ValueError(f'image is empty (shape {image.shape}); check the camera/decoder')
    if image.dtype != np.uint8:
        hint = ''
        if np.issubdtype(image.dtype, np.floating):
            hint = (' (it contains NaN/inf)' if not np.isfinite(image).all() else '') + \
                '; for floats in [0, 1] use (img * 255).round().astype(np.uint8)'
        raise ValueError(f'{encoding} images must be uint8, got {image.dtype}{hint}')
    channels = ENCODINGS[encoding][0]
    if image.ndim == 2 and channels == 1:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] != channels:
        raise ValueError(f'encoding {encoding!r} needs HxWx{channels} '
                         f'{"(or HxW) " if channels == 1 else ""}arrays, got shape '
                         f'{image.shape}; pass the matching encoding '
                         '(bgr8/rgb8: 3 channels, bgra8/rgba8: 4, mono8: 1)')
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f'image {image.shape[1]}x{image.shape[0]} is too small; need at '
                         'least 2x2 pixels')
    return image


def to_rgb(image: np.ndarray, encoding: str) -> np.ndarray:
    """HxWxC uint8 in ``encoding`` -> HxWx3 uint8 RGB (alpha dropped, mono replicated)."""
    image = validate_image(image, encoding)
    order = list(ENCODINGS[encoding][1])
    if encoding == 'rgb8':
        return image
    return np.ascontiguousarray(image[:, :, order])


def preprocess_exact(image: np.ndarray, encoding: str = 'bgr8',
                     input_size: int = 518) -> Tensor:
    """Official preprocessing (float64 OpenCV): HxWxC uint8 -> [1,3,h,w] float32 on CPU."""
    rgb = to_rgb(image, encoding).astype(np.float64) / 255.0  # (H, W, 3) in [0, 1]
    th, tw = target_size(rgb.shape[0], rgb.shape[1], input_size)
    rgb = cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_CUBIC)  # (h, w, 3) float64
    rgb = (rgb - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    chw = np.ascontiguousarray(rgb.transpose(2, 0, 1)).astype(np.float32)  # (3, h, w)
    return torch.from_numpy(chw)[None]


def preprocess_fast_cpu(image: np.ndarray, encoding: str = 'bgr8',
                        input_size: int = 518) -> Tensor:
    """CPU fast path: float32 OpenCV bicubic, HxWxC uint8 -> [1,3,h,w] float32.

    Same maths as :func:`preprocess_exact` in float32, in the cheapest order: the [0,255]
    frame is resized first (OpenCV's SIMD float32 resize, about twice as fast as torch's
    bicubic kernel on a CPU), then one pass per channel picks R, G, B, normalises and writes
    the planar output. Normalising after the resize is exact maths (the bicubic weights sum
    to one); the float32 rounding differs from :func:`preprocess_fast` by ~1e-6.
    """
    image = validate_image(image, encoding)
    th, tw = target_size(image.shape[0], image.shape[1], input_size)
    resized = cv2.resize(image.astype(np.float32), (tw, th), interpolation=cv2.INTER_CUBIC)
    if resized.ndim == 2:  # OpenCV drops a single channel
        resized = resized[:, :, None]
    out = np.empty((1, 3, th, tw), np.float32)
    for c, src in enumerate(ENCODINGS[encoding][1]):
        np.multiply(resized[:, :, src], _SCALE[c], out=out[0, c])
        out[0, c] -= _OFFSET[c]
    return torch.from_numpy(out)


def preprocess_fast(images: Tensor, encoding: str = 'bgr8', input_size: int = 518) -> Tensor:
    """Device-side preprocessing: uint8 [B,H,W,C] -> [B,3,h,w] float32 normalised RGB.

    Normalising before resizing is exact maths (bicubic weights sum to one) and cheaper when
    the network input is larger than the frame.
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f'expected a uint8 [B,H,W,C] tensor, got {images.dtype} '
                         f'{tuple(images.shape)}')
    order = list(ENCODINGS[encoding][1])
    b, h, w, _ = images.shape
    x = images.permute(0, 3, 1, 2)[:, order].float()  # (B, 3, H, W) RGB in [0, 255]
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    x = (x * (1.0 / 255.0) - mean) / std
    th, tw = target_size(h, w, input_size)
    return F.interpolate(x, size=(th, tw), mode='bicubic', align_corners=False)  # (B,3,h,w)


def postprocess(pred: Tensor, size: Sequence[int]) -> Tensor:
    """Network output [B,h,w] -> [B,H,W] float32 at the image size (bilinear, corners aligned)."""
    pred = pred.float()[:, None]  # (B, 1, h, w)
    if tuple(pred.shape[-2:]) != tuple(size):
        pred = F.interpolate(pred, size=tuple(size), mode='bilinear', align_corners=True)
    return pred[:, 0]  # (B, H, W)
