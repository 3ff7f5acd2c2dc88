"""Rondo's one settings object, read from RONDO_* environment variables with safe defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set. Each field is the env var RONDO_<FIELD NAME> (upper case)."""

    model_config = SettingsConfigDict(env_prefix="RONDO_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the server listens on")
    port: int = Field(8080, ge=1, le=65535, description="Port the server listens on")
    data_dir: Path = Field(Path(".rondo"), description="Where the embedded database, objects and keys live")
    database_url: str = Field(
        "",
        description="SQLAlchemy URL; empty means SQLite in the data dir (postgresql+psycopg://... to scale)",
    )
    public_url: str = Field("", description="URL users and agents reach the server at; empty: http://host:port")
    secret_key: str = Field("", description="Signs tokens, sessions and URLs; empty: generated in the data dir")

    vault_url: str = Field(
        "", description="HashiCorp Vault URL: its transit engine holds the master key (empty: the local keyring)"
    )
    vault_transit_path: str = Field("transit", description="Where Vault's transit secrets engine is mounted")
    vault_token: str = Field("", description="Vault token allowed to encrypt, decrypt and rewrap with the key")
    vault_key_name: str = Field("rondo", description="The transit key's name (created as aes256-gcm96 if missing)")

    builtin_agent: bool = Field(True, description="Run a built-in agent beside the server")
    builtin_agent_tasks: int = Field(2, ge=1, le=64, description="Tasks the built-in agent runs at once")

    ref_poll_interval_s: float = Field(1.0, gt=0, description="How often followed git repositories are checked")
    heartbeat_interval_s: float = Field(10.0, gt=0, description="How often agents report in")
    agent_lost_after_s: float = Field(60.0, gt=0, description="Silence after which an agent's tasks fail")
    claim_wait_s: float = Field(30.0, ge=0, le=60, description="Longest an agent's claim request waits")
    no_output_timeout_s: float = Field(600.0, gt=0, description="Default step no-output timeout")
    max_job_time_s: float = Field(5 * 3600.0, gt=0, description="Longest a job may run")

    # Object storage: a folder in the data dir unless an S3 bucket is named (the seeds' Object Storage).
    s3_bucket: str = Field("", description="S3 bucket for artifacts, caches, workspaces and output (empty: local)")
    s3_region: str = Field("", description="AWS region of the bucket (empty: us-east-1)")
    s3_endpoint: str = Field("", description="API endpoint of an S3-compatible service other than AWS")
    s3_access_key_id: str = Field("", description="Access key id (empty: boto3's chain, e.g. an instance role)")
    s3_secret_access_key: str = Field("", description="Secret key for the access key id")
    storage_object_expiry_days: int = Field(
        0, ge=0, description="Days to keep artifacts, test results, caches, workspaces and output (0: forever)"
    )
    max_object_size_mb: int = Field(5120, ge=1, description="Largest cache, workspace layer or artifact accepted")
    serve_unsafe_artifacts: bool = Field(
        False, description="Serve HTML, CSS, JavaScript and XML artifacts as what they are, not as plain text"
    )

    webhook_timeout_s: float = Field(
        10.0, gt=0, le=120, description="How long an outbound webhook's receiver has to answer"
    )
    webhook_max_attempts: int = Field(5, ge=1, le=20, description="Tries per outbound webhook delivery")
    webhook_retry_base_s: float = Field(
        10.0, gt=0, description="Wait before the first retry of a failed delivery; each next wait is 4x longer"
    )

    log_level: str = Field("info", description="debug, info, warning or error")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError(f"RONDO_LOG_LEVEL={value!r}: expected debug, info, warning or error")
        return value.lower()

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'rondo.db'}"

    @property
    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"
