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

"""Depth Anything 3's implementation module for the registry (see docs/architecture.md).

:class:`Da3Model` holds one network of :mod:`depth_anything_ros.models.da3` under the name
``model`` (so its state dict is the published files' one, ``model.`` prefix included) and gives
the estimator what every family gives: ``family``, ``config`` (encoder, output, is_metric,
max_depth, to_dict()) and ``forward(x [B, 3, h, w]) -> {'depth': [B, h, w], ...}`` with
``confidence`` and ``sky`` where the network has them, one view per image;
:meth:`Da3Model.forward_views` runs several views of one scene through one any-view pass
(cross-view attention), optionally conditioned on their poses.

``da3metric-large`` gives metres only with the camera's focal length: ``forward(x, focal=f)``
with ``f`` [B, 2] = (fx, fy) in pixels of the network input; metres = depth * mean(fx, fy) /
300, as the official code does. Without it the forward pass refuses.
Input: the official preprocessing (:func:`preprocess`, :func:`network_size`): the longest side
to the processing resolution (504 by default) on the uint8 image, each side to the nearest
multiple of 14, ImageNet normalisation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn, Tensor

from depth_anything_ros.models.files import CheckpointError

from . import weights
from .checkpoint import check_fits, config_name, infer_config, WRAPPER_PREFIX
from .config import config_for, Da3Config, EXTRA_CONFIGS, NestedConfig
from .family import FAMILY, traits
from .graph import Da3Graph, finish, has_views, raw_outputs
from .network import build_model as build_network
from .network import SKY_THRESHOLD
from .transforms import prepare_image, process_sizes

log = logging.getLogger(__name__)

__all__ = ['Da3Facts', 'Da3Model', 'build_model', 'check_metadata', 'config_from_dict',
           'finish_graph', 'freeze_unsupervised', 'load_state_dict', 'named',
           'network_intrinsics', 'network_size', 'preprocess', 'UNSUPERVISED', 'untrained_model']

AnyConfig = Da3Config | NestedConfig


@dataclass(frozen=True)
class Da3Facts:
    """The estimator's view of a Depth Anything 3 network (its ``config``)."""

    network: AnyConfig

    @property
    def encoder(self) -> str:
        """The configuration's name (``da3-small``, ...): the ``encoder`` of this family."""
        return self.network.name

    @property
    def traits(self) -> dict[str, Any]:
        return {'confidence': False, 'sky': False, 'needs_intrinsics': False, 'max_views': 1,
                **traits(self.encoder)}

    @property
    def output(self) -> str:
        """``'depth'`` (relative, larger = farther) or ``'metric'`` (metres)."""
        return self.traits['output']

    @property
    def is_metric(self) -> bool:
        return self.output == 'metric'

    @property
    def head(self) -> str:
        return 'metric' if self.is_metric else 'relative'

    #: A sky probability at or above this is sky (the official rule).
    sky_threshold = SKY_THRESHOLD

    @property
    def max_depth(self) -> None:
        """No ceiling: the network's metres are unbounded."""
        return None

    @property
    def confidence(self) -> bool:
        return self.traits['confidence']

    @property
    def sky(self) -> bool:
        return self.traits['sky']

    @property
    def needs_intrinsics(self) -> bool:
        return self.traits['needs_intrinsics']

    @property
    def max_views(self) -> int:
        """Views one forward pass takes (1: the network sees each image alone)."""
        return int(self.traits['max_views'])

    @property
    def takes_poses(self) -> bool:
        """Whether a multi-view pass can be conditioned on camera poses (camera encoder)."""
        net = self.network.anyview if isinstance(self.network, NestedConfig) else self.network
        return bool(net.camera)

    def to_dict(self) -> dict[str, Any]:
        return {'encoder': self.encoder, 'head': self.head, 'max_depth': None,
                'network': self.network.to_dict()}


