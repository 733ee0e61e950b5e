"""How fast this machine runs Python right now, printed beside benchmark results.

The development machine is shared; its speed moves by up to 2x within an hour. A benchmark's numbers
are only comparable with others taken at a similar speed.
"""

import timeit


def python_speed_us() -> float:
    """Best time of `sum(range(100))` in microseconds (lower is faster)."""
    timer = timeit.Timer("sum(range(100))")
    return min(timer.repeat(repeat=5, number=100_000)) / 100_000 * 1e6


def speed_line() -> str:
    return f"machine speed now: sum(range(100)) takes {python_speed_us():.2f} us"
