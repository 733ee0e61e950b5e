"""``python -m model_double --host 127.0.0.1 --port 8700 [--delay 0] [--verbose]``"""

from __future__ import annotations

import argparse
import signal
import sys

from .server import ModelDouble


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m model_double",
        description="Run the model double: a local OpenAI Responses API server with canned answers.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8700, help="port (default 8700; 0 picks a free one)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each answer")
    parser.add_argument("--verbose", "-v", action="store_true", help="log every HTTP request to stderr")
    args = parser.parse_args(argv)

    double = ModelDouble(args.host, args.port, default_delay=args.delay, verbose=args.verbose)
    try:
        double.start()
    except OSError as exc:
        print(
            f"model double: cannot listen on {args.host}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    print(f"Model double listening on {double.base_url}", flush=True)
    print("Point the service at it with:", flush=True)
    print(
        f"  export OPENAI_BASE_URL={double.base_url} OPENAI_API_KEY=anything",
        flush=True,
    )
    print(f"Script it with POST {double.url}/_double/script; Ctrl-C to stop.", flush=True)
    double.serve_forever()
    print("Model double stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
