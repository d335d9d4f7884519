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

"""Message <-> numpy conversions: every encoding, padding, byte order, CameraInfo, clouds."""

from __future__ import annotations

import array
import os

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header

from depth_anything_ros.core.geometry import pack_cloud, PixelMap, RayGrid
from depth_anything_ros.ros import conversions
from depth_anything_ros.ros.conversions import (
    array_to_image,
    buffered_cloud_message,
    camera_info_from_k,
    camera_model,
    CameraInfoError,
    check_camera_info,
    check_compressed,
    check_image,
    cloud_message,
    cloud_to_array,
    CloudBuffer,
    compressed_header,
    compressed_to_array,
    depth_to_mm,
    image_to_array,
    ImageFormatError,
    ImageLimits,
    INPUT_ENCODINGS,
    output_camera_info,
    to_rgb,
)

# The field-check lane (test_field_checks.py) runs this file with Humble's setter checks on.
FIELD_CHECKS = os.environ.get('ROS_PYTHON_CHECK_FIELDS') == '1'
CHANNELS = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1}


def header(sec: int = 12, nsec: int = 345, frame: str = 'cam_optical') -> Header:
    h = Header(frame_id=frame)
    h.stamp.sec, h.stamp.nanosec = sec, nsec
    return h


def padded_image(pixels: np.ndarray, encoding: str, pad: int, bigendian: bool = False) -> Image:
    """Build an Image by hand with ``pad`` bytes of garbage after every row."""
    h, w = pixels.shape[:2]
    data = pixels.astype(pixels.dtype.newbyteorder('>' if bigendian else '<'))
    rows = data.reshape(h, -1).view(np.uint8)
    garbage = np.full((h, pad), 0xAB, np.uint8)
    msg = Image(header=header(), height=h, width=w, encoding=encoding,
                is_bigendian=int(bigendian), step=rows.shape[1] + pad)
    msg.data = np.hstack([rows, garbage]).tobytes()
    return msg


@pytest.mark.parametrize('encoding', INPUT_ENCODINGS)
@pytest.mark.parametrize('pad', [0, 5])
def test_colour_encodings_with_row_padding(encoding: str, pad: int) -> None:
    rng = np.random.default_rng(1)
    c = CHANNELS[encoding]
    shape = (7, 9) if c == 1 else (7, 9, c)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    out = image_to_array(padded_image(pixels, encoding, pad), INPUT_ENCODINGS)
    np.testing.assert_array_equal(out, pixels)


@pytest.mark.parametrize('bigendian', [False, True])
def test_multibyte_encodings_honour_byte_order(bigendian: bool) -> None:
    depth = np.array([[0.5, np.nan], [2.25, 70.0]], np.float32)
    mm = np.array([[1, 258], [65535, 0]], np.uint16)
    np.testing.assert_array_equal(
        image_to_array(padded_image(depth, '32FC1', 3, bigendian)), depth)
    got = image_to_array(padded_image(mm, '16UC1', 2, bigendian))
    assert got.dtype == np.uint16 and got.tolist() == mm.tolist()


@pytest.mark.parametrize(('mutate', 'match'), [
    (lambda m: setattr(m, 'encoding', 'bayer_rggb8'), 'unsupported image encoding'),
    (lambda m: setattr(m, 'height', 0), 'empty image'),
    (lambda m: setattr(m, 'step', 20), 'smaller than width'),
    (lambda m: setattr(m, 'data', bytes(10)), 'height\\*step'),
])
def test_bad_images_raise_a_clear_error(mutate, match: str) -> None:
    msg = padded_image(np.zeros((4, 8, 3), np.uint8), 'rgb8', 0)
    mutate(msg)
    with pytest.raises(ImageFormatError, match=match):
        image_to_array(msg, INPUT_ENCODINGS)


