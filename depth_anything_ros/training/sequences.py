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

"""Synthetic camera trajectories with exact depth and poses (``synth --sequence N``).

Each scene of :mod:`.synth` is filmed along one trajectory of ``N`` frames at :data:`FPS`:
smooth motion (forward and sideways, a slow pan), a stop, a fast turn (about 2 rad/s at 60
frames) and smooth motion again, while a ball rolls across the view (the moving object).
Written per frame: RGB, depth and intrinsics (the generic dataset format), the camera pose
(``poses.txt``), the moving object's mask (``moving/NAME.png``); and per scene a rosbag2
(MCAP) with ``/camera/image``, ``/camera/camera_info`` and ``/tf`` (``odom`` ->
``camera_optical_frame``), so that ``process-bag`` and the node can replay it.

Poses are ``T_odom_camera``: they map optical-frame points into a right-handed, z-up ``odom``
frame (:func:`.synth.camera_pose`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import logging
import math
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from depth_anything_ros.core.temporal import pose_matrix, quaternion_from_matrix
from depth_anything_ros.errors import (
    InvalidInputError,
    MissingInputError,
    OutputExistsError,
    read_text_file,
)
from depth_anything_ros.training import synth
from depth_anything_ros.training.datasets import GenericWriter

LOG = logging.getLogger(__name__)

FPS = 30.0
T0_NS = 1_700_000_000_000_000_000          # the first frame's stamp in the bags
ODOM_FRAME = 'odom'
CAMERA_FRAME = 'camera_optical_frame'
POSES_FILE = 'poses.txt'
MOVING_DIR = 'moving'
BAGS_DIR = 'bags'

# keyframes of the trajectory: (fraction of the sequence, sideways m, up m, forward m, yaw rad);
# between two keyframes the camera moves with a smoothstep (at rest on every keyframe), so
# 0.30 -> 0.50 is the stop and 0.50 -> 0.65 the fast turn
KEYFRAMES = ((0.0, 0.0, 0.0, 0.0, 0.0), (0.30, 0.15, 0.0, 0.30, 0.10),
             (0.50, 0.15, 0.0, 0.30, 0.10), (0.65, 0.15, 0.0, 0.30, 0.70),
             (1.0, -0.10, 0.05, 0.50, 0.50))
SCENE_SCALE = {'indoor': 1.0, 'outdoor': 4.0}


@dataclass(frozen=True)
class SequenceFrame:
    """One frame of a sequence.

    RGB (H, W, 3) uint8, depth (H, W) metres (inf = none), the moving object's mask (H, W)
    bool, ``T_odom_camera`` (4, 4), stamp in seconds from the first frame.
    """

    rgb: np.ndarray
    depth: np.ndarray
    moving: np.ndarray
    pose: np.ndarray
    stamp_s: float


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def trajectory(fraction: float) -> tuple[np.ndarray, float]:
    """Return the camera's offset (sideways, up, forward; metres) and yaw (rad) at a fraction."""
    for (f0, *a), (f1, *b) in zip(KEYFRAMES, KEYFRAMES[1:]):
        if fraction <= f1:
            s = _smoothstep((fraction - f0) / (f1 - f0))
            v = np.asarray(a) + s * (np.asarray(b) - np.asarray(a))
            return v[:3], float(v[3])
    return np.asarray(KEYFRAMES[-1][1:4], float), float(KEYFRAMES[-1][4])


def _ball(scene: synth.Scene, scale: float, seed: float) -> tuple[synth.Sphere, np.ndarray]:
    """Return a ball in front of the starting camera and its velocity (world, m/s)."""
    forward = scene.rotation @ np.array([0.0, 0.0, 1.0])
    forward[1] = 0.0
    forward /= max(np.linalg.norm(forward), 1e-9)
    side = np.array([forward[2], 0.0, -forward[0]])            # horizontal, to the right
    radius = 0.25 * scale
    centre = scene.origin + 2.2 * scale * forward
    centre[1] = radius
    material = synth.Material('checker', np.array([0.85, 0.2, 0.15]),
                              np.array([0.95, 0.9, 0.3]), 0.12 * scale, seed)
    return synth.Sphere(centre, radius, material), 0.8 * scale * side


