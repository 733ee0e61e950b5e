"""The `git` command line, to check repositories the way a person at a terminal would."""

import subprocess
from pathlib import Path


def git(repo: Path, *args: str, strip: bool = True) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return result.stdout.strip() if strip else result.stdout
