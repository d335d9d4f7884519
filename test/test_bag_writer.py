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

"""Bags written by process-bag are the same bytes in every run (zeroed CDR padding)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
import subprocess
import sys

import pytest

pytest.importorskip('rosbags')
rclpy_serialization = pytest.importorskip('rclpy.serialization')

MODEL = ['--checkpoint', 'untrained:tiny', '--allow-untrained', '--device', 'cpu',
         '--backend', 'torch', '--precision', 'fp32', '--input-size', '70']


def _image(encoding: str = '32FC1') -> object:
    from sensor_msgs.msg import Image
    msg = Image(height=1, width=2, encoding=encoding, step=8, data=bytes(range(8)))
    msg.header.frame_id = 'cam'
    return msg


def test_padding_is_zeroed_and_the_fields_kept() -> None:
    from depth_anything_ros.core.bags import cdr_with_zero_padding, typestore
    raw = bytearray(rclpy_serialization.serialize_message(_image()))
    # 'cam\0' ends at byte 20 (4 CDR header + 8 stamp + 4 length + 4); then height, width
    # (uint32), the encoding '32FC1\0' (4 + 6 bytes), is_bigendian (1 byte), one padding byte
    # before step (uint32): what rclpy's serialiser leaves as it finds it in memory
    pad = 4 + 8 + 4 + 4 + 4 + 4 + 4 + 6 + 1
    raw[pad] = 0xAB
    clean = cdr_with_zero_padding(bytes(raw), 'sensor_msgs/msg/Image')
    assert clean[pad] == 0 and len(clean) == len(raw)
    assert clean[:pad] == raw[:pad] and clean[pad + 1:] == raw[pad + 1:]
    msg = typestore().deserialize_cdr(clean, 'sensor_msgs/msg/Image')
    assert (msg.encoding, msg.step, bytes(msg.data)) == ('32FC1', 8, bytes(range(8)))
    # a message without padding is returned as it came
    other = rclpy_serialization.serialize_message(_image('mono16'))
    assert cdr_with_zero_padding(other, 'sensor_msgs/msg/Image') == other


def _storage_digest(bag: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(bag.iterdir()) if p.is_file()}


@pytest.mark.slow
def test_two_process_bag_runs_write_the_same_bytes(tmp_path: Path) -> None:
    # each run in a fresh Python, as a user runs it: the bytes rclpy's serialiser left in
    # padding came from that process's memory, so two runs differed there
    from ros_helpers.bags import write_camera_bag
    src = write_camera_bag(tmp_path / 'in', 3, h=28, w=42)
    code = ('import sys\nfrom depth_anything_ros.commands import cli\n'
            'sys.exit(cli.main(sys.argv[1:]))\n')
    digests = []
    for run in ('a', 'b'):
        res = subprocess.run([sys.executable, '-c', code, 'process-bag', str(src), '--out',
                              str(tmp_path / run / 'out'), *MODEL], capture_output=True, text=True,
                             env={**os.environ, 'OMP_NUM_THREADS': '1'}, timeout=300)
        assert res.returncode == 0, res.stderr
        digests.append(_storage_digest(tmp_path / run / 'out'))
    assert digests[0] == digests[1]
    assert any(name.endswith('.mcap') for name in digests[0])
