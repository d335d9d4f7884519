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

"""``depth-anything-ros demo``: run the depth node on the bundled camera stream; write pictures.

The node runs as its own process and talks DDS, exactly as on a robot. This process plays the
bundled rosbag2 (a procedurally rendered room, JPEG + camera_info) frame by frame, waits for
each frame's outputs, and writes to ``--out``:

* ``depth.png``: camera image beside the colourised depth of the last frame,
* ``cloud.png``: the point cloud rendered from an oblique viewpoint,
* ``latency.json``: stamp -> receipt latency of depth and cloud, node-side inference time.

Without a real checkpoint it runs the toy model that ships with the package (``rooms_tiny``,
trained on synthetic rooms) and says so loudly, on the terminal and on its pictures: the depth
then shows the pipeline working on a model that learned roughly what a room looks like, not
Depth Anything. ``--checkpoint untrained`` runs deterministic untrained weights, said as loudly.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
import sys
import time
from typing import Any

import cv2
import numpy as np

from depth_anything_ros.commands.args import (
    add_model_arguments,
    add_runtime_arguments,
    model_flags,
)
from depth_anything_ros.core import stats as keys
from depth_anything_ros.errors import InvalidInputError, user_errors
from depth_anything_ros.offline.demo import (
    BUNDLED_CHECKPOINT,
    BUNDLED_INPUT_SIZE,
    DATA,
    DEFAULT_CHECKPOINT,
    read_stream,
    render_cloud,
    resolve_checkpoint,
    toy_note,
)
from depth_anything_ros.offline.node_process import (
    camera_remaps,
    depth_status,
    node_arguments,
    NodeProcess,
    ros_environment,
)
from depth_anything_ros.params import spec, validate

UNTRAINED_BANNER = '\n'.join([
    '#' * 78,
    '#  NO CHECKPOINT FOUND: USING UNTRAINED (DETERMINISTIC) WEIGHTS.',
    '#  The node, topics, camera_info and clouds are real; the DEPTH VALUES ARE NOT.',
    f'#  For real depth: depth-anything-ros download {DEFAULT_CHECKPOINT}',
    '#  then run the demo again (or pass --checkpoint FILE).',
    '#' * 78])


def toy_banner(note: str) -> str:
    """Return the banner of a run on the bundled toy model (``note``: what it is)."""
    return '\n'.join([
        '#' * 78,
        f'#  NO CHECKPOINT FOUND: USING THE BUNDLED TOY MODEL {BUNDLED_CHECKPOINT!r}:',
        f'#  {note}.',
        f'#  For real depth: depth-anything-ros download {DEFAULT_CHECKPOINT}',
        '#  then run the demo again (or pass --checkpoint FILE).',
        '#' * 78])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the demo's command-line flags."""
    parser.add_argument('--out', type=Path, required=True, help='output directory')
    # the node runs a metric head here, so the head flags are left out
    add_model_arguments(parser, required=False, default='', head=False,
                        help=f'metric checkpoint file or name (default: {DEFAULT_CHECKPOINT} '
                        'if present in the weights directory, else the bundled toy model '
                        f'{BUNDLED_CHECKPOINT}; "untrained" runs deterministic untrained '
                        'weights, which the demo takes without --allow-untrained)')
    parser.add_argument('--scene', default='indoor', choices=spec('scene').choices)
    # 364: a smooth stream on a CPU; 518 = full quality.
    add_runtime_arguments(parser, input_size=364)
    parser.set_defaults(input_size=None)   # 364, or the size the bundled toy was trained at
    parser.add_argument('--frames', type=int, default=0, help='play only the first N frames')
    parser.add_argument('--bag', type=Path, default=DATA, help='rosbag2 directory to play')
    parser.add_argument('--timeout', type=float, default=120.0,
                        help='seconds to wait for the node to start or to answer a frame')


UNTRAINED_LABEL = 'UNTRAINED WEIGHTS - NOT REAL DEPTH'
TOY_LABEL = 'TOY MODEL - NOT DEPTH ANYTHING'


