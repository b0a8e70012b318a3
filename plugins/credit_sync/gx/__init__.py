"""Validation of 双公示 records with Great Expectations (GX 1.x, called directly).

`from credit_sync.gx import load_suite, validate_frame` loads GX lazily: importing GX
takes seconds, which Airflow would otherwise pay on every DAG-file parse.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

# This package's modules are the only way in, so this runs before GX is first imported.
# GX 1.24.1 as installed ships no analytics client and never reads the variable; other 1.x
# builds send usage events unless it is false.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# GX logs dozens of INFO lines while importing and validating; Airflow task logs run at
# INFO. Keep its warnings, unless the application configured this logger itself.
_gx_logger = logging.getLogger("great_expectations")
if _gx_logger.level == logging.NOTSET:
    _gx_logger.setLevel(logging.WARNING)

if TYPE_CHECKING:
    from credit_sync.gx.runner import (
        RowFailure,
        SuiteDefinitionError,
        SuiteExecutionError,
        SuiteResult,
        load_suite,
        validate_frame,
    )

__all__ = [
    "RowFailure",
    "SuiteDefinitionError",
    "SuiteExecutionError",
    "SuiteResult",
    "load_suite",
    "validate_frame",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from credit_sync.gx import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
