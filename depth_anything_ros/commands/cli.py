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

"""The ``depth-anything-ros`` command: one entry point, one sub-command per task.

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and
``main(args) -> int``; modules are imported only when their command runs, so
``depth-anything-ros --help`` stays fast and a missing optional dependency of one command
never breaks another.

A user error (:class:`depth_anything_ros.errors.UserError`, raised by the library or by a
command) is printed here, and only here, as one line ``depth-anything-ros COMMAND: error: ...``
on stderr with exit code 2, as argparse reports a bad flag; any other exception is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import importlib
import sys

from depth_anything_ros.core.openmp import prefer_passive_openmp
from depth_anything_ros.errors import one_line, UserError

# name -> (module, one-line help)
_COMMANDS = 'depth_anything_ros.commands.'
COMMANDS: dict[str, tuple[str, str]] = {
    'run': ('depth_anything_ros.ros.node',
            'run the depth node (same as "ros2 run ... depth_node")'),
    'demo': (_COMMANDS + 'demo', 'run the node on a bundled camera stream; write pictures'),
    'infer': (_COMMANDS + 'infer', 'estimate depth for image files; write depth + PNG'),
    'process-bag': (_COMMANDS + 'process_bag',
                    "the node's outputs for every frame of a rosbag2, written to a new bag"),
    'download': (_COMMANDS + 'download', 'fetch an official checkpoint by name'),
    'bench': (_COMMANDS + 'bench', 'measure latency/throughput of the model and backends'),
    'export': (_COMMANDS + 'export', 'export a checkpoint to ONNX / OpenVINO'),
    'synth': (_COMMANDS + 'synth', 'generate a procedural RGB-D dataset'),
    'train': (_COMMANDS + 'train', 'fine-tune a metric depth model'),
    'eval': (_COMMANDS + 'evaluate', 'evaluate a checkpoint on a dataset'),
    'pseudo-label': (_COMMANDS + 'pseudo_label',
                     'label unlabeled images/video/rosbag2 with a teacher model'),
    'distill': (_COMMANDS + 'distill', 'train a student on pseudo-labels'),
}

# command -> {sub-command -> (module, one-line help)}: ``depth-anything-ros bench soak ...``
SUBCOMMANDS: dict[str, dict[str, tuple[str, str]]] = {
    'bench': {'soak': (_COMMANDS + 'soak',
                       'soak / load test of the node: long mixed stream, peak-rate search')},
}


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser; sub-command modules are imported lazily in :func:`main`."""
    parser = argparse.ArgumentParser(
        prog='depth-anything-ros',
        description='Depth Anything V2 for ROS 2: node, tools, training and benchmarks.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _entry(command: str) -> tuple[str, str]:
    """Return ``(module, one-line help)`` of ``command`` (``'infer'``, ``'bench soak'``)."""
    name, _, sub = command.partition(' ')
    return SUBCOMMANDS[name][sub] if sub else COMMANDS[name]


def command_parser(command: str) -> argparse.ArgumentParser:
    """Return the parser of ``command`` (``'infer'``, ``'bench soak'``) with all its flags."""
    module_name, help_text = _entry(command)
    subcommands = SUBCOMMANDS.get(command, {})
    epilog = ('sub-commands: ' + '; '.join(f'{command} {sub}: {text}' for sub, (_, text)
                                            in subcommands.items())) if subcommands else None
    parser = argparse.ArgumentParser(prog=f'depth-anything-ros {command}',
                                     description=help_text, epilog=epilog)
    importlib.import_module(module_name).add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``depth-anything-ros COMMAND ...`` to the command's module."""
    argv = list(sys.argv[1:] if argv is None else argv)
    prefer_passive_openmp()   # before torch loads: see depth_anything_ros/core/openmp.py
    parser = build_parser()
    if not argv or argv[0] in ('-h', '--help'):
        parser.print_help()
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        parser.error(f'unknown command {name!r}; choose from {", ".join(COMMANDS)}')
    if rest and rest[0] in SUBCOMMANDS.get(name, {}):
        name, rest = f'{name} {rest[0]}', rest[1:]
    module = importlib.import_module(_entry(name)[0])
    if name == 'run':  # the node parses ROS arguments itself
        return int(module.main(rest) or 0)
    cmd_parser = command_parser(name)
    args = cmd_parser.parse_args(rest)
    try:
        return int(module.main(args) or 0)
    except UserError as exc:
        print(f'{cmd_parser.prog}: error: {one_line(exc)}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
