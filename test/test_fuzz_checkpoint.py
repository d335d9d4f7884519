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

"""Property tests: malformed checkpoint files give one CheckpointError, never a raw traceback.

Every file is built from the tiny model's real state dict and then damaged: random or cut
bytes, pickles of the wrong objects (only ``torch.load(weights_only=True)`` ever reads them),
safetensors with wrong dtypes or shapes, sidecars with wrong JSON types, and paths that are not
regular files. A file that still loads must give a model whose output is finite.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import tempfile
import threading
import time

from fuzz_strategies import examples
from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
import numpy as np
import pytest
import torch

from depth_anything_ros.estimator import DepthEstimator
from depth_anything_ros.model import (
    CheckpointError,
    export_model,
    load_model,
    ModelConfig,
    untrained_model,
)
from depth_anything_ros.models.sidecar import sidecar_path

pytestmark = pytest.mark.usefixtures('one_torch_thread')

# Loading the tiny model takes tens of ms; longer means it read something it should not.
HANG_S = 2.0


def _tiny_state_dict() -> dict[str, torch.Tensor]:
    model = untrained_model(ModelConfig.tiny(), warn=False)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


TINY_SD = _tiny_state_dict()
TINY_KEYS = sorted(TINY_SD)
_JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
              st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)
_DTYPES = st.sampled_from([torch.float16, torch.bfloat16, torch.float64, torch.int8,
                           torch.int32, torch.uint8, torch.bool])


class Described:
    """A payload with a short repr: failing examples print the recipe, not 400 k numbers."""

    def __init__(self, value: object, text: str) -> None:
        self.value, self.text = value, text

    def __repr__(self) -> str:
        return self.text


def _damaged_tensor(draw: st.DrawFn, t: torch.Tensor) -> torch.Tensor:
    how = draw(st.sampled_from(['rank0', 'dtype', 'shape', 'empty']))
    if how == 'rank0':
        return torch.tensor(1.0)
    if how == 'dtype':
        return t.to(draw(_DTYPES))
    if how == 'shape':
        return torch.zeros(tuple(max(0, s + draw(st.integers(-1, 2))) for s in t.shape))
    if how == 'empty':
        return t.new_zeros((0,) + tuple(t.shape[1:]))
    return torch.full_like(t, float('nan'))


@st.composite
def state_dicts(draw: st.DrawFn) -> Described:
    """Draw what ``torch.save`` writes: the tiny state dict damaged, or not a state dict."""
    kind = draw(st.sampled_from(['tensor', 'odd', 'drop', 'extra', 'damage', 'damage',
                                 'pos_embed', 'wrapped']))
    value = _state_dict(draw, kind)
    if kind in ('damage', 'pos_embed', 'drop', 'extra'):
        changed = {k: tuple(v.shape) for k, v in value.items()
                   if k not in TINY_SD or v is not TINY_SD[k]}
        missing = sorted(set(TINY_SD) - set(value))
        return Described(value, f'{kind}: changed {changed} missing {missing}')
    return Described(value, f'{kind}: {str(value)[:200]}')


def _state_dict(draw: st.DrawFn, kind: str) -> object:
    if kind == 'odd':
        return draw(st.sampled_from([
            5, [torch.zeros(2)], {1: torch.zeros(2), 2: torch.zeros(3)}, {'a': 'b'},
            {'model': 5}, {'state_dict': {}}, {'model': {1: torch.zeros(1)}},
            {k: torch.tensor(0.0) for k in TINY_KEYS}, torch.zeros(3), (), {}]))
    sd = dict(TINY_SD)
    if kind == 'tensor':
        return sd['pretrained.pos_embed']
    if kind == 'drop':
        for key in draw(st.lists(st.sampled_from(TINY_KEYS), min_size=1, max_size=5)):
            sd.pop(key, None)
    elif kind == 'extra':
        sd[draw(st.text(min_size=1, max_size=30))] = torch.zeros(draw(st.integers(0, 4)))
    elif kind == 'damage':
        for key in draw(st.lists(st.sampled_from(TINY_KEYS), min_size=1, max_size=3)):
            sd[key] = _damaged_tensor(draw, sd[key])
    elif kind == 'pos_embed':      # 0 tokens, 1 token, a non-square grid, wrong rank
        shape = draw(st.sampled_from([(1, 0, 64), (1, 1, 64), (1, 7, 64), (64,), (1, 1370)]))
        sd['pretrained.pos_embed'] = torch.zeros(shape)
    else:
        return {draw(st.sampled_from(['model', 'state_dict', 'model_state_dict'])): sd,
                'config': draw(_JSON_VALUES), 'step': draw(_JSON_VALUES)}
    return sd


def _sidecar(draw: st.DrawFn) -> object:
    """Draw sidecar JSON: the real one with a field of the wrong type, or not a dict at all."""
    meta = json.loads(json.dumps({
        'format': 'depth_anything_ros.checkpoint/1', 'encoder': 'tiny', 'head': 'relative',
        'max_depth': None, 'config': ModelConfig.tiny().to_dict()}))
    where = draw(st.sampled_from(['top', 'config', 'whole']))
    if where == 'whole':
        return draw(_JSON_VALUES)
    target = meta if where == 'top' else meta['config']
    key = draw(st.sampled_from(sorted(target)))
    target[key] = draw(st.one_of(_JSON_VALUES, st.sampled_from([-1, 0, 10**9, 'x', [1], 1.5])))
    return meta


@st.composite
def checkpoint_files(draw: st.DrawFn) -> tuple[str, object]:
    """Draw (kind, payload): how to build one hostile checkpoint in a scratch directory."""
    kind = draw(st.sampled_from(['bytes', 'cut', 'pickle', 'pickle', 'pickle', 'safetensors',
                                 'sidecar', 'sidecar_text']))
    if kind == 'bytes':
        return kind, (draw(st.sampled_from(['.pth', '.pt', '.bin', '.safetensors'])),
                      draw(st.binary(max_size=512)))
    if kind == 'cut':
        return kind, (draw(st.sampled_from(['.pth', '.safetensors'])), draw(st.floats(0, 0.999)))
    if kind == 'pickle':
        return kind, draw(state_dicts())
    if kind == 'safetensors':
        keys = draw(st.lists(st.sampled_from(TINY_KEYS), min_size=1, max_size=3))
        damaged = {k: _damaged_tensor(draw, TINY_SD[k]) for k in keys}
        return kind, Described(damaged, str({k: (v.dtype, tuple(v.shape))
                                             for k, v in damaged.items()}))
    if kind == 'sidecar':
        return kind, _sidecar(draw)
    return kind, draw(st.text(max_size=40))


def _build(tmp: Path, kind: str, payload: object) -> Path:
    path = tmp / 'model.pth'
    if kind == 'bytes':
        suffix, data = payload
        path = path.with_suffix(suffix)
        path.write_bytes(data)
    elif kind == 'cut':
        suffix, fraction = payload
        path = export_model(untrained_model(ModelConfig.tiny(), warn=False),
                            path.with_suffix(suffix))
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * fraction)])
    elif kind == 'pickle':
        torch.save(payload.value, path)
    elif kind == 'safetensors':
        from safetensors.torch import save_file
        path = path.with_suffix('.safetensors')
        save_file({k: v.contiguous() for k, v in {**TINY_SD, **payload.value}.items()},
                  str(path))
    else:
        export_model(untrained_model(ModelConfig.tiny(), warn=False), path)
        side = sidecar_path(path)
        side.write_text(json.dumps(payload) if kind == 'sidecar' else payload)
    return path


def _load_or_checkpoint_error(path: Path) -> None:
    start = time.perf_counter()
    try:
        model = load_model(path)
    except CheckpointError as exc:
        assert str(exc)
        return
    finally:
        assert time.perf_counter() - start < HANG_S
    # it loaded: then it must be a working model
    est = DepthEstimator(model, device='cpu', input_size=28)
    depth = est.infer(np.full((20, 30, 3), 128, np.uint8), 'rgb8')
    assert depth.shape == (20, 30) and np.isfinite(depth).all()


@settings(max_examples=examples(2.0), suppress_health_check=[HealthCheck.too_slow])
@given(checkpoint_files())
@pytest.mark.slow
def test_malformed_checkpoint_gives_checkpoint_error(case) -> None:
    kind, payload = case
    with tempfile.TemporaryDirectory() as tmp:
        _load_or_checkpoint_error(_build(Path(tmp), kind, payload))


def test_dev_zero_is_not_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match='regular file'):
        load_model('/dev/zero')
    link = tmp_path / 'model.pth'
    link.symlink_to('/dev/zero')
    with pytest.raises(CheckpointError, match='regular file'):
        load_model(link)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / 'model.pth'
    os.mkfifo(fifo)

    def unblock() -> None:   # if load_model opened the FIFO, a writer lets it return (EOF)
        time.sleep(HANG_S + 1.0)
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:      # ENXIO: nobody is reading, load_model did not block
            pass

    rescue = threading.Thread(target=unblock, daemon=True)
    rescue.start()
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match='regular file'):
        load_model(fifo)
    assert time.perf_counter() - start < HANG_S, 'load_model blocked opening a FIFO'


def test_directory_without_weights_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises((CheckpointError, FileNotFoundError), match='model.safetensors'):
        load_model(tmp_path)


@pytest.mark.parametrize(('key', 'value'), [('depth', 100_000), ('embed_dim', 10**9),
                                            ('features', 10**9), ('out_channels', [10**9] * 4)])
def test_absurd_sidecar_sizes_fail_fast(tmp_path: Path, key: str, value: object) -> None:
    """Metadata saying 10^5 blocks or 10^9 channels: refused before building (no hang)."""
    path = export_model(untrained_model(ModelConfig.tiny(), warn=False), tmp_path / 'm.pth')
    meta = json.loads(sidecar_path(path).read_text())
    meta['config'][key] = value
    sidecar_path(path).write_text(json.dumps(meta))
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=key if key != 'out_channels' else ''):
        load_model(path)
    assert time.perf_counter() - start < HANG_S
