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

"""Every user error of the command line is one line naming the problem, exit code 2, no traceback.

The property test throws random flags and values (from each command's own parser) at every
command and sub-command, in this process (``cli.main``), and checks the exit code (0 or 2), that
nothing escapes as an exception, and that a failing call prints exactly one error line besides
argparse's usage lines. So that no example starts long work, each command always gets one input
that cannot be used (a missing bag, image folder, data folder or a checkpoint that does not
load), named in :data:`ALWAYS`; the properties hold whichever problem a command finds first.
The examples below the property test are the bugs it and a new user found, each pinned.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path
import re
import tempfile
from typing import Any

from fuzz_strategies import examples
from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
import pytest

from depth_anything_ros.commands import cli

# Files and folders the examples name; created once (hypothesis runs many examples per test).
_ROOT = Path(tempfile.mkdtemp(prefix='cli_errors_'))
MISSING = _ROOT / 'missing'
GARBAGE = _ROOT / 'garbage.pth'            # a text file where a checkpoint/image/bag is wanted
EMPTY = _ROOT / 'empty_dir'
GARBAGE.write_text('garbage')
EMPTY.mkdir()
PATHS = [str(MISSING), str(GARBAGE), str(EMPTY), str(MISSING / 'x.yaml'), '']
# Checkpoints that never load (a run of a command must not export, label or benchmark one).
BAD_CHECKPOINTS = [str(MISSING / 'model.pth'), str(GARBAGE), 'no_such_model', str(EMPTY)]
# ... plus the smallest untrained network, where the command would stop at another input anyway
CHECKPOINTS = [*BAD_CHECKPOINTS, 'untrained:tiny', 'untrained']
TEXTS = ['', '0', '-1', '1', '2', '14', '70', '266', 'nan', 'inf', '-inf', '1e9', 'x', 'a,b',
         ',', '0/0', '3/2', 'auto', 'cpu', 'cuda:9', 'mps', 'fp16', 'bf16', 'none', 'true',
         'key=value', '=1', 'max_steps=0', 'lr=x', 'device=cuda:9', 'input_size=15',
         'untrained', '20x20', '0x5', 'axb', 'depth,points', 'depth,nope', 'vits,tiny']


def _out(name: str) -> st.SearchStrategy[str]:
    return st.sampled_from([str(_ROOT / 'out' / name), str(GARBAGE), str(EMPTY)])


# command -> {flag or positional dest: strategy}: always given, last on the line, so that it
# wins over a generated value of the same flag (argparse keeps the last).
ALWAYS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    'demo': {'--bag': st.just(str(MISSING))},
    'infer': {'images': st.just(str(MISSING / 'a.png'))},
    'process-bag': {'bag': st.just(str(MISSING / 'in_bag'))},
    'download': {'name': st.sampled_from(['no_such_model', 'vitx', ''])},
    'bench': {'--checkpoint': st.sampled_from([str(MISSING / 'model.pth'), str(GARBAGE)])},
    'bench soak': {'--bag': st.just(str(MISSING))},
    'export': {'--checkpoint': st.sampled_from(BAD_CHECKPOINTS)},
    'synth': {'--num': st.integers(-2, 2).map(str),
              '--size': st.sampled_from(['14x14', '16x20', '20x14', '0x0', 'axb', '13x40'])},
    'train': {'--data': st.sampled_from([str(MISSING), str(EMPTY)])},
    'eval': {'--data': st.sampled_from([str(MISSING), str(EMPTY)])},
    'pseudo-label': {'--inputs': st.sampled_from([str(MISSING), str(EMPTY)])},
    'distill': {'--labels': st.sampled_from([str(MISSING), str(EMPTY)])},
}
# flag -> the values worth trying beyond TEXTS (dest names for positionals)
VALUES: dict[str, list[str]] = {
    '--checkpoint': CHECKPOINTS, '--teacher': CHECKPOINTS,
    '--compare': [*CHECKPOINTS, ',', 'untrained:tiny,', f'untrained:tiny,{GARBAGE}',
                  f'{MISSING},untrained'],
    '--steps': ['0', '1', '-3', 'x'], '--ensemble-size': ['0', '1', '3', '1.5'],
    '--processing-resolution': ['0', '7', '16', '-8'],
    '--config': ['debug', 'distill_debug', 'no_such_preset', str(GARBAGE), str(MISSING)],
    '--params-file': PATHS, '--pairs': PATHS, '--split': ['val', 'train', str(MISSING)],
    '--image-topic': ['/camera/image', 'image', ''], '--shard': ['0/1', '1/1', '2/4', 'x'],
    'overrides': ['max_steps=0', 'lr=x', 'no_such_key=1', 'device=cuda:9', 'batch_size=0',
                  'x', 'amp=fp8', 'student=tiny', 'init=' + str(MISSING)],
}
# ``run`` is the node itself: it reads ROS arguments, and a bad configuration stops it with exit
# code 1 and the reason (test_node_modes.test_startup_failures_exit_1_with_the_reason).
COMMANDS = sorted([name for name in cli.COMMANDS if name != 'run']
                  + [f'{name} {sub}' for name, subs in cli.SUBCOMMANDS.items() for sub in subs])
USAGE = re.compile(r'^(usage: |\s)')


def _flag(action: argparse.Action) -> str | None:
    """Return the option's current name (old ones print a note); None for a positional."""
    if not action.option_strings:
        return None
    return getattr(action, 'new', None) or action.option_strings[0]


