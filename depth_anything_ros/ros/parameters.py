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

"""The node's parameters, declared from ``params.SCHEMA`` and read back as validated settings.

Every parameter is declared once from its typed spec (description, range, choices, read-only);
``cameras`` names the cameras of a multi-camera node, each of which may override the
``params.PER_CAMERA`` parameters under its own name (``front.rectify``). The values are
validated by the pure ``params.validate``; this module only speaks rclpy.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType
from rclpy.parameter import Parameter

from depth_anything_ros.errors import InvalidInputError
from depth_anything_ros.params import (
    camera_names,
    camera_parameter,
    CAMERAS_DESCRIPTION,
    DepthConfig,
    PER_CAMERA,
    SCHEMA,
    spec,
    validate,
)

__all__ = ['build_estimator', 'camera_config', 'CameraSettings', 'changed_settings', 'declare',
           'descriptor', 'read']

_TYPES = {bool: ParameterType.PARAMETER_BOOL, int: ParameterType.PARAMETER_INTEGER,
          float: ParameterType.PARAMETER_DOUBLE, str: ParameterType.PARAMETER_STRING}

# (camera name, its own parameter values, its resulting settings)
CameraSettings = tuple[str, dict[str, Any], DepthConfig]


def descriptor(param: Any, name: str | None = None) -> ParameterDescriptor:
    """Return the rclpy descriptor of a ``params.ParamSpec`` (declared as ``name``)."""
    d = ParameterDescriptor(name=name or param.name, type=_TYPES[param.type],
                            read_only=param.read_only, description=param.description)
    if param.choices:
        d.additional_constraints = 'one of: ' + ', '.join(param.choices)
    if param.range is not None and param.type is float:
        d.floating_point_range = [FloatingPointRange(from_value=float(param.range[0]),
                                                     to_value=float(param.range[1]), step=0.0)]
    elif param.range is not None and param.type is int:
        # a range with 0 besides it: from 0 (rclpy takes one range; validate refuses 1 .. lo)
        d.integer_range = [IntegerRange(from_value=0 if param.zero else int(param.range[0]),
                                        to_value=int(param.range[1]), step=max(param.step, 0))]
    return d


def declare(node: Any) -> Any:
    """Declare the schema, ``cameras`` and each camera's own parameters; return ``cameras``."""
    for param in SCHEMA:
        node.declare_parameter(param.name, param.default, descriptor(param))
    # read-only: the declared value stays (a value never given reads as unset, not [])
    names = node.declare_parameter(
        'cameras', Parameter.Type.STRING_ARRAY,
        ParameterDescriptor(name='cameras', type=ParameterType.PARAMETER_STRING_ARRAY,
                            read_only=True, description=CAMERAS_DESCRIPTION)).value
    try:
        cameras = camera_names(names)
    except ValueError:
        cameras = ()   # refused with the reason by read()
    for camera in cameras:   # a camera's default is the node-level value
        for name in PER_CAMERA:
            full = camera_parameter(camera, name)
            node.declare_parameter(full, node.get_parameter(name).value,
                                   descriptor(spec(name), full))
    return names


def read(node: Any, camera_list: Any) -> tuple[DepthConfig, list[CameraSettings]]:
    """Return the node's settings and each camera's (one unnamed camera without ``cameras``).

    Raises:
        ValueError: naming every invalid value (and the camera it belongs to).

    """
    cfg = validate({s.name: node.get_parameter(s.name).value for s in SCHEMA})
    cameras = []
    for name in camera_names(camera_list) or ('',):
        overrides = {n: node.get_parameter(camera_parameter(name, n)).value
                     for n in PER_CAMERA} if name else {}
        cameras.append((name, overrides, camera_config(cfg, name, overrides)))
    return cfg, cameras


def camera_config(cfg: DepthConfig, camera: str, overrides: dict[str, Any]) -> DepthConfig:
    """Return ``camera``'s settings: the node's with the camera's own parameters on top."""
    if not overrides:
        return cfg
    try:
        return validate({**asdict(cfg), **overrides})
    except ValueError as exc:
        raise ValueError(f'camera {camera!r} (parameters {camera}.*): {exc}') from None


def changed_settings(cfg: DepthConfig, cameras: list[tuple[str, dict[str, Any]]],
                     params: list[Any], *, metric_publishers: bool
                     ) -> tuple[DepthConfig, list[CameraSettings]] | None:
    """Return the settings after a runtime change of ``params`` (None: none of ours changed).

    ``cameras``: each camera's name and current overrides; ``metric_publishers``: the node
    has depth/image and points publishers (it started with metric output).

    Raises:
        ValueError: a changed value is invalid, or asks for metric output from a node without
            its publishers (the message names the fix).

    """
    names = {s.name for s in SCHEMA}
    changes = {p.name: p.value for p in params if p.name in names}
    per_camera = {name: {n: p.value for p in params for n in PER_CAMERA
                         if p.name == camera_parameter(name, n)} for name, _ in cameras if name}
    if not (changes or any(per_camera.values())):
        return None
    new = validate({**asdict(cfg), **changes})
    if new.metric_output and not metric_publishers:
        raise ValueError('this node started without metric output, so it has no depth/image or '
                         'points publisher; restart it with disparity_scale > 0')
    settings = []
    for name, overrides in cameras:
        overrides = {**overrides, **per_camera.get(name, {})}
        settings.append((name, overrides, camera_config(new, name, overrides)))
    return new, settings


def build_estimator(cfg: DepthConfig) -> Any:
    """Return the DepthEstimator ``cfg`` names (see DepthEstimator.from_config).

    Raises:
        FileNotFoundError: the checkpoint is missing (the message says where to get it).
        ValueError: the checkpoint does not match ``encoder``/``mode``, or bad device/precision.

    """
    from depth_anything_ros.models.loading import offline_only
    why = offline_only(cfg.resolved_checkpoint, encoder=cfg.encoder)
    if why:   # before anything loads: a family that cannot keep up with a camera
        raise InvalidInputError(f'checkpoint {cfg.resolved_checkpoint!r} is not for the live '
                                f'node: {why}')
    if cfg.cpu_threads > 0:
        import torch
        torch.set_num_threads(cfg.cpu_threads)   # process-wide; the worker thread inherits it
    from depth_anything_ros.estimator import DepthEstimator
    return DepthEstimator.from_config(
        cfg.resolved_checkpoint, encoder=cfg.encoder, mode=cfg.mode,
        model_max_depth=cfg.model_max_depth, default_max_depth=cfg.resolved_model_max_depth,
        weights_dir=cfg.weights_dir, allow_untrained=cfg.allow_untrained_weights,
        device=cfg.device, precision=cfg.precision, backend=cfg.backend,
        input_size=cfg.input_size or None, exact=cfg.exact, cache_dir=cfg.cache_dir,
        engine_cache_size=cfg.engine_cache_size, trt_profile=cfg.trt_profile)
