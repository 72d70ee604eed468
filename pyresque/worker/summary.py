"""What a worker did in a run: the counts a burst run ends with (``--burst`` prints them,
and may exit non-zero when jobs failed)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["RunSummary"]


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Jobs a worker finished since it started: ``succeeded`` and ``failed`` (a job cut
    off by a stop, or retried by the Retry plugin, counts as failed), in ``elapsed``
    seconds (up to now while it runs, up to its end once it has stopped)."""

    succeeded: int = 0
    failed: int = 0
    elapsed: float = 0.0

    @property
    def jobs(self) -> int:
        """Jobs finished, whichever way."""
        return self.succeeded + self.failed

    def line(self) -> str:
        """``12 jobs done (10 succeeded, 2 failed) in 1.52 s``."""
        jobs = f"{self.jobs} job{'' if self.jobs == 1 else 's'}"
        return (
            f"{jobs} done ({self.succeeded} succeeded, {self.failed} failed) "
            f"in {self.elapsed:.2f} s"
        )

    def fields(self) -> dict[str, int | float]:
        """The counts as a log line's structured fields."""
        return {
            "jobs": self.jobs,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "elapsed_s": round(self.elapsed, 3),
        }

    @classmethod
    def total(cls, summaries: Iterable[RunSummary]) -> RunSummary:
        """Several workers' summaries as one: counts added, the longest elapsed time."""
        found = list(summaries)
        return cls(
            sum(s.succeeded for s in found),
            sum(s.failed for s in found),
            max((s.elapsed for s in found), default=0.0),
        )
