"""The development server (`scripts/serve`): daphne, its access log written through Python logging
in the service's format (logger `daphne.access`) instead of daphne's own NCSA lines on stdout.

    python -m vibegrapher.devserver -b 0.0.0.0 -p 8000 vibegrapher.asgi:application
"""

import logging

from daphne.access import AccessLogGenerator
from daphne.cli import CommandLineInterface
from daphne.server import Server

from vibegrapher.settings import LOG_FORMAT

logger = logging.getLogger("daphne.access")


class AccessLog(AccessLogGenerator):
    def __init__(self) -> None:
        super().__init__(stream=None)

    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None) -> None:
        logger.info('%s "%s" %s %s', host, request, status or "-", length or "-")


class LoggingServer(Server):
    def __init__(self, *args, action_logger=None, **kwargs) -> None:
        super().__init__(*args, action_logger=AccessLog() if action_logger is not None else None, **kwargs)


class DevServerCommandLine(CommandLineInterface):
    server_class = LoggingServer

    def __init__(self) -> None:
        super().__init__()
        self.parser.set_defaults(log_fmt=LOG_FORMAT)  # daphne's own lines before Django's logging is set up


if __name__ == "__main__":
    DevServerCommandLine.entrypoint()
