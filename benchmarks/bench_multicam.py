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

"""Several cameras: one depth node with ``cameras`` (one model) vs one depth node per camera.

    python benchmarks/bench_multicam.py [--quick] [--cameras 2 4] [--input-size 154] \
        [--rate 30] [--seconds 20] [--device cpu] [--cpu-threads 1] [--out out/bench]

For each camera count N, this process plays N synthetic 320x240 bgr8 cameras at ``--rate`` Hz
each on ``/cam<i>/image`` + ``camera_info`` (faster than the node can follow: the node keeps the
newest frame per camera) and listens to every ``/cam<i>/depth/image``, against

* **one process**: ``depth_node`` with ``cameras:=[cam0, ..., camN-1]``: one model, one worker,
  frames pending together batched into one forward pass, N x ``--cpu-threads`` torch threads;
* **N processes**: N ``depth_node`` processes, one per camera namespace (``__ns:=/cam<i>``),
  ``--cpu-threads`` each (the same CPU budget).

Both see the same topics. Per setup: resident memory (sum of the node processes' RSS, and the
peak), depth frames/s per camera (median over cameras, and the slowest camera), and latency
from the image stamp to the receipt of its depth here (p50, p90 over all cameras). Untrained
deterministic ViT-S weights (same speed as trained ones) on ``--device`` (cpu by default).
Prints a table and writes ``bench_multicam.json``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import platform
import signal
import subprocess
import sys
import time
from typing import Any

import numpy as np

from depth_anything_ros.offline.node_process import NAMESPACE, node_arguments, ros_environment

W, H = 320, 240


def node_args(args: argparse.Namespace, threads: int) -> list[str]:
    """Return the model parameters every node of the comparison gets."""
    return node_arguments({'checkpoint': 'untrained', 'allow_untrained_weights': True,
                           'encoder': 'vits', 'device': args.device, 'backend': 'torch',
                           'precision': 'fp32', 'input_size': args.input_size,
                           'cpu_threads': threads})


def rss_kib(pid: int) -> tuple[int, int]:
    """Return ``(VmRSS, VmHWM)`` of a process in KiB (Linux /proc)."""
    fields = dict(line.split(':', 1) for line in Path(f'/proc/{pid}/status').read_text()
                  .splitlines() if ':' in line)
    return int(fields['VmRSS'].split()[0]), int(fields['VmHWM'].split()[0])


def start_nodes(setup: str, names: list[str], args: argparse.Namespace,
                logs: Path) -> list[subprocess.Popen]:
    base = [sys.executable, '-m', 'depth_anything_ros.ros.node', '--ros-args']
    if setup == 'one process':   # the same CPU budget: the threads of all the processes
        commands = [base + node_args(args, args.cpu_threads * len(names)) +
                    node_arguments({'cameras': names})]
    else:
        commands = [base + node_arguments({}, {NAMESPACE: f'/{n}'}) +
                    node_args(args, args.cpu_threads) for n in names]
    procs = []
    for i, command in enumerate(commands):
        with (logs / f'{setup.replace(" ", "_")}_{len(names)}_{i}.log').open('w') as log:
            procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                          env=os.environ.copy()))
    return procs


def stop_nodes(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def measure(setup: str, n: int, args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    """Run one setup with ``n`` cameras; return its memory, rates and latencies."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header

    from depth_anything_ros.offline.bench import synthetic_frame
    from depth_anything_ros.ros.conversions import array_to_image, camera_info_from_k

    names = [f'cam{i}' for i in range(n)]
    procs = start_nodes(setup, names, args, logs)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    player = Node('multicam_player', context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(player)
    pixels = synthetic_frame(H, W)
    info = camera_info_from_k(300.0, 300.0, W / 2 - 0.5, H / 2 - 0.5, W, H)
    image_pubs = [player.create_publisher(Image, f'/{c}/image', qos_profile_sensor_data)
                  for c in names]
    info_pubs = [player.create_publisher(CameraInfo, f'/{c}/camera_info',
                                         qos_profile_sensor_data) for c in names]
    received: dict[str, list[tuple[float, float]]] = {c: [] for c in names}

    def on_depth(msg: Image, camera: str) -> None:
        now = player.get_clock().now().nanoseconds
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        received[camera].append((time.monotonic(), 1e-6 * (now - stamp)))

    for c in names:
        player.create_subscription(Image, f'/{c}/depth/image',
                                   lambda m, c=c: on_depth(m, c), 10)

    def play(until: float) -> None:
        period = 1.0 / args.rate
        next_t = time.monotonic()
        while time.monotonic() < until:
            if time.monotonic() >= next_t:
                next_t += period
                stamp = player.get_clock().now().to_msg()
                for i, c in enumerate(names):
                    msg = array_to_image(pixels, 'bgr8', Header(stamp=stamp,
                                                                frame_id=f'{c}_optical'))
                    info.header = msg.header
                    info_pubs[i].publish(info)
                    image_pubs[i].publish(msg)
            executor.spin_once(timeout_sec=max(0.0, min(0.005, next_t - time.monotonic())))
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f'a depth node exited; see the logs in {logs}')

    try:
        # start-up: until every camera has its depth (model loaded, warm)
        deadline = time.monotonic() + 180
        while not all(received.values()):
            play(time.monotonic() + 1.0)
            if time.monotonic() > deadline:
                raise RuntimeError(f'no depth from every camera within 180 s; see {logs}')
        play(time.monotonic() + 2.0)   # settle
        start = time.monotonic()
        play(start + args.seconds)
        end = time.monotonic()
        memory = [rss_kib(p.pid) for p in procs]
    finally:
        executor.shutdown()
        player.destroy_node()
        rclpy.try_shutdown(context=ctx)
        stop_nodes(procs)
    window = {c: [lat for t, lat in r if start <= t <= end] for c, r in received.items()}
    fps = [len(v) / (end - start) for v in window.values()]
    latencies = np.asarray([lat for v in window.values() for lat in v])
    return {'setup': setup, 'cameras': n, 'processes': len(procs),
            'rss_mib': sum(m[0] for m in memory) / 1024,
            'peak_rss_mib': sum(m[1] for m in memory) / 1024,
            'fps_per_camera_median': float(np.median(fps)), 'fps_per_camera_min': min(fps),
            'fps_total': float(sum(fps)),
            'latency_p50_ms': float(np.percentile(latencies, 50)) if latencies.size else None,
            'latency_p90_ms': float(np.percentile(latencies, 90)) if latencies.size else None,
            'frames': int(latencies.size)}


