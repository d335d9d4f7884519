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

"""``depth-anything-ros train``: metric fine-tuning (see training/train.py).

Several GPUs: ``torchrun --nproc_per_node=N -m depth_anything_ros train ...``.
"""

from __future__ import annotations

import argparse

from depth_anything_ros.commands import args as run_flags
from depth_anything_ros.training.config import TrainConfig
from depth_anything_ros.training.train import PRESETS, train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the flags of ``depth-anything-ros train`` to ``parser``."""
    run_flags.add_config_argument(parser, PRESETS)
    parser.add_argument('--data', help='dataset root (sets data=)')
    run_flags.add_run_arguments(parser, 'max_steps=2000 lr=1e-5 freeze_encoder=true')
    # let key=value overrides sit anywhere among the options (plain parse_args stops
    # collecting positionals at the first option that follows them)
    parser.parse_args = parser.parse_intermixed_args  # type: ignore[method-assign]


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """Config for the command line: preset + overrides, or the run's saved config on resume."""
    overrides = [f'data={args.data}'] if args.data else []
    return run_flags.run_config(TrainConfig, args, PRESETS, overrides)


def main(args: argparse.Namespace) -> int:
    """Run ``depth-anything-ros train``."""
    _, summary, main_proc = run_flags.run_training(train, resolve_config, args)
    if 'val_end' in summary and main_proc:
        start = summary.get('val_start', {}).get('abs_rel', float('nan'))
        print(f'val abs_rel: {start:.4f} -> {summary["val_end"]["abs_rel"]:.4f}; '
              f'run folder {args.out}')
    return 0
