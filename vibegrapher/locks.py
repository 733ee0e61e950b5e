"""Row locks, in one order everywhere, so two transactions never wait on each other in a cycle
(PostgreSQL answers such a cycle with a deadlock error and rolls one back):

1. the Project row (`projects.services.main_change`, and every event published, whose counter is on it),
2. then the Diff row,
3. then the rest (TestCase, VibecodeSession, VibecodeRun, ...).

A transaction that will lock a later kind takes the earlier ones first, even when it only reads them.
"""

from diffs.models import Diff
from projects.models import Project


def rows_lock(*, project_id, diff_id=None) -> tuple[bool, bool]:
    """Lock the project's row, then the diff's (when given), in the order above; call it first in the
    transaction. Returns whether each exists (a missing diff is `False`; its id None counts as present)."""
    project_found = Project.objects.select_for_update().filter(pk=project_id).exists()
    diff_found = diff_id is None or Diff.objects.select_for_update().filter(pk=diff_id).exists()
    return project_found, diff_found
