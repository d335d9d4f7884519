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

"""depth_lifecycle_node: the depth node as a managed (lifecycle) node.

The same node logic as ``depth_node`` (node.DepthNodeCore), driven by the ROS 2 lifecycle
state machine, e.g. by a Nav2-style lifecycle manager or ``ros2 lifecycle set``:

* ``configure``: validate the parameters and load the model (a bad checkpoint or value fails
  the transition with the reason logged; the node stays unconfigured);
* ``activate``: subscribe to the cameras, start the worker, activate the publishers;
* ``deactivate``: stop taking frames (subscriptions destroyed, worker stopped, publishers
  inactive);
* ``cleanup``: destroy the publishers and free the model (and its GPU memory);
* ``shutdown`` (from any state): all of the above.

Run: ``ros2 run depth_anything_ros depth_lifecycle_node --ros-args ...`` or
``ros2 launch depth_anything_ros depth.launch.py lifecycle:=true``.
"""

from __future__ import annotations

import sys
from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile

from depth_anything_ros.ros.node import DepthNodeCore, NODE_NAME, run

__all__ = ['DepthLifecycleNode', 'main']


class DepthLifecycleNode(DepthNodeCore, LifecycleNode):
    """Depth Anything V2 on camera streams, as a managed node (docs/node.md, lifecycle).

    Construction declares the parameters only; ``estimator`` replaces the loaded model (tests).
    """

    def __init__(self, *, estimator: Any = None, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._init_core(estimator)
        self._declare_parameters()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Validate the parameters and load the model; FAILURE (reason logged) if they are bad."""
        try:
            self._configure()
        except (ValueError, OSError, RuntimeError, ImportError) as exc:
            self.get_logger().error(f'configure failed: {exc}')
            self._release()
            return TransitionCallbackReturn.FAILURE
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Activate the publishers, subscribe and start the worker."""
        result = super().on_activate(state)
        if result == TransitionCallbackReturn.SUCCESS:
            self._activate()
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop taking frames and the worker, deactivate the publishers."""
        self._stop_frames()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy the publishers and free the model."""
        result = super().on_cleanup(state)
        self._release()
        return result

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop and free everything, whatever the state."""
        self._stop_frames()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free everything after a failed transition, as shutdown does; back to unconfigured."""
        return self.on_shutdown(state)

    def _stop_frames(self) -> None:
        if not self._deactivate():
            self.get_logger().warning(
                f'an inference is still running after shutdown_timeout '
                f'({self.shutdown_timeout:g} s); it is left to finish unpublished')

    def _create_output(self, msg_type: type, topic: str, qos: QoSProfile, **kwargs: Any) -> Any:
        return self.create_lifecycle_publisher(msg_type, topic, qos, **kwargs)

    def _destroy_output(self, publisher: Any) -> None:
        self.destroy_lifecycle_publisher(publisher)


def main(args: list[str] | None = None) -> int:
    """Run depth_lifecycle_node until SIGINT/SIGTERM; return the exit code."""
    return run(DepthLifecycleNode, args)


if __name__ == '__main__':
    sys.exit(main())
