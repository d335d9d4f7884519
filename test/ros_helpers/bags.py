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

"""Camera bags for the bag-processing tests, written with rosbags and rclpy's own serializer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CAMERA_NS = '/cam/color'
IMAGE_TOPIC = CAMERA_NS + '/image_raw'
INFO_TOPIC = CAMERA_NS + '/camera_info'
OTHER_TOPIC = '/chatter'
FRAME_ID = 'cam_color_optical_frame'
T0_NS = 1_700_000_000_000_000_000


def stamp_ns(i: int) -> int:
    """Header stamp of frame ``i``: 10 Hz from T0."""
    return T0_NS + i * 100_000_000


def write_camera_bag(path: Path, n: int = 4, *, storage: str = 'mcap', h: int = 24,
                     w: int = 32, corrupt: tuple[int, ...] = (), undecodable: tuple[int, ...] = (),
                     bad_info: tuple[int, ...] = (), undecodable_info: tuple[int, ...] = (),
                     compressed: bool = False,
                     info_late_ns: int = 2_000_000) -> Path:
    """Write ``n`` rgb8 frames with camera_info and an unrelated topic.

    Frames in ``corrupt`` carry fewer bytes than height*step (the node rejects them); frames in
    ``undecodable`` are not valid CDR at all; the camera_info of frames in ``bad_info`` has a
    zero focal length, that of frames in ``undecodable_info`` is not valid CDR. camera_info is
    stamped like its image and recorded ``info_late_ns`` after it, as a driver publishing both
    would be recorded.
    """
    import cv2
    from rclpy.serialization import serialize_message
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image
    from std_msgs.msg import String

    from depth_anything_ros.core.bags import open_writer, typestore

    rng = np.random.default_rng(0)
    store = typestore()
    image_type = 'sensor_msgs/msg/CompressedImage' if compressed else 'sensor_msgs/msg/Image'
    topic = IMAGE_TOPIC + '/compressed' if compressed else IMAGE_TOPIC
    with open_writer(path, storage) as writer:
        c_img = writer.add_connection(topic, image_type, typestore=store)
        c_info = writer.add_connection(INFO_TOPIC, 'sensor_msgs/msg/CameraInfo', typestore=store)
        c_other = writer.add_connection(OTHER_TOPIC, 'std_msgs/msg/String', typestore=store)
        writer.write(c_other, stamp_ns(0) - 1, serialize_message(String(data='hello')))
        for i in range(n):
            t = stamp_ns(i)
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            if compressed:
                msg = CompressedImage(format='png', data=cv2.imencode('.png', pixels)[1].tobytes())
            else:
                data = pixels.tobytes()
                msg = Image(height=h, width=w, encoding='rgb8', step=w * 3,
                            data=data[:-7] if i in corrupt else data)
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(t, 1_000_000_000)
            msg.header.frame_id = FRAME_ID
            raw = serialize_message(msg)
            writer.write(c_img, t + 1_000_000, raw[:20] if i in undecodable else raw)
            info = CameraInfo(height=h, width=w, distortion_model='plumb_bob', d=[0.0] * 5)
            info.header = msg.header
            f = 0.0 if i in bad_info else 0.8 * w
            info.k = [f, 0.0, w / 2, 0.0, f, h / 2, 0.0, 0.0, 1.0]
            info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
            info.p = [f, 0.0, w / 2, 0.0, 0.0, f, h / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
            raw_info = serialize_message(info)
            writer.write(c_info, t + 1_000_000 + info_late_ns,
                         raw_info[:30] if i in undecodable_info else raw_info)
    return path


def read_bag(path: Path) -> dict[str, list[tuple[int, object]]]:
    """Return ``{topic: [(recording time, message)]}`` of a bag, messages as rclpy objects.

    A message that is not valid CDR comes back as None.
    """
    import importlib

    from rclpy.serialization import deserialize_message

    from depth_anything_ros.core.bags import open_reader

    def get_message(msgtype: str) -> type:
        package, _, name = msgtype.split('/')
        return getattr(importlib.import_module(f'{package}.msg'), name)

    out: dict[str, list[tuple[int, object]]] = {}
    with open_reader(path) as reader:
        for conn, t, raw in reader.messages():
            try:
                msg = deserialize_message(bytes(raw), get_message(conn.msgtype))
            except RuntimeError:
                msg = None
            out.setdefault(conn.topic, []).append((t, msg))
    return out


def topic_types(path: Path) -> dict[str, str]:
    """Return ``{topic: msgtype}`` of a bag."""
    from depth_anything_ros.core.bags import open_reader
    with open_reader(path) as reader:
        return {c.topic: c.msgtype for c in reader.connections}
