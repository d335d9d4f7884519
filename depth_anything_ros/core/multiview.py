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

"""Several cameras seen as one scene: which frames share an any-view pass, and their poses.

Pure functions (numpy only) that ``camera_stage.process_frames`` and the node's worker use
when an any-view model (``max_views`` > 1) serves several cameras with ``multiview_slop`` > 0:

* :func:`group_views`: frames of different cameras stamped within the slop of the group's
  earliest frame, and of one network input size, form one group (one forward pass with
  cross-view attention); a frame without a partner is a group of one (single view);
* :func:`stamps_match`: whether pending frames already form a full group (the worker stops
  waiting for partners then);
* :func:`parse_extrinsics`: a camera's ``extrinsics`` parameter -> 4x4 camera -> body;
* :func:`pose_tensor`: camera -> common-frame poses -> the world-to-camera extrinsics
  ``(S, 4, 4)`` the network is conditioned on, normalised as the official inference does
  (the first view is the world, translations divided by the median camera distance).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
import math

import numpy as np

from depth_anything_ros.core.alignment import parse_transform

__all__ = ['MIN_POSE_SCALE', 'group_views', 'multiview_problem', 'parse_extrinsics',
           'pose_tensor', 'stamps_match']

#: Floor of the median camera distance that scales the poses (the official value, metres).
MIN_POSE_SCALE = 0.1
#: Rigid transforms are checked to this tolerance (rotation orthonormal, last row 0 0 0 1).
_RIGID_TOL = 1e-4


def group_views(cameras: Sequence[Hashable], stamps_ns: Sequence[int],
                shapes: Sequence[Hashable], slop_s: float,
                max_views: int) -> list[list[int]]:
    """Return the indices of the frames that share one forward pass, each group by stamp.

    ``cameras[i]``, ``stamps_ns[i]`` and ``shapes[i]`` are frame ``i``'s camera, stamp and
    network input (frames of different inputs never share a pass). Per input, frames are taken
    in stamp order: a group starts at its earliest frame and takes each later frame stamped
    within ``slop_s`` of it, of a camera not yet in the group, up to ``max_views`` views.
    Every frame is in exactly one group; a group of one is a single view. Groups come in
    order of their earliest frame's index.
    """
    if not len(cameras) == len(stamps_ns) == len(shapes):
        raise ValueError(f'{len(cameras)} cameras, {len(stamps_ns)} stamps and {len(shapes)} '
                         'shapes: one each per frame')
    slop_ns = int(round(max(slop_s, 0.0) * 1e9))
    groups: list[list[int]] = []
    if slop_s <= 0.0 or max_views < 2:
        return [[i] for i in range(len(cameras))]
    by_shape: dict[Hashable, list[int]] = {}
    for i, shape in enumerate(shapes):
        by_shape.setdefault(shape, []).append(i)
    for idx in by_shape.values():
        left = sorted(idx, key=lambda i: (stamps_ns[i], i))
        while left:
            first = left.pop(0)
            group, seen = [first], {cameras[first]}
            for i in list(left):
                if len(group) >= max_views or stamps_ns[i] - stamps_ns[first] > slop_ns:
                    break
                if cameras[i] not in seen:
                    group.append(i)
                    seen.add(cameras[i])
                    left.remove(i)
            groups.append(sorted(group))
    return sorted(groups, key=lambda g: g[0])


def multiview_problem(slop_s: float, max_views: int, model: str) -> str | None:
    """Return why ``multiview_slop`` cannot apply to ``model`` (None: it can, or is 0)."""
    if slop_s > 0.0 and max_views < 2:
        return (f'multiview_slop {slop_s:g} needs an any-view model (da3-small, da3-base, '
                f'da3-large, da3-giant, da3nested-giant-large on the torch backend); {model} '
                'takes one view per pass: set multiview_slop 0')
    return None


def stamps_match(stamps_ns: Sequence[int], slop_s: float) -> bool:
    """Return True when every stamp is within ``slop_s`` of every other (one group)."""
    return bool(stamps_ns) and max(stamps_ns) - min(stamps_ns) <= int(round(slop_s * 1e9))


def _check_rigid(m: np.ndarray, what: str) -> np.ndarray:
    if m.shape != (4, 4) or not np.isfinite(m).all():
        raise ValueError(f'{what}: a 4x4 transform of finite numbers is needed')
    r = m[:3, :3]
    if (np.abs(m[3] - (0.0, 0.0, 0.0, 1.0)).max() > _RIGID_TOL
            or np.abs(r @ r.T - np.eye(3)).max() > _RIGID_TOL
            or np.linalg.det(r) < 0.0):
        raise ValueError(f'{what}: not a rigid transform (the rotation must be orthonormal with '
                         'determinant 1 and the last row 0 0 0 1)')
    return m


def parse_extrinsics(text: str) -> np.ndarray | None:
    """Return a camera's ``extrinsics`` parameter as a 4x4 camera -> body transform.

    ``'x y z yaw pitch roll'`` (metres, radians) or ``'x y z qx qy qz qw'`` as
    ``static_transform_publisher`` takes them, or 16 numbers (row-major 4x4): the pose of the
    camera's optical frame in a frame common to all cameras (it maps points of the optical
    frame into that frame). Empty: None (the pose comes from TF, or is unknown).

    Raises:
        ValueError: one line naming the problem (count, NaN, not rigid).

    """
    parts = text.replace(',', ' ').replace(';', ' ').split()
    if not parts:
        return None
    fix = ('expected "x y z yaw pitch roll", "x y z qx qy qz qw" or 16 numbers (row-major '
           '4x4), the pose of the optical frame in a frame common to the cameras')
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f'extrinsics {text!r}: {fix}') from None
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f'extrinsics {text!r}: every number must be finite; {fix}')
    if len(values) == 16:
        return _check_rigid(np.array(values, np.float64).reshape(4, 4), f'extrinsics {text!r}')
    if len(values) not in (6, 7):
        raise ValueError(f'extrinsics {text!r}: {len(values)} numbers; {fix}')
    return parse_transform(' '.join(parts))


def _lower_median(values: np.ndarray) -> float:
    """Return the lower of the two middle values for an even count (as ``torch.median``)."""
    return float(np.sort(values)[(len(values) - 1) // 2])


def pose_tensor(camera_to_common: Sequence[np.ndarray]) -> np.ndarray:
    """Return the normalised world-to-camera extrinsics ``(S, 4, 4)`` float64 of the views.

    ``camera_to_common[i]`` maps points of view ``i``'s optical frame into any frame common to
    all views (the ``extrinsics`` parameters, or TF). As the official inference: the first
    view's camera becomes the world (its extrinsics the identity), and every translation is
    divided by the median distance of the camera centres from it (the lower middle value for
    an even number of views, at least :data:`MIN_POSE_SCALE`), so the poses' unit does not
    matter.

    Raises:
        ValueError: fewer than one pose, a pose that is not a finite rigid transform, or
            poses so far apart that their distances overflow.

    """
    if len(camera_to_common) < 1:
        raise ValueError('pose_tensor needs at least one pose')
    poses = [_check_rigid(np.asarray(p, np.float64), f'pose of view {i}')
             for i, p in enumerate(camera_to_common)]
    with np.errstate(over='ignore', invalid='ignore'):
        # world-to-camera of view i with view 0 as the world: inv(P_i) @ P_0
        ext = np.stack([np.linalg.inv(p) @ poses[0] for p in poses])   # (S, 4, 4)
        r, t = ext[:, :3, :3], ext[:, :3, 3]
        centres = -np.einsum('sji,sj->si', r, t)                   # camera centres, view 0 frame
        scale = max(_lower_median(np.linalg.norm(centres, axis=-1)), MIN_POSE_SCALE)
        ext[:, :3, 3] = t / scale
    if not (np.isfinite(ext).all() and np.isfinite(centres).all() and math.isfinite(scale)):
        # finite poses whose distances overflow: the network would see inf (NaN depth)
        raise ValueError('the poses are too far apart to normalise (a distance overflows)')
    ext[:, 3] = (0.0, 0.0, 0.0, 1.0)
    return ext
