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

"""Depth node end-to-end latency vs the estimator's own inference time, 640x480 frames.

    python benchmarks/bench_node.py [--quick] [--input-size 518] [--out out/bench]

1. In this process: ``DepthEstimator.infer`` on a 640x480 bgr8 frame, in a worker thread as
   the node runs it (the floor).
2. The node as its own process, fed over DDS one frame at a time (the next frame is sent when
   the previous one's output arrived, so nothing is dropped): stamp -> receipt of
   ``depth/image`` alone, then with ``points`` and ``depth/colored`` subscribed too, and the
   node's own stamp -> publish latency and inference time from /diagnostics.

3. Start-up (``--startup``): a fresh node process on an empty engine cache (cold: export and
   compile), then again on the same cache (warm: both read from disk); for each, seconds from
   launch to the node's subscriptions, and from the first image to its depth (camera_info and
   the image sent together, as a camera driver does: the frame pays whatever is still to
   build). The node's ``warmup_ms`` from /diagnostics is recorded too.

Target: node latency (stamp -> publish) within 5 % of its inference time; warm start: first
depth within 2 s of the first image. Prints median / p90 tables and writes ``bench_node.json``.
Without ``--checkpoint``, untrained weights (same speed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import platform
import tempfile
import threading
import time
from typing import Any

import numpy as np

from depth_anything_ros.offline.node_process import (
    depth_status,
    NAMESPACE,
    node_arguments,
    NodeProcess,
    ros_environment,
)

TARGET_OVERHEAD = 0.05


def frame(width: int = 640, height: int = 480) -> np.ndarray:
    """Return a deterministic bgr8 test frame with structure."""
    yy, xx = np.mgrid[0:height, 0:width]
    img = np.stack([(xx * 255 // width), (yy * 255 // height), ((xx + yy) % 256)], -1)
    img = img.astype(np.uint8)
    img[height // 3:height // 2, width // 4:width // 2] = 240
    return img


def stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {'median_ms': float(np.median(a)), 'p90_ms': float(np.percentile(a, 90)),
            'min_ms': float(a.min()), 'n': int(a.size)}


def bench_estimator(args: argparse.Namespace, img: np.ndarray) -> dict[str, float]:
    from depth_anything_ros.estimator import DepthEstimator
    from depth_anything_ros.model import load_model
    model = load_model(args.checkpoint, head='metric', max_depth=20.0,
                       allow_untrained=args.checkpoint.startswith('untrained'))
    est = DepthEstimator(model, device=args.device, input_size=args.input_size,
                         backend=args.backend, precision=args.precision)
    times: list[float] = []

    def loop() -> None:
        for i in range(args.frames + 3):
            t0 = time.perf_counter()
            est.infer(img, 'bgr8')
            if i >= 3:   # warm-up
                times.append(1e3 * (time.perf_counter() - t0))

    # In a worker thread, as the node runs it: on a loaded 2-core machine torch in the main
    # thread measured 3-5x slower than in a worker thread, which would flatter the node.
    worker = threading.Thread(target=loop)
    worker.start()
    worker.join()
    return stats(times)


def bench_arguments(args: argparse.Namespace, **extra: Any) -> list[str]:
    """Return the node's --ros-args for this benchmark's flags (``extra``: more parameters)."""
    return node_arguments({'checkpoint': args.checkpoint, 'allow_untrained_weights': True,
                           'input_size': args.input_size, 'device': args.device,
                           'cpu_threads': args.threads, 'diagnostics_period': 0.5,
                           'backend': args.backend, 'precision': args.precision, **extra},
                          {NAMESPACE: '/bench'})


def camera_info(img: np.ndarray) -> Any:
    """Return a pinhole CameraInfo for ``img``'s size."""
    from sensor_msgs.msg import CameraInfo
    info = CameraInfo(width=img.shape[1], height=img.shape[0], distortion_model='plumb_bob')
    info.k = [525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]
    info.p = [525.0, 0.0, 319.5, 0.0, 0.0, 525.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.d = [0.0] * 5
    return info


def publish_frame(node: Any, img: np.ndarray, info: Any, pub_img: Any, pub_info: Any
                  ) -> tuple[int, float]:
    """Publish ``img`` and ``info`` stamped now; return the stamp (ns) and the send time."""
    from depth_anything_ros.ros.conversions import array_to_image, stamp_ns
    msg = array_to_image(img, 'bgr8', info.header)
    msg.header.stamp = node.get_clock().now().to_msg()
    msg.header.frame_id = 'camera_optical_frame'
    info.header = msg.header
    sent = time.monotonic()
    pub_info.publish(info)
    pub_img.publish(msg)
    return stamp_ns(msg.header), sent


def bench_startup(args: argparse.Namespace, img: np.ndarray, cache_dir: Path,
                  log_path: Path) -> dict[str, Any]:
    """One node start on ``cache_dir``: launch -> ready, and first image -> its depth."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    from depth_anything_ros.ros.conversions import stamp_ns
    start = time.monotonic()
    ros_args = bench_arguments(args, cache_dir=cache_dir)
    with NodeProcess(ros_args, log_path, 'bench_startup_player', spin_period=0.01) as player:
        node, spin_until = player.node, player.spin_until
        qos = QoSProfile(depth=5, reliability=QoSReliabilityPolicy.RELIABLE)
        arrived: dict[int, float] = {}
        diag: list[Any] = []
        pub_img = node.create_publisher(Image, '/bench/image', qos)
        pub_info = node.create_publisher(CameraInfo, '/bench/camera_info', qos)
        node.create_subscription(Image, '/bench/depth/image', lambda m: arrived.setdefault(
            stamp_ns(m.header), time.monotonic()), qos)
        node.create_subscription(DiagnosticArray, '/diagnostics', diag.append, 10)
        if not spin_until(lambda: node.count_subscribers('/bench/image') > 0
                          and node.count_publishers('/bench/depth/image') > 0, 600):
            raise RuntimeError('the node did not start; see ' + str(log_path))
        ready = time.monotonic()
        spin_until(lambda: False, 0.3)   # let discovery settle both ways
        stamp, sent = publish_frame(node, img, camera_info(img), pub_img, pub_info)
        if not spin_until(lambda: stamp in arrived, 600):
            raise RuntimeError('no depth for the first image; see ' + str(log_path))
        spin_until(lambda: False, 1.1)   # one /diagnostics period after the frame
        values = {kv.key: kv.value for m in diag for st in m.status if 'depth' in st.name
                  for kv in st.values}
    return {'launch_to_ready_s': ready - start, 'first_image_to_depth_s': arrived[stamp] - sent,
            'backend': values.get('backend', ''), 'precision': values.get('precision', ''),
            'warmup_ms': values.get('warmup_ms', '')}


def bench_node(args: argparse.Namespace, img: np.ndarray, log_path: Path) -> dict[str, Any]:
    with NodeProcess(bench_arguments(args), log_path, 'bench_node_player',
                     spin_period=0.01) as player:
        return _measure(args, img, player)


def _measure(args: argparse.Namespace, img: np.ndarray, player: NodeProcess
             ) -> dict[str, Any]:
    """Latencies of the running node: depth only, then with every output subscribed."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    from depth_anything_ros.ros.conversions import stamp_ns
    node, spin_until, log_path = player.node, player.spin_until, player.log_path
    qos = QoSProfile(depth=5, reliability=QoSReliabilityPolicy.RELIABLE)
    arrivals: dict[str, dict[int, float]] = {'depth': {}, 'points': {}, 'colored': {}}
    diag: list[Any] = []

    def keep(kind: str):
        return lambda m: arrivals[kind].setdefault(
            stamp_ns(m.header), time.monotonic())

    pub_img = node.create_publisher(Image, '/bench/image', qos)
    pub_info = node.create_publisher(CameraInfo, '/bench/camera_info', qos)
    node.create_subscription(Image, '/bench/depth/image', keep('depth'), qos)
    node.create_subscription(DiagnosticArray, '/diagnostics', diag.append, 10)
    info = camera_info(img)

    def node_values() -> dict[str, str]:
        return next((v for v in map(depth_status, reversed(diag)) if v is not None), {})

    def run(kinds: tuple[str, ...]) -> dict[str, Any]:
        rows: dict[str, list[float]] = {k: [] for k in kinds}
        for i in range(args.frames + 2):
            stamp, sent = publish_frame(node, img, info, pub_img, pub_info)
            if not spin_until(lambda s=stamp: all(s in arrivals[k] for k in kinds), 120):
                raise RuntimeError('the node stopped answering; see ' + str(log_path))
            if i >= 2:   # two warm-up frames
                for k in kinds:
                    rows[k].append(1e3 * (arrivals[k][stamp] - sent))
        spin_until(lambda: False, 1.1)   # let a /diagnostics message cover these frames
        values = node_values()
        return {'receipt': {k: stats(v) for k, v in rows.items()},
                'node_latency_p50_ms': float(values.get('latency_p50_ms', 'nan')),
                'node_latency_p95_ms': float(values.get('latency_p95_ms', 'nan')),
                'node_inference_p50_ms': float(values.get('inference_p50_ms', 'nan'))}

    if not spin_until(lambda: node.count_subscribers('/bench/image') > 0
                      and node.count_publishers('/bench/depth/image') > 0, 180):
        raise RuntimeError('the node did not start; see ' + str(log_path))
    spin_until(lambda: False, 0.5)
    depth_only = run(('depth',))
    node.create_subscription(PointCloud2, '/bench/points', keep('points'), qos)
    node.create_subscription(Image, '/bench/depth/colored', keep('colored'), qos)
    spin_until(lambda: False, 0.5)
    all_outputs = run(('depth', 'points', 'colored'))
    return {'depth_only': depth_only, 'all_outputs': all_outputs}


def main() -> int:
    parser = argparse.ArgumentParser(description='depth node latency benchmark')
    parser.add_argument('--quick', action='store_true', help='small input, few frames')
    parser.add_argument('--input-size', type=int, default=0, help='default 518 (quick: 154)')
    parser.add_argument('--frames', type=int, default=0, help='default 30 (quick: 8)')
    parser.add_argument('--checkpoint', default='untrained:vits')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--backend', default='auto',
                        help='auto | torch | openvino | onnxruntime | tensorrt (every '
                             'measurement; default auto, as the node)')
    parser.add_argument('--precision', default='auto', help='auto | fp32 | bf16 | fp16')
    parser.add_argument('--startup', action='store_true',
                        help='only the cold and warm start-to-first-depth measurement')
    parser.add_argument('--threads', type=int, default=0,
                        help='torch CPU threads in both measurements (0: torch default)')
    parser.add_argument('--out', type=Path, default=Path('out/bench'))
    args = parser.parse_args()
    args.input_size = args.input_size or (154 if args.quick else 518)
    args.frames = args.frames or (8 if args.quick else 30)
    args.out.mkdir(parents=True, exist_ok=True)
    img = frame()
    if args.threads > 0:
        import torch
        torch.set_num_threads(args.threads)
    if args.startup:
        return startup(args, img)
    print(f'estimator.infer, 640x480, input_size {args.input_size}, {args.frames} frames ...',
          flush=True)
    infer = bench_estimator(args, img)
    print('depth node over DDS ...', flush=True)
    with ros_environment():
        node = bench_node(args, img, args.out / 'bench_node.log')
    a = node['depth_only']
    overhead = a['node_latency_p50_ms'] / a['node_inference_p50_ms'] - 1.0
    report = {'benchmark': 'node', 'image': [640, 480], 'input_size': args.input_size,
              'threads': args.threads,
              'checkpoint': args.checkpoint, 'device': args.device,
              'backend': args.backend, 'precision': args.precision,
              'machine': platform.processor() or platform.machine(), 'estimator_infer': infer,
              'node': node, 'node_overhead': overhead, 'target_overhead': TARGET_OVERHEAD,
              'meets_target': overhead <= TARGET_OVERHEAD}
    (args.out / 'bench_node.json').write_text(json.dumps(report, indent=2) + '\n')
    title = f'640x480, input_size {args.input_size}, {args.backend} {args.precision}'
    print(f'\n  {title:<52} {"median ms":>10} '
          f'{"p90 ms":>8}')
    print(f'  {"estimator.infer (this process)":<52} {infer["median_ms"]:10.1f} '
          f'{infer["p90_ms"]:8.1f}')
    for case, label in (('depth_only', 'depth only'), ('all_outputs', 'all outputs')):
        r = node[case]
        for kind, st in r['receipt'].items():
            print(f'  {f"{label}: stamp -> {kind} received":<52} {st["median_ms"]:10.1f} '
                  f'{st["p90_ms"]:8.1f}')
        print(f'  {f"{label}: node inference | stamp->publish p50":<52} '
              f'{r["node_inference_p50_ms"]:10.1f} {r["node_latency_p50_ms"]:8.1f}')
    verdict = 'meets' if report['meets_target'] else 'MISSES'
    print(f'\n  node overhead (stamp->publish vs inference, depth only): {100 * overhead:.1f} % '
          f'{verdict} the {100 * TARGET_OVERHEAD:.0f} % target\n')
    return 0


