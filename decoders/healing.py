"""Token healing as a guide: the prompt's last token is taken back and the output must begin with its text.

A prompt cut at an arbitrary character (the cursor) often ends in a token the model would
never have chosen there, e.g. four spaces where the model writes three plus " return". Dropping
that token from the prompt and requiring the generation to start with its text lets the model
pick its own tokenization; the assistant then removes the healed text from the completion.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .guides import Guide
from .vocabulary import Vocabulary


@dataclass(frozen=True)
class HealingGuide(Guide):
    vocabulary: Vocabulary
    remaining: str  # text the output must still produce before it is free

    def allowed(self) -> torch.Tensor | None:
        if not self.remaining:
            return None
        ids = self.vocabulary.starting_with(self.remaining) + self.vocabulary.prefixes_of(self.remaining)
        return self.vocabulary.mask(ids)

    def advance(self, token: int) -> HealingGuide:
        if not self.remaining:
            return self
        text = self.vocabulary.texts[token]
        rest = self.remaining[len(text) :] if self.remaining.startswith(text) else ""
        return HealingGuide(self.vocabulary, rest)
