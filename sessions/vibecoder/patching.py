"""Apply model-written patches to the single file `workflow.py`, and make `git`-style diffs.

`patch_apply` accepts unified diffs and V4A (OpenAI apply_patch) patches, tolerating the
usual model mistakes (wrong or missing line numbers and counts, missing file headers, code
fences, CRLF, trailing-whitespace drift) but refusing, with a reason the model can act on,
anything it cannot place unambiguously.

Matching rules:

* A hunk's old side (its ' ' and '-' lines, in order) must appear as a contiguous block of
  the original text. Lines are compared exactly first; only if that finds nothing are they
  compared with trailing whitespace stripped (the file's own text is kept for context lines).
* V4A `@@ <anchor>` lines narrow the candidates: for each line of the file that equals the
  anchor (or starts with it, both stripped) the first candidate block that starts after that
  line, or contains it, is kept. Stacked anchors are resolved one after the other.
* Several candidates left: see `_choose_candidate` (nearest to the header's line number).
* All hunks are located in the original text, so their order in the patch does not matter;
  overlapping hunks are refused.
* The result keeps the original's line ending (that of its first line) and its final-newline
  state; an empty original gets a final newline. `\\ No newline at end of file` markers are
  ignored.
"""

from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass, field

__all__ = ["PatchError", "patch_apply", "unified_diff"]

_UNIFIED_HEADER = re.compile(r"^@@+\s*-(\d+)(?:,(\d+))?(?:\s+\+\d+(?:,\d+)?)?\s*@@")
_FENCE = re.compile(r"^\s*(```|~~~)[\w+-]*\s*$")
_META_LINE = re.compile(
    r"^(diff --git |diff -|index [0-9a-fA-F]+\.\.[0-9a-fA-F]+|(new|deleted) file mode |"
    r"(old|new) mode |(dis)?similarity index |(rename|copy) (from|to) |Binary files |"
    r"\*\*\* (Begin Patch|End Patch|End of File|Update File:|Add File:|Delete File:|Move to:))"
)
_MAX_SHOWN = 12  # lines of expected / actual text shown in one refusal
_MAX_MESSAGE_LINES = 40


class PatchError(Exception):
    """A patch that cannot be applied unambiguously; str(exc) is the full reason shown to the model."""


@dataclass
class _Hunk:
    header: str
    # (op, text) with op one of " " (context), "-" (removed), "+" (added)
    lines: list[tuple[str, str]] = field(default_factory=list)
    # 0-based index where the old side should start, from "@@ -a,b"
    hint: int | None = None
    # set only by an explicit "@@ -a,0" header: insert after line a
    insert_at: int | None = None
    anchors: list[str] = field(default_factory=list)
    at_eof: bool = False
    number: int = 0

    @property
    def old(self) -> list[str]:
        return [text for op, text in self.lines if op != "+"]

    @property
    def label(self) -> str:
        return f"Hunk {self.number} ({_clip(self.header, 70)})"


@dataclass
class _Edit:
    start: int
    end: int
    hunk: _Hunk


def patch_apply(*, original: str, patch: str) -> str:
    """Apply a unified diff or V4A patch to `original`, return new text. Raise PatchError."""
    hunks = _parse_patch(patch, file_exists=bool(original))
    file_lines = _split_keepends(original)
    keys = [_strip_eol(line) for line in file_lines]
    edits = sorted((_locate(hunk, keys) for hunk in hunks), key=lambda e: (e.start, e.end))
    for prev, nxt in itertools.pairwise(edits):
        same_insertion_point = prev.start == prev.end == nxt.start == nxt.end
        if nxt.start < prev.end or same_insertion_point:
            first, second = sorted((prev.hunk, nxt.hunk), key=lambda h: h.number)
            raise PatchError(
                f"{first.label} and {second.label} overlap: they cover "
                f"{_line_range(prev.start, prev.end - prev.start)} and "
                f"{_line_range(nxt.start, nxt.end - nxt.start)} of the file. Every hunk "
                "is applied to the original file, so merge overlapping hunks into one."
            )

    eol = "\r\n" if file_lines and file_lines[0].endswith("\r\n") else "\n"
    out: list[str] = []
    pos = 0
    for edit in edits:
        out.extend(file_lines[pos : edit.start])
        k = edit.start
        for op, text in edit.hunk.lines:
            if op == "+":
                out.append(text + eol)
            else:
                if op == " ":  # keep the file's text, even if matched loosely
                    out.append(file_lines[k])
                k += 1
        pos = edit.end
    out.extend(file_lines[pos:])

    out = [line if line.endswith("\n") else line + eol for line in out]
    if out and original and not original.endswith("\n"):
        out[-1] = _strip_eol(out[-1])
    result = "".join(out)
    if result == original:
        raise PatchError(
            "The patch applies but changes nothing: its '+' lines equal the '-' lines they "
            "replace (or it has only context lines). Send a patch that makes the intended change."
        )
    return result


