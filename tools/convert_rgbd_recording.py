#!/usr/bin/env python3
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

"""Convert an RGB-D recording into the generic training format (``dataset.yaml`` + splits).

Two sources:

* a rosbag2 (sqlite3 or MCAP) with a colour ``Image``/``CompressedImage`` topic and a depth
  ``Image`` topic (16UC1 millimetres or 32FC1 metres) registered to the colour camera (e.g.
  ``/camera/aligned_depth_to_color/image_raw``, or LiDAR points projected into the camera),
  plus optionally its ``CameraInfo``; frames are paired by header stamp within ``--max-dt``;
* a folder pair of RGB images and depth images matched by file stem (16-bit PNG with
  ``--depth-scale`` metres per unit, or float ``.npy``/``.tiff``/``.exr`` metres).

The validation split takes whole blocks of consecutive frames (``--block``), so near-identical
neighbouring frames do not end up on both sides of the split.

usage:
  python tools/convert_rgbd_recording.py bag RECORDING_DIR --rgb-topic T --depth-topic T \
      [--info-topic T] --out DATASET
  python tools/convert_rgbd_recording.py folder --rgb-dir D --depth-dir D --depth-scale 0.001 \
      [--fx F --fy F --cx C --cy C] --out DATASET
"""

from __future__ import annotations

import argparse
from bisect import bisect_left
from collections.abc import Iterator
import logging
from pathlib import Path
import sys

import cv2
import numpy as np

from depth_anything_ros.training.datasets import GenericWriter, IMAGE_EXTS, read_depth, read_rgb

LOG = logging.getLogger('convert_rgbd_recording')
DEPTH_EXTS = ('.png', '.tif', '.tiff', '.npy', '.exr')


