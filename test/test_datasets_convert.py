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

"""tools/convert_rgbd_recording.py: rosbag2 and folder recordings -> the generic format."""

import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_anything_ros.training.datasets import GenericDataset

TOOL = Path(__file__).resolve().parents[1] / 'tools' / 'convert_rgbd_recording.py'


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('convert_rgbd_recording', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_bag(path: Path, n: int = 6, h: int = 10, w: int = 14):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import get_typestore, Stores
    ts = get_typestore(Stores.ROS2_KILTED)
    Image = ts.types['sensor_msgs/msg/Image']
    Info = ts.types['sensor_msgs/msg/CameraInfo']
    Header = ts.types['std_msgs/msg/Header']
    Time = ts.types['builtin_interfaces/msg/Time']
    Roi = ts.types['sensor_msgs/msg/RegionOfInterest']
    frames = []
    with Writer(path, version=9) as writer:
        c_rgb = writer.add_connection('/cam/color', Image.__msgtype__, typestore=ts)
        c_dep = writer.add_connection('/cam/depth', Image.__msgtype__, typestore=ts)
        c_inf = writer.add_connection('/cam/info', Info.__msgtype__, typestore=ts)
        rng = np.random.default_rng(0)
        for i in range(n):
            t = 1_000_000_000 + i * 100_000_000
            rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            padded = np.zeros((h, w * 3 + 2), np.uint8)            # step with row padding
            padded[:, :w * 3] = rgb.reshape(h, -1)
            mm = np.full((h, w), 1000 + 100 * i, np.uint16)
            mm[0, 0] = 0
            hdr = Header(stamp=Time(sec=t // 10 ** 9, nanosec=t % 10 ** 9), frame_id='cam')
            dt = 5_000_000 if i != 3 else 80_000_000                # frame 3: depth too late
            hdr_d = Header(stamp=Time(sec=(t + dt) // 10 ** 9, nanosec=(t + dt) % 10 ** 9),
                           frame_id='cam')
            msg = Image(header=hdr, height=h, width=w, encoding='rgb8', is_bigendian=0,
                        step=w * 3 + 2, data=padded.reshape(-1))
            dmsg = Image(header=hdr_d, height=h, width=w, encoding='16UC1', is_bigendian=0,
                         step=w * 2, data=mm.view(np.uint8).reshape(-1))
            writer.write(c_rgb, t, ts.serialize_cdr(msg, Image.__msgtype__))
            writer.write(c_dep, t + dt, ts.serialize_cdr(dmsg, Image.__msgtype__))
            if i == 0:
                info = Info(header=hdr, height=h, width=w, distortion_model='plumb_bob',
                            d=np.zeros(5), k=np.array([20.0, 0, 6.5, 0, 21.0, 4.5, 0, 0, 1]),
                            r=np.eye(3).reshape(-1), p=np.zeros(12), binning_x=0,
                            binning_y=0, roi=Roi(x_offset=0, y_offset=0, height=0, width=0,
                                                 do_rectify=False))
                writer.write(c_inf, t, ts.serialize_cdr(info, Info.__msgtype__))
            frames.append((rgb, mm))
    return frames


def test_bag_conversion_pairs_by_stamp_and_keeps_values(tool, tmp_path) -> None:
    frames = _write_bag(tmp_path / 'bag')
    out = tmp_path / 'ds'
    assert tool.main(['bag', str(tmp_path / 'bag'), '--rgb-topic', '/cam/color',
                      '--depth-topic', '/cam/depth', '--info-topic', '/cam/info', '--out',
                      str(out), '--val-fraction', '0.5', '--block', '2']) == 0
    train, val = GenericDataset(out, 'train'), GenericDataset(out, 'val')
    assert len(train) + len(val) == 5                      # frame 3 had no depth within 20 ms
    assert (len(train), len(val)) == (3, 2)                # blocks of 2: train, val, train
    s = train.load(0)
    rgb, mm = frames[0]
    assert np.array_equal(s['image'], rgb)                 # row padding handled
    np.testing.assert_allclose(s['depth'][1:], mm[1:] / 1000.0)
    assert not s['valid_mask'][0, 0]
    np.testing.assert_allclose(s['intrinsics'], [[20, 0, 6.5], [0, 21, 4.5], [0, 0, 1]])
    # every 2nd pair; explicit intrinsics win over CameraInfo
    tool.main(['bag', str(tmp_path / 'bag'), '--rgb-topic', '/cam/color', '--depth-topic',
               '/cam/depth', '--info-topic', '/cam/info', '--out', str(tmp_path / 'ds2'),
               '--val-fraction', '0', '--every', '2', '--fx', '30', '--fy', '31', '--cx', '7',
               '--cy', '5'])
    ds2 = GenericDataset(tmp_path / 'ds2', 'train')
    assert len(ds2) == 3
    # pairs are frames 0, 1, 2, 4, 5 (3 has no depth): every 2nd -> 0, 2, 5
    np.testing.assert_allclose(ds2.load(2)['depth'][1:], frames[5][1][1:] / 1000.0, rtol=1e-6)
    assert ds2.load(0)['intrinsics'][1, 1] == pytest.approx(31)
    with pytest.raises(SystemExit, match='/cam/nope'):
        tool.main(['bag', str(tmp_path / 'bag'), '--rgb-topic', '/cam/nope', '--depth-topic',
                   '/cam/depth', '--out', str(tmp_path / 'x')])


def test_folder_conversion_and_resolution_check(tool, tmp_path) -> None:
    (tmp_path / 'rgb').mkdir()
    (tmp_path / 'depth').mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / 'rgb' / f'{i:04d}.jpg'), np.full((8, 12, 3), 60 * i, np.uint8))
        cv2.imwrite(str(tmp_path / 'depth' / f'{i:04d}.png'), np.full((8, 12), 400 * (i + 1),
                                                                       np.uint16))
    cv2.imwrite(str(tmp_path / 'rgb' / 'lonely.jpg'), np.zeros((8, 12, 3), np.uint8))
    out = tmp_path / 'ds'
    tool.main(['folder', '--rgb-dir', str(tmp_path / 'rgb'), '--depth-dir',
               str(tmp_path / 'depth'), '--depth-scale', '0.0025', '--out', str(out),
               '--val-fraction', '0', '--fx', '10', '--fy', '10', '--cx', '5.5', '--cy', '3.5'])
    ds = GenericDataset(out, 'train')
    assert len(ds) == 3
    assert ds.load(2)['depth'][0, 0] == pytest.approx(1200 * 0.0025)
    assert ds.load(0)['intrinsics'][0, 2] == pytest.approx(5.5)
    cv2.imwrite(str(tmp_path / 'depth' / '0000.png'), np.full((4, 6), 400, np.uint16))
    with pytest.raises(SystemExit, match='--resize-depth'):
        tool.main(['folder', '--rgb-dir', str(tmp_path / 'rgb'), '--depth-dir',
                   str(tmp_path / 'depth'), '--out', str(tmp_path / 'ds2')])


def test_pairing_and_split_rules(tool) -> None:
    pairs = tool.pair_by_stamp([0, 100, 200, 300], [5, 98, 260, 301], max_dt_ns=10)
    assert pairs == [(0, 0), (1, 1), (3, 3)]
    assert [tool.split_of(i, 0.25, 2) for i in range(10)] == \
        ['train'] * 6 + ['val'] * 2 + ['train'] * 2
