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

"""Publish cost of one 640x480 frame's depth image and cloud, with and without setter checks.

    python benchmarks/bench_publish.py [--quick] [--out out/bench]

Humble's generated messages check every assigned value in Python; Jazzy and Kilted do so only
with ``ROS_PYTHON_CHECK_FIELDS=1`` (read when a message module is imported, so each setting
runs in its own interpreter). For both settings this times building the 32FC1 depth Image and
the XYZRGB PointCloud2 (packing included) with ``uint8[]`` data from ``bytes`` (the way
before) and the way the package does now (``array('B')``, and the node's reused
``CloudBuffer``), and publishing depth, camera_info and cloud through rclpy (serialisation; no
subscriber). Prints median / p90 / min
and writes ``bench_publish.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import platform
import subprocess
import sys
from typing import Any

SETTINGS = ('0', '1')   # ROS_PYTHON_CHECK_FIELDS: Jazzy/Kilted default, Humble's behaviour


def measure(repeats: int, slow_repeats: int, width: int, height: int) -> dict[str, Any]:
    """Time every case in this interpreter (its ROS_PYTHON_CHECK_FIELDS is fixed)."""
    import numpy as np
    import rclpy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from std_msgs.msg import Header

    from depth_anything_ros.core.geometry import Intrinsics, pack_cloud, RayGrid
    from depth_anything_ros.offline.bench import latency_stats, timed_ms
    from depth_anything_ros.offline.node_process import ros_environment
    from depth_anything_ros.ros.conversions import (
        array_to_image,
        buffered_cloud_message,
        camera_info_from_k,
        camera_model,
        cloud_message,
        CloudBuffer,
        output_camera_info,
    )

    intr = Intrinsics(525.0, 525.0, 319.5, 239.5, width, height)
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 8.0, (height, width)).astype(np.float32)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    rays = RayGrid().get(intr)
    header = Header(frame_id='camera_optical_frame')
    model = camera_model(camera_info_from_k(525.0, 525.0, 319.5, 239.5, width, height), width,
                         height)
    buffer = CloudBuffer()

    def depth_bytes() -> Image:
        msg = array_to_image(depth[:1], '32FC1', header)      # every field but the data
        msg.height = height
        msg.data = depth.tobytes()
        return msg

    def cloud_bytes() -> PointCloud2:
        packed = pack_cloud(depth, rays, rgb)
        msg = cloud_message(packed[:1], header)      # every field but the data
        msg.height = height
        msg.data = packed.tobytes()
        return msg

    def cloud_node() -> PointCloud2:
        pack_cloud(depth, rays, rgb, out=buffer.points(height, width, rgb=True))
        return buffered_cloud_message(buffer, header)

    def info() -> CameraInfo:
        return output_camera_info(model, header)

    results: dict[str, dict[str, float]] = {}

    def run(name: str, fn: Any, slow: bool = False) -> None:
        n = slow_repeats if slow else repeats
        results[name] = latency_stats(timed_ms(fn, n, warmup=1 if slow else 3))

    checks = os.environ.get('ROS_PYTHON_CHECK_FIELDS') == '1'
    run('depth Image, data from bytes (before)', depth_bytes, slow=checks)
    run('depth Image, array_to_image (array B)', lambda: array_to_image(depth, '32FC1', header))
    run('cloud, data from bytes (before)', cloud_bytes, slow=checks)
    run('cloud, cloud_message (array B)', lambda: cloud_message(
        pack_cloud(depth, rays, rgb), header))
    run('cloud, CloudBuffer (node, no copy)', cloud_node)
    with ros_environment():
        context = rclpy.Context()
        rclpy.init(context=context)
        try:
            node = rclpy.create_node('bench_publish', context=context)
            pubs = [node.create_publisher(t, n, 1) for t, n in (
                (Image, 'depth/image'), (CameraInfo, 'depth/camera_info'),
                (PointCloud2, 'points'))]

            def publish(depth_msg: Any, cloud_msg: Any) -> None:
                pubs[0].publish(depth_msg())
                pubs[1].publish(info())
                pubs[2].publish(cloud_msg())

            run('build + publish depth, info, cloud (before)',
                lambda: publish(depth_bytes, cloud_bytes), slow=checks)
            run('build + publish depth, info, cloud (now, node)',
                lambda: publish(lambda: array_to_image(depth, '32FC1', header), cloud_node))
            node.destroy_node()
        finally:
            rclpy.try_shutdown(context=context)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='few repetitions')
    parser.add_argument('--out', type=Path, default=Path('out/bench'))
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeats, slow_repeats = (5, 2) if args.quick else (50, 5)
    if args.child:
        print(json.dumps(measure(repeats, slow_repeats, args.width, args.height)))
        return 0
    by_setting: dict[str, Any] = {}
    for setting in SETTINGS:
        env = {**os.environ, 'ROS_PYTHON_CHECK_FIELDS': setting}
        child = [sys.executable, __file__, '--child', '--width', str(args.width),
                 '--height', str(args.height), *(['--quick'] if args.quick else [])]
        proc = subprocess.run(child, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        by_setting[setting] = json.loads(proc.stdout.strip().splitlines()[-1])
    load = os.getloadavg()
    report = {'benchmark': 'publish', 'size': [args.width, args.height],
              'machine': platform.processor() or platform.machine(),
              'python': platform.python_version(), 'load_average': load,
              'repeats': repeats, 'repeats_slow_cases': slow_repeats,
              'results': {f'ROS_PYTHON_CHECK_FIELDS={s}': r for s, r in by_setting.items()}}
    print(f'\npublish cost, {args.width}x{args.height} 32FC1 depth + XYZRGB cloud, median ms '
          f'(p90) (load average {load[0]:.2f})')
    print(f'  {"case":<48} {"checks off (Jazzy/Kilted)":>26} {"checks on (Humble)":>22}')
    for name in by_setting[SETTINGS[0]]:
        cells = [f'{r["median_ms"]:.2f} ({r["p90_ms"]:.2f})'
                 for r in (by_setting[s][name] for s in SETTINGS)]
        print(f'  {name:<48} {cells[0]:>26} {cells[1]:>22}')
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'bench_publish.json').write_text(json.dumps(report, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
