"""The completion service in process: what the subprocess tests cannot watch from outside."""

from __future__ import annotations

import asyncio
import threading

from assistant import Assistant
from assistant.progress import Progress
from lsp.options import ServerOptions
from lsp.service import CompletionService

from .conftest import TEST_DTYPE


class _Watched(Assistant):
    """The real Assistant; it notes the thread that replaces its configuration."""

    threads: list[str] = []

    def __setattr__(self, name, value):
        if name == "config":
            _Watched.threads.append(threading.current_thread().name)
        super().__setattr__(name, value)


def test_new_settings_reach_the_assistant_on_its_worker_thread(tiny_model_dir):
    warnings: list[str] = []

    async def scenario():
        options = ServerOptions(model=str(tiny_model_dir), dtype=TEST_DTYPE, max_tokens=5)
        service = CompletionService(
            options, status=lambda *a: None, warn=warnings.append, loader=lambda config: _Watched.load(config, progress=Progress.silent())
        )
        service.start_loading()
        assistant = await service.assistant()
        assert assistant.config.max_new_tokens == 5
        _Watched.threads.clear()
        service.reconfigure(options.replace(max_tokens=7))
        await asyncio.wrap_future(service.worker.submit(lambda: None))  # the worker has run what was queued before
        assert assistant.config.max_new_tokens == 7
        assert _Watched.threads and all(name.startswith("guidecode-model") for name in _Watched.threads), _Watched.threads
        service.worker.shutdown()

    asyncio.run(scenario())
    assert warnings == []
