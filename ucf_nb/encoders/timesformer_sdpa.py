"""Fused attention for transformers' TimeSformer: ``F.scaled_dot_product_attention``.

transformers ships TimeSformer with eager attention only (``q @ k^T``, softmax, ``@ v`` as
three separate kernels, the (B, heads, N, N) probabilities written to memory) and refuses
``attn_implementation="sdpa"`` for it. Its divided space-time attention is two instances of
one module class, ``TimesformerSelfAttention``: the *temporal* attention (each patch position
attends over its T frames: batch B*H*W, sequence T) and the *spatial* attention (each frame's
patches plus the CLS token: batch B*T, sequence 1+H*W); the ``space_only`` and
``joint_space_time`` variants use the same class. Each holds a ``qkv`` linear layer, a head
count ``num_heads``, a ``scale`` (head_dim**-0.5) and a dropout ``attn_drop``.

:func:`set_timesformer_attention` switches every such module of a model between the two
implementations in place by changing its class: no parameter is copied, renamed or
re-initialised, so ``state_dict()`` keys and tensors stay those of the checkpoint, and
``"eager"`` restores transformers' own forward exactly. The SDPA forward computes the same
function with one fused kernel (flash / memory-efficient on CUDA, the fused CPU kernel on
the CPU); when attention probabilities are asked for (``output_attentions=True``) it defers
to the eager forward, which is the only one that has them.

It relies only on what transformers 5.17 and 5.24 share: the class
``transformers.models.timesformer.modeling_timesformer.TimesformerSelfAttention``, its
attributes ``qkv``, ``num_heads``, ``scale`` and ``attn_drop``, and its call
``forward(hidden_states, output_attentions=False) -> tuple``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["ATTENTIONS", "set_timesformer_attention", "timesformer_attention", "TimesformerSdpaSelfAttention"]

ATTENTIONS = ("sdpa", "eager")

# CUDA's flash and memory-efficient SDPA kernels put the batch dimension in a grid axis
# limited to 65535 (pytorch/pytorch#146704); the temporal attention's batch is B*H*W
# (196 per clip at 224 px), so from about 334 clips per forward pass it would overflow.
# Larger batches are cut into chunks of this many sequences.
_MAX_SDPA_BATCH = 32768

_REQUIRED = ("qkv", "num_heads", "scale", "attn_drop")


def _eager_class() -> type:
    from transformers.models.timesformer.modeling_timesformer import TimesformerSelfAttention

    return TimesformerSelfAttention


def _sdpa_class() -> type:
    global TimesformerSdpaSelfAttention
    if TimesformerSdpaSelfAttention is None:
        TimesformerSdpaSelfAttention = _make_sdpa_class(_eager_class())
    return TimesformerSdpaSelfAttention


def _make_sdpa_class(base: type) -> type:
    class TimesformerSdpaSelfAttention(base):
        """``TimesformerSelfAttention`` computed by ``F.scaled_dot_product_attention``.

        Same parameters and the same output as the eager module; made by
        :func:`set_timesformer_attention`, never constructed directly.
        """

        def forward(self, hidden_states: torch.Tensor, output_attentions: bool = False):
            if output_attentions:  # only the eager path materialises the probabilities
                return super().forward(hidden_states, output_attentions=True)
            batch, tokens, width = hidden_states.shape
            heads = self.num_heads
            # (batch, tokens, 3*width) -> 3 x (batch, heads, tokens, head_dim), views of one buffer
            qkv = self.qkv(hidden_states).reshape(batch, tokens, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
            query, key, value = qkv.unbind(0)
            dropout = self.attn_drop.p if self.training else 0.0
            if batch <= _MAX_SDPA_BATCH:
                context = F.scaled_dot_product_attention(query, key, value, dropout_p=dropout, scale=self.scale)
            else:
                context = torch.cat(
                    [
                        F.scaled_dot_product_attention(
                            query[i : i + _MAX_SDPA_BATCH],
                            key[i : i + _MAX_SDPA_BATCH],
                            value[i : i + _MAX_SDPA_BATCH],
                            dropout_p=dropout,
                            scale=self.scale,
                        )
                        for i in range(0, batch, _MAX_SDPA_BATCH)
                    ]
                )
            # (batch, heads, tokens, head_dim) -> (batch, tokens, width), as the eager forward returns it
            return (context.transpose(1, 2).reshape(batch, tokens, width),)

    TimesformerSdpaSelfAttention.__qualname__ = "TimesformerSdpaSelfAttention"
    TimesformerSdpaSelfAttention.__module__ = __name__
    return TimesformerSdpaSelfAttention


TimesformerSdpaSelfAttention: type | None = None  # built on first use, so importing this module is cheap


def _attention_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    eager = _eager_class()
    return [m for m in model.modules() if isinstance(m, eager)]


def set_timesformer_attention(model: torch.nn.Module, attention: Literal["sdpa", "eager"]) -> int:
    """Switch every TimeSformer self-attention of ``model`` to ``attention``, in place.

    Parameters
    ----------
    model : torch.nn.Module
        A transformers ``TimesformerModel`` (or any module holding ``TimesformerSelfAttention``
        modules, e.g. ``TimesformerForVideoClassification``).
    attention : {"sdpa", "eager"}
        ``"sdpa"``: ``F.scaled_dot_product_attention``; ``"eager"``: transformers' own forward.

    Returns
    -------
    int
        How many attention modules the model holds (two per layer with divided space-time
        attention); all of them now run ``attention``.

    Raises
    ------
    ValueError
        When ``attention`` is not one of :data:`ATTENTIONS`, or ``model`` holds no TimeSformer
        attention.
    TypeError
        When this transformers version's ``TimesformerSelfAttention`` lacks an attribute the
        SDPA forward needs (then use ``attention="eager"``).
    """
    if attention not in ATTENTIONS:
        raise ValueError(f"attention must be 'sdpa' or 'eager', got attention={attention!r}")
    modules = _attention_modules(model)
    if not modules:
        raise ValueError(
            f"{type(model).__name__} holds no TimesformerSelfAttention module: "
            "set_timesformer_attention only applies to transformers' TimeSformer models"
        )
    target = _sdpa_class() if attention == "sdpa" else _eager_class()
    if attention == "sdpa":
        missing = [a for a in _REQUIRED if not hasattr(modules[0], a)]
        if missing:
            import transformers

            raise TypeError(
                f"transformers {transformers.__version__}'s TimesformerSelfAttention has no "
                f"{', '.join(missing)}: the SDPA attention cannot run on it, use attention='eager'"
            )
    for module in modules:
        module.__class__ = target
    return len(modules)


def timesformer_attention(model: torch.nn.Module) -> str:
    """Which attention the TimeSformer self-attention modules of ``model`` run.

    Returns ``"sdpa"`` or ``"eager"`` when all of them run the same one, ``"mixed"`` when they
    differ; raises ``ValueError`` when ``model`` holds none.
    """
    modules = _attention_modules(model)
    if not modules:
        raise ValueError(f"{type(model).__name__} holds no TimesformerSelfAttention module")
    sdpa = _sdpa_class()
    kinds = {"sdpa" if type(m) is sdpa else "eager" for m in modules}
    return kinds.pop() if len(kinds) == 1 else "mixed"
