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

"""The demo's camera stream (a bundled rosbag2), default checkpoint and cloud renderer.

The ``depth-anything-ros demo`` command (depth_anything_ros/commands/demo.py) plays the stream
to the depth node; the soak test and the node benchmarks reuse the stream.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from depth_anything_ros.errors import InvalidInputError, MissingInputError

DATA = Path(__file__).resolve().parents[1] / 'data' / 'demo_stream'
DEFAULT_CHECKPOINT = 'metric_indoor_vits'
#: What the demo runs without the default checkpoint: the toy model shipped with the package.
BUNDLED_CHECKPOINT = 'rooms_tiny'
#: The input size it was trained at (tools/make_bundled_model.py), the demo's default for it.
BUNDLED_INPUT_SIZE = 196


def resolve_checkpoint(checkpoint: str, weights_dir: str) -> tuple[str, bool]:
    """Return ``(checkpoint, untrained)``.

    The given one, else the default if present, else the bundled toy model, else (a package
    without its data) untrained weights.
    """
    if checkpoint:
        return checkpoint, checkpoint.startswith('untrained')
    try:
        from depth_anything_ros.models.hub import resolve_checkpoint as find
    except ImportError:
        return 'untrained', True
    for name in (DEFAULT_CHECKPOINT, BUNDLED_CHECKPOINT):
        try:
            find(name, weights_dir or None)
            return name, False
        except FileNotFoundError:
            continue
    return 'untrained', True


def toy_note(checkpoint: str) -> str:
    """Return what a user must be told about ``checkpoint`` whenever it runs ('': nothing)."""
    from depth_anything_ros.models.hub import checkpoint_info
    info = checkpoint_info(checkpoint)
    return info.note if info is not None else ''


def read_stream(bag: Path, limit: int = 0) -> list[tuple[Any, Any]]:
    """Return ``[(CompressedImage, CameraInfo)]`` pairs from a rosbag2 directory, in order."""
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CameraInfo, CompressedImage

    from depth_anything_ros.core.bags import open_reader
    if not (bag / 'metadata.yaml').is_file():
        raise MissingInputError(f'{bag} is not a rosbag2 directory (no metadata.yaml); give '
                                'one, or regenerate the bundled one with '
                                'tools/make_demo_stream.py')
    images: list[Any] = []
    infos: dict[tuple[int, int], Any] = {}
    with open_reader(bag) as reader:
        for conn, _, raw in reader.messages():
            if conn.msgtype == 'sensor_msgs/msg/CompressedImage':
                images.append(deserialize_message(bytes(raw), CompressedImage))
            elif conn.msgtype == 'sensor_msgs/msg/CameraInfo':
                info = deserialize_message(bytes(raw), CameraInfo)
                infos[(info.header.stamp.sec, info.header.stamp.nanosec)] = info
    pairs = [(im, infos[(im.header.stamp.sec, im.header.stamp.nanosec)]) for im in images
             if (im.header.stamp.sec, im.header.stamp.nanosec) in infos]
    if not pairs:
        raise InvalidInputError(f'{bag} holds no CompressedImage with a matching CameraInfo; '
                                'give a bag recorded with both')
    return pairs[:limit] if limit > 0 else pairs


def render_cloud(points: np.ndarray, colours: np.ndarray, size: tuple[int, int] = (640, 480),
                 yaw_deg: float = 35.0, pitch_deg: float = 25.0) -> np.ndarray:
    """Return a bgr8 picture of ``points`` (N, 3) metres, optical frame, from an oblique view.

    The virtual camera orbits the cloud's centre by ``yaw`` (left-right) and ``pitch`` (looks
    down from above); points are splatted 2x2, far ones first so near ones stay on top.
    ``colours`` is uint8 (N, 3) BGR.
    """
    width, height = size
    canvas = np.full((height, width, 3), 30, np.uint8)
    keep = np.isfinite(points).all(axis=1)
    points, colours = points[keep], colours[keep]
    if len(points) == 0:
        return canvas
    centre = np.median(points, axis=0)
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    # rotate about the y (down) axis, then about the x axis so that we look down on the scene
    ry = np.array([[math.cos(yaw), 0, -math.sin(yaw)], [0, 1, 0],
                   [math.sin(yaw), 0, math.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, math.cos(pitch), math.sin(pitch)],
                   [0, -math.sin(pitch), math.cos(pitch)]])
    p = (points - centre) @ (rx @ ry).T                                      # (N, 3)
    extent = np.percentile(np.linalg.norm(points - centre, axis=1), 95)
    p[:, 2] += 2.2 * max(extent, 1e-3)                                     # step back
    front = p[:, 2] > 1e-3
    p, colours = p[front], colours[front]
    f = 0.9 * width
    u = (f * p[:, 0] / p[:, 2] + width / 2).astype(np.int64)
    v = (f * p[:, 1] / p[:, 2] + height / 2).astype(np.int64)
    order = np.argsort(-p[:, 2])                                            # far first
    u, v, colours = u[order], v[order], colours[order]
    for du in (0, 1):
        for dv in (0, 1):
            inside = (u + du >= 0) & (u + du < width) & (v + dv >= 0) & (v + dv < height)
            canvas[v[inside] + dv, u[inside] + du] = colours[inside]
    return canvas
