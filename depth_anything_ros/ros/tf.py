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

"""TF lookups (optional: tf2_ros): LiDAR anchors in another frame, camera poses for fusion.

Without ``anchor_transform`` a cloud in another frame is moved into the camera's optical
frame with the transform TF knows at the latest time, where tf2_ros is installed. With
``temporal: fuse`` each camera's pose in ``odom_frame`` is looked up at each image's stamp
(:meth:`Transforms.pose`, waiting up to :data:`POSE_WAIT_S` for it); without tf2_ros the
node has no poses and fuses only while the image hardly changes (core/temporal.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import rclpy.duration
import rclpy.time

from depth_anything_ros.core.alignment import transform_matrix
from depth_anything_ros.core.camera_stage import CameraStage
from depth_anything_ros.core.temporal import pose_matrix, PoseUnavailable

try:   # optional: where tf2_ros is installed
    import tf2_ros
except ImportError:
    tf2_ros = None

__all__ = ['anchor_extrinsic', 'POSE_WAIT_S', 'Transforms']

# Seconds the worker waits for the transform at an image's stamp: TF at the camera's rate
# arrives within milliseconds of the image; a longer wait would only delay frames when TF
# has stopped (the frame then goes out unfused, the reason counted).
POSE_WAIT_S = 0.1


class Transforms:
    """A TF buffer and its listener on ``node``."""

    def __init__(self, node: Any) -> None:
        self._buffer = tf2_ros.Buffer()
        self._listener = tf2_ros.TransformListener(self._buffer, node)

    @classmethod
    def create(cls, node: Any) -> Transforms | None:
        """Return a listener on ``node``, or None where tf2_ros is not installed."""
        return None if tf2_ros is None else cls(node)

    def lookup(self, target: str, source: str) -> np.ndarray:
        """Return the 4x4 transform of points in ``source`` into ``target``.

        Raises:
            ValueError: TF knows no such transform.

        """
        try:
            tf = self._buffer.lookup_transform(target, source, rclpy.time.Time())
        except tf2_ros.TransformException as exc:
            raise ValueError(f'no transform {source!r} -> {target!r}: {exc}') from None
        t, q = tf.transform.translation, tf.transform.rotation
        return transform_matrix((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))

    def pose(self, fixed: str, frame: str, stamp_ns: int) -> np.ndarray:
        """Return ``T_fixed_frame`` (4x4) at ``stamp_ns`` (a core.temporal.PoseSource).

        tf2 interpolates between the transforms around the stamp and never extrapolates, the
        rule core.temporal.PoseBuffer applies to a bag's /tf offline.

        Raises:
            PoseUnavailable: TF has no such transform at that time within POSE_WAIT_S.

        """
        try:
            # (a stamp before 1970 is a valid header but no rclpy Time: ValueError)
            tf = self._buffer.lookup_transform(
                fixed, frame, rclpy.time.Time(nanoseconds=int(stamp_ns)),
                timeout=rclpy.duration.Duration(nanoseconds=int(POSE_WAIT_S * 1e9)))
        except (tf2_ros.TransformException, ValueError, OverflowError) as exc:
            raise PoseUnavailable(f'no transform {fixed} <- {frame} at '
                                  f'{stamp_ns * 1e-9:.3f} s: {exc}') from None
        t, q = tf.transform.translation, tf.transform.rotation
        return pose_matrix((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))   # NaN: refused by the fusion


def anchor_extrinsic(transforms: Transforms | None, stage: CameraStage,
                     frame: str) -> np.ndarray | None:
    """Return the transform anchor ``frame`` -> the camera's optical frame (None: not needed).

    Raises:
        ValueError: a transform is needed and TF cannot give it.

    """
    problem = stage.anchor_frame_mismatch(frame)
    if problem is None:
        return None
    if transforms is None:
        raise ValueError(f'{problem}: set anchor_transform (or install tf2_ros for TF)')
    return transforms.lookup(stage.image_frame, frame)
