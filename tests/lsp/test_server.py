"""The real server over JSON-RPC, with the tiny random-weight model (seconds)."""

import asyncio

import pytest
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException

from tests.lsp.conftest import start_session, stop_session

pytestmark = pytest.mark.slow  # a server process per test

URI = "file:///tmp/guidecode-test/app.py"
TEXT = "import os\n\ndef main():\n    path = os.getcwd()\n    print(path\n"


def run(coroutine):
    return asyncio.run(coroutine)


def test_initialize_advertises_inline_completion_and_commands(tiny_model_dir):
    async def scenario():
        session = await start_session(tiny_model_dir)
        caps = session.initialize_result.capabilities
        assert caps.inline_completion_provider is not None
        assert caps.completion_provider is not None
        assert set(caps.execute_command_provider.commands) >= {"guidecode.generate", "guidecode.stats"}
        assert caps.text_document_sync.change == lsp.TextDocumentSyncKind.Incremental
        await stop_session(session)

    run(scenario())


def test_inline_completion_completion_typed_ahead_and_refresh(tiny_model_dir):
    async def scenario():
        session = await start_session(tiny_model_dir, {"maxTokens": 12})
        session.open(URI, TEXT)
        first = await session.inline(URI, 4, len("    print(path"))
        assert len(first) == 1 and first[0].insert_text
        assert first[0].command.command == "guidecode.accepted"  # the client runs it after an accept
        for _ in range(100):  # a partial answer: the client is asked to refresh it when the rest is ready
            if session.refreshes or len(first[0].insert_text) >= 12:
                break
            await asyncio.sleep(0.05)
        # the same place through textDocument/completion: the whole completion, which the inline
        # answer (perhaps given before the generation ended) begins
        params = lsp.CompletionParams(lsp.TextDocumentIdentifier(URI), lsp.Position(4, len("    print(path")))
        completion = await session.call(session.client.text_document_completion_async(params))
        proposal = completion.items[0].text_edit.new_text
        assert proposal.startswith(first[0].insert_text)
        if first[0].insert_text != proposal:
            assert [p["uri"] if isinstance(p, dict) else p.uri for p in session.refreshes] == [URI]
        # the user types the first character of the proposal: the rest comes back without the model
        typed = proposal[0]
        change = lsp.TextDocumentContentChangeEvent_Type1(range=lsp.Range(lsp.Position(4, 14), lsp.Position(4, 14)), text=typed)
        session.client.text_document_did_change(lsp.DidChangeTextDocumentParams(lsp.VersionedTextDocumentIdentifier(version=2, uri=URI), [change]))
        rest = await session.inline(URI, 4, 14 + len(typed))
        if len(proposal) > 1:
            assert rest[0].insert_text == proposal[1:]
        stats = await session.stats()
        assert stats["cacheHits"]["typedAhead"] == 1 + (len(proposal) > 1)  # the completion list's and the typed one's
        assert stats["latencyMsByKind"]["cold"]["n"] == 1
        assert stats["latencyMsByKind"].get("cold/line", {"n": 0})["n"] + stats["partial"] == 1  # a partial answer has no scope yet
        assert stats["generations"]["requested"] == 1
        states = [s["state"] if isinstance(s, dict) else s.state for s in session.statuses]
        assert states[0] == "loading" and "busy" in states and states[-1] == "idle"
        await stop_session(session)

    run(scenario())


def test_a_typescript_document_gets_a_block_completion_unguided(tiny_model_dir):
    async def scenario():
        session = await start_session(tiny_model_dir, {"maxTokens": 12})
        uri = "file:///tmp/guidecode-test/util.ts"
        session.open(uri, "export function clamp(v: number): number {\n  \n}\n", language="typescript")
        params = lsp.CompletionParams(lsp.TextDocumentIdentifier(uri), lsp.Position(1, 2))
        completion = await session.call(session.client.text_document_completion_async(params))
        assert completion.items and completion.items[0].documentation.value.startswith("```typescript\n")
        stats = await session.stats()
        assert stats["latencyMsByKind"]["cold/block"]["n"] == 1  # the `{` opened a block
        await stop_session(session)

    run(scenario())


def test_a_newer_request_supersedes_the_older(tiny_model_dir):
    async def scenario():
        session = await start_session(tiny_model_dir, {"debounceMs": 300, "maxTokens": 8})
        session.open(URI, TEXT)
        older = asyncio.ensure_future(session.inline(URI, 4, 5))
        await asyncio.sleep(0.05)
        newer = await session.inline(URI, 4, 6)
        assert await older == []  # abandoned during its debounce
        assert isinstance(newer, list)
        stats = await session.stats()
        assert stats["superseded"] >= 1
        await stop_session(session)

    run(scenario())


