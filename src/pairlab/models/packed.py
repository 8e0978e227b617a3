"""BERT on the real tokens only: the padded batch packed as [N, D], attention in length buckets.

Embeddings, projections, layer norms, dropout and the feed-forward are position-wise, so they run on
the N real tokens of a batch packed as one [N, D] matrix. Attention needs a [b, H, T, d] layout: it
runs once per *length bucket* (the batch's sequences sorted by length and cut into groups, each
padded to its own longest), so a batch of short questions with one long one no longer pays T_max^2
attention (and attention dropout) for every sequence. Same math as `bert(...)`: only the dropout
masks differ (how and in which order they are drawn).

On CPU, dropout masks come from `cpu_dropout` (16 random bits an element, from SFC64 seeded by torch's
generator): `F.dropout` draws one 32-bit Mersenne Twister number per element, which made dropout
(attention probabilities included) a large share of a MiniLM training step (bench/README.md). With
`onednn`, the fp32 projections and the feed-forward run through oneDNN where its probe passes
(`kernels.linear`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from transformers import BertForSequenceClassification, BertModel

from pairlab.models.kernels import linear
from pairlab.models.pooling import Pooling, pool

ROW_BUCKET = 64  # packed rows are rounded up to a multiple of this: a few shapes, an unfragmented heap


def random_words(count: int) -> Tensor:
    """`count` random 64-bit words from numpy's SFC64, seeded by one draw from torch's default generator:
    the words follow `torch.manual_seed` and a checkpoint's RNG state, and come faster than `torch.randint`
    (a serial Mersenne Twister) on CPU (bench/README.md)."""
    seed = int(torch.randint(0, 2**63 - 1, (1,)))
    return torch.from_numpy(np.random.SFC64(seed).random_raw(count).view(np.int64))


def cpu_dropout(x: Tensor, p: float) -> Tensor:
    """Training-mode dropout; on CPU each random 64-bit word decides four elements (16-bit thresholds).

    An element is dropped with probability round(p * 65536) / 65536 (0.100006 for p = 0.1) and the
    kept ones are scaled by the inverse of the keep rate, so the expectation is exact. Other devices
    use `F.dropout`, whose fused kernels are already cheap.
    """
    if p == 0.0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, training=True)
    n = x.numel()
    words = random_words((n + 3) // 4)
    dropped = round(p * 65536)
    keep = words.view(torch.int16)[:n].view(x.shape) >= dropped - 32768
    # bool -> uint8 -> x's dtype and a multiply: several times faster on CPU than torch.where or bool.to
    return x * keep.view(torch.uint8).to(x.dtype).mul_(65536 / (65536 - dropped))


def length_buckets(lengths: list[int], min_size: int = 8, shrink: float = 0.75) -> list[list[int]]:
    """Sequence indices grouped for attention, longest first: a new group starts once the current one
    holds `min_size` sequences and the next is at most `shrink` times the group's longest."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    for i in order:
        if not groups or (len(groups[-1]) >= min_size and lengths[i] <= shrink * lengths[groups[-1][0]]):
            groups.append([])
        groups[-1].append(i)
    return groups


class _GradInPlaceEmbedding(torch.autograd.Function):
    """An embedding lookup whose backward adds into the weight's `.grad` itself, reusing one zeroed
    buffer when `.grad` was set to None: no vocabulary-sized gradient is allocated each step (on CPU
    a fresh [30522, 384] block costs page faults every step)."""

    @staticmethod
    def forward(ctx, weight: Tensor, ids: Tensor, padding_idx: int | None) -> Tensor:
        ctx.save_for_backward(ids)
        ctx.weight, ctx.padding_idx = weight, padding_idx
        return F.embedding(ids, weight, padding_idx)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, None, None]:
        (ids,) = ctx.saved_tensors
        weight = ctx.weight
        if weight.grad is None:
            buffer = getattr(weight, "_pairlab_grad_buffer", None)
            if buffer is None or buffer.dtype != weight.dtype:
                buffer = weight._pairlab_grad_buffer = torch.zeros_like(weight)
            weight.grad = buffer.zero_()
        if ctx.padding_idx is not None:
            grad = grad.masked_fill((ids == ctx.padding_idx).unsqueeze(-1), 0)
        weight.grad.index_add_(0, ids, grad.to(weight.grad.dtype))
        return None, None, None


def embedding(table: torch.nn.Embedding, ids: Tensor) -> Tensor:
    """`table(ids)`; while training on CPU in one process, with the gradient added in place."""
    weight = table.weight
    in_place = (weight.requires_grad and torch.is_grad_enabled() and weight.device.type == "cpu"
                and not (torch.distributed.is_available() and torch.distributed.is_initialized()))
    if not in_place:  # DDP must see every gradient arrive through autograd
        return table(ids)
    return _GradInPlaceEmbedding.apply(weight, ids, table.padding_idx)


