"""Tests for sessions.vibecoder.patching: lenient but never ambiguous patch application."""

import subprocess

import pytest

from sessions.vibecoder.patching import PatchError, patch_apply, unified_diff

WORKFLOW = """\
import json


def load(path):
    with open(path) as f:
        return json.load(f)


def clean(rows):
    out = []
    for row in rows:
        out.append(row.strip())
    return out


def main():
    rows = load("in.json")
    print(clean(rows))
"""

# Two functions whose bodies are identical: context inside them is ambiguous.
TWINS = """\
def first():
    total = 0
    total += 1
    return total


def second():
    total = 0
    total += 1
    return total
"""

CHANGE_CLEAN = """\
 def clean(rows):
     out = []
     for row in rows:
-        out.append(row.strip())
+        out.append(row.strip().lower())
     return out
"""
WORKFLOW_LOWER = WORKFLOW.replace("row.strip())", "row.strip().lower())")


def apply(patch, original=WORKFLOW):
    return patch_apply(original=original, patch=patch)


def refusal(patch, original=WORKFLOW):
    with pytest.raises(PatchError) as info:
        patch_apply(original=original, patch=patch)
    return str(info.value)


# --- unified diffs ---------------------------------------------------------------------------


def test_exact_git_diff():
    patch = (
        "diff --git a/workflow.py b/workflow.py\n"
        "index 3b18e51..a9c3f2d 100644\n"
        "--- a/workflow.py\n"
        "+++ b/workflow.py\n"
        "@@ -9,6 +9,6 @@ def load(path):\n" + CHANGE_CLEAN
    )
    assert apply(patch) == WORKFLOW_LOWER


def test_no_file_headers():
    assert apply("@@ -9,6 +9,6 @@\n" + CHANGE_CLEAN) == WORKFLOW_LOWER


def test_no_at_at_line_at_all():
    assert apply("--- a/workflow.py\n+++ b/workflow.py\n" + CHANGE_CLEAN) == WORKFLOW_LOWER
    assert apply(CHANGE_CLEAN) == WORKFLOW_LOWER


def test_wrong_line_numbers():
    assert apply("@@ -120,6 +133,6 @@\n" + CHANGE_CLEAN) == WORKFLOW_LOWER


def test_wrong_counts():
    assert apply("@@ -9,2 +9,17 @@\n" + CHANGE_CLEAN) == WORKFLOW_LOWER
    assert apply("@@ -9 +9 @@\n" + CHANGE_CLEAN) == WORKFLOW_LOWER


def test_bare_at_at():
    assert apply("@@\n" + CHANGE_CLEAN) == WORKFLOW_LOWER
    assert apply("@@ ... @@\n" + CHANGE_CLEAN) == WORKFLOW_LOWER


def test_markdown_code_fences():
    patch = "```diff\n--- a/workflow.py\n+++ b/workflow.py\n@@ -9,6 +9,6 @@\n" + CHANGE_CLEAN + "```\n"
    assert apply(patch) == WORKFLOW_LOWER
    assert apply("\n```\n@@\n" + CHANGE_CLEAN + "```") == WORKFLOW_LOWER


def test_crlf_patch_against_lf_file():
    patch = ("@@ -9,6 +9,6 @@\n" + CHANGE_CLEAN).replace("\n", "\r\n")
    result = apply(patch)
    assert result == WORKFLOW_LOWER
    assert "\r" not in result


def test_crlf_file_with_lf_patch_stays_crlf():
    original = WORKFLOW.replace("\n", "\r\n")
    patch = "@@ -9,6 +9,7 @@\n" + CHANGE_CLEAN.replace("     return out\n", "+    out.sort()\n     return out\n")
    expected = WORKFLOW_LOWER.replace("    return out\n", "    out.sort()\n    return out\n")
    assert apply(patch, original) == expected.replace("\n", "\r\n")


def test_file_without_final_newline_stays_without():
    original = WORKFLOW.rstrip("\n")
    patch = '@@\n     rows = load("in.json")\n-    print(clean(rows))\n+    print(len(clean(rows)))\n'
    assert apply(patch, original) == original.replace("print(clean(rows))", "print(len(clean(rows)))")


def test_lines_added_at_end_keep_missing_final_newline():
    original = "a = 1\nb = 2"
    assert apply("@@\n b = 2\n+c = 3\n", original) == "a = 1\nb = 2\nc = 3"
    # ...and a file that ends with a newline keeps it, whatever the patch's markers say.
    patch = "@@ -1,2 +1,3 @@\n a = 1\n b = 2\n+c = 3\n\\ No newline at end of file\n"
    assert apply(patch, "a = 1\nb = 2\n") == "a = 1\nb = 2\nc = 3\n"