def unified_diff(*, old: str, new: str, path: str = "workflow.py") -> str:
    """`git diff` style unified diff of old -> new: 'diff --git a/<path> b/<path>', '--- a/<path>', '+++ b/<path>', @@ hunks with 3 lines context, '\\ No newline at end of file' markers where applicable. Empty string when equal."""
    if old == new:
        return ""
    body = difflib.unified_diff(
        _split_keepends(old),
        _split_keepends(new),
        f"a/{path}",
        f"b/{path}",
        n=3,
        lineterm="\n",
    )
    out = [f"diff --git a/{path} b/{path}\n"]
    for line in body:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


# --- parsing -------------------------------------------------------------------------------


def _parse_patch(patch: str, *, file_exists: bool = True) -> list[_Hunk]:
    """Split the patch into hunks; file headers only contribute file names (and refuse creating a
    file that has content, or deleting it)."""
    lines = [line.rstrip("\r") for line in re.split(r"\r?\n", patch)]
    skipped = 0  # leading lines dropped, so that error messages count lines of the patch
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
        skipped += 1
    if lines and _FENCE.match(lines[0]):
        lines.pop(0)
        skipped += 1
    if lines and _FENCE.match(lines[-1]):
        lines.pop()

    hunks: list[_Hunk] = []
    paths: set[str] = set()
    current: _Hunk | None = None
    # empty lines seen in a hunk: context if more hunk lines follow, else dropped
    blanks = 0
    for number, line in enumerate(lines, start=1):
        next_line = lines[number] if number < len(lines) else ""
        if line.startswith("--- ") and (current is None or next_line.startswith("+++ ")):
            # old-file header; inside a hunk only when a "+++" line follows
            if _is_dev_null(line[4:]) and file_exists:
                raise PatchError(
                    "The patch creates the file from nothing ('--- /dev/null'), but workflow.py exists: "
                    "give hunks that edit it, with unchanged context lines from the current code."
                )
            current = None
        elif line.startswith("+++ ") and current is None:
            if _is_dev_null(line[4:]):
                raise PatchError("The patch deletes the file ('+++ /dev/null'); only edits are allowed.")
            _add_path(paths, line[4:])
        elif line.startswith("@@"):
            hunk = _hunk_from_header(line)
            if current is not None and not current.lines and hunk.anchors and current.hint is None:
                # stacked V4A anchors: "@@ class A" then "@@     def m"
                current.anchors += hunk.anchors
                current.header += " " + line
            else:
                current = hunk
                hunks.append(current)
            blanks = 0
        elif _META_LINE.match(line):
            if line.startswith("*** End of File") and current is not None:
                current.at_eof = True
            elif line.startswith("*** Delete File:"):
                raise PatchError("The patch deletes the file; only edits are allowed. Use '*** Update File:'.")
            elif line.startswith("*** ") and ":" in line:
                _add_path(paths, line.split(":", 1)[1])
            elif line.startswith("diff --git "):
                _add_path(paths, line.split()[-1])
            current = None
        elif line.startswith("\\"):
            continue  # "\ No newline at end of file"
        elif line == "" and current is not None:
            blanks += 1
        elif line[:1] in (" ", "-", "+"):
            if current is None:
                current = _Hunk(header="(hunk without an @@ line)")
                hunks.append(current)
                blanks = 0
            current.lines += [(" ", "")] * blanks + [(line[0], line[1:])]
            blanks = 0
        elif current is not None:
            raise PatchError(
                f"Line {number + skipped} of the patch, inside {_clip(current.header, 70)}, does not start "
                f"with ' ', '-' or '+': {_clip(line, 100)!r}. Every hunk line needs one of these "
                "prefixes (a space for unchanged lines)."
            )
        # any other line outside a hunk (prose, unknown headers) is ignored, like `patch` does

    if len(paths) > 1:
        raise PatchError(
            f"The patch touches more than one file ({', '.join(sorted(paths))}). There is only "
            "one file, workflow.py: send a patch for that file alone."
        )
    hunks = [hunk for hunk in hunks if hunk.lines]
    if not hunks:
        raise PatchError(
            "The patch contains no hunks. Send a unified diff ('@@ -a,b +c,d @@' lines followed "
            "by lines starting with ' ', '-' or '+') or a V4A patch ('*** Begin Patch', "
            "'*** Update File: workflow.py', '@@' sections, '*** End Patch')."
        )
    for number, hunk in enumerate(hunks, start=1):
        hunk.number = number
    return hunks


