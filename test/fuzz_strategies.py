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

"""Hypothesis strategies for hostile camera input: Image, CompressedImage and CameraInfo.

Each strategy mixes well-formed messages with the ways real drivers and bags get them wrong
(unknown encodings, wrong steps, truncated buffers, extreme aspect ratios, decompression bombs,
uncalibrated or non-finite CameraInfo, binning and ROI beyond the sensor), so one property
("only the documented errors escape, and the next good frame still works") covers them all.
"""

from __future__ import annotations

import struct
import zlib

import cv2
from hypothesis import settings
from hypothesis import strategies as st
import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from depth_anything_ros.ros.conversions import camera_info_from_k

# encoding -> (bytes per channel, channels); the last rows are not camera-input encodings.
PIXEL_LAYOUT = {'rgb8': (1, 3), 'bgr8': (1, 3), 'rgba8': (1, 4), 'bgra8': (1, 4),
                'mono8': (1, 1), '8UC1': (1, 1), 'mono16': (2, 1), '16UC1': (2, 1),
                '32FC1': (4, 1)}
INVALID_ENCODINGS = ('', 'bayer_rggb8', 'rgb16', '8UC3', 'yuv422', 'RGB8', 'mono8 ',
                     'rgb8\x00')

# Odd sizes first: 0, 1, 2, and aspect ratios far beyond any camera (a 2000x2 line sensor).
_SIDES = st.one_of(st.integers(0, 3), st.integers(4, 48), st.integers(14, 64),
                   st.sampled_from([97, 255, 1000, 2000]))


def examples(fraction: float) -> int:
    """Return ``fraction`` of the profile's max_examples (at least 5), for slow properties."""
    return max(5, int(settings.default.max_examples * fraction))


def _image_msg(encoding: str, width: int, height: int, step: int, data: bytes,
               bigendian: int) -> Image:
    msg = Image()
    msg.header.frame_id = 'camera_optical_frame'
    msg.encoding = encoding
    msg.width, msg.height, msg.step = width, height, step
    msg.is_bigendian = bigendian
    msg.data = data
    return msg


@st.composite
def images(draw: st.DrawFn, max_bytes: int = 200_000) -> Image:
    """Draw Image messages: any encoding, odd sizes, wrong steps, wrong data lengths."""
    encoding = draw(st.one_of(st.sampled_from(['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8']),
                              st.sampled_from(sorted(PIXEL_LAYOUT)),
                              st.sampled_from(INVALID_ENCODINGS), st.text(max_size=12)))
    width, height = draw(_SIDES), draw(_SIDES)
    size, channels = PIXEL_LAYOUT.get(encoding, (1, 3))
    row = width * size * channels
    step = draw(st.one_of(st.just(row), st.just(row), st.integers(row, row + 9),
                          st.integers(0, max(row - 1, 0)), st.integers(0, 2**32 - 1)))
    length = height * step
    if length > max_bytes:   # keep memory bounded: such a frame is truncated on purpose
        length = draw(st.integers(0, max_bytes))
    elif draw(st.integers(0, 3)):
        length = height * step
    else:
        length = draw(st.integers(0, length + 16))
    seed = draw(st.integers(0, 255))
    data = ((np.arange(length, dtype=np.uint32) * 7 + seed) % 256).astype(np.uint8).tobytes()
    return _image_msg(encoding, width, height, step, data, draw(st.integers(0, 1)))


