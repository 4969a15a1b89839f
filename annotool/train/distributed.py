"""DistributedDataParallel across processes started by ``torchrun``.

``torchrun --nproc_per_node N -m annotool train ...`` sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` in each process; a plain ``annotool train`` runs as the only rank.
Rank 0 alone writes files and reports progress; metrics are summed over all ranks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context_from_environment() -> DistributedContext:
    """The rank and world size that torchrun put in the environment (single process if none)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    return DistributedContext(
        rank=int(os.environ["RANK"]),
        world_size=world_size,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def process_group_backend(device: torch.device) -> str:
    """gloo on CPUs; on GPUs NCCL for the gradients, with gloo beside it for the few CPU
    tensors the loop sums across ranks (losses, confusion matrices, the time flag),
    which NCCL alone refuses."""
    return "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"


def start(context: DistributedContext, device: torch.device) -> torch.device:
    """Join the process group (see :func:`process_group_backend`); returns this rank's
    device."""
    if not context.is_distributed:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(
            backend=process_group_backend(device),
            rank=context.rank,
            world_size=context.world_size,
        )
    return device


def wait_for_all(context: DistributedContext) -> None:
    """Block until every rank gets here (nothing to wait for when running alone)."""
    if context.is_distributed:
        dist.barrier()


def stop(context: DistributedContext) -> None:
    if context.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


def sum_across_ranks(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """``values`` summed elementwise over all ranks (unchanged when running alone)."""
    if context.is_distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values