def startup(args: argparse.Namespace, img: np.ndarray) -> int:
    """Cold then warm node start on one fresh engine cache; print and write the figures."""
    rows = {}
    with tempfile.TemporaryDirectory(prefix='bench-node-cache-') as cache, ros_environment():
        for case in ('cold', 'warm'):
            print(f'{case} start ...', flush=True)
            rows[case] = bench_startup(args, img, Path(cache),
                                       args.out / f'bench_node_{case}.log')
    report = {'benchmark': 'node start-up', 'image': [640, 480],
              'input_size': args.input_size, 'checkpoint': args.checkpoint,
              'requested': [args.backend, args.precision], 'threads': args.threads,
              'machine': platform.processor() or platform.machine(), **rows,
              'target_warm_first_depth_s': 2.0,
              'meets_target': rows['warm']['first_image_to_depth_s'] <= 2.0}
    (args.out / 'bench_node_startup.json').write_text(json.dumps(report, indent=2) + '\n')
    print(f'\n  640x480, input_size {args.input_size}, {rows["warm"]["backend"]} '
          f'{rows["warm"]["precision"]}    launch -> ready s   first image -> depth s')
    for case, r in rows.items():
        print(f'  {case:<42} {r["launch_to_ready_s"]:10.1f} {r["first_image_to_depth_s"]:20.2f}')
    verdict = 'meets' if report['meets_target'] else 'MISSES'
    print(f'\n  warm start {verdict} the 2 s first-depth target\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
