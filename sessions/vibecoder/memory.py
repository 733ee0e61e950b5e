"""Conversation memory: openai-agents `SQLiteSession`s in the project's conversations file.

What a run sends of its memory is bounded by `MEMORY_TOKEN_BUDGET` (`memory_bounded`); everything
stays stored. Opening a session creates its schema and connections, which costs milliseconds, so open sessions
are kept (a few hundred, least recently used first out) and reused while their file is the same file.
"""

import json
import os
import threading
from collections import OrderedDict
from pathlib import Path

from agents import SQLiteSession, TResponseInputItem
from agents.memory import SessionInputCallback
from asgiref.sync import async_to_sync
from django.conf import settings

_KEEP = 256
_lock = threading.Lock()
_open: OrderedDict[tuple[str, str], tuple[int, SQLiteSession]] = OrderedDict()


def _inode(path: Path) -> int:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return -1


def memory_kept(*, db_path: str | Path, key: str) -> SQLiteSession | None:
    """The kept open session of this file and key, or None. Only looks (one `stat`), so async code
    may call it on the event loop and open the session in a worker thread when it is not kept."""
    path = Path(db_path)
    cache_key = (str(path), key)
    with _lock:
        cached = _open.get(cache_key)
        if cached is not None and cached[0] == _inode(path) != -1 and not cached[1]._closed:
            _open.move_to_end(cache_key)
            return cached[1]
    return None


def memory_open(*, db_path: str | Path, key: str) -> SQLiteSession:
    """Blocking (may create the file and schema): call from a worker thread in async code."""
    kept = memory_kept(db_path=db_path, key=key)
    if kept is not None:
        return kept
    path = Path(db_path)
    cache_key = (str(path), key)
    path.parent.mkdir(parents=True, exist_ok=True)
    memory = SQLiteSession(key, path)
    with _lock:
        # Entries that fall out are not closed: a run may still hold them; their connections
        # close when the last reference goes.
        _open[cache_key] = (_inode(path), memory)
        _open.move_to_end(cache_key)
        while len(_open) > _KEEP:
            _open.popitem(last=False)
    return memory


def memory_forget(*, db_path: str | Path) -> None:
    """Close every kept session of a conversations file (before it is deleted)."""
    with _lock:
        keys = [cache_key for cache_key in _open if cache_key[0] == str(Path(db_path))]
        closing = [_open.pop(cache_key)[1] for cache_key in keys]
    for memory in closing:
        memory.close()


def memory_clear(*, db_path: str | Path, key: str) -> None:
    if not Path(db_path).exists():
        return
    async_to_sync(memory_open(db_path=db_path, key=key).clear_session)()


def memory_items(*, db_path: str | Path, key: str) -> list[TResponseInputItem]:
    if not Path(db_path).exists():
        return []
    return list(async_to_sync(memory_open(db_path=db_path, key=key).get_items)())


def memory_tokens(items: list[TResponseInputItem]) -> int:
    """A cheap estimate of the tokens the items cost as model input: their JSON's UTF-8 bytes / 4."""
    return sum(len(json.dumps(item, ensure_ascii=False, default=str).encode()) for item in items) // 4


def _turns(history: list[TResponseInputItem]) -> list[list[TResponseInputItem]]:
    """The history cut before each user item: a turn is one request and everything the model did with it
    (reasoning, tool calls and their outputs, answers), so a kept turn is never cut in the middle."""
    turns: list[list[TResponseInputItem]] = []
    for item in history:
        if item.get("role") == "user" or not turns:
            turns.append([])
        turns[-1].append(item)
    return turns


def memory_bounded(budget: int | None = None) -> SessionInputCallback:
    """The `RunConfig.session_input_callback` that sends the newest whole turns of the history that fit in
    `budget` tokens (default `MEMORY_TOKEN_BUDGET`; 0 = no limit) together with the new request, which
    is always sent whole: it carries the current code. Items before the history's first user item
    (a turn whose start was cut off) are never sent."""
    limit = settings.MEMORY_TOKEN_BUDGET if budget is None else budget

    def combine(history: list[TResponseInputItem], new_items: list[TResponseInputItem]) -> list[TResponseInputItem]:
        if not limit:
            return history + new_items
        room = limit - memory_tokens(new_items)
        kept: list[list[TResponseInputItem]] = []  # newest first
        for turn in reversed(_turns(history)):
            cost = memory_tokens(turn)
            if cost > room or turn[0].get("role") != "user":
                break
            room -= cost
            kept.append(turn)
        return [item for turn in reversed(kept) for item in turn] + new_items

    return combine
