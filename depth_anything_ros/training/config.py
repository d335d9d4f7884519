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

"""Training configuration: flat dataclasses, loadable from YAML, overridable by ``key=value``.

:class:`TrainingLoopConfig` holds the optimisation and bookkeeping fields every training
command shares; :class:`TrainConfig` (``train``) adds the model, data and loss fields.

The helpers (:func:`load_dataclass`, :func:`apply_overrides`, :func:`dataclass_to_dict`) work for
any flat dataclass, so other training commands can reuse them with their own config class.
Presets live in ``config/training/<name>.yaml`` (installed to the package's share directory).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import os
from pathlib import Path
import sys
import types
import typing
from typing import Any, TypeVar, Union

import yaml

from depth_anything_ros.errors import InvalidInputError, MissingInputError
from depth_anything_ros.models.registry import encoder_choices
from depth_anything_ros.vocabulary import AMP_CHOICES, device_name_error

T = TypeVar('T')

# every architecture the model families build (the one list: models.registry)
ENCODERS = encoder_choices(extra=True, trainable=True)
DATASETS = ('generic', 'nyu', 'kitti', 'vkitti2', 'hypersim')
#: What ``train`` teaches: metres, or depth up to a scale (networks whose output is depth).
TARGETS = ('auto', 'metric', 'relative')


@dataclass
class TrainingLoopConfig:
    """Optimisation and bookkeeping settings of the training loop (train and distill share it).

    Subclasses add their model, data and loss fields; the YAML keys stay flat.
    """

    # --- optimisation ---
    batch_size: int = 4            # per process, per micro-step
    grad_accum: int = 1            # micro-steps per optimiser step
    max_steps: int = 20000         # optimiser steps
    lr: float = 5e-6               # encoder learning rate; the head uses lr * head_lr_mult
    head_lr_mult: float = 10.0
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.999
    lr_power: float = 0.9          # poly decay exponent
    warmup_steps: int = 0
    grad_clip: float = 0.0         # max global grad norm; 0 disables
    amp: str = 'auto'              # auto (bf16, else fp16, on CUDA) | none | bf16 | fp16
    # --- bookkeeping ---
    seed: int = 0
    log_every: int = 10            # optimiser steps between train log rows
    eval_every: int = 0            # optimiser steps between val runs; 0 = only start and end
    save_every: int = 500          # optimiser steps between last.pt writes
    device: str = 'auto'           # auto | cpu | cuda | cuda:N | mps
    tensorboard: bool = True
    export: bool = True            # write RUN/export/model.pth at the end

    def loop_problems(self) -> list[str]:
        """Return a message for every bad optimisation field (empty when all are fine)."""
        problems = []
        for name in ('batch_size', 'grad_accum', 'max_steps', 'log_every'):
            if getattr(self, name) < 1:
                problems.append(f'{name}={getattr(self, name)}: must be >= 1')
        for name in ('lr', 'head_lr_mult'):
            if getattr(self, name) <= 0:
                problems.append(f'{name}={getattr(self, name)}: must be > 0')
        if self.amp not in AMP_CHOICES:
            problems.append(f'amp={self.amp!r}: use {", ".join(AMP_CHOICES)}')
        if (device_error := device_name_error(self.device)) is not None:
            problems.append(device_error)
        return problems

    def validate(self) -> TrainingLoopConfig:
        """Raise ``ValueError`` naming every bad field and its fix; return self."""
        problems = self.loop_problems()
        if problems:
            raise InvalidInputError('invalid training config:\n  ' + '\n  '.join(problems))
        return self


@dataclass
class TrainConfig(TrainingLoopConfig):
    """Everything a metric fine-tuning run needs; saved resolved as ``RUN/config.yaml``."""

    # --- model ---
    encoder: str = 'vits'          # tiny | vits | vitb | vitl | vitg | da3metric-large | ...
    init: str = 'untrained'        # 'untrained', 'untrained:NAME', or a checkpoint path / name
    init_head: str = 'auto'        # auto | relative | metric: what the init checkpoint holds
    target: str = 'auto'           # auto | metric | relative: what the run teaches the network
    max_depth: float = 20.0        # metres; metric head output is sigmoid * max_depth
    min_depth: float = 1e-3        # metres; ground truth below this is ignored
    freeze_encoder: bool = False
    # --- data ---
    dataset: str = 'generic'       # generic | nyu | kitti | vkitti2 | hypersim
    data: str = ''                 # dataset root (the CLI's --data)
    train_split: str = 'train'
    val_split: str = 'val'
    input_size: int = 518          # train crop side / eval short side, px, multiple of 14
    hflip: bool = True
    color_jitter: float = 0.0      # 0 disables; else brightness/contrast/saturation strength
    max_val_images: int = 0        # 0 = the whole val split
    num_workers: int = 2
    # --- loss ---
    silog_lambda: float = 0.5
    conf_weight: float = 0.1       # confidence term of networks with a confidence output

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` naming the bad field and the fix; return self."""
        problems = []
        if self.encoder not in ENCODERS:
            problems.append(f'encoder={self.encoder!r}: choose one of {", ".join(ENCODERS)}')
        if self.dataset not in DATASETS:
            problems.append(f'dataset={self.dataset!r}: choose one of {", ".join(DATASETS)}')
        if self.init_head not in ('auto', 'relative', 'metric'):
            problems.append(f'init_head={self.init_head!r}: use auto, relative or metric')
        if self.target not in TARGETS:
            problems.append(f'target={self.target!r}: use {", ".join(TARGETS)}')
        if self.conf_weight < 0:
            problems.append(f'conf_weight={self.conf_weight}: must be >= 0')
        if self.input_size <= 0 or self.input_size % 14:
            problems.append(f'input_size={self.input_size}: must be a positive multiple of 14 '
                            '(the ViT patch size), e.g. 140, 266, 518')
        if not 0 < self.min_depth < self.max_depth:
            problems.append(f'min_depth={self.min_depth}, max_depth={self.max_depth}: '
                            'need 0 < min_depth < max_depth (metres)')
        problems += self.loop_problems()
        if not 0 <= self.silog_lambda <= 1:
            problems.append(f'silog_lambda={self.silog_lambda}: must be in [0, 1]')
        if problems:
            raise InvalidInputError('invalid training config:\n  ' + '\n  '.join(problems))
        return self