def test_cancel_request_is_answered_and_the_server_goes_on(tiny_model_dir):
    async def scenario():
        session = await start_session(tiny_model_dir, {"debounceMs": 2000})
        session.open(URI, TEXT)
        params = lsp.InlineCompletionParams(
            context=lsp.InlineCompletionContext(trigger_kind=lsp.InlineCompletionTriggerKind.Invoked),
            text_document=lsp.TextDocumentIdentifier(URI),
            position=lsp.Position(4, 5),
        )
        future = session.client.protocol.send_request(lsp.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id="to-cancel")
        await asyncio.sleep(0.2)
        session.client.protocol.notify(lsp.CANCEL_REQUEST, lsp.CancelParams(id="to-cancel"))
        with pytest.raises(JsonRpcException):
            await asyncio.wait_for(asyncio.wrap_future(future), 30)
        stats = await session.stats()  # still alive
        assert stats["requests"] >= 1
        await stop_session(session)

    run(scenario())


def test_bad_requests_get_empty_results_or_errors(tiny_model_dir):
    async def scenario():
        session = await start_session(tiny_model_dir)
        assert await session.inline("file:///never/opened.py", 0, 0) == []
        session.open(URI, TEXT)
        assert await session.inline(URI, 99, 0) == []
        assert await session.inline(URI, 0, 500) == []
        with pytest.raises(JsonRpcException):
            await session.call(session.client.workspace_execute_command_async(lsp.ExecuteCommandParams("guidecode.generate", [{"uri": 3}])))
        with pytest.raises(JsonRpcException):
            await session.call(session.client.workspace_execute_command_async(lsp.ExecuteCommandParams("no.such.command", [])))
        # lone surrogates (not encodable as UTF-8) and a huge file: an answer, not a crash
        weird = "s = '\ud800'\n" + "x = 1\n" * 200_000 + "def f():\n    "
        session.open("file:///tmp/guidecode-test/weird.py", weird)
        items = await session.inline("file:///tmp/guidecode-test/weird.py", 200_002, 4)
        assert isinstance(items, list)
        assert (await session.stats())["requests"] == 1  # only the valid one reached the model
        await stop_session(session)

    run(scenario())


def test_invalid_options_are_reported_and_replaced(tiny_model_dir):
    async def scenario():
        session = await start_session(tiny_model_dir, {"maxTokens": -5, "dtype": "int3", "colour": "blue"})
        await asyncio.sleep(0.5)
        joined = "\n".join(session.messages)
        assert "maxTokens=-5" in joined and "int3" in joined and "colour" in joined
        session.client.workspace_did_change_configuration(
            lsp.DidChangeConfigurationParams(settings={"guidecode": {"debounceMs": "soon", "server": {"command": "x"}}})
        )
        session.open(URI, TEXT)
        assert isinstance(await session.inline(URI, 4, 5), list)  # still serving
        assert any("debounceMs" in m for m in session.messages)
        assert not any("server" in m for m in session.messages)  # the extension's own keys are not errors
        await stop_session(session)

    run(scenario())


def test_adadec_without_a_learned_threshold_warns_once_and_completes_greedily(tiny_model_dir):
    async def scenario():
        session = await start_session(tiny_model_dir, {"adadec": True})
        session.open(URI, TEXT)
        assert isinstance(await session.inline(URI, 4, 5), list)  # served, not failed
        assert isinstance(await session.inline(URI, 4, 6), list)
        warned = [m for m in session.messages if "guidecode calibrate" in m]
        assert len(warned) == 1 and "greedy" in warned[0]
        await stop_session(session)

    run(scenario())


def test_generate_command_proposes_an_edit_with_progress(tiny_model_dir):
    async def scenario():
        session = await start_session(tiny_model_dir, {"maxTokens": 16})
        text = 'def area(r):\n    """Area of a circle."""\n    ...\n\nprint(area(2))\n'
        session.open(URI, text)
        args = [{"uri": URI, "position": {"line": 1, "character": 6}}]
        result = await session.call(session.client.workspace_execute_command_async(lsp.ExecuteCommandParams("guidecode.generate", args)))
        assert result["applied"] is True and result["function"] == "area"
        edit = session.edits[0].changes[URI][0]
        assert edit.range.start == lsp.Position(1, len('    """Area of a circle."""'))
        assert edit.range.end == lsp.Position(2, 7)  # the placeholder `...` is replaced
        kinds = [v["kind"] if isinstance(v, dict) else v.kind for v in session.progress]
        assert kinds == ["begin", "end"]
        await stop_session(session)

    run(scenario())


SEARCHABLE = 'def inc(x):\n    """Add one.\n    >>> inc(1)\n    2\n    """\n    ...\n'


def _kinds(session) -> list[str]:
    return [v["kind"] if isinstance(v, dict) else v.kind for v in session.progress]