def render_sequence(scene_kind: str, index: int, seed: int, frames: int,
                    size: tuple[int, int] = (240, 320)
                    ) -> tuple[list[SequenceFrame], synth.Camera]:
    """Render sequence ``index`` of ``(scene_kind, seed)``: ``frames`` frames and the camera."""
    if scene_kind not in synth.SCENES:
        raise InvalidInputError(f'unknown scene {scene_kind!r}; choose from '
                                f'{", ".join(synth.SCENES)}')
    if frames < 2:
        raise InvalidInputError(f'a sequence needs at least 2 frames, got {frames}')
    rng = np.random.default_rng([seed, index, 0 if scene_kind == 'indoor' else 1, 2])
    base = synth.SCENES[scene_kind](rng)
    camera = synth.Camera.from_fov(size[1], size[0], synth.HFOV_DEG)
    scale = SCENE_SCALE[scene_kind]
    ball, velocity = _ball(base, scale, float(rng.uniform(0, 100)))
    duration = (frames - 1) / FPS
    yaw0 = math.atan2(*(base.rotation @ np.array([0.0, 0.0, 1.0]))[[0, 2]])
    out = []
    for i in range(frames):
        t = i / FPS
        offset, yaw = trajectory(i / (frames - 1))
        c, s = math.cos(yaw0), math.sin(yaw0)
        # offsets in the heading of the starting camera: sideways (right), up, forward
        move = scale * (offset[0] * np.array([c, 0.0, -s]) + offset[1] * np.array([0, 1.0, 0])
                        + offset[2] * np.array([s, 0.0, c]))
        cy, sy = math.cos(yaw), math.sin(yaw)
        turn = np.array([[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]])  # + yaw: to the left
        moving_ball = replace(ball, center=ball.center + velocity * (t - duration / 2.0))
        scene = replace(base, primitives=[*base.primitives, moving_ball],
                        origin=base.origin + move, rotation=turn @ base.rotation)
        rgb, depth = synth.render(scene, camera, rng)
        depth[depth > synth.MAX_DEPTH[scene_kind] * 1.2] = np.inf
        directions = camera.rays() @ scene.rotation.T
        hit = moving_ball.intersect(scene.origin, directions).reshape(depth.shape)
        moving = np.isfinite(hit) & (np.abs(hit - depth) <= 1e-5 * hit)
        out.append(SequenceFrame(rgb, depth, moving, synth.camera_pose(scene.origin,
                                                                       scene.rotation), t))
    return out, camera


def read_poses(root: str | Path) -> dict[str, tuple[str, float, np.ndarray]]:
    """Read ``poses.txt`` of a sequence dataset: ``{name: (sequence, stamp_s, T_odom_cam)}``.

    Raises:
        MissingInputError: the dataset has no poses (not written by ``synth --sequence``).
        InvalidInputError: a line of the file is not a pose.

    """
    path = Path(root) / POSES_FILE
    if not path.is_file():
        raise MissingInputError(f'{path} not found: temporal metrics need the camera poses '
                                'of every frame (synth --sequence N writes them)')
    out = {}
    for lineno, line in enumerate(read_text_file(path, 'poses file').splitlines(), 1):
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        try:
            values = [float(v) for v in parts[2:]]
        except ValueError:
            values = []
        if len(parts) != 10 or len(values) != 8:
            raise InvalidInputError(f'{path}:{lineno}: expected "name sequence stamp tx ty tz qx '
                                    'qy qz qw" (numbers after the two names)')
        out[parts[0]] = (parts[1], values[0], pose_matrix(values[1:4], values[4:8]))
    return out


