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

# (command, old flag and value, dest, parsed value, new flag); the other required flags come
# from REQUIRED.
RENAMED = [
    ('infer', ['--head', 'metric'], 'mode', 'metric', '--mode'),
    ('process-bag', ['--head', 'relative'], 'mode', 'relative', '--mode'),
]
REQUIRED = {
    'infer': ['--checkpoint', 'vits', '--out', 'o', 'a.png'],
    'process-bag': ['--checkpoint', 'vits', '--out', 'o', 'in.bag'],
}


def _parser(command: str) -> argparse.ArgumentParser:
    module_name = cli.COMMANDS[command][0]
    parser = argparse.ArgumentParser(prog=f'depth-anything-ros {command}')
    importlib.import_module(module_name).add_arguments(parser)
    return parser


@pytest.mark.parametrize('command, old, dest, value, new', RENAMED)
def test_old_flag_sets_the_new_one_with_a_note(command: str, old: list[str], dest: str,
                                               value: object, new: str,
                                               capsys: pytest.CaptureFixture) -> None:
    parser = _parser(command)
    args = parser.parse_args(REQUIRED[command] + old)
    assert getattr(args, dest) == value
    err = capsys.readouterr().err
    assert err == f'depth-anything-ros {command}: {old[0]} is deprecated; use {new}\n'
    args = parser.parse_args(REQUIRED[command] + [new, *old[1:]])
    assert getattr(args, dest) == value
    assert capsys.readouterr().err == ''
