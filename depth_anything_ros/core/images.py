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

"""Camera images as arrays: encodings, size limits, compressed headers, colours, millimetres.

numpy and OpenCV only. The message side (``ros.conversions``) reads and writes these arrays;
the per-frame pipeline and the offline tools use them without any message package.
"""

from __future__ import annotations

import array
from dataclasses import dataclass

import numpy as np

from depth_anything_ros.core.geometry import cloud_dtype
from depth_anything_ros.params import spec

__all__ = ['ENCODINGS', 'INPUT_ENCODINGS', 'CloudBuffer', 'ImageFormatError', 'ImageLimits',
           'check_image_size', 'compressed_header', 'depth_to_mm', 'to_rgb']

# encoding -> (numpy dtype, channels), for every encoding this module reads or writes.
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    'rgb8': (np.dtype(np.uint8), 3), 'bgr8': (np.dtype(np.uint8), 3),
    'rgba8': (np.dtype(np.uint8), 4), 'bgra8': (np.dtype(np.uint8), 4),
    'mono8': (np.dtype(np.uint8), 1), '8UC1': (np.dtype(np.uint8), 1),
    'mono16': (np.dtype(np.uint16), 1), '16UC1': (np.dtype(np.uint16), 1),
    '32FC1': (np.dtype(np.float32), 1),
}
# Colour encodings the depth network accepts as camera input.
INPUT_ENCODINGS: tuple[str, ...] = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8')


class ImageFormatError(ValueError):
    """A message that cannot be converted; the text says what is wrong and how to fix it."""


@dataclass(frozen=True)
class ImageLimits:
    """The image sizes worth running the network on (parameters of the same names).

    ``max_pixels`` bounds the memory of one frame (decoded pixels, depth, cloud: about 40 bytes
    a pixel); ``max_aspect_ratio`` bounds the network input, whose short side is scaled to
    ``input_size``, so its token count grows with the aspect ratio; ``min_side`` is one
    14-pixel patch. The defaults are the parameters' (params.SCHEMA).
    """

    min_side: int = spec('min_image_side').default
    max_aspect_ratio: float = spec('max_aspect_ratio').default
    max_pixels: int = spec('max_image_pixels').default


def check_image_size(width: int, height: int, limits: ImageLimits) -> None:
    """Raise ImageFormatError when a ``width`` x ``height`` image is outside ``limits``."""
    if min(width, height) < limits.min_side:
        raise ImageFormatError(
            f'image is {width}x{height}: a side is below min_image_side ({limits.min_side} '
            'pixels); publish a larger image or lower min_image_side')
    if width * height > limits.max_pixels:
        raise ImageFormatError(
            f'image is {width}x{height} = {width * height} pixels, over max_image_pixels '
            f'({limits.max_pixels}); downscale it (image_proc resize) or raise max_image_pixels')
    aspect = max(width, height) / min(width, height)
    if aspect > limits.max_aspect_ratio:
        raise ImageFormatError(
            f'image is {width}x{height}: aspect ratio {aspect:.1f} is over max_aspect_ratio '
            f'({limits.max_aspect_ratio:g}); crop it or raise max_aspect_ratio')


_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# JPEG start-of-frame markers (baseline, progressive, lossless, ...): they carry the size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def compressed_header(data: bytes) -> tuple[str, int, int, int] | None:
    """Return ``(format, width, height, bits per sample)`` from a PNG or JPEG header, else None.

    Reads the PNG IHDR chunk or walks the JPEG markers to the first start-of-frame segment:
    a few bytes, no decoding.
    """
    if data[:8] == _PNG_SIGNATURE:
        if len(data) < 25 or data[12:16] != b'IHDR':
            return None
        width, height = int.from_bytes(data[16:20], 'big'), int.from_bytes(data[20:24], 'big')
        return 'png', width, height, data[24]
    if data[:2] != b'\xff\xd8':
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:              # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):   # standalone markers: no length
            i += 2
            continue
        length = int.from_bytes(data[i + 2:i + 4], 'big')
        if marker in _JPEG_SOF:
            if i + 9 > len(data):
                return None
            height = int.from_bytes(data[i + 5:i + 7], 'big')
            width = int.from_bytes(data[i + 7:i + 9], 'big')
            return 'jpeg', width, height, data[i + 4]
        if marker == 0xDA or length < 2:          # scan data before any frame header
            return None
        i += 2 + length
    return None


def to_rgb(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """Return uint8 ``(H, W, 3)`` R, G, B for any input encoding (for coloured clouds)."""
    if encoding == 'rgb8':
        return pixels
    if encoding == 'bgr8':
        return pixels[..., ::-1]
    if encoding == 'rgba8':
        return pixels[..., :3]
    if encoding == 'bgra8':
        return pixels[..., 2::-1]
    if encoding == 'mono8':
        return np.repeat(pixels[..., None], 3, axis=2)
    raise ImageFormatError(f'cannot colour a cloud from encoding {encoding!r}')


def depth_to_mm(depth_m: np.ndarray) -> np.ndarray:
    """Return 16UC1 millimetres from float metres: NaN / non-positive / over 65.535 m -> 0."""
    with np.errstate(invalid='ignore'):
        mm = np.rint(depth_m * 1000.0)
        valid = np.isfinite(mm) & (mm > 0) & (mm <= 65535)
    return np.where(valid, mm, 0).astype(np.uint16)


class CloudBuffer:
    """Reusable storage for one topic's clouds: packing writes into the message's own bytes.

    A 640x480 XYZRGB cloud is 4.9 MB. Building it with ``tobytes()`` and the message's
    ``data`` setter costs two fresh copies per frame, and fresh multi-megabyte allocations
    page-fault on every frame (measured: 1 ms with reused memory, 10-20 ms without). Here
    :meth:`points` returns a structured view of a persistent ``array.array('B')`` and
    the ROS side (``ros.conversions.output_messages``) hands that array to the message without
    copying. ``publish()`` serialises
    synchronously, so the buffer can be refilled for the next frame once it returns.
    """

    def __init__(self) -> None:
        self._data = array.array('B')
        self._view: np.ndarray | None = None

    def points(self, height: int, width: int, rgb: bool) -> np.ndarray:
        """Return a writable structured ``(height, width)`` view of the buffer."""
        dtype = cloud_dtype(rgb)
        if self._view is None or self._view.shape != (height, width) or \
                self._view.dtype != dtype:
            self._data = array.array('B', bytes(height * width * dtype.itemsize))
            self._view = np.frombuffer(self._data, dtype).reshape(height, width)
        return self._view

    @property
    def view(self) -> np.ndarray | None:
        """The last :meth:`points` view (None before the first call)."""
        return self._view

    @property
    def storage(self) -> array.array:
        """The byte array the last :meth:`points` view writes into (a message takes it as is)."""
        return self._data
