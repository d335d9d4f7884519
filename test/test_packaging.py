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

"""The package installs the way a robot's ``ros2 launch`` / ``ros2 run`` expect.

A colcon build must lay out ``share/`` (index marker, package.xml, launch, config) and
``lib/depth_anything_ros/`` (the executables ``ros2 run`` looks for); an installed copy must
resolve its share directory through ament_index.
"""

from __future__ import annotations

import os
from pathlib import Path
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = 'depth_anything_ros'
VENV_BIN = Path(sys.executable).parent


def _env(prefix: Path) -> dict[str, str]:
    env = os.environ.copy()
    env['AMENT_PREFIX_PATH'] = str(prefix)
    return env


def _share_dir_seen_by_ament(prefix: Path, extra_path: Path | None = None) -> Path:
    """Ask ament_index (in a fresh interpreter) where the package's share directory is."""
    code = ('from ament_index_python.packages import get_package_share_directory as g; '
            f'print(g({PKG!r}))')
    env = _env(prefix)
    if extra_path is not None:
        env['PYTHONPATH'] = str(extra_path)
    out = subprocess.run([sys.executable, '-c', code], env=env, check=True,
                         capture_output=True, text=True).stdout
    return Path(out.strip())


def _assert_share_layout(share: Path) -> None:
    assert (share / 'package.xml').is_file()
    assert (share / 'launch' / 'depth.launch.py').is_file()
    assert (share / 'config' / 'depth.yaml').is_file()
    assert (share / 'config' / 'fastdds_localhost_shm.xml').is_file()
    assert (share / 'config' / 'training' / 'debug.yaml').is_file()
    assert (share / 'rviz' / 'depth.rviz').is_file()


def test_package_xml_is_format3() -> None:
    root = ElementTree.parse(REPO / 'package.xml').getroot()
    assert root.get('format') == '3'
    assert root.findtext('name') == PKG
    assert root.findtext('license') == 'Apache-2.0'
    setup_version = re.search(r"version='([^']+)'", (REPO / 'setup.py').read_text()).group(1)
    assert root.findtext('version') == setup_version
    assert root.find('export/build_type').text == 'ament_python'
    assert (REPO / 'resource' / PKG).is_file()


# Import name -> rosdep key, for what the package imports from outside the standard library.
ROSDEP_KEYS = {
    'rclpy': 'rclpy', 'rcl_interfaces': 'rcl_interfaces', 'sensor_msgs': 'sensor_msgs',
    'std_msgs': 'std_msgs', 'diagnostic_msgs': 'diagnostic_msgs',
    'builtin_interfaces': 'builtin_interfaces', 'lifecycle_msgs': 'lifecycle_msgs',
    'ament_index_python': 'ament_index_python', 'launch': 'launch', 'launch_ros': 'launch_ros',
    # the Python module tf2_ros is in the package tf2_ros_py (tf2_ros is the C++ library)
    'domain_coordinator': 'domain_coordinator', 'tf2_ros': 'tf2_ros_py', 'numpy': 'python3-numpy',
    'cv2': 'python3-opencv', 'yaml': 'python3-yaml', 'tqdm': 'python3-tqdm',
    'h5py': 'python3-h5py', 'psutil': 'python3-psutil', 'matplotlib': 'python3-matplotlib',
    'rosbags': 'python3-rosbags-pip', 'huggingface_hub': 'python3-huggingface-hub-pip',
}
# No rosdep key gives a usable build: tools/install_robot.sh installs them, package.xml says so.
PIP_ONLY = ('torch', 'safetensors')


