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

"""Temporal fusion: the warp on exact synthetic poses, the per-pixel filter, every reset."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from depth_anything_ros.core import temporal as tp
from depth_anything_ros.core.geometry import Intrinsics
from depth_anything_ros.training import synth

SHAPE = (96, 128)
INTR = Intrinsics(110.0, 110.0, 63.2, 47.7, SHAPE[1], SHAPE[0])
CAM = synth.Camera(SHAPE[1], SHAPE[0], INTR.fx, INTR.fy, INTR.cx, INTR.cy)
DT = 1.0 / 30.0


def _material(seed: float) -> synth.Material:
    return synth.Material('noise', np.array([0.8, 0.5, 0.3]), np.array([0.1, 0.2, 0.6]), 0.3,
                          seed)


def _planar_scene() -> synth.Scene:
    """Return a room of planes with a box in it: bilinear inverse depth is exact on them."""
    prims: list[synth.Primitive] = [
        synth._rect((0, 0, 3), 'y', 3, 5, _material(1)),          # floor
        synth._rect((0, 2.6, 3), 'y', 3, 5, _material(2)),        # ceiling
        synth._rect((-3, 1.3, 3), 'x', 5, 1.3, _material(3)),     # walls
        synth._rect((3, 1.3, 3), 'x', 5, 1.3, _material(4)),
        synth._rect((0, 1.3, 7), 'z', 3, 1.3, _material(5)),      # back wall
        synth.Box(np.array([0.4, 0.5, 3.5]), np.array([0.5, 0.5, 0.4]), 0.3, _material(6)),
    ]
    return synth.Scene(prims, np.array([0.0, 1.2, 0.0]), synth.camera_to_world(0.0, -0.15),
                       np.array([0.0, 1.0, 0.0]))


def _at(scene: synth.Scene, dx: float = 0.0, dy: float = 0.0, dz: float = 0.0,
        yaw: float = 0.0) -> synth.Scene:
    rot = synth.camera_to_world(yaw, -0.15)
    return synth.Scene(scene.primitives, scene.origin + np.array([dx, dy, dz]), rot,
                       scene.light_dir)


def _pose(scene: synth.Scene) -> np.ndarray:
    """T_odom_camera of a synthetic view."""
    return synth.camera_pose(scene.origin, scene.rotation)


def _render(scene: synth.Scene) -> tuple[np.ndarray, np.ndarray]:
    rgb, depth = synth.render(scene, CAM)
    return rgb, np.where(np.isfinite(depth), depth, np.nan).astype(np.float32)


def _away_from_edges(depth: np.ndarray, radius: int = 2) -> np.ndarray:
    """Pixels with one plane in their neighbourhood: no depth step, no crease, no NaN.

    On a plane, inverse depth is affine in the pixel coordinates: its second differences
    vanish; a depth step or a corner between two planes (a crease) shows up in them.
    """
    inv = 1.0 / depth.astype(np.float64)
    bent = np.zeros(depth.shape, bool)
    with np.errstate(invalid='ignore'):
        bent[:, 1:-1] |= ~(np.abs(inv[:, 2:] - 2 * inv[:, 1:-1] + inv[:, :-2])
                           <= 1e-4 * inv[:, 1:-1])
        bent[1:-1, :] |= ~(np.abs(inv[2:, :] - 2 * inv[1:-1, :] + inv[:-2, :])
                           <= 1e-4 * inv[1:-1, :])
    bent |= ~np.isfinite(inv)
    near = cv2.dilate(bent.astype(np.uint8), np.ones((2 * radius + 1,) * 2, np.uint8)) > 0
    return ~near


# ---------------------------------------------------------------------------------------------
# the warp


@pytest.mark.parametrize('motion', [{'dx': 0.12}, {'dz': 0.2, 'yaw': 0.06},
                                    {'dx': -0.05, 'dy': 0.03, 'yaw': -0.1}])
def test_static_scene_reprojects_to_itself(motion: dict[str, float]) -> None:
    base = _planar_scene()
    moved = _at(base, **motion)
    _, d0 = _render(_at(base))
    _, d1 = _render(moved)
    transform = tp.relative_transform(_pose(moved), _pose(_at(base)))     # T_0_1
    w = tp.warp_inverse_depth(1.0 / d0, INTR, transform, INTR, 1.0 / d1)
    check = _away_from_edges(d1) & np.isfinite(w)
    rel = np.abs(w[check] * d1[check] - 1.0)
    assert rel.max() < 1e-4
    # and most of the frame has a correspondence (the rest: out of view, edges)
    assert check.sum() > 0.8 * _away_from_edges(d1).sum()


def test_warp_from_a_noisy_seed_converges_to_the_history() -> None:
    base = _planar_scene()
    moved = _at(base, dx=0.08, yaw=0.04)
    _, d0 = _render(_at(base))
    _, d1 = _render(moved)
    noisy = (1.0 / d1) * (1.0 + np.random.default_rng(0).normal(0, 0.03, d1.shape))
    transform = tp.relative_transform(_pose(moved), _pose(_at(base)))
    w = tp.warp_inverse_depth(1.0 / d0, INTR, transform, INTR, noisy.astype(np.float32))
    check = _away_from_edges(d1) & np.isfinite(w)
    assert check.sum() > 0.7 * _away_from_edges(d1).sum()
    assert np.median(np.abs(w[check] * d1[check] - 1.0)) < 1e-3


def test_disoccluded_pixels_have_no_history() -> None:
    base = _planar_scene()
    moved = _at(base, dx=0.25)
    _, d0 = _render(_at(base))
    _, d1 = _render(moved)
    transform = tp.relative_transform(_pose(moved), _pose(_at(base)))
    w = tp.warp_inverse_depth(1.0 / d0, INTR, transform, INTR, 1.0 / d1)
    ok = np.isfinite(w) & np.isfinite(d1)
    # wherever the warp answers, it answers the surface this frame sees (no box over the wall)
    assert np.percentile(np.abs(w[ok] * d1[ok] - 1.0), 99.5) < 0.02
    # the strip of wall uncovered beside the box is among the unanswered pixels
    u1 = np.isfinite(d1) & ~np.isfinite(w)
    assert u1.sum() > 20


# ---------------------------------------------------------------------------------------------
# poses


def test_pose_problems() -> None:
    good = tp.pose_matrix([1.0, 2.0, 3.0], [0.0, 0.0, math.sin(0.3), math.cos(0.3)])
    assert tp.pose_problem(good) == ''
    assert tp.pose_problem(None) == 'no pose'
    assert tp.pose_problem(tp.pose_matrix([0, 0, 0], [0, 0, 0, 0])) == 'pose is not finite'
    nan = good.copy()
    nan[0, 3] = np.nan
    assert tp.pose_problem(nan) == 'pose is not finite'
    sheared = good.copy()
    sheared[0, 1] += 0.1
    assert tp.pose_problem(sheared) == 'pose is not a rigid transform'
    assert tp.pose_problem(np.eye(3)) == 'pose is (3, 3), not a 4x4 transform'
    t = tp.relative_transform(good, good)
    np.testing.assert_allclose(t, np.eye(4), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# the filter


def _noisy(depth: np.ndarray, rng: np.random.Generator, sigma: float = 0.03) -> np.ndarray:
    return (depth * np.exp(rng.normal(0, sigma, depth.shape))).astype(np.float32)


def _sequence(n: int, step: dict[str, float]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    base = _planar_scene()
    out = []
    for i in range(n):
        scene = _at(base, **{k: v * i for k, v in step.items()})
        rgb, depth = _render(scene)
        out.append((rgb, depth, _pose(scene)))
    return out


@pytest.mark.parametrize('step', [{}, {'dx': 0.01, 'yaw': 0.004}])
def test_fusion_cuts_noise_and_keeps_the_truth(step: dict[str, float]) -> None:
    rng = np.random.default_rng(1)
    fusion = tp.TemporalFusion()
    errors, raw = [], []
    for i, (rgb, depth, pose) in enumerate(_sequence(16, step)):
        pred = _noisy(depth, rng)
        out = fusion.update(i * DT, pred, INTR, pose, image=rgb)
        assert out.fused == (i > 0), out.reason
        assert np.array_equal(np.isnan(out.values), np.isnan(pred))   # invalid stays invalid
        if i >= 8:
            ok = _away_from_edges(depth)
            errors.append(np.std(np.log(out.values[ok] / depth[ok])))
            raw.append(np.std(np.log(pred[ok] / depth[ok])))
            assert abs(np.median(out.values[ok] / depth[ok]) - 1.0) < 0.005   # no bias
    assert np.mean(errors) < np.mean(raw) / 2.0
    assert fusion.status() == {'frames': 16, 'fused_frames': 15, 'unfused': {'started': 1}}


def test_a_moving_object_is_not_smeared() -> None:
    rng = np.random.default_rng(2)
    fusion = tp.TemporalFusion()
    frames = _sequence(6, {})
    for i, (rgb, depth, pose) in enumerate(frames):
        pred = _noisy(depth, rng, 0.01)
        if i == 5:   # something 1.5 m in front of the camera appears in a patch
            pred[30:50, 40:70] = 1.5
        out = fusion.update(i * DT, pred, INTR, pose, image=rgb)
    assert out.fused
    np.testing.assert_array_equal(out.values[30:50, 40:70], 1.5)
    assert out.history > 0.8


def test_confidence_weighs_the_prediction() -> None:
    rgb, depth, pose = _sequence(1, {})[0]
    outs = []
    for conf in (1.0, 0.05):
        fusion = tp.TemporalFusion()
        fusion.update(0.0, depth, INTR, pose, image=rgb)
        pred = (depth * 1.05).astype(np.float32)
        outs.append(fusion.update(DT, pred, INTR, pose, image=rgb,
                                  confidence=np.full(SHAPE, conf, np.float32)).values)
    ok = np.isfinite(depth)
    low, high = (np.median(o[ok] / depth[ok]) - 1.0 for o in (outs[1], outs[0]))
    assert 0.0 < low < high < 0.05


def test_inverse_depth_and_disparity_spaces() -> None:
    frames = _sequence(3, {})
    rng = np.random.default_rng(3)
    for space in ('inverse_depth', 'disparity'):
        fusion = tp.TemporalFusion()
        for i, (rgb, depth, pose) in enumerate(frames):
            inv = 1.0 / _noisy(depth, rng)
            values = inv if space == 'inverse_depth' else 0.5 * inv     # disparity: any scale
            out = fusion.update(i * DT, values, INTR, pose if space != 'disparity' else None,
                                space=space, image=rgb)
            assert out.fused == (i > 0), (space, out.reason)
            ok = np.isfinite(depth)
            assert abs(np.median(out.values[ok] / values[ok]) - 1.0) < 0.02


# ---------------------------------------------------------------------------------------------
# resets: every cause goes out unfused, counted, the input unchanged


def _started(posed: bool = True) -> tuple[tp.TemporalFusion, np.ndarray, np.ndarray,
                                          np.ndarray]:
    """Two fused frames (with poses, or a camera without poses that stands still)."""
    rgb, depth, pose = _sequence(1, {})[0]
    fusion = tp.TemporalFusion()
    given = pose if posed else None
    fusion.update(1.0, depth, INTR, given, image=rgb, scale_epoch=0)
    assert fusion.update(1.0 + DT, depth, INTR, given, image=rgb, scale_epoch=0).fused
    return fusion, rgb, depth, pose


def _shifted_pose(pose: np.ndarray, dx: float = 0.0, angle: float = 0.0) -> np.ndarray:
    out = pose.copy()
    out[0, 3] += dx
    c, s = math.cos(angle), math.sin(angle)
    out[:3, :3] = out[:3, :3] @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return out


def _nan_pose(pose: np.ndarray) -> np.ndarray:
    out = pose.copy()
    out[1, 1] = np.nan
    return out


def _sheared(pose: np.ndarray) -> np.ndarray:
    out = pose.copy()
    out[:3, 0] *= 1.2
    return out


CAUSES = {
    'time went backwards': {'stamp': 0.5},
    'stamp repeated': {'stamp': 1.0 + DT},   # the same frame again: never fused with itself
    'gap': {'stamp': 3.0},
    'calibration changed': {'intr': Intrinsics(120.0, 120.0, 63.2, 47.7, SHAPE[1], SHAPE[0])},
    'scale jump': {'epoch': 1},
    'scale jump (detected)': {'scale': 1.3},
    'pose is not finite': {'pose': _nan_pose},
    'pose is not a rigid transform': {'pose': _sheared},
    'pose missing': {'pose': None},     # after frames with poses: a TF gap
    'pose jump': {'pose': lambda p: _shifted_pose(p, dx=2.0)},
    'poor agreement': {'flip': True},    # the pose says still, the view turned upside down
    'no pose and the image moved': {'pose': None, 'moved': True, 'posed': False},
    'no pose': {'pose': None, 'image': None, 'posed': False},
}


@pytest.mark.parametrize('cause', list(CAUSES))
def test_every_reset_cause(cause: str) -> None:
    spec = CAUSES[cause]
    fusion, rgb, depth, pose = _started(spec.get('posed', True))
    new_pose = spec.get('pose', pose)
    if callable(new_pose):
        new_pose = new_pose(pose)
    image = spec.get('image', np.roll(rgb, 9, axis=1) if spec.get('moved') else rgb)
    seen = depth[::-1, ::-1] if spec.get('flip') else depth
    values = (seen * spec.get('scale', 1.0) *
              np.exp(np.random.default_rng(4).normal(0, 0.01, depth.shape))).astype(np.float32)
    out = fusion.update(spec.get('stamp', 1.0 + 2 * DT), values, spec.get('intr', INTR),
                        new_pose, image=image, scale_epoch=spec.get('epoch', 0))
    reason = cause.split(' (')[0]
    assert (out.fused, out.reason) == (False, reason)
    np.testing.assert_array_equal(out.values, values)        # unfused: the input unchanged
    assert fusion.counts[reason] == 1 and fusion.resets == 2  # + the first frame's 'started'
    # and the next good frame fuses again (after a pose problem: once the pose is back)
    again = fusion.update(spec.get('stamp', 1.0 + 2 * DT) + DT, values,
                          spec.get('intr', INTR), new_pose if new_pose is not None and not
                          tp.pose_problem(new_pose) else pose, image=image,
                          scale_epoch=spec.get('epoch', 0))
    assert np.isfinite(again.values[np.isfinite(values)]).all()


@pytest.mark.parametrize('bad', ['missing', 'nan', 'jump'])
def test_bad_poses_never_give_garbage(bad: str) -> None:
    """Along a moving sequence a bad pose makes its frame go out unfused, counted."""
    rng = np.random.default_rng(5)
    fusion = tp.TemporalFusion()
    for i, (rgb, depth, pose) in enumerate(_sequence(8, {'dx': 0.02, 'yaw': 0.01})):
        pred = _noisy(depth, rng, 0.01)
        given = pose
        if i == 5:
            given = {'missing': None, 'nan': _nan_pose(pose),
                     'jump': _shifted_pose(pose, dx=1.0)}[bad]
        out = fusion.update(i * DT, pred, INTR, given, image=rgb)
        if i == 5:
            assert not out.fused
            np.testing.assert_array_equal(out.values, pred)
        ok = np.isfinite(depth)
        assert np.percentile(np.abs(out.values[ok] / depth[ok] - 1.0), 99) < 0.2
    assert sum(fusion.counts.values()) >= 2 and fusion.counts['started'] == 1


def test_static_camera_without_pose() -> None:
    rgb, depth, _ = _sequence(1, {})[0]
    fusion = tp.TemporalFusion()
    rng = np.random.default_rng(6)
    fusion.update(0.0, _noisy(depth, rng), INTR, image=rgb)
    noisy_rgb = np.clip(rgb + rng.normal(0, 2, rgb.shape), 0, 255).astype(np.uint8)
    out = fusion.update(DT, _noisy(depth, rng), INTR, image=noisy_rgb)
    assert out.fused, out.reason


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match='noise'):
        tp.FusionOptions(noise=0.0)
    with pytest.raises(ValueError, match='min_agreement'):
        tp.FusionOptions(min_agreement=2.0)
    with pytest.raises(ValueError, match='space'):
        tp.TemporalFusion().update(0.0, np.ones(SHAPE, np.float32), INTR, space='metres')
