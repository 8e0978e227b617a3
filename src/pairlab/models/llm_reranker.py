"""LLM reranker: a causal LM reads (instruction, query, document) in a prompt and scores relevance as
logit("yes") - logit("no") at the last position (Qwen3-Reranker, BGE's LLM rerankers).

The prompt is the tokenizer's chat template over two messages with roles `query` and `document`, the format
sentence-transformers 6 gives a pair, so an export loads in its `CrossEncoder` (a `LogitScore` module over
the causal LM) and scores alike. `template` writes that chat template from plain text: `prefix`, `body` with
`{instruction}`, `{query}` and `{document}`, and `suffix`; the defaults are Qwen3-Reranker's layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from pairlab.models.checkpointing import enable_checkpointing
from pairlab.models.cross_encoder import PairScorer
from pairlab.models.hub import check_max_length, resolve_model_path
from pairlab.models.lora import LoraSettings, with_lora
from pairlab.models.tiny import tiny_decoder

QWEN3_RERANKER = {
    "prefix": "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
              'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n',
    "body": "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}",
    "suffix": "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
    "instruction": "Given a web search query, retrieve relevant passages that answer the query",
}
SENTINEL = "\x00pairlab-document\x00"


def chat_template(template: Mapping[str, str]) -> str:
    """A Jinja chat template rendering a query/document message pair as `prefix + body + suffix` (message
    content as a string or as sentence-transformers' structured list)."""
    unknown = sorted(set(template) - set(QWEN3_RERANKER))
    if unknown:
        raise ValueError(f"model.template.{unknown[0]} is unknown: it takes {', '.join(QWEN3_RERANKER)}")
    parts = {**QWEN3_RERANKER, **{k: v for k, v in template.items() if v is not None}}
    for key in ("query", "document"):
        if "{" + key + "}" not in parts["body"]:
            raise ValueError(f"model.template.body has no {{{key}}}: write where the {key} goes")

    def literal(text: str) -> str:
        return "{% raw %}" + text + "{% endraw %}" if text else ""

    body = parts["body"].replace("{instruction}", parts["instruction"])
    query_at, document_at = body.index("{query}"), body.index("{document}")
    first, second = sorted([(query_at, "query"), (document_at, "document")])
    head, middle = body[:first[0]], body[first[0] + len(first[1]) + 2:second[0]]
    tail = body[second[0] + len(second[1]) + 2:]
    return ("{%- set ns = namespace(query='', document='') -%}"
            "{%- for m in messages -%}"
            "{%- set text = m.content if m.content is string else m.content[0].text -%}"
            "{%- if m.role == 'query' -%}{%- set ns.query = text -%}"
            "{%- elif m.role == 'document' -%}{%- set ns.document = text -%}{%- endif -%}"
            "{%- endfor -%}"
            + literal(parts["prefix"] + head) + "{{ ns." + first[1] + " }}" + literal(middle)
            + "{{ ns." + second[1] + " }}" + literal(tail + parts["suffix"]))


@dataclass
class PromptTokenizer:
    """(query, document) pairs -> left-padded prompt token ids, as sentence-transformers tokenizes them: the
    chat template rendered, then tokenized without added special tokens; a prompt longer than `max_length`
    keeps its head and the template's suffix (the answer position stays where the model answers). Holds no
    weights, so data-loader workers receive it cheaply."""

    tokenizer: PreTrainedTokenizerBase
    max_length: int

    def __post_init__(self) -> None:
        suffix = self.render("", SENTINEL).split(SENTINEL)[-1]
        self.suffix_ids = self.tokenizer(suffix, add_special_tokens=False)["input_ids"]
        if len(self.suffix_ids) >= self.max_length:
            raise ValueError(f"model.max_length={self.max_length} leaves no room before the prompt's "
                             f"{len(self.suffix_ids)}-token suffix: raise it")

    def render(self, query: str, document: str) -> str:
        return self.tokenizer.apply_chat_template(
            [{"role": "query", "content": query}, {"role": "document", "content": document}], tokenize=False)

    def __call__(self, queries: list[str], passages: list[str]) -> dict[str, Tensor]:
        rows = self.tokenizer([self.render(q, p) for q, p in zip(queries, passages, strict=True)],
                              add_special_tokens=False)["input_ids"]
        keep = self.max_length - len(self.suffix_ids)
        rows = [ids if len(ids) <= self.max_length else ids[:keep] + self.suffix_ids for ids in rows]
        return dict(self.tokenizer.pad({"input_ids": rows}, padding=True, return_tensors="pt"))


class LLMReranker(PairScorer):
    """Scores (query, passage) pairs with a causal LM: `forward` takes one tokenized candidate column -> [B]
    scores, logit(`yes_token`) - logit(`no_token`) at the last (left-padded: real) position.

    `template`: the prompt (see module docstring; null keeps the tokenizer's chat template, as a pairlab
    export has it); `lora`: train LoRA adapters only (the usual way to fine-tune an LLM reranker);
    `gradient_checkpointing`: recompute layer activations in the backward pass (non-reentrant); `lr`: the
    learning rate this model fine-tunes at (the optimizer config reads it).
    """

    kind = "cross"

    def __init__(self, transformer: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, max_length: int = 512,
                 template: Mapping[str, str] | None = None, yes_token: str = "yes", no_token: str = "no",
                 base_model: str = "", lora: Mapping | None = None, gradient_checkpointing: bool = False,
                 compile: bool = False, lr: float | None = None) -> None:
        super().__init__()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        if template is not None:
            tokenizer.chat_template = chat_template(template)
        if not tokenizer.chat_template:
            raise ValueError("the reranker's tokenizer has no chat template: set model.template (e.g. "
                             "model.template.instruction=...), the Qwen3-Reranker layout is the default")
        self.true_id, self.false_id = (self._token_id(tokenizer, yes_token), self._token_id(tokenizer, no_token))
        self.lora = LoraSettings.of(lora)
        if gradient_checkpointing:
            enable_checkpointing(transformer)
        self.transformer = transformer if self.lora is None else with_lora(transformer, self.lora, "CAUSAL_LM")
        self.tokenizer = tokenizer
        self.max_length = check_max_length(max_length, transformer.config)
        self.prompt_tokenizer = PromptTokenizer(tokenizer, self.max_length)
        self.base_model = base_model
        self.lr = lr
        if compile:
            self.compile(dynamic=True)

    @staticmethod
    def _token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise ValueError(f"the tokenizer has no single token {token!r} to score: set model.yes_token / "
                             "model.no_token to tokens of its vocabulary")
        return token_id

    @classmethod
    def from_pretrained(cls, name: str, max_length: int | None = None, template: Mapping[str, str] | None = None,
                        yes_token: str = "yes", no_token: str = "no", lora: Mapping | None = None,
                        gradient_checkpointing: bool = False, attn_implementation: str = "sdpa",
                        torch_dtype: str | None = None, compile: bool = False, lr: float | None = None
                        ) -> LLMReranker:
        """Load a causal LM (hub id or folder): a base LLM, a Qwen3-Reranker, or a pairlab export."""
        path = resolve_model_path(name)
        transformer = AutoModelForCausalLM.from_pretrained(
            path, attn_implementation=attn_implementation, dtype=getattr(torch, torch_dtype) if torch_dtype else None)
        transformer.train()
        tokenizer = AutoTokenizer.from_pretrained(path)
        if template is None and not tokenizer.chat_template:
            template = {}
        return cls(transformer, tokenizer, max_length=max_length or 512, template=template, yes_token=yes_token,
                   no_token=no_token, base_model=name, lora=lora, gradient_checkpointing=gradient_checkpointing,
                   compile=compile, lr=lr)

    @classmethod
    def random_init(cls, size: Mapping[str, int], architecture: str = "qwen3", tokenizer: str | None = None,
                    max_length: int = 256, template: Mapping[str, str] | None = None, seed: int = 0,
                    lora: Mapping | None = None, gradient_checkpointing: bool = False,
                    attn_implementation: str = "sdpa", compile: bool = False, lr: float | None = None
                    ) -> LLMReranker:
        """A random-init causal LM of `architecture` (qwen3, llama, mistral) and `size`, with `tokenizer`
        (null: a byte-level BPE trained on the packaged sample text)."""
        transformer, tok = tiny_decoder(architecture, seed=seed, causal_lm=True, tokenizer=tokenizer,
                                        attn_implementation=attn_implementation, **dict(size))
        return cls(transformer, tok, max_length=max_length, template=template or {}, base_model="random-init",
                   lora=lora, gradient_checkpointing=gradient_checkpointing, compile=compile, lr=lr)

    def tokenize(self, queries: list[str], passages: list[str]) -> dict[str, Tensor]:
        return self.prompt_tokenizer(queries, passages)

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        logits = self.transformer(input_ids=features["input_ids"], attention_mask=features["attention_mask"],
                                  logits_to_keep=1, use_cache=False).logits[:, -1]
        return logits[:, self.true_id] - logits[:, self.false_id]
