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

"""A depth node's process: rclpy up, the node built and spun, a clean exit on SIGINT/SIGTERM."""

from __future__ import annotations

from collections.abc import Callable
import os
import signal
import sys
import threading
from typing import Any

import rclpy
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from depth_anything_ros.core.openmp import prefer_passive_openmp

__all__ = ['spin_node']

_SIGNAL_POLL_S = 0.2   # seconds: the longest a SIGINT/SIGTERM waits to be seen


class _Shutdown(Exception):
    """Raised in the main thread by SIGINT/SIGTERM while the node is still being built."""


def spin_node(node_class: Callable[[], Any], name: str, args: list[str] | None = None) -> int:
    """Run a depth node of ``node_class`` (named ``name``) until SIGINT/SIGTERM; return 0 or 1.

    The node handles the signals itself (rclpy's handler would shut the context down under a
    worker that may be publishing): stop taking frames, wait up to ``shutdown_timeout`` for an
    inference in flight, destroy the node, shut rclpy down. A worker still inside the network
    after that is left behind with ``os._exit(0)``: letting the interpreter finalise under it
    unwinds the thread through C++ frames and aborts the process.
    """
    argv = sys.argv if args is None else [sys.argv[0], *args]
    prefer_passive_openmp()   # before torch loads: see depth_anything_ros/core/openmp.py
    # init/try_shutdown rather than ``with rclpy.init()``: Humble's init is no context manager.
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)

    # Once the node spins, a signal only sets this flag: a Python signal handler runs wherever
    # the main thread is, often inside rclpy's C++ take_message turning a message into Python,
    # and an exception raised there comes out as pybind's "RuntimeError: Unable to convert call
    # argument" instead (exit 1 with a traceback). While the node is being built (loading a
    # model can take long) the handler raises _Shutdown to stop at once.
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        if not spinning:
            raise _Shutdown(signal.Signals(signum).name)
        stop.set()

    spinning = False
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    node: Any = None
    finished = True
    try:
        try:
            node = node_class()
        except InvalidParameterTypeException as exc:
            rclpy.logging.get_logger(name).fatal(
                f'start-up failed: {exc}; in YAML write floats with a decimal point '
                '(20.0, not 20)')
            return 1
        except (FileNotFoundError, ValueError, InvalidParameterValueException) as exc:
            rclpy.logging.get_logger(name).fatal(f'start-up failed: {exc}')
            return 1
        executor = SingleThreadedExecutor(context=node.context)
        executor.add_node(node)
        spinning = True
        try:
            # Bounded waits: the flag is seen within _SIGNAL_POLL_S, whatever the executor waits
            # for (spin_once returns as soon as one callback ran, so this costs no throughput).
            while not stop.is_set() and node.context.ok():
                executor.spin_once(timeout_sec=_SIGNAL_POLL_S)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            spinning = False
            executor.remove_node(node)
            executor.shutdown(timeout_sec=0.0)
    except (_Shutdown, KeyboardInterrupt):
        return 0   # a signal during start-up
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_IGN if node is not None else handler)
        if node is not None:
            finished = node.stop_worker()
            if not finished:
                node.get_logger().warning(
                    f'an inference is still running after shutdown_timeout '
                    f'({node.shutdown_timeout:g} s); exiting without it')
            node.destroy_node()
        rclpy.try_shutdown()
    if not finished:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0
