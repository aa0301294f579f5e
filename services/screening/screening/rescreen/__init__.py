"""Re-screening: score stored responses again under another knowledge version.

One operation behind both front ends (``POST /fhir/QuestionnaireResponse/$rescreen`` and
``neuroscreen rescreen``). A **dry run** writes nothing but its run and reports the tier
transitions with their response ids; an **apply** makes the new assessment current and
keeps the previous one readable (``_history``). Runs go a batch per transaction on the
``screening-bulk`` queue, so live responses never wait behind them, and resume where
they stopped after a crash.
"""

from screening.rescreen.runs import run_batch, run_to_end, start_run
from shared.rescreen import cancel_run, progress, report

__all__ = ["cancel_run", "progress", "report", "run_batch", "run_to_end", "start_run"]
