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

"""``depth-anything-ros bench``: latency, throughput and accuracy (see bench.py).

``depth-anything-ros bench soak ...`` is the node's soak test (commands/soak.py).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import torch

from depth_anything_ros.commands.args import (
    add_device_argument,
    add_model_arguments,
    add_renamed_argument,
    add_trt_profile_arguments,
    model_flags,
    trt_profile_from_args,
)
from depth_anything_ros.errors import InvalidInputError, user_errors
from depth_anything_ros.offline.bench import environment, expand_backends, format_table, run
from depth_anything_ros.vocabulary import AUTO, BACKENDS, device_name_error, PATCH_SIZE, PRECISIONS


def _csv(kind: type) -> Any:
    """``a,b,c`` -> [kind(a), kind(b), kind(c)]."""
    return lambda s: [kind(v) for v in s.split(',') if v]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's flags."""
    parser.add_argument('--input-size', type=_csv(int), default=None,
                        help='comma list of network short sides (default 518,364,266; '
                             '266 with --quick)')
    parser.add_argument('--precision', type=_csv(str), default=['auto'],
                        help='comma list of auto,fp32,bf16,fp16 (default auto: what the node '
                             'would run here)')
    add_renamed_argument(parser, '--preprocess', '--mode', type=_csv(str), default=None,
                         help='preprocessing: comma list of exact,fast (default both; fast '
                              'with --quick)')
    parser.add_argument('--batch', type=_csv(int), default=[1], help='comma list (default 1)')
    parser.add_argument('--backend', type=_csv(str), default=['auto'],
                        help='comma list of auto,torch,openvino,onnxruntime,tensorrt (default '
                             'auto: what the node would run here), or all (every '
                             'installed one; combinations a backend cannot run here are '
                             'listed as skipped)')
    add_device_argument(parser, default='cpu')
    # --mode is the old name of --preprocess here, so the head flags are left out
    add_model_arguments(parser, required=False, default='untrained', head=False,
                        help='weights (default: deterministic untrained weights, which time '
                             'exactly like real ones; bench accepts them without '
                             '--allow-untrained)')
    parser.add_argument('--runs', type=int, default=None,
                        help='timed runs per point (default 10; 2 with --quick)')
    parser.add_argument('--warmup', type=int, default=None,
                        help='untimed runs first (default 2; 1 with --quick)')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--compile', action='store_true', help='torch.compile the model')
    parser.add_argument('--no-accuracy', action='store_true',
                        help='skip the comparison with the fp32 exact reference')
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: input 266, fast mode, 2 runs, 1 warm-up (unless '
                             'given explicitly)')
    add_renamed_argument(parser, '--out', '--json', type=Path, default=None,
                         help='write the results (JSON) here')
    add_trt_profile_arguments(parser)


def main(args: argparse.Namespace) -> int:
    """Run the benchmark, print the table, optionally write JSON."""
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    _fill_defaults(args)
    check_axes(args)
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _main(args)
    finally:
        torch.set_num_threads(threads)


def check_axes(args: argparse.Namespace) -> None:
    """Raise InvalidInputError naming the first flag that no benchmark point could run."""
    allowed = {'precision': (AUTO, *PRECISIONS), 'preprocess': ('exact', 'fast'),
               'backend': (AUTO, 'all', *BACKENDS)}
    for flag, choices in allowed.items():
        bad = [v for v in getattr(args, flag) if v not in choices]
        if bad or not getattr(args, flag):
            raise InvalidInputError(f'--{flag} {",".join(bad)}: use a comma list of '
                                    f'{",".join(choices)}')
    ranges = (('input-size', args.input_size, 14), ('batch', args.batch, 1),
              ('runs', [args.runs], 1), ('warmup', [args.warmup], 0))
    for flag, values, low in ranges:
        if not values or any(v < low for v in values):
            raise InvalidInputError(f'--{flag} needs values >= {low}')
    if any(v % PATCH_SIZE for v in args.input_size):
        raise InvalidInputError(f'--input-size takes multiples of {PATCH_SIZE} (518, 364, 266)')
    if args.threads is not None and args.threads < 1:
        raise InvalidInputError('--threads must be >= 1')
    if (error := device_name_error(args.device)) is not None:
        raise InvalidInputError(error)


def _fill_defaults(args: argparse.Namespace) -> None:
    """Fill the flags left out with their defaults (smaller ones with --quick)."""
    defaults = ({'input_size': [266], 'preprocess': ['fast'], 'runs': 2, 'warmup': 1}
                if args.quick else {'input_size': [518, 364, 266],
                                    'preprocess': ['exact', 'fast'], 'runs': 10, 'warmup': 2})
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def _main(args: argparse.Namespace) -> int:
    """Measure, print and write."""
    with user_errors(ValueError):   # the TensorRT profile and model flags
        profile = trt_profile_from_args(args)
        # --encoder takes a comma list here: each one is read as every command reads it
        names = [e for e in (args.encoder or '').split(',') if e] or [None]
        encoders = [model_flags(argparse.Namespace(**{**vars(args), 'encoder': e})).encoder
                    or 'auto' for e in names]
    rows = run(encoders, args.input_size, args.precision, args.preprocess, args.batch,
               expand_backends(args.backend), args.device, args.checkpoint,
               args.weights_dir, args.runs, args.warmup, not args.no_accuracy, args.compile,
               trt_profile=profile)
    print(format_table(rows))
    result = {'what': 'depth-anything-ros bench: 480x640 synthetic frame; forward = network '
                      'alone, infer = preprocess + forward + upsample; accuracy vs fp32 exact '
                      'torch on the same weights',
              'checkpoint': args.checkpoint, 'runs': args.runs, 'warmup': args.warmup,
              'environment': environment(), 'trt_profile': [list(s) for s in profile],
              'results': rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + '\n')
        print(f'wrote {args.out}')
    return 1 if any('error' in r for r in rows) else 0
