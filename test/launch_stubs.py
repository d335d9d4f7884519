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

"""Stand-ins for the ``launch`` / ``launch_ros`` modules, which have no PyPI wheels.

Each action records its constructor arguments; substitutions can be performed against a small
fake context, so a test can run ``generate_launch_description()`` and every OpaqueFunction the
way ``ros2 launch`` would, then inspect the resulting Node actions.
"""

from __future__ import annotations

import os
from pathlib import Path
import types
from typing import Any


class Context:
    """The part of launch's LaunchContext the stubs use: resolved launch configurations."""

    def __init__(self, share_dirs: dict[str, Path], configurations: dict[str, str]) -> None:
        self.share_dirs = share_dirs
        self.launch_configurations = dict(configurations)


def perform(value: Any, context: Context) -> str:
    """Resolve a string, a substitution or a list of them to text."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ''.join(perform(v, context) for v in value)
    return value.perform(context)


class Action:
    """Record ``args`` and ``kwargs``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.args}, {self.kwargs})'


class LaunchDescription(Action):
    @property
    def entities(self) -> list[Any]:
        return list(self.args[0]) if self.args else []


class DeclareLaunchArgument(Action):
    @property
    def name(self) -> str:
        return self.args[0]


class OpaqueFunction(Action):
    def execute(self, context: Context) -> list[Any]:
        return list(self.kwargs['function'](context) or [])


class IfCondition(Action):
    def evaluate(self, context: Context) -> bool:
        text = perform(self.args[0], context).strip().lower()
        if text not in ('true', 'false', '1', '0'):
            raise ValueError(f'IfCondition needs true/false, got {text!r}')
        return text in ('true', '1')


class LaunchConfiguration(Action):
    def perform(self, context: Context) -> str:
        return context.launch_configurations[self.args[0]]


class PathJoinSubstitution(Action):
    def perform(self, context: Context) -> str:
        return os.path.join(*(perform(p, context) for p in self.args[0]))


class FindPackageShare(Action):
    def perform(self, context: Context) -> str:
        return str(context.share_dirs[self.args[0]])


class Node(Action):
    pass


def modules() -> dict[str, types.ModuleType]:
    """Return stand-in modules by name, for ``monkeypatch.setitem(sys.modules, ...)``."""
    contents = {
        'launch': {'LaunchDescription': LaunchDescription},
        'launch.actions': {'DeclareLaunchArgument': DeclareLaunchArgument,
                           'OpaqueFunction': OpaqueFunction},
        'launch.conditions': {'IfCondition': IfCondition},
        'launch.substitutions': {'LaunchConfiguration': LaunchConfiguration,
                                 'PathJoinSubstitution': PathJoinSubstitution},
        'launch_ros': {},
        'launch_ros.actions': {'Node': Node},
        'launch_ros.substitutions': {'FindPackageShare': FindPackageShare},
    }
    out = {}
    for name, attrs in contents.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        out[name] = module
    return out
