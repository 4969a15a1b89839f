from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from train_fixtures import one_torch_thread  # noqa: F401

from annotool.errors import TrainingError
from annotool.train.model import ModelConfig, ResNetUNet, UNet, build_model, pad_to_multiple

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("stem_stride", [1, 2])
@pytest.mark.parametrize(
    ("height", "width"),
    [(257, 301), (16, 16), (5, 7)],
    ids=["odd-257x301", "multiple-of-16", "smaller-than-padding"],
)
def test_logits_have_the_input_size_and_one_channel_per_class(
    height: int, width: int, stem_stride: int
) -> None:
    model = UNet(ModelConfig(num_classes=3, width=4, stem_stride=stem_stride)).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, height, width))
    assert logits.shape == (2, 3, height, width)


def test_batchnorm_layers_are_registered_and_in_the_state_dict() -> None:
    model = UNet(ModelConfig(num_classes=2, width=4))
    batchnorms = [module for module in model.modules() if isinstance(module, nn.BatchNorm2d)]
    assert len(batchnorms) == 2 * 9  # two per ConvBlock: 5 encoder and 4 decoder blocks
    running_means = [name for name in model.state_dict() if name.endswith("running_mean")]
    assert len(running_means) == len(batchnorms)


def test_training_updates_batchnorm_statistics() -> None:
    model = UNet(ModelConfig(num_classes=2, width=4)).train()
    before = model.encoders[0][1].running_mean.clone()
    model(torch.randn(2, 3, 32, 32) + 5)
    assert not torch.equal(before, model.encoders[0][1].running_mean)


def test_width_sets_the_channels_of_each_level() -> None:
    model = UNet(ModelConfig(num_classes=2, width=8, depth=4))
    assert [encoder[0].out_channels for encoder in model.encoders] == [8, 16, 32, 64, 128]


def test_config_round_trips_through_a_dict() -> None:
    config = ModelConfig(num_classes=5, width=12, stem_stride=2)
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_a_stride_2_stem_runs_the_unet_at_half_the_resolution() -> None:
    model = UNet(ModelConfig(num_classes=2, width=4, stem_stride=2)).eval()
    seen: list[tuple[int, ...]] = []
    model.encoders[0].register_forward_hook(lambda _module, _in, out: seen.append(out.shape))
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 64, 96))
    assert seen == [(1, 4, 32, 48)]
    assert logits.shape == (1, 2, 64, 96)
    assert model.config.size_multiple == 32
    assert {"stem.0.weight", "stem.1.running_mean"} <= set(model.state_dict())


def test_checkpoints_from_before_the_stem_build_the_full_resolution_unet() -> None:
    """Their configs have no ``stem_stride`` and their weights no ``stem.*``."""
    config = ModelConfig.from_dict({"num_classes": 3, "width": 4, "depth": 4, "in_channels": 3})
    assert config.stem_stride == 1
    model = UNet(config)
    assert not any(name.startswith("stem.") for name in model.state_dict())
    assert model.encoders[0][0].in_channels == 3


def test_a_stem_stride_other_than_1_or_2_is_refused() -> None:
    with pytest.raises(TrainingError, match="stem stride is 1 or 2, not 4"):
        UNet(ModelConfig(num_classes=2, stem_stride=4))


def test_a_single_class_is_refused() -> None:
    with pytest.raises(TrainingError, match="at least 2 classes"):
        UNet(ModelConfig(num_classes=1))


def test_padding_reflects_and_is_cropped_away() -> None:
    images = torch.arange(2 * 3 * 17 * 18, dtype=torch.float32).reshape(2, 3, 17, 18)
    padded = pad_to_multiple(images, 16)
    assert padded.shape == (2, 3, 32, 32)
    assert torch.equal(padded[..., :17, :18], images)
    assert torch.equal(padded[..., 17, :18], images[..., 15, :])  # reflection, not zeros


@pytest.mark.parametrize("encoder", ["resnet18", "resnet34"])
@pytest.mark.parametrize(
    ("height", "width"), [(65, 97), (32, 64), (5, 7)], ids=["odd", "multiple-of-32", "tiny"]
)
def test_resnet_unet_gives_logits_at_the_input_size(encoder: str, height: int, width: int) -> None:
    model = build_model(ModelConfig(num_classes=4, width=4, encoder=encoder)).eval()
    assert isinstance(model, ResNetUNet) and model.config.size_multiple == 32
    with torch.no_grad():
        logits = model(torch.randn(2, 3, height, width))
    assert logits.shape == (2, 4, height, width)


def test_resnet_unet_decoder_widths_follow_width() -> None:
    model = ResNetUNet(ModelConfig(num_classes=3, width=16, encoder="resnet18"))
    outputs = [decoder.block[3].out_channels for decoder in model.decoders]
    assert outputs == [256, 128, 64, 32, 16]
    assert model.head.in_channels == 16 and model.head.out_channels == 3


def test_resnet_unet_trains_channels_last_end_to_end() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(num_classes=3, width=4, encoder="resnet18"))
    model = model.to(memory_format=torch.channels_last).train()
    images = torch.randn(2, 3, 40, 52).contiguous(memory_format=torch.channels_last)
    logits = model(images)
    F.cross_entropy(logits, torch.randint(0, 3, (2, 40, 52))).backward()
    assert model.encoder.conv1.weight.grad is not None
    assert model.encoder.conv1.weight.grad.abs().sum() > 0
    assert model.head.weight.grad.abs().sum() > 0


def test_resnet_encoder_keys_carry_torchvisions_names_under_encoder() -> None:
    model = build_model(ModelConfig(num_classes=2, width=4, encoder="resnet18"))
    keys = model.state_dict().keys()
    assert {"encoder.conv1.weight", "encoder.layer2.0.downsample.0.weight"} <= keys
    assert not any(key.startswith("encoder.fc.") for key in keys)


def test_an_unknown_encoder_is_refused() -> None:
    with pytest.raises(TrainingError, match="unknown encoder 'vgg16'"):
        build_model(ModelConfig(num_classes=2, encoder="vgg16"))


def test_a_config_without_an_encoder_is_a_unet() -> None:
    """Checkpoints written before encoders existed have no ``encoder`` key."""
    config = ModelConfig.from_dict({"num_classes": 3, "width": 8, "depth": 4, "in_channels": 3})
    assert config.encoder == "unet"
    assert isinstance(build_model(config), UNet)
    assert ModelConfig.from_dict(ModelConfig(3, encoder="resnet34").to_dict()).encoder == "resnet34"
