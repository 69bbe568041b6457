"""Token usage and cost of model calls, and the per-execution budget they draw from.

The budget is checked before every call, so a run stops with a clear error before paying for
a call that cannot fit, never after.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from domain.errors import BudgetExceeded


class Usage(BaseModel):
    """Tokens and money one model call consumed (recorded as an execution event)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass
class Budget:
    """Spend limits of one execution and what it has spent so far (None = unlimited).

    Rebuild it in every activity from the limits and the usage already recorded.
    """

    max_tokens: int | None = None
    max_cost_usd: float | None = None
    spent_tokens: int = 0
    spent_cost_usd: float = 0.0
    min_output_tokens: int = 64

    @classmethod
    def from_usage(
        cls, max_tokens: int | None, max_cost_usd: float | None, spent: list[Usage]
    ) -> Budget:
        return cls(
            max_tokens=max_tokens,
            max_cost_usd=max_cost_usd,
            spent_tokens=sum(u.total_tokens for u in spent),
            spent_cost_usd=sum(u.cost_usd for u in spent),
        )

    def output_allowance(
        self,
        estimated_input_tokens: int,
        wanted_output_tokens: int,
        price_input_per_1k: float = 0.0,
        price_output_per_1k: float = 0.0,
    ) -> int:
        """Output tokens the next call may use; raises BudgetExceeded when it cannot fit."""
        allowance = wanted_output_tokens
        if self.max_tokens is not None:
            left = self.max_tokens - self.spent_tokens - estimated_input_tokens
            if left < self.min_output_tokens:
                raise BudgetExceeded(
                    f"token budget exceeded: spent {self.spent_tokens} of {self.max_tokens} "
                    f"tokens; the next call needs about "
                    f"{estimated_input_tokens + self.min_output_tokens} "
                    f"({estimated_input_tokens} input + at least {self.min_output_tokens} output)",
                    details={"spent_tokens": self.spent_tokens, "max_tokens": self.max_tokens},
                )
            allowance = min(allowance, left)
        if self.max_cost_usd is not None:
            input_cost = estimated_input_tokens / 1000 * price_input_per_1k
            min_cost = input_cost + self.min_output_tokens / 1000 * price_output_per_1k
            left_usd = self.max_cost_usd - self.spent_cost_usd
            if min_cost > left_usd or left_usd <= 0:
                raise BudgetExceeded(
                    f"cost budget exceeded: spent ${self.spent_cost_usd:.4f} of "
                    f"${self.max_cost_usd:.4f}; the next call costs at least ${min_cost:.4f}",
                    details={
                        "spent_cost_usd": self.spent_cost_usd,
                        "max_cost_usd": self.max_cost_usd,
                    },
                )
            if price_output_per_1k > 0:
                affordable = int((left_usd - input_cost) / price_output_per_1k * 1000)
                allowance = min(allowance, affordable)
        return max(allowance, self.min_output_tokens)

    def record(self, usage: Usage) -> None:
        self.spent_tokens += usage.total_tokens
        self.spent_cost_usd += usage.cost_usd