def config_from_dict(data: Mapping[str, Any]) -> Da3Facts:
    """Return the facts a sidecar's ``config`` describes (its ``network``, else its name)."""
    if not isinstance(data, Mapping):
        raise ValueError(f'a Depth Anything 3 config is a mapping, got {type(data).__name__}')
    net = data.get('network')
    if isinstance(net, Mapping):
        cfg = (NestedConfig.from_dict(net) if 'anyview' in net
               else Da3Config.from_dict(net))
        return Da3Facts(cfg)
    if not isinstance(data.get('encoder'), str):
        raise ValueError('a Depth Anything 3 config names its network ("encoder")')
    return Da3Facts(named(data['encoder']))


def check_metadata(meta: Mapping[str, Any]) -> None:
    """Raise CheckpointError when a sidecar's model fields have wrong types or values."""
    cfg = meta.get('config')
    if cfg is not None:
        try:
            config_from_dict(cfg)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"invalid 'config': {exc}") from exc
    licence = meta.get('licence')
    if licence is not None and not isinstance(licence, str):
        raise CheckpointError(f"invalid 'licence': {licence!r}, expected a string")


class Da3Model(nn.Module):
    """A Depth Anything 3 network as every family's network looks to the estimator."""

    family = FAMILY.name

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.model = net
        self.config = Da3Facts(net.config)

    @property
    def is_metric(self) -> bool:
        """Whether ``depth`` is in metres."""
        return self.config.is_metric

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> Any:
        """Load a published file's state dict, or the official network's own, key for key.

        A published file's keys start with ``model.``; the official network's own
        (``backbone.``, ``head.``, ...) get that prefix added. Strict by default.
        """
        if state_dict and not any(k.startswith('model.') for k in state_dict):
            state_dict = {f'model.{k}': v for k, v in state_dict.items()}
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def forward(self, x: Tensor, focal: Tensor | None = None, *,
                sky_to_far: bool = True) -> dict[str, Tensor]:
        """Images [B, 3, h, w] (normalised) -> ``depth`` [B, h, w] (+ confidence, sky).

        ``focal`` [B, 2]: (fx, fy) in pixels of the network input; needed by a network whose
        depth becomes metres only with it, ignored by the others. ``sky_to_far=False``
        (training): the depth of sky pixels stays what the head made (see
        :meth:`DepthAnything3.forward`).

        Views [B, S, 3, h, w] (the official form) -> the official network's own outputs,
        unchanged: ``depth``, ``depth_conf`` (and ``sky`` where it has one) [B, S, h, w] plus
        what else it gives; raw network depth (no focal scaling), as the official network.
        """
        if x.dim() == 5:
            if x.shape[1] > self.config.max_views:
                raise ValueError(f'{self.config.encoder} takes at most {self.config.max_views} '
                                 f'view(s) in one pass, got {x.shape[1]}')
            return dict(self.model(x))
        if x.dim() != 4:
            raise ValueError(f'expected images (B, 3, H, W) or views (B, S, 3, H, W), got '
                             f'{tuple(x.shape)}')
        net = self.model
        raw = raw_outputs(net, x)   # the network sees (B, 3, H, W), as without export
        if has_views(net):   # one view per image: drop the views axis
            raw = {k: v[:, 0] for k, v in raw.items()}
        if self.config.needs_intrinsics and focal is None:
            raise ValueError(f"{self.config.encoder} gives metres only with the camera's "
                             'focal length (fx, fy in pixels); none was given')
        return finish(raw, focal, needs_focal=self.config.needs_intrinsics,
                      sky_to_far=sky_to_far)

    def export_graph(self) -> Da3Graph:
        """Return the computation an exported file holds (:mod:`.graph`).

        The rest runs after it: :func:`finish_graph`.
        """
        return Da3Graph(self.model)

    def forward_views(self, x: Tensor, extrinsics: Tensor | None = None,
                      intrinsics: Tensor | None = None) -> dict[str, Tensor]:
        """Run views of one scene [1, S, 3, h, w] -> ``depth`` [S, h, w] (+ confidence, sky).

        One forward pass with cross-view attention. ``extrinsics`` [1, S, 4, 4] world-to-camera
        (normalised as ``core.multiview.pose_tensor`` makes them) with ``intrinsics``
        [1, S, 3, 3] in pixels of the network input condition it on the cameras' poses.
        """
        if x.dim() != 5 or x.shape[0] != 1:
            raise ValueError(f'expected the views of one scene (1, S, 3, H, W), got '
                             f'{tuple(x.shape)}')
        if x.shape[1] > self.config.max_views:
            raise ValueError(f'{self.config.encoder} takes at most {self.config.max_views} '
                             f'view(s) in one pass, got {x.shape[1]}')
        out = self.model(x, extrinsics, intrinsics)
        return _per_image({k: v[0][:, None] for k, v in out.items()
                           if k in ('depth', 'depth_conf', 'sky')}, out['depth'][0])


