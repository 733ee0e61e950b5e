"""Conversation memory: openai-agents `SQLiteSession`s in the project's conversations file.

Opening a session creates its schema and connections, which costs milliseconds, so open sessions
are kept (a few hundred, least recently used first out) and reused while their file is the same file.
"""

import os
import threading
from collections import OrderedDict
from pathlib import Path

from agents import SQLiteSession, TResponseInputItem
from asgiref.sync import async_to_sync

_KEEP = 256
_lock = threading.Lock()
_open: OrderedDict[tuple[str, str], tuple[int, SQLiteSession]] = OrderedDict()


def _inode(path: Path) -> int:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return -1


def memory_open(*, db_path: str | Path, key: str) -> SQLiteSession:
    """Blocking (may create the file and schema): call from a worker thread in async code."""
    path = Path(db_path)
    cache_key = (str(path), key)
    with _lock:
        cached = _open.get(cache_key)
        if cached is not None and cached[0] == _inode(path) != -1 and not cached[1]._closed:
            _open.move_to_end(cache_key)
            return cached[1]
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
