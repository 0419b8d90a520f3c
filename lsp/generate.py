"""The `guidecode.generate` command: write the body of the function at a position, and propose it
as an edit.

Arguments: `[{uri, position, tests?, search?}]`. Where there are tests to search against (the
examples in the function's docstring, or `tests`, the path of a test file with top-level asserts
and test_* functions), and the `search` option (or argument) is not false, the body comes from
the test-guided planning search (assistant/search.py), with progress (programs written, tests
the best one passes) that the user may cancel; the best program found so far is then proposed.
The result says which tests pass.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcInvalidRequest

from assistant import GuidecodeError

from .documents import document_offset, offset_position, workspace_for
from .service import document_path

if TYPE_CHECKING:
    from .server import GuidecodeServer

GENERATE = "guidecode.generate"
_tokens = itertools.count(1)


async def generate_command(ls: GuidecodeServer, args: list) -> dict:
    target = args[0] if args and isinstance(args[0], dict) else {}
    uri, position = target.get("uri"), target.get("position") or {}
    try:
        lsp_position = lsp.Position(line=int(position.get("line", -1)), character=int(position.get("character", -1)))
    except (TypeError, ValueError):
        lsp_position = lsp.Position(line=-1, character=-1)
    located = document_offset(ls, uri, lsp_position) if isinstance(uri, str) else None
    if located is None:
        raise JsonRpcInvalidRequest(f"{GENERATE} needs [{{uri, position}}] of an open document; got {args!r}")
    text, offset = located
    workspace = workspace_for(ls, uri)
    try:
        tests = _tests(ls, uri, text, offset, target)
        if tests.empty:
            return await _plain(ls, uri, text, offset, workspace)
        return await _search(ls, uri, text, offset, workspace, tests)
    except GuidecodeError as error:
        raise JsonRpcInvalidRequest(str(error)) from None


def _tests(ls: GuidecodeServer, uri: str, text: str, offset: int, target: dict[str, Any]):
    from assistant.functions import find_function_slot_at
    from assistant.search import TestSuite

    wanted = target.get("search", ls.service.options.search)
    if wanted is False:
        return TestSuite("", (), ())
    slot = find_function_slot_at(text, offset)
    path = target.get("tests")
    if path is not None and not isinstance(path, str):
        raise GuidecodeError(f"{GENERATE}: 'tests' must be the path of a test file, got {path!r}")
    document = document_path(uri)  # its name: the module a test file imports it as
    return TestSuite.load(text, slot.name, path, _read, stem=Path(document).stem if document else None)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise GuidecodeError(f"cannot read the test file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise GuidecodeError(f"the test file {path} is not UTF-8 text") from None


async def _plain(ls: GuidecodeServer, uri: str, text: str, offset: int, workspace: str | None) -> dict:
    async with progress(ls, "guidecode: writing the function body") as report:
        generated = await ls.service.generate_function(text, offset, uri, workspace)
        report.end(f"{generated.completion.tokens} tokens in {generated.completion.seconds:.1f} s")
    return await _propose(ls, uri, text, generated)


async def _search(ls: GuidecodeServer, uri: str, text: str, offset: int, workspace: str | None, tests) -> dict:
    total = len(tests.names)
    rollouts = ls.service.options.search_rollouts
    async with progress(ls, f"guidecode: searching for a body that passes {total} tests", cancellable=True) as report:

        def on_rollout(done: int, best) -> None:
            report.report(f"{done} of {rollouts} programs; the best passes {best.scored.detail} of {total}", 100 * done // rollouts)

        found = await ls.service.search_function(text, offset, uri, workspace, tests, report.cancel, on_rollout)
        if found is None:
            report.end("cancelled before a first program")
            return {"applied": False, "text": "", "function": None, "search": {"stopped": "cancelled", "rollouts": 0}}
        report.end(f"{len(found.passed)} of {total} tests pass ({found.result.stopped}, {found.result.rollouts} programs)")
    return {**await _propose(ls, uri, text, found.generated), "search": found.report()}


async def _propose(ls: GuidecodeServer, uri: str, text: str, generated) -> dict:
    start, end = generated.replaced
    edit = lsp.TextEdit(range=lsp.Range(offset_position(text, start), offset_position(text, end)), new_text="\n" + generated.body)
    response = await ls.apply_edit_async(lsp.WorkspaceEdit(changes={uri: [edit]}), label=f"guidecode: body of {generated.name}")
    return {"applied": bool(response and response.applied), "text": generated.body, "function": generated.name}


class Report:
    """Progress of one piece of work, safe to call from the worker thread; `cancel` is set when
    the user cancels it in the editor."""

    def __init__(self, ls: GuidecodeServer, token: str | None):
        self.ls, self.token = ls, token
        self.loop = asyncio.get_running_loop()
        self.cancel = threading.Event()
        self.message = ""

    def report(self, message: str, percentage: int | None = None) -> None:
        if self.token is not None:
            value = lsp.WorkDoneProgressReport(message=message, percentage=percentage)
            self.loop.call_soon_threadsafe(self.ls.progress.report, self.token, value)

    def end(self, message: str) -> None:
        self.message = message


@asynccontextmanager
async def progress(ls: GuidecodeServer, title: str, cancellable: bool = False):
    """$/progress around long work, when the client supports it; yields a `Report`. Leaving the
    block early (an error, or the request cancelled) sets the report's cancel flag."""
    capabilities = ls.client_capabilities.window
    supported = bool(capabilities and capabilities.work_done_progress)
    token = f"guidecode-{next(_tokens)}" if supported else None
    report = Report(ls, token)
    if token is not None:
        await ls.progress.create_async(token)
        ls.progress.begin(token, lsp.WorkDoneProgressBegin(title=title, cancellable=cancellable))
        ls.progress.tokens[token].add_done_callback(lambda _: report.cancel.set())  # the client's cancel
    try:
        yield report
    except BaseException as error:
        report.cancel.set()  # a cancelled request must not leave the search running
        if isinstance(error, GuidecodeError):
            report.end(str(error))
        raise
    finally:
        if token is not None:
            ls.progress.end(token, lsp.WorkDoneProgressEnd(message=report.message))
            ls.progress.tokens.pop(token, None)
