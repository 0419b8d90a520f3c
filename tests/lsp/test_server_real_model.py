"""One path through the server with the real embedded 0.5B model."""

import asyncio
import re
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
        items = await session.inline_whole(uri, 12, 8)  # line 13, column 9: the body of Circle.area
        assert "self.radius" in items[0].insert_text
        stats = await session.stats()
        assert stats["model"].startswith("Qwen2.5-Coder-0.5B-Instruct")
        await stop_session(session)

    asyncio.run(scenario())


@pytest.mark.real_model
def test_completions_in_a_workspace_folder_are_monitored(tmp_path):
    (tmp_path / "geometry.py").write_text(
        "class Polygon:\n    def __init__(self, points):\n        self.points = list(points)\n\n    def vertex_count(self):\n        return len(self.points)\n"
    )
    text = "from geometry import Polygon\n\n\ndef describe(poly: Polygon) -> str:\n    n = poly."
    uri = (tmp_path / "app.py").as_uri()  # an unsaved document: nothing on disk

    async def scenario():
        session = await start_session("0.5b", {"maxTokens": 16}, workspace=str(tmp_path))
        session.open(uri, text)
        items = await session.inline_whole(uri, 4, len("    n = poly."))
        written = items[0].insert_text
        member = re.match(r"\w*", written).group(0)  # the member after `poly.` (a chain may follow: `points.count(`)
        assert member in {"points", "vertex_count"} | set(dir(object)), written
        stats = await session.stats()
        assert stats["monitors"]["completions"] == 1 and stats["monitors"]["queries"] >= 1
        await stop_session(session)

    asyncio.run(scenario())
    assert not (tmp_path / "app.py").exists()
