"""Database connections that the server closed (a restart, a failover, an idle timeout) are dropped.

Django drops a broken connection when a request starts or ends. Runs, the reaper, the heartbeat,
the worker and the sockets do their database work outside any request, on threads that keep their
connection, so after a PostgreSQL restart every later query of such a thread failed with "the
connection is closed", until the process was restarted. Two things prevent that:

- `vibegrapher.postgresql` (the database backend): the connection pool checks a connection before
  handing it out, and all of its idle ones once one is found dead.
- `drop_dead_connection`, installed on every PostgreSQL connection: a query that fails on a
  connection that is no longer usable closes it (outside a transaction; Django already drops one
  whose rollback fails), so the thread's next query opens a new one. The failed query still fails:
  what it was part of may have been cut short, and only its caller knows whether to try again.
"""

from collections.abc import Callable
from typing import Any

from django.db import InterfaceError, OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created


def drop_dead_connection(execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
    try:
        return execute(sql, params, many, context)
    except (OperationalError, InterfaceError):
        connection: BaseDatabaseWrapper = context["connection"]
        if not connection.in_atomic_block and not connection.is_usable():
            connection.close()
        raise


def _install(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.vendor == "postgresql" and drop_dead_connection not in connection.execute_wrappers:
        # First, outermost: `connection.execute_wrapper()` blocks push and pop theirs at the end.
        connection.execute_wrappers.insert(0, drop_dead_connection)


def install() -> None:
    connection_created.connect(_install, dispatch_uid="vibegrapher.connections.drop_dead_connection")