def test_generate_searches_against_the_docstring_examples_and_says_which_pass(tiny_model_dir, tmp_path):
    async def scenario():
        session = await start_session(tiny_model_dir, {"maxTokens": 8, "searchRollouts": 3})
        session.open(URI, SEARCHABLE)
        test_file = tmp_path / "test_inc.py"
        test_file.write_text("def test_two():\n    assert inc(2) == 3\n")
        args = [{"uri": URI, "position": {"line": 1, "character": 6}, "tests": str(test_file)}]
        result = await session.call(session.client.workspace_execute_command_async(lsp.ExecuteCommandParams("guidecode.generate", args)))
        search = result["search"]
        # The random-weight model never writes inc: the whole budget goes, and no test passes.
        assert result["applied"] is True and result["function"] == "inc"
        assert (search["rollouts"], search["stopped"], search["passed"]) == (3, "rollouts", [])
        assert search["failed"] == ["inc(1) == 2", "test_two"]
        kinds = _kinds(session)
        assert kinds[0] == "begin" and kinds[-1] == "end" and kinds.count("report") >= 1
        begin = session.progress[0]
        assert (begin["cancellable"] if isinstance(begin, dict) else begin.cancellable) is True
        await stop_session(session)

    run(scenario())


def test_cancelling_the_search_keeps_the_best_program_so_far(tiny_model_dir):
    async def scenario():
        session = await start_session(tiny_model_dir, {"maxTokens": 8, "searchRollouts": 200})
        session.open(URI, SEARCHABLE)
        args = [{"uri": URI, "position": {"line": 1, "character": 6}}]
        pending = asyncio.ensure_future(session.client.workspace_execute_command_async(lsp.ExecuteCommandParams("guidecode.generate", args)))
        while "report" not in _kinds(session):  # a first program has been written
            await asyncio.sleep(0.05)
        token = session.progress_tokens[0]
        session.client.window_work_done_progress_cancel(lsp.WorkDoneProgressCancelParams(token=token))
        result = await session.call(pending)
        assert result["search"]["stopped"] == "cancelled" and 1 <= result["search"]["rollouts"] < 200
        assert result["applied"] is True
        await stop_session(session)

    run(scenario())


def test_generate_without_search_or_with_a_missing_test_file(tiny_model_dir):
    async def scenario():
        session = await start_session(tiny_model_dir, {"maxTokens": 8, "search": False})
        session.open(URI, SEARCHABLE)
        args = [{"uri": URI, "position": {"line": 1, "character": 6}}]
        result = await session.call(session.client.workspace_execute_command_async(lsp.ExecuteCommandParams("guidecode.generate", args)))
        assert "search" not in result and result["function"] == "inc"
        missing = [{"uri": URI, "position": {"line": 1, "character": 6}, "tests": "/nonexistent/test_x.py", "search": True}]
        with pytest.raises(Exception, match="cannot read the test file /nonexistent/test_x.py"):
            await session.call(session.client.workspace_execute_command_async(lsp.ExecuteCommandParams("guidecode.generate", missing)))
        await stop_session(session)

    run(scenario())


def test_requests_after_shutdown_get_an_error(tiny_model_dir):
    async def scenario():
        session = await start_session(tiny_model_dir)
        await session.call(session.client.shutdown_async(None))
        with pytest.raises(JsonRpcException):
            await session.call(session.client.workspace_execute_command_async(lsp.ExecuteCommandParams("guidecode.stats", [])))
        session.client.exit(None)
        await session.client.stop()

    run(scenario())


async def send_raw(session, msg_id: str, params: dict) -> dict:
    """Send a request as raw JSON (what a client other than pygls may send) and return the raw reply."""
    protocol = session.client.protocol
    future = asyncio.get_running_loop().create_future()
    protocol._result_types[msg_id] = None
    protocol._request_futures[msg_id] = future
    protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "method": lsp.TEXT_DOCUMENT_INLINE_COMPLETION, "params": params})
    try:
        result = await asyncio.wait_for(future, 60)
        return {"result": result}
    except JsonRpcException as error:
        return {"error": error}


def test_spec_trigger_kinds_and_unparsable_requests_are_answered(tiny_model_dir):
    async def scenario():
        session = await start_session(tiny_model_dir, {"maxTokens": 4})
        session.open(URI, TEXT)
        answer = await send_raw(session, "raw-1", {"textDocument": {"uri": URI}, "position": {"line": 4, "character": 5}, "context": {"triggerKind": 2}})
        assert "result" in answer  # LSP 3.18's Automatic=2 is accepted
        broken = await send_raw(session, "raw-2", {"textDocument": {"uri": URI}, "position": {"line": "four"}})
        assert "error" in broken  # answered with an error, not left waiting
        await stop_session(session)

    run(scenario())


@pytest.mark.real_model
def test_a_model_that_cannot_load_is_reported_and_replaced_by_the_default(tmp_path):
    async def scenario():
        session = await start_session(tmp_path / "no-such-model.gguf", {"maxTokens": 4})
        session.open(URI, TEXT)
        assert isinstance(await session.inline(URI, 4, 5), list)  # served by the default model
        assert any("no-such-model.gguf" in m and "does not exist" in m and "default model 0.5b" in m for m in session.messages)
        assert (await session.stats())["model"].startswith("Qwen2.5-Coder-0.5B")
        await stop_session(session)

    run(scenario())
