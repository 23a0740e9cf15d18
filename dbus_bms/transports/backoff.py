"""When to try a lost link again: capped exponential backoff with jitter.

Several BLE BMSes share one radio; if they all dropped together (adapter reset, a pump
starting), retrying in lockstep makes them collide again. Jitter spreads the retries.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delay before attempt ``n`` after ``n`` consecutive failures: ``base·2^(n-1)`` capped at
    ``cap``, then scaled by a random factor in ``[1 - jitter, 1]`` so it never exceeds the cap."""

    base: float = 1.0
    cap: float = 60.0
    jitter: float = 0.3
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def delay(self) -> float:
        """The wait before the next attempt; 0 while nothing has failed."""
        if self.failures == 0:
            return 0.0
        raw = min(self.cap, self.base * 2 ** (self.failures - 1))
        return raw * (1 - self.jitter * self.rng.random())

    def failed(self) -> float:
        """Count a failed attempt and return the wait before the next one."""
        self.failures += 1
        return self.delay()

    def succeeded(self) -> None:
        self.failures = 0