def test_compressed_png_and_jpeg() -> None:
    rng = np.random.default_rng(2)
    bgr = rng.integers(0, 256, (16, 24, 3), dtype=np.uint8)
    png = CompressedImage(format='png', data=cv2.imencode('.png', bgr)[1].tobytes())
    out, enc = compressed_to_array(png)
    assert enc == 'bgr8'
    np.testing.assert_array_equal(out, bgr)
    smooth = np.full((16, 24, 3), (10, 120, 230), np.uint8)
    jpg = CompressedImage(format='rgb8; jpeg compressed bgr8',
                          data=cv2.imencode('.jpg', smooth)[1].tobytes())
    out, enc = compressed_to_array(jpg)
    assert enc == 'bgr8' and np.abs(out.astype(int) - smooth).max() <= 3
    gray = CompressedImage(format='png', data=cv2.imencode('.png', bgr[..., 0])[1].tobytes())
    assert compressed_to_array(gray)[1] == 'mono8'
    with pytest.raises(ImageFormatError, match='no JPEG or PNG header'):
        compressed_to_array(CompressedImage(format='jpeg', data=b'not a jpeg'))
    truncated = cv2.imencode('.png', bgr)[1].tobytes()[:40]
    with pytest.raises(ImageFormatError, match='could not be decoded'):
        compressed_to_array(CompressedImage(format='png', data=truncated))
    with pytest.raises(ImageFormatError, match='depth transport'):
        compressed_to_array(CompressedImage(format='16UC1; compressedDepth png', data=b'x'))


def test_to_rgb_for_every_encoding() -> None:
    rgb = np.array([[[10, 20, 30]]], np.uint8)
    as_enc = {'rgb8': rgb, 'bgr8': rgb[..., ::-1], 'rgba8': np.dstack([rgb, [[255]]]),
              'bgra8': np.dstack([rgb[..., ::-1], [[255]]])}
    for enc, px in as_enc.items():
        assert to_rgb(px.astype(np.uint8), enc).tolist() == [[[10, 20, 30]]], enc
    assert to_rgb(np.array([[7]], np.uint8), 'mono8').tolist() == [[[7, 7, 7]]]


def test_output_images_round_trip_and_keep_the_header() -> None:
    h = header(99, 1234, 'front_optical')
    depth = np.array([[1.5, np.nan, 3.0]], np.float32)
    msg = array_to_image(depth, '32FC1', h)
    assert (msg.encoding, msg.step, msg.width, msg.height) == ('32FC1', 12, 3, 1)
    assert msg.header.stamp.sec == 99 and msg.header.stamp.nanosec == 1234
    assert msg.header.frame_id == 'front_optical'
    np.testing.assert_array_equal(image_to_array(msg), depth)
    mm = depth_to_mm(np.array([[1.2346, np.nan, -1.0, 0.0, 65.6, 0.0004]], np.float32))
    assert mm.dtype == np.uint16 and mm.tolist() == [[1235, 0, 0, 0, 0, 0]]
    assert image_to_array(array_to_image(mm, '16UC1', h)).tolist() == mm.tolist()
    with pytest.raises(ImageFormatError, match='needs float32'):
        array_to_image(depth.astype(np.float64), '32FC1', h)


def calibrated_info(width: int = 640, height: int = 480) -> CameraInfo:
    info = camera_info_from_k(500.0, 510.0, 300.0, 220.0, width, height)
    info.d = [0.1, -0.05, 0.0, 0.0, 0.0]
    return info


