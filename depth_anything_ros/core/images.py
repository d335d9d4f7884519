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

"""Camera images as arrays: encodings, size limits, decoding, colours, millimetres.

numpy and OpenCV only. The one decoder of each image message type lives here: raw ``Image``
(:func:`image_to_array`) and ``CompressedImage`` (:func:`compressed_to_array`), each with its
cheap check; they read the message's fields only, so they take sensor_msgs messages (the node,
through ``ros.conversions``) and rosbags' own message objects (training sources) alike. The
per-frame pipeline and the offline tools use these arrays without any message package.
"""

from __future__ import annotations

import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from depth_anything_ros.core.geometry import cloud_dtype
from depth_anything_ros.params import spec

__all__ = ['ENCODINGS', 'INPUT_ENCODINGS', 'CloudBuffer', 'ImageFormatError', 'ImageLimits',
           'check_compressed', 'check_image', 'check_image_size', 'compressed_header',
           'compressed_to_array', 'depth_to_mm', 'image_to_array', 'to_rgb']

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


def check_image(msg: Any, limits: ImageLimits | None = None,
                encodings: tuple[str, ...] | None = INPUT_ENCODINGS,
                layouts: Mapping[str, tuple[np.dtype, int]] = ENCODINGS) -> None:
    """Check the structure of a raw ``Image`` (encoding, size, step, data length) cheaply.

    ``msg`` is a sensor_msgs/Image or anything with its fields; ``layouts`` maps the
    encodings known to their dtype and channels (default: :data:`ENCODINGS`).

    Raises:
        ImageFormatError: naming the problem and the fix.

    """
    enc = msg.encoding
    allowed = tuple(layouts) if encodings is None else encodings
    if enc not in allowed or enc not in layouts:
        raise ImageFormatError(
            f'unsupported image encoding {enc!r}; publish one of {", ".join(allowed)} '
            "(e.g. the camera driver's rgb8/bgr8 stream, or image_proc's debayered output)")
    dtype, channels = layouts[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h == 0 or w == 0:
        raise ImageFormatError(f'empty image ({w}x{h}); the camera published no pixels')
    row = w * channels * dtype.itemsize
    if step < row:
        raise ImageFormatError(
            f'image step {step} is smaller than width*pixel size = {row} bytes ({enc}, width {w})')
    if len(msg.data) != h * step:
        raise ImageFormatError(
            f'image data is {len(msg.data)} bytes but height*step = {h}*{step} = {h * step}; '
            'the message is truncated or its step is wrong')
    if limits is not None:
        check_image_size(w, h, limits)


def image_to_array(msg: Any, encodings: tuple[str, ...] | None = None,
                   layouts: Mapping[str, tuple[np.dtype, int]] = ENCODINGS) -> np.ndarray:
    """Return the pixels of a raw ``Image`` as ``(H, W)`` or ``(H, W, C)``, native byte order.

    Row padding (``step > width * pixel size``) is dropped; the result is a view of the message
    buffer when no byte swap is needed. ``encodings`` restricts what is accepted; ``layouts``
    as :func:`check_image`.
    """
    check_image(msg, None, encodings, layouts)
    dtype, channels = layouts[msg.encoding]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    row = w * channels * dtype.itemsize
    buf = np.frombuffer(msg.data, np.uint8).reshape(h, step)[:, :row]       # (H, row bytes)
    if dtype.itemsize > 1:
        order = '>' if msg.is_bigendian else '<'
        arr = np.ascontiguousarray(buf).view(dtype.newbyteorder(order)).astype(dtype, copy=False)
    else:
        arr = buf
    return arr.reshape(h, w) if channels == 1 else arr.reshape(h, w, channels)


def check_compressed(msg: Any, limits: ImageLimits | None = None) -> tuple[int, int]:
    """Check a ``CompressedImage`` from its header bytes before decoding; return ``(w, h)``.

    Raises:
        ImageFormatError: a depth transport, no bytes, not an 8-bit JPEG/PNG, or a size outside
            ``limits`` (so a small file that decodes to gigabytes is never decoded).

    """
    fmt = msg.format.lower()
    if 'compresseddepth' in fmt:
        raise ImageFormatError(
            f'CompressedImage format {msg.format!r} is a depth transport, not a camera image; '
            "subscribe the node to the colour camera's image/compressed topic")
    if len(msg.data) == 0:
        raise ImageFormatError('empty CompressedImage: the camera published no bytes')
    header = compressed_header(bytes(msg.data[:65536]))
    if header is None:
        raise ImageFormatError(
            f'CompressedImage (format {msg.format!r}, {len(msg.data)} bytes) has no JPEG or PNG '
            'header; only JPEG and PNG are supported')
    kind, width, height, bits = header
    if bits != 8:
        raise ImageFormatError(f'CompressedImage is a {bits}-bit {kind}; only 8-bit images are '
                               'supported (use a jpeg or 8-bit png transport)')
    if width == 0 or height == 0:
        raise ImageFormatError(f'CompressedImage {kind} header gives a {width}x{height} image')
    if limits is not None:
        check_image_size(width, height, limits)
    return width, height


def compressed_to_array(msg: Any,
                        limits: ImageLimits | None = None) -> tuple[np.ndarray, str]:
    """Decode a JPEG/PNG ``CompressedImage``; return ``(pixels, encoding)``, bgr8/bgra8/mono8.

    The header is checked first (:func:`check_compressed`, with ``limits`` or the defaults).
    """
    width, height = check_compressed(msg, ImageLimits() if limits is None else limits)
    img = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageFormatError(
            f'CompressedImage (format {msg.format!r}, {len(msg.data)} bytes) could not be '
            'decoded; only JPEG and PNG are supported')
    if img.shape[:2] != (height, width):
        raise ImageFormatError(f'CompressedImage decodes to {img.shape[1]}x{img.shape[0]}, '
                               f'not the {width}x{height} of its header')
    if img.dtype != np.uint8:
        raise ImageFormatError(f'CompressedImage decodes to {img.dtype}; only 8-bit images are '
                               'supported (use a jpeg or 8-bit png transport)')
    if img.ndim == 2:
        return img, 'mono8'
    if img.shape[2] == 3:
        return img, 'bgr8'
    if img.shape[2] == 4:
        return img, 'bgra8'
    raise ImageFormatError(
        f'CompressedImage decodes to {img.shape[2]} channels; expected 1, 3 or 4')


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