def dense(module: torch.nn.Module, x: Tensor, onednn: bool = False) -> Tensor:
    """`module(x)`, through `linear` when the module is a plain `nn.Linear` (adapted ones, LoRA, run as themselves)."""
    if type(module) is torch.nn.Linear:
        return linear(x, module.weight, module.bias, onednn)
    return module(x)


@dataclass
class PackedLayout:
    """Where each real token of a padded batch lives: packed for the position-wise layers, and in the
    length buckets' padded layout (all buckets concatenated, one gather each way) for attention."""

    rows: Tensor     # [N] flat (sequence * length + position) index of each real token
    packed: Tensor   # [N + filler] rows fed to the position-wise layers (filler rows repeat row 0)
    gather: Tensor   # [sum b * T] packed row of each bucket position (row 0 for padding: masked, never read)
    inverse: Tensor  # [N + filler] bucket position of each packed row
    keys: list[Tensor]  # per bucket [b, 1, 1, T]: which key positions are real
    shapes: list[tuple[int, int]]  # per bucket (b, T)

    @classmethod
    @torch.compiler.disable  # data-dependent shapes: under torch.compile it runs eagerly, between graphs
    def of(cls, attention_mask: Tensor, row_bucket: int = ROW_BUCKET) -> PackedLayout:
        mask = attention_mask.bool()
        batch, length = mask.shape
        flat = mask.flatten()
        rows = flat.nonzero().squeeze(1)
        n = rows.numel()
        filler = (-n) % row_bucket
        packed = torch.cat([rows, rows.new_zeros(filler)]) if filler else rows
        slot = (flat.cumsum(0) - 1).view(batch, length)  # packed row of each real position
        # span: up to the last real token (the length, with right padding); attention needs no more
        spans = (mask * torch.arange(1, length + 1, device=mask.device)).amax(1).clamp(min=1).tolist()
        gathers, reals, keys, shapes = [], [], [], []
        for group in length_buckets(spans):
            index, span = torch.tensor(group, device=mask.device), spans[group[0]]
            sub_mask = mask[index, :span]
            gathers.append(slot[index, :span].masked_fill(~sub_mask, 0).flatten())
            reals.append(sub_mask.flatten())
            keys.append(sub_mask[:, None, None, :])
            shapes.append((len(group), span))
        gather, real = torch.cat(gathers), torch.cat(reals)
        inverse = torch.zeros(len(packed), dtype=torch.long, device=mask.device)
        inverse[gather[real]] = real.nonzero().squeeze(1)
        if filler:
            inverse[n:] = inverse[0]
        return cls(rows, packed, gather, inverse, keys, shapes)

    def unpack(self, hidden: Tensor, shape: torch.Size) -> Tensor:
        """Packed [N, D] states back in the padded [B, T, D] layout, zeros at padding."""
        batch, length = shape
        out = hidden.new_zeros(batch * length, hidden.shape[-1]).index_copy(0, self.rows, hidden)
        return out.view(batch, length, -1)

    @torch.compiler.disable  # one call per bucket, a different set each batch: eager, between graphs
    def attention(self, qkv: Tensor, heads: int, size: int, scale: float, dropout: float) -> Tensor:
        """Per-bucket attention over packed [rows, 3 * heads * size] projections -> packed [rows, heads * size]."""
        per_bucket = qkv.index_select(0, self.gather).split([b * t for b, t in self.shapes])
        outputs = []
        for x, keys, (b, t) in zip(per_bucket, self.keys, self.shapes, strict=True):
            q, k, v = (y.transpose(1, 2) for y in x.view(b, t, 3, heads, size).unbind(2))
            if dropout and qkv.device.type == "cpu":  # SDPA's CPU kernels cannot drop: its fallback is slow
                scores = (q @ k.transpose(-1, -2) * scale).masked_fill(~keys, float("-inf"))
                context = cpu_dropout(scores.softmax(-1), dropout) @ v
            else:
                context = F.scaled_dot_product_attention(q, k, v, attn_mask=keys, scale=scale, dropout_p=dropout)
            outputs.append(context.transpose(1, 2).reshape(b * t, heads * size))
        return torch.cat(outputs).index_select(0, self.inverse)


def packs(model: torch.nn.Module) -> bool:
    """Whether `packed_bert_forward` computes this model's forward: an encoder-only BERT with absolute positions."""
    config = getattr(model, "config", None)
    return (isinstance(model, BertModel) and not config.is_decoder
            and getattr(config, "position_embedding_type", "absolute") == "absolute")


