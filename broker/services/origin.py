"""The issuer a grant log was started with: a changed issuer is a setting to fix, not tampering."""

from __future__ import annotations

from typing import Any, Protocol

from broker.settings import Settings

GRANT_LOG_SUFFIX = "/grant-log"


class IssuerChanged(RuntimeError):
    """The checkpoints in the database were signed for another origin than this broker's."""


class _CheckpointSource(Protocol):
    origin: str

    def latest_checkpoint(self) -> dict[str, Any] | None: ...


def logged_origin(audit_log: _CheckpointSource) -> str | None:
    """The origin line of the newest signed checkpoint, or None before the first one."""
    latest = audit_log.latest_checkpoint()
    if latest is None:
        return None
    return str(latest["note"]).split("\n", 1)[0]


def check_log_origin(audit_log: _CheckpointSource, settings: Settings) -> None:
    """Raise IssuerChanged, naming the settings that fix it, if the issuer moved since the log
    was checkpointed (the checkpoint origin is derived from the issuer unless set)."""
    logged = logged_origin(audit_log)
    if logged is None or logged == audit_log.origin:
        return
    where = logged.removesuffix(GRANT_LOG_SUFFIX)
    source = "DISCRETION_CHECKPOINT_ORIGIN" if settings.checkpoint_origin else f"issuer {settings.issuer}"
    raise IssuerChanged(
        f"this database's grant log is checkpointed for origin {logged!r}, but this broker would "
        f"sign for {audit_log.origin!r} (from {source}). The issuer changed since the log began; "
        f"this is a configuration difference, not tampering. Either set DISCRETION_ISSUER back to "
        f"the issuer the log began with (host {where}), or keep the new issuer and set "
        f"DISCRETION_CHECKPOINT_ORIGIN={logged} so that the log keeps its origin."
    )