def test_camera_model_same_size_uses_p_and_keeps_distortion() -> None:
    info = calibrated_info()
    info.p = [480.0, 0.0, 310.0, 0.0, 0.0, 490.0, 230.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    model = camera_model(info, 640, 480)
    intr = model.intrinsics
    assert (intr.fx, intr.fy, intr.cx, intr.cy, intr.size) == (480, 490, 310, 230, (640, 480))
    out = output_camera_info(model, header(5, 6, 'cam'))
    assert out.d.tolist() == [0.1, -0.05, 0.0, 0.0, 0.0] and out.header.stamp.sec == 5
    assert (out.width, out.height, out.binning_x, out.roi.width) == (640, 480, 0, 0)


def test_camera_model_rescales_a_calibration_of_another_size() -> None:
    model = camera_model(calibrated_info(1280, 960), 640, 480)
    intr = model.intrinsics
    assert intr.fx == pytest.approx(250.0) and intr.cx == pytest.approx(149.75)
    with pytest.raises(CameraInfoError, match='not a rescaling'):
        camera_model(calibrated_info(1280, 720), 640, 480)


def test_camera_model_applies_roi_and_binning() -> None:
    sensor = camera_info_from_k(1000.0, 1000.0, 640.0, 480.0, 1280, 960)
    roi = sensor.roi
    roi.x_offset, roi.y_offset, roi.width, roi.height = 100, 60, 640, 480
    sensor.binning_x = sensor.binning_y = 2
    model = camera_model(sensor, 320, 240)
    xyz = np.array([0.3, -0.2, 2.0])
    u_sensor = 1000.0 * xyz[0] / xyz[2] + 640.0
    v_sensor = 1000.0 * xyz[1] / xyz[2] + 480.0
    # crop, then 2x2 binning: binned pixel i is centred on sensor pixel 2i + 0.5
    u_img, v_img = (u_sensor - 100 + 0.5) / 2 - 0.5, (v_sensor - 60 + 0.5) / 2 - 0.5
    intr = model.intrinsics
    assert intr.fx * xyz[0] / xyz[2] + intr.cx == pytest.approx(u_img)
    assert intr.fy * xyz[1] / xyz[2] + intr.cy == pytest.approx(v_img)
    k = np.asarray(output_camera_info(model, header()).k).reshape(3, 3)
    assert k[0, 0] == pytest.approx(500.0) and k[0, 2] == pytest.approx(intr.cx)


@pytest.mark.parametrize(('k', 'match'), [
    ([0.0] * 9, 'not calibrated'),
    ([500.0, 0.0, 320.0, 0.0, float('nan'), 240.0, 0.0, 0.0, 1.0], 'NaN'),
])
def test_camera_model_rejects_bad_calibrations(k: list, match: str) -> None:
    info = calibrated_info()
    info.k = k
    info.p = [0.0] * 12
    with pytest.raises(CameraInfoError, match=match):
        camera_model(info, 640, 480)


def test_strided_output_info_matches_the_strided_image() -> None:
    model = camera_model(calibrated_info(), 640, 480).mapped(PixelMap.stride(2), 320, 240)
    out = output_camera_info(model, header())
    assert (out.width, out.height) == (320, 240)
    assert out.k[0] == pytest.approx(250.0) and out.k[2] == pytest.approx(150.0)
    assert out.p[0] == pytest.approx(250.0) and out.p[6] == pytest.approx(110.0)


def test_cloud_message_layout_and_round_trip() -> None:
    intr = camera_model(calibrated_info(), 640, 480).intrinsics
    depth = np.full((480, 640), 2.0, np.float32)
    depth[0, 0] = np.nan
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[..., 1] = 255
    pts = pack_cloud(depth, RayGrid().get(intr), rgb, stride=2)
    msg = cloud_message(pts, header(3, 4, 'cam'))
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (240, 320, 16, 16 * 320)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ('x', 0, 7, 1), ('y', 4, 7, 1), ('z', 8, 7, 1), ('rgb', 12, 7, 1)]
    assert msg.is_dense is False and msg.header.frame_id == 'cam'
    cloud = cloud_to_array(msg)
    assert cloud.shape == (240, 320)
    assert np.isnan(cloud['x'][0, 0]) and np.nanmax(np.abs(cloud['z'] - 2.0)) < 1e-6
    assert (cloud['rgb'].view(np.uint32)[1:, 1:] == 0x00FF00).all()
    xyz = cloud_message(pack_cloud(depth, RayGrid().get(intr)), header())
    assert xyz.point_step == 12 and [f.name for f in xyz.fields] == ['x', 'y', 'z']
    with pytest.raises(ValueError, match='structured'):
        cloud_message(np.zeros((2, 2, 3), np.float32), header())


def test_setter_checks_follow_ros_python_check_fields() -> None:
    """Humble's checks (the field-check lane) refuse an int in a float64[9]; unchecked take it."""
    info = CameraInfo()
    if FIELD_CHECKS:
        with pytest.raises(AssertionError):
            info.k = [1, 0, 0, 0, 1, 0, 0, 0, 1]
    else:
        info.k = [1, 0, 0, 0, 1, 0, 0, 0, 1]
        assert list(info.k) == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]


def _recording(message_type: type, seen: list) -> type:
    """Return a subclass of ``message_type`` recording every value given to its data setter."""
    setter = message_type.data.fset

    def record(self: object, value: object) -> None:
        seen.append(value)
        setter(self, value)

    class Recording(message_type):
        data = property(message_type.data.fget, record)
    return Recording


