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

"""Procedural RGB-D scenes with exact depth (the ``depth-anything-ros synth`` dataset).

A pinhole camera casts one ray per pixel (vectorised numpy, no per-pixel Python) into a scene
of textured rectangles, boxes, spheres and vertical cylinders; the nearest hit gives the planar
depth exactly (ray directions have camera-frame z = 1, so the hit parameter *is* z). Surfaces
carry procedural textures (checker, stripes, value noise, window grids) under Lambertian
shading with a key light and, outdoors, haze — so that monocular cues exist.

* ``indoor``: rooms 3-7 m wide, 4-9 m deep (walls, floor, ceiling, furniture-like boxes,
  balls, cylinders); depths about 0.3-10 m.
* ``outdoor``: streets with facades, poles, parked cars and sky; depths about 2-80 m; the sky
  has no depth (written as invalid).

This is test and demo data: it checks that the training pipeline learns, it is no substitute
for real recordings of the robot's own camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import logging
import math
from pathlib import Path

import numpy as np
from tqdm import tqdm

from depth_anything_ros.core.geometry import unproject
from depth_anything_ros.errors import InvalidInputError
from depth_anything_ros.training.datasets import GenericWriter

LOG = logging.getLogger(__name__)
EPS = 1e-6

# ---------------------------------------------------------------------------------------------
# camera and rays


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics in pixels and image size."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> Camera:
        """Square pixels, principal point at the image centre, horizontal FOV in degrees."""
        f = width / (2.0 * math.tan(math.radians(hfov_deg) / 2.0))
        return cls(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0)

    def matrix(self) -> np.ndarray:
        """K (3, 3) float64."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def rays(self) -> np.ndarray:
        """Camera-frame ray directions (H*W, 3) with z = 1 (x right, y down, z forward)."""
        x, y = unproject(self.matrix(), np.arange(self.width)[None, :],
                         np.arange(self.height)[:, None])                     # (H, W) each
        return np.stack([x, y, np.ones_like(x)], -1).reshape(-1, 3)


def camera_to_world(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """Rotation (3, 3) from the optical camera frame to the y-up world frame (radians).

    Yaw turns left/right about world y, pitch tilts up (+) / down (-), roll about the view axis.
    """
    flip = np.diag([1.0, -1.0, 1.0])                       # optical y down -> world y up
    cr, sr = math.cos(roll), math.sin(roll)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    r_roll = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    r_pitch = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])   # +pitch: forward ray goes up
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return r_yaw @ r_pitch @ r_roll @ flip


