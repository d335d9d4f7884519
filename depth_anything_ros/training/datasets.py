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

"""RGB-D datasets behind one base class: generic folder, NYU v2, KITTI, Virtual KITTI 2, Hypersim.

Every loader returns samples ``{'image': uint8 (H, W, 3) RGB, 'depth': float32 (H, W) metres,
'valid_mask': bool (H, W), 'intrinsics': float32 (3, 3) (when known), 'name': str}``; invalid
depth pixels are 0 with ``valid_mask`` False. A transform (see :mod:`.transforms`) turns a sample
into tensors. Index a dataset with ``i`` or ``(i, seed)``: the seed drives the augmentation.

Generic format (written by ``depth-anything-ros synth`` and ``tools/convert_rgbd_recording.py``)::

    ROOT/dataset.yaml   format: depth_anything_ros/rgbd, version: 1, depth_scale: 0.001,
                        camera: {fx, fy, cx, cy}  (optional, pixels)
    ROOT/train.txt      one sample per line: "rgb/NAME.png depth/NAME.png [fx fy cx cy]"
    ROOT/val.txt
    ROOT/rgb/*.png|jpg  colour images
    ROOT/depth/*        16-bit PNG/TIFF (metres = value * depth_scale, 0 = invalid) or float32
                        .npy/.tiff/.exr in metres (0, NaN, inf = invalid)
"""

from __future__ import annotations

from collections.abc import Callable
import csv
from dataclasses import dataclass
import os
from pathlib import Path
import re
from typing import Any

import cv2
import numpy as np
from torch.utils.data import Dataset
import yaml

from depth_anything_ros.errors import InvalidInputError, make_folder, MissingInputError

GENERIC_FORMAT = 'depth_anything_ros/rgbd'
IMAGE_EXTS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')

Transform = Callable[[dict[str, Any], 'np.random.Generator | None'], dict[str, Any]]


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Pinhole matrix K (3, 3) float32 from focal lengths and principal point in pixels."""
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], np.float32)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read a colour image as uint8 (H, W, 3) RGB; raise naming the file if unreadable."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise MissingInputError(f'cannot read image {path} (missing or not an image)')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_depth(path: str | os.PathLike, scale: float) -> np.ndarray:
    """Read a depth file as float32 (H, W) metres; invalid pixels (0/NaN/inf/<0) become 0.

    Integer images (16-bit PNG/TIFF) are multiplied by ``scale``; float files (.npy, float
    TIFF/EXR) are taken as metres.
    """
    path = Path(path)
    if path.suffix == '.npy':
        arr = np.load(path, allow_pickle=False)
    else:
        if path.suffix == '.exr':
            os.environ.setdefault('OPENCV_IO_ENABLE_OPENEXR', '1')
        arr = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_UNCHANGED)
        if arr is None:
            hint = (' — this OpenCV build may lack OpenEXR support; convert to float32 .npy '
                    'or .tiff' if path.suffix == '.exr' and path.is_file() else '')
            raise MissingInputError(f'cannot read depth {path} (missing or unsupported '
                                    f'format){hint}')
    if arr.ndim == 3:
        arr = arr[..., 0]
    if np.issubdtype(arr.dtype, np.integer):
        depth = arr.astype(np.float32) * np.float32(scale)
    else:
        depth = arr.astype(np.float32)
    depth[~np.isfinite(depth) | (depth < 0)] = 0.0
    return depth


def resolve_split(root: Path, split: str) -> Path:
    """Return the split list for ``split``: a path, or ``ROOT/<split>.txt``/``.csv``."""
    candidates = [Path(split), root / split, root / f'{split}.txt', root / f'{split}.csv']
    for c in candidates:
        if c.is_file():
            return c
    raise MissingInputError(f'no split list {split!r} under {root}: expected {root}/{split}.txt '
                            '(one sample per line) or a path to a split file')


@dataclass
class SampleRef:
    """Where one sample's files are; ``intrinsics`` (3, 3) or None."""

    rgb: Path
    depth: Path
    intrinsics: np.ndarray | None = None
    name: str = ''