def _per_image(out: Mapping[str, Tensor], depth: Tensor) -> dict[str, Tensor]:
    """Return the estimator's outputs of one view per image: depth, confidence, sky [B, h, w]."""
    res = {'depth': depth}
    if 'depth_conf' in out:
        res['confidence'] = out['depth_conf'][:, 0]
    if 'sky' in out:
        res['sky'] = out['sky'][:, 0]
    return res


def named(name: str) -> AnyConfig:
    """Return the configuration ``name``: an official one, or one of the small extra ones."""
    if isinstance(name, str) and name.lower() in EXTRA_CONFIGS:
        return EXTRA_CONFIGS[name.lower()]
    return config_for(name)


def _config(encoder: Any) -> AnyConfig:
    if isinstance(encoder, Da3Facts):
        return encoder.network
    if isinstance(encoder, (Da3Config, NestedConfig)):
        return encoder
    return named(encoder)


def _check_head(cfg: AnyConfig, head: str | None, max_depth: float | None) -> None:
    kind = traits(cfg.name)['output']
    if head == 'metric' and kind != 'metric':
        raise ValueError(f'{cfg.name} gives relative depth: set mode:=relative for it, or '
                         'pick a metric Depth Anything 3, da3metric-large (with the focal '
                         'length) or da3nested-giant-large')
    if max_depth is not None:
        raise ValueError(f'max_depth={max_depth} does not apply to {cfg.name}: Depth Anything '
                         '3 metric depth has no ceiling')


def build_model(encoder: Any, head: str = 'relative', max_depth: float | None = None, *,
                device: torch.device | str | None = None) -> Da3Model:
    """Untrained (default-initialised) network of a configuration name or config."""
    cfg = _config(encoder)
    _check_head(cfg, head, max_depth)
    return Da3Model(build_network(cfg, device=device))


def untrained_model(encoder: Any, head: str | None = None,
                    max_depth: float | None = None) -> Da3Model:
    """Deterministic test weights (RNG-free, meaningless depth; logs a warning)."""
    cfg = _config(encoder)
    _check_head(cfg, head, max_depth)
    return Da3Model(weights.untrained_model(cfg)).eval()


def load_state_dict(path: Path, sd: Mapping[str, Tensor], meta: Mapping[str, Any], *,
                    encoder: Any = None, head: str | None = None,
                    max_depth: float | None = None,
                    default_max_depth: float | None = None) -> Da3Model:
    """Build the network ``sd`` (read from ``path``) holds and load it strictly.

    The configuration: ``encoder``, else the sidecar's, else ``config.json`` beside the file,
    else the published checkpoint the path is, else the tensor shapes.
    ``default_max_depth`` does not apply (no ceiling).
    """
    source = str(path)
    if sd and all(k.startswith(WRAPPER_PREFIX) for k in sd):
        sd = {k[len(WRAPPER_PREFIX):]: v for k, v in sd.items()}
    try:
        cfg: AnyConfig | None = _config(encoder) if encoder is not None else None
    except ValueError as exc:
        raise CheckpointError(f'{source}: {exc}') from exc
    side = meta.get('sidecar') if isinstance(meta.get('sidecar'), Mapping) else None
    if cfg is None and side and isinstance(side.get('config'), Mapping):
        try:
            cfg = config_from_dict(side['config']).network
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f'{source}: its sidecar config is damaged ({exc}); delete '
                                  'the sidecar or export the model again') from exc
    if cfg is None:
        name = config_name(path)
        if name is None:
            found = FAMILY.checkpoint(path)
            name = found.name if found is not None else None
        try:
            cfg = named(name) if name is not None else infer_config(sd, source)
        except ValueError as exc:
            if isinstance(exc, CheckpointError):
                raise
            raise CheckpointError(f'{source}: {exc}') from exc
    try:
        _check_head(cfg, head, max_depth)
    except ValueError as exc:
        raise CheckpointError(f'{Path(path).name}: {exc}') from exc
    net = build_network(cfg, device='meta')
    check_fits(net, sd, source, cfg.name)
    net.load_state_dict({k: v.to(torch.float32) for k, v in sd.items()}, strict=True,
                        assign=True)
    log.info('loaded %s: %s (%s)', path, cfg.name, traits(cfg.name)['output'])
    return Da3Model(net).eval()


