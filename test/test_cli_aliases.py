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

"""Renamed command-line flags: the old names still work and say on stderr what replaced them."""

from __future__ import annotations

import argparse
import importlib

import pytest

from depth_anything_ros import cli

INFER = ['--checkpoint', 'vits', '--out', 'o', 'a.png']
BAG = ['--checkpoint', 'vits', '--out', 'o', 'in.bag']
EVAL = ['--checkpoint', 'vits']
# (command, its other required flags, old flag and value, dest, parsed value, new flag)
RENAMED = [
    ('infer', INFER, ['--head', 'metric'], 'mode', 'metric', '--mode'),
    ('process-bag', BAG, ['--head', 'relative'], 'mode', 'relative', '--mode'),
    ('export', ['--checkpoint', 'vits', '--out', 'm.onnx'], ['--max-depth', '20'],
     'model_max_depth', 20.0, '--model-max-depth'),
    ('eval', EVAL + ['--out', 'r.json'], ['--max-depth', '10'], 'eval_max_depth', 10.0,
     '--eval-max-depth'),
    ('eval', EVAL, ['--json', 'r.json'], 'out', 'r.json', '--out'),
    ('pseudo-label', ['--teacher', 'vitl', '--out', 'labels'], ['--images', 'a.mp4'], 'inputs',
     'a.mp4', '--inputs'),
    ('bench', [], ['--mode', 'exact,fast'], 'preprocess', ['exact', 'fast'], '--preprocess'),
]


def _parser(command: str) -> argparse.ArgumentParser:
    module_name = cli.COMMANDS[command][0]
    parser = argparse.ArgumentParser(prog=f'depth-anything-ros {command}')
    importlib.import_module(module_name).add_arguments(parser)
    return parser


@pytest.mark.parametrize('command, required, old, dest, value, new', RENAMED)
def test_old_flag_sets_the_new_one_with_a_note(command: str, required: list[str],
                                               old: list[str], dest: str, value: object,
                                               new: str, capsys: pytest.CaptureFixture) -> None:
    parser = _parser(command)
    args = parser.parse_args(required + old)
    assert getattr(args, dest) == value
    err = capsys.readouterr().err
    assert err == f'depth-anything-ros {command}: {old[0]} is deprecated; use {new}\n'
    args = parser.parse_args(required + [new, *old[1:]])
    assert getattr(args, dest) == value
    assert capsys.readouterr().err == ''
