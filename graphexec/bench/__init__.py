"""``gx.bench``: compare what the execution modes cost on your own function
(``compare``), on the built-in ``workloads``, and next to other frameworks (``peers``;
``graphexec bench --peers``).
"""

from .compare import Comparison, ModeResult, compare, parse_mode
from .env import environment
from .stats import Summary, rank_test, summarize
from .workloads import WORKLOADS, Workload

__all__ = ["compare", "Comparison", "ModeResult", "parse_mode", "environment", "WORKLOADS",
           "Workload", "Summary", "summarize", "rank_test"]
