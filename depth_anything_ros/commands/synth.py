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

"""``depth-anything-ros synth``: write a procedural RGB-D dataset (see training/synth.py).

``--sequence N`` films N frames along a camera trajectory per scene instead, with poses and a
rosbag2 per scene (see training/sequences.py).
"""

from __future__ import annotations

import argparse
import logging

from depth_anything_ros.training.synth import generate, SCENES


def _size(text: str) -> tuple[int, int]:
    """``--size HxW`` -> (h, w)."""
    try:
        h, w = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(f'--size {text!r}: expected HxW, e.g. 240x320') from None
    return h, w


def _frames(text: str) -> int:
    """``--sequence N``: a whole number of frames, at least 2 (a pair to compare)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 2:
        raise argparse.ArgumentTypeError(f'expected a whole number of frames >= 2, got {text!r}')
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's flags."""
    parser.add_argument('--scene', choices=sorted(SCENES), default='indoor')
    parser.add_argument('--num', type=int, default=None,
                        help='number of images (default 100); with --sequence, number of '
                             'scenes (default 1)')
    parser.add_argument('--sequence', type=_frames, default=None,
                        metavar='N',
                        help='N frames at 30 Hz along a camera trajectory per scene (smooth '
                             'motion, a stop, a fast turn, a rolling ball), with poses.txt, '
                             'moving-object masks and a rosbag2 with /tf per scene')
    parser.add_argument('--out', required=True, help='output dataset folder')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--size', type=_size, default=(240, 320), help='HxW (default 240x320)')
    parser.add_argument('--val-fraction', type=float, default=0.2,
                        help='share of images in the val split (default 0.2)')
    parser.add_argument('--depth-format', choices=('png16', 'npy'), default='png16',
                        help='16-bit PNG (indoor mm, outdoor 1/256 m) or float32 .npy metres')


def main(args: argparse.Namespace) -> int:
    """Write the dataset; print where it went."""
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    if args.sequence is not None:
        from depth_anything_ros.training.sequences import generate_sequences
        num = 1 if args.num is None else args.num
        root = generate_sequences(args.out, args.scene, num, args.sequence, args.seed,
                                  args.size, args.val_fraction, args.depth_format)
        print(f'wrote {num} {args.scene} sequences of {args.sequence} frames to {root} '
              '(train.txt, val.txt, dataset.yaml, poses.txt, moving/, bags/)')
        return 0
    num = 100 if args.num is None else args.num
    root = generate(args.out, args.scene, num, args.seed, args.size, args.val_fraction,
                    args.depth_format)
    print(f'wrote {num} {args.scene} samples to {root} (train.txt, val.txt, dataset.yaml)')
    return 0
