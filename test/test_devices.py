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

"""One home for devices and the shared vocabulary: names, resolution, bf16 and the AMP rule."""

from __future__ import annotations

from unittest import mock

import pytest
import torch

from depth_anything_ros import backends, params, vocabulary
from depth_anything_ros.backends import devices
from depth_anything_ros.backends.devices import amp_dtype, resolve_device
from depth_anything_ros.estimator import DepthEstimator
from depth_anything_ros.model import build_model, ModelConfig
from depth_anything_ros.training.config import load_config


def _validate(**values: object) -> params.DepthConfig:
    return params.validate({**params.default_values(), **values})


def test_mps_resolves_where_it_exists_and_is_refused_with_the_reason_elsewhere(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.mps, 'is_available', lambda: False)
    with pytest.raises(ValueError, match="'mps' requested but MPS .* not available here"):
        resolve_device('mps')
    with pytest.raises(ValueError, match='MPS'):   # the estimator asks the same rule
        DepthEstimator(build_model(ModelConfig.tiny(), 'relative'), device='mps')
    monkeypatch.setattr(torch.backends.mps, 'is_available', lambda: True)
    assert resolve_device('mps') == torch.device('mps')
    assert _validate(device='mps').device == 'mps'   # the parameter accepts what resolves


def test_device_names_have_one_rule_and_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert resolve_device('auto') == torch.device('cpu')
    assert resolve_device(torch.device('cpu')) == torch.device('cpu')
    message = vocabulary.device_name_error('gpu')
    assert message == "device must be auto, cpu, cuda, cuda:N or mps, got 'gpu'"
    with pytest.raises(ValueError) as err:
        resolve_device('gpu')
    assert str(err.value) == message
    with pytest.raises(ValueError) as err:
        _validate(device='gpu')
    assert message in str(err.value)
    with pytest.raises(ValueError) as err:
        load_config('debug', ['device=gpu'])   # the training configs too
    assert message in str(err.value)
    with pytest.raises(ValueError, match='CUDA is not available'):
        resolve_device('cuda:1')


def test_training_amp_rule_is_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device('cpu')
    assert amp_dtype('auto', cpu) is None and amp_dtype('none', cpu) is None
    assert amp_dtype('bf16', cpu) is torch.bfloat16
    with pytest.raises(ValueError, match='amp fp16 needs a CUDA device'):
        amp_dtype('fp16', cpu)   # refused for train and distill alike, never silently dropped
    with pytest.raises(ValueError, match='amp must be one of auto, none, bf16, fp16'):
        amp_dtype('fp8', cpu)
    monkeypatch.setattr(torch.version, 'hip', None)
    monkeypatch.setattr(torch.cuda, 'get_device_capability', lambda device=None: (8, 0))
    assert amp_dtype('fp16', torch.device('cuda', 0)) is torch.float16


def test_vocabulary_is_the_only_list_of_backends_precisions_and_patch_size() -> None:
    assert set(backends.BACKENDS) == set(vocabulary.BACKENDS)   # the runtime table's names
    assert params.spec('backend').choices == (vocabulary.AUTO, *vocabulary.BACKENDS)
    assert params.spec('precision').choices == (vocabulary.AUTO, *vocabulary.PRECISIONS)
    assert backends.PRECISIONS is vocabulary.PRECISIONS
    assert ModelConfig().patch_size == ModelConfig.tiny().patch_size == vocabulary.PATCH_SIZE


@pytest.mark.parametrize('capability, native', [((7, 0), False), ((7, 5), False),
                                                ((7, 2), False), ((8, 0), True),
                                                ((8, 7), True), ((9, 0), True)])
def test_one_bf16_rule_for_the_estimator_training_and_the_selector(
        capability: tuple[int, int], native: bool) -> None:
    from depth_anything_ros.backends.select import Hardware
    from depth_anything_ros.vocabulary import cuda_bf16_capable
    assert cuda_bf16_capable(capability) is native
    hardware = Hardware(device='cuda', cuda_capability=capability)
    assert hardware.cuda_bf16 is native
    with mock.patch.object(torch.cuda, 'get_device_capability', return_value=capability), \
            mock.patch.object(torch.version, 'hip', None):
        assert devices.cuda_bf16_native(torch.device('cuda:0')) is native