def test_trailing_whitespace_drift_keeps_file_text():
    original = WORKFLOW.replace("    out = []\n", "    out = []   \n")  # file has trailing spaces
    patch = "@@\n def clean(rows):  \n     out = []\n     for row in rows:\n-        out.append(row.strip())   \n+        out.append(row)\n"
    result = apply(patch, original)
    assert result == original.replace("out.append(row.strip())", "out.append(row)")
    assert "    out = []   \n" in result  # the file's own context text, not the patch's
    assert "def clean(rows):\n" in result


def test_blank_context_lines_without_leading_space():
    patch = "@@\n         return json.load(f)\n\n\n def clean(rows):\n-    out = []\n+    out: list[str] = []\n\n"
    assert apply(patch) == WORKFLOW.replace("    out = []", "    out: list[str] = []")


def test_multiple_hunks_and_sections_for_one_file():
    patch = (
        "--- a/workflow.py\n+++ b/workflow.py\n"
        "@@ -1,3 +1,4 @@\n import json\n+import sys\n \n \n"
        '@@ -17,3 +18,3 @@\n def main():\n-    rows = load("in.json")\n+    rows = load(sys.argv[1])\n'
        "--- a/workflow.py\n+++ b/workflow.py\n"
        "@@ -12,1 +13,1 @@\n-        out.append(row.strip())\n+        out.append(row.strip().lower())\n"
    )
    expected = WORKFLOW_LOWER.replace("import json\n", "import json\nimport sys\n").replace(
        'load("in.json")', "load(sys.argv[1])"
    )
    assert apply(patch) == expected


def test_hunks_out_of_order_are_applied():
    patch = (
        '@@ -17,2 +17,2 @@\n def main():\n-    rows = load("in.json")\n+    rows = load("x.json")\n'
        "@@ -1,1 +1,1 @@\n-import json\n+import json  # stdlib\n"
    )
    expected = WORKFLOW.replace('"in.json"', '"x.json"').replace("import json\n", "import json  # stdlib\n")
    assert apply(patch) == expected


def test_other_file_name_is_ignored():
    patch = "--- a/src/app.py\n+++ b/src/app.py\n@@ -9,6 +9,6 @@\n" + CHANGE_CLEAN
    assert apply(patch) == WORKFLOW_LOWER


def test_two_files_refused():
    patch = (
        "--- a/workflow.py\n+++ b/workflow.py\n@@\n"
        + CHANGE_CLEAN
        + "--- a/helpers.py\n+++ b/helpers.py\n@@\n-x = 1\n+x = 2\n"
    )
    message = refusal(patch)
    assert "more than one file (helpers.py, workflow.py)" in message


def test_invalid_hunk_line_refused():
    message = refusal("@@\n def clean(rows):\n-    out = []\n+    out = {}\nThis fixes the bug.\n")
    assert "Line 5 of the patch" in message
    assert "'This fixes the bug.'" in message
    fenced = "```diff\n@@\n def clean(rows):\n-    out = []\n+    out = {}\nOops\n```"
    assert "Line 6 of the patch, inside @@, does not start with" in refusal(fenced)


# --- locating hunks --------------------------------------------------------------------------

TWIN_CHANGE = "     total = 0\n-    total += 1\n+    total += 2\n"
FIRST_CHANGED = TWINS.replace("total += 1", "total += 2", 1)
SECOND_CHANGED = TWINS[: TWINS.index("def second")] + TWINS[TWINS.index("def second") :].replace("+= 1", "+= 2")


def test_duplicated_context_resolved_by_nearest_line_number():
    assert apply("@@ -8,2 +8,2 @@\n" + TWIN_CHANGE, TWINS) == SECOND_CHANGED
    assert apply("@@ -1,2 +1,2 @@\n" + TWIN_CHANGE, TWINS) == FIRST_CHANGED


def test_duplicated_context_without_hint_refused_with_candidates():
    message = refusal("@@\n" + TWIN_CHANGE, TWINS)
    assert "Hunk 1 (@@) is ambiguous" in message
    assert "occur 2 times in the file, starting at lines 2, 8" in message
    assert "has no line number" in message


def test_duplicated_context_with_unclear_hint_refused():
    # line 5 is 3 lines from one copy and 3 from the other: nothing is clearly nearest.
    message = refusal("@@ -5,2 +5,2 @@\n" + TWIN_CHANGE, TWINS)
    assert "starting at lines 2, 8" in message
    assert "says line 5, which is not clearly nearest" in message


