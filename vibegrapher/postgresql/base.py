"""Django's PostgreSQL backend, with a connection pool that gets over a restart in one step.

The pool checks a connection before handing it out, so one the server closed since is replaced
instead of failing a request. After a restart every idle connection in the pool is dead, and
psycopg_pool's own check (`ConnectionPool.check_connection`, what `CONN_HEALTH_CHECKS` turns on)
finds them one at a time, waiting longer after each one it discards (0, 1, 2, 4, 8, 16 s): with six
or more idle connections the first request after the restart got none within the pool's 30 s
timeout and failed. Here the first dead connection found has the pool check all of its idle ones at
once (`ConnectionPool.check`): dead ones are replaced, live ones go back, and the request waits only
for a new connection. Django passes the pool its own `check`, so the pool is made here.
"""

import psycopg
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool


def check_connection(pool: ConnectionPool, conn: psycopg.Connection) -> None:
    try:
        ConnectionPool.check_connection(conn)
    except psycopg.Error:
        pool.check()  # its idle connections; this one, taken from it, the pool discards itself
        raise


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> ConnectionPool | None:
        options = self.settings_dict["OPTIONS"].get("pool")
        pools = self._connection_pools  # type: ignore[attr-defined]  # Django's, not in django-stubs
        if options and self.alias != NO_DB_ALIAS and self.alias not in pools:
            # What Django's property does, with the check above; Django's own then returns it.
            pool = ConnectionPool(
                kwargs=self.get_connection_params() | {"autocommit": True},
                open=False,
                configure=self._configure_connection,  # type: ignore[attr-defined]  # the same
                check=lambda conn: check_connection(pool, conn),
                **(options if isinstance(options, dict) else {}),
            )
            pools.setdefault(self.alias, pool)
        return super().pool