@st.composite
def valid_images(draw: st.DrawFn, min_side: int = 14, max_side: int = 64) -> Image:
    """Draw well-formed camera images (input encodings, moderate aspect ratio, padded rows)."""
    encoding = draw(st.sampled_from(['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8']))
    width = draw(st.integers(min_side, max_side))
    height = draw(st.integers(max(min_side, width // 3), min(max_side, width * 3)))
    _, channels = PIXEL_LAYOUT[encoding]
    pad = draw(st.sampled_from([0, 0, 3, 8]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    pixels = rng.integers(0, 256, (height, width * channels + pad), dtype=np.uint8)
    return _image_msg(encoding, width, height, width * channels + pad, pixels.tobytes(), 0)


def png_bomb(width: int, height: int, channels: int = 1) -> bytes:
    """Return a valid PNG of an all-zero ``width`` x ``height`` image: a few KB that decode to GB.

    Rows are compressed one at a time so building the file never holds the whole image.
    """
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    comp = zlib.compressobj(9)
    row = bytes(1 + width * channels)          # filter byte 0 + zero pixels
    body = b''.join(comp.compress(row) for _ in range(height)) + comp.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack('>I', len(payload)) + kind + payload + struct.pack('>I', crc)

    ihdr = struct.pack('>IIBBBBB', width, height, 8, color_type, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', body)
            + chunk(b'IEND', b''))


def png_header_only(width: int, height: int) -> bytes:
    """Return a PNG whose IHDR claims ``width`` x ``height`` but whose pixel data is cut short."""
    full = png_bomb(1, 1)
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    crc = zlib.crc32(b'IHDR' + ihdr) & 0xFFFFFFFF
    return full[:8] + struct.pack('>I', 13) + b'IHDR' + ihdr + struct.pack('>I', crc) + \
        full[33:]


def jpeg_claiming(width: int, height: int) -> bytes:
    """Return a small JPEG whose SOF0 frame header is patched to claim ``width`` x ``height``."""
    ok, buf = cv2.imencode('.jpg', np.zeros((8, 8), np.uint8))
    data = bytearray(buf.tobytes())
    sof = data.find(b'\xff\xc0')
    data[sof + 5:sof + 9] = struct.pack('>HH', height, width)
    return bytes(data)


def compressed_msg(data: bytes, fmt: str) -> CompressedImage:
    msg = CompressedImage()
    msg.header.frame_id = 'camera_optical_frame'
    msg.format = fmt
    msg.data = data
    return msg


@st.composite
def compressed_images(draw: st.DrawFn) -> CompressedImage:
    """Draw CompressedImage: valid JPEG/PNG, corrupt or cut bytes, huge-size headers, bombs."""
    kind = draw(st.sampled_from(['valid', 'corrupt', 'cut', 'random', 'bomb', 'png_header',
                                 'jpeg_header', 'valid', 'valid', 'valid']))
    fmt = draw(st.sampled_from(['jpeg', 'png', 'bgr8; jpeg compressed bgr8', 'rgb8; png',
                                'jpeg', 'png', '', '16UC1; compressedDepth png']))
    if kind == 'random':
        return compressed_msg(draw(st.binary(max_size=256)), fmt)
    if kind == 'bomb':
        side = draw(st.sampled_from([(12000, 12000), (200000, 2), (2, 200000)]))
        return compressed_msg(_cached_bomb(*side), fmt)
    if kind == 'png_header':
        return compressed_msg(png_header_only(draw(st.integers(1, 2**31 - 1)),
                                              draw(st.integers(1, 2**31 - 1))), fmt)
    if kind == 'jpeg_header':
        return compressed_msg(jpeg_claiming(draw(st.integers(1, 65535)),
                                            draw(st.integers(1, 65535))), fmt)
    width, height = draw(st.integers(10, 64)), draw(st.integers(14, 64))
    channels = draw(st.sampled_from([1, 3, 4]))
    ext = '.png' if channels == 4 else draw(st.sampled_from(['.jpg', '.png']))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    shape = (height, width) if channels == 1 else (height, width, channels)
    data = cv2.imencode(ext, rng.integers(0, 256, shape, dtype=np.uint8))[1].tobytes()
    if kind == 'corrupt':
        pos = draw(st.integers(0, len(data) - 1))
        data = data[:pos] + bytes([data[pos] ^ draw(st.integers(1, 255))]) + data[pos + 1:]
    elif kind == 'cut':
        data = data[:draw(st.integers(0, len(data) - 1))]
    return compressed_msg(data, fmt)


_BOMBS: dict[tuple[int, int], bytes] = {}


def _cached_bomb(width: int, height: int) -> bytes:
    if (width, height) not in _BOMBS:
        _BOMBS[width, height] = png_bomb(width, height)
    return _BOMBS[width, height]


# Values that break arithmetic: NaN, inf, overflow, zero, negative, tiny.
_HOSTILE = st.sampled_from([float('nan'), float('inf'), -float('inf'), 1e308, -1e308, 0.0,
                            -1.0, 5e-324, 1e-300])


def _hostile_entry(draw: st.DrawFn, values: list[float]) -> list[float]:
    """Return a copy of ``values`` with one entry replaced by a hostile number."""
    values = list(values)
    values[draw(st.integers(0, len(values) - 1))] = draw(_HOSTILE)
    return values


@st.composite
def camera_infos(draw: st.DrawFn, width: int, height: int) -> CameraInfo:
    """Draw a CameraInfo for a ``width`` x ``height`` image: plausible, often subtly hostile.

    A consistent calibration (the image's size, a rescaled one, binned, or an ROI of a larger
    sensor), then, in most examples, one to three kinds of damage.
    """
    info = CameraInfo()
    info.header.frame_id = 'camera_optical_frame'
    layout = draw(st.sampled_from(['plain', 'scaled', 'binned', 'roi']))
    cw, ch = width, height
    if layout == 'scaled':
        scale = draw(st.sampled_from([2, 3, 0.5]))
        cw, ch = max(1, round(width * scale)), max(1, round(height * scale))
    elif layout == 'binned':
        info.binning_x = info.binning_y = b = draw(st.integers(1, 4))
        cw, ch = width * b, height * b
    elif layout == 'roi':
        info.roi.x_offset, info.roi.y_offset = draw(st.integers(0, 50)), draw(st.integers(0, 50))
        info.roi.width, info.roi.height = width, height
        cw, ch = width + info.roi.x_offset + 10, height + info.roi.y_offset + 10
    info.width, info.height = cw, ch
    fx, fy = draw(st.floats(1.0, 2000.0)), draw(st.floats(1.0, 2000.0))
    cx, cy = draw(st.floats(0.0, cw)), draw(st.floats(0.0, ch))
    info.distortion_model = draw(st.sampled_from(['plumb_bob', 'rational_polynomial',
                                                  'equidistant']))
    n_d = {'plumb_bob': 5, 'rational_polynomial': 8, 'equidistant': 4}[info.distortion_model]
    d = [draw(st.floats(-0.3, 0.3)) for _ in range(n_d)]
    k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    damages = draw(st.lists(st.sampled_from([
        'k', 'p', 'p_zero', 'r', 'd', 'd_length', 'model', 'binning', 'roi', 'size',
        'cx_huge']), max_size=3)) if draw(st.integers(0, 4)) else []
    for damage in damages:
        if damage == 'k':
            k = _hostile_entry(draw, k)
        elif damage == 'p':
            p = _hostile_entry(draw, p)
        elif damage == 'p_zero':
            p = [0.0] * 12
        elif damage == 'r':
            r = _hostile_entry(draw, r)
        elif damage == 'd':
            d = _hostile_entry(draw, d or [0.0])
        elif damage == 'd_length':
            d = d[:draw(st.integers(0, 3))] + [0.0] * draw(st.sampled_from([0, 9]))
        elif damage == 'model':
            info.distortion_model = draw(st.sampled_from(['', 'fisheye', 'unknown_model']))
        elif damage == 'binning':
            info.binning_x = draw(st.integers(0, 2000))
            info.binning_y = draw(st.integers(0, 2000))
        elif damage == 'roi':
            info.roi.x_offset = draw(st.integers(0, 6000))
            info.roi.y_offset = draw(st.integers(0, 6000))
            info.roi.width = draw(st.integers(0, 6000))
            info.roi.height = draw(st.integers(0, 6000))
        elif damage == 'size':
            info.width, info.height = draw(st.integers(0, 5000)), draw(st.integers(0, 5000))
        else:
            k[2] = p[2] = draw(st.sampled_from([1e308, -1e308, 1e30, 1e12]))
    info.k, info.p, info.r, info.d = k, p, r, d
    return info


def good_camera_info(width: int, height: int, fx: float = 100.0) -> CameraInfo:
    """Return a plain calibrated CameraInfo for a ``width`` x ``height`` image (no distortion)."""
    info = camera_info_from_k(fx, fx, (width - 1) / 2, (height - 1) / 2, width, height)
    info.header.frame_id = 'camera_optical_frame'
    return info
