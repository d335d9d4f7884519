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

"""Parameter schema, validation rules and the shipped YAML files."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from depth_anything_ros.params import (
    default_values,
    DepthConfig,
    describe,
    load_params_file,
    markdown_table,
    SCHEMA,
    spec,
    validate,
)

REPO = Path(__file__).resolve().parents[1]
YAML_FILES = ['depth.yaml', 'depth_indoor.yaml', 'depth_outdoor.yaml']


def test_schema_is_consistent_with_the_config_type() -> None:
    names = [s.name for s in SCHEMA]
    assert len(names) == len(set(names))
    assert names == [f.name for f in fields(DepthConfig)]
    for s in SCHEMA:
        assert s.description, s.name
        assert s.type in (bool, int, float, str), s.name
        if s.choices:
            assert s.default in s.choices, s.name
        if s.range:
            assert s.range[0] <= s.default <= s.range[1] or (s.zero and s.default == 0), s.name
    assert validate({}) == validate(default_values())


@pytest.mark.parametrize(('values', 'checkpoint', 'max_depth', 'metric'), [
    ({}, 'metric_indoor_vits', 20.0, True),
    ({'scene': 'outdoor', 'encoder': 'vitl'}, 'metric_outdoor_vitl', 80.0, True),
    ({'mode': 'relative', 'encoder': 'vitb'}, 'vitb', 20.0, False),
    ({'mode': 'relative', 'disparity_scale': 0.5}, 'vits', 20.0, True),
    ({'checkpoint': '/w/my.pth', 'max_depth': 12}, '/w/my.pth', 12.0, True),
])
def test_derived_values(values: dict, checkpoint: str, max_depth: float, metric: bool) -> None:
    cfg = validate(values)
    assert cfg.resolved_checkpoint == checkpoint
    assert cfg.resolved_max_depth == max_depth
    assert cfg.metric_output is metric
    assert isinstance(cfg.max_depth, float)  # an int from YAML becomes a float


def test_model_scale_and_colour_range() -> None:
    assert validate({'scene': 'outdoor'}).resolved_model_max_depth == 80.0
    assert validate({'model_max_depth': 25.0}).resolved_model_max_depth == 25.0
    assert validate({}).color_range is None
    assert validate({'color_min': 0.5, 'color_max': 4.0}).color_range == (0.5, 4.0)


@pytest.mark.parametrize(('values', 'message'), [
    ({'encoder': 'vitx'}, 'encoder must be one of vits, vitb, vitl, vitg'),
    ({'encoder': 'auto'}, 'encoder auto takes the architecture from the checkpoint'),
    ({'input_size': 500}, 'input_size must be 70 \\+ a multiple of 14 \\(e.g. 490\\)'),
    ({'input_size': 14}, 'input_size must be in \\[70, 2044\\]'),
    ({'input_size': -14}, 'input_size must be in \\[70, 2044\\]'),
    ({'input_size': 518.0}, 'input_size must be int'),
    ({'publish_points': 1}, 'publish_points must be bool'),
    ({'max_depth': float('nan')}, 'max_depth must be finite'),
    ({'min_depth': 30.0}, 'min_depth \\(30\\) must be below max_depth \\(20\\)'),
    ({'mode': 'metric', 'disparity_scale': 1.0}, 'calibrate relative mode only'),
    ({'mode': 'relative', 'disparity_shift': 1.0}, 'needs disparity_scale'),
    ({'fx': 500.0, 'fy': 500.0}, 'calib_width, calib_height'),
    ({'device': 'gpu'}, 'device must be auto'),
    ({'color_min': 5.0, 'color_max': 1.0}, 'color_min must be below color_max'),
    ({'cloud_min_range': 5.0, 'cloud_max_range': 1.0}, 'cloud_min_range must be below'),
    ({'inference_rate': 10}, "unknown parameter 'inference_rate'"),
])
def test_invalid_values_name_the_problem(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate(values)


def test_all_errors_are_reported_at_once() -> None:
    with pytest.raises(ValueError) as info:
        validate({'encoder': 'x', 'precision': 'fp8', 'cloud_stride': 0})
    text = str(info.value)
    assert 'encoder' in text and 'precision' in text and 'cloud_stride' in text


def test_intrinsics_parameters_complete_set() -> None:
    cfg = validate({'fx': 500.0, 'fy': 500.0, 'cx': 320.0, 'cy': 240.0, 'calib_width': 640,
                    'calib_height': 480})
    assert cfg.has_intrinsics and not validate({}).has_intrinsics


def test_model_parameters_are_read_only_and_output_ones_are_live() -> None:
    for name in ('encoder', 'mode', 'scene', 'checkpoint', 'device', 'precision', 'backend',
                 'allow_untrained_weights', 'image_transport'):
        assert spec(name).read_only, name
    for name in ('input_size', 'min_depth', 'max_depth', 'colormap', 'cloud_stride',
                 'output_stride', 'depth_encoding', 'disparity_scale'):
        assert not spec(name).read_only, name
    with pytest.raises(KeyError, match='unknown parameter'):
        spec('nope')


def test_camera_names_and_per_camera_parameters() -> None:
    from depth_anything_ros.params import camera_names, camera_parameter, PER_CAMERA
    assert camera_names(None) == () and camera_names(['front', 'rear_2']) == ('front', 'rear_2')
    with pytest.raises(ValueError, match="'front' is listed twice"):
        camera_names(['front', 'front'])
    with pytest.raises(ValueError, match="'a/b' must start with a letter"):
        camera_names(['a/b'])
    # a camera's calibration, pose and temporal state are its own; the model and its outputs
    # are shared
    assert set(PER_CAMERA) == {'rectify', 'fx', 'fy', 'cx', 'cy', 'calib_width',
                               'calib_height', 'anchor_transform', 'camera_height',
                               'camera_pitch', 'camera_roll', 'temporal', 'odom_frame',
                               'extrinsics'}
    assert camera_parameter('front', 'fx') == 'front.fx'


@pytest.mark.parametrize('name', YAML_FILES)
def test_shipped_yaml_files_are_valid_and_typed_for_ros(name: str) -> None:
    path = REPO / 'config' / name
    raw = yaml.safe_load(path.read_text())
    assert list(raw) == ['/**'], 'keyed with /** so that any node name/namespace gets them'
    values = load_params_file(path)
    assert values, name
    validate(values)
    for key, value in values.items():
        # ROS refuses an int for a double parameter: the file must carry the exact type
        assert type(value) is spec(key).type, f'{name}: {key}: {value!r}'


def test_default_yaml_lists_every_parameter_with_its_default() -> None:
    values = load_params_file(REPO / 'config' / 'depth.yaml')
    assert values == default_values()


def test_params_file_merging(tmp_path: Path) -> None:
    f = tmp_path / 'p.yaml'
    f.write_text('/**:\n  ros__parameters:\n    input_size: 196\n    colormap: jet\n'
                 'depth_node:\n  ros__parameters:\n    input_size: 154\n'
                 'other_node:\n  ros__parameters:\n    colormap: gray\n')
    assert load_params_file(f) == {'input_size': 154, 'colormap': 'jet'}


def test_describe_and_markdown_cover_every_parameter() -> None:
    text = describe(validate({}))
    table = markdown_table()
    assert "checkpoint 'metric_indoor_vits'" in text and '[0.1, 20] m' in text
    for s in SCHEMA:
        assert f'{s.name} = ' in text
        assert f'| `{s.name}` |' in table


@pytest.mark.parametrize('doc', ['README.md', 'docs/node.md'])
def test_docs_parameter_table_is_current(doc: str) -> None:
    text = (REPO / doc).read_text()
    begin = text.index('<!-- parameters:begin')
    block = text[text.index('\n', begin) + 1:text.index('<!-- parameters:end -->')]
    assert block.strip() == markdown_table(), (
        f'{doc} is out of date: paste depth_anything_ros.params.markdown_table() '
        'between the parameters markers')


@pytest.mark.slow
def test_encoder_auto_runs_a_custom_student_export(tmp_path: Path) -> None:
    import numpy as np

    from depth_anything_ros.model import build_model, export_model, ModelConfig
    from depth_anything_ros.ros.node import build_estimator
    path = export_model(build_model(ModelConfig.tiny()), tmp_path / 'student.pth')
    est = build_estimator(validate({'checkpoint': str(path), 'mode': 'relative',
                                    'encoder': 'auto', 'device': 'cpu', 'input_size': 70}))
    assert est.config == ModelConfig.tiny() and not est.is_metric
    assert est.infer(np.zeros((40, 60, 3), np.uint8)).shape == (40, 60)
    with pytest.raises(ValueError, match='holds a .* model but encoder is'):
        build_estimator(validate({'checkpoint': str(path), 'mode': 'relative',
                                  'encoder': 'vits', 'device': 'cpu'}))


@pytest.mark.slow
def test_metric_checkpoint_keeps_its_own_output_scale(tmp_path: Path) -> None:
    from depth_anything_ros.model import build_model, export_model, ModelConfig
    from depth_anything_ros.ros.node import build_estimator
    path = export_model(build_model(ModelConfig.tiny(), 'metric', 10.0), tmp_path / 'm.pth')
    base = {'checkpoint': str(path), 'mode': 'metric', 'encoder': 'auto', 'device': 'cpu',
            'input_size': 70}
    assert build_estimator(validate({**base, 'scene': 'outdoor'})).max_depth == 10.0
    assert build_estimator(validate({**base, 'model_max_depth': 15.0})).max_depth == 15.0
    untrained = validate({'checkpoint': 'untrained:vits', 'allow_untrained_weights': True,
                          'scene': 'outdoor', 'device': 'cpu', 'input_size': 70})
    assert build_estimator(untrained).max_depth == 80.0


def test_image_limits_default_to_the_parameters() -> None:
    from depth_anything_ros.core.images import ImageLimits
    from depth_anything_ros.core.pipeline import image_limits
    assert ImageLimits() == image_limits(validate({}))
    assert (ImageLimits().min_side, ImageLimits().max_aspect_ratio, ImageLimits().max_pixels) == (
        spec('min_image_side').default, spec('max_aspect_ratio').default,
        spec('max_image_pixels').default)


def test_temporal_parameter() -> None:
    from depth_anything_ros.params import validate
    assert validate({}).temporal == 'none' and validate({}).odom_frame == 'odom'
    assert validate({'temporal': 'fuse', 'odom_frame': 'map'}).temporal == 'fuse'
    with pytest.raises(ValueError, match='temporal must be one of none, fuse, vda'):
        validate({'temporal': 'smooth'})
    with pytest.raises(ValueError, match='temporal fuse needs odom_frame'):
        validate({'temporal': 'fuse', 'odom_frame': ' '})
