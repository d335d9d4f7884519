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

"""Point-cloud packing cost for a 640x480 depth image (target: < 5 ms per frame).

    python benchmarks/bench_cloud.py [--quick] [--out out/bench]

Times what the node does per frame after inference: back-projection with the cached ray grid
and packing into a structured XYZ / XYZRGB array (``geometry.pack_cloud``), then the
PointCloud2 message, both the plain way (``conversions.cloud_message``: ``tobytes`` + copy)
and the node's way (packing into a reused ``CloudBuffer``); plus, for comparison, the node's
other per-frame work (depth limits, depth message, colourised depth). Prints median / p90 / min
and writes ``bench_cloud.json``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import json
import math
from pathlib import Path
import platform
from typing import Any

import numpy as np
from std_msgs.msg import Header

from depth_anything_ros.core.colorize import colorize
from depth_anything_ros.core.geometry import Intrinsics, pack_cloud, RayGrid, Rectifier
from depth_anything_ros.core.pipeline import split_prediction
from depth_anything_ros.offline.bench import latency_stats, timed_ms
from depth_anything_ros.ros.conversions import (
    array_to_image,
    buffered_cloud_message,
    cloud_message,
    CloudBuffer,
)

TARGET_MS = 5.0


def timeit(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Median and p90 milliseconds of ``fn`` (see depth_anything_ros.offline.bench)."""
    return latency_stats(timed_ms(fn, repeats))


def main() -> int:
    parser = argparse.ArgumentParser(description='point-cloud packing benchmark')
    parser.add_argument('--quick', action='store_true', help='fewer repetitions')
    parser.add_argument('--out', type=Path, default=Path('out/bench'))
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    args = parser.parse_args()
    repeats = 20 if args.quick else 200
    w, h = args.width, args.height
    intr = Intrinsics(525.0, 525.0, 319.5, 239.5, w, h)
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 8.0, (h, w)).astype(np.float32)
    depth[rng.random((h, w)) < 0.05] = np.nan
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    grid = RayGrid()
    rays = grid.get(intr)
    header = Header(frame_id='camera_optical_frame')
    buffer = CloudBuffer()
    rectifier = Rectifier()  # a typical webcam calibration: barrel distortion, P != K
    k = np.array([[intr.fx, 0.0, intr.cx], [0.0, intr.fy, intr.cy], [0.0, 0.0, 1.0]])
    p = np.array([[500.0, 0.0, 321.0, 0.0], [0.0, 500.0, 238.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    dist = [-0.25, 0.08, 0.0005, -0.0004, 0.0]

    def node_path() -> object:
        # what the node does: pack into the reused message buffer, wrap without copying
        pack_cloud(depth, rays, rgb, out=buffer.points(h, w, rgb=True))
        return buffered_cloud_message(buffer, header)

    cases = {
        'ray grid build (cold, once per intrinsics)': lambda: RayGrid().get(intr),
        'pack XYZ': lambda: pack_cloud(depth, rays),
        'pack XYZRGB': lambda: pack_cloud(depth, rays, rgb),
        'pack XYZRGB + range limits': lambda: pack_cloud(depth, rays, rgb, min_range=0.3,
                                                         max_range=6.0),
        'pack XYZRGB stride 2': lambda: pack_cloud(depth, rays, rgb, stride=2),
        'pack XYZRGB + PointCloud2 (tobytes copy)': lambda: cloud_message(
            pack_cloud(depth, rays, rgb), header),
        'pack XYZRGB + PointCloud2 (reused buffer, node)': node_path,
        # the node's other per-frame work around inference, for comparison
        'other: depth limits (split_prediction)': lambda: split_prediction(
            depth, metric_model=True, min_depth=0.1, max_depth=20.0),
        'other: 32FC1 depth Image message': lambda: array_to_image(depth, '32FC1', header),
        'other: colourised depth (auto range, turbo)': lambda: colorize(depth, 'turbo'),
        'other: rectify rgb8 frame (maps cached)': lambda: rectifier(
            rgb, k, dist, np.eye(3), p, 'plumb_bob'),
    }
    results = {name: timeit(fn, repeats) for name, fn in cases.items()}
    per_frame = results['pack XYZRGB + PointCloud2 (reused buffer, node)']['median_ms']
    report = {'benchmark': 'cloud', 'size': [w, h], 'target_ms': TARGET_MS,
              'meets_target': per_frame < TARGET_MS, 'machine': platform.processor() or
              platform.machine(), 'python': platform.python_version(), 'results': results}
    print(f'\npoint cloud packing, {w}x{h} ({"quick" if args.quick else "full"}, '
          f'{repeats} runs)')
    print(f'  {"case":<48} {"median ms":>10} {"p90 ms":>8} {"min ms":>8}')
    for name, r in results.items():
        print(f'  {name:<48} {r["median_ms"]:10.2f} {r["p90_ms"]:8.2f} {r["min_ms"]:8.2f}')
    verdict = 'meets' if report['meets_target'] else 'MISSES'
    print(f'  per-frame cost {per_frame:.2f} ms {verdict} the {TARGET_MS:g} ms target\n')
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'bench_cloud.json').write_text(json.dumps(report, indent=2) + '\n')
    return 0 if math.isfinite(per_frame) else 1


if __name__ == '__main__':
    raise SystemExit(main())
