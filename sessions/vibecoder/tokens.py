"""A run's token totals: a leaf module, so the loop, the services and the events module can all use it."""

from dataclasses import dataclass
from typing import Any


@dataclass
class TokenTotals:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    calls: int = 0

    def add(self, usage: dict[str, Any]) -> None:
        for name in ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "reasoning_tokens"):
            setattr(self, name, getattr(self, name) + usage[name])
        self.calls += 1

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "cached_tokens": self.cached_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "model_calls": self.calls,
        }
