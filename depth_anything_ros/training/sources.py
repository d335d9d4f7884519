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

"""Frame sources for pseudo-labelling: a folder of images, a video file or a rosbag2.

Every source yields :class:`FrameRef` items in a fixed order, each with a stable ``key``
(unique within the source) and a ``load()`` that decodes the frame only when it is needed, so
that sub-sampling, sharding and resuming cost almost nothing for frames that are skipped.
:func:`select_frames` applies, in this order: ``every``-N sub-sampling, near-duplicate skipping
(cheap 32x32 grey thumbnails), the ``shard`` partition (a hash of the key, so every machine
agrees without talking to the others) and the set of keys already done.

Images come out as BGR uint8 (H, W, 3), the ``cv2.imread`` order. rosbag2 files (SQLite3 or
MCAP) are read with the pure-Python ``rosbags`` library; no ROS install is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
import logging
from pathlib import Path
from typing import Any
import zlib

import cv2
import numpy as np

from depth_anything_ros.core.bags import (
    BAG_SUFFIXES,
    header_stamp_ns,
    image_topics,
    open_reader,
    typestore,
)
from depth_anything_ros.core.images import (
    compressed_to_array,
    ENCODINGS,
    image_to_array,
    ImageFormatError,
    ImageLimits,
)
from depth_anything_ros.errors import InvalidInputError, MissingInputError

LOG = logging.getLogger(__name__)

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.ppm', '.pgm')
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v', '.mpg', '.mpeg')
THUMB = 32  # side of the grey thumbnail used for near-duplicate detection, pixels


@dataclass(frozen=True)
class FrameRef:
    """One frame of a source, not decoded yet.

    ``load()`` returns BGR uint8 (H, W, 3). For video it is valid only until the iterator
    advances (frames are decoded in stream order).
    """

    index: int                      # position in the source, 0-based, before any filtering
    key: str                        # stable id, unique within the source
    load: Callable[[], np.ndarray] = field(repr=False, compare=False)
    stamp_ns: int | None = None     # header stamp (bags) or position (video), nanoseconds
    path: Path | None = None        # the image file, for folder sources


# ---------------------------------------------------------------------------------------------
# decoding


def _read_image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise InvalidInputError(f'cannot decode image {path}; remove it or convert it to PNG/JPEG')
    return img


# Encodings a training source reads beyond images.ENCODINGS (dtype, channels), and each one's
# OpenCV conversion to BGR (None: already BGR).
_LAYOUTS: dict[str, tuple[np.dtype, int]] = {
    **ENCODINGS, '8UC3': (np.dtype(np.uint8), 3), '8UC4': (np.dtype(np.uint8), 4),
    **{f'bayer_{p}8': (np.dtype(np.uint8), 1) for p in ('rggb', 'bggr', 'gbrg', 'grbg')},
    **{enc: (np.dtype(np.uint8), 2) for enc in ('yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv')},
}
_TO_BGR: dict[str, int | None] = {
    'bgr8': None, '8UC3': None, 'rgb8': cv2.COLOR_RGB2BGR,
    'bgra8': cv2.COLOR_BGRA2BGR, '8UC4': cv2.COLOR_BGRA2BGR, 'rgba8': cv2.COLOR_RGBA2BGR,
    'mono8': cv2.COLOR_GRAY2BGR, '8UC1': cv2.COLOR_GRAY2BGR,
    'mono16': cv2.COLOR_GRAY2BGR, '16UC1': cv2.COLOR_GRAY2BGR,
    # OpenCV names Bayer patterns by the second row; these match cv_bridge's table.
    'bayer_rggb8': cv2.COLOR_BayerBG2BGR, 'bayer_bggr8': cv2.COLOR_BayerRG2BGR,
    'bayer_gbrg8': cv2.COLOR_BayerGR2BGR, 'bayer_grbg8': cv2.COLOR_BayerGB2BGR,
    'yuv422': cv2.COLOR_YUV2BGR_UYVY, 'uyvy': cv2.COLOR_YUV2BGR_UYVY,
    'yuv422_yuy2': cv2.COLOR_YUV2BGR_YUYV, 'yuyv': cv2.COLOR_YUV2BGR_YUYV,
}
# Training frames are not the node's input: any size a camera takes, but no decompression bomb.
_LIMITS = ImageLimits(min_side=1, max_aspect_ratio=float('inf'))


def image_msg_to_bgr(msg: object) -> np.ndarray:
    """Decode a ``sensor_msgs/Image``-like object (honours ``step`` and endianness) to BGR uint8.

    The pixels come from the package's one Image decoder (``images.image_to_array``). 16-bit
    images are scaled to 8 bits by their own maximum (the teacher sees RGB images; a 16-bit
    intensity image has no fixed white level).

    Raises:
        ImageFormatError: an unsupported encoding or a malformed message (a ValueError).

    """
    try:
        img = image_to_array(msg, tuple(_TO_BGR), _LAYOUTS)
    except ImageFormatError as exc:   # bad input given to a command: one line
        raise InvalidInputError(str(exc)) from None
    if img.dtype.itemsize == 2:
        img = img.astype(np.float32)
        img = (img * (255.0 / max(float(img.max()), 1.0))).round().astype(np.uint8)
    code = _TO_BGR[str(msg.encoding)]
    return np.ascontiguousarray(img) if code is None else cv2.cvtColor(img, code)


def compressed_msg_to_bgr(msg: object) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (8-bit JPEG/PNG) to BGR uint8.

    The pixels come from the package's one CompressedImage decoder
    (``images.compressed_to_array``).
    """
    try:
        img, encoding = compressed_to_array(msg, _LIMITS)
    except ImageFormatError as exc:   # bad input given to a command: one line
        raise InvalidInputError(str(exc)) from None
    if encoding == 'mono8':
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR) if encoding == 'bgra8' else img


