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

"""Models built or loaded under a grad-disabling context must infer like plain ones.

Callers often wrap set-up code in ``torch.inference_mode()`` (or ``no_grad``). Parameters
created there are inference tensors; the estimator must still run them, and give the same
depth as a model built outside any such context.
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch

from depth_anything_ros.estimator import DepthEstimator
from depth_anything_ros.model import (
    build_model,
    export_model,
    load_model,
    ModelConfig,
    untrained_model,
)

pytestmark = pytest.mark.usefixtures('one_torch_thread')

CONTEXTS: dict[str, Callable[[], contextlib.AbstractContextManager]] = {
    'plain': contextlib.nullcontext,
    'inference_mode': torch.inference_mode,
    'no_grad': torch.no_grad,
    'set_grad_enabled_false': lambda: torch.set_grad_enabled(False),
}


def _frame() -> np.ndarray:
    yy, xx = np.mgrid[0:40, 0:56]
    return np.stack([xx * 4, yy * 6, 255 - xx * 4], -1).astype(np.uint8)


def _depth(model: torch.nn.Module) -> np.ndarray:
    return DepthEstimator(model, device='cpu', input_size=42).infer(_frame(), 'rgb8')


@pytest.fixture
def plain(one_torch_thread: None) -> np.ndarray:
    """Depth of a fresh tiny model built outside any grad context (the reference).

    On the test's own thread count: another count sums in another order (1e-7 apart).
    """
    return _depth(untrained_model(ModelConfig.tiny(), warn=False))


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_model(untrained_model(ModelConfig.tiny(), warn=False),
                        tmp_path_factory.mktemp('ckpt') / 'tiny.pth')


@pytest.mark.parametrize('context', sorted(CONTEXTS))
def test_build_model_and_load_state_dict_under_context(context: str,
                                                       plain: np.ndarray) -> None:
    weights = untrained_model(ModelConfig.tiny(), warn=False).state_dict()
    with CONTEXTS[context]():
        model = build_model(ModelConfig.tiny())
        model.load_state_dict(weights)
    np.testing.assert_array_equal(_depth(model), plain)


@pytest.mark.parametrize('context', sorted(CONTEXTS))
def test_load_model_under_context(context: str, checkpoint: Path, plain: np.ndarray) -> None:
    with CONTEXTS[context]():
        model = load_model(checkpoint)
    np.testing.assert_array_equal(_depth(model), plain)


@pytest.mark.parametrize('context', sorted(CONTEXTS))
def test_estimator_built_and_run_under_context(context: str, plain: np.ndarray) -> None:
    with CONTEXTS[context]():
        model = untrained_model(ModelConfig.tiny(), warn=False)
        depth = _depth(model)
    np.testing.assert_array_equal(depth, plain)
    np.testing.assert_array_equal(_depth(model), plain)   # and again outside the context