def _label(img: np.ndarray, text: str, warning: str) -> np.ndarray:
    """``img`` with ``text`` on top and ``warning`` (if any) in red at the bottom."""
    out = img.copy()
    cv2.putText(out, text, (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
    if warning:   # as large as fits the picture's width
        (width, _), _ = cv2.getTextSize(warning, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 2)
        scale = min(0.5, 0.5 * (out.shape[1] - 16) / width)
        cv2.putText(out, warning, (8, out.shape[0] - 10),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 255), 2, cv2.LINE_AA)
    return out


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    a = np.asarray(values)
    return {'median': float(np.median(a)), 'p90': float(np.percentile(a, 90)),
            'min': float(a.min()), 'max': float(a.max()), 'n': int(a.size)}


def main(args: argparse.Namespace) -> int:
    """Run the demo; return 0 on success."""
    if args.frames < 0 or not args.timeout > 0:
        raise InvalidInputError('need --frames >= 0 (0: all) and --timeout > 0 seconds')
    checkpoint, untrained = resolve_checkpoint(args.checkpoint, args.weights_dir)
    note = '' if untrained else toy_note(checkpoint)
    if args.input_size is None:
        args.input_size = BUNDLED_INPUT_SIZE if checkpoint == BUNDLED_CHECKPOINT else 364
    banner = UNTRAINED_BANNER if untrained else toy_banner(note) if note else ''
    args.warning = UNTRAINED_LABEL if untrained else TOY_LABEL if note else ''
    with user_errors(ValueError):   # the model flags as every command reads them
        flags = model_flags(argparse.Namespace(**{**vars(args), 'checkpoint': checkpoint}))
    checkpoint = flags.checkpoint   # untrained --encoder E: untrained:E
    # the node's encoder parameter: a check of the checkpoint (untrained:E names its own)
    args.encoder = ('auto' if untrained or note or args.encoder == 'auto'
                    else flags.encoder or spec('encoder').default)
    params = _node_parameters(args, checkpoint, untrained)
    validate({name: value for name, value in params.items() if value is not None})
    pairs = read_stream(args.bag, args.frames)
    args.out.mkdir(parents=True, exist_ok=True)
    if banner:
        print(banner, flush=True)
    print(f'demo: {len(pairs)} frames from {args.bag}, checkpoint {checkpoint!r}, '
          f'input_size {args.input_size}', flush=True)
    with ros_environment():
        code = _run(args, pairs, node_arguments(params, camera_remaps('/demo')), checkpoint,
                    untrained)
    if banner:
        print(banner, flush=True)
    return code


def _node_parameters(args: argparse.Namespace, checkpoint: str, untrained: bool
                     ) -> dict[str, Any]:
    """Return the demo node's parameters (None: the node's default)."""
    return {'checkpoint': checkpoint, 'encoder': args.encoder, 'scene': args.scene,
            'mode': 'metric', 'input_size': args.input_size, 'device': args.device,
            'backend': args.backend, 'precision': args.precision, 'exact': args.exact,
            'engine_cache_size': args.engine_cache_size, 'trt_max_batch': args.trt_max_batch,
            'trt_opt_shape': args.trt_opt_shape, 'trt_max_shape': args.trt_max_shape,
            'allow_untrained_weights': untrained, 'diagnostics_period': 0.5,
            'weights_dir': args.weights_dir or None, 'cache_dir': args.cache_dir or None}


def _run(args: argparse.Namespace, pairs: list[tuple[Any, Any]], ros_args: list[str],
         checkpoint: str, untrained: bool) -> int:
    """Start the depth node, play ``pairs`` to it, stop it; return the exit code."""
    log_path = args.out / 'node.log'
    with NodeProcess(ros_args, log_path, 'depth_demo_player', spin_period=0.02) as node:
        code = _play(args, pairs, checkpoint, untrained, node)
    if code == 0 and node.process.returncode != 0:
        print(f'demo: the node exited with code {node.process.returncode}; see {log_path}',
              file=sys.stderr)
        return 1
    return code


def _play(args: argparse.Namespace, pairs: list[tuple[Any, Any]], checkpoint: str,
          untrained: bool, node: NodeProcess) -> int:
    """Feed ``pairs`` to the running node one at a time; write pictures and latencies."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2

    from depth_anything_ros.ros.conversions import (
        array_to_image,
        cloud_to_array,
        compressed_to_array,
        image_to_array,
        stamp_ns,
    )
    log_path, harness, spin_until = node.log_path, node.node, node.spin_until
    reliable = QoSProfile(depth=5, reliability=QoSReliabilityPolicy.RELIABLE)
    got: dict[str, dict[int, tuple[Any, float]]] = {'depth': {}, 'colored': {}, 'points': {},
                                                     'info': {}}

    def keep(kind: str):
        def callback(msg: Any) -> None:
            got[kind][stamp_ns(msg.header)] = (msg, time.monotonic())
        return callback

    harness.create_subscription(Image, '/demo/depth/image', keep('depth'), reliable)
    harness.create_subscription(Image, '/demo/depth/colored', keep('colored'), reliable)
    harness.create_subscription(PointCloud2, '/demo/points', keep('points'), reliable)
    harness.create_subscription(CameraInfo, '/demo/depth/camera_info', keep('info'), reliable)
    pub_image = harness.create_publisher(Image, '/demo/camera/image', reliable)
    pub_info = harness.create_publisher(CameraInfo, '/demo/camera/camera_info', reliable)
    diagnostics: list[Any] = []
    harness.create_subscription(DiagnosticArray, '/diagnostics', diagnostics.append, 10)

    print('demo: starting the depth node ...', flush=True)
    ready = spin_until(lambda: harness.count_subscribers('/demo/camera/image') > 0
                       and harness.count_publishers('/demo/points') > 0, args.timeout)
    if not ready:
        print(f'demo: the depth node did not start; its log ({log_path}):\n'
              + log_path.read_text(), file=sys.stderr)
        return 1
    spin_until(lambda: False, 0.5)   # let the reliable subscriptions match
    rows = []
    last = None
    for i, (jpeg, info) in enumerate(pairs):
        pixels, encoding = compressed_to_array(jpeg)
        stamp_msg = harness.get_clock().now().to_msg()
        image = array_to_image(pixels, encoding, jpeg.header)
        image.header.stamp = stamp_msg
        info.header.stamp = stamp_msg
        stamp = stamp_ns(image.header)
        sent = time.monotonic()
        pub_info.publish(info)
        pub_image.publish(image)
        done = spin_until(lambda s=stamp: all(s in got[k] for k in
                                              ('depth', 'colored', 'points', 'info')),
                          args.timeout)
        if not done:
            print(f'demo: no answer for frame {i} within {args.timeout:.0f} s; node log:\n'
                  + log_path.read_text(), file=sys.stderr)
            return 1
        rows.append({'frame': i,
                     'depth_ms': 1e3 * (got['depth'][stamp][1] - sent),
                     'points_ms': 1e3 * (got['points'][stamp][1] - sent)})
        last = (pixels, stamp)
        print(f'  frame {i:2d}: depth {rows[-1]["depth_ms"]:7.1f} ms, cloud '
              f'{rows[-1]["points_ms"]:7.1f} ms', flush=True)
    spin_until(lambda: False, 1.2)   # one more /diagnostics period
    pixels, stamp = last
    depth = image_to_array(got['depth'][stamp][0])
    colored = image_to_array(got['colored'][stamp][0])
    cloud = cloud_to_array(got['points'][stamp][0])
    _write_pictures(args.out, pixels, depth, colored, cloud, args.warning)
    summary = _summary(rows, diagnostics, checkpoint, untrained, args, depth)
    (args.out / 'latency.json').write_text(json.dumps(summary, indent=2) + '\n')
    _print_table(summary)
    print(f'demo: wrote {args.out}/depth.png, cloud.png, latency.json', flush=True)
    return 0


def _write_pictures(out: Path, bgr: np.ndarray, depth: np.ndarray, colored: np.ndarray,
                    cloud: np.ndarray, warning: str) -> None:
    finite = depth[np.isfinite(depth)]
    span = f'{finite.min():.2f}-{finite.max():.2f} m' if finite.size else 'no valid depth'
    side = np.hstack([_label(bgr, 'camera', ''),
                      _label(colored, f'depth (near = red) {span}', warning)])
    cv2.imwrite(str(out / 'depth.png'), side)
    xyz = np.stack([cloud['x'], cloud['y'], cloud['z']], -1).reshape(-1, 3)
    rgb = cloud['rgb'].view(np.uint32).reshape(-1)
    bgr_points = np.stack([rgb & 0xFF, (rgb >> 8) & 0xFF, (rgb >> 16) & 0xFF], -1)
    picture = render_cloud(xyz, bgr_points.astype(np.uint8))
    cv2.imwrite(str(out / 'cloud.png'), _label(picture, 'point cloud, oblique view', warning))


def _summary(rows: list[dict], diagnostics: list[Any], checkpoint: str, untrained: bool,
             args: argparse.Namespace, depth: np.ndarray) -> dict[str, Any]:
    node_values: dict[str, str] = {}
    for msg in diagnostics:
        node_values = depth_status(msg) or node_values
    steady = rows[1:] or rows     # the first frame includes one-off warm-up work
    return {
        'checkpoint': checkpoint, 'untrained_weights': untrained,
        'toy_model': toy_note(checkpoint) if not untrained else '',
        'input_size': args.input_size, 'frames': len(rows),
        'image_size': [int(depth.shape[1]), int(depth.shape[0])],
        'first_frame_ms': rows[0]['depth_ms'],
        'depth_latency_ms': _stats([r['depth_ms'] for r in steady]),
        'cloud_latency_ms': _stats([r['points_ms'] for r in steady]),
        'node_inference_p50_ms': float(node_values.get(keys.INFERENCE_P50_MS, 'nan')),
        'node_latency_p50_ms': float(node_values.get(keys.LATENCY_P50_MS, 'nan')),
        'device': node_values.get(keys.DEVICE, ''),
        'backend': node_values.get(keys.BACKEND, ''),
        'precision': node_values.get(keys.PRECISION, ''),
        'per_frame': rows,
    }


def _print_table(s: dict[str, Any]) -> None:
    print(f'\n  {"measure":<38} {"median":>9} {"p90":>9}')
    for key, label in (('depth_latency_ms', 'stamp -> depth/image received (ms)'),
                       ('cloud_latency_ms', 'stamp -> points received (ms)')):
        st = s[key]
        print(f'  {label:<38} {st.get("median", math.nan):9.1f} {st.get("p90", math.nan):9.1f}')
    print(f'  {"node: inference p50 (ms)":<38} {s["node_inference_p50_ms"]:9.1f}')
    print(f'  {"node: stamp -> publish p50 (ms)":<38} {s["node_latency_p50_ms"]:9.1f}')
    print(f'  first frame (warm-up) {s["first_frame_ms"]:.0f} ms; device {s["device"] or "?"}, '
          f'{s["backend"] or "?"} {s["precision"] or "?"}; {s["frames"]} frames at input_size '
          f'{s["input_size"]}\n')