def finish_graph(raw: Mapping[str, Tensor], config: Da3Facts,
                 focal: Tensor | None = None) -> dict[str, Tensor]:
    """Turn an exported graph's outputs into what :meth:`Da3Model.forward` returns (exactly).

    The steps outside the graph (:mod:`.graph`): sky pixels far, the focal scaling of a
    metric network (``focal`` (B, 2), network-input pixels), the nested alignment.
    """
    if config.needs_intrinsics and focal is None:
        raise ValueError(f"{config.encoder} gives metres only with the camera's focal length "
                         '(fx, fy in pixels); none was given')
    return finish(raw, focal, needs_focal=config.needs_intrinsics)


def network_size(height: int, width: int, input_size: int) -> tuple[int, int]:
    """Network input (h, w) for a height x width image: longest side ``input_size``."""
    return process_sizes(height, width, input_size)[1]


def network_intrinsics(k: np.ndarray, height: int, width: int,
                       input_size: int) -> np.ndarray:
    """K (3, 3) in pixels of a height x width image -> K at the network input, as officially.

    The official preprocessing scales the first row of K by each resize's width ratio and the
    second by its height ratio (the longest-side resize, then the one to multiples of 14).
    """
    (h1, w1), (h2, w2) = process_sizes(height, width, input_size)
    k = np.array(k, dtype=np.float64)
    for (h, w), (hp, wp) in (((h1, w1), (height, width)), ((h2, w2), (h1, w1))):
        k[0] *= w / float(wp)
        k[1] *= h / float(hp)
    return k


def preprocess(rgb: np.ndarray, input_size: int) -> Tensor:
    """RGB uint8 (H, W, 3) -> network input [1, 3, h, w], the official preprocessing."""
    x, _ = prepare_image(np.ascontiguousarray(rgb), None, input_size)
    return x[None]


#: Parts of a network that single-view depth training gives no signal to, by state-dict
#: prefix (inside :class:`Da3Model`) or name part: the camera encoder (runs only with known
#: poses), the camera decoder (its predicted poses are not supervised), the Gaussian head (not
#: run), the dual DPT head's auxiliary ray branch (not run) and the sky output (depth data
#: cannot tell sky from a sensor's missing returns, see docs/training.md).
UNSUPERVISED = ('model.cam_enc.', 'model.cam_dec.', 'model.gs_head.',
                'model.head.scratch.sky_output_conv2.')


def freeze_unsupervised(model: Da3Model) -> list[str]:
    """Freeze the parts :data:`UNSUPERVISED` names; return the frozen parameter names.

    What stays trainable is the backbone (``model.backbone.pretrained.*``: the encoder of the
    learning-rate groups) and the depth head (with the any-view networks' confidence, which
    shares its last convolution).
    """
    frozen = []
    for name, p in model.named_parameters():
        if name.startswith(UNSUPERVISED) or '_aux' in name:
            p.requires_grad_(False)
            frozen.append(name)
    return frozen
