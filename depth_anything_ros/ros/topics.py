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

"""The node's topics: relative names and message types, listed once.

The node creates its subscriptions and publishers from these; ``process-bag`` writes its outputs
under the same names; the example configurations for consumers (Nav2 costmaps,
depthimage_to_laserscan) are tested against them. Names are relative to the node's namespace
and wired by remapping; ``/diagnostics`` is absolute by convention and not listed here.
"""

from __future__ import annotations

from dataclasses import dataclass
import importlib
import posixpath

__all__ = ['ANCHOR_CAMERA_INFO', 'ANCHOR_DEPTH', 'ANCHOR_INPUTS', 'ANCHOR_POINTS', 'ANCHORS',
           'CAMERA_INFO',
           'camera_topic', 'DEPTH_CAMERA_INFO', 'DEPTH_COLORED', 'DEPTH_CONFIDENCE', 'DEPTH_IMAGE',
           'DISPARITY_IMAGE',
           'IMAGE', 'IMAGE_COMPRESSED', 'INPUTS', 'OUTPUTS', 'POINTS', 'Topic', 'resolve']


@dataclass(frozen=True)
class Topic:
    """A topic relative to the node's namespace and its ROS message type."""

    name: str       # e.g. 'depth/image'
    msgtype: str    # e.g. 'sensor_msgs/msg/Image'

    def message_class(self) -> type:
        """Return the generated message class (imports the message package on first use)."""
        package, _, name = self.msgtype.split('/')
        return getattr(importlib.import_module(f'{package}.msg'), name)


IMAGE = Topic('image', 'sensor_msgs/msg/Image')
IMAGE_COMPRESSED = Topic('image/compressed', 'sensor_msgs/msg/CompressedImage')
CAMERA_INFO = Topic('camera_info', 'sensor_msgs/msg/CameraInfo')
# metric anchors of a relative model (alignment sparse: depth + camera_info; lidar: points)
ANCHOR_DEPTH = Topic('anchor/depth', 'sensor_msgs/msg/Image')
ANCHOR_CAMERA_INFO = Topic('anchor/camera_info', 'sensor_msgs/msg/CameraInfo')
ANCHOR_POINTS = Topic('anchor/points', 'sensor_msgs/msg/PointCloud2')
ANCHORS: tuple[Topic, ...] = (ANCHOR_DEPTH, ANCHOR_CAMERA_INFO, ANCHOR_POINTS)
INPUTS: tuple[Topic, ...] = (IMAGE, IMAGE_COMPRESSED, CAMERA_INFO, *ANCHORS)
#: the anchor topics each anchored alignment reads (the first one carries the anchors)
ANCHOR_INPUTS: dict[str, tuple[Topic, ...]] = {'sparse': (ANCHOR_DEPTH, ANCHOR_CAMERA_INFO),
                                               'lidar': (ANCHOR_POINTS,)}

DEPTH_IMAGE = Topic('depth/image', 'sensor_msgs/msg/Image')              # metric depth only
DISPARITY_IMAGE = Topic('disparity/image', 'sensor_msgs/msg/Image')      # relative mode
DEPTH_CAMERA_INFO = Topic('depth/camera_info', 'sensor_msgs/msg/CameraInfo')
DEPTH_COLORED = Topic('depth/colored', 'sensor_msgs/msg/Image')
POINTS = Topic('points', 'sensor_msgs/msg/PointCloud2')                  # metric depth only
# 32FC1, the header and size of depth/image (disparity/image); models with a confidence only
DEPTH_CONFIDENCE = Topic('depth/confidence', 'sensor_msgs/msg/Image')
OUTPUTS: tuple[Topic, ...] = (DEPTH_IMAGE, DISPARITY_IMAGE, DEPTH_CAMERA_INFO, DEPTH_COLORED,
                              POINTS, DEPTH_CONFIDENCE)


def camera_topic(camera: str, topic: Topic) -> str:
    """Return ``topic``'s relative name for ``camera`` of a multi-camera node (``front/image``).

    The unnamed camera ('') of a single-camera node uses the plain names.
    """
    return f'{camera}/{topic.name}' if camera else topic.name


def resolve(namespace: str, topic: Topic | str) -> str:
    """Return the absolute name of ``topic`` for a node in ``namespace`` (e.g. ``/cam``)."""
    name = topic.name if isinstance(topic, Topic) else topic
    return posixpath.join('/' + namespace.strip('/'), name) if namespace.strip('/') else '/' + name
