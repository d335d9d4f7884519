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

"""The launch file's logic as plain functions: argument table, node parameters, remappings.

``launch/depth.launch.py`` stays a thin shell around these, so they are unit-tested without
the ``launch`` packages and behave the same under every ROS 2 distribution.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
import os

from depth_anything_ros.params import camera_names, SCENE_MAX_DEPTH, spec
from depth_anything_ros.vocabulary import device_name_error, DEVICE_NAMES

__all__ = ['DEPRECATED_ARGUMENTS', 'LAUNCH_ARGUMENTS', 'LaunchArgument', 'cameras', 'choices_of',
           'deprecation_notes', 'executable', 'markdown_table', 'node_parameters',
           'package_installed', 'remappings', 'rviz_wanted']


@dataclass(frozen=True)
class LaunchArgument:
    """One ``ros2 launch`` argument: name, default (a string) and help text."""

    name: str
    default: str
    description: str


# launch argument -> node parameter it sets; '' leaves the params file's value in force.
# Each argument is named after its parameter.
_PARAMETER_OF = {'encoder': 'encoder', 'mode': 'mode', 'scene': 'scene',
                 'checkpoint': 'checkpoint', 'device': 'device', 'precision': 'precision',
                 'backend': 'backend', 'exact': 'exact', 'rectify': 'rectify',
                 'use_sim_time': 'use_sim_time'}
# parameters every rclpy node declares itself (not in the node's schema)
_ROS_BOOL_PARAMETERS = ('use_sim_time',)
#: old launch argument -> the one that replaced it (still accepted, with a note)
DEPRECATED_ARGUMENTS = {'model': 'encoder'}


def choices_of(parameter: str) -> tuple[str, ...]:
    """Return the values the launch argument of ``parameter`` takes, from the schema.

    Booleans take true/false, ``device`` a device name (``cuda:N``: any index); a parameter
    without choices (a file name) returns ``()``.
    """
    if parameter in _ROS_BOOL_PARAMETERS or spec(parameter).type is bool:
        return ('true', 'false')
    if parameter == 'device':
        return DEVICE_NAMES
    return spec(parameter).choices


def _from_schema(name: str, meaning: str = '', default: bool = True) -> LaunchArgument:
    """Return the launch argument that sets the parameter ``name``, described from the schema.

    Its values come first, then ``meaning``, then what an empty value leaves (``default``: say
    the default too: depth.yaml's, or false for a parameter every node declares).
    """
    empty = 'empty: params_file value'
    if default and name in _ROS_BOOL_PARAMETERS:
        empty += ', false'
    elif default:
        empty += f', {str(spec(name).default).lower()} in depth.yaml'
    return LaunchArgument(name, '', f'{" | ".join(choices_of(name))}{meaning} ({empty})')


LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    _from_schema('encoder', '; auto: the architecture the checkpoint holds', default=False),
    LaunchArgument('model', '', 'deprecated name of encoder'),
    _from_schema('mode', '; metric: depth in metres, relative: disparity', default=False),
    _from_schema('scene', '; max ' + ' / '.join(f'{d:g} m' for d in SCENE_MAX_DEPTH.values()),
                 default=False),
    LaunchArgument('checkpoint', '', 'checkpoint file or name (empty: derived from the model)'),
    _from_schema('device', '; cuda:N: the GPU of index N', default=False),
    _from_schema('precision', '; auto: the fastest within ~3 % p99'),
    _from_schema('backend', '; auto: the fastest installed'),
    _from_schema('exact', '; true: bit-faithful fp32 torch path'),
    _from_schema('rectify', '; true: undistort a raw image topic with its camera_info before '
                 'inference'),
    _from_schema('use_sim_time', '; true: use the /clock time (bags played with ros2 bag play '
                 '--clock)'),
    LaunchArgument('lifecycle', 'false', 'true: run depth_lifecycle_node, a managed node that '
                   'waits for configure/activate (ros2 lifecycle set, a lifecycle manager)'),
    LaunchArgument('cameras', '', 'several cameras sharing one model, e.g. [front,rear] or '
                   'front,rear: camera c uses c/image, c/camera_info, c/depth/image, ... '
                   '(empty: params_file value, else one camera on image and camera_info)'),
    LaunchArgument('namespace', '', 'namespace of the node (and of RViz)'),
    LaunchArgument('image', 'image', 'camera image topic (its /compressed sibling is used with '
                   'image_transport compressed)'),
    LaunchArgument('camera_info', 'camera_info', 'camera_info topic of that camera'),
    LaunchArgument('params_file', '', "parameters YAML (default: the package's "
                   'config/depth.yaml)'),
    LaunchArgument('rviz', 'false', 'also open RViz with rviz/depth.rviz'),
    LaunchArgument('fixed_frame', 'camera_optical_frame',
                   "RViz fixed frame: the camera's optical frame_id"),
)


def executable(values: Mapping[str, str]) -> str:
    """Return the node executable the ``lifecycle`` argument picks.

    Raises:
        ValueError: ``lifecycle`` is not true or false.

    """
    value = str(values.get('lifecycle') or 'false').strip().lower()
    if value not in ('true', 'false'):
        raise ValueError(f'launch argument lifecycle:={value} is not valid; use true or false')
    return 'depth_lifecycle_node' if value == 'true' else 'depth_node'


def package_installed(name: str) -> bool:
    """Return whether the ROS package ``name`` is in the ament index (``$AMENT_PREFIX_PATH``)."""
    from ament_index_python.packages import get_package_prefix, PackageNotFoundError
    try:
        get_package_prefix(name)
    except (PackageNotFoundError, ValueError):
        return False
    return True


def rviz_wanted(value: str, installed: Callable[[str], bool]) -> tuple[bool, str]:
    """Return whether ``rviz:=value`` starts RViz, and a note when it asks for a missing RViz.

    rviz2 comes with the desktop install, not with ros-base on a robot: without it the depth
    node still starts and the note says how to get RViz.

    Raises:
        ValueError: ``value`` is not true or false.

    """
    flag = str(value or 'false').strip().lower()
    if flag not in ('true', 'false'):
        raise ValueError(f'launch argument rviz:={value} is not valid; use true or false')
    if flag == 'false':
        return False, ''
    if installed('rviz2'):
        return True, ''
    distro = os.environ.get('ROS_DISTRO') or '$ROS_DISTRO'
    return False, (f'rviz:=true but rviz2 is not installed, so RViz does not start (the depth '
                   f'node does): sudo apt install ros-{distro}-rviz2, or '
                   'tools/install_robot.sh --extras rviz; or run RViz on another machine')


def cameras(value: str) -> list[str]:
    """Return the camera names of a ``cameras`` argument: ``[front,rear]`` or ``front,rear``.

    Raises:
        ValueError: a name that is no valid camera name (see params.camera_names).

    """
    text = value.strip()
    if text.startswith('[') and text.endswith(']'):
        text = text[1:-1]
    names = [n.strip().strip('\'"') for n in text.split(',')]
    return list(camera_names([n for n in names if n]))


def deprecation_notes(values: Mapping[str, str]) -> list[str]:
    """Return one line per deprecated argument given on the command line."""
    return [f'launch argument {old}:= is deprecated; use {new}:=' for old, new
            in DEPRECATED_ARGUMENTS.items() if str(values.get(old, '')).strip()]


def _given(values: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Return argument -> (value, the name it was given as), deprecated names folded in.

    Raises:
        ValueError: an argument given under its old and its new name with two values.

    """
    given = {arg: (str(value).strip(), arg) for arg, value in values.items()
             if str(value).strip() and arg not in DEPRECATED_ARGUMENTS}
    for old, new in DEPRECATED_ARGUMENTS.items():
        value = str(values.get(old, '')).strip()
        if not value:
            continue
        if new in given and given[new][0] != value:
            raise ValueError(f'launch arguments {old}:={value} and {new}:={given[new][0]} '
                             f'disagree; give only {new}:=')
        given[new] = (value, old)
    return given


def node_parameters(values: Mapping[str, str]) -> dict[str, str | bool | list[str]]:
    """Return the parameters given on the launch command line (empty ones are left out).

    Boolean parameters take ``true``/``false`` (any case) and are passed on as bools.
    Deprecated argument names (:data:`DEPRECATED_ARGUMENTS`) set their new name's parameter.

    Raises:
        ValueError: a value is not one the parameter accepts (names the choices).

    """
    params: dict[str, str | bool | list[str]] = {}
    if str(values.get('cameras', '')).strip():
        params['cameras'] = cameras(str(values['cameras']))
    given = _given(values)
    for key, name in _PARAMETER_OF.items():
        if key not in given:
            continue
        value, arg = given[key]
        if name in _ROS_BOOL_PARAMETERS or spec(name).type is bool:
            if value.lower() not in ('true', 'false'):
                raise ValueError(f'launch argument {arg}:={value} is not valid; use true or '
                                 'false')
            params[name] = value.lower() == 'true'
            continue
        choices = choices_of(name)
        wrong = (device_name_error(value) is not None if name == 'device'
                 else bool(choices) and value not in choices)
        if wrong:
            raise ValueError(f'launch argument {arg}:={value} is not valid; use one of '
                             f'{", ".join(choices)}')
        params[name] = value
    return params


def remappings(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """Return the node's topic remappings for the ``image`` and ``camera_info`` arguments.

    They wire the single camera; several cameras are wired by their own names (``c/image``
    in the node's namespace, or remapped in a launch file of your own).

    Raises:
        ValueError: ``image``/``camera_info`` given together with ``cameras``.

    """
    if str(values.get('cameras', '')).strip() and (
            values.get('image', 'image') != 'image'
            or values.get('camera_info', 'camera_info') != 'camera_info'):
        raise ValueError('launch arguments image and camera_info wire a single camera; with '
                         'cameras, each camera c subscribes to c/image and c/camera_info '
                         '(set namespace, or remap them in a launch file)')
    image = str(values.get('image') or 'image')
    info = str(values.get('camera_info') or 'camera_info')
    return [('image', image), ('image/compressed', image.rstrip('/') + '/compressed'),
            ('camera_info', info)]


def markdown_table() -> str:
    """Return the launch arguments as a Markdown table (README.md, docs/node.md)."""
    rows = ['| argument | default | node parameter | meaning |', '|---|---|---|---|']
    for a in LAUNCH_ARGUMENTS:
        name = DEPRECATED_ARGUMENTS.get(a.name, a.name)
        target = 'cameras' if name == 'cameras' else _PARAMETER_OF.get(name, '')
        default = f'`{a.default}`' if a.default else ''
        meaning = a.description.replace('|', '\\|')
        rows.append(f'| `{a.name}` | {default} | {f"`{target}`" if target else ""} | {meaning} |')
    return '\n'.join(rows)
