"""Batch engines: score or plan a file of any length, on this machine or on Spark.

Modules:
    local   score_file and plan_file: chunks scored by a pool of model processes,
            ranked in bounded memory, every output written together or not at all
    spark   score on a Spark cluster (needs the `spark` extra: PySpark and Java 17)

Private machinery a first reading can skip: _pool (the model processes the batch engine
and the HTTP service share) and _worker (what each of them runs, set up by _setup), _spill (ranking
beyond memory), _memory, _forkserver.
"""

from __future__ import annotations

from recommender.engines.local import BatchReport, PlanFiles, plan_file, score_file

__all__ = ["BatchReport", "PlanFiles", "plan_file", "score_file"]