# ---------------------------------------------------------------------------------------------
# generic dataclass <-> YAML / key=value helpers


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """Return ``(inner_type, is_optional)`` for ``X | None`` / ``Optional[X]``."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def parse_value(text: str, tp: Any, name: str = 'value') -> Any:
    """Parse a command-line string into the annotated type ``tp`` (bool/int/float/str/list)."""
    inner, optional = _unwrap_optional(tp)
    if optional and text.strip().lower() in ('none', 'null', '~', ''):
        return None
    origin = typing.get_origin(inner)
    if inner is bool:
        low = text.strip().lower()
        if low in ('1', 'true', 'yes', 'on'):
            return True
        if low in ('0', 'false', 'no', 'off'):
            return False
        raise InvalidInputError(f'{name}={text!r}: expected a boolean (true/false)')
    if inner in (int, float):
        try:
            value = float(text) if inner is float else int(text)
        except ValueError:
            raise InvalidInputError(f'{name}={text!r}: expected {inner.__name__}') from None
        return value
    if inner is str:
        return text
    if origin in (list, tuple):
        (item_tp, *_) = typing.get_args(inner) or (str,)
        items = yaml.safe_load(text) if text.strip().startswith('[') else text.split(',')
        parsed = [parse_value(str(v).strip(), item_tp, name) for v in items]
        return tuple(parsed) if origin is tuple else parsed
    return yaml.safe_load(text)


def _coerce(value: Any, tp: Any, name: str) -> Any:
    """Check/convert a YAML-loaded value against the field type (ints accepted for floats)."""
    inner, optional = _unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise InvalidInputError(f'{name}: null is not allowed here')
    if inner is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if inner is float and isinstance(value, str):
        return parse_value(value, inner, name)  # YAML reads '5e-6' as a string
    if inner in (int, bool, str) and not isinstance(value, inner):
        raise InvalidInputError(f'{name}: expected {inner.__name__}, got {value!r}')
    if inner is int and isinstance(value, bool):
        raise InvalidInputError(f'{name}: expected int, got {value!r}')
    return value


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def from_dict(cls: type[T], data: dict[str, Any], source: str = 'config') -> T:
    """Build dataclass ``cls`` from a mapping; unknown keys raise with the known ones listed."""
    types_ = _field_types(cls)
    unknown = sorted(set(data) - set(types_))
    if unknown:
        raise InvalidInputError(f'{source}: unknown key(s) {", ".join(unknown)}; '
                                f'known keys: {", ".join(types_)}')
    return cls(**{k: _coerce(v, types_[k], f'{source}: {k}') for k, v in data.items()})


def apply_overrides(cfg: T, overrides: list[str] | tuple[str, ...]) -> T:
    """Return a copy of ``cfg`` with ``key=value`` strings applied (typed by the field)."""
    types_ = _field_types(type(cfg))
    changes: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition('=')
        key = key.strip().lstrip('-').replace('-', '_')
        if not sep:
            raise InvalidInputError(f'override {item!r}: expected key=value, e.g. max_steps=100')
        if key not in types_:
            raise InvalidInputError(f'override {item!r}: unknown key {key!r}; '
                                    f'known keys: {", ".join(types_)}')
        changes[key] = parse_value(text, types_[key], key)
    return dataclasses.replace(cfg, **changes)


def dataclass_to_dict(cfg: Any) -> dict[str, Any]:
    """Return the config as plain YAML/JSON-able types (tuples become lists)."""
    out = dataclasses.asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def save_yaml(cfg: Any, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML in field order."""
    Path(path).write_text(yaml.safe_dump(dataclass_to_dict(cfg), sort_keys=False))


