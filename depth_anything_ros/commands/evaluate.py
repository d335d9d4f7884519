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

"""``depth-anything-ros eval``: score a checkpoint on an RGB-D split (see training/evaluate.py).

Flags left out take the checkpoint's training run's own settings when it lies in a run folder.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
from pathlib import Path

from depth_anything_ros.commands.args import (
    add_device_argument,
    add_engine_arguments,
    add_model_arguments,
    add_renamed_argument,
    add_sampling_arguments,
    model_flags,
    ray_options_from_args,
)
from depth_anything_ros.errors import InvalidInputError
from depth_anything_ros.vocabulary import AMP_CHOICES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the eval command's flags."""
    run = " (default: the training run's own when the checkpoint is in a run folder, else %s)"
    # --max-depth is the old name of --eval-max-depth here
    add_model_arguments(parser, max_depth_alias=False,
                        help='RUN/export/model.pth, RUN/best.pt, an official file or name')
    parser.add_argument('--data', default=None, help='dataset root' + run % 'required')
    parser.add_argument('--dataset', default=None,
                        choices=('generic', 'nyu', 'kitti', 'vkitti2', 'hypersim'),
                        help='dataset format' + run % 'generic')
    parser.add_argument('--split', default=None,
                        help='split name or split-file path' + run % 'val')
    add_renamed_argument(parser, '--out', '--json', required=True,
                         help='write the results (JSON) here')
    parser.add_argument('--align', choices=('auto', 'none', 'scale', 'scale_shift'),
                        default='auto',
                        help='how metric models are aligned per image (auto: none; scale: a '
                             'least-squares scale); relative models are always fitted by '
                             'scale_shift (disparity models in disparity space, relative-depth '
                             'ones in depth space)')
    parser.add_argument('--pairs', help='pairs file "image, (x1,y1), (x2,y2), closer"')
    parser.add_argument('--crop', choices=('none', 'garg', 'eigen', 'nyu'), default='none')
    parser.add_argument('--min-depth', type=float, default=None,
                        help='ground truth below this is not scored, metres' + run % '0.001')
    add_renamed_argument(parser, '--eval-max-depth', '--max-depth', type=float, default=None,
                         help='ground truth beyond this is not scored and predictions are '
                              "clipped to it, metres (not the head's ceiling)"
                              + run % 'the model max_depth, else the dataset cap')
    parser.add_argument('--input-size', type=int, default=None,
                        help='network short side in pixels (multiple of 14)' + run % '518')
    parser.add_argument('--limit', type=int, default=None,
                        help='evaluate the first N images only; 0: all' + run % '0')
    parser.add_argument('--amp', choices=AMP_CHOICES, default=None,
                        help='autocast dtype of the forward pass' + run % 'none')
    parser.add_argument('--error-maps', help='folder for per-image prediction/GT/error PNGs')
    parser.add_argument('--compare', metavar='NAME,NAME,...',
                        help='more checkpoints (names, files or folders, comma-separated), each '
                             'scored on exactly the same images by the same rules: one table, '
                             'the JSON keeps them under "compare" (a list), and a bar chart '
                             '(PNG) beside --out')
    add_sampling_arguments(parser)
    parser.add_argument('--tae', action='store_true',
                        help='add the temporal metrics tae and flicker over consecutive frames '
                             '(needs poses.txt beside the data, as synth --sequence writes)')
    add_device_argument(parser)
    add_engine_arguments(parser, batch_size=True)


def main(args: argparse.Namespace) -> int:
    """Evaluate; print the settings and the table; write the JSON document."""
    from depth_anything_ros.training.evaluate import format_table, run_eval
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    given = {'data': args.data, 'dataset': args.dataset, 'split': args.split,
             'input_size': args.input_size, 'min_depth': args.min_depth,
             'max_depth': args.eval_max_depth, 'limit': args.limit, 'amp': args.amp}
    flags = model_flags(args)
    options = flags.load_kwargs()
    compare = _compare_list(args.compare)
    evaluator = None
    if args.engine == 'ray':
        from depth_anything_ros.offline.ray_engine import eval_manifest, evaluate_ray
        ray_options = ray_options_from_args(args)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        evaluator = functools.partial(evaluate_ray, manifest_path=eval_manifest(args.out),
                                      options=ray_options)
    doc = run_eval(flags.checkpoint, given, compare=compare, align=args.align,
                   pairs_file=args.pairs, crop=args.crop, error_maps=args.error_maps,
                   device=args.device, allow_untrained=options.pop('allow_untrained'),
                   model_options=options, tae=args.tae, evaluator=evaluator)
    folder = doc['settings']['run']
    print('settings: ' + ', '.join(f'{k} {v}' for k, v in doc['settings'].items()) +
          (f' (unset flags from the training run {folder})' if folder else ''))
    results: dict[str, dict] = {}
    for row in (doc, *doc.get('compare', ())):
        name = _label(row['settings']['checkpoint'])
        results[name if name not in results else f'{name} ({len(results) + 1})'] = row
    print(format_table(results))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + '\n')
    print(f'wrote {out}')
    if compare:
        from depth_anything_ros.training.evaluate import save_comparison_chart
        chart = save_comparison_chart(results, out.with_suffix('.png'))
        print(f'wrote {chart}')
    return 0


def _compare_list(value: object) -> list[str]:
    """``--compare`` as a list of checkpoints (a comma list; empty items are an error)."""
    if value is None:
        return []
    items = [item.strip() for item in str(value).split(',')]
    if not all(items):
        raise InvalidInputError(f'--compare {value!r}: give checkpoints separated by commas, '
                                'e.g. --compare vits,dpt-large')
    return items


def _label(checkpoint: str) -> str:
    """Return a short table heading for a checkpoint: its file or folder name, else its name."""
    path = Path(checkpoint)
    return path.name if path.name else checkpoint
