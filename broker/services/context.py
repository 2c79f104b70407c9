"""What every service needs: the store, the settings, the signing keys and a clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from broker.oauth.signing_keys import KeyRing
from broker.settings import Settings
from broker.storage.db import Store
from policy import Limits


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
