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

"""torchrun / DDP helpers: one process per GPU when started by torchrun, else plain.

``torchrun --nproc_per_node=N -m depth_anything_ros train ...`` sets ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE``; :func:`init_distributed` reads them, joins the process group
(NCCL on CUDA, Gloo on CPU) and pins the local GPU. Without them everything is a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass
import multiprocessing
import os

import torch
import torch.distributed as dist

from depth_anything_ros.backends.devices import resolve_device


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job (defaults: a single process)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs, checkpoints and exports."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_dist_info() -> DistInfo:
    """Read the torchrun environment (``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``)."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ['RANK']), int(os.environ.get('LOCAL_RANK', '0')), world)


def init_distributed(device: str = 'auto') -> tuple[DistInfo, torch.device]:
    """Join the process group when started by torchrun; return (info, this process's device).

    ``device``: auto | cpu | cuda | cuda:N | mps. Under torchrun with CUDA, each process gets
    ``cuda:LOCAL_RANK``.
    """
    info = env_dist_info()
    dev = resolve_device(device)   # one rule for names and availability
    use_cuda = dev.type == 'cuda'
    if info.enabled:
        if use_cuda:
            torch.cuda.set_device(info.local_rank)
        if not dist.is_initialized():
            dist.init_process_group(backend='nccl' if use_cuda else 'gloo')
        dev = torch.device('cuda', info.local_rank) if use_cuda else dev
    return info, dev


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over all processes (returns ``t`` unchanged in a single process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return t
    backend = dist.get_backend()
    dev = torch.device('cuda', torch.cuda.current_device()) if backend == 'nccl' else 'cpu'
    # NCCL has no float64 reduction on some builds: use float64 only on gloo
    work = t.to(dev, torch.float64 if backend != 'nccl' else torch.float32)
    dist.all_reduce(work, op=dist.ReduceOp.SUM)
    return work.to(t.device, t.dtype)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def loader_context(num_workers: int) -> str | None:
    """Return the multiprocessing start method for DataLoader workers (None: no workers).

    ``forkserver`` rather than the Linux default ``fork``: forking a process that already runs
    threads (DDS, OpenVINO/oneDNN pools, CUDA) can deadlock or crash the child; forkserver
    workers start from a clean single-threaded server instead.
    """
    if num_workers <= 0:
        return None
    return 'forkserver' if 'forkserver' in multiprocessing.get_all_start_methods() else 'spawn'
