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

"""sensor_msgs <-> numpy: Image, CompressedImage, CameraInfo and PointCloud2.

Message types only, no rclpy: usable from tools, tests and bag readers. Every function that
reads a message validates it and raises :class:`ImageFormatError` or, for calibrations,
:class:`CameraInfoError` (both ``ValueError``) whose message names the problem and the fix; the
node turns those into throttled errors and counters. The cheap checks (:func:`check_image`,
:func:`check_compressed` from the PNG/JPEG header without decoding, :func:`check_camera_info`)
run in the node's subscription callbacks, before any work is spent on a message.
CameraInfo <-> ``geometry.CameraModel`` is a translation only: the calibration rules live in
geometry.
"""

from __future__ import annotations

import array
from collections.abc import Container
import sys
from typing import Any, TYPE_CHECKING

import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import Header

from depth_anything_ros.core.camera_stage import Calibration
from depth_anything_ros.core.geometry import CameraInfoError, CameraModel
from depth_anything_ros.core.images import (
    check_compressed,
    check_image,
    check_image_size,
    CloudBuffer,
    compressed_header,
    compressed_to_array,
    depth_to_mm,
    ENCODINGS,
    image_to_array,
    ImageFormatError,
    ImageLimits,
    INPUT_ENCODINGS,
    to_rgb,
)
from depth_anything_ros.ros import topics

if TYPE_CHECKING:   # the pipeline builds on this module; only its output type is named here
    from depth_anything_ros.core.pipeline import FrameOutputs

__all__ = [
    'INPUT_ENCODINGS', 'CameraInfoError', 'CameraModel', 'CloudBuffer', 'ImageFormatError',
    'ImageLimits', 'array_to_image', 'byte_array', 'calibration', 'camera_frame_to_array',
    'camera_info', 'camera_info_from_k', 'camera_model', 'check_camera_frame',
    'check_camera_info',
    'check_compressed', 'check_image', 'check_image_size', 'cloud_message', 'cloud_to_array',
    'cloud_xyz', 'compressed_header', 'compressed_to_array', 'depth_image_metres', 'depth_to_mm',
    'described_size', 'image_to_array', 'buffered_cloud_message', 'output_camera_info',
    'output_messages', 'stamp_ns', 'to_rgb',
]

_LITTLE = sys.byteorder == 'little'


def check_camera_frame(msg: Image | CompressedImage, limits: ImageLimits) -> None:
    """Check a camera frame of either transport without decoding it.

    Raises:
        ImageFormatError: what is wrong with the frame and how to fix it.

    """
    if isinstance(msg, CompressedImage):
        check_compressed(msg, limits)
    else:
        check_image(msg, limits, INPUT_ENCODINGS)


def camera_frame_to_array(msg: Image | CompressedImage,
                          limits: ImageLimits) -> tuple[np.ndarray, str]:
    """Return ``(pixels, encoding)`` of a camera frame checked by :func:`check_camera_frame`.

    Compressed frames are decoded (bgr8, bgra8 or mono8); raw frames are viewed as they are.

    Raises:
        ImageFormatError: a compressed frame that does not decode as its header says.

    """
    if isinstance(msg, CompressedImage):
        return compressed_to_array(msg, limits)
    return image_to_array(msg, INPUT_ENCODINGS), msg.encoding


def array_to_image(pixels: np.ndarray, encoding: str, header: Header) -> Image:
    """Return an ``Image`` holding ``pixels`` (native order, dense rows) with ``header`` as is."""
    if encoding not in ENCODINGS:
        raise ImageFormatError(f'cannot write encoding {encoding!r}')
    dtype, channels = ENCODINGS[encoding]
    expect_ndim = 2 if channels == 1 else 3
    if pixels.dtype != dtype or pixels.ndim != expect_ndim or (
            channels > 1 and pixels.shape[2] != channels):
        raise ImageFormatError(
            f'{encoding} needs {dtype} with {channels} channel(s), got {pixels.dtype} '
            f'{pixels.shape}')
    h, w = pixels.shape[:2]
    msg = Image()
    msg.header = header
    msg.height, msg.width = h, w
    msg.encoding = encoding
    msg.is_bigendian = 0 if _LITTLE else 1
    msg.step = w * channels * dtype.itemsize
    msg.data = byte_array(pixels)
    return msg


def byte_array(values: np.ndarray) -> array.array:
    """Return a copy of the bytes of ``values`` (C order) as ``array('B')``.

    The one value a generated ``uint8[]`` setter takes fast on every distribution. With
    Humble's setter checks (on Jazzy and Kilted only with ``ROS_PYTHON_CHECK_FIELDS=1``) a
    ``bytes`` value is checked byte by byte in Python while an ``array('B')`` is kept as is;
    without them both are copied once in C. A ``memoryview`` or ndarray is slow either way.
    Measured for a 640x480 32FC1 image (benchmarks/bench_publish.py, load 9): bytes 0.08 ms
    unchecked, 288 ms checked; this 0.06 / 0.04 ms. Humble's rosidl_python keeps an
    ``array('B')`` as is too.
    """
    data = array.array('B')
    data.frombytes(np.ascontiguousarray(values).reshape(-1).view(np.uint8))
    return data


