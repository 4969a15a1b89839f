from __future__ import annotations

import pytest
import torch
from torch import nn
from train_fixtures import one_torch_thread  # noqa: F401

from annotool.errors import DatasetError
from annotool.train.model import ModelConfig, UNet, pad_to_multiple

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    ("height", "width"),
    [(257, 301), (16, 16), (5, 7)],
    ids=["odd-257x301", "multiple-of-16", "smaller-than-padding"],
)
def test_logits_have_the_input_size_and_one_channel_per_class(height: int, width: int) -> None:
    model = UNet(ModelConfig(num_classes=3, width=4)).eval()
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
    config = ModelConfig(num_classes=5, width=12)
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_a_single_class_is_refused() -> None:
    with pytest.raises(DatasetError, match="at least 2 classes"):
        UNet(ModelConfig(num_classes=1))


def test_padding_reflects_and_is_cropped_away() -> None:
    images = torch.arange(2 * 3 * 17 * 18, dtype=torch.float32).reshape(2, 3, 17, 18)
    padded = pad_to_multiple(images, 16)
    assert padded.shape == (2, 3, 32, 32)
    assert torch.equal(padded[..., :17, :18], images)
    assert torch.equal(padded[..., 17, :18], images[..., 15, :])  # reflection, not zeros
