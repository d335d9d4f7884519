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

"""rosbag2 helpers shared by every command that reads or writes bags (no rclpy, no ROS install).

Bags are read and written with the pure-Python ``rosbags`` library: a bag is a directory with
``metadata.yaml`` plus one SQLite3 (``.db3``) or MCAP (``.mcap``) file, or a single such file.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import functools
from pathlib import Path
import struct
from typing import Any

from depth_anything_ros.core.temporal import PoseBuffer

__all__ = ['BAG_SUFFIXES', 'IMAGE_TYPES', 'STORAGES', 'TF_TOPICS', 'TF_TYPE', 'bag_storage',
           'cdr_with_zero_padding', 'header_stamp_ns', 'image_topics', 'message_type_name',
           'open_reader', 'open_writer', 'read_poses', 'typestore']

BAG_SUFFIXES = ('.mcap', '.db3')
IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
STORAGES = ('mcap', 'sqlite3')
# TF as a bag records it: the topic and whether its transforms hold at every time
TF_TOPICS = {'/tf': False, '/tf_static': True}
TF_TYPE = 'tf2_msgs/msg/TFMessage'


@functools.lru_cache(maxsize=1)
def typestore() -> Any:
    """Return the rosbags type store of the standard ROS 2 messages."""
    from rosbags.typesys import get_typestore, Stores
    return get_typestore(Stores.ROS2_KILTED)  # sensor_msgs etc.: same in every distro


def header_stamp_ns(raw: bytes | memoryview, fallback: int) -> int:
    """Read ``header.stamp`` of a serialised message that starts with a std_msgs/Header.

    The stamp (int32 sec, uint32 nanosec) comes right after the 4-byte CDR encapsulation
    header, whose byte 1 gives the byte order. Returns ``fallback`` for anything shorter.
    """
    if len(raw) < 12 or raw[1] not in (0, 1):
        return fallback
    sec, nanosec = struct.unpack('<iI' if raw[1] == 1 else '>iI', bytes(raw[4:12]))
    return sec * 1_000_000_000 + nanosec


def bag_storage(path: str | Path) -> str:
    """Return ``'mcap'`` or ``'sqlite3'``: the storage of a bag directory or file."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.iterdir()) if path.is_dir() else []
    for f in files:
        if f.suffix == '.mcap':
            return 'mcap'
        if f.suffix == '.db3':
            return 'sqlite3'
    raise ValueError(f'{path} is not a rosbag2 (no .mcap or .db3 file); give the bag directory '
                     'or its storage file')


@contextlib.contextmanager
def open_reader(path: str | Path) -> Iterator[Any]:
    """Open a rosbag2 for reading: a rosbags ``AnyReader`` over the one bag ``path``.

    ``path`` is a bag directory (with ``metadata.yaml``) or a single ``.mcap`` / ``.db3`` file.
    Messages come as ``(connection, recording time ns, raw CDR bytes)`` from
    ``reader.messages(connections=...)``; types the bag does not define are read with
    :func:`typestore`.

    Raises:
        FileNotFoundError: ``path`` does not exist.

    """
    from rosbags.highlevel import AnyReader
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f'input bag {path} does not exist')
    with AnyReader([path], default_typestore=typestore()) as reader:
        yield reader


def image_topics(reader: Any) -> dict[str, str]:
    """Return ``{topic: msgtype}`` of the image topics (Image, CompressedImage) of a reader."""
    return {c.topic: c.msgtype for c in reader.connections if c.msgtype in IMAGE_TYPES}


def open_writer(path: str | Path, storage: str) -> Any:
    """Return an unopened rosbags ``Writer`` for a new bag directory ``path``.

    Raises:
        FileExistsError: ``path`` exists (rosbag2 never appends to a bag).
        ValueError: unknown ``storage``.

    """
    from rosbags.rosbag2 import StoragePlugin, Writer
    path = Path(path)
    if path.exists():
        raise FileExistsError(f'{path} exists; remove it or choose another output bag')
    if storage not in STORAGES:
        raise ValueError(f'storage must be one of {", ".join(STORAGES)}, got {storage!r}')
    plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
    return Writer(path, version=9, storage_plugin=plugin)


def cdr_with_zero_padding(raw: bytes | memoryview, msgtype: str) -> bytes:
    """Return the CDR message ``raw`` of type ``msgtype`` with every padding byte zero.

    rclpy's serialiser aligns fields by skipping bytes it does not write, so they hold what
    the buffer's memory held: the same message serialised in two processes differs there, and
    so would two bags written from it. Read and written again with the rosbags type store
    (which writes zeros), the fields are kept and the bytes depend on the message only, so a
    bag is the same file in every run. The type must be known to :func:`typestore`.
    """
    store = typestore()
    little = len(raw) > 1 and raw[1] == 1
    return bytes(store.serialize_cdr(store.deserialize_cdr(raw, msgtype), msgtype,
                                     little_endian=little))


def message_type_name(msg: Any) -> str:
    """Return the ROS type name of a generated message, e.g. ``'sensor_msgs/msg/Image'``."""
    cls = type(msg)
    return f'{cls.__module__.split(".")[0]}/msg/{cls.__name__}'


def read_poses(reader: Any) -> tuple[PoseBuffer, int]:
    """Return every transform of a bag's ``/tf`` and ``/tf_static`` in a PoseBuffer, and the count.

    Read with the rosbags type store (tf2_msgs needs no ROS install). Offline the whole bag's
    TF is known before the first frame, as the live node's TF buffer knows the transforms
    around a frame's stamp by the time it looks them up; both look up by tf2's rule.
    """
    store = typestore()
    buffer = PoseBuffer()
    conns = [c for c in reader.connections if c.topic in TF_TOPICS and c.msgtype == TF_TYPE]
    count = 0
    if not conns:   # (messages() of no connection at all would read every message)
        return buffer, count
    for conn, _, raw in reader.messages(connections=conns):
        msg = store.deserialize_cdr(bytes(raw), TF_TYPE)
        for tf in msg.transforms:
            t, q = tf.transform.translation, tf.transform.rotation
            stamp = tf.header.stamp.sec * 1_000_000_000 + tf.header.stamp.nanosec
            buffer.add(tf.header.frame_id, tf.child_frame_id, stamp, (t.x, t.y, t.z),
                       (q.x, q.y, q.z, q.w), static=TF_TOPICS[conn.topic])
            count += 1
    return buffer, count