def _runtime_imports() -> dict[str, set[str]]:
    """Return ``{top-level module: {files}}`` of every import in the package and launch files.

    Imports inside functions count: a command's lazy import is still a run-time dependency.
    """
    import ast
    found: dict[str, set[str]] = {}
    files = [*(REPO / PKG).rglob('*.py'), *(REPO / 'launch').glob('*.launch.py')]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0
                     and node.module else [])
            for name in names:
                top = name.split('.')[0]
                if top not in sys.stdlib_module_names and top not in (PKG, '__future__'):
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def test_every_runtime_import_is_declared_in_package_xml() -> None:
    text = (REPO / 'package.xml').read_text()
    exec_deps = {e.text for e in ElementTree.parse(REPO / 'package.xml').getroot()
                 .findall('exec_depend')}
    imports = _runtime_imports()
    unknown = {m: sorted(f) for m, f in imports.items() if m not in ROSDEP_KEYS
               and m not in PIP_ONLY}
    assert not unknown, f'imports with no known dependency key (add to ROSDEP_KEYS): {unknown}'
    missing = {ROSDEP_KEYS[m]: sorted(f) for m, f in imports.items()
               if m in ROSDEP_KEYS and ROSDEP_KEYS[m] not in exec_deps}
    assert not missing, f'package.xml lacks <exec_depend> for {missing}'
    script = (REPO / 'tools' / 'install_robot.sh').read_text()
    for module in PIP_ONLY:
        assert module in imports, f'{module} is no longer imported: drop it from PIP_ONLY'
        assert module in text, f'package.xml does not mention pip-installed {module}'
        assert f'$(pin {module})' in script, f'tools/install_robot.sh does not install {module}'
    # and nothing declared that the package never imports (cv_bridge and friends)
    imported_keys = {ROSDEP_KEYS[m] for m in imports if m in ROSDEP_KEYS}
    assert exec_deps <= imported_keys, f'declared but never imported: {exec_deps - imported_keys}'


# The part of the rosdep database (github.com/ros/rosdistro) this package relies on, with the
# date it was read: written by tools/rosdep_keys.py, so the check needs no network.
ROSDEP_SUBSET = REPO / 'test' / 'data' / 'rosdep_keys.json'


def _resolve(rule: object, codename: str) -> object:
    """Return what a rosdep rule installs on Ubuntu ``codename`` (None: nothing, unavailable)."""
    if isinstance(rule, dict) and ('pip' in rule or 'apt' in rule):
        return rule
    if isinstance(rule, dict):
        return _resolve(rule.get(codename, rule.get('*')), codename)
    return rule or None


def _declared_keys() -> list[str]:
    root = ElementTree.parse(REPO / 'package.xml').getroot()
    return [e.text.strip() for e in root if e.tag.endswith('depend')]


def test_every_package_xml_key_is_in_the_rosdep_database_for_jammy_and_noble() -> None:
    import datetime
    import json
    stored = json.loads(ROSDEP_SUBSET.read_text())
    assert datetime.date.fromisoformat(stored['read']) and 'ros/rosdistro' in stored['source']
    assert stored['ubuntu'] == {'humble': 'jammy', 'jazzy': 'noble', 'kilted': 'noble'}
    missing = []
    for key in [*_declared_keys(), *ROSDEP_KEYS.values()]:
        for distro, codename in stored['ubuntu'].items():
            if key in stored['ros_packages'][distro]:
                continue     # a ROS package released for that distribution
            rules = stored['system_keys'].get(key, {})
            rule = rules.get('ubuntu', rules.get('*'))
            if _resolve(rule, codename) is None:
                missing.append(f'{key} ({distro}, Ubuntu {codename})')
    assert not missing, (f'not in the rosdep database read on {stored["read"]}: {missing}; '
                         'fix the key, or refresh the subset with tools/rosdep_keys.py')


def test_rosdep_subset_check_refuses_what_the_database_lacks() -> None:
    import json
    stored = json.loads(ROSDEP_SUBSET.read_text())
    # the mistaken key of before: tf2_ros is a ROS package, but not the one with the module
    assert 'tf2_ros' in stored['ros_packages']['humble'] and 'tf2_ros' not in _declared_keys()
    assert 'python3-safetensors-pip' not in stored['system_keys']
    assert _resolve({'ubuntu': {'*': ['x'], 'jammy': None}}, 'jammy') is None
    assert _resolve({'*': {'pip': ['huggingface_hub']}}['*'], 'noble') == {
        'pip': ['huggingface_hub']}
    assert _resolve(stored['system_keys']['python3-rosbags-pip']['ubuntu'], 'jammy') == {
        'pip': {'packages': ['rosbags']}}


