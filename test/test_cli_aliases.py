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
from pathlib import Path

import pytest

from depth_anything_ros.commands import cli

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
    ('bench', [], ['--json', 'b.json'], 'out', Path('b.json'), '--out'),
    ('pseudo-label', ['--teacher', 'vitl', '--out', 'labels', '--inputs', 'a.bag'],
     ['--topic', '/cam/image'], 'image_topic', '/cam/image', '--image-topic'),
    ('pseudo-label', ['--teacher', 'vitl', '--out', 'labels', '--inputs', 'a.bag'],
     ['--batch', '2'], 'batch_size', 2, '--batch-size'),
]


def _parser(command: str) -> argparse.ArgumentParser:
    return cli.command_parser(command)


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


@pytest.mark.parametrize('flag', ['--json', '--out'])
def test_bench_soak_takes_json_and_out_alike(flag: str, capsys: pytest.CaptureFixture) -> None:
    """``bench soak --json OUT`` is the documented form; ``--out`` is the same flag."""
    args = _parser('bench soak').parse_args(['--duration', '1', '--rate', '1', flag, 's.json'])
    assert args.out == Path('s.json')
    assert capsys.readouterr().err == ''


def _flags_by_command() -> dict[str, set[str]]:
    """Every command's option strings, as its parser registers them (old names left out)."""
    commands = {name: module for name, (module, _) in cli.COMMANDS.items() if name != 'run'}
    for name, subs in cli.SUBCOMMANDS.items():
        commands.update({f'{name} {sub}': module for sub, (module, _) in subs.items()})
    out = {}
    for name, module_name in commands.items():
        parser = argparse.ArgumentParser()
        importlib.import_module(module_name).add_arguments(parser)
        out[name] = {s for a in parser._actions
                     for s in ([a.new] if hasattr(a, 'new') else a.option_strings)}
    return out


def test_readme_flag_glossary_lists_the_commands_that_take_each_flag() -> None:
    import re
    text = (Path(__file__).resolve().parents[1] / 'README.md').read_text()
    begin = text.index('<!-- flags:begin')
    rows = text[text.index('\n', begin) + 1:text.index('<!-- flags:end -->')].strip()
    flags = _flags_by_command()
    checked = 0
    for row in rows.splitlines()[2:]:
        cells = [c.strip() for c in row.strip('|').split(' | ')]
        names = re.findall(r'`(--[a-z-]+)`', cells[0].split('(')[0])
        listed = {c.strip() for c in cells[3].split(',')}
        for name in names:
            taking = {cmd for cmd, options in flags.items() if name in options}
            assert taking == listed, f'README flag table, {name}: commands {sorted(taking)}'
            checked += 1
    assert checked >= 20
    # every renamed flag is in the table with its old name, and no other old name is
    documented = {(new, old) for row in rows.splitlines()[2:]
                  for new in re.findall(r'`(--[a-z-]+)`', row.split(' | ')[0].split('(')[0])
                  for old in re.findall(r'old[^`]*`(--[a-z-]+)`', row.split(' | ')[0])}
    assert documented == {(new, old[0]) for _, _, old, _, _, new in RENAMED}


def test_package_module_entry_runs_the_cli() -> None:
    """``python -m depth_anything_ros`` (the torchrun entry) is the ``depth-anything-ros`` CLI."""
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, '-m', 'depth_anything_ros', 'distill', '--help'],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'depth-anything-ros distill' in proc.stdout