def preset_dirs() -> list[Path]:
    """Directories searched for named presets: source tree, then installed share directories."""
    dirs = [Path(__file__).resolve().parents[2] / 'config' / 'training',
            Path(sys.prefix) / 'share' / 'depth_anything_ros' / 'config' / 'training']
    try:
        from ament_index_python.packages import get_package_share_directory
        dirs.append(Path(get_package_share_directory('depth_anything_ros')) / 'config' /
                    'training')
    except (ImportError, LookupError, OSError, ValueError):
        pass  # no ROS environment: the source tree / prefix copies are enough
    return dirs


def resolve_preset(name_or_path: str | os.PathLike) -> Path:
    """Return the YAML file for a preset name (``debug``) or an explicit path."""
    path = Path(name_or_path)
    if path.suffix in ('.yaml', '.yml') or path.exists():
        if not path.is_file():
            raise MissingInputError(f'config file {path} does not exist')
        return path
    for d in preset_dirs():
        candidate = d / f'{name_or_path}.yaml'
        if candidate.is_file():
            return candidate
    known = sorted({p.stem for d in preset_dirs() if d.is_dir() for p in d.glob('*.yaml')})
    raise MissingInputError(f'no training preset {str(name_or_path)!r}; use one of '
                            f'{", ".join(known) or "(none found)"} or a path to a YAML file')


def load_dataclass(cls: type[T], name_or_path: str | os.PathLike | None,
                   overrides: list[str] | tuple[str, ...] = ()) -> T:
    """Load ``cls`` from a preset name or YAML path (None = defaults), then apply overrides."""
    cfg = cls()
    if name_or_path is not None:
        path = resolve_preset(name_or_path)
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise InvalidInputError(f'{path}: expected a mapping of key: value')
        cfg = from_dict(cls, data, source=str(path))
    return apply_overrides(cfg, overrides)


def load_config(name_or_path: str | os.PathLike | None,
                overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Load and validate a :class:`TrainConfig` (preset name, YAML path, or defaults)."""
    return load_dataclass(TrainConfig, name_or_path, overrides).validate()
