"""Bounded waits on a condition, for tests: the bound only guards against a hang, it is never what
a test asserts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(condition: Callable[[], bool], timeout: float = 30.0, step: float = 0.02) -> None:
    """Returns once ``condition()`` holds; fails the test after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(step)