def test_context_not_found_shows_nearest_lines_with_numbers():
    patch = (
        "@@ -9,4 +9,4 @@\n def clean(items):\n     out = []\n-    for item in items:\n+    for item in sorted(items):\n"
    )
    message = refusal(patch)
    assert message.startswith("Hunk 1 (@@ -9,4 +9,4 @@) does not match the file")
    assert "      | def clean(items):\n      |     out = []\n      |     for item in items:\n" in message
    assert "lines 9-11:\n    9 | def clean(rows):\n   10 |     out = []\n   11 |     for row in rows:\n" in message
    assert (
        "First difference: line 9 of the file is 'def clean(rows):', but the hunk expects 'def clean(items):' (an unchanged line)."
        in message
    )


def test_removed_line_mismatch_refused():
    patch = "@@\n     for row in rows:\n-        out.append(row.upper())\n+        out.append(row)\n"
    message = refusal(patch)
    assert "lines 11-12:\n   11 |     for row in rows:\n   12 |         out.append(row.strip())" in message
    assert (
        "line 12 of the file is '        out.append(row.strip())', but the hunk expects '        out.append(row.upper())' (a removed line)"
        in message
    )


def test_exact_match_preferred_over_trailing_whitespace_match():
    original = "x = 1  \ny = 2\n\nx = 1\ny = 2\n"
    assert apply("@@\n x = 1\n-y = 2\n+y = 3\n", original) == original[:-2] + "3\n"


def test_v4a_anchor_may_be_a_line_of_the_hunk():
    patch = "@@ def second():\n def second():\n" + TWIN_CHANGE
    assert apply(patch, TWINS) == SECOND_CHANGED


def test_indentation_difference_is_not_forgiven():
    message = refusal("@@\n  def clean(rows):\n-     out = []\n+     out = {}\n")
    assert "does not match the file" in message


def test_refusal_message_is_bounded():
    patch = "@@\n" + "".join(f" missing_{i} = {i}\n" for i in range(60)) + "+x = 1\n"
    message = refusal(patch)
    assert len(message.splitlines()) <= 40
    assert "more lines)" in message


def test_empty_file_refuses_context():
    assert "But the file is empty." in refusal("@@\n x = 1\n+y = 2\n", "")


def test_overlapping_hunks_refused():
    patch = (
        "@@ -9,3 +9,3 @@\n def clean(rows):\n-    out = []\n+    out = list()\n     for row in rows:\n"
        "@@ -11,2 +11,2 @@\n     for row in rows:\n-        out.append(row.strip())\n+        out.append(row)\n"
    )
    message = refusal(patch)
    assert "Hunk 1 (@@ -9,3 +9,3 @@) and Hunk 2 (@@ -11,2 +11,2 @@) overlap" in message
    assert "they cover lines 9-11 and lines 11-12 of the file" in message


def test_pure_addition_needs_context():
    message = refusal("@@\n+import os\n")
    assert "only adds lines and has no unchanged (' ') or removed ('-') lines" in message
    # counts that are not an explicit "-a,0" are no valid insertion point either
    assert "only adds lines" in refusal("@@ -3,2 +3,3 @@\n+import os\n")


def test_pure_addition_with_explicit_insertion_point():
    assert apply("@@ -1,0 +2,1 @@\n+import os\n") == WORKFLOW.replace("import json\n", "import json\nimport os\n")
    assert apply("@@ -0,0 +1,1 @@\n+# header\n") == "# header\n" + WORKFLOW
    assert "only adds lines" in refusal("@@ -99,0 +99,1 @@\n+x = 1\n")


def test_pure_addition_into_empty_file():
    assert apply("@@\n+x = 1\n+y = 2\n", "") == "x = 1\ny = 2\n"


# --- V4A -------------------------------------------------------------------------------------


def test_v4a_with_envelope():
    patch = "*** Begin Patch\n*** Update File: workflow.py\n@@\n" + CHANGE_CLEAN + "*** End Patch\n"
    assert apply(patch) == WORKFLOW_LOWER


def test_v4a_without_envelope():
    assert apply("*** Update File: workflow.py\n" + CHANGE_CLEAN) == WORKFLOW_LOWER
    assert (
        apply(
            "@@ def clean(rows):\n     out = []\n     for row in rows:\n-        out.append(row.strip())\n+        out.append(row.strip().lower())\n"
        )
        == WORKFLOW_LOWER
    )


def test_v4a_anchor_disambiguates():
    patch = "*** Begin Patch\n*** Update File: workflow.py\n@@ def second():\n" + TWIN_CHANGE + "*** End Patch"
    assert apply(patch, TWINS) == SECOND_CHANGED
    assert apply("@@ def first\n" + TWIN_CHANGE, TWINS) == FIRST_CHANGED


def test_v4a_stacked_anchors():
    original = "class A:\n    def run(self):\n        return 1\n\n\nclass B:\n    def run(self):\n        return 1\n"
    patch = "@@ class B:\n@@     def run(self):\n-        return 1\n+        return 2\n"
    assert apply(patch, original) == original[:-2] + "2\n"


