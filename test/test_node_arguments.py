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

"""The one builder of the depth node's ``--ros-args``, and the callers that start the node."""

from __future__ import annotations

import argparse
from pathlib import Path
import sys

import pytest

from depth_anything_ros.errors import InvalidInputError
from depth_anything_ros.offline.node_process import (
    camera_remaps,
    NAMESPACE,
    node_arguments,
    parameter_text,
    parse_assignments,
)
from depth_anything_ros.offline.soak import soak_arguments
from depth_anything_ros.params import default_values, validate

BENCHMARKS = Path(__file__).resolve().parents[1] / 'benchmarks'


def _parameters(ros_args: list[str]) -> dict[str, str]:
    """Return ``{name: text}`` of the ``-p name:=text`` items (remappings checked for form)."""
    out = {}
    for flag, item in zip(ros_args[::2], ros_args[1::2]):
        assert flag in ('-p', '-r') and ':=' in item, ros_args
        if flag == '-p':
            name, _, text = item.partition(':=')
            out[name] = text
    return out


def _typed(texts: dict[str, str]) -> dict[str, object]:
    """Read parameter texts back as rcl does for the schema's types (YAML scalars)."""
    import yaml
    defaults = default_values()
    return {k: (v if isinstance(defaults[k], str) else yaml.safe_load(v))
            for k, v in texts.items()}


def test_remappings_first_then_parameters_written_as_rcl_reads_them() -> None:
    args = node_arguments({'input_size': 266, 'exact': False, 'rectify': True,
                           'cameras': ['front', 'rear'], 'weights_dir': None,
                           'model_max_depth': 20.0},
                          {NAMESPACE: '/demo', 'image': '/demo/camera/image'})
    assert args == ['-r', '__ns:=/demo', '-r', 'image:=/demo/camera/image',
                    '-p', 'input_size:=266', '-p', 'exact:=false', '-p', 'rectify:=true',
                    '-p', 'cameras:=[front,rear]', '-p', 'model_max_depth:=20.0']
    assert node_arguments({}) == []
    assert parameter_text(('a', True)) == '[a,true]'


def test_camera_remaps_resolve_into_the_namespace() -> None:
    assert camera_remaps('/soak') == {'__ns': '/soak', 'image': '/soak/camera/image',
                                      'camera_info': '/soak/camera/camera_info'}
    assert camera_remaps('cam', 'in/image', 'in/info')['camera_info'] == '/cam/in/info'


def test_assignments_are_name_value_pairs() -> None:
    assert parse_assignments(['input_size=266', ' device = cpu', 'anchor_transform=0 0 0 0 0 0'
                              ]) == {'input_size': '266', 'device': ' cpu',
                                     'anchor_transform': '0 0 0 0 0 0'}
    for bad in ('input_size', '=266', ' =1'):
        with pytest.raises(InvalidInputError, match='is not NAME=VALUE'):
            parse_assignments([bad])


def test_soak_starts_an_untrained_node_only_with_the_flag_that_allows_it() -> None:
    args = soak_arguments('/soak', 'untrained:tiny', ['input_size=70', 'encoder=auto'])
    params = _parameters(args)
    assert params == {'diagnostics_period': '0.5', 'checkpoint': 'untrained:tiny',
                      'allow_untrained_weights': 'true', 'input_size': '70', 'encoder': 'auto'}
    validate(_typed(params))
    assert args[:2] == ['-r', '__ns:=/soak']
    assert 'allow_untrained_weights' not in _parameters(soak_arguments('/s', 'vits', []))
    assert 'checkpoint' not in _parameters(soak_arguments('/s', '', []))


def test_demo_parameters_are_valid_node_parameters(tmp_path: Path) -> None:
    from depth_anything_ros.commands import demo
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    args = parser.parse_args(['--out', str(tmp_path), '--cache-dir', str(tmp_path)])
    params = demo._node_parameters(args, 'untrained', True)
    ros_args = node_arguments(params, camera_remaps('/demo'))
    validate(_typed(_parameters(ros_args)))
    assert 'weights_dir' not in _parameters(ros_args)   # empty: the node's default


@pytest.mark.parametrize('module', ['bench_node', 'bench_multicam'])
def test_benchmark_nodes_get_valid_parameters(module: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    bench = __import__(module)
    args = argparse.Namespace(checkpoint='untrained', input_size=266, device='cpu', threads=1,
                              backend='torch', precision='fp32', cpu_threads=1)
    ros_args = (bench.bench_arguments(args, cache_dir='/tmp/x') if module == 'bench_node'
                else bench.node_args(args, 2))
    validate(_typed(_parameters(ros_args)))
    sys.modules.pop(module, None)


def test_depth_status_is_read_from_the_depth_node_status_only() -> None:
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    from depth_anything_ros.offline.node_process import depth_status
    other = DiagnosticStatus(name='camera_driver: depth sensor',
                             values=[KeyValue(key='x', value='1')])
    depth = DiagnosticStatus(name='depth_node: depth',
                             values=[KeyValue(key='inference_p50_ms', value='12.5')])
    assert depth_status(DiagnosticArray(status=[other, depth])) == {'inference_p50_ms': '12.5'}
    assert depth_status(DiagnosticArray(status=[other])) is None
