"""The HTTP service: POST /score and /plan over a pool of model processes, GET /health.

from recommender.serving import ServiceSettings, create_app
"""

from __future__ import annotations

from recommender.serving.app import ServiceSettings, create_app

__all__ = ["ServiceSettings", "create_app"]
