"""The text of every token, indexed for prefix queries; built once per tokenizer.

Guides that constrain text (token healing now, the monitors' identifier masks later) ask two
questions of the vocabulary: which tokens start with a string, and which tokens are a prefix of
it. Sorting the token texts answers the first with a binary search; a dict answers the second.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Vocabulary:
    texts: tuple[str, ...]  # texts[i]: the decoded text of token i ("" for special tokens)
    order: tuple[int, ...]  # token ids sorted by text
    sorted_texts: tuple[str, ...]  # texts in that order
    by_text: dict[str, tuple[int, ...]]  # text -> ids (several ids may decode alike)

    @classmethod
    def from_tokenizer(cls, tokenizer) -> Vocabulary:
        n = len(tokenizer)
        special = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}))
        decoded = tokenizer.batch_decode([[i] for i in range(n)], clean_up_tokenization_spaces=False)
        # Partial UTF-8 (a byte of a multi-byte character) decodes to U+FFFD: it cannot be
        # matched as text, so it is treated like a special token.
        return cls.from_texts(["" if i in special or "\ufffd" in t else t for i, t in enumerate(decoded)])

    @classmethod
    def from_texts(cls, texts: list[str] | tuple[str, ...]) -> Vocabulary:
        """From the text of each token id ("" for tokens that stand for no text)."""
        texts, n = tuple(texts), len(texts)
        order = tuple(sorted((i for i in range(n) if texts[i]), key=texts.__getitem__))
        by_text: dict[str, list[int]] = {}
        for i in order:
            by_text.setdefault(texts[i], []).append(i)
        return cls(texts, order, tuple(texts[i] for i in order), {k: tuple(v) for k, v in by_text.items()})

    @property
    def size(self) -> int:
        return len(self.texts)

    def starting_with(self, prefix: str) -> list[int]:
        """Ids of tokens whose text starts with `prefix` (non-empty)."""
        lo = bisect.bisect_left(self.sorted_texts, prefix)
        hi = bisect.bisect_left(self.sorted_texts, prefix + "\U0010ffff")
        return list(self.order[lo:hi])

    def prefixes_of(self, text: str) -> list[int]:
        """Ids of tokens whose text is a non-empty prefix of `text`."""
        return [i for k in range(1, len(text) + 1) for i in self.by_text.get(text[:k], ())]

    def mask(self, ids: list[int]) -> torch.Tensor:
        out = torch.zeros(self.size, dtype=torch.bool)  # [vocab]
        out[ids] = True
        return out
