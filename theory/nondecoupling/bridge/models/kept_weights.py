"""One copy of a model's trainable parameters, kept on the CPU and put back later (the live stop's restore step).

:class:`~nondecoupling.bridge.models.callback.CouplingCallback` with ``restore_best`` keeps the
weights of the RL stage's restore step here and puts them back into the model when the stage
ends. Memory: one copy of the *trainable* parameters (``requires_grad``), in their own dtype, on
the CPU: a full fine-tune's whole model once more in host memory; with PEFT/LoRA only the adapters.
Frozen parameters and buffers are not copied: training does not change them. Copying leaves
every random stream alone, so training up to the stop is the same with or without a copy. Each
rank keeps its own copy of its whole parameters (DDP); sharded parameters (DeepSpeed ZeRO-3's
empty placeholders) raise an error, and FSDP is not tested.

>>> import torch
>>> model = torch.nn.Linear(2, 1)
>>> kept = KeptWeights()
>>> kept.keep(model, step=3)
>>> with torch.no_grad():
...     _ = model.weight.add_(1.0)
>>> kept.restore(model)
3
>>> bool(torch.equal(model.weight, kept.tensors["weight"]))
True
"""

from __future__ import annotations

import torch

from nondecoupling.validation import ParameterError


class KeptWeights:
    """The trainable parameters of one step, on the CPU (one buffer per parameter, reused by each :meth:`keep`)."""

    def __init__(self) -> None:
        self.step: int | None = None
        self.tensors: dict[str, torch.Tensor] = {}

    @staticmethod
    def _trainable(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
        return {name: parameter for name, parameter in model.named_parameters() if parameter.requires_grad}

    def keep(self, model: torch.nn.Module, *, step: int) -> None:
        """Copy ``model``'s trainable parameters now (replacing the copy of any earlier step)."""
        with torch.no_grad():
            for name, parameter in self._trainable(model).items():
                if parameter.numel() == 0:  # DeepSpeed ZeRO-3's placeholder: the weights live in shards elsewhere
                    raise ParameterError("model", "whole parameters on each rank (with ZeRO-3 or FSDP: restore_best=False)",
                                         f"{name} is empty")
                saved = self.tensors.get(name)
                if saved is None or saved.shape != parameter.shape:
                    self.tensors[name] = parameter.detach().to("cpu", copy=True)
                else:
                    saved.copy_(parameter.detach())
        self.step = int(step)

    def restore(self, model: torch.nn.Module) -> int:
        """Put the kept parameters back into ``model`` (same names, shapes); the step they are from."""
        if self.step is None:
            raise ParameterError("model", "a model whose weights were kept first (KeptWeights.keep)", "nothing kept")
        trainable = self._trainable(model)
        if trainable.keys() != self.tensors.keys():
            raise ParameterError("model", "the trainable parameters kept at step "
                                          f"{self.step} ({len(self.tensors)} tensors)", f"{len(trainable)} trainable tensors")
        with torch.no_grad():
            for name, parameter in trainable.items():
                parameter.copy_(self.tensors[name])
        return self.step

    @property
    def nbytes(self) -> int:
        """Host memory the copy takes."""
        return sum(tensor.numel() * tensor.element_size() for tensor in self.tensors.values())