# ---------------------------------------------------------------------------------------------
# sources


def image_folder_frames(root: str | Path) -> Iterator[FrameRef]:
    """Yield the images under ``root`` (recursively), sorted by relative path."""
    root = Path(root)
    files = sorted(p for p in root.rglob('*')
                   if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise MissingInputError(f'no images ({", ".join(IMAGE_SUFFIXES)}) under {root}')
    for i, p in enumerate(files):
        yield FrameRef(i, p.relative_to(root).as_posix(), lambda p=p: _read_image(p), path=p)


def video_frames(path: str | Path) -> Iterator[FrameRef]:
    """Yield the frames of a video file in order (decoded lazily with grab/retrieve)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InvalidInputError(f'cannot open video {path}; check the file and that OpenCV has a '
                                'decoder for it (or extract frames to a folder first)')
    try:
        index = 0
        while cap.grab():
            stamp_ns = int(cap.get(cv2.CAP_PROP_POS_MSEC) * 1e6)

            def load(index: int = index) -> np.ndarray:
                ok, img = cap.retrieve()
                if not ok or img is None:
                    raise InvalidInputError(f'{path}: cannot decode frame {index}')
                return img

            yield FrameRef(index, f'frame{index:08d}', load, stamp_ns=stamp_ns)
            index += 1
    finally:
        cap.release()


def bag_image_topics(path: str | Path) -> dict[str, str]:
    """Return ``{topic: msgtype}`` of the image topics in a rosbag2."""
    with open_reader(path) as reader:
        return image_topics(reader)


def rosbag_frames(path: str | Path, topic: str | None = None) -> Iterator[FrameRef]:
    """Yield the images of one topic of a rosbag2 (directory, ``.mcap`` or ``.db3``).

    Args:
        path: bag directory (with metadata.yaml) or a single storage file.
        topic: a ``sensor_msgs/Image`` or ``CompressedImage`` topic; may be omitted when the
            bag holds exactly one image topic.
    """
    path = Path(path)
    with open_reader(path) as reader:
        images = image_topics(reader)
        if topic is None:
            if len(images) != 1:
                raise InvalidInputError(f'{path} has {len(images)} image topics '
                                        f'({", ".join(sorted(images)) or "none"}); pick one with '
                                        '--image-topic')
            topic = next(iter(images))
        if topic not in images:
            raise InvalidInputError(f'{path} has no image topic {topic!r}; image topics: '
                                    f'{", ".join(sorted(images)) or "none"}')
        conns = [c for c in reader.connections if c.topic == topic]
        for index, (conn, bag_time, raw) in enumerate(reader.messages(connections=conns)):
            decode = (compressed_msg_to_bgr if conn.msgtype.endswith('CompressedImage')
                      else image_msg_to_bgr)

            def load(raw: bytes = raw, msgtype: str = conn.msgtype, decode: Any = decode
                     ) -> np.ndarray:
                # the standard type store, not the reader's: valid after the bag is closed
                return decode(typestore().deserialize_cdr(raw, msgtype))

            yield FrameRef(index, f'{topic}#{index:08d}', load,
                           stamp_ns=header_stamp_ns(raw, bag_time))


def source_kind(path: str | Path) -> str:
    """Return ``'bag'``, ``'video'`` or ``'folder'`` for a source path."""
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f'image source {path} does not exist')
    if path.is_dir():
        if (path / 'metadata.yaml').is_file():
            return 'bag'
        return 'folder'
    suffix = path.suffix.lower()
    if suffix in BAG_SUFFIXES:
        return 'bag'
    if suffix in VIDEO_SUFFIXES:
        return 'video'
    raise InvalidInputError(f'cannot tell what {path} is: use a folder of images, a video file '
                            f'({", ".join(VIDEO_SUFFIXES)}) or a rosbag2 (directory or '
                            f'{", ".join(BAG_SUFFIXES)})')


def open_source(path: str | Path, topic: str | None = None) -> Iterator[FrameRef]:
    """Open any supported source; ``topic`` applies to rosbag2 only."""
    kind = source_kind(path)
    if topic is not None and kind != 'bag':
        raise InvalidInputError(f'--topic applies to rosbag2 sources only; {path} is a {kind}')
    if kind == 'bag':
        return rosbag_frames(path, topic)
    if kind == 'video':
        return video_frames(path)
    return image_folder_frames(path)


# ---------------------------------------------------------------------------------------------
# selection


def shard_of(key: str, num_shards: int) -> int:
    """Shard index of ``key`` in ``[0, num_shards)``: CRC-32 of the key, same on every host."""
    return zlib.crc32(key.encode('utf-8')) % num_shards


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``'i/n'`` (0-based i) into ``(i, n)``."""
    try:
        i_text, n_text = text.split('/')
        i, n = int(i_text), int(n_text)
    except ValueError:
        raise InvalidInputError(f'--shard {text!r}: expected i/n, e.g. 0/4 (0-based '
                                'index)') from None
    if n < 1 or not 0 <= i < n:
        raise InvalidInputError(f'--shard {text!r}: need n >= 1 and 0 <= i < n')
    return i, n


def thumbnail(image: np.ndarray) -> np.ndarray:
    """Grey (32, 32) float32 thumbnail in [0, 1] for near-duplicate tests."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    small = cv2.resize(grey, (THUMB, THUMB), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32) / 255.0


def thumbnail_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two thumbnails, in [0, 1]."""
    return float(np.abs(a - b).mean())


@dataclass
class SelectionStats:
    """What :func:`select_frames` did with the frames it saw."""

    seen: int = 0
    subsampled: int = 0   # dropped by ``every``
    duplicates: int = 0   # near-duplicates of the last kept frame
    other_shard: int = 0  # belong to another shard
    done: int = 0         # already labelled (resume)
    selected: int = 0


def select_frames(frames: Iterable[FrameRef], *, every: int = 1, dedup: float = 0.0,
                  shard: tuple[int, int] = (0, 1), done: frozenset[str] | set[str] = frozenset(),
                  stats: SelectionStats | None = None, load: bool = True
                  ) -> Iterator[tuple[FrameRef, np.ndarray | None]]:
    """Yield ``(frame, image)`` for the frames this run must label, in source order.

    Args:
        frames: a source, e.g. from :func:`open_source`.
        every: keep frame indices 0, N, 2N, ...
        dedup: skip a frame whose thumbnail differs from the last kept one by less than this
            mean absolute difference (grey levels / 255); 0 disables. Decided on the whole
            stream before sharding, so every shard and every resumed run agrees.
        shard: ``(i, n)``: keep keys with :func:`shard_of` ``== i``.
        done: keys already labelled; skipped (after the duplicate test, which needs the
            stream's order).
        stats: optional counters, updated in place.
        load: decode the selected frames; ``False`` yields ``(frame, None)`` (frames to be
            decoded elsewhere; ``dedup`` still decodes every candidate here).
    """
    if every < 1:
        raise InvalidInputError(f'--every must be >= 1; got {every}')
    if dedup < 0:
        raise InvalidInputError(f'--dedup must be >= 0 (0 disables); got {dedup}')
    i, n = shard
    stats = stats if stats is not None else SelectionStats()
    last_thumb: np.ndarray | None = None
    for frame in frames:
        stats.seen += 1
        if frame.index % every:
            stats.subsampled += 1
            continue
        image = None
        if dedup > 0:
            image = frame.load()
            thumb = thumbnail(image)
            if last_thumb is not None and thumbnail_distance(thumb, last_thumb) < dedup:
                stats.duplicates += 1
                continue
            last_thumb = thumb
        if shard_of(frame.key, n) != i:
            stats.other_shard += 1
            continue
        if frame.key in done:
            stats.done += 1
            continue
        stats.selected += 1
        yield frame, (image if image is not None or not load else frame.load())
