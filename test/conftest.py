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

"""Shared fixtures: ROS isolation, node processes, launch stand-ins, reference data.

Every test that starts rclpy gets its own ROS domain (reserved machine-wide through
``domain_coordinator``) and localhost-only discovery, so parallel test runs never see each
other's topics; every spawned process is stopped (SIGINT, then SIGKILL) even when a test fails.
"""

from __future__ import annotations

import atexit
from collections.abc import Iterator
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest

TEST_DIR = Path(__file__).resolve().parent
REPO = TEST_DIR.parent
DATA = TEST_DIR / 'data'

# Before any rclpy context exists; child processes inherit these.
os.environ.setdefault('AMENT_PREFIX_PATH', sys.prefix)
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
os.environ.setdefault('FASTDDS_DEFAULT_PROFILES_FILE',
                      str(REPO / 'config' / 'fastdds_localhost_shm.xml'))
os.environ.setdefault('ROS_LOG_DIR', '/tmp/depth_anything_ros_test_log')
os.environ.pop('ROS_LOCALHOST_ONLY', None)
# Engine caches and remembered camera sizes go to a per-run folder, never the user's ~/.cache.
os.environ['XDG_CACHE_HOME'] = tempfile.mkdtemp(prefix='depth_anything_ros_test_cache_')
atexit.register(shutil.rmtree, os.environ['XDG_CACHE_HOME'], ignore_errors=True)


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``gpu``-marked tests with a reason when no CUDA device is present."""
    if _has_cuda():
        return
    skip = pytest.mark.skip(reason='needs a CUDA device; none is present on this machine')
    for item in items:
        if 'gpu' in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def ros_domain(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """Reserve a ROS_DOMAIN_ID that no other test process on this machine uses."""
    from domain_coordinator import domain_id
    with domain_id() as domain:
        monkeypatch.setenv('ROS_DOMAIN_ID', str(domain))
        yield domain


@pytest.fixture
def harness_ctx(ros_domain: int):
    """Return a private rclpy context in the test's ROS domain (shut down at teardown)."""
    import rclpy
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=ros_domain)
    yield ctx
    rclpy.try_shutdown(context=ctx)


@pytest.fixture
def ros_node(ros_domain: int):
    """Return an rclpy node in a private context with its own executor (``node.executor``).

    With a private context, spin through ``node.executor.spin_once(...)``: the global
    ``rclpy.spin_once(node)`` is bound to the default context.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=ros_domain)
    node = Node('test_harness', context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    yield node
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown(context=ctx)


@pytest.fixture
def spawn(ros_domain: int):
    """Start Python processes (a launch_testing stand-in); stop them all at teardown."""
    procs: list[subprocess.Popen] = []

    def _spawn(*argv: object, **kwargs) -> subprocess.Popen:
        kwargs.setdefault('stdout', subprocess.PIPE)
        kwargs.setdefault('stderr', subprocess.STDOUT)
        kwargs.setdefault('text', True)
        proc = subprocess.Popen([sys.executable, *map(str, argv)], env=os.environ.copy(),
                                **kwargs)
        procs.append(proc)
        return proc

    yield _spawn
    for proc in procs:
        stop_process(proc)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread for the test, then restore the previous count.

    Tiny models run fastest on one thread, and CI's two cores are oversubscribed when
    multi-threaded torch shares them with DDS and child processes.
    """
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope='module')
def tiny():
    """Return the tiny relative test model with deterministic weights (one per test module)."""
    from depth_anything_ros.model import ModelConfig, untrained_model
    return untrained_model(ModelConfig.tiny(), warn=False)


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """Stop a process the way a launch system does: SIGINT, wait, then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def _register_hypothesis_profiles() -> None:
    """``ci`` (default): fixed seed, the fuzz suite in about a minute; ``long``: many more.

    Select with ``HYPOTHESIS_PROFILE=long`` (``make fuzz-long``). Hypothesis' own per-example
    deadline is off: the fuzz tests time each frame themselves against a generous hang limit,
    and a shared CI host makes the first example (lazy imports, caches) arbitrarily slow.
    """
    try:
        from hypothesis import settings
    except ImportError:   # hypothesis is a dev requirement; only the fuzz tests need it
        return
    settings.register_profile('ci', derandomize=True, deadline=None, max_examples=80,
                              print_blob=True)
    settings.register_profile('long', deadline=None, max_examples=2000, print_blob=True)
    settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))


_register_hypothesis_profiles()