def calibration(info: CameraInfo) -> Calibration:
    """Return the calibration ``info`` carries (the stage checks it and pairs it by stamp)."""
    roi = info.roi
    return Calibration(int(info.width), int(info.height), tuple(info.k), tuple(info.p),
                       tuple(info.d), tuple(info.r), info.distortion_model,
                       int(info.binning_x), int(info.binning_y),
                       (int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)))


def camera_model(info: CameraInfo, width: int, height: int) -> CameraModel:
    """Return the camera model of ``info`` for an image of ``width`` x ``height``.

    Applies the ROI and binning of ``info``; a calibration of another size with the same aspect
    ratio (a driver's scaled mode) is rescaled (see ``CameraModel.from_calibration``).

    Raises:
        CameraInfoError: a bad field (named), or a size that matches neither the image nor a
            rescaling of it.

    """
    return calibration(info).model(width, height)


def check_camera_info(msg: CameraInfo, *, rectify: bool = False) -> None:
    """Check every field of ``msg`` that the node uses, without an image (on arrival).

    Raises:
        CameraInfoError: naming the bad field and the fix.

    """
    calibration(msg).check(rectify=rectify)


def described_size(info: CameraInfo) -> tuple[int, int]:
    """Return ``(width, height)`` of the image ``info`` describes (after ROI and binning)."""
    return calibration(info).described_size


def camera_info(calib: Calibration) -> CameraInfo:
    """Return the CameraInfo message of ``calib`` (no header)."""
    info = CameraInfo()
    info.width, info.height = calib.width, calib.height
    info.distortion_model = calib.distortion_model
    info.d, info.k, info.r, info.p = list(calib.d), list(calib.k), list(calib.r), list(calib.p)
    info.binning_x, info.binning_y = calib.binning_x, calib.binning_y
    (info.roi.x_offset, info.roi.y_offset, info.roi.width, info.roi.height) = calib.roi
    return info


def camera_info_from_k(fx: float, fy: float, cx: float, cy: float, width: int,
                       height: int) -> CameraInfo:
    """Return a distortion-free CameraInfo (K = P) from intrinsics given as parameters."""
    return camera_info(Calibration.from_intrinsics(fx, fy, cx, cy, width, height))


def output_camera_info(model: CameraModel, header: Header) -> CameraInfo:
    """Return the CameraInfo of an output image described by ``model`` (binning/ROI folded in)."""
    info = CameraInfo()
    info.header = header
    info.width, info.height = model.intrinsics.width, model.intrinsics.height
    info.distortion_model = model.distortion_model
    info.d = list(model.d)
    info.k = model.k.reshape(-1).tolist()
    info.r = model.r.reshape(-1).tolist()
    info.p = model.p.reshape(-1).tolist()
    return info


def cloud_message(points: np.ndarray, header: Header) -> PointCloud2:
    """Return an organized PointCloud2 from a structured ``(H, W)`` cloud (geometry.pack_cloud)."""
    if points.ndim != 2 or points.dtype.names is None:
        raise ValueError(f'points must be a structured (H, W) array, got {points.dtype} '
                         f'{points.shape}')
    msg = _cloud_header(points.shape, points.dtype, header)
    msg.data = byte_array(points)
    return msg


_FIELD_TYPES = {np.dtype('float32'): PointField.FLOAT32, np.dtype('float64'): PointField.FLOAT64,
                np.dtype('uint8'): PointField.UINT8, np.dtype('uint32'): PointField.UINT32,
                np.dtype('int32'): PointField.INT32, np.dtype('uint16'): PointField.UINT16}


def _cloud_header(shape: tuple[int, ...], dtype: np.dtype, header: Header) -> PointCloud2:
    """Return a PointCloud2 with every field but ``data`` set, from a structured dtype."""
    h, w = shape
    msg = PointCloud2()
    msg.header = header
    msg.height, msg.width = h, w
    fields = []
    for name in dtype.names:
        ftype, offset = dtype.fields[name][:2]
        fields.append(PointField(name=name, offset=offset, count=1,
                                 datatype=_FIELD_TYPES[ftype.newbyteorder('=')]))
    msg.fields = fields
    msg.is_bigendian = not _LITTLE
    msg.point_step = dtype.itemsize
    msg.row_step = dtype.itemsize * w
    msg.is_dense = False  # organized: invalid cells are NaN
    return msg


