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

"""``depth-anything-ros distill``: train a student on pseudo-labels (see training/distill.py).

Several GPUs: ``torchrun --nproc_per_node N -m depth_anything_ros distill ...``.
"""

from __future__ import annotations

import argparse
import math

from depth_anything_ros.commands import args as run_flags
from depth_anything_ros.training.distill import distill, DistillConfig, PRESETS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``depth-anything-ros distill`` to ``parser``."""
    run_flags.add_config_argument(parser, PRESETS)
    parser.add_argument('--labels', nargs='+', default=None,
                        help='label directories from "depth-anything-ros pseudo-label"')
    run_flags.add_run_arguments(parser, 'max_steps=2000 student=tiny trim=0.2')


def resolve_config(args: argparse.Namespace) -> DistillConfig:
    """Config for the command line: preset + overrides, or the run's saved config on resume."""
    return run_flags.run_config(DistillConfig, args, PRESETS,
                      ['labels=' + ','.join(args.labels)] if args.labels else [])


def main(args: argparse.Namespace) -> int:
    """Run ``depth-anything-ros distill``."""
    cfg, summary, main_proc = run_flags.run_training(distill, resolve_config, args)
    if 'val_end' in summary and main_proc:
        start = summary.get('val_start', {})
        parts = [f'distilled {cfg.student} for {summary["step"]} steps into {args.out}']
        parts += [f'{k} {start.get(k, math.nan):.4f} -> {v:.4f}'
                  for k, v in summary['val_end'].items()]
        if 'export' in summary:
            parts.append(f'export: {summary["export"]}')
        print('; '.join(parts))
    return 0
