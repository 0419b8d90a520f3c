"""Which tokens may come next while an identifier must become one of a set of names.

Monitors end in the same question: after `obj.` (or `import `) the identifier being written must
be one of the names the language server listed. A token is allowed when the text it adds keeps
the identifier a prefix of some name, or completes a name and then ends the identifier (its next
character is not an identifier character: `get(`, `items()`, `name\n`). What follows the end of
the identifier inside the same token is checked by the monitor's `refine`, not here.

The mask is built from the names, never by looping over the vocabulary: for each name, a
dictionary lookup per character finds the tokens that are prefixes of its remainder, and a
binary search over the sorted token texts finds those that start with the remainder, filtered
by a precomputed [tokens, 32] table of "is an identifier character" as one tensor operation.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

import torch

from ..lexer import is_identifier_char
from ..vocabulary import Vocabulary

_COLUMNS = 32  # characters of each token classified up front; longer names fall back to a slow path


class NameIndex:
    """Identifier-continuation masks over one tokenizer's vocabulary (build once, ~0.5 s for 150k tokens)."""

    def __init__(self, vocabulary: Vocabulary):
        self.vocabulary = vocabulary
        texts = vocabulary.sorted_texts
        self.order = torch.tensor(vocabulary.order, dtype=torch.long)  # [n] token ids by text
        self.lengths = torch.tensor([len(t) for t in texts], dtype=torch.long)  # [n]
        table = torch.zeros(len(texts), _COLUMNS, dtype=torch.bool)  # [n, 32] identifier char?
        for i, text in enumerate(texts):
            flags = [is_identifier_char(c) for c in text[:_COLUMNS]]
            if flags:
                table[i, : len(flags)] = torch.tensor(flags)
        self.identifier_char = table
        # Tokens that would end an identifier at once (first character not an identifier character).
        ending = self.order[~table[:, 0]]
        self._ends_at_once = vocabulary.mask(ending.tolist())  # [vocab]

    @property
    def ends_identifier(self) -> torch.Tensor:
        """[vocab] bool: tokens whose first character cannot continue an identifier."""
        return self._ends_at_once

    def mask(self, names: Iterable[str], partial: str = "", lead: str = "") -> torch.Tensor:
        """[vocab] bool: tokens that may follow when `partial` has been written of an identifier
        that must become one of `names`, and `lead` (e.g. ".") must come first."""
        out = torch.zeros(self.vocabulary.size, dtype=torch.bool)
        for name in names:
            if not name.startswith(partial):
                continue
            rest = lead + name[len(partial) :]
            if not rest:  # `partial` is a whole name: any token that ends the identifier
                out |= self._ends_at_once
                continue
            out[list(self.vocabulary.prefixes_of(rest))] = True
            out[self._starting_then_ending(rest)] = True
        return out

    def _starting_then_ending(self, rest: str) -> torch.Tensor:
        """Ids of tokens that start with `rest` and continue with a non-identifier character."""
        texts = self.vocabulary.sorted_texts
        lo = bisect.bisect_left(texts, rest)
        hi = bisect.bisect_left(texts, rest + "\U0010ffff")
        if hi - lo <= 0:
            return self.order[:0]
        n = len(rest)
        if n >= _COLUMNS:  # names this long are rare; tokens this long rarer still
            ids = [self.order[i].item() for i in range(lo, hi) if len(texts[i]) > n and not is_identifier_char(texts[i][n])]
            return torch.tensor(ids, dtype=torch.long)
        span = slice(lo, hi)
        ends = (self.lengths[span] > n) & ~self.identifier_char[span, n]  # [hi - lo]
        return self.order[span][ends]
