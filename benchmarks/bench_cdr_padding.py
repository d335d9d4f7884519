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


"""What zeroing the CDR padding of process-bag's output messages costs, per message.

    python benchmarks/bench_cdr_padding.py [--size 480x640] [--rounds 50] [--out out/bench]

process-bag serialises each output message with rclpy and then reads and writes it again with
the rosbags type store (core/bags.py ``cdr_with_zero_padding``), so that a bag is the same file
in every run. Per message type that process-bag writes (a 32FC1 depth Image, a CameraInfo, a
PointCloud2 of xyz float32 points at the image size): the median time of rclpy's serialiser
alone and of the padding step after it. Prints a table and writes ``bench_cdr_padding.json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import json
from pathlib import Path
import statistics
import time
from typing import Any

import numpy as np


def _median_us(fn: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def _messages(h: int, w: int) -> dict[str, Any]:
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
    depth = Image(height=h, width=w, encoding='32FC1', step=w * 4,
                  data=np.ones((h, w), np.float32).tobytes())
    depth.header.frame_id = 'cam_color_optical_frame'
    info = CameraInfo(height=h, width=w, distortion_model='plumb_bob', d=[0.0] * 5)
    info.header = depth.header
    fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
              for i, n in enumerate('xyz')]
    cloud = PointCloud2(height=1, width=h * w, fields=fields, point_step=12,
                        row_step=12 * h * w, is_dense=True,
                        data=np.ones((h * w, 3), np.float32).tobytes())
    cloud.header = depth.header
    return {'sensor_msgs/msg/Image': depth, 'sensor_msgs/msg/CameraInfo': info,
            'sensor_msgs/msg/PointCloud2': cloud}


def main() -> None:
    from rclpy.serialization import serialize_message

    from depth_anything_ros.core.bags import cdr_with_zero_padding
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', default='480x640', help='HxW of the image (default 480x640)')
    parser.add_argument('--rounds', type=int, default=50)
    parser.add_argument('--out', type=Path, default=Path('out/bench'))
    args = parser.parse_args()
    h, w = (int(v) for v in args.size.split('x'))
    rows = []
    for msgtype, msg in _messages(h, w).items():
        raw = serialize_message(msg)
        clean = cdr_with_zero_padding(raw, msgtype)
        assert len(clean) == len(raw)
        rows.append({'type': msgtype, 'bytes': len(raw),
                     'serialize_us': _median_us(lambda m=msg: serialize_message(m), args.rounds),
                     'zero_padding_us': _median_us(
                         lambda r=raw, t=msgtype: cdr_with_zero_padding(r, t), args.rounds)})
    print(f'{"message":<30}{"bytes":>10}{"rclpy us":>12}{"padding us":>12}')
    for r in rows:
        print(f'{r["type"]:<30}{r["bytes"]:>10}{r["serialize_us"]:>12.1f}'
              f'{r["zero_padding_us"]:>12.1f}')
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / 'bench_cdr_padding.json'
    path.write_text(json.dumps({'size': [h, w], 'rounds': args.rounds, 'messages': rows},
                               indent=2) + '\n')
    print(f'wrote {path}')


if __name__ == '__main__':
    main()