def write_bag(path: Path, frames: list[SequenceFrame], camera: synth.Camera) -> Path:
    """Write one sequence as a rosbag2 (MCAP): image (rgb8), camera_info and ``/tf``."""
    from depth_anything_ros.core.bags import open_writer, typestore
    store = typestore()
    t = store.types
    header_t, time_t = t['std_msgs/msg/Header'], t['builtin_interfaces/msg/Time']
    image_t, info_t = t['sensor_msgs/msg/Image'], t['sensor_msgs/msg/CameraInfo']
    tf_t, stamped_t = t['tf2_msgs/msg/TFMessage'], t['geometry_msgs/msg/TransformStamped']
    transform_t, vector_t = t['geometry_msgs/msg/Transform'], t['geometry_msgs/msg/Vector3']
    quat_t, roi_t = t['geometry_msgs/msg/Quaternion'], t['sensor_msgs/msg/RegionOfInterest']
    k = np.array([camera.fx, 0, camera.cx, 0, camera.fy, camera.cy, 0, 0, 1], np.float64)
    p = np.array([camera.fx, 0, camera.cx, 0, 0, camera.fy, camera.cy, 0, 0, 0, 1, 0],
                 np.float64)
    with open_writer(path, 'mcap') as writer:
        c_tf = writer.add_connection('/tf', tf_t.__msgtype__, typestore=store)
        c_info = writer.add_connection('/camera/camera_info', info_t.__msgtype__,
                                       typestore=store)
        c_img = writer.add_connection('/camera/image', image_t.__msgtype__, typestore=store)
        for f in frames:
            ns = T0_NS + round(f.stamp_s * 1e9)
            stamp = time_t(sec=ns // 10 ** 9, nanosec=ns % 10 ** 9)
            q = quaternion_from_matrix(f.pose[:3, :3])
            tf = tf_t(transforms=[stamped_t(
                header=header_t(stamp=stamp, frame_id=ODOM_FRAME), child_frame_id=CAMERA_FRAME,
                transform=transform_t(translation=vector_t(*(float(v) for v in f.pose[:3, 3])),
                                      rotation=quat_t(*(float(v) for v in q))))])
            header = header_t(stamp=stamp, frame_id=CAMERA_FRAME)
            info = info_t(header=header, height=camera.height, width=camera.width,
                          distortion_model='plumb_bob', d=np.zeros(5), k=k,
                          r=np.eye(3).reshape(-1), p=p, binning_x=0, binning_y=0,
                          roi=roi_t(x_offset=0, y_offset=0, height=0, width=0,
                                    do_rectify=False))
            image = image_t(header=header, height=camera.height, width=camera.width,
                            encoding='rgb8', is_bigendian=0, step=camera.width * 3,
                            data=np.ascontiguousarray(f.rgb).reshape(-1))
            # TF first: a node receives the transform before the image that needs it
            writer.write(c_tf, ns, store.serialize_cdr(tf, tf_t.__msgtype__))
            writer.write(c_info, ns, store.serialize_cdr(info, info_t.__msgtype__))
            writer.write(c_img, ns, store.serialize_cdr(image, image_t.__msgtype__))
    return path


def generate_sequences(out: str | Path, scene: str = 'indoor', num: int = 1,
                       frames: int = 60, seed: int = 0, size: tuple[int, int] = (240, 320),
                       val_fraction: float = 0.2, depth_format: str = 'png16',
                       progress: bool = True) -> Path:
    """Write ``num`` sequences of ``frames`` frames under ``out``; return ``out``.

    The generic dataset (every 1/val_fraction-th scene, the first included, goes to val),
    ``poses.txt``, ``moving/`` (the moving object's masks) and ``bags/`` (one rosbag2 each).
    """
    if num < 1:
        raise InvalidInputError(f'--num must be >= 1 (sequences), got {num}')
    if frames < 2:
        raise InvalidInputError(f'--sequence must be >= 2 frames, got {frames}')
    if size[0] < 14 or size[1] < 14:
        raise InvalidInputError(f'--size {size[0]}x{size[1]} is too small; use at least 14x14')
    root = Path(out)
    bags = root / BAGS_DIR
    taken = [bags / f'{scene}_s{k:03d}' for k in range(num)
             if (bags / f'{scene}_s{k:03d}').exists()]
    if taken:
        raise OutputExistsError(f'{taken[0]} exists; remove it or choose another --out')
    camera = synth.Camera.from_fov(size[1], size[0], synth.HFOV_DEG)
    writer = GenericWriter(root, depth_scale=synth.DEPTH_SCALE[scene], depth_format=depth_format,
                           camera={'fx': camera.fx, 'fy': camera.fy, 'cx': camera.cx,
                                   'cy': camera.cy},
                           extra_meta={'source': f'depth-anything-ros synth --scene {scene} '
                                                 f'--sequence {frames}',
                                       'seed': seed, 'max_depth': synth.MAX_DEPTH[scene],
                                       'sequence': {'frames': frames, 'fps': FPS,
                                                    'poses': POSES_FILE, 'moving': MOVING_DIR,
                                                    'bags': BAGS_DIR},
                                       'note': 'procedural test/demo data, not real imagery'})
    (root / MOVING_DIR).mkdir(parents=True, exist_ok=True)
    every = max(1, round(1 / val_fraction)) if val_fraction > 0 else 0
    lines = ['# name sequence stamp_s tx ty tz qx qy qz qw: T_odom_camera_optical (metres)']
    k_matrix = camera.matrix().astype(np.float64)
    for k in tqdm(range(num), desc=f'synth {scene} sequences', unit='seq',
                  disable=not progress):
        seq, _ = render_sequence(scene, k, seed, frames, size)
        name_k = f'{scene}_s{k:03d}'
        split = 'val' if every and k % every == 0 else 'train'
        for i, f in enumerate(seq):
            name = f'{name_k}_f{i:04d}'
            writer.add(name, f.rgb, f.depth, split, intrinsics=k_matrix)
            cv2.imwrite(str(root / MOVING_DIR / f'{name}.png'), f.moving.astype(np.uint8) * 255)
            q = quaternion_from_matrix(f.pose[:3, :3])
            lines.append(f'{name} {name_k} {f.stamp_s:.6f} ' +
                         ' '.join(f'{v:.9f}' for v in (*f.pose[:3, 3], *q)))
        write_bag(bags / name_k, seq, camera)
    (root / POSES_FILE).write_text('\n'.join(lines) + '\n')
    writer.close()
    LOG.info('wrote %d %s sequences of %d frames to %s', num, scene, frames, root)
    return root
