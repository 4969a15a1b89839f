"""The choices of the model options (device, precision, encoder), importable without torch.

The CLI (``annotool.cli``) shows them in ``--help`` and validates them before torch is
imported; ``annotool.train`` resolves them. Keeping them here gives both one list to
agree on, and :data:`ENCODERS` is the one table of encoders: every question about an
encoder (which model family builds it, whether ImageNet weights exist, how inputs are
normalized for them) is answered by looking it up there.
"""

from __future__ import annotations

from dataclasses import dataclass

DEVICE_CHOICES = ("auto", "cpu", "cuda")
"""``auto``: CUDA when a GPU is visible, else the CPU (``cuda:N`` is accepted too)."""
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
"""``auto``: the faster of fp32 and bf16 (fp16 on GPUs without bf16), measured (see
``annotool.train.precision``)."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""The RGB mean and std torchvision's ImageNet weights were trained with."""
TORCHVISION_WEIGHTS_URL = "https://download.pytorch.org/models/"


@dataclass(frozen=True)
class Encoder:
    """One ``--encoder``: what builds it and what its pretrained weights need.

    ``resnet_blocks`` is None for the plain UNet, else the BasicBlocks per stage of the
    ResNet under a UNet decoder (He et al. 2016, table 1). ``imagenet_weights`` is the
    file name of torchvision's ImageNet-1k weights (``IMAGENET1K_V1``; the name carries a
    SHA-256 prefix that ``torch.hub`` checks), None when the encoder trains from scratch.
    """

    name: str
    resnet_blocks: tuple[int, int, int, int] | None = None
    imagenet_weights: str | None = None

    @property
    def is_resnet(self) -> bool:
        return self.resnet_blocks is not None

    @property
    def has_imagenet_weights(self) -> bool:
        return self.imagenet_weights is not None

    @property
    def imagenet_url(self) -> str | None:
        if self.imagenet_weights is None:
            return None
        return TORCHVISION_WEIGHTS_URL + self.imagenet_weights


ENCODERS = {
    encoder.name: encoder
    for encoder in (
        Encoder("unet"),
        Encoder("resnet18", (2, 2, 2, 2), "resnet18-f37072fd.pth"),
        Encoder("resnet34", (3, 4, 6, 3), "resnet34-b627a593.pth"),
    )
}
"""``unet``: the plain UNet encoder, trained from scratch. ``resnet18``/``resnet34``: a
ResNet encoder under a UNet decoder, which can start from torchvision's ImageNet weights."""
ENCODER_CHOICES = tuple(ENCODERS)
PRETRAINED_ENCODERS = tuple(name for name, item in ENCODERS.items() if item.has_imagenet_weights)
"""Encoders for which ImageNet weights exist (``--pretrained``, ``--encoder-weights``)."""