@pytest.mark.skipif(not (VENV_BIN / 'colcon').exists() and shutil.which('colcon') is None,
                    reason='colcon is not installed (pip install colcon-common-extensions)')
@pytest.mark.slow
def test_colcon_build_lays_out_share_and_lib(tmp_path: Path) -> None:
    colcon = str(VENV_BIN / 'colcon') if (VENV_BIN / 'colcon').exists() else 'colcon'
    result = subprocess.run(
        [colcon, 'build', '--base-paths', str(REPO), '--build-base', str(tmp_path / 'build'),
         '--install-base', str(tmp_path / 'install'), '--event-handlers', 'console_direct-'],
        cwd=tmp_path, capture_output=True, text=True, env=os.environ.copy())
    assert result.returncode == 0, result.stdout + result.stderr
    prefix = tmp_path / 'install' / PKG
    marker = prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' / PKG
    assert marker.is_file()
    _assert_share_layout(prefix / 'share' / PKG)
    # `ros2 run depth_anything_ros depth_node` executes <prefix>/lib/<package>/<executable>.
    for exe in ('depth_node', 'depth_lifecycle_node', 'depth-anything-ros'):
        path = prefix / 'lib' / PKG / exe
        assert path.is_file() and os.access(path, os.X_OK), f'{path} is missing or not executable'
    site = next((prefix / 'lib').glob('python3*/site-packages'))
    assert (site / PKG / 'ros' / 'node.py').is_file()
    assert _share_dir_seen_by_ament(prefix, site) == prefix / 'share' / PKG
    # The installed console script runs from the installed copy.
    env = _env(prefix)
    env['PYTHONPATH'] = str(site)
    help_out = subprocess.run([sys.executable, str(prefix / 'lib' / PKG / 'depth-anything-ros'),
                               '--help'], env=env, capture_output=True, text=True, check=True)
    assert 'train' in help_out.stdout and 'pseudo-label' in help_out.stdout


