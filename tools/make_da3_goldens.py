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

"""Make the Depth Anything 3 goldens in ``test/data/`` with the official code.

Runs only where the official code (github.com/ByteDance-Seed/Depth-Anything-3, its ``src``
folder) and what it needs to build the networks (torch, einops, addict, omegaconf) are
importable, e.g.::

    PYTHONPATH=/path/to/Depth-Anything-3/src:/path/to/extra-site-packages \
        python tools/make_da3_goldens.py [--full | --manifest | --e2e]

Each official network is built with the package's deterministic weights
(:func:`depth_anything_ros.models.da3.weights.fill_da3_`, applied to the official network's own
state dict) and run forward in float32 for one view, two views, two views with known poses
(any-view networks) and three views (reference-view selection). The inputs are stored too:
``x`` holds three views (the first ``s`` are the ``s``-view input), ``extrinsics`` and
``intrinsics`` the two-view poses.

Default: every official configuration at a reduced width (embed dim 64, head features 32; the
official block counts, tapped blocks and start blocks kept), written to
``test/data/da3_goldens_reduced.npz``.

``--full``: the full ``da3-small``, ``da3-base``, ``da3-large`` and ``da3metric-large``
(``da3_goldens_full.npz``; ``da3mono-large`` has the same architecture and, with these weights,
the same outputs).

``--manifest``: every official state dict's keys and shapes (``da3_state_dicts.json.gz``).

``--e2e``: the official inference path without poses (its ``InputProcessor`` at the default
504, a float32 forward, and for the metric network the official focal scaling given
intrinsics) on two small uint8 views of different sizes with reduced-width networks
(``da3_goldens_e2e.npz``; outputs stored every 6th pixel; the official API would autocast the
forward to bf16/fp16, the golden keeps it float32).

The tests need none of this code.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path
import sys
import types

import numpy as np
import torch

from depth_anything_ros.models.da3.config import (
    config_for,
    CONFIGS,
    Da3Config,
    NAMES,
    NestedConfig,
)
from depth_anything_ros.models.da3.weights import fill_da3_

DATA = Path(__file__).resolve().parents[1] / 'test' / 'data'
#: (height, width) of every golden input: 3 x 4 patches, so the position grid is interpolated.
SIZE = (42, 56)
INPUT_FORMULA = ('x[b, v, c, i, j] = sin(0.19 (c + 1) i + 0.11 j + 0.5 c + 0.7 v) + '
                 '0.6 cos(0.07 (c + 2) j - 0.13 i + 0.3 v), float32')


def golden_input(views: int, size: tuple[int, int] = SIZE) -> torch.Tensor:
    """(1, views, 3, H, W) float32 test pattern, different per view."""
    v, c, i, j = np.meshgrid(np.arange(views), np.arange(3), np.arange(size[0]),
                             np.arange(size[1]), indexing='ij')
    x = (np.sin(0.19 * (c + 1) * i + 0.11 * j + 0.5 * c + 0.7 * v)
         + 0.6 * np.cos(0.07 * (c + 2) * j - 0.13 * i + 0.3 * v)).astype(np.float32)
    return torch.from_numpy(x[None])


def golden_poses(views: int, size: tuple[int, int] = SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """World-to-camera (1, views, 4, 4) and intrinsics (1, views, 3, 3) of a small rig."""
    ext, ks = [], []
    for v in range(views):
        a = 0.15 * v
        r = torch.tensor([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]],
                         dtype=torch.float64)
        m = torch.eye(4, dtype=torch.float64)
        m[:3, :3] = r
        m[:3, 3] = torch.tensor([0.3 * v, -0.05 * v, 0.02 * v], dtype=torch.float64)
        ext.append(m)
        f = 40.0 + 3 * v
        ks.append(torch.tensor([[f, 0, size[1] / 2], [0, f * 1.05, size[0] / 2], [0, 0, 1]],
                               dtype=torch.float64))
    return torch.stack(ext)[None].float(), torch.stack(ks)[None].float()


def reduced(name: str) -> Da3Config | NestedConfig:
    """Return the official configuration ``name`` at embed dim 64, head features 32."""
    cfg = config_for(name)
    if isinstance(cfg, NestedConfig):
        return NestedConfig(f'{name}@64', reduced(cfg.anyview.name), reduced(cfg.metric.name))
    heads = 4 if cfg.num_heads % 4 == 0 and cfg.num_heads % 3 == 0 else 2  # head width 16/32
    hidden = 256 if cfg.ffn == 'mlp' else (int(256 * 2 / 3) + 7) // 8 * 8
    d = cfg.to_dict()
    d.update(name=f'{cfg.name}@64', embed_dim=64, num_heads=heads, ffn_hidden=hidden,
             features=32, out_channels=[16, 32, 48, 64])
    return Da3Config.from_dict(d)


def _stub_pose_alignment() -> None:
    """Stub ``evo``: the splatting adapter imports it (trajectory alignment), unused here."""
    try:
        import evo.core.trajectory  # noqa: F401
    except ImportError:
        mods = {n: types.ModuleType(n) for n in ('evo', 'evo.core', 'evo.core.trajectory')}
        mods['evo.core.trajectory'].PosePath3D = object
        sys.modules.update(mods)


def official_net(cfg: Da3Config | NestedConfig) -> torch.nn.Module:
    """Build the official network for ``cfg`` (any width) from the official classes."""
    from depth_anything_3.model.cam_dec import CameraDec
    from depth_anything_3.model.cam_enc import CameraEnc
    from depth_anything_3.model.da3 import DepthAnything3Net, NestedDepthAnything3Net
    from depth_anything_3.model.dinov2.dinov2 import DinoV2
    from depth_anything_3.model.dinov2.vision_transformer import DinoVisionTransformer
    from depth_anything_3.model.dpt import DPT
    from depth_anything_3.model.dualdpt import DualDPT
    from depth_anything_3.model.gs_adapter import GaussianAdapter
    from depth_anything_3.model.gsdpt import GSDPT

    if isinstance(cfg, NestedConfig):
        net = NestedDepthAnything3Net.__new__(NestedDepthAnything3Net)
        torch.nn.Module.__init__(net)
        net.da3, net.da3_metric = official_net(cfg.anyview), official_net(cfg.metric)
        return net
    backbone = DinoV2.__new__(DinoV2)
    torch.nn.Module.__init__(backbone)
    backbone.out_layers = list(cfg.out_layers)
    backbone.pretrained = DinoVisionTransformer(
        img_size=518, patch_size=14, embed_dim=cfg.embed_dim, depth=cfg.depth,
        num_heads=cfg.num_heads, mlp_ratio=4, ffn_layer='mlp' if cfg.ffn == 'mlp' else
        'swiglufused', alt_start=cfg.alt_start, qknorm_start=cfg.qknorm_start,
        rope_start=cfg.rope_start, cat_token=cfg.cat_token)
    dim_in, f, oc = cfg.head_dim_in, cfg.features, list(cfg.out_channels)
    if cfg.head == 'dualdpt':
        head = DualDPT(dim_in=dim_in, output_dim=2, features=f, out_channels=oc)
    else:
        head = DPT(dim_in=dim_in, output_dim=1, features=f, out_channels=oc)
    kw = {}
    if cfg.camera:
        kw.update(cam_enc=CameraEnc(dim_out=cfg.embed_dim), cam_dec=CameraDec(dim_in=dim_in))
    if cfg.gs_head:
        kw.update(gs_head=GSDPT(dim_in=dim_in, output_dim=38, features=f, out_channels=oc),
                  gs_adapter=GaussianAdapter(sh_degree=2, pred_color=False,
                                             pred_offset_depth=True, pred_offset_xy=True))
    return DepthAnything3Net(backbone, head, **kw)


def official_registry_net(name: str) -> torch.nn.Module:
    """Build the official network exactly as its YAML configuration does."""
    from depth_anything_3.cfg import create_object, load_config
    from depth_anything_3.registry import MODEL_REGISTRY
    return create_object(load_config(MODEL_REGISTRY[name]))


def run_official(net: torch.nn.Module, x: torch.Tensor, poses: tuple | None = None,
                 ) -> dict[str, np.ndarray]:
    """Official forward (no grad, float32) -> the outputs the tests compare."""
    captured = {}
    hook = (net.da3_metric.register_forward_hook(
        lambda _m, _i, out: captured.update(sky=out['sky'].clone()))
        if hasattr(net, 'da3_metric') else None)
    with torch.no_grad():
        out = net(x, *(poses or (None, None)))
    if hook is not None:
        hook.remove()
    keep = {k: out[k] for k in ('depth', 'depth_conf', 'sky', 'extrinsics', 'intrinsics')
            if k in out}
    if 'sky' in captured:
        keep['sky'] = captured['sky']
        keep['scale_factor'] = torch.tensor(out['scale_factor'])
    return {k: v.float().numpy() for k, v in keep.items()}


def goldens_for(cfg: Da3Config | NestedConfig, net: torch.nn.Module,
                views: tuple[int, ...]) -> dict[str, np.ndarray]:
    fill_da3_(net.state_dict())
    net.eval()
    tag = cfg.name.split('@')[0]
    out = {f'{tag}/config': np.array(json.dumps(cfg.to_dict()))}
    any_view = isinstance(cfg, NestedConfig) or cfg.any_view
    for s in views:
        if s > 2 and not any_view:  # views never meet in a monocular network
            continue
        for k, v in run_official(net, golden_input(s)).items():
            out[f'{tag}/{s}view/{k}'] = v
        if any_view and s == 2:
            for k, v in run_official(net, golden_input(s), golden_poses(s)).items():
                out[f'{tag}/{s}view_posed/{k}'] = v
    for k, v in out.items():
        if v.dtype.kind == 'f':
            print(f'{k:40s} {tuple(v.shape)} [{v.min():.4g}, {v.max():.4g}]')
    return out


def golden_images() -> tuple[list[np.ndarray], np.ndarray]:
    """Two RGB uint8 views of different sizes (both resizes and the crop run) and their K."""
    views, ks = [], []
    for v, (h, w) in enumerate(((100, 130), (104, 130))):
        i, j = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
        img = np.stack([128 + 100 * np.sin(0.11 * i + 0.07 * j * (c + 1) + v)
                        * np.cos(0.05 * j - 0.03 * i * c) for c in range(3)], axis=-1)
        views.append(np.clip(np.round(img), 0, 255).astype(np.uint8))
        ks.append([[110.0 + 5 * v, 0, w / 2 - 1], [0, 112.0, h / 2 + 2], [0, 0, 1]])
    return views, np.array(ks)


def e2e_goldens() -> dict[str, np.ndarray]:
    """Run the official preprocessing (InputProcessor, 504) and a float32 official forward."""
    try:
        import torchvision  # noqa: F401
    except RuntimeError:  # a torchvision build without its C ops: declare the two it fakes
        lib = torch.library.Library('torchvision', 'DEF')
        for op in ('nms', 'qnms'):
            lib.define(op + '(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
        for mod in [m for m in sys.modules if m.startswith('torchvision')]:
            del sys.modules[mod]
    from depth_anything_3.utils.alignment import apply_metric_scaling
    from depth_anything_3.utils.io.input_processor import InputProcessor

    views, ks = golden_images()
    out = {f'e2e/image{v}': img for v, img in enumerate(views)}
    out['e2e/intrinsics'] = ks
    x, _, k_proc = InputProcessor()(views, None, ks.copy(), 504, 'upper_bound_resize',
                                    sequential=True)
    out['e2e/input_stride6'] = x[..., ::6, ::6].numpy()
    out['e2e/input_intrinsics'] = k_proc.numpy()
    for name, views_used in (('da3-small', 2), ('da3metric-large', 1),
                             ('da3nested-giant-large', 1)):
        cfg = reduced(name)
        net = official_net(cfg)
        fill_da3_(net.state_dict())
        net.eval()
        torch.manual_seed(0)  # the official quantiles subsample at random above 100k pixels
        res = run_official(net, x[None, :views_used])
        tag = f'e2e/{name}'
        out[f'{tag}/config'] = np.array(json.dumps(cfg.to_dict()))
        for key, v in res.items():
            out[f'{tag}/{key}'] = v[0] if v.ndim else v
        if name == 'da3metric-large':
            metres = apply_metric_scaling(torch.from_numpy(res['depth']),
                                          k_proc[None, :views_used])
            out[f'{tag}/metric_depth'] = metres[0].numpy()
        for key in list(out):
            if key.startswith(tag) and out[key].ndim == 3 and out[key].shape[-1] > 100:
                out[key] = out[key][..., ::6, ::6]  # keep the file small
    for k, v in out.items():
        if v.dtype.kind == 'f':
            print(f'{k:40s} {tuple(v.shape)} [{v.min():.4g}, {v.max():.4g}]')
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--full', action='store_true', help='full small, base, large, metric')
    parser.add_argument('--manifest', action='store_true', help='official state-dict shapes')
    parser.add_argument('--e2e', action='store_true', help='official preprocessing + forward')
    args = parser.parse_args()
    torch.set_num_threads(1)
    _stub_pose_alignment()
    if args.manifest:
        manifest = {}
        linspace = torch.linspace  # the official builder reads a drop-path schedule with .item()
        torch.linspace = lambda *a, **k: linspace(*a, **{**k, 'device': 'cpu'})
        for name in NAMES:
            with torch.device('meta'):
                sd = official_registry_net(name).state_dict()
            manifest[name] = {k: list(v.shape) for k, v in sd.items()}
        with gzip.open(DATA / 'da3_state_dicts.json.gz', 'wt', compresslevel=9) as f:
            f.write(json.dumps(manifest) + '\n')
        return
    ext, ks = golden_poses(2)
    out: dict[str, np.ndarray] = {'input_formula': np.array(INPUT_FORMULA),
                                  'x': golden_input(3).numpy(), 'extrinsics': ext.numpy(),
                                  'intrinsics': ks.numpy()}
    if args.e2e:
        np.savez_compressed(DATA / 'da3_goldens_e2e.npz', **e2e_goldens())
        return
    if args.full:
        for name in ('da3-small', 'da3-base', 'da3-large', 'da3metric-large'):
            out.update(goldens_for(CONFIGS[name], official_registry_net(name), (1, 2)))
        np.savez_compressed(DATA / 'da3_goldens_full.npz', **out)
        return
    for name in NAMES:
        cfg = reduced(name)
        out.update(goldens_for(cfg, official_net(cfg), (1, 2, 3)))
    np.savez_compressed(DATA / 'da3_goldens_reduced.npz', **out)


if __name__ == '__main__':
    main()
