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

"""The node's TF lookups (ros/tf.py) against a stand-in for tf2_ros (not installable here).

The stand-in records what the lookups ask of a tf2 buffer (which frame in which, at which stamp,
how long to wait) and answers as tf2 does: a TransformStamped, or a TransformException.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from depth_anything_ros.core.temporal import PoseUnavailable
from depth_anything_ros.ros import tf


class TransformException(Exception):
    """tf2_ros.TransformException's stand-in."""


class StandInBuffer:
    """Stand-in tf2_ros.Buffer: one transform, known at stamps ``known`` (nanoseconds)."""

    def __init__(self, known: tuple[int, ...]) -> None:
        self.known, self.calls = known, []

    def lookup_transform(self, target: str, source: str, time: object,
                         timeout: object = None) -> object:
        self.calls.append((target, source, time.nanoseconds,
                           None if timeout is None else timeout.nanoseconds))
        if time.nanoseconds and time.nanoseconds not in self.known:
            raise TransformException('Lookup would require extrapolation into the future')
        v = SimpleNamespace
        return v(transform=v(translation=v(x=1.0, y=2.0, z=3.0),
                             rotation=v(x=0.0, y=0.0, z=np.sqrt(0.5), w=np.sqrt(0.5))))


@pytest.fixture
def transforms(monkeypatch: pytest.MonkeyPatch) -> tf.Transforms:
    buffer = StandInBuffer(known=(1_500_000_000,))
    stand_in = SimpleNamespace(Buffer=lambda: buffer,
                               TransformListener=lambda b, node: ('listener', b, node),
                               TransformException=TransformException)
    monkeypatch.setattr(tf, 'tf2_ros', stand_in)
    return tf.Transforms.create(node='node')


def test_camera_pose_is_the_optical_frame_in_the_fixed_frame_at_the_stamp(
        transforms: tf.Transforms) -> None:
    pose = transforms.pose('odom', 'camera_optical_frame', 1_500_000_000)
    # T_odom_camera: tf2's lookup_transform(target=odom, source=camera) at the image's stamp,
    # waiting up to POSE_WAIT_S for it
    assert transforms._buffer.calls == [('odom', 'camera_optical_frame', 1_500_000_000,
                                         int(tf.POSE_WAIT_S * 1e9))]
    np.testing.assert_allclose(pose[:3, 3], (1.0, 2.0, 3.0))
    np.testing.assert_allclose(pose[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    with pytest.raises(PoseUnavailable, match='no transform odom <- camera_optical_frame at '
                                              '2.000 s: Lookup would require extrapolation'):
        transforms.pose('odom', 'camera_optical_frame', 2_000_000_000)


def test_without_tf2_ros_there_are_no_transforms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tf, 'tf2_ros', None)
    assert tf.Transforms.create(node='node') is None


@pytest.mark.parametrize('stamp_ns', [-1, -5_000_000_000])
def test_a_stamp_tf_cannot_hold_is_no_pose_not_a_lost_frame(transforms: tf.Transforms,
                                                            stamp_ns: int) -> None:
    # a header stamp before 1970 (a negative int32 sec, which ROS allows): no pose
    # (the frame goes out unfused, the reason counted); was: ValueError from
    # rclpy.time.Time, which cost the whole frame
    with pytest.raises(PoseUnavailable, match='no transform odom <- cam at'):
        transforms.pose('odom', 'cam', stamp_ns)
