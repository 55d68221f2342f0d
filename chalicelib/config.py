"""Settings, read once from the environment (see README, "Configuration")."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field

# The most serving processes ``tailor serve`` starts (TAILOR_SERVE_PROCESSES, --processes).
MAX_SERVE_PROCESSES = 64


class Settings(BaseModel):
    """Where Tailor keeps its state and how it names things.

    ``artifacts`` is a local folder (default ``<data_dir>/artifacts``) or an
    ``s3://bucket/prefix`` URL (the Lambda stage).
    """

    data_dir: Path = Path(".tailor")
    db_path: Path | None = None
    artifacts: str | None = None
    region: str = "us-east-1"
    account_id: str = Field(default="123456789012", pattern=r"^\d{12}$")
    # Requests must be signed (AWS Signature Version 4) with a key of ``credentials``;
    # False (``tailor serve --no-auth``) accepts anything as the default account.
    auth: bool = True
    # The JSON file of accepted access keys and their accounts (protocol/credentials.py).
    credentials: Path | None = None
    # Seconds between queue polls of the in-process worker (it is also woken on enqueue).
    worker_poll_seconds: float = 0.5
    # Jobs cut off by a crash are resumed this many times before they fail.
    max_job_attempts: int = 3
    # Run the job worker as a thread inside the serving process (``chalice local``,
    # ``tailor serve``); deployed, the scheduled ``drain_jobs`` Lambda drains the queue.
    inprocess_worker: bool = False
    # ``tailor serve``: processes sharing the listening socket (1 = one process). More
    # processes use more cores for serving calls; each keeps its own model cache.
    serve_processes: int = Field(default=1, ge=1, le=MAX_SERVE_PROCESSES)
    # Serving remembers the scores of recently served users, per loaded model, up to this
    # many MiB (0: off); a user's new event makes a new entry.
    score_cache_mb: float = Field(default=32.0, ge=0)
    # The legacy HRNN recipes are no longer offered by AWS; False makes CreateSolution
    # refuse them as the service now does (spec B.2; default: accept, for old code).
    legacy_recipes: bool = True
    # Automatic training: a new solution's first automatic version is due this many
    # seconds after it was created (AWS: within the hour); the worker checks every
    # ``auto_training_check_seconds``.
    auto_training_first_delay: float = 3600.0
    auto_training_check_seconds: float = 60.0
    # A deleted resource stays DELETE IN_PROGRESS this many seconds before it is gone, so a
    # program that does not wait for a deletion to finish fails here as it would on AWS.
    delete_seconds: float = Field(default=1.0, ge=0)
    # ``tailor serve``'s HTTP server (README, "Limits"): a connection is closed when its
    # next request does not start within ``idle_timeout_seconds``, or when one read of a
    # request waits longer than ``read_timeout_seconds``; at most ``max_connections``
    # connections are served at once (per serving process), more wait, then get 503.
    idle_timeout_seconds: float = Field(default=60.0, gt=0)
    read_timeout_seconds: float = Field(default=20.0, gt=0)
    max_connections: int = Field(default=256, ge=1)

    @property
    def database(self) -> Path:
        return self.db_path or self.data_dir / "tailor.db"

    @property
    def artifact_root(self) -> str:
        return self.artifacts or str(self.data_dir / "artifacts")


_ENV = {
    "data_dir": "TAILOR_DATA_DIR",
    "db_path": "TAILOR_DB",
    "artifacts": "TAILOR_ARTIFACTS",
    "region": "TAILOR_REGION",
    "account_id": "TAILOR_ACCOUNT_ID",
    "auth": "TAILOR_AUTH",
    "credentials": "TAILOR_CREDENTIALS",
    "worker_poll_seconds": "TAILOR_WORKER_POLL_SECONDS",
    "max_job_attempts": "TAILOR_MAX_JOB_ATTEMPTS",
    "inprocess_worker": "TAILOR_INPROCESS_WORKER",
    "serve_processes": "TAILOR_SERVE_PROCESSES",
    "score_cache_mb": "TAILOR_SCORE_CACHE_MB",
    "legacy_recipes": "TAILOR_LEGACY_RECIPES",
    "auto_training_first_delay": "TAILOR_AUTO_TRAINING_FIRST_DELAY",
    "auto_training_check_seconds": "TAILOR_AUTO_TRAINING_CHECK_SECONDS",
    "delete_seconds": "TAILOR_DELETE_SECONDS",
    "idle_timeout_seconds": "TAILOR_IDLE_TIMEOUT_SECONDS",
    "read_timeout_seconds": "TAILOR_READ_TIMEOUT_SECONDS",
    "max_connections": "TAILOR_MAX_CONNECTIONS",
}


def from_env(environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    return Settings(**{field: env[var] for field, var in _ENV.items() if env.get(var)})


@lru_cache(maxsize=1)
def settings() -> Settings:
    return from_env()