def _hunk_from_header(line: str) -> _Hunk:
    match = _UNIFIED_HEADER.match(line)
    if match:
        start = int(match.group(1))
        explicit_insert = match.group(2) == "0"
        return _Hunk(
            header=line.strip(),
            hint=start if explicit_insert else max(start - 1, 0),
            insert_at=start if explicit_insert else None,
        )
    rest = line[2:].strip()
    if not rest or rest.endswith("@@"):  # bare "@@", or "@@ ... @@" without numbers
        return _Hunk(header=line.strip())
    return _Hunk(header=line.strip(), anchors=[rest])


def _is_dev_null(raw: str) -> bool:
    return raw.split("\t")[0].strip().strip('"') in ("/dev/null", "dev/null")


def _add_path(paths: set[str], raw: str) -> None:
    path = raw.split("\t")[0].strip().strip('"')
    if path.startswith(("a/", "b/")):
        path = path[2:]
    path = path.removeprefix("./")
    if path and path != "/dev/null" and path != "dev/null":
        paths.add(path)


# --- locating hunks ------------------------------------------------------------------------


def _locate(hunk: _Hunk, keys: list[str]) -> _Edit:
    old = hunk.old
    if not old:
        if not keys:
            return _Edit(0, 0, hunk)
        if hunk.insert_at is not None and hunk.insert_at <= len(keys):
            return _Edit(hunk.insert_at, hunk.insert_at, hunk)
        raise PatchError(
            f"{hunk.label} only adds lines and has no unchanged (' ') or removed ('-') lines, "
            "so there is no way to tell where they go. Include a few unchanged lines from the "
            "file around the insertion point, each prefixed with a space."
        )

    candidates = _find_block(keys, old, hunk.at_eof, str) or _find_block(keys, old, hunk.at_eof, str.rstrip)
    if not candidates:
        raise PatchError(_not_found_message(hunk, keys))
    if hunk.anchors:
        candidates = _after_anchors(hunk, keys, candidates)
    if len(candidates) == 1:
        return _Edit(candidates[0], candidates[0] + len(old), hunk)
    chosen = _choose_candidate(candidates, hunk.hint, len(old))
    if chosen is None:
        hint = (
            "has no line number"
            if hunk.hint is None
            else (f"says line {hunk.hint + 1}, which is not clearly nearest to one of them")
        )
        raise PatchError(
            f"{hunk.label} is ambiguous: its unchanged and removed lines occur {len(candidates)} "
            f"times in the file, starting at lines {_numbers(candidates)}; its header {hint}. "
            "Add more unchanged lines around the change (or an '@@ <line>' anchor naming the "
            "enclosing def/class) so that it matches exactly one place."
        )
    return _Edit(chosen, chosen + len(old), hunk)


def _find_block(keys: list[str], old: list[str], at_eof: bool, norm) -> list[int]:
    target = [norm(line) for line in old]
    normed = [norm(line) for line in keys]
    size = len(target)
    starts = range(len(keys) - size, len(keys) - size + 1) if at_eof else range(len(keys) - size + 1)
    return [s for s in starts if s >= 0 and normed[s] == target[0] and normed[s : s + size] == target]


def _after_anchors(hunk: _Hunk, keys: list[str], candidates: list[int]) -> list[int]:
    """Keep, for each place where the anchors are found in turn, the first candidate after it."""
    positions = [-1]
    for anchor in hunk.anchors:
        wanted = anchor.strip()
        hits = [i for i, key in enumerate(keys) if key.strip().startswith(wanted)]
        hits = [i for i in hits if keys[i].strip() == wanted] or hits  # whole lines first
        following = (next((i for i in hits if i > p), None) for p in positions)
        positions = sorted({i for i in following if i is not None})
        if not positions:
            raise PatchError(
                f"{hunk.label}: the anchor line {_clip(anchor, 80)!r} was not found in the file "
                "(after the previous anchor, if any). An '@@' anchor must be a line copied from "
                "the file, e.g. the enclosing 'def ...' or 'class ...' line."
            )
    size = len(hunk.old)
    firsts = (next((s for s in candidates if s + size > p), None) for p in positions)
    kept = {s for s in firsts if s is not None}
    if not kept:
        raise PatchError(
            f"{hunk.label}: its lines occur at lines {_numbers(candidates)} of the file, but none "
            f"after the anchor line(s) {', '.join(repr(a) for a in hunk.anchors)} "
            f"(found at line(s) {_numbers(positions)})."
        )
    return sorted(kept)