def _values(action: argparse.Action, key: str) -> st.SearchStrategy[str]:
    choices = [str(c) for c in action.choices or ()]
    known = VALUES.get(key, [])
    if key in ('--out', '--json', '--plot', '--error-maps') or action.dest == 'out':
        return _out(key.strip('-'))
    return st.sampled_from([*choices, *known, *PATHS, *TEXTS])


@st.composite
def command_lines(draw: st.DrawFn, command: str) -> list[str]:
    """Draw a command line for ``command``: some of its flags, each with a random value."""
    parser = cli.command_parser(command)
    always = ALWAYS.get(command, {})
    argv: list[str] = []
    positionals: list[str] = []
    actions = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    for action in draw(st.lists(st.sampled_from(actions), max_size=6, unique_by=id)):
        flag = _flag(action)
        if flag is None:
            if action.dest in always:
                continue
            positionals += draw(st.lists(_values(action, action.dest), max_size=2))
            continue
        if action.nargs == 0:
            argv.append(flag)
            continue
        argv += [flag, draw(_values(action, flag))]
    for action in parser._actions:     # required flags too, most of the time
        flag = _flag(action)
        if flag and action.required and flag not in argv and flag not in always \
                and draw(st.integers(0, 4)):
            argv += [flag, draw(_values(action, flag))]
    for key, values in always.items():
        if key.startswith('-'):
            argv += [key, draw(values)]
        else:
            positionals.insert(0, draw(values))
    # positionals first (argparse stops a nargs='*' positional at the first option)
    return [*command.split(), *positionals, *argv]


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """Run ``depth-anything-ros ARGV`` here; return (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:   # argparse: --help (0) and usage errors (2)
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def assert_user_error_contract(argv: list[str], code: int, err: str) -> None:
    """Exit 0 or 2; on 2 exactly one error line (besides usage) that names the problem."""
    where = f'depth-anything-ros {" ".join(argv)}\nstderr:\n{err}'
    assert 'Traceback' not in err, where
    assert code in (0, 2), f'exit code {code}: {where}'
    if code == 2:
        lines = [line for line in err.splitlines() if line.strip() and not USAGE.match(line)]
        assert len(lines) == 1, where
        assert re.match(r'^depth-anything-ros( [a-z-]+)*: error: .{12,}', lines[0]), where


@pytest.mark.parametrize('command', COMMANDS)
@settings(max_examples=examples(0.5), suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_command_lines_exit_0_or_2_with_one_error_line(command: str,
                                                              data: st.DataObject) -> None:
    argv = data.draw(command_lines(command), label='argv')
    code, _, err = run_cli(argv)
    assert_user_error_contract(argv, code, err)


@pytest.mark.parametrize('argv', [[], ['--help'], ['no-such-command'], ['-x'],
                                  *[[*c.split(), '--help'] for c in COMMANDS],
                                  *[[*c.split(), '--no-such-flag'] for c in COMMANDS]])
def test_top_level_and_help(argv: list[str]) -> None:
    code, out, err = run_cli(argv)
    assert_user_error_contract(argv, code, err)
    assert (code == 0) == (not argv or '--help' in argv)
    if code == 0:
        assert 'usage:' in out or 'COMMAND' in out


# The six invocations that ended in a Python traceback although the library had a good message,
# then the ones the property test found; each (argv, words the error line must hold).
REGRESSIONS = [
    (['synth', '--num', '-1', '--out', str(_ROOT / 'out' / 's')], '--num must be >= 1'),
    (['train', '--config', 'debug', '--data', str(MISSING), '--out', str(_ROOT / 'out' / 't')],
     'is not a directory (check --data)'),
    (['eval', '--checkpoint', 'untrained:tiny', '--allow-untrained', '--data', str(MISSING),
      '--out', str(_ROOT / 'out' / 'e.json')], 'is not a directory (check --data)'),
    (['distill', '--config', 'distill_debug', '--labels', str(MISSING),
      '--out', str(_ROOT / 'out' / 'd')], 'not a label directory'),
    (['eval', '--checkpoint', str(GARBAGE), '--data', str(EMPTY),
      '--out', str(_ROOT / 'out' / 'e.json')], 'is not a PyTorch'),
    (['pseudo-label', '--teacher', str(GARBAGE), '--inputs', str(EMPTY),
      '--out', str(_ROOT / 'out' / 'l')], 'is not a PyTorch'),
    # printed on stdout (or over several lines) and left stderr empty
    (['infer', '--checkpoint', str(GARBAGE), '--out', str(_ROOT / 'out' / 'i'), str(GARBAGE)],
     'is not a PyTorch'),
    (['export', '--checkpoint', str(GARBAGE), '--dynamic', '--out', str(_ROOT / 'm.onnx')],
     'is not a PyTorch'),
    (['download', 'no_such_model'], 'unknown model name'),
    (['download'], 'name the checkpoint'),
    (['process-bag', '--checkpoint', 'untrained:tiny', '--allow-untrained', '--backend',
      'torch', '--params-file', str(MISSING), '--out', str(_ROOT / 'out' / 'b'), str(EMPTY)],
     'parameters file'),
    # loaded a model, then failed on every image with exit 1
    (['infer', '--checkpoint', 'untrained:tiny', '--allow-untrained', '--out',
      str(_ROOT / 'out' / 'i'), str(MISSING / 'a.png')], 'does not exist'),
    # a traceback from torch.set_num_threads / from the soak's NAME=VALUE parser
    (['bench', '--threads', '-1', '--checkpoint', str(GARBAGE)], '--threads must be >= 1'),
    (['bench', 'soak', '--duration', '1', '--rate', '1', '--param', 'x', '--json',
      str(_ROOT / 'out' / 's.json'), '--bag', str(MISSING)], 'is not NAME=VALUE'),
    # found by the property test: a file where an output folder goes
    (['synth', '--out', str(GARBAGE), '--num', '1', '--size', '14x14'], 'a file of that name'),
    (['train', '--config', 'debug', '--out', str(GARBAGE), '--data', str(MISSING)],
     'a file of that name'),
    (['eval', '--checkpoint', 'untrained', '--data', str(MISSING),
      '--out', str(_ROOT / 'out' / 'e.json')], 'pass allow_untrained=True'),
    (['pseudo-label', '--allow-untrained', '--teacher', 'untrained:tiny',
      '--out', str(_ROOT / 'out' / 'l'), '--inputs', str(EMPTY)], 'no images'),
    (['eval', '--pairs', str(MISSING), '--checkpoint', str(GARBAGE), '--data', str(MISSING),
      '--out', str(_ROOT / 'out' / 'e.json')], 'pairs file'),
    (['eval', '--checkpoint', 'untrained:tiny', '--allow-untrained', '--encoder', 'vitx',
      '--data', str(MISSING), '--out', str(_ROOT / 'out' / 'e.json')], 'not a known'),
    # a progress bar on stderr before the checkpoint error
    (['bench', '--checkpoint', str(GARBAGE), '--quick'], 'is not a PyTorch'),
    # the node started and then refused its parameters
    (['demo', '--out', str(_ROOT / 'out' / 'demo'), '--input-size', '15', '--bag', str(MISSING)],
     'input_size must be in'),
]


@pytest.mark.parametrize('argv, words', REGRESSIONS, ids=[' '.join(a[:2]) for a, _ in
                                                           REGRESSIONS])
def test_known_user_errors_are_one_line(argv: list[str], words: str) -> None:
    code, _, err = run_cli(argv)
    assert_user_error_contract(argv, code, err)
    assert code == 2 and words in err, err


def test_error_helpers(tmp_path: Path) -> None:
    from depth_anything_ros.errors import (
        InvalidInputError,
        make_folder,
        MissingInputError,
        one_line,
        OutputExistsError,
        user_errors,
    )
    assert one_line(ValueError('invalid parameters:\n  a must be 1\n  b must be 2')) == (
        'invalid parameters: a must be 1; b must be 2')
    assert one_line(ValueError('first\nsecond')) == 'first; second'
    assert one_line(RuntimeError()) == 'RuntimeError'
    with pytest.raises(MissingInputError, match='gone'):
        with user_errors(ValueError, FileNotFoundError):
            raise FileNotFoundError('gone')
    with pytest.raises(InvalidInputError, match='bad'):
        with user_errors(ValueError):
            raise ValueError('bad')
    with pytest.raises(KeyError):              # not a type the caller named: a bug, unchanged
        with user_errors(ValueError):
            raise KeyError('x')
    (tmp_path / 'file').write_text('')
    assert make_folder(tmp_path / 'a' / 'b').is_dir()
    with pytest.raises(OutputExistsError, match='a file of that name'):
        make_folder(tmp_path / 'file' / 'sub')
    assert isinstance(OutputExistsError('x'), FileExistsError)
