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

"""``depth-anything-ros pseudo-label``: label images, videos or rosbag2 with a teacher.

See training/pseudo_label.py for the recipe, resuming and sharding.
"""

from __future__ import annotations

import argparse
import functools
import logging
from pathlib import Path
from typing import Any

from depth_anything_ros.commands.args import (
    add_device_argument,
    add_engine_arguments,
    add_model_arguments,
    add_renamed_argument,
    add_sampling_arguments,
    load_model_from_args,
    model_flags,
    ModelFlags,
    ray_options_from_args,
)
from depth_anything_ros.errors import InvalidInputError, user_errors
from depth_anything_ros.estimator import DepthEstimator
from depth_anything_ros.offline.ray_engine import is_uri, path_or_uri
from depth_anything_ros.training.labels import LABEL_FORMATS
from depth_anything_ros.training.pseudo_label import (
    estimator_teacher,
    label_frames,
    label_output,
    LABEL_OUTPUTS,
)
from depth_anything_ros.training.sources import parse_shard
from depth_anything_ros.vocabulary import PRECISIONS

LOG = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``depth-anything-ros pseudo-label`` to ``parser``."""
    add_model_arguments(parser, flag='--teacher',
                        help='official name (e.g. vitl, metric_indoor_vitl) or checkpoint path')
    add_sampling_arguments(parser)
    add_renamed_argument(parser, '--inputs', '--images', required=True,
                         help='folder of images, video file, or rosbag2 (dir, .mcap, .db3)')
    parser.add_argument('--out', required=True, help='label directory (resumed if it exists)')
    add_renamed_argument(parser, '--image-topic', '--topic', default=None,
                         help='rosbag2 image topic (Image or CompressedImage), as process-bag')
    parser.add_argument('--every', type=int, default=1, help='label every N-th frame')
    parser.add_argument('--dedup', type=float, default=0.0,
                        help='skip near-duplicates: mean 32x32 grey thumbnail difference below '
                             'this (0..1, e.g. 0.02); 0 disables')
    parser.add_argument('--shard', default='0/1', help='i/n: label only shard i of n (0-based)')
    add_renamed_argument(parser, '--batch-size', '--batch', type=int, default=4,
                         help='frames per teacher forward')
    parser.add_argument('--tta-flip', action='store_true',
                        help='average the teacher on each frame and its mirror image')
    parser.add_argument('--input-size', type=int, default=518,
                        help='teacher network short side, pixels (multiple of 14)')
    add_device_argument(parser)
    parser.add_argument('--precision', default='fp32', choices=PRECISIONS,
                        help='teacher precision')
    parser.add_argument('--label-format', default='png16', choices=LABEL_FORMATS,
                        help='png16: 16-bit PNG + per-image scale; npy16: float16 .npy')
    parser.add_argument('--image-mode', default='auto', choices=('auto', 'copy', 'reference'),
                        help='copy frames into the label dir, or reference image files '
                             '(auto: reference for folders, copy for video / rosbag2)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    add_engine_arguments(parser)


def make_teacher(flags: ModelFlags, device: str, precision: str, input_size: int,
                 tta_flip: bool) -> Any:
    """Build the teacher the flags name (in a Ray model actor: picklable by its arguments)."""
    from depth_anything_ros.estimator import load_checked_model
    model = load_checked_model(flags.checkpoint, **flags.load_kwargs())
    estimator = DepthEstimator(model, device=device, precision=precision,
                               input_size=input_size)
    return estimator_teacher(estimator, tta_flip=tta_flip)


def main(args: argparse.Namespace) -> int:
    """Run ``depth-anything-ros pseudo-label``."""
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')

    shard = parse_shard(args.shard)
    options = ray_options_from_args(args) if args.engine == 'ray' else None
    uris = [u for u in (args.inputs, args.out) if is_uri(u)]
    if uris and options is None:
        raise InvalidInputError(f'{uris[0]}: URIs are read and written with --engine ray; add '
                                'it, or copy the data to a local folder')
    with user_errors(ValueError, FileNotFoundError):   # what the teacher flags name
        model = load_model_from_args(args)
        estimator = DepthEstimator(model, device=args.device, precision=args.precision,
                                   input_size=args.input_size)
    cfg = model.config
    LOG.info('teacher %s: %s, %s head, input size %d, %s, flip TTA %s', args.checkpoint,
             cfg.encoder, cfg.head, args.input_size, estimator.device,
             'on' if args.tta_flip else 'off')
    meta = {'teacher': str(args.checkpoint), 'teacher_encoder': cfg.encoder,
            'teacher_head': cfg.head, 'teacher_max_depth': cfg.max_depth,
            'input_size': args.input_size, 'tta_flip': bool(args.tta_flip),
            'teacher_output': label_output(estimator),
            'teacher_licence': getattr(model, 'licence', None),
            'disparity': LABEL_OUTPUTS[label_output(estimator)]}
    if options is not None:
        from depth_anything_ros.offline.ray_engine import label_frames_ray
        factory = functools.partial(make_teacher, model_flags(args), args.device,
                                    args.precision, args.input_size, bool(args.tta_flip))
        del estimator, model   # each actor builds its own
        res = label_frames_ray(path_or_uri(args.inputs), factory, path_or_uri(args.out),
                               options, meta=meta,
                               topic=args.image_topic, every=args.every, dedup=args.dedup,
                               shard=shard, label_format=args.label_format,
                               image_mode=args.image_mode, progress=not args.no_progress)
        print(f'{res.written} labels in {args.out} ({res.redone} of {res.shards} shards run '
              f'now, {res.images_per_second:.2f} images/s; {len(res.skipped)} inputs skipped, '
              f'reasons in {args.out}/manifest.jsonl)')
        return 0
    teacher = estimator_teacher(estimator, tta_flip=args.tta_flip)
    result = label_frames(Path(args.inputs), teacher, Path(args.out), meta=meta,
                          topic=args.image_topic, every=args.every, dedup=args.dedup, shard=shard,
                          batch_size=args.batch_size, label_format=args.label_format,
                          image_mode=args.image_mode, progress=not args.no_progress)
    print(f'{result.written} new labels in {args.out} ({result.images_per_second:.2f} images/s;'
          f' {result.stats.done} already done, {result.stats.duplicates} near-duplicates '
          f'skipped)')
    return 0
