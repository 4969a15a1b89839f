"""The choices of the model options (device, precision, encoder), importable without torch.

The CLI (``annotool.cli``) shows them in ``--help`` and validates them before torch is imported;
``annotool.train`` resolves them. Keeping them here gives both one list to agree on.
"""

from __future__ import annotations

DEVICE_CHOICES = ("auto", "cpu", "cuda")
"""``auto``: CUDA when a GPU is visible, else the CPU (``cuda:N`` is accepted too)."""
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
"""``auto``: bf16 on GPUs that support it (fp16 on older ones) and on CPUs with AMX, else fp32."""
ENCODER_CHOICES = ("unet", "resnet18", "resnet34")
"""``unet``: the plain UNet encoder, trained from scratch. ``resnet18``/``resnet34``: a
ResNet encoder under a UNet decoder, which can start from torchvision's ImageNet weights."""
PRETRAINED_ENCODERS = ("resnet18", "resnet34")
"""Encoders for which ImageNet weights exist (``--pretrained``, ``--encoder-weights``)."""
