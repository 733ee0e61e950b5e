"""Conversation memory: openai-agents `SQLiteSession`s in the project's conversations file."""

from pathlib import Path

from agents import SQLiteSession
from asgiref.sync import async_to_sync


def memory_open(*, db_path: str | Path, key: str) -> SQLiteSession:
    """Blocking (creates the file and schema): call from a worker thread in async code."""
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    return SQLiteSession(key, db_path)


def memory_clear(*, db_path: str | Path, key: str) -> None:
    if not Path(db_path).exists():
        return
    memory = memory_open(db_path=db_path, key=key)
    try:
        async_to_sync(memory.clear_session)()
    finally:
        memory.close()


def memory_items(*, db_path: str | Path, key: str) -> list[dict]:
    if not Path(db_path).exists():
        return []
    memory = memory_open(db_path=db_path, key=key)
    try:
        return list(async_to_sync(memory.get_items)())
    finally:
        memory.close()
