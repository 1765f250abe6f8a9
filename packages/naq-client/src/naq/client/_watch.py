"""Watching a KV bucket: every entry of it, current keys first, fed to a callback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from loguru import logger

__all__ = ["KeyWatch"]


class KeyWatch:
    """Feeds every entry of a bucket watch to ``on_entry``; ``ready`` once the current keys are in."""

    def __init__(self, kv: Any, on_entry: Callable[[Any], None], meta_only: bool) -> None:
        self._kv = kv
        self._on_entry = on_entry
        self._meta_only = meta_only
        self._watcher: Any = None
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def start(self, timeout: float = 30.0) -> None:
        """Start watching and wait until the bucket's current keys have been seen."""
        self._watcher = await self._kv.watch(">", meta_only=self._meta_only)
        self._task = asyncio.create_task(self._consume(), name=f"naq-watch-{self._kv._name}")
        await asyncio.wait_for(self.ready.wait(), timeout)

    async def _consume(self) -> None:
        async for entry in self._watcher:
            if entry is None:  # the end of the current keys
                self.ready.set()
                continue
            try:
                self._on_entry(entry)
            except Exception:  # one bad entry must not end the watch
                logger.exception("could not apply a watched entry for key {}", entry.key)

    async def stop(self) -> None:
        """Stop watching."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._watcher is not None:
            try:
                await self._watcher.stop()
            except Exception as exc:  # connection already closing
                logger.debug("stopping a watch: {}", exc)
