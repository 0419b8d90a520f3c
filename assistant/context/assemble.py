"""Repository context as prompt tokens, within a token budget, in the model family's own format.

Qwen2.5-Coder was trained on whole repositories written as
`<|repo_name|>{name}\\n<|file_sep|>{path}\\n{text}\\n<|file_sep|>{path}\\n...`; completing a file of
it, its FIM prompt follows its own `<|file_sep|>{path}\\n` (the QwenLM/Qwen2.5-Coder repository-level
FIM example; llama.cpp's server builds `input_extra` the same way). The format is chosen from the
tokenizer's vocabulary, never the model's name. A family without these markers gets the snippets
as line comments at the start of the prefix.

Markers enter only as ids: every text (paths included) is encoded with special tokens split, so a
file that contains "<|file_sep|>" cannot forge a marker.

KV reuse: the context is the prompt's front, and the engine reuses the longest common prefix of
consecutive prompts. So the same snippets always give the same tokens: each snippet is encoded on
its own (one added or dropped leaves the others' tokens as they were), and the chosen snippets are
ordered by kind, path and line, never by a score that moves with each keystroke.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..languages import Language
from .snippets import Snippet

if TYPE_CHECKING:  # annotations only: a package inside assistant/ imports none of its top-level modules
    from ..prompts import PromptBuilder


@dataclass(frozen=True)
class RepoFormat:
    family: str
    repository: str  # the marker before the repository's name
    file: str  # the marker before each file's path


REPO_FORMATS: tuple[RepoFormat, ...] = (RepoFormat("qwen", "<|repo_name|>", "<|file_sep|>"),)

_LINE_COMMENT = {"python": "#", "braces": "//", "keywords": "#", "text": "#"}  # by language family
_LINE_COMMENT_OF = {"lua": "--", "sql": "--", "haskell": "--"}  # languages whose family says otherwise
_ENCODED_ENTRIES = 1024  # encoded texts kept: the same snippets come back on every keystroke


class ContextAssembler:
    """Builds the context tokens for one tokenizer and places them in a prompt."""

    def __init__(self, prompts: PromptBuilder):
        self.prompts = prompts
        vocab = prompts.tokenizer.get_vocab()  # ~150k entries: read once
        self.format = next((f for f in REPO_FORMATS if f.repository in vocab and f.file in vocab), None)
        self._encoded: OrderedDict[str, tuple[int, ...]] = OrderedDict()

    def assemble(self, snippets: Sequence[Snippet], current: str, repository: str, language: Language, budget: int) -> list[int]:
        """The context for a document at `current` (its path as shown) of `repository`: at most
        `budget` tokens, definitions chosen first, then recent chunks, each in the order given
        (most useful first) while it fits; [] when not even the frame fits. The snippets of one
        file share one section, in line order, as a repository shows each file once."""
        head, tail = self._frame(current, repository)
        left = budget - len(head) - len(tail)
        if left < 0:
            return []
        files: dict[str, dict[tuple[int, str], list[int]]] = {}  # path -> (line, text) -> the snippet's tokens
        defined: set[str] = set()  # the files that hold a definition: shown before the others
        for snippet in sorted(snippets, key=lambda s: s.kind != "definition"):  # stable: keeps each kind's order
            pieces = files.get(snippet.path, {})
            if (snippet.line, snippet.text) in pieces:
                continue
            ids = self._piece(snippet.text, language)
            cost = len(ids) + (len(self._separator(language)) if pieces else len(self._file(snippet.path, language)))
            if cost > left:
                continue
            files.setdefault(snippet.path, {})[(snippet.line, snippet.text)] = ids
            left -= cost
            if snippet.kind == "definition":
                defined.add(snippet.path)
        if not files and self.format is None:
            return []  # comments need no frame of their own
        body: list[int] = []
        for path in sorted(files, key=lambda p: (p not in defined, p)):
            body += self._file(path, language)
            for i, key in enumerate(sorted(files[path])):
                body += (self._separator(language) if i else []) + files[path][key]
        return head + body + tail

    def insert(self, prompt: list[int], context: list[int]) -> list[int]:
        """`prompt` (a completion prompt of `self.prompts`) with the context in its place: before
        it in the repository format, else at the start of its prefix."""
        if not context:
            return prompt
        if self.format is not None:
            return context + prompt
        at = self._prefix_start(prompt)
        return prompt[:at] + context + prompt[at:]

    def _frame(self, current: str, repository: str) -> tuple[list[int], list[int]]:
        """What the context starts and ends with, whatever snippets it holds."""
        if self.format is None:
            return [], self._encode("\n")  # a blank line between the comments and the code
        head = self._marker(self.format.repository) + self._encode(f"{repository}\n")
        return head, self._marker(self.format.file) + self._encode(f"{current}\n")

    def _file(self, path: str, language: Language) -> list[int]:
        """What starts a file's section."""
        if self.format is not None:
            return self._marker(self.format.file) + self._encode(f"{path}\n")
        return self._encode(f"{self._comment(language)} {path}\n")

    def _piece(self, text: str, language: Language) -> list[int]:
        """One snippet's lines in its file's section."""
        if self.format is not None:
            return self._encode(f"{text}\n")
        comment = self._comment(language)
        return self._encode("".join(f"{comment} {line}".rstrip() + "\n" for line in text.split("\n")))

    def _separator(self, language: Language) -> list[int]:
        """Between two snippets of one file: a blank line, as between its definitions."""
        return self._encode("\n" if self.format is not None else f"{self._comment(language)}\n")

    @staticmethod
    def _comment(language: Language) -> str:
        return _LINE_COMMENT_OF.get(language.name, _LINE_COMMENT[language.family])

    def _marker(self, token: str) -> list[int]:
        return [self.prompts.tokenizer.convert_tokens_to_ids(token)]

    def _encode(self, text: str) -> list[int]:
        if text not in self._encoded:
            self._encoded[text] = tuple(self.prompts.encode(text))
            while len(self._encoded) > _ENCODED_ENTRIES:
                self._encoded.popitem(last=False)
        return list(self._encoded[text])

    def _prefix_start(self, prompt: list[int]) -> int:
        """Where the prefix's tokens start in a completion prompt: after the FIM prefix marker
        (which the document's text cannot contain), else after a BOS."""
        fim = self.prompts.fim
        if fim is not None:
            return prompt.index(self._marker(fim.prefix)[0]) + 1
        bos = self.prompts.tokenizer.bos_token_id
        return 1 if bos is not None and prompt[:1] == [bos] else 0