def packs_reranker(model: torch.nn.Module) -> bool:
    """Whether `packed_reranker_logits` computes this model's logits: a BERT classifier over a packable BERT."""
    return isinstance(model, BertForSequenceClassification) and packs(model.bert) and model.bert.pooler is not None


def packed_reranker_logits(model: BertForSequenceClassification, features: dict[str, Tensor],
                           onednn: bool = False) -> Tensor:
    """A BertForSequenceClassification's logits [B, labels] from the packed forward: the pooler reads each
    sequence's first token (the [CLS] of right-padded pairs), then dropout and the classifier as in the model."""
    hidden, layout = packed_bert_forward(model.bert, features, onednn)
    lengths = features["attention_mask"].sum(1)
    first = lengths.cumsum(0) - lengths  # the packed row of each sequence's first token
    pooled = model.bert.pooler.activation(model.bert.pooler.dense(hidden[first]))
    return model.classifier(model.dropout(pooled))


def packed_pooled(bert: BertModel, features: dict[str, Tensor], pooling: Pooling, onednn: bool = False) -> Tensor:
    """`pool(bert(**features).last_hidden_state, attention_mask, pooling)` from the packed forward: mean pooling
    reads the packed rows, the other modes the padded layout."""
    mask = features["attention_mask"]
    hidden, layout = packed_bert_forward(bert, features, onednn)
    if pooling == "mean":
        return packed_mean(hidden, layout, mask)
    return pool(layout.unpack(hidden, mask.shape), mask, pooling)


def packed_mean(hidden: Tensor, layout: PackedLayout, attention_mask: Tensor) -> Tensor:
    """Mean over each sequence's real tokens of packed [N, D] states -> [B, D] (the padded mean pooling)."""
    batch, length = attention_mask.shape
    sequence = layout.rows.div(length, rounding_mode="floor")
    sums = hidden.new_zeros(batch, hidden.shape[-1]).index_add(0, sequence, hidden)
    return sums / attention_mask.sum(1, keepdim=True).to(hidden.dtype).clamp(min=1e-9)


def packed_bert_forward(bert: BertModel, features: dict[str, Tensor],
                        onednn: bool = False) -> tuple[Tensor, PackedLayout]:
    """A BertModel's last hidden state for the real tokens only, packed [N, D], and where they sit;
    `onednn`: fp32 CPU projections through oneDNN (`linear`)."""
    mask = features["attention_mask"]
    batch, length = mask.shape
    layout = PackedLayout.of(mask)
    n = layout.rows.numel()
    positions = torch.arange(length, device=mask.device).expand(batch, length).flatten()[layout.packed]
    token_types = features.get("token_type_ids")
    token_types = (token_types.flatten()[layout.packed] if token_types is not None
                   else torch.zeros_like(positions))
    emb = bert.embeddings
    hidden = emb.LayerNorm(embedding(emb.word_embeddings, features["input_ids"].flatten()[layout.packed])
                           + emb.token_type_embeddings(token_types) + emb.position_embeddings(positions))
    hidden = _dropout(hidden, emb.dropout)
    for layer in bert.encoder.layer:
        attn = layer.attention.self
        projections = (attn.query, attn.key, attn.value)
        if all(type(p) is torch.nn.Linear for p in projections):  # one matmul for the three
            qkv = linear(hidden, torch.cat([p.weight for p in projections]),
                         torch.cat([p.bias for p in projections]), onednn)
        else:  # adapted projections (LoRA) run as their modules
            qkv = torch.cat([p(hidden) for p in projections], dim=-1)
        context = layout.attention(qkv, attn.num_attention_heads, attn.attention_head_size, attn.scaling,
                                   attn.dropout.p if attn.training else 0.0)
        hidden = _residual(layer.attention.output, context, hidden, onednn)
        intermediate = layer.intermediate
        hidden = _residual(layer.output, intermediate.intermediate_act_fn(dense(intermediate.dense, hidden, onednn)),
                           hidden, onednn)
    return hidden[:n], layout


def _dropout(x: Tensor, dropout: torch.nn.Dropout) -> Tensor:
    return cpu_dropout(x, dropout.p) if dropout.training else x


def _residual(block: torch.nn.Module, x: Tensor, residual: Tensor, onednn: bool) -> Tensor:
    """BertSelfOutput / BertOutput: LayerNorm(dropout(dense(x)) + residual)."""
    return block.LayerNorm(_dropout(dense(block.dense, x, onednn), block.dropout) + residual)
