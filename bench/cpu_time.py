"""CPU time of benchmarked processes, read from Linux /proc, to tell a change's cost apart from
the load on a shared machine."""

import os
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (uvicorn --workers N runs N children)."""
    pids, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except FileNotFoundError:
            continue
        for child in map(int, children):
            pids.append(child)
            frontier.append(child)
    return pids


def tree_cpu_seconds(*pids: int) -> float:
    """CPU time of the given processes and all their descendants."""
    return sum(cpu_seconds(p) for pid in pids for p in process_tree(pid))
