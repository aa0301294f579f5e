"""Re-screening runs as every service sees them: create, cancel, report.

The intake's ``$rescreen`` operation creates and cancels runs and reports on them; the
screening service's bulk worker does their batches (``screening.rescreen``), which is
where knowledge versions live: a run naming a version the worker does not have ends
``failed`` with a message, which the status URL returns as an OperationOutcome.
"""

from shared.rescreen.report import progress, report
from shared.rescreen.runs import cancel_run, create_run, in_scope

__all__ = ["cancel_run", "create_run", "in_scope", "progress", "report"]