# The synthetic world (x right, y up, z forward) is left-handed; poses are given in a
# right-handed, z-up ``odom`` frame (x forward, y left, z up, REP 103) instead.
WORLD_TO_ODOM = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def camera_pose(origin: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Return ``T_odom_camera`` (4x4, rigid) of a camera at ``origin`` with ``rotation``.

    ``rotation`` maps the optical frame into the world (:func:`camera_to_world`); the result
    maps optical-frame points into ``odom`` (see :data:`WORLD_TO_ODOM`).
    """
    pose = np.eye(4)
    pose[:3, :3] = WORLD_TO_ODOM @ rotation
    pose[:3, 3] = WORLD_TO_ODOM @ origin
    return pose


# ---------------------------------------------------------------------------------------------
# materials: procedural textures on surface coordinates (metres)


def _hash2(i: np.ndarray, j: np.ndarray, seed: float) -> np.ndarray:
    """Pseudo-random values in [0, 1) for integer lattice points (vectorised)."""
    x = np.sin(i * 12.9898 + j * 78.233 + seed * 37.719) * 43758.5453
    return x - np.floor(x)


def value_noise(u: np.ndarray, v: np.ndarray, scale: float, seed: float,
                octaves: int = 3) -> np.ndarray:
    """Smooth fractal value noise in [0, 1] at surface coordinates ``u, v`` (M,)."""
    total = np.zeros_like(u)
    amp, norm = 1.0, 0.0
    for o in range(octaves):
        x, y = u / scale * 2 ** o, v / scale * 2 ** o
        i, j = np.floor(x), np.floor(y)
        fx, fy = x - i, y - j
        fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)     # smoothstep
        s = seed + 17.0 * o
        a, b = _hash2(i, j, s), _hash2(i + 1, j, s)
        c, d = _hash2(i, j + 1, s), _hash2(i + 1, j + 1, s)
        total += amp * ((a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy)
        norm += amp
        amp *= 0.5
    return total / norm


@dataclass
class Material:
    """Texture kind (checker | stripes | noise | windows | plain), two colours, a scale."""

    kind: str
    color_a: np.ndarray
    color_b: np.ndarray
    scale: float = 0.5
    seed: float = 0.0

    def albedo(self, uv: np.ndarray) -> np.ndarray:
        """RGB albedo (M, 3) in [0, 1] for surface coordinates ``uv`` (M, 2) in metres."""
        u, v = uv[:, 0], uv[:, 1]
        grain = value_noise(u, v, self.scale * 0.7, self.seed + 3.0, octaves=2)
        if self.kind == 'checker':
            m = (np.floor(u / self.scale) + np.floor(v / self.scale)) % 2
        elif self.kind == 'stripes':
            m = 0.5 + 0.5 * np.sin(2 * np.pi * u / self.scale + 3.0 * grain)
        elif self.kind == 'noise':
            m = value_noise(u, v, self.scale, self.seed)
        elif self.kind == 'windows':
            fu, fv = np.mod(u / self.scale, 1.0), np.mod(v / (self.scale * 1.2), 1.0)
            m = ((fu > 0.25) & (fu < 0.75) & (fv > 0.3) & (fv < 0.8)).astype(np.float64)
        else:
            m = np.zeros_like(u)
        m = np.clip(m * 0.85 + 0.15 * grain, 0, 1)[:, None]
        return self.color_a * (1 - m) + self.color_b * m


def random_material(rng: np.random.Generator, kinds: tuple[str, ...],
                    scale: tuple[float, float] = (0.2, 0.8)) -> Material:
    base = rng.uniform(0.15, 0.9, 3)
    other = np.clip(base * rng.uniform(0.3, 0.8) + rng.uniform(-0.1, 0.1, 3), 0.02, 1)
    return Material(str(rng.choice(kinds)), base, other, float(rng.uniform(*scale)),
                    float(rng.uniform(0, 100)))


# ---------------------------------------------------------------------------------------------
# primitives: intersect(o, d) -> t (N,) (inf = miss); surface(p, d, idx) -> normal, uv


@dataclass
class Rect:
    """A finite planar rectangle: centre, unit axes ``eu``, ``ev`` and half sizes (metres)."""

    center: np.ndarray
    eu: np.ndarray
    ev: np.ndarray
    half_u: float
    half_v: float
    material: Material

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.eu, self.ev)

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        n = self.normal
        denom = d @ n                                           # (N,)
        with np.errstate(divide='ignore', invalid='ignore'):
            t = ((self.center - o) @ n) / denom
        p = o + t[:, None] * d - self.center                    # (N, 3)
        ok = (np.abs(denom) > EPS) & (t > EPS) & (np.abs(p @ self.eu) <= self.half_u) & \
            (np.abs(p @ self.ev) <= self.half_v)
        return np.where(ok, t, np.inf)

    def surface(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = p - self.center
        normal = np.broadcast_to(self.normal, p.shape)
        return normal, np.stack([q @ self.eu, q @ self.ev], -1)


@dataclass
class Box:
    """A box standing on ``y = bottom``: centre (x, z), half sizes, yaw about world y."""

    center: np.ndarray          # (3,) world centre
    half: np.ndarray            # (3,) half sizes along the box's own x, y, z
    yaw: float
    material: Material

    def _rot(self) -> np.ndarray:
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])     # box -> world

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        r = self._rot()
        lo = (o - self.center) @ r                              # (3,) origin in box frame
        ld = d @ r                                              # (N, 3)
        with np.errstate(divide='ignore', invalid='ignore'):
            t1 = (-self.half - lo) / ld
            t2 = (self.half - lo) / ld
        t1 = np.where(np.isnan(t1), -np.inf, t1)
        t2 = np.where(np.isnan(t2), np.inf, t2)
        near = np.minimum(t1, t2).max(-1)
        far = np.maximum(t1, t2).min(-1)
        ok = (near <= far) & (near > EPS)                       # camera never inside a box
        return np.where(ok, near, np.inf)

    def surface(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = self._rot()
        q = (p - self.center) @ r                               # (M, 3) box frame
        rel = np.abs(q) / self.half                             # face: the coordinate at 1
        axis = rel.argmax(-1)                                   # (M,)
        normal_local = np.zeros_like(q)
        normal_local[np.arange(len(q)), axis] = np.sign(q[np.arange(len(q)), axis])
        # uv: the two coordinates in the face plane
        other = np.array([[1, 2], [0, 2], [0, 1]])[axis]        # (M, 2)
        uv = np.take_along_axis(q, other, -1) + self.half[other]
        return normal_local @ r.T, uv


@dataclass
class Sphere:
    center: np.ndarray
    radius: float
    material: Material

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        oc = o - self.center
        a = np.einsum('ij,ij->i', d, d)
        b = 2 * d @ oc
        c = oc @ oc - self.radius ** 2
        disc = b * b - 4 * a * c
        sq = np.sqrt(np.maximum(disc, 0))
        t = (-b - sq) / (2 * a)
        return np.where((disc >= 0) & (t > EPS), t, np.inf)

    def surface(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = (p - self.center) / self.radius
        uv = np.stack([np.arctan2(n[:, 0], n[:, 2]) * self.radius,
                       np.arcsin(np.clip(n[:, 1], -1, 1)) * self.radius], -1)
        return n, uv


@dataclass
class Cylinder:
    """Vertical cylinder (axis along world y) from ``y0`` to ``y1`` with a top cap."""

    x: float
    z: float
    radius: float
    y0: float
    y1: float
    material: Material

    def _side(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        ox, oz = o[0] - self.x, o[2] - self.z
        a = d[:, 0] ** 2 + d[:, 2] ** 2
        b = 2 * (d[:, 0] * ox + d[:, 2] * oz)
        c = ox * ox + oz * oz - self.radius ** 2
        disc = b * b - 4 * a * c
        with np.errstate(divide='ignore', invalid='ignore'):
            t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        y = o[1] + t * d[:, 1]
        ok = (disc >= 0) & (a > EPS) & (t > EPS) & (y >= self.y0) & (y <= self.y1)
        return np.where(ok, t, np.inf)

    def _cap(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        with np.errstate(divide='ignore', invalid='ignore'):
            t = (self.y1 - o[1]) / d[:, 1]
            px, pz = o[0] + t * d[:, 0] - self.x, o[2] + t * d[:, 2] - self.z
        ok = (np.abs(d[:, 1]) > EPS) & (t > EPS) & (px * px + pz * pz <= self.radius ** 2)
        return np.where(ok, t, np.inf)

    def intersect(self, o: np.ndarray, d: np.ndarray) -> np.ndarray:
        return np.minimum(self._side(o, d), self._cap(o, d))

    def surface(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rx, rz = p[:, 0] - self.x, p[:, 2] - self.z
        on_cap = p[:, 1] >= self.y1 - 1e-6
        n = np.stack([rx, np.zeros_like(rx), rz], -1) / self.radius
        n[on_cap] = (0.0, 1.0, 0.0)
        uv = np.stack([np.arctan2(rx, rz) * self.radius, p[:, 1]], -1)
        uv[on_cap] = np.stack([rx, rz], -1)[on_cap]
        return n, uv


Primitive = Rect | Box | Sphere | Cylinder


@dataclass
class Scene:
    """Primitives, camera pose (world), lighting and atmosphere."""

    primitives: list[Primitive]
    origin: np.ndarray                      # camera centre, world metres
    rotation: np.ndarray                    # camera -> world (3, 3)
    light_dir: np.ndarray                   # unit vector towards the key light (world)
    ambient: float = 0.35
    point_light: np.ndarray | None = None   # indoor lamp position (world)
    haze: float = 0.0                       # extinction per metre (outdoor aerial perspective)
    sky_top: np.ndarray = field(default_factory=lambda: np.array([0.35, 0.55, 0.9]))
    sky_horizon: np.ndarray = field(default_factory=lambda: np.array([0.8, 0.85, 0.9]))


def cast(scene: Scene, origin: np.ndarray, directions: np.ndarray
         ) -> tuple[np.ndarray, np.ndarray]:
    """Return the nearest hit of rays ``origin + t * directions`` (world, (N, 3)): t, primitive.

    ``t`` is inf on a miss, in units of each direction's length (metres along unit directions).
    """
    t_all = np.stack([p.intersect(origin, directions) for p in scene.primitives])   # (P, N)
    hit_id = t_all.argmin(0)                                # (N,)
    return t_all[hit_id, np.arange(len(directions))], hit_id


def camera_path(scene: Scene, num: int, *, static: int = 30, moving: int = 30,
                pan_rad: float = 0.25, sway_m: float = 0.2) -> list[tuple[Scene, bool]]:
    """Return a camera trajectory through ``scene``: ``num`` (scene at the pose, moving) pairs.

    The camera stands still for ``static`` frames, then pans (yaw, up to ``pan_rad``) and
    sways sideways and up (up to ``sway_m``) for ``moving`` frames, and so on; it stays near its
    start so it never enters the furniture. Use ``render`` on each pose.
    """
    out = []
    phase = 0.0
    period = static + moving
    for i in range(num):
        moving_now = i % period >= static
        if moving_now:
            phase += 1.0 / moving
        a = math.sin(math.pi * phase)                       # 0 -> 1 -> 0 -> -1 ...
        c, s = math.cos(pan_rad * a), math.sin(pan_rad * a)
        rot = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]) @ scene.rotation   # yaw in world
        origin = scene.origin + np.array([sway_m * a, 0.5 * sway_m * abs(a), 0.0])
        out.append((replace(scene, origin=origin, rotation=rot), moving_now))
    return out


def render(scene: Scene, camera: Camera, rng: np.random.Generator | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast ``scene``: RGB uint8 (H, W, 3) and planar depth float32 (H, W), inf = no hit."""
    d_cam = camera.rays()                                   # (N, 3), z = 1
    d = d_cam @ scene.rotation.T                            # (N, 3) world directions
    o = scene.origin
    t, hit_id = cast(scene, o, d)                           # t == camera z
    color = np.zeros((len(d), 3))
    hit = np.isfinite(t)
    p_world = o + t[:, None] * d                            # (N, 3)
    unit_d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    for k, prim in enumerate(scene.primitives):
        sel = np.nonzero(hit & (hit_id == k))[0]
        if sel.size == 0:
            continue
        normal, uv = prim.surface(p_world[sel])
        normal = np.array(normal, dtype=np.float64)
        facing = np.einsum('ij,ij->i', normal, unit_d[sel]) > 0
        normal[facing] *= -1                                # shade the side the camera sees
        shade = scene.ambient + (1 - scene.ambient) * np.clip(normal @ scene.light_dir, 0, 1)
        if scene.point_light is not None:
            to_l = scene.point_light - p_world[sel]
            dist = np.linalg.norm(to_l, axis=-1)
            lamb = np.clip(np.einsum('ij,ij->i', normal, to_l) / dist, 0, 1)
            shade = 0.6 * shade + 0.9 * lamb / (1 + (dist / 3.0) ** 2)
        color[sel] = prim.material.albedo(uv) * shade[:, None]
    # sky: vertical gradient by ray elevation
    elev = np.clip(unit_d[:, 1], 0, 1)[:, None]
    sky = scene.sky_horizon * (1 - elev) + scene.sky_top * elev
    if scene.haze > 0:
        dist = np.where(hit, t * np.linalg.norm(d, axis=-1), 0)
        fog = np.exp(-scene.haze * dist)[:, None]
        color = color * fog + scene.sky_horizon * (1 - fog)
    color[~hit] = sky[~hit]
    if rng is not None:
        color += rng.normal(0, 0.01, color.shape)           # sensor noise
    rgb = np.clip(color, 0, 1) ** (1 / 1.2)                 # mild gamma
    rgb = (rgb * 255 + 0.5).astype(np.uint8).reshape(camera.height, camera.width, 3)
    depth = np.where(hit, t, np.inf).astype(np.float32).reshape(camera.height, camera.width)
    return rgb, depth


# ---------------------------------------------------------------------------------------------
# scene generators


def _axes(normal: str) -> tuple[np.ndarray, np.ndarray]:
    e = np.eye(3)
    return {'x': (e[2], e[1]), 'y': (e[0], e[2]), 'z': (e[0], e[1])}[normal]


def _rect(center: tuple[float, float, float], normal: str, half_u: float, half_v: float,
          material: Material) -> Rect:
    eu, ev = _axes(normal)
    return Rect(np.array(center, float), eu, ev, half_u, half_v, material)


def random_indoor_scene(rng: np.random.Generator) -> Scene:
    """Return a room with floor, ceiling, four walls and 2-6 furniture-like objects."""
    w, dz, h = rng.uniform(3.0, 7.0), rng.uniform(4.0, 9.0), rng.uniform(2.4, 3.2)
    z0 = -1.0                                           # back wall behind the camera
    zc, hd = (z0 + dz) / 2, (dz - z0) / 2
    floor_m = random_material(rng, ('checker', 'stripes'), (0.3, 0.8))
    wall_m = random_material(rng, ('noise', 'stripes', 'plain'), (0.3, 1.2))
    prims: list[Primitive] = [
        _rect((0, 0, zc), 'y', w / 2, hd, floor_m),
        _rect((0, h, zc), 'y', w / 2, hd, random_material(rng, ('plain', 'noise'))),
        _rect((-w / 2, h / 2, zc), 'x', hd, h / 2, wall_m),
        _rect((w / 2, h / 2, zc), 'x', hd, h / 2, wall_m),
        _rect((0, h / 2, dz), 'z', w / 2, h / 2,
              random_material(rng, ('noise', 'stripes', 'checker'), (0.3, 1.2))),
        _rect((0, h / 2, z0), 'z', w / 2, h / 2, wall_m),
    ]
    cam_x = rng.uniform(-w / 4, w / 4)
    cam_z = rng.uniform(0.0, 0.6)
    kinds = ('checker', 'stripes', 'noise', 'plain')
    for _ in range(int(rng.integers(2, 7))):
        half = np.array([rng.uniform(0.2, 0.75), rng.uniform(0.2, 0.6), rng.uniform(0.2, 0.6)])
        x = rng.uniform(-w / 2 + 0.3, w / 2 - 0.3)
        z = rng.uniform(cam_z + 1.2, dz - 0.4)
        prims.append(Box(np.array([x, half[1], z]), half, float(rng.uniform(-0.6, 0.6)),
                         random_material(rng, kinds, (0.1, 0.4))))
    for _ in range(int(rng.integers(0, 3))):
        r = rng.uniform(0.12, 0.35)
        prims.append(Sphere(np.array([rng.uniform(-w / 2 + r, w / 2 - r), r,
                                      rng.uniform(cam_z + 1.0, dz - r)]), r,
                            random_material(rng, kinds, (0.05, 0.2))))
    for _ in range(int(rng.integers(0, 3))):
        r = rng.uniform(0.08, 0.3)
        prims.append(Cylinder(rng.uniform(-w / 2 + r, w / 2 - r), rng.uniform(cam_z + 1.0, dz - r),
                              r, 0.0, rng.uniform(0.4, 1.9), random_material(rng, kinds)))
    origin = np.array([cam_x, rng.uniform(1.0, 1.7), cam_z])
    rot = camera_to_world(rng.uniform(-0.4, 0.4), rng.uniform(-0.25, 0.08), rng.normal(0, 0.02))
    light = np.array([rng.uniform(-0.5, 0.5), 1.0, rng.uniform(-0.8, 0.2)])
    lamp = np.array([rng.uniform(-w / 3, w / 3), h - 0.2, rng.uniform(0.5, dz - 0.5)])
    return Scene(prims, origin, rot, light / np.linalg.norm(light), ambient=0.3,
                 point_light=lamp)


def random_outdoor_scene(rng: np.random.Generator) -> Scene:
    """Return a street: ground, facades on both sides and at the end, poles, cars, sky."""
    street = rng.uniform(8.0, 16.0)
    length = rng.uniform(60.0, 78.0)
    ground_m = random_material(rng, ('noise',), (0.5, 2.0))
    ground_m.color_a = np.array([0.3, 0.3, 0.32]) * rng.uniform(0.7, 1.3)
    prims: list[Primitive] = [_rect((0, 0, length / 2 - 5), 'y', 200.0, length / 2 + 5,
                                    ground_m)]
    for side in (-1, 1):
        z = -10.0
        while z < length:
            size = rng.uniform(8.0, 20.0)
            height = rng.uniform(6.0, 25.0)
            setback = rng.uniform(0.0, 3.0)
            half = np.array([5.0, height / 2, size / 2 - 0.2])
            x = side * (street / 2 + setback + half[0])
            prims.append(Box(np.array([x, height / 2, z + size / 2]), half, 0.0,
                             random_material(rng, ('windows', 'noise', 'checker'), (1.5, 3.5))))
            z += size
    end_h = rng.uniform(10.0, 30.0)
    prims.append(Box(np.array([0.0, end_h / 2, length + 5]), np.array([street, end_h / 2, 5]),
                     0.0, random_material(rng, ('windows', 'noise'), (1.5, 3.5))))
    pole_m = random_material(rng, ('plain', 'stripes'), (0.3, 0.6))
    for side in (-1, 1):
        z = rng.uniform(3.0, 10.0)
        while z < length - 5:
            prims.append(Cylinder(side * (street / 2 - 0.8), z, rng.uniform(0.08, 0.16), 0.0,
                                  rng.uniform(4.0, 7.0), pole_m))
            z += rng.uniform(9.0, 16.0)
    for _ in range(int(rng.integers(1, 6))):
        side = rng.choice([-1, 1])
        half = np.array([0.9, 0.75, 2.1])
        prims.append(Box(np.array([side * street / 4 + rng.normal(0, 0.3), 0.75,
                                   rng.uniform(6.0, length - 8)]), half,
                         float(rng.normal(0, 0.05)), random_material(rng, ('plain', 'noise'))))
    origin = np.array([rng.uniform(-1.0, 1.0), rng.uniform(1.4, 2.0), 0.0])
    rot = camera_to_world(rng.uniform(-0.15, 0.15), rng.uniform(-0.06, 0.04), rng.normal(0, 0.01))
    sun = np.array([rng.uniform(-1, 1), rng.uniform(0.5, 1.2), rng.uniform(-1, 0.5)])
    return Scene(prims, origin, rot, sun / np.linalg.norm(sun), ambient=0.4,
                 haze=rng.uniform(0.005, 0.02))


SCENES = {'indoor': random_indoor_scene, 'outdoor': random_outdoor_scene}
HFOV_DEG = 65.0
# depth PNG scale per scene: mm indoors (max 65 m); 1/256 m outdoors (max 256 m, like KITTI)
DEPTH_SCALE = {'indoor': 1e-3, 'outdoor': 1 / 256}
MAX_DEPTH = {'indoor': 10.0, 'outdoor': 80.0}


def render_sample(scene: str, index: int, seed: int, size: tuple[int, int] = (240, 320)
                  ) -> tuple[np.ndarray, np.ndarray, Camera]:
    """Sample ``index`` of the dataset ``(scene, seed)``: RGB, depth (inf = sky), camera.

    Depends only on ``(scene, seed, index, size)``, never on how many samples are generated.
    """
    if scene not in SCENES:
        raise InvalidInputError(f'unknown scene {scene!r}; choose from {", ".join(SCENES)}')
    rng = np.random.default_rng([seed, index, 0 if scene == 'indoor' else 1])
    camera = Camera.from_fov(size[1], size[0], HFOV_DEG)
    rgb, depth = render(SCENES[scene](rng), camera, rng)
    depth[depth > MAX_DEPTH[scene] * 1.2] = np.inf   # beyond the scene's range: invalid
    return rgb, depth, camera


def generate(out: str | Path, scene: str = 'indoor', num: int = 100, seed: int = 0,
             size: tuple[int, int] = (240, 320), val_fraction: float = 0.2,
             depth_format: str = 'png16', progress: bool = True) -> Path:
    """Write ``num`` samples in the generic format (every 1/val_fraction-th goes to val)."""
    if num < 1:
        raise InvalidInputError(f'--num must be >= 1, got {num}')
    if size[0] < 14 or size[1] < 14:
        raise InvalidInputError(f'--size {size[0]}x{size[1]} is too small; use at least 14x14')
    camera = Camera.from_fov(size[1], size[0], HFOV_DEG)
    writer = GenericWriter(out, depth_scale=DEPTH_SCALE[scene], depth_format=depth_format,
                           camera={'fx': camera.fx, 'fy': camera.fy, 'cx': camera.cx,
                                   'cy': camera.cy},
                           extra_meta={'source': f'depth-anything-ros synth --scene {scene}',
                                       'seed': seed, 'max_depth': MAX_DEPTH[scene],
                                       'note': 'procedural test/demo data, not real imagery'})
    every = max(1, round(1 / val_fraction)) if val_fraction > 0 else 0
    for i in tqdm(range(num), desc=f'synth {scene}', unit='img', disable=not progress):
        rgb, depth, _ = render_sample(scene, i, seed, size)
        split = 'val' if every and i % every == every - 1 else 'train'
        writer.add(f'{scene}_{i:06d}', rgb, depth, split)
    root = writer.close()
    LOG.info('wrote %d %s samples to %s', num, scene, root)
    return root

