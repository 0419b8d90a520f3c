"""One path through the server with the real embedded 0.5B model."""

import asyncio
from pathlib import Path

import pytest

from tests.lsp.conftest import start_session, stop_session

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shapes.py"


@pytest.mark.real_model
def test_inline_completion_with_the_embedded_model():
    async def scenario():
        session = await start_session("0.5b", {"maxTokens": 32})
        uri = EXAMPLE.as_uri()
        session.open(uri, EXAMPLE.read_text())
        items = await session.inline(uri, 12, 8)  # line 13, column 9: the body of Circle.area
        assert "self.radius" in items[0].insert_text
        stats = await session.stats()
        assert stats["model"].startswith("Qwen2.5-Coder-0.5B-Instruct")
        await stop_session(session)

    asyncio.run(scenario())