class DepthDataset(Dataset):
    """Base class: subclasses fill ``self.refs`` and implement :meth:`load_depth`.

    ``min_depth``/``max_depth`` (metres) bound the valid mask; ``transform(sample, rng)`` maps a
    raw sample to tensors. ``limit`` keeps only the first N samples (quick evaluations).
    """

    def __init__(self, transform: Transform | None = None, *, min_depth: float = 1e-3,
                 max_depth: float = float('inf')) -> None:
        self.refs: list[SampleRef] = []
        self.transform = transform
        self.min_depth = min_depth
        self.max_depth = max_depth

    def load_depth(self, ref: SampleRef) -> np.ndarray:
        """Return float32 (H, W) depth in metres for ``ref`` (0 where invalid)."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.refs)

    def limit(self, n: int) -> DepthDataset:
        """Keep the first ``n`` samples (``n <= 0`` keeps all); return self."""
        if n > 0:
            self.refs = self.refs[:n]
        return self

    def load(self, index: int) -> dict[str, Any]:
        """Read sample ``index`` without transform (numpy arrays, see module docstring)."""
        ref = self.refs[index]
        image = read_rgb(ref.rgb)
        depth = self.load_depth(ref)
        if depth.shape != image.shape[:2]:
            raise InvalidInputError(f'{ref.rgb} is {image.shape[1]}x{image.shape[0]} but '
                                    f'{ref.depth} is {depth.shape[1]}x{depth.shape[0]}; RGB and '
                                    'depth must be registered at the same resolution')
        valid = np.isfinite(depth) & (depth >= self.min_depth) & (depth <= self.max_depth)
        depth = np.where(valid, depth, 0.0).astype(np.float32)
        sample: dict[str, Any] = {'image': image, 'depth': depth, 'valid_mask': valid}
        if ref.intrinsics is not None:
            sample['intrinsics'] = ref.intrinsics.astype(np.float32)
        return sample

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        sample = self.load(index)
        name = self.refs[index].name or self.refs[index].rgb.stem
        if self.transform is not None:
            sample = self.transform(sample, np.random.default_rng(seed))
        sample['name'] = name
        return sample


# ---------------------------------------------------------------------------------------------
# generic folder format


def read_generic_meta(root: Path) -> dict[str, Any]:
    meta_path = root / 'dataset.yaml'
    if not meta_path.is_file():
        raise MissingInputError(f'{meta_path} not found: {root} is not a generic RGB-D dataset '
                                '(create it with "depth-anything-ros synth" or '
                                'tools/convert_rgbd_recording.py, or pick another dataset type)')
    meta = yaml.safe_load(meta_path.read_text()) or {}
    if meta.get('format') != GENERIC_FORMAT:
        raise InvalidInputError(f'{meta_path}: format is {meta.get("format")!r}, '
                                f'expected {GENERIC_FORMAT!r}')
    return meta


class GenericDataset(DepthDataset):
    """The project's folder format (module docstring): RGB + depth files and split lists."""

    def __init__(self, root: str | os.PathLike, split: str = 'train',
                 transform: Transform | None = None, **kwargs: Any) -> None:
        super().__init__(transform, **kwargs)
        self.root = Path(root)
        meta = read_generic_meta(self.root)
        self.depth_scale = float(meta.get('depth_scale', 1e-3))
        cam = meta.get('camera')
        default_k = (intrinsics_matrix(cam['fx'], cam['fy'], cam['cx'], cam['cy'])
                     if cam else None)
        split_path = resolve_split(self.root, split)
        for lineno, line in enumerate(split_path.read_text().splitlines(), 1):
            parts = line.split('#', 1)[0].split()
            if not parts:
                continue
            if len(parts) not in (2, 6):
                raise InvalidInputError(f'{split_path}:{lineno}: expected "rgb_path depth_path '
                                        f'[fx fy cx cy]", got {line!r}')
            k = intrinsics_matrix(*map(float, parts[2:])) if len(parts) == 6 else default_k
            rgb = self.root / parts[0]
            self.refs.append(SampleRef(rgb, self.root / parts[1], k, Path(parts[0]).stem))
        if not self.refs:
            raise InvalidInputError(f'{split_path} lists no samples')

    def load_depth(self, ref: SampleRef) -> np.ndarray:
        return read_depth(ref.depth, self.depth_scale)


