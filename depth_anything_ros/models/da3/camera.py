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

"""Camera encoder and decoder of the any-view Depth Anything 3 networks.

A camera is coded as 9 numbers: the camera-to-world translation (3), its rotation as a
unit quaternion (x, y, z, w with w >= 0) and the vertical and horizontal fields of view
(radians) at the network input. The encoder turns the poses of all views (world-to-camera
4x4 extrinsics, 3x3 intrinsics in input pixels) into one token per view through a small
transformer across views; the decoder turns each view's camera token into a code again and
so into predicted extrinsics (world-to-camera, 3x4) and intrinsics.
"""

from __future__ import annotations

import torch
from torch import nn, Tensor

from depth_anything_ros.models.da2.dinov2 import Mlp

from .vit import Block

FOV_FLOOR = 1e-6  # tan(fov / 2) floor when a code turns back into focal lengths


def invert_rigid(m: Tensor) -> Tensor:
    """Inverse of rigid transforms (..., 3|4, 4): [R | t] -> [R^T | -R^T t] (bottom row kept)."""
    r, t = m[..., :3, :3], m[..., :3, 3:]
    top = torch.cat([r.mT, -r.mT @ t], dim=-1)
    return torch.cat([top, m[..., 3:, :]], dim=-2)


def rotation_to_quaternion(r: Tensor) -> Tensor:
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4) as x, y, z, w with w >= 0.

    Of the four ways to read the quaternion off the matrix, the one dividing by the largest
    component is taken (numerically the best conditioned).
    """
    m = r.reshape(*r.shape[:-2], 9)
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m.unbind(-1)
    four = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22,
                        1 - m00 - m11 + m22], dim=-1)
    mag = torch.where(four > 0, four.clamp(min=0).sqrt(), torch.zeros_like(four))  # 2|q_i|
    # Candidate (w, x, y, z) quaternions, each scaled by one of the magnitudes.
    cands = torch.stack([
        torch.stack([mag[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], dim=-1),
        torch.stack([m21 - m12, mag[..., 1] ** 2, m10 + m01, m02 + m20], dim=-1),
        torch.stack([m02 - m20, m10 + m01, mag[..., 2] ** 2, m12 + m21], dim=-1),
        torch.stack([m10 - m01, m20 + m02, m21 + m12, mag[..., 3] ** 2], dim=-1),
    ], dim=-2)  # (..., 4, 4)
    cands = cands / (2.0 * mag[..., None].clamp(min=0.1))
    best = mag.argmax(dim=-1)  # (...,)
    wxyz = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4))[..., 0, :]
    xyzw = torch.cat([wxyz[..., 1:], wxyz[..., :1]], dim=-1)
    return torch.where(xyzw[..., 3:] < 0, -xyzw, xyzw)


def quaternion_to_rotation(q: Tensor) -> Tensor:
    """Quaternions (..., 4) as x, y, z, w (any norm) -> rotation matrices (..., 3, 3)."""
    i, j, k, r = q.unbind(-1)
    s = 2.0 / (q * q).sum(-1)
    rows = (1 - s * (j * j + k * k), s * (i * j - k * r), s * (i * k + j * r),
            s * (i * j + k * r), 1 - s * (i * i + k * k), s * (j * k - i * r),
            s * (i * k - j * r), s * (j * k + i * r), 1 - s * (i * i + j * j))
    return torch.stack(rows, -1).reshape(*q.shape[:-1], 3, 3)


def encode_cameras(extrinsics: Tensor, intrinsics: Tensor, height: int, width: int) -> Tensor:
    """World-to-camera (B, S, 4, 4) + intrinsics (B, S, 3, 3) -> codes (B, S, 9) float32."""
    c2w = invert_rigid(extrinsics)
    fov_h = 2 * torch.atan((height / 2) / intrinsics[..., 1, 1])
    fov_w = 2 * torch.atan((width / 2) / intrinsics[..., 0, 0])
    return torch.cat([c2w[..., :3, 3], rotation_to_quaternion(c2w[..., :3, :3]),
                      fov_h[..., None], fov_w[..., None]], dim=-1).float()


def decode_cameras(code: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Codes (B, S, 9) -> world-to-camera extrinsics (B, S, 3, 4), intrinsics (B, S, 3, 3).

    The principal point is the input's centre; the focal lengths follow from the fields of view.
    """
    c2w = torch.cat([quaternion_to_rotation(code[..., 3:7]), code[..., :3, None]], dim=-1)
    fy = (height / 2.0) / torch.clamp(torch.tan(code[..., 7] / 2.0), FOV_FLOOR)
    fx = (width / 2.0) / torch.clamp(torch.tan(code[..., 8] / 2.0), FOV_FLOOR)
    k = torch.zeros(*code.shape[:2], 3, 3, device=code.device)
    k[..., 0, 0], k[..., 1, 1] = fx, fy
    k[..., 0, 2], k[..., 1, 2], k[..., 2, 2] = width / 2, height / 2, 1.0
    return invert_rigid(c2w), k


class PoseMlp(Mlp):
    """Linear -> GELU -> Linear from 9 numbers to ``dim`` (official ``pose_branch``)."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim, dim // 2)
        self.fc1 = nn.Linear(9, dim // 2)


class CameraEncoder(nn.Module):
    """Camera codes of all views -> one token per view (official ``cam_enc.*``)."""

    def __init__(self, dim: int, num_heads: int = 16, depth: int = 4) -> None:
        super().__init__()
        self.pose_branch = PoseMlp(dim)
        self.token_norm = nn.LayerNorm(dim)
        self.trunk = nn.Sequential(*(Block(dim, num_heads, Mlp(dim, 4 * dim), eps=1e-5)
                                     for _ in range(depth)))
        self.trunk_norm = nn.LayerNorm(dim)

    def forward(self, extrinsics: Tensor, intrinsics: Tensor, height: int,
                width: int) -> Tensor:
        """(B, S, 4, 4) world-to-camera, (B, S, 3, 3) -> tokens (B, S, dim)."""
        x = self.token_norm(self.pose_branch(encode_cameras(extrinsics, intrinsics, height,
                                                            width)))
        return self.trunk_norm(self.trunk(x))


class CameraDecoder(nn.Module):
    """Camera token (B, S, C) -> camera code (B, S, 9) (official ``cam_dec.*``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim),
                                      nn.ReLU())
        self.fc_t = nn.Linear(dim, 3)
        self.fc_qvec = nn.Linear(dim, 4)
        self.fc_fov = nn.Sequential(nn.Linear(dim, 2), nn.ReLU())

    def forward(self, token: Tensor) -> Tensor:
        b, s = token.shape[:2]
        x = self.backbone(token.reshape(b * s, -1)).float()
        return torch.cat([self.fc_t(x), self.fc_qvec(x), self.fc_fov(x)], dim=-1).reshape(b, s, 9)
