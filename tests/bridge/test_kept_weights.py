"""The callback's one kept copy of the weights (``restore_best``): what it copies, what it puts back, what it refuses."""

from __future__ import annotations

import pytest

from nondecoupling import ParameterError

torch = pytest.importorskip("torch")

from nondecoupling.bridge.models.kept_weights import KeptWeights  # noqa: E402

pytestmark = pytest.mark.torch


def _adapter_model() -> torch.nn.Module:
    """A frozen base with a trainable low-rank pair beside it (LoRA's shape: only the adapter trains)."""
    torch.manual_seed(0)
    model = torch.nn.ModuleDict({"base": torch.nn.Linear(8, 8), "down": torch.nn.Linear(8, 2, bias=False),
                                 "up": torch.nn.Linear(2, 8, bias=False)})
    model["base"].requires_grad_(False)
    return model


def test_only_the_trainable_parameters_are_kept_and_put_back_exactly():
    model, kept = _adapter_model(), KeptWeights()
    kept.keep(model, step=4)
    assert set(kept.tensors) == {"down.weight", "up.weight"} and kept.nbytes == (16 + 16) * 4
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter))  # training moves the adapter (and here the base too)
    assert kept.restore(model) == 4
    for name, parameter in model.named_parameters():
        assert torch.equal(parameter, before[name]) == (name != "base.weight" and name != "base.bias"), name
    assert all(t.device.type == "cpu" for t in kept.tensors.values())


def test_a_later_keep_replaces_the_copy_in_place():
    model, kept = _adapter_model(), KeptWeights()
    kept.keep(model, step=1)
    buffers = {name: t.data_ptr() for name, t in kept.tensors.items()}
    with torch.no_grad():
        model["up"].weight.mul_(3.0)
    kept.keep(model, step=2)
    assert kept.step == 2 and {name: t.data_ptr() for name, t in kept.tensors.items()} == buffers
    assert torch.equal(kept.tensors["up.weight"], model["up"].weight)


def test_nothing_kept_another_model_and_sharded_placeholders_are_refused():
    kept = KeptWeights()
    with pytest.raises(ParameterError, match="nothing kept"):
        kept.restore(_adapter_model())
    kept.keep(_adapter_model(), step=0)
    with pytest.raises(ParameterError, match="trainable parameters kept at step 0"):
        kept.restore(torch.nn.Linear(8, 8))
    sharded = torch.nn.Linear(8, 8)
    sharded.weight = torch.nn.Parameter(torch.empty(0))  # ZeRO-3 leaves such a placeholder on each rank
    with pytest.raises(ParameterError, match="weight is empty"):
        KeptWeights().keep(sharded, step=0)