@pytest.mark.slow
def test_pip_installed_copy_resolves_share_through_ament_index(tmp_path: Path) -> None:
    prefix = tmp_path / 'prefix'
    result = subprocess.run(
        # --ignore-installed: without it pip removes the venv's own (editable) install first.
        [sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-build-isolation',
         '--ignore-installed', '--prefix', str(prefix), str(REPO)],
        capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    share = _share_dir_seen_by_ament(prefix)
    assert share == prefix / 'share' / PKG
    _assert_share_layout(share)
    import depth_anything_ros
    assert Path(depth_anything_ros.__file__).parent.parent == REPO
    still = subprocess.run([sys.executable, '-m', 'pip', 'show', '--quiet', PKG],
                           capture_output=True, text=True)
    assert still.returncode == 0, 'installing a copy elsewhere removed the development install'


def _load_overlay_tool():
    """Import tools/ament_overlay.py (a script, not part of the package)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('ament_overlay',
                                                  REPO / 'tools' / 'ament_overlay.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _launch_files_found_like_ros2launch(share: Path, name: str) -> list[Path]:
    """Walk the share folder as ``ros2 launch PACKAGE FILE`` does: symlinked folders unfollowed."""
    return [Path(root) / name for root, _, files in os.walk(share) if name in files]


def test_overlay_lays_out_the_prefix_like_colcon_symlink_install(tmp_path: Path) -> None:
    overlay = _load_overlay_tool()
    prefix = tmp_path / 'prefix'
    (prefix / 'share' / PKG).mkdir(parents=True)
    # the older layout linked whole folders; a re-run must replace those with real folders
    (prefix / 'share' / PKG / 'launch').symlink_to(REPO / 'launch')
    overlay.make_overlay(REPO, prefix)
    overlay.make_overlay(REPO, prefix)   # idempotent
    share = prefix / 'share' / PKG
    assert _share_dir_seen_by_ament(prefix, REPO) == share
    _assert_share_layout(share)
    for folder in (share, share / 'launch', share / 'config', share / 'config' / 'training',
                   share / 'rviz'):
        assert folder.is_dir() and not folder.is_symlink(), f'{folder} must be a real folder'
    links = [p for p in share.rglob('*') if not p.is_dir()]
    for link in links:
        assert link.is_symlink(), f'{link} is a copy, not a link into the checkout'
        assert link.resolve().is_relative_to(REPO), f'{link} points outside the checkout'
    # exactly the files a pip install lays out, taken from the same setup.py data_files
    data_files, scripts = overlay.setup_arguments(REPO)
    wanted = {Path(dest) / Path(f).name for dest, files in data_files for f in files}
    assert {p.relative_to(prefix) for p in links} | {
        Path('share/ament_index/resource_index/packages') / PKG} == wanted
    assert _launch_files_found_like_ros2launch(share, 'depth.launch.py') == [
        share / 'launch' / 'depth.launch.py']
    # launch_ros and `ros2 run` execute <prefix>/lib/<package>/<executable>
    names = {entry.split('=')[0].strip() for entry in scripts}
    assert {'depth_node', 'depth_lifecycle_node'} <= names
    for name in names:
        exe = prefix / 'lib' / PKG / name
        assert exe.is_file() and os.access(exe, os.X_OK), f'{exe} is missing or not executable'
        assert exe.read_text().startswith(f'#!{sys.executable}\n')
    env = _env(prefix)
    env['PYTHONPATH'] = str(REPO)
    help_out = subprocess.run([str(prefix / 'lib' / PKG / 'depth-anything-ros'), '--help'],
                              env=env, capture_output=True, text=True, check=True)
    assert 'infer' in help_out.stdout


@pytest.mark.slow
@pytest.mark.ros
def test_overlay_depth_node_executable_starts_the_node(tmp_path: Path, ros_domain: int) -> None:
    overlay = _load_overlay_tool()
    overlay.make_overlay(REPO, tmp_path)
    env = _env(tmp_path)
    env['PYTHONPATH'] = str(REPO)
    missing = tmp_path / 'missing.pth'
    result = subprocess.run(
        [str(tmp_path / 'lib' / PKG / 'depth_node'), '--ros-args', '-p',
         f'checkpoint:={missing}', '-p', 'encoder:=vits'],
        env=env, capture_output=True, text=True, timeout=120)
    # the node ran: it read its parameters and refused the missing checkpoint by name
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'start-up failed' in result.stderr and str(missing) in result.stderr


def test_every_cli_command_module_exposes_its_entry_points() -> None:
    import importlib

    from depth_anything_ros.commands import cli
    for name, (module_name, _) in cli.COMMANDS.items():
        module = importlib.import_module(module_name)
        assert callable(getattr(module, 'main', None)), f'{module_name} lacks main()'
        if name != 'run':
            assert callable(getattr(module, 'add_arguments', None)), (
                f'{module_name} lacks add_arguments(parser)')


def test_every_cli_command_prints_its_help(capsys: pytest.CaptureFixture) -> None:
    from depth_anything_ros.commands import cli
    for name in cli.COMMANDS:
        if name == 'run':   # the node's own ROS argument parsing
            continue
        with pytest.raises(SystemExit) as exit_info:
            cli.main([name, '--help'])
        assert exit_info.value.code == 0, name
        assert f'depth-anything-ros {name}' in capsys.readouterr().out


def test_cli_help_lists_commands_and_rejects_unknown(capsys: pytest.CaptureFixture) -> None:
    from depth_anything_ros.commands import cli
    assert cli.main(['--help']) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out
    with pytest.raises(SystemExit):
        cli.main(['no-such-command'])
    assert 'unknown command' in capsys.readouterr().err
