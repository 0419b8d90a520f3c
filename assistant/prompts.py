"""Prompt formats per model family: fill-in-the-middle where the tokenizer knows how, else plain prefix.

The format is chosen from the tokenizer's own special tokens, never from the model's name, so a
fine-tune or a local copy of a known family is recognised too. Prompts are built as token ids,
piece by piece: the user's text is encoded with special tokens split, so a document that
contains the literal text "<|fim_suffix|>" cannot inject a control token.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class FimFormat:
    family: str
    prefix: str  # the special tokens, in the order the model was trained on
    suffix: str
    middle: str
    suffix_first: bool = False  # SPM order: <suffix> S <prefix> P <middle>
    stops: tuple[str, ...] = ()  # special tokens that end a completion besides EOS

    @property
    def markers(self) -> tuple[str, ...]:
        return (self.prefix, self.suffix, self.middle)


FIM_FORMATS: tuple[FimFormat, ...] = (
    # Qwen2.5-Coder (and CodeGemma spell their markers the same way).
    FimFormat(
        "qwen",
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
        stops=("<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|repo_name|>", "<|im_end|>", "<|file_separator|>"),
    ),
    FimFormat("starcoder", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", stops=("<|endoftext|>", "<file_sep>")),
    FimFormat("deepseek", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", stops=("<|EOT|>", "<｜end▁of▁sentence｜>")),
    FimFormat("codellama", "▁<PRE>", "▁<SUF>", "▁<MID>", stops=("▁<EOT>",)),
)


class Tokenizer(Protocol):
    """What prompts need of a transformers tokenizer (duck-typed: tests pass small stand-ins)."""

    @property
    def bos_token_id(self) -> int | None: ...

    @property
    def eos_token_id(self) -> int | None: ...

    def __call__(self, text: str, *, add_special_tokens: bool, split_special_tokens: bool) -> Mapping[str, list[int]]: ...

    def convert_tokens_to_ids(self, token: str) -> int: ...

    def get_vocab(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class PromptBuilder:
    """Builds completion prompts for one tokenizer."""

    tokenizer: Tokenizer
    fim: FimFormat | None  # None: the model gets the prefix only

    @classmethod
    def for_tokenizer(cls, tokenizer) -> PromptBuilder:
        vocab = tokenizer.get_vocab()
        fim = next((f for f in FIM_FORMATS if all(m in vocab for m in f.markers)), None)
        return cls(tokenizer, fim)

    @property
    def family(self) -> str:
        return self.fim.family if self.fim else "plain"

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]

    def _marker(self, token: str) -> list[int]:
        return [self.tokenizer.convert_tokens_to_ids(token)]

    def completion(self, prefix_ids: list[int], suffix_ids: list[int]) -> list[int]:
        """The prompt for text between an encoded prefix and suffix."""
        if self.fim is None:
            bos = [self.tokenizer.bos_token_id] if self.tokenizer.bos_token_id is not None else []
            return bos + prefix_ids
        f = self.fim
        if f.suffix_first:
            return self._marker(f.suffix) + suffix_ids + self._marker(f.prefix) + prefix_ids + self._marker(f.middle)
        return self._marker(f.prefix) + prefix_ids + self._marker(f.suffix) + suffix_ids + self._marker(f.middle)

    @functools.cached_property
    def stop_token_ids(self) -> frozenset[int]:
        """EOS and the family's end markers that this tokenizer actually has (computed once:
        `get_vocab()` builds a 150k-entry dict, too slow to pay on every request)."""
        vocab = self.tokenizer.get_vocab()
        ids = {vocab[s] for s in (self.fim.stops if self.fim else ()) if s in vocab}
        if self.fim:
            ids |= {vocab[m] for m in self.fim.markers}  # a marker in the middle means the model is lost
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return frozenset(ids)