def test_uint8_fields_get_array_b_not_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bytes`` costs a Python check per byte under Humble's checks (288 ms a 640x480 depth)."""
    seen: list = []
    monkeypatch.setattr(conversions, 'Image', _recording(Image, seen))
    monkeypatch.setattr(conversions, 'PointCloud2', _recording(PointCloud2, seen))
    depth = np.random.default_rng(0).random((6, 8), dtype=np.float32)
    image = array_to_image(depth[:, ::2], '32FC1', header())    # not contiguous: copied once
    intr = camera_model(camera_info_from_k(5.0, 5.0, 2.0, 1.5, 5, 4), 5, 4).intrinsics
    pts = pack_cloud(np.ones((4, 5), np.float32), RayGrid().get(intr))
    cloud = cloud_message(pts, header())
    given = [v for v in seen if len(v)]     # the constructors set an empty array first
    assert [type(v) for v in given] == [array.array, array.array]
    assert all(v.typecode == 'B' for v in given)
    assert bytes(image.data) == np.ascontiguousarray(depth[:, ::2]).tobytes()
    assert bytes(cloud.data) == pts.tobytes()


def test_cloud_buffer_reuses_its_storage_and_matches_cloud_message() -> None:
    intr = camera_model(calibrated_info(), 640, 480).intrinsics
    rays = RayGrid().get(intr)
    rgb = np.full((480, 640, 3), 9, np.uint8)
    buf = CloudBuffer()
    for z in (2.0, 3.0):
        depth = np.full((480, 640), z, np.float32)
        out = buf.points(240, 320, rgb=True)
        pack_cloud(depth, rays, rgb, stride=2, out=out)
        msg = buffered_cloud_message(buf, header())
        expect = cloud_message(pack_cloud(depth, rays, rgb, stride=2), header())
        assert bytes(msg.data) == bytes(expect.data)
        assert (msg.height, msg.width, msg.point_step, msg.row_step) == (240, 320, 16, 5120)
        assert np.allclose(cloud_to_array(msg)['z'], z)
    assert buf.points(240, 320, rgb=True) is out              # same layout: same memory
    assert buf.points(480, 640, rgb=False).dtype.itemsize == 12  # new layout: new buffer
    with pytest.raises(ValueError, match='out must be'):
        pack_cloud(depth, rays, rgb, out=np.empty((2, 2, 4), np.float32))


def _bad_info(**fields: object) -> CameraInfo:
    info = calibrated_info()
    for name, value in fields.items():
        if name.startswith('roi_'):
            setattr(info.roi, name[4:], value)
        else:
            setattr(info, name, value)
    return info


@pytest.mark.parametrize(('fields', 'match'), [
    ({'binning_x': 1000}, 'binning_x'),
    ({'binning_y': 481}, 'binning_y'),
    ({'roi_x_offset': 600, 'roi_width': 100, 'roi_height': 10}, 'roi'),
    ({'roi_width': 100}, 'roi'),
    ({'width': 0}, 'width/height'),
    ({'k': [500.0, 0.0, 1e308, 0.0, 510.0, 220.0, 0.0, 0.0, 1.0]}, 'principal point'),
    ({'p': [500.0, 0.0, 300.0, 0.0, 0.0, 510.0, -1e9, 0.0, 0.0, 0.0, 1.0, 0.0]},
     'principal point'),
    ({'k': [-5.0, 0.0, 300.0, 0.0, 510.0, 220.0, 0.0, 0.0, 1.0]}, 'focal length'),
    ({'d': [float('nan')] * 5}, 'D contains NaN'),
    ({'r': [float('inf')] + [0.0] * 8}, 'R contains NaN'),
    pytest.param({'k': [1.0] * 8}, 'K has 8 values', marks=pytest.mark.skipif(
        FIELD_CHECKS, reason='with field checks a 9-value field cannot hold 8 values')),
])
def test_check_camera_info_names_the_bad_field(fields: dict, match: str) -> None:
    with pytest.raises(CameraInfoError, match=match):
        check_camera_info(_bad_info(**fields))


