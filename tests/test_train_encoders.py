from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
from train_fixtures import one_torch_thread  # noqa: F401

from annotool.choices import ENCODERS
from annotool.errors import EncoderWeightsError
from annotool.train import encoders
from annotool.train.encoders import (
    PretrainedWeights,
    ResNetEncoder,
    load_encoder_weights,
    pretrained_weights,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def torchvision_state(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict shaped and named like torchvision's ``resnet18/34().state_dict()``,
    written out from the architecture (not from our encoder), classifier included."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}

    def conv(prefix: str, out_channels: int, in_channels: int, kernel: int) -> None:
        shape = (out_channels, in_channels, kernel, kernel)
        state[f"{prefix}.weight"] = torch.randn(shape, generator=generator)

    def batchnorm(prefix: str, channels: int) -> None:
        state[f"{prefix}.weight"] = torch.rand(channels, generator=generator)
        state[f"{prefix}.bias"] = torch.randn(channels, generator=generator)
        state[f"{prefix}.running_mean"] = torch.randn(channels, generator=generator)
        state[f"{prefix}.running_var"] = torch.rand(channels, generator=generator) + 0.5
        state[f"{prefix}.num_batches_tracked"] = torch.tensor(7)

    conv("conv1", 64, 3, 7)
    batchnorm("bn1", 64)
    blocks = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}[name]
    in_channels = 64
    for stage, (count, channels) in enumerate(
        zip(blocks, (64, 128, 256, 512), strict=True), start=1
    ):
        for block in range(count):
            prefix = f"layer{stage}.{block}"
            conv(f"{prefix}.conv1", channels, in_channels if block == 0 else channels, 3)
            batchnorm(f"{prefix}.bn1", channels)
            conv(f"{prefix}.conv2", channels, channels, 3)
            batchnorm(f"{prefix}.bn2", channels)
            if block == 0 and stage > 1:
                conv(f"{prefix}.downsample.0", channels, in_channels, 1)
                batchnorm(f"{prefix}.downsample.1", channels)
        in_channels = channels
    state["fc.weight"] = torch.randn(1000, 512, generator=generator)
    state["fc.bias"] = torch.randn(1000, generator=generator)
    return state


@pytest.mark.parametrize(
    ("name", "parameters"),
    # torchvision's resnet18/34 have 11,689,512 and 21,797,672 parameters, of which the
    # classifier (512 x 1000 + 1000) is not part of the encoder.
    [("resnet18", 11_689_512 - 513_000), ("resnet34", 21_797_672 - 513_000)],
)
def test_encoder_has_torchvisions_names_shapes_and_size(name: str, parameters: int) -> None:
    encoder = ResNetEncoder(name)
    expected = {key: value.shape for key, value in torchvision_state(name).items()}
    del expected["fc.weight"], expected["fc.bias"]
    assert {key: value.shape for key, value in encoder.state_dict().items()} == expected
    assert sum(parameter.numel() for parameter in encoder.parameters()) == parameters


def test_encoder_returns_five_scales() -> None:
    encoder = ResNetEncoder("resnet18").eval()
    with torch.no_grad():
        features = encoder(torch.randn(1, 3, 64, 96))
    assert [tuple(map(int, feature.shape[1:])) for feature in features] == [
        (64, 32, 48),
        (64, 16, 24),
        (128, 8, 12),
        (256, 4, 6),
        (512, 2, 3),
    ]


def test_a_weights_file_with_torchvisions_names_loads_every_value(tmp_path: Path) -> None:
    state = torchvision_state("resnet18", seed=3)
    path = tmp_path / "resnet18-local.pth"
    torch.save(state, path)
    encoder = ResNetEncoder("resnet18")

    weights = pretrained_weights("resnet18", path)
    load_encoder_weights(encoder, weights)

    assert weights.source == str(path)
    loaded = encoder.state_dict()
    for key, value in state.items():
        if not key.startswith("fc."):
            assert torch.equal(loaded[key], value), key


def test_weights_saved_without_batchnorm_step_counters_load() -> None:
    state = {
        key: value
        for key, value in torchvision_state("resnet18").items()
        if not key.endswith("num_batches_tracked")
    }
    encoder = ResNetEncoder("resnet18")
    load_encoder_weights(encoder, PretrainedWeights(state, "old.pth"))
    assert torch.equal(encoder.conv1.weight, state["conv1.weight"])


def test_weights_of_another_resnet_are_refused_by_name() -> None:
    encoder = ResNetEncoder("resnet18")
    weights = PretrainedWeights(torchvision_state("resnet34"), "resnet34.pth")
    with pytest.raises(
        EncoderWeightsError, match=r"resnet34.pth does not fit.*unexpected: layer1\.2"
    ):
        load_encoder_weights(encoder, weights)


def test_missing_and_misshapen_weights_are_named() -> None:
    state = torchvision_state("resnet18")
    del state["layer4.1.bn2.bias"]
    state["conv1.weight"] = torch.zeros(64, 1, 7, 7)
    encoder = ResNetEncoder("resnet18")
    before = encoder.conv1.weight.detach().clone()
    with pytest.raises(
        EncoderWeightsError,
        match=r"missing: layer4\.1\.bn2\.bias; shape conv1\.weight \(64, 1, 7, 7\) instead of "
        r"\(64, 3, 7, 7\)",
    ):
        load_encoder_weights(encoder, PretrainedWeights(state, "edited.pth"))
    assert torch.equal(encoder.conv1.weight, before)  # nothing half-loaded


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"not a pickle", "not a readable PyTorch state dict"),
        ([1, 2, 3], "holds a list, not a state dict"),
    ],
    ids=["missing", "garbage", "not-a-dict"],
)
def test_unusable_weights_files_are_explained(
    tmp_path: Path, content: object, message: str
) -> None:
    path = tmp_path / "weights.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(EncoderWeightsError, match=message):
        pretrained_weights("resnet18", path)


def test_download_goes_through_torch_hub_with_torchvisions_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = torchvision_state("resnet34")
    calls = []

    def fake_download(url: str, **kwargs: object) -> dict[str, torch.Tensor]:
        calls.append((url, kwargs))
        return state

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    weights = pretrained_weights("resnet34", None)
    assert calls[0][0] == "https://download.pytorch.org/models/resnet34-b627a593.pth"
    assert calls[0][1]["check_hash"] is True and calls[0][1]["weights_only"] is True
    assert weights.source == ENCODERS["resnet34"].imagenet_url
    assert weights.state is not state and weights.state.keys() == state.keys()


def test_without_a_network_the_message_names_encoder_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def offline(url: str, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(EncoderWeightsError) as raised:
        pretrained_weights("resnet18", None)
    message = str(raised.value)
    assert "\n" not in message
    assert "resnet18-f37072fd.pth" in message
    assert "Temporary failure in name resolution" in message
    assert "--encoder-weights FILE" in message


def test_there_are_no_imagenet_weights_for_the_plain_unet() -> None:
    with pytest.raises(EncoderWeightsError, match="no ImageNet weights for --encoder unet"):
        encoders.download_imagenet_weights("unet")
