"""What the services and the subsystems share: the store, the settings, the signing keys and a
clock. It sits below them all, so that a subsystem never imports the services layer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from broker.settings import Settings
from broker.storage.db import Store
from policy import Limits

if TYPE_CHECKING:  # the key ring is built by the process; nothing here calls it
    from broker.oauth.signing_keys import KeyRing


@dataclass(frozen=True, slots=True)
class ServiceContext:
    """Shared dependencies of the services; `clock` returns epoch seconds and tests may move it."""

    store: Store
    settings: Settings
    keyring: KeyRing
    clock: Callable[[], float] = field(default=time.time)

    @property
    def limits(self) -> Limits:
        """Token lifetime caps from the settings."""
        return Limits(
            default_lifetime=self.settings.default_token_lifetime,
            max_lifetime=self.settings.max_token_lifetime,
        )