def test_v4a_anchor_not_found_refused():
    message = refusal("@@ def third():\n" + TWIN_CHANGE, TWINS)
    assert "the anchor line 'def third():' was not found in the file" in message


def test_v4a_multiple_hunks_and_end_of_file():
    patch = (
        "*** Begin Patch\n*** Update File: workflow.py\n"
        "@@\n-import json\n+import json\n+import sys\n"
        '@@ def main():\n     rows = load("in.json")\n-    print(clean(rows))\n+    print(clean(rows), file=sys.stderr)\n'
        "*** End of File\n*** End Patch\n"
    )
    expected = WORKFLOW.replace("import json\n", "import json\nimport sys\n").replace(
        "print(clean(rows))", "print(clean(rows), file=sys.stderr)"
    )
    assert apply(patch) == expected


def test_a_unified_diff_creating_or_deleting_the_file_is_refused_unless_it_is_empty():
    creating = "--- /dev/null\n+++ b/workflow.py\n@@ -0,0 +1,2 @@\n+from agents import Agent\n+x = 1\n"
    message = refusal(creating)
    print("refusal:", message)
    assert "creates the file from nothing" in message and "context" in message
    assert apply(creating, "") == "from agents import Agent\nx = 1\n"
    deleting = "--- a/workflow.py\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-import json\n-\n"
    assert "deletes the file" in refusal(deleting)


def test_v4a_add_file_into_empty_file_and_delete_refused():
    assert apply("*** Begin Patch\n*** Add File: workflow.py\n+x = 1\n*** End Patch\n", "") == "x = 1\n"
    assert "deletes the file" in refusal("*** Begin Patch\n*** Delete File: workflow.py\n*** End Patch\n")


# --- no hunks / no change --------------------------------------------------------------------


@pytest.mark.parametrize(
    "patch",
    [
        "",
        "   \n",
        "```diff\n```",
        "--- a/workflow.py\n+++ b/workflow.py\n",
        "*** Begin Patch\n*** End Patch\n",
        "I changed the file.",
    ],
)
def test_no_hunks_refused(patch):
    assert refusal(patch).startswith("The patch contains no hunks.")


def test_no_op_refused():
    message = refusal("@@\n def clean(rows):\n-    out = []\n+    out = []\n")
    assert message.startswith("The patch applies but changes nothing")
    assert refusal("@@\n def clean(rows):\n     out = []\n").startswith("The patch applies but changes nothing")


# --- unified_diff ----------------------------------------------------------------------------


def test_unified_diff_of_equal_texts_is_empty():
    assert unified_diff(old=WORKFLOW, new=WORKFLOW) == ""


def test_unified_diff_format():
    diff = unified_diff(old="a\nb\n", new="a\nc", path="flow.py")
    assert diff == (
        "diff --git a/flow.py b/flow.py\n--- a/flow.py\n+++ b/flow.py\n"
        "@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n"
    )


ROUND_TRIPS = {
    "edit": (
        WORKFLOW,
        WORKFLOW_LOWER.replace("import json\n", "import json\nimport sys\n"),
    ),
    "old_without_final_newline": ("x = 1\ny = 2", "x = 1\ny = 3\n"),
    "new_without_final_newline": (WORKFLOW, WORKFLOW.rstrip("\n") + "\nmain()"),
    "crlf": (WORKFLOW.replace("\n", "\r\n"), WORKFLOW_LOWER.replace("\n", "\r\n")),
    "from_empty": ("", "x = 1\n"),
    "to_empty": ("x = 1\n", ""),
}


@pytest.mark.parametrize("old,new", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_unified_diff_accepted_by_git_apply(tmp_path, old, new):
    def git(*args):
        return subprocess.run(
            [
                "git",
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@example.com",
                "-c",
                "core.autocrlf=false",
                *args,
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
            env={
                "HOME": str(tmp_path),
                "PATH": "/usr/bin:/bin",
                "GIT_CONFIG_NOSYSTEM": "1",
            },
        )

    git("init", "-q")
    (tmp_path / "workflow.py").write_bytes(old.encode())
    git("add", "workflow.py")
    git("commit", "-q", "-m", "old")
    (tmp_path / "change.diff").write_bytes(unified_diff(old=old, new=new).encode())
    git("apply", "--check", "change.diff")
    git("apply", "change.diff")
    assert (tmp_path / "workflow.py").read_bytes() == new.encode()


def test_patch_apply_accepts_unified_diff_output():
    old, new = ROUND_TRIPS["edit"]
    assert apply(unified_diff(old=old, new=new), old) == new
    old, new = ROUND_TRIPS["crlf"]
    assert apply(unified_diff(old=old, new=new), old) == new
