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

"""The depth node as its own process, driven over DDS from this one (demo, benchmarks).

:class:`NodeProcess` starts ``python -m depth_anything_ros.ros.node --ros-args ...`` with its
output in a log file, and in this process a player node on a private rclpy context that
publishes frames to it and subscribes to its outputs. Leaving the ``with`` block stops the
node (SIGINT, then SIGKILL after 15 s) and shuts the context down. :func:`ros_environment`
keeps such a session off the network and out of other sessions' ROS domain.
:func:`node_arguments` writes the node's ``--ros-args`` from a parameter and a remapping table,
for every caller that starts the node (demo, soak, benchmarks, tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
import contextlib
import os
from pathlib import Path
import signal
import subprocess
import sys
import time
from typing import Any

from depth_anything_ros.core.stats import is_status
from depth_anything_ros.errors import InvalidInputError
from depth_anything_ros.ros import topics

STOP_TIMEOUT = 15.0  # seconds the node gets to exit after SIGINT before it is killed
NAMESPACE = '__ns'   # the remapping source that sets a node's namespace (``-r __ns:=/demo``)


def parameter_text(value: Any) -> str:
    """Return ``value`` as ``-p name:=TEXT`` writes it (rcl reads the text as YAML).

    Booleans become ``true``/``false``, sequences ``[a,b]``; anything else is ``str(value)``,
    so a string such as ``'266'`` is read back as YAML would read it.
    """
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return '[' + ','.join(parameter_text(v) for v in value) + ']'
    return str(value)


def node_arguments(params: Mapping[str, Any], remaps: Mapping[str, str] | None = None
                   ) -> list[str]:
    """Return what follows ``--ros-args`` for the depth node: remappings first, then parameters.

    ``remaps``: ``{from: to}`` (``NAMESPACE`` sets the node's namespace); ``params``:
    ``{name: value}`` written with :func:`parameter_text`; a value of None is left out (the
    node's default applies).
    """
    out: list[str] = []
    for source, target in (remaps or {}).items():
        out += ['-r', f'{source}:={target}']
    for name, value in params.items():
        if value is not None:
            out += ['-p', f'{name}:={parameter_text(value)}']
    return out


def camera_remaps(namespace: str, image: str = 'camera/image',
                  camera_info: str = 'camera/camera_info') -> dict[str, str]:
    """Return remappings that put the node in ``namespace``, fed by the player's topics.

    ``image`` and ``camera_info`` are the player's topic names, relative to ``namespace``.
    """
    return {NAMESPACE: namespace,
            topics.IMAGE.name: topics.resolve(namespace, image),
            topics.CAMERA_INFO.name: topics.resolve(namespace, camera_info)}


def depth_status(msg: Any) -> dict[str, str] | None:
    """Return ``{key: value}`` of the depth node's status in a DiagnosticArray, or None.

    The node names its status ``'<node name>: depth'`` (a single camera, ``stats.status_name``).
    """
    for status in msg.status:
        if is_status(status.name):
            return {kv.key: kv.value for kv in status.values}
    return None


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """Return ``{name: value}`` of ``NAME=VALUE`` texts (``--param input_size=266``).

    Raises:
        InvalidInputError: an item without ``=`` or without a name.

    """
    out = {}
    for item in items:
        name, sep, value = item.partition('=')
        if not sep or not name.strip():
            raise InvalidInputError(f'node parameter {item!r} is not NAME=VALUE (e.g. '
                                    'input_size=266)')
        out[name.strip()] = value
    return out


def localhost_discovery(distro: str | None) -> dict[str, str]:
    """Return the environment that keeps ROS discovery on this machine for ``distro``.

    Humble knows only ``ROS_LOCALHOST_ONLY=1``; Iron and later use
    ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` (Kilted ignores ``ROS_LOCALHOST_ONLY``).
    ``distro`` is ``$ROS_DISTRO`` (set by a ROS install's setup.bash); unset means a later one.
    """
    if (distro or '').strip().lower() in ('humble', 'galactic', 'foxy'):
        return {'ROS_LOCALHOST_ONLY': '1'}
    return {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}


@contextlib.contextmanager
def ros_environment() -> Iterator[None]:
    """Localhost-only discovery and, where possible, a ROS domain no one else uses."""
    for name, value in localhost_discovery(os.environ.get('ROS_DISTRO')).items():
        os.environ.setdefault(name, value)
    if 'FASTDDS_DEFAULT_PROFILES_FILE' not in os.environ:
        # large clouds need the bigger shared-memory segment of the bundled profile
        with contextlib.suppress(Exception):
            from ament_index_python.packages import get_package_share_directory
            xml = (Path(get_package_share_directory('depth_anything_ros')) / 'config' /
                   'fastdds_localhost_shm.xml')
            if xml.is_file():
                os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = str(xml)
    if 'ROS_DOMAIN_ID' in os.environ:
        yield
        return
    try:
        from domain_coordinator import domain_id
    except ImportError:
        yield
        return
    with domain_id() as domain:
        os.environ['ROS_DOMAIN_ID'] = str(domain)
        try:
            yield
        finally:
            os.environ.pop('ROS_DOMAIN_ID', None)


class NodeProcess:
    """The depth node in a child process plus a player node here.

    ``ros_args``: what follows ``--ros-args`` (remappings, ``-p name:=value``); ``log_path``:
    the node's stdout and stderr; ``name``: the player node's name; ``spin_period``: seconds
    one executor turn waits in :meth:`spin_until`. Inside ``with``: ``node`` (the player
    ``rclpy`` node), ``process`` (the :class:`subprocess.Popen` of the depth node).
    """

    def __init__(self, ros_args: list[str], log_path: Path, name: str,
                 spin_period: float = 0.01) -> None:
        self.command = [sys.executable, '-m', 'depth_anything_ros.ros.node', '--ros-args',
                        *ros_args]
        self.log_path = log_path
        self.name = name
        self.spin_period = spin_period
        self.process: subprocess.Popen | None = None
        self.node: Any = None
        self._context: Any = None
        self._executor: Any = None

    def __enter__(self) -> NodeProcess:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        with self.log_path.open('w') as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT,
                                            env=os.environ.copy())
        try:
            self._context = rclpy.Context()
            rclpy.init(context=self._context)
            self.node = Node(self.name, context=self._context)
            self._executor = SingleThreadedExecutor(context=self._context)
            self._executor.add_node(self.node)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def spin_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Spin the player until ``predicate()`` holds, ``timeout`` s pass or the node exits.

        Returns ``predicate()`` at that moment.
        """
        end = time.monotonic() + timeout
        while time.monotonic() < end and not predicate():
            if self.process.poll() is not None:
                break
            self._executor.spin_once(timeout_sec=self.spin_period)
        return predicate()

    def stop(self) -> None:
        """Stop the node process (SIGINT, then kill) and shut the player's context down."""
        import rclpy
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
        if self.node is not None:
            self.node.destroy_node()
            self.node = None
        if self._context is not None:
            rclpy.try_shutdown(context=self._context)
            self._context = None