def main() -> int:
    parser = argparse.ArgumentParser(description='multi-camera depth node benchmark')
    parser.add_argument('--quick', action='store_true', help='2 cameras, 5 s per setup')
    parser.add_argument('--cameras', type=int, nargs='+', default=[2, 4])
    parser.add_argument('--input-size', type=int, default=154)
    parser.add_argument('--rate', type=float, default=30.0, help='Hz per camera')
    parser.add_argument('--seconds', type=float, default=20.0, help='measurement per setup')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:N')
    parser.add_argument('--cpu-threads', type=int, default=1,
                        help='torch threads per camera: each process of one per camera, '
                        'N times that for the one process of N cameras')
    parser.add_argument('--out', type=Path, default=Path('out/bench'))
    args = parser.parse_args()
    if args.quick:
        args.cameras, args.seconds = [2], min(args.seconds, 5.0)
    args.out.mkdir(parents=True, exist_ok=True)
    logs = args.out / 'bench_multicam_logs'
    logs.mkdir(exist_ok=True)
    rows = []
    with ros_environment():
        for n in args.cameras:
            for setup in ('one process', 'one process per camera'):
                rows.append(measure(setup, n, args, logs))
    print(f'\n{W}x{H} bgr8 cameras at {args.rate:g} Hz each, ViT-S (untrained weights) at '
          f'input {args.input_size}, {args.device}, {args.cpu_threads} torch thread(s) per '
          'camera, '
          f'{args.seconds:g} s per setup')
    head = (f'  {"cameras":>7} {"setup":<24} {"RSS MiB":>8} {"peak MiB":>8} '
            f'{"fps/cam":>8} {"min fps":>8} {"p50 ms":>8} {"p90 ms":>8}')
    print(head)
    for r in rows:
        print(f'  {r["cameras"]:>7} {r["setup"]:<24} {r["rss_mib"]:8.0f} '
              f'{r["peak_rss_mib"]:8.0f} {r["fps_per_camera_median"]:8.2f} '
              f'{r["fps_per_camera_min"]:8.2f} {r["latency_p50_ms"] or float("nan"):8.0f} '
              f'{r["latency_p90_ms"] or float("nan"):8.0f}')
    report = {'benchmark': 'multicam', 'image': [W, H], 'rate_hz': args.rate,
              'device': args.device,
              'input_size': args.input_size, 'cpu_threads': args.cpu_threads,
              'seconds': args.seconds, 'machine': platform.processor() or platform.machine(),
              'cpus': os.cpu_count(), 'python': platform.python_version(), 'results': rows}
    (args.out / 'bench_multicam.json').write_text(json.dumps(report, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
