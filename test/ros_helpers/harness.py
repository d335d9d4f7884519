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

"""Subscriber-side helpers for the node tests (run inside the pytest process)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
import time
from typing import Any

from depth_anything_ros.offline.node_process import node_arguments

HELPERS = Path(__file__).resolve().parent
CAMERA = HELPERS / 'camera_publisher.py'
# Small network input: a frame takes tens of ms on a CPU, so the tests stay short. torch fp32
# (not backend/precision auto): these tests check the node's wiring against torch outputs.
# The remappings come first, three of them: tests slice them off with NODE_ARGS[9:].
NODE_ARGS = ('-m', 'depth_anything_ros.ros.node', '--ros-args', *node_arguments(
    {'checkpoint': 'untrained', 'allow_untrained_weights': True, 'encoder': 'vits',
     'input_size': 154, 'device': 'cpu', 'diagnostics_period': 0.5, 'backend': 'torch',
     'precision': 'fp32'},
    {'image': 'camera/image', 'image/compressed': 'camera/image/compressed',
     'camera_info': 'camera/camera_info'}))


def stamp_ns(header: Any) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


class Recorder:
    """Subscribe a harness node to topics and keep every message per topic."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.msgs: dict[str, list[Any]] = defaultdict(list)
        self._subs: dict[str, Any] = {}

    def listen(self, msg_type: type, topic: str, qos: Any = 10) -> None:
        self._subs[topic] = self.node.create_subscription(
            msg_type, topic, lambda m, t=topic: self.msgs[t].append(m), qos)

    def stop(self, topic: str) -> None:
        self.node.destroy_subscription(self._subs.pop(topic))

    def spin_until(self, predicate: Callable[[], bool], timeout: float,
                   proc: Any = None) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            if proc is not None and proc.poll() is not None:
                return predicate()
            self.node.executor.spin_once(timeout_sec=0.05)
        return predicate()

    def call(self, future: Any, timeout: float = 10.0) -> Any:
        self.node.executor.spin_until_future_complete(future, timeout_sec=timeout)
        assert future.done(), 'service call timed out'
        return future.result()

    def diagnostics(self, node: str = 'depth') -> dict[str, str]:
        """Key/values of the newest /diagnostics status whose name holds ``node`` ({} if none)."""
        for msg in reversed(self.msgs['/diagnostics']):
            for status in msg.status:
                if node in status.name:
                    return {kv.key: kv.value for kv in status.values}
        return {}


def log_of(path: Path) -> str:
    return path.read_text() if path.exists() else ''
