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

"""launch/depth.launch.py under stand-in launch modules, and the pure launch_args logic."""

from __future__ import annotations

import importlib.util
from pathlib import Path
import py_compile
import sys
import types

import pytest

from depth_anything_ros.ros.launch_args import LAUNCH_ARGUMENTS, node_parameters, remappings

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / 'launch' / 'depth.launch.py'


@pytest.fixture
def stubs(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    import launch_stubs
    for name, module in launch_stubs.modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    return launch_stubs


def load(stubs: types.ModuleType, **overrides: str):
    """Run the launch file as ``ros2 launch ... name:=value`` would; return its entities."""
    spec = importlib.util.spec_from_file_location('depth_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ld = module.generate_launch_description()
    # the source tree has the installed share/ layout (config/, rviz/, launch/)
    ctx = stubs.Context({'depth_anything_ros': REPO}, {})
    declared = [e for e in ld.entities if isinstance(e, stubs.DeclareLaunchArgument)]
    for arg in declared:
        value = overrides.get(arg.name, arg.kwargs['default_value'])
        ctx.launch_configurations[arg.name] = stubs.perform(value, ctx)
    nodes = [e for e in ld.entities if isinstance(e, stubs.Node)]
    for fn in (e for e in ld.entities if isinstance(e, stubs.OpaqueFunction)):
        nodes += fn.execute(ctx)
    return declared, nodes, ctx


def test_launch_file_compiles() -> None:
    py_compile.compile(str(LAUNCH_FILE), doraise=True)


def test_arguments_and_defaults(stubs) -> None:
    declared, nodes, ctx = load(stubs)
    assert [a.name for a in declared] == [a.name for a in LAUNCH_ARGUMENTS]
    assert all(a.kwargs['description'] for a in declared)
    for name in ('encoder', 'model', 'mode', 'scene', 'checkpoint', 'device', 'precision',
                 'backend', 'rectify', 'namespace', 'image', 'camera_info', 'params_file', 'rviz'):
        assert name in ctx.launch_configurations, name
    (depth,) = [n for n in nodes if n.kwargs['executable'] == 'depth_node']
    assert depth.kwargs['package'] == 'depth_anything_ros'
    assert depth.kwargs['name'] == 'depth_node' and depth.kwargs['namespace'] == ''
    params_file, overrides = depth.kwargs['parameters']
    assert Path(params_file) == REPO / 'config' / 'depth.yaml' and Path(params_file).is_file()
    assert overrides == {}   # nothing given: the params file decides
    assert depth.kwargs['remappings'] == [('image', 'image'),
                                          ('image/compressed', 'image/compressed'),
                                          ('camera_info', 'camera_info')]


def test_every_argument_reaches_the_node(stubs, tmp_path: Path) -> None:
    preset = REPO / 'config' / 'depth_outdoor.yaml'
    _, nodes, _ = load(stubs, encoder='vitl', mode='relative', scene='outdoor',
                       checkpoint='/weights/mine.pth', device='cuda:1', precision='fp16',
                       backend='onnxruntime', rectify='True', namespace='front',
                       image='/cam/color/image_raw',
                       camera_info='/cam/color/camera_info', params_file=str(preset))
    (depth,) = [n for n in nodes if n.kwargs['executable'] == 'depth_node']
    assert depth.kwargs['namespace'] == 'front'
    params_file, overrides = depth.kwargs['parameters']
    assert params_file == str(preset)
    assert overrides == {'encoder': 'vitl', 'mode': 'relative', 'scene': 'outdoor',
                         'checkpoint': '/weights/mine.pth', 'device': 'cuda:1',
                         'precision': 'fp16', 'backend': 'onnxruntime', 'rectify': True}
    assert dict(depth.kwargs['remappings']) == {
        'image': '/cam/color/image_raw', 'image/compressed': '/cam/color/image_raw/compressed',
        'camera_info': '/cam/color/camera_info'}


def test_rviz_only_when_asked(stubs, monkeypatch: pytest.MonkeyPatch) -> None:
    from depth_anything_ros.ros import launch_args
    monkeypatch.setattr(launch_args, 'package_installed', lambda name: name == 'rviz2')
    for flag, expect in (('false', 0), ('True', 1)):
        _, nodes, ctx = load(stubs, rviz=flag, namespace='front')
        rviz = [n for n in nodes if n.kwargs['executable'] == 'rviz2']
        assert len(rviz) == expect
    args = [stubs.perform(a, ctx) for a in rviz[0].kwargs['arguments']]
    assert args[0] == '-d' and Path(args[1]) == REPO / 'rviz' / 'depth.rviz'
    assert Path(args[1]).is_file() and args[2:] == ['-f', 'camera_optical_frame']
    assert stubs.perform(rviz[0].kwargs['namespace'], ctx) == 'front'
    with pytest.raises(ValueError, match='rviz:=yes is not valid'):
        load(stubs, rviz='yes')


def test_rviz_missing_is_one_line_and_the_depth_node_still_starts(
        stubs, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv('ROS_DISTRO', 'humble')
    # this environment has no rviz2: the real ament index lookup says so
    _, nodes, _ = load(stubs, rviz='true')
    assert [n.kwargs['executable'] for n in nodes] == ['depth_node']
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'rviz2 is not installed' in err[0]
    assert 'sudo apt install ros-humble-rviz2' in err[0]


def test_bad_argument_value_fails_with_the_choices(stubs) -> None:
    with pytest.raises(ValueError, match='encoder:=vitx .* vits, vitb, vitl, vitg'):
        load(stubs, encoder='vitx')
    with pytest.raises(ValueError, match='model:=vitx .* vits, vitb, vitl, vitg'):
        load(stubs, model='vitx')   # the deprecated name is the one the message names


def test_deprecated_model_argument_sets_the_encoder_with_a_note(
        stubs, capsys: pytest.CaptureFixture) -> None:
    _, nodes, _ = load(stubs, model='vitb')
    (depth,) = [n for n in nodes if n.kwargs['executable'] == 'depth_node']
    assert depth.kwargs['parameters'][1] == {'encoder': 'vitb'}
    assert capsys.readouterr().err.strip() == (
        'depth.launch.py: launch argument model:= is deprecated; use encoder:=')
    _, nodes, _ = load(stubs, encoder='vitb')
    assert capsys.readouterr().err == ''
    _, nodes, _ = load(stubs, model='vitb', encoder='vitb')   # the same value twice: fine
    with pytest.raises(ValueError, match='model:=vitb and encoder:=vitl disagree'):
        load(stubs, model='vitb', encoder='vitl')


def test_lifecycle_argument_picks_the_managed_node(stubs) -> None:
    _, nodes, _ = load(stubs, lifecycle='true', namespace='front')
    (depth,) = [n for n in nodes if n.kwargs['package'] == 'depth_anything_ros']
    assert depth.kwargs['executable'] == 'depth_lifecycle_node'
    assert depth.kwargs['name'] == 'depth_node' and depth.kwargs['namespace'] == 'front'
    _, nodes, _ = load(stubs, lifecycle='false')
    assert [n.kwargs['executable'] for n in nodes if n.kwargs['package'] ==
            'depth_anything_ros'] == ['depth_node']
    with pytest.raises(ValueError, match='lifecycle:=yes is not valid'):
        load(stubs, lifecycle='yes')


def test_cameras_argument_as_a_list_or_a_comma_string(stubs) -> None:
    for value in ('[front,rear]', 'front, rear', "['front', 'rear']"):
        _, nodes, _ = load(stubs, cameras=value)
        (depth,) = [n for n in nodes if n.kwargs['executable'] == 'depth_node']
        assert depth.kwargs['parameters'][1] == {'cameras': ['front', 'rear']}
    with pytest.raises(ValueError, match="camera name '2nd' must start with a letter"):
        load(stubs, cameras='[front,2nd]')
    with pytest.raises(ValueError, match='image and camera_info wire a single camera'):
        load(stubs, cameras='[front,rear]', image='/cam/image_raw')


def test_pure_helpers() -> None:
    assert node_parameters({'encoder': ' vitb ', 'scene': ''}) == {'encoder': 'vitb'}
    assert node_parameters({'model': ' vitb ', 'encoder': ''}) == {'encoder': 'vitb'}
    assert node_parameters({'device': 'cuda:0'}) == {'device': 'cuda:0'}
    assert node_parameters({'rectify': 'false'}) == {'rectify': False}
    with pytest.raises(ValueError, match='rectify:=yes is not valid; use true or false'):
        node_parameters({'rectify': 'yes'})
    assert remappings({'image': '/a/b/', 'camera_info': ''})[1] == ('image/compressed',
                                                                      '/a/b/compressed')


@pytest.mark.parametrize('doc', ['README.md', 'docs/node.md'])
def test_docs_launch_argument_table_is_current(doc: str) -> None:
    from depth_anything_ros.ros.launch_args import markdown_table
    text = (REPO / doc).read_text()
    begin = text.index('<!-- launch-arguments:begin')
    block = text[text.index('\n', begin) + 1:text.index('<!-- launch-arguments:end -->')]
    assert block.strip() == markdown_table(), (
        f'{doc} is out of date: paste depth_anything_ros.ros.launch_args.markdown_table() '
        'between the launch-arguments markers')


def test_rviz_config_shows_colourised_depth_and_cloud() -> None:
    import yaml
    config = yaml.safe_load((REPO / 'rviz' / 'depth.rviz').read_text())
    displays = {d['Class']: d for d in config['Visualization Manager']['Displays']}
    assert displays['rviz_default_plugins/PointCloud2']['Topic']['Value'] == 'points'
    assert displays['rviz_default_plugins/Image']['Topic']['Value'] == 'depth/colored'
    assert displays['rviz_default_plugins/PointCloud2']['Color Transformer'] == 'RGB8'


def test_argument_values_come_from_the_parameter_schema() -> None:
    """Each argument that sets a parameter lists exactly the values the node accepts."""
    from depth_anything_ros.params import spec
    from depth_anything_ros.ros.launch_args import choices_of
    from depth_anything_ros.vocabulary import DEVICE_NAMES
    by_name = {a.name: a for a in LAUNCH_ARGUMENTS}
    for name in ('encoder', 'mode', 'scene', 'precision', 'backend', 'exact', 'rectify'):
        expected = spec(name).choices or ('true', 'false')
        assert choices_of(name) == expected
        assert by_name[name].description.startswith(' | '.join(expected) + ';'), name
    assert by_name['device'].description.startswith(' | '.join(DEVICE_NAMES))
    assert 'mps' in DEVICE_NAMES and 'auto' in choices_of('encoder')
    for device in ('mps', 'cuda:3', 'auto'):
        assert node_parameters({'device': device}) == {'device': device}
    with pytest.raises(ValueError, match='device:=gpu is not valid; use one of auto, cpu, '
                                         'cuda, cuda:N, mps'):
        node_parameters({'device': 'gpu'})