class GenericWriter:
    """Write a dataset in the generic format: ``add()`` samples, then ``close()`` the index."""

    def __init__(self, root: str | os.PathLike, *, depth_scale: float = 1e-3,
                 depth_format: str = 'png16', camera: dict[str, float] | None = None,
                 extra_meta: dict[str, Any] | None = None) -> None:
        if depth_format not in ('png16', 'npy'):
            raise InvalidInputError(f'depth_format {depth_format!r}: use png16 or npy')
        self.root = Path(root)
        make_folder(self.root / 'rgb')
        make_folder(self.root / 'depth')
        self.depth_scale = depth_scale
        self.depth_format = depth_format
        self.camera = camera
        self.extra_meta = extra_meta or {}
        self.splits: dict[str, list[str]] = {}

    def add(self, name: str, rgb: np.ndarray, depth: np.ndarray, split: str,
            intrinsics: np.ndarray | None = None) -> None:
        """Write RGB uint8 (H, W, 3) and depth float (H, W) metres (<=0/NaN/inf = invalid)."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f'{name}: rgb must be uint8 (H, W, 3), got {rgb.dtype} '
                             f'{rgb.shape}')
        if depth.shape != rgb.shape[:2]:
            raise ValueError(f'{name}: depth {depth.shape} and rgb {rgb.shape[:2]} differ')
        rgb_rel = f'rgb/{name}.png'
        cv2.imwrite(str(self.root / rgb_rel), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0)
        if self.depth_format == 'png16':
            counts = np.round(depth / self.depth_scale)
            if counts.max(initial=0) > 65535:
                raise InvalidInputError(f'{name}: depth {depth.max():.2f} m exceeds the 16-bit '
                                        f'range of depth_scale {self.depth_scale} (max '
                                        f'{65535 * self.depth_scale:.2f} m); use a larger '
                                        'depth_scale '
                                        'or depth_format npy')
            depth_rel = f'depth/{name}.png'
            cv2.imwrite(str(self.root / depth_rel), counts.astype(np.uint16))
        else:
            depth_rel = f'depth/{name}.npy'
            np.save(self.root / depth_rel, depth.astype(np.float32))
        line = f'{rgb_rel} {depth_rel}'
        if intrinsics is not None:
            k = intrinsics
            line += f' {k[0, 0]:.6f} {k[1, 1]:.6f} {k[0, 2]:.6f} {k[1, 2]:.6f}'
        self.splits.setdefault(split, []).append(line)

    def close(self) -> Path:
        """Write ``dataset.yaml`` and the split lists; return the root."""
        meta: dict[str, Any] = {'format': GENERIC_FORMAT, 'version': 1,
                                'depth_scale': self.depth_scale}
        if self.camera is not None:
            meta['camera'] = {k: float(v) for k, v in self.camera.items()}
        meta['splits'] = {k: len(v) for k, v in self.splits.items()}
        meta.update(self.extra_meta)
        (self.root / 'dataset.yaml').write_text(yaml.safe_dump(meta, sort_keys=False))
        for split, lines in self.splits.items():
            (self.root / f'{split}.txt').write_text('\n'.join(lines) + '\n')
        return self.root


# ---------------------------------------------------------------------------------------------
# public datasets


def _split_lines(root: Path, split: str) -> list[list[str]] | None:
    """Tokenised lines of a split file if one resolves, else None (then the loader globs)."""
    try:
        path = resolve_split(root, split)
    except FileNotFoundError:
        return None
    return [ln.split('#', 1)[0].split() for ln in path.read_text().splitlines()
            if ln.split('#', 1)[0].strip()]


def _search_root(root: Path, split: str) -> Path:
    """``ROOT/<split>`` when that folder exists (e.g. ``train``/``test``), else ROOT."""
    return root / split if (root / split).is_dir() else root


class PublicDataset(DepthDataset):
    """A public dataset in its own layout under ``root``.

    Subclasses set ``TITLE`` (for errors) and ``MAX_DEPTH`` (metres, the default upper bound of
    the valid range; a ``max_depth`` keyword overrides it) and list the samples of ``split`` in
    :meth:`find_samples`; finding none is an error.
    """

    TITLE = 'public'
    MAX_DEPTH = float('inf')

    def __init__(self, root: str | os.PathLike, split: str = 'train',
                 transform: Transform | None = None, **kwargs: Any) -> None:
        kwargs.setdefault('max_depth', self.MAX_DEPTH)
        super().__init__(transform, **kwargs)
        self.root = Path(root)
        self.refs = self.find_samples(split)
        if not self.refs:
            raise MissingInputError(f'no {self.TITLE} samples found under {self.root}; check '
                                    '--data and the dataset type (see docs/training.md for the '
                                    'expected layout)')

    def find_samples(self, split: str) -> list[SampleRef]:
        """Return the samples of ``split`` under ``self.root``, in a fixed order."""
        raise NotImplementedError


class NYUDepthV2(PublicDataset):
    """NYU Depth v2 "sync" layout: ``<scene>/rgb_00000.jpg`` + ``sync_depth_00000.png`` (mm).

    Split files in the common ``/scene/rgb_X.jpg /scene/sync_depth_X.png focal`` form are used
    when ``split`` names one; otherwise ``ROOT/<split>/`` (or ROOT) is searched.
    """

    TITLE = 'NYU'
    MAX_DEPTH = 10.0
    K = intrinsics_matrix(518.8579, 519.4696, 325.5824, 253.7362)

    def find_samples(self, split: str) -> list[SampleRef]:
        lines = _split_lines(self.root, split)
        if lines is not None:
            pairs = [(self.root / p[0].lstrip('/'), self.root / p[1].lstrip('/')) for p in lines]
        else:
            base = _search_root(self.root, split)
            pairs = [(p, p.with_name(p.name.replace('rgb_', 'sync_depth_')).with_suffix('.png'))
                     for p in sorted(base.rglob('rgb_*.jpg'))]
        return [SampleRef(r, d, self.K, f'{r.parent.name}_{r.stem}') for r, d in pairs]

    def load_depth(self, ref: SampleRef) -> np.ndarray:
        return read_depth(ref.depth, 1e-3)


class KITTIDepth(PublicDataset):
    """KITTI depth (annotated): sparse 16-bit PNG / 256 m, 0 = invalid.

    Split lines ``rgb_rel depth_rel [focal]`` relative to ROOT; without a split file,
    ``**/proj_depth/groundtruth/image_0X/NAME.png`` are paired with raw images
    ``<date>/<drive>/image_0X/data/NAME.png`` (or ``<drive>/image_0X/data/NAME.png``).
    """

    TITLE = 'KITTI'
    MAX_DEPTH = 80.0

    def find_samples(self, split: str) -> list[SampleRef]:
        lines = _split_lines(self.root, split)
        refs = []
        if lines is not None:
            for p in lines:
                k = None
                if len(p) >= 3 and p[2] not in ('None', 'none'):
                    # the focal is given; the principal point is not: KITTI's is near the centre
                    # of the 1242x375 crop, refined later from the image size in load()
                    k = intrinsics_matrix(float(p[2]), float(p[2]), np.nan, np.nan)
                rgb = self.root / p[0].lstrip('/')
                if p[1] in ('None', 'none'):
                    continue  # rows without ground truth in eigen-style lists
                name = Path(p[0].lstrip('/')).with_suffix('').as_posix().replace('/', '_')
                refs.append(SampleRef(rgb, self.root / p[1].lstrip('/'), k, name))
        else:
            base = _search_root(self.root, split)
            for d in sorted(base.rglob('proj_depth/groundtruth/image_0*/*.png')):
                drive, cam = d.parents[3].name, d.parent.name
                candidates = [self.root / drive[:10] / drive / cam / 'data' / d.name,
                              self.root / drive / cam / 'data' / d.name]
                rgb = next((c for c in candidates if c.is_file()), candidates[0])
                refs.append(SampleRef(rgb, d, None, f'{drive}_{cam}_{d.stem}'))
        return refs

    def load(self, index: int) -> dict[str, Any]:
        sample = super().load(index)
        k = sample.get('intrinsics')
        if k is not None and np.isnan(k[0, 2]):
            h, w = sample['depth'].shape
            k[0, 2], k[1, 2] = (w - 1) / 2, (h - 1) / 2
        return sample

    def load_depth(self, ref: SampleRef) -> np.ndarray:
        return read_depth(ref.depth, 1 / 256.0)


def _vkitti_intrinsics(rgb: Path) -> np.ndarray:
    """Camera of a Virtual KITTI 2 frame from ``<variant>/intrinsic.txt`` (or the default)."""
    # rgb = <scene>/<variant>/frames/rgb/Camera_X/rgb_00000.jpg
    variant_dir, cam = rgb.parents[3], rgb.parent.name
    frame = int(re.sub(r'\D', '', rgb.stem) or 0)
    table = variant_dir / 'intrinsic.txt'
    if table.is_file():
        cam_id = int(re.sub(r'\D', '', cam) or 0)
        for row in table.read_text().split('\n')[1:]:
            vals = row.split()
            if len(vals) == 6 and int(vals[0]) == frame and int(vals[1]) == cam_id:
                return intrinsics_matrix(*map(float, vals[2:]))
    return intrinsics_matrix(725.0087, 725.0087, 620.5, 187.0)


class VirtualKITTI2(PublicDataset):
    """Virtual KITTI 2: ``frames/rgb/Camera_X/rgb_N.jpg`` + ``frames/depth/...depth_N.png`` (cm).

    Depth is 16-bit centimetres; the sky (655.35 m) falls outside ``max_depth`` (80 m) and is
    invalid, as in the official recipe.
    """

    TITLE = 'Virtual KITTI 2'
    MAX_DEPTH = 80.0

    def find_samples(self, split: str) -> list[SampleRef]:
        lines = _split_lines(self.root, split)
        if lines is not None:
            rgbs = [self.root / p[0].lstrip('/') for p in lines]
        else:
            rgbs = sorted(_search_root(self.root, split).rglob('frames/rgb/Camera_*/rgb_*.jpg'))
        refs = []
        for rgb in rgbs:
            depth = Path(str(rgb).replace('/frames/rgb/', '/frames/depth/'))
            depth = depth.with_name(depth.name.replace('rgb_', 'depth_')).with_suffix('.png')
            name = f'{rgb.parents[4].name}_{rgb.parents[3].name}_{rgb.parent.name}_{rgb.stem}'
            refs.append(SampleRef(rgb, depth, _vkitti_intrinsics(rgb), name))
        return refs

    def load_depth(self, ref: SampleRef) -> np.ndarray:
        return read_depth(ref.depth, 0.01)


HYPERSIM_FOCAL = 886.81          # pixels, for the 1024x768 renders
HYPERSIM_WIDTH = 1024


def hypersim_distance_to_depth(distance: np.ndarray, focal: float | None = None) -> np.ndarray:
    """Convert Hypersim distance-along-ray (H, W) to planar depth z (H, W), metres.

    ``z = dist * f / ||(u, v, f)||`` with ``u``, ``v`` pixel offsets from the image centre
    (``[-511.5, 511.5]`` x ``[-383.5, 383.5]`` at 1024x768, f = 886.81); for other sizes ``f``
    scales with the width. NaN stays NaN (invalid).
    """
    h, w = distance.shape
    f = HYPERSIM_FOCAL * w / HYPERSIM_WIDTH if focal is None else focal
    u = np.arange(w, dtype=np.float64) - (w - 1) / 2.0       # (W,)
    v = np.arange(h, dtype=np.float64) - (h - 1) / 2.0       # (H,)
    norm = np.sqrt(u[None, :] ** 2 + v[:, None] ** 2 + f * f)  # (H, W)
    return (distance * (f / norm)).astype(np.float32)


class Hypersim(PublicDataset):
    """Hypersim: tonemapped JPEG + ``depth_meters.hdf5`` (distance along the ray, NaN invalid).

    With ``metadata_images_split_scene_v1.csv`` in ROOT, ``split`` selects its partition
    (train/val/test); a split file lists RGB paths relative to ROOT; otherwise all frames
    under ``ROOT/<split>`` (or ROOT) are used.
    """

    TITLE = 'Hypersim'
    MAX_DEPTH = 20.0

    def find_samples(self, split: str) -> list[SampleRef]:
        meta = self.root / 'metadata_images_split_scene_v1.csv'
        lines = _split_lines(self.root, split)
        if lines is not None:
            rgbs = [self.root / p[0].lstrip('/') for p in lines]
        elif meta.is_file():
            rgbs = []
            with meta.open(newline='') as f:
                for row in csv.DictReader(f):
                    if row.get('split_partition_name') != split or \
                            row.get('included_in_public_release', 'True') != 'True':
                        continue
                    rgbs.append(self.root / row['scene_name'] / 'images' /
                                f'scene_{row["camera_name"]}_final_preview' /
                                f'frame.{int(row["frame_id"]):04d}.tonemap.jpg')
        else:
            rgbs = sorted(_search_root(self.root, split).rglob(
                'images/scene_cam_*_final_preview/frame.*.tonemap.jpg'))
        refs = []
        for rgb in rgbs:
            geo = rgb.parent.name.replace('_final_preview', '_geometry_hdf5')
            frame = rgb.name.replace('.tonemap.jpg', '.depth_meters.hdf5')
            refs.append(SampleRef(rgb, rgb.parents[1] / geo / frame, None,
                                  f'{rgb.parents[2].name}_{rgb.parent.name[6:12]}_{rgb.stem}'))
        return refs

    def load_depth(self, ref: SampleRef) -> np.ndarray:
        import h5py
        if not ref.depth.is_file():
            raise MissingInputError(f'Hypersim depth {ref.depth} not found')
        with h5py.File(ref.depth, 'r') as f:
            distance = np.asarray(f['dataset'], dtype=np.float64)  # (H, W) metres along ray
        depth = hypersim_distance_to_depth(distance)
        depth[~np.isfinite(depth)] = 0.0
        return depth

    def load(self, index: int) -> dict[str, Any]:
        sample = super().load(index)
        h, w = sample['depth'].shape
        f = HYPERSIM_FOCAL * w / HYPERSIM_WIDTH
        sample['intrinsics'] = intrinsics_matrix(f, f, (w - 1) / 2, (h - 1) / 2)
        return sample


DATASET_TYPES: dict[str, type[DepthDataset]] = {
    'generic': GenericDataset,
    'nyu': NYUDepthV2,
    'kitti': KITTIDepth,
    'vkitti2': VirtualKITTI2,
    'hypersim': Hypersim,
}


def build_dataset(kind: str, root: str | os.PathLike, split: str,
                  transform: Transform | None = None, *, min_depth: float = 1e-3,
                  max_depth: float | None = None) -> DepthDataset:
    """Construct the dataset ``kind`` (generic, nyu, kitti, vkitti2, hypersim) for ``split``."""
    if kind not in DATASET_TYPES:
        raise InvalidInputError(f'unknown dataset type {kind!r}; choose from '
                                f'{", ".join(DATASET_TYPES)}')
    if not Path(root).is_dir():
        raise MissingInputError(f'dataset root {root} is not a directory (check --data)')
    kwargs: dict[str, Any] = {'min_depth': min_depth}
    if max_depth is not None:
        kwargs['max_depth'] = max_depth
    return DATASET_TYPES[kind](root, split, transform, **kwargs)