def _choose_candidate(candidates: list[int], hint: int | None, size: int) -> int | None:
    """Pick the candidate nearest to the header's line number, or None if that is not clear.

    With slack = max(3, hunk old-side length) and d1 <= d2 the distances of the two nearest
    candidates from the hinted line, the nearest is chosen only if d1 <= slack and
    d2 - d1 > slack: it is near the hint and every other candidate is much farther away.
    """
    if hint is None:
        return None
    slack = max(3, size)
    nearest, second = sorted(candidates, key=lambda s: abs(s - hint))[:2]
    d1, d2 = abs(nearest - hint), abs(second - hint)
    return nearest if d1 <= slack and d2 - d1 > slack else None


# --- refusal text --------------------------------------------------------------------------


def _not_found_message(hunk: _Hunk, keys: list[str]) -> str:
    old = hunk.old
    old_ops = [op for op, _ in hunk.lines if op != "+"]
    where = " at the end of the file (it is marked '*** End of File')" if hunk.at_eof else ""
    lines = [
        (
            f"{hunk.label} does not match the file: its unchanged (' ') and removed ('-') "
            f"lines were not found together{where}. The hunk expects these lines, in order:"
        ),
        *_shown([f"      | {text}" for text in old]),
    ]
    if not keys:
        lines.append("But the file is empty.")
    else:
        start = _most_similar(keys, old)
        window = keys[start : start + len(old)]
        lines.append(f"The most similar lines in the file are {_line_range(start, len(window))}:")
        lines += _shown([f"{start + i + 1:>5} | {text}" for i, text in enumerate(window)])
        for i, expected in enumerate(old):
            if i >= len(window):
                lines.append(f"First difference: the file ends after line {len(keys)}.")
                break
            if window[i].rstrip() != expected.rstrip():
                kind = "a removed" if old_ops[i] == "-" else "an unchanged"
                lines.append(
                    f"First difference: line {start + i + 1} of the file is "
                    f"{_clip(window[i], 100)!r}, but the hunk expects {_clip(expected, 100)!r} "
                    f"({kind} line)."
                )
                break
    lines.append("Copy unchanged and removed lines exactly from the current file and resend.")
    if len(lines) > _MAX_MESSAGE_LINES:
        lines = lines[: _MAX_MESSAGE_LINES - 1] + ["..."]
    return "\n".join(lines)


def _most_similar(keys: list[str], old: list[str]) -> int:
    """Start of the window of len(old) file lines most similar to `old` (difflib ratio)."""
    target = "\n".join(line.strip() for line in old)
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(target)
    best, best_ratio = 0, -1.0
    for start in range(max(1, len(keys) - len(old) + 1)):
        matcher.set_seq1("\n".join(line.strip() for line in keys[start : start + len(old)]))
        if matcher.real_quick_ratio() > best_ratio and matcher.quick_ratio() > best_ratio:
            ratio = matcher.ratio()
            if ratio > best_ratio:
                best, best_ratio = start, ratio
    return best


def _shown(lines: list[str]) -> list[str]:
    if len(lines) <= _MAX_SHOWN:
        return lines
    return lines[: _MAX_SHOWN - 1] + [f"      ... ({len(lines) - _MAX_SHOWN + 1} more lines)"]


def _numbers(indexes: list[int]) -> str:
    shown = ", ".join(str(i + 1) for i in indexes[:10])
    return shown + (f" and {len(indexes) - 10} more" if len(indexes) > 10 else "")


def _line_range(start: int, count: int) -> str:
    if count == 0:
        return f"the insertion point before line {start + 1}"
    return f"line {start + 1}" if count == 1 else f"lines {start + 1}-{start + count}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- lines ---------------------------------------------------------------------------------


def _split_keepends(text: str) -> list[str]:
    """Split on '\\n' only (not on form feeds etc. like str.splitlines), keeping the endings."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _strip_eol(line: str) -> str:
    if line.endswith("\r\n"):
        return line[:-2]
    return line.removesuffix("\n")