def split_of(index: int, val_fraction: float, block: int) -> str:
    """'val' for every ``round(1/val_fraction)``-th block of ``block`` frames, else 'train'."""
    if val_fraction <= 0:
        return 'train'
    every = max(2, round(1 / val_fraction))
    return 'val' if (index // block) % every == every - 1 else 'train'


def pair_by_stamp(rgb_stamps: list[int], depth_stamps: list[int], max_dt_ns: int
                  ) -> list[tuple[int, int]]:
    """Match each colour frame to the nearest-in-time depth frame within ``max_dt_ns``.

    Both lists are sorted stamps in ns; returns ``(rgb_index, depth_index)`` pairs, each depth
    frame used at most once.
    """
    pairs, used = [], set()
    for i, t in enumerate(rgb_stamps):
        j = bisect_left(depth_stamps, t)
        best = min((k for k in (j - 1, j) if 0 <= k < len(depth_stamps)),
                   key=lambda k: abs(depth_stamps[k] - t), default=None)
        if best is not None and best not in used and abs(depth_stamps[best] - t) <= max_dt_ns:
            pairs.append((i, best))
            used.add(best)
    return pairs


def depth_message_to_metres(msg: object) -> np.ndarray:
    """Depth ``Image`` (16UC1/mono16 mm or 32FC1 m) -> float32 (H, W) metres, 0 = invalid."""
    from depth_anything_ros.ros.conversions import image_to_array, ImageFormatError
    if msg.encoding not in ('16UC1', 'mono16', '32FC1'):
        raise ImageFormatError(f'depth topic has encoding {msg.encoding!r}; expected 16UC1 '
                               '(millimetres) or 32FC1 (metres) — record the raw depth image, '
                               'not a colourised one')
    arr = image_to_array(msg)
    depth = arr.astype(np.float32) * (1e-3 if arr.dtype == np.uint16 else 1.0)
    depth[~np.isfinite(depth) | (depth < 0)] = 0.0
    return depth


def colour_message_to_rgb(msg: object, msgtype: str) -> np.ndarray:
    """Colour ``Image`` or ``CompressedImage`` -> uint8 (H, W, 3) RGB."""
    from depth_anything_ros.ros.conversions import (
        compressed_to_array,
        image_to_array,
        INPUT_ENCODINGS,
        to_rgb,
    )
    if msgtype.endswith('CompressedImage'):
        pixels, enc = compressed_to_array(msg)
    else:
        pixels, enc = image_to_array(msg, INPUT_ENCODINGS), msg.encoding
    return np.ascontiguousarray(to_rgb(pixels, enc))


def _stamp_ns(msg: object, fallback: int) -> int:
    stamp = getattr(getattr(msg, 'header', None), 'stamp', None)
    if stamp is None:
        return fallback
    ns = int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
    return ns or fallback


class BagSource:
    """Two passes over a rosbag2, so memory stays bounded for long recordings.

    :meth:`scan` reads header stamps (and the first CameraInfo); :meth:`pairs` then streams
    the bag again and yields each selected colour/depth pair as soon as both halves are read.
    """

    def __init__(self, bag: Path, rgb_topic: str, depth_topic: str,
                 info_topic: str | None) -> None:
        self.bag, self.rgb_topic, self.depth_topic = bag, rgb_topic, depth_topic
        self.info_topic = info_topic
        self.rgb_stamps: list[int] = []      # header stamps (ns) in bag order
        self.depth_stamps: list[int] = []
        self.k: np.ndarray | None = None

    def _messages(self, desc: str, topics: tuple[str | None, ...]
                  ) -> Iterator[tuple[str, str, int, object]]:
        from tqdm import tqdm

        from depth_anything_ros.core.bags import open_reader
        with open_reader(self.bag) as reader:
            by_topic = {c.topic: c for c in reader.connections}
            for topic in topics:
                if topic is not None and topic not in by_topic:
                    raise SystemExit(f'topic {topic} is not in {self.bag}; it has: '
                                     f'{", ".join(sorted(by_topic))}')
            wanted = [by_topic[t] for t in topics if t is not None]
            for conn, t, raw in tqdm(reader.messages(connections=wanted), desc=desc, unit='msg',
                                     total=sum(c.msgcount for c in wanted)):
                yield conn.topic, conn.msgtype, t, reader.deserialize(raw, conn.msgtype)

    def scan(self) -> None:
        """First pass: stamps of every colour and depth message, first camera matrix."""
        topics = (self.rgb_topic, self.depth_topic, self.info_topic)
        for topic, _, t, msg in self._messages('scan bag', topics):
            if topic == self.rgb_topic:
                self.rgb_stamps.append(_stamp_ns(msg, t))
            elif topic == self.depth_topic:
                self.depth_stamps.append(_stamp_ns(msg, t))
            elif self.k is None:
                self.k = np.asarray(msg.k, np.float64).reshape(3, 3)

    def match(self, max_dt_ns: int) -> list[tuple[int, int]]:
        """Pairs of (colour, depth) message numbers in bag order, nearest stamps."""
        r_order = sorted(range(len(self.rgb_stamps)), key=self.rgb_stamps.__getitem__)
        d_order = sorted(range(len(self.depth_stamps)), key=self.depth_stamps.__getitem__)
        pairs = pair_by_stamp([self.rgb_stamps[i] for i in r_order],
                              [self.depth_stamps[j] for j in d_order], max_dt_ns)
        return [(r_order[i], d_order[j]) for i, j in pairs]

    def pairs(self, selected: list[tuple[int, int]]
              ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """Second pass: yield (stamp ns, RGB, depth metres) for each selected pair."""
        want_rgb = dict(selected)
        want_depth = {j: i for i, j in selected}
        rgb_buf: dict[int, np.ndarray] = {}
        depth_buf: dict[int, np.ndarray] = {}
        n_rgb = n_depth = 0
        for topic, msgtype, _, msg in self._messages('convert', (self.rgb_topic,
                                                                 self.depth_topic)):
            if topic == self.rgb_topic:
                i, n_rgb = n_rgb, n_rgb + 1
                if i not in want_rgb:
                    continue
                rgb_buf[i] = colour_message_to_rgb(msg, msgtype)
                j = want_rgb[i]
            else:
                j, n_depth = n_depth, n_depth + 1
                if j not in want_depth:
                    continue
                depth_buf[j] = depth_message_to_metres(msg)
                i = want_depth[j]
            if i in rgb_buf and j in depth_buf:
                yield self.rgb_stamps[i], rgb_buf.pop(i), depth_buf.pop(j)


def folder_pairs(rgb_dir: Path, depth_dir: Path) -> list[tuple[Path, Path]]:
    """Colour and depth files matched by stem (sorted by name)."""
    depth_by_stem = {p.stem: p for p in sorted(depth_dir.iterdir())
                     if p.suffix.lower() in DEPTH_EXTS}
    rgbs = [p for p in sorted(rgb_dir.iterdir()) if p.suffix.lower() in IMAGE_EXTS]
    pairs = [(p, depth_by_stem[p.stem]) for p in rgbs if p.stem in depth_by_stem]
    if not pairs:
        raise SystemExit(f'no colour/depth files with matching names in {rgb_dir} and '
                         f'{depth_dir} (e.g. rgb/000001.png + depth/000001.png)')
    if len(pairs) < len(rgbs):
        LOG.warning('%d of %d colour images have no depth file and are skipped',
                    len(rgbs) - len(pairs), len(rgbs))
    return pairs


def _fit_depth(depth: np.ndarray, shape: tuple[int, int], resize: bool, name: str
               ) -> np.ndarray:
    if depth.shape == shape:
        return depth
    if not resize:
        raise SystemExit(f'{name}: depth is {depth.shape[1]}x{depth.shape[0]} but colour is '
                         f'{shape[1]}x{shape[0]}. Depth must be registered to the colour camera '
                         '(e.g. the aligned_depth_to_color topic); if it already is, at another '
                         'resolution, pass --resize-depth')
    return cv2.resize(depth, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


def frames(args: argparse.Namespace) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield (name, RGB uint8, depth metres) for the chosen source; sets args.k if found."""
    if args.source == 'bag':
        source = BagSource(Path(args.recording), args.rgb_topic, args.depth_topic,
                           args.info_topic)
        source.scan()
        if source.k is not None and args.k is None:     # explicit --fx/--fy/--cx/--cy win
            args.k = source.k
        pairs = source.match(int(args.max_dt * 1e9))
        LOG.info('%d colour and %d depth frames -> %d pairs within %.3f s',
                 len(source.rgb_stamps), len(source.depth_stamps), len(pairs), args.max_dt)
        for n, (stamp, rgb, depth) in enumerate(source.pairs(pairs[::args.every])):
            name = f'{n:06d}_{stamp}'
            yield name, rgb, _fit_depth(depth, rgb.shape[:2], args.resize_depth, name)
    else:
        for rgb_path, depth_path in folder_pairs(Path(args.rgb_dir),
                                                 Path(args.depth_dir))[::args.every]:
            image = read_rgb(rgb_path)
            depth = read_depth(depth_path, args.depth_scale)
            yield rgb_path.stem, image, _fit_depth(depth, image.shape[:2], args.resize_depth,
                                                   rgb_path.name)


def convert(args: argparse.Namespace) -> Path:
    """Write the dataset; return its root."""
    from tqdm import tqdm
    args.k = None
    if None not in (args.fx, args.fy, args.cx, args.cy):
        args.k = np.array([[args.fx, 0, args.cx], [0, args.fy, args.cy], [0, 0, 1]])
    writer = None
    n = 0
    for n, (name, rgb, depth) in enumerate(tqdm(frames(args), desc='write', unit='frame'), 1):
        if writer is None:
            scale = args.out_depth_scale
            if scale is None:    # mm unless the first frame already reaches far
                scale = 1e-3 if float(depth.max(initial=0)) < 40 else 1 / 256
            camera = None if args.k is None else {
                'fx': args.k[0, 0], 'fy': args.k[1, 1], 'cx': args.k[0, 2], 'cy': args.k[1, 2]}
            writer = GenericWriter(args.out, depth_scale=scale, depth_format=args.depth_format,
                                   camera=camera, extra_meta={'source': str(
                                       args.recording if args.source == 'bag' else args.rgb_dir)})
        writer.add(name, rgb, depth, split_of(n - 1, args.val_fraction, args.block))
    if writer is None:
        raise SystemExit('no frames converted: check the topics / folders and --max-dt')
    root = writer.close()
    LOG.info('wrote %d frames to %s (train %d, val %d)', n, root,
             len(writer.splits.get('train', [])), len(writer.splits.get('val', [])))
    return root


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='source', required=True)
    bag = sub.add_parser('bag', help='a rosbag2 folder (sqlite3 or mcap)')
    bag.add_argument('recording', help='rosbag2 directory')
    bag.add_argument('--rgb-topic', required=True, help='sensor_msgs/Image or CompressedImage')
    bag.add_argument('--depth-topic', required=True,
                     help='sensor_msgs/Image 16UC1 (mm) or 32FC1 (m), registered to colour')
    bag.add_argument('--info-topic', help='sensor_msgs/CameraInfo of the colour camera')
    bag.add_argument('--max-dt', type=float, default=0.02,
                     help='max colour/depth stamp difference in seconds (default 0.02)')
    folder = sub.add_parser('folder', help='folders of colour and depth images')
    folder.add_argument('--rgb-dir', required=True)
    folder.add_argument('--depth-dir', required=True)
    folder.add_argument('--depth-scale', type=float, default=1e-3,
                        help='metres per unit of integer depth images (default 0.001 = mm)')
    for p in (bag, folder):
        p.add_argument('--out', required=True, help='output dataset folder')
        p.add_argument('--every', type=int, default=1, help='keep every N-th frame')
        p.add_argument('--val-fraction', type=float, default=0.1)
        p.add_argument('--block', type=int, default=50,
                       help='frames per contiguous split block (default 50)')
        p.add_argument('--resize-depth', action='store_true',
                       help='nearest-resize registered depth to the colour resolution')
        p.add_argument('--depth-format', choices=('png16', 'npy'), default='png16')
        p.add_argument('--out-depth-scale', type=float, default=None,
                       help='metres per unit of the written 16-bit PNGs (default: 0.001, or '
                            '1/256 when the first frame exceeds 40 m)')
        for name in ('fx', 'fy', 'cx', 'cy'):
            p.add_argument(f'--{name}', type=float, help='intrinsics in pixels (overrides '
                                                          'CameraInfo)')
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    args = build_parser().parse_args(argv)
    if args.every < 1 or args.block < 1:
        raise SystemExit('--every and --block must be >= 1')
    root = convert(args)
    print(f'dataset written to {root}; train with: depth-anything-ros train --config indoor '
          f'--data {root} --out runs/my_robot')
    return 0


if __name__ == '__main__':
    sys.exit(main())