def test_check_camera_info_accepts_binning_roi_and_checks_rectification() -> None:
    check_camera_info(_bad_info(binning_x=0, binning_y=2, roi_x_offset=10, roi_y_offset=4,
                                roi_width=320, roi_height=240))
    check_camera_info(_bad_info(distortion_model='weird', d=[0.0] * 5), rectify=True)
    with pytest.raises(CameraInfoError, match='distortion_model'):
        check_camera_info(_bad_info(distortion_model='weird'), rectify=True)
    check_camera_info(_bad_info(distortion_model='weird'))     # no rectify: D is unused
    with pytest.raises(CameraInfoError, match='D has 3 coefficients'):
        check_camera_info(_bad_info(d=[0.1, 0.0, 0.0]), rectify=True)
    with pytest.raises(CameraInfoError, match='rotation'):
        check_camera_info(_bad_info(r=[2.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]),
                          rectify=True)


def _image(width: int, height: int, encoding: str = 'mono8') -> Image:
    return Image(width=width, height=height, encoding=encoding, step=width,
                 data=bytes(width * height))


@pytest.mark.parametrize(('size', 'match'), [
    ((2000, 2), 'min_image_side'), ((13, 400), 'min_image_side'),
    ((200, 20), 'aspect ratio 10.0'), ((5000, 5000), 'max_image_pixels'),
])
def test_check_image_limits(size: tuple, match: str) -> None:
    limits = ImageLimits(min_side=14, max_aspect_ratio=8.0, max_pixels=20_000_000)
    with pytest.raises(ImageFormatError, match=match):
        check_image(_image(*size), limits)
    check_image(_image(160, 20), limits)
    with pytest.raises(ImageFormatError, match='encoding'):
        check_image(_image(16, 16, '16UC1'), limits)


def test_compressed_size_comes_from_the_header_before_decoding() -> None:
    big = np.zeros((300, 200, 3), np.uint8)
    png = cv2.imencode('.png', big)[1].tobytes()
    jpg = cv2.imencode('.jpg', big)[1].tobytes()
    prog = cv2.imencode('.jpg', big, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert compressed_header(png) == ('png', 200, 300, 8)
    assert compressed_header(jpg) == ('jpeg', 200, 300, 8)
    assert compressed_header(prog) == ('jpeg', 200, 300, 8)
    assert compressed_header(png[:20]) is None and compressed_header(b'GIF89a') is None
    small = ImageLimits(max_pixels=200 * 299)
    for data in (png, jpg):
        msg = CompressedImage(format='png', data=data)
        assert check_compressed(msg, ImageLimits()) == (200, 300)
        with pytest.raises(ImageFormatError, match='max_image_pixels'):
            compressed_to_array(msg, small)
    sixteen = cv2.imencode('.png', np.zeros((20, 20), np.uint16))[1].tobytes()
    with pytest.raises(ImageFormatError, match='16-bit png'):
        check_compressed(CompressedImage(format='png', data=sixteen))


@pytest.mark.slow
def test_a_png_bomb_is_refused_without_decoding() -> None:
    """A 12000x12000 PNG of zeros compresses to ~140 KB; its header alone refuses it."""
    bomb = cv2.imencode('.png', np.zeros((12000, 12000), np.uint8),
                        [cv2.IMWRITE_PNG_COMPRESSION, 9])[1].tobytes()
    assert len(bomb) < 1_000_000
    with pytest.raises(ImageFormatError, match='144000000 pixels'):
        compressed_to_array(CompressedImage(format='png', data=bomb))


def test_camera_info_reads_into_the_stage_calibration_and_back() -> None:
    from depth_anything_ros.core.camera_stage import Calibration
    from depth_anything_ros.ros.conversions import calibration, camera_info
    info = camera_info_from_k(500.0, 510.0, 300.0, 220.0, 640, 480)
    info.binning_x, info.binning_y = 2, 2
    info.roi.x_offset, info.roi.width, info.roi.height = 8, 320, 240
    cal = calibration(info)
    assert cal == Calibration(640, 480, (500.0, 0.0, 300.0, 0.0, 510.0, 220.0, 0.0, 0.0, 1.0),
                              (500.0, 0.0, 300.0, 0.0, 0.0, 510.0, 220.0, 0.0, 0.0, 0.0, 1.0,
                               0.0), (0.0,) * 5, binning_x=2, binning_y=2, roi=(8, 0, 320, 240))
    assert cal.described_size == (160, 120)
    back = camera_info(cal)
    assert (list(back.k), list(back.p), back.binning_x, back.roi.x_offset, back.roi.width) == \
        (list(info.k), list(info.p), 2, 8, 320)