def buffered_cloud_message(buffer: CloudBuffer, header: Header) -> PointCloud2:
    """Return the cloud message over ``buffer``'s last ``points`` view, without a copy."""
    view = buffer.view
    if view is None:
        raise RuntimeError('buffered_cloud_message() before CloudBuffer.points()')
    msg = _cloud_header(view.shape, view.dtype, header)
    msg._data = buffer.storage   # the generated setter would copy; this array is already 'B'
    return msg


def output_messages(outputs: FrameOutputs, header: Header, depth_encoding: str,
                    cloud: CloudBuffer, only: Container[str] | None = None) -> dict[str, Any]:
    """Return one processed frame's messages by output topic name (see topics.py).

    The node publishes them and ``process-bag`` writes them, so a frame gives the same messages
    live and offline. Every message carries ``header`` unchanged. ``depth_encoding`` is the one
    ``outputs.depth`` is encoded in (32FC1 metres or 16UC1 millimetres); ``cloud`` is the
    buffer the pipeline packed ``outputs.cloud`` into. ``only``: the topic names to build
    (None: every output present); messages nobody reads are never built.
    """
    def wanted(topic: topics.Topic, value: object) -> bool:
        return value is not None and (only is None or topic.name in only)

    messages: dict[str, Any] = {}
    if wanted(topics.DEPTH_IMAGE, outputs.depth):
        messages[topics.DEPTH_IMAGE.name] = array_to_image(outputs.depth, depth_encoding, header)
    if wanted(topics.DISPARITY_IMAGE, outputs.disparity):
        messages[topics.DISPARITY_IMAGE.name] = array_to_image(outputs.disparity, '32FC1',
                                                               header)
    if wanted(topics.DEPTH_CAMERA_INFO, outputs.camera):
        messages[topics.DEPTH_CAMERA_INFO.name] = output_camera_info(outputs.camera, header)
    if wanted(topics.DEPTH_COLORED, outputs.colored):
        messages[topics.DEPTH_COLORED.name] = array_to_image(outputs.colored, 'bgr8', header)
    if wanted(topics.POINTS, outputs.cloud):
        messages[topics.POINTS.name] = buffered_cloud_message(cloud, header)
    if wanted(topics.DEPTH_CONFIDENCE, outputs.confidence):
        messages[topics.DEPTH_CONFIDENCE.name] = array_to_image(outputs.confidence, '32FC1',
                                                                header)
    return messages


def stamp_ns(header: Header) -> int:
    """Return ``header.stamp`` in integer nanoseconds."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


_POINTFIELD_DTYPES = {PointField.INT8: 'i1', PointField.UINT8: 'u1', PointField.INT16: 'i2',
                      PointField.UINT16: 'u2', PointField.INT32: 'i4', PointField.UINT32: 'u4',
                      PointField.FLOAT32: 'f4', PointField.FLOAT64: 'f8'}


def cloud_to_array(msg: PointCloud2) -> np.ndarray:
    """Return the cloud as a structured array ``(height, width)`` with one field per PointField."""
    order = '>' if msg.is_bigendian else '<'
    dtype = np.dtype({'names': [f.name for f in msg.fields],
                      'formats': [order + _POINTFIELD_DTYPES[f.datatype] for f in msg.fields],
                      'offsets': [f.offset for f in msg.fields],
                      'itemsize': msg.point_step})
    rows = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.row_step)
    return rows[:, :msg.width * msg.point_step].copy().view(dtype).reshape(msg.height, msg.width)


def depth_image_metres(msg: Image) -> np.ndarray:
    """Return a depth image (32FC1 metres or 16UC1 millimetres) as float32 metres, NaN = none.

    Raises:
        ImageFormatError: another encoding, or a malformed message.

    """
    pixels = image_to_array(msg, ('32FC1', '16UC1'))
    if msg.encoding == '16UC1':
        mm = pixels.astype(np.float32)
        return np.where(pixels > 0, mm * np.float32(1e-3), np.float32(np.nan))
    with np.errstate(invalid='ignore'):
        return np.where(pixels > 0, pixels, np.float32(np.nan)).astype(np.float32)


def cloud_xyz(msg: PointCloud2) -> np.ndarray:
    """Return the finite points of a cloud as ``(N, 3)`` float64 (its x, y, z fields).

    Raises:
        ValueError: the cloud has no x, y and z fields.

    """
    names = {f.name for f in msg.fields}
    if not {'x', 'y', 'z'} <= names:
        raise ValueError(f'the cloud has fields {sorted(names)}; x, y and z are needed')
    cloud = cloud_to_array(msg).reshape(-1)
    xyz = np.stack([cloud['x'], cloud['y'], cloud['z']], -1).astype(np.float64)
    return xyz[np.isfinite(xyz).all(1)]
