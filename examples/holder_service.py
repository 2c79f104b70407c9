"""A minimal holder: a calendar service that serves a user's events only to a verified token.

The route is guarded by `discretion_sdk.require_scope`; the verifier checks tokens offline against the
broker's JWKS and polls the revocation feed, so the broker is not on the data path.

Run it against a broker:
    DISCRETION_ISSUER=http://127.0.0.1:8000 HOLDER_KEY_FILE=holder.pem \\
        python -m examples.holder_service  # serves on 127.0.0.1:8100
"""

from __future__ import annotations

import os
from typing import Any

import discretion_sdk
from fastapi import Depends, FastAPI, HTTPException

CALENDAR_URI = "https://calendar.example/api"

# The holder's own data: the events of the users whose calendars it keeps.
EVENTS: dict[str, list[dict[str, Any]]] = {
    "alice": [
        {"title": "Flight to Lisbon", "start": "2026-12-04T09:00:00Z", "attendees": ["alice@example.org"]},
        {"title": "Dentist", "start": "2026-12-08T15:30:00Z", "attendees": ["alice@example.org"]},
    ],
}


def create_holder_app(verifier: discretion_sdk.TokenVerifier, broker: discretion_sdk.BrokerClient) -> FastAPI:
    """The calendar service; every data route names the scope it needs, and every answer passes
    the broker's redaction for the token's bearer before it leaves (POST /v1/disclose)."""
    app = FastAPI(title="Calendar holder (example)")
    read_calendar = discretion_sdk.require_scope(verifier, "calendar:read")

    @app.get("/calendar/events")
    # A default rather than Annotated[...]: the dependency is a local, which FastAPI cannot resolve
    # from a string annotation under `from __future__ import annotations`.
    def events(
        token: discretion_sdk.VerifiedToken = Depends(read_calendar),  # noqa: B008
    ) -> dict[str, Any]:
        """The events of the user the token was issued for, and nobody else's, redacted to what the
        token reveals (the VerifiedToken carries the token as presented, for disclose)."""
        if token.subject not in EVENTS:
            raise HTTPException(status_code=404, detail="no calendar for this user")
        shared = broker.disclose({"events": EVENTS[token.subject]}, token)
        return {
            "user": token.subject,
            "agent": token.client_id,
            "events": shared.data["events"],
            "redacted": shared.report["counts"],
            "receipt": shared.receipt_id,
        }

    return app


def main() -> None:
    """Serve the holder, authenticating to the broker with the key in HOLDER_KEY_FILE."""
    import uvicorn
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    issuer = os.environ.get("DISCRETION_ISSUER", "http://127.0.0.1:8000")
    with open(os.environ["HOLDER_KEY_FILE"], "rb") as handle:
        key = load_pem_private_key(handle.read(), password=None)
    client = discretion_sdk.BrokerClient(
        issuer=issuer,
        client_id=os.environ.get("HOLDER_CLIENT_ID", "calendar-holder"),
        private_key=key,
        kid=os.environ.get("HOLDER_KID", "calendar-holder-key-1"),
    )  # type: ignore[arg-type]
    verifier = discretion_sdk.TokenVerifier(issuer=issuer, audience=CALENDAR_URI, revocation_source=client)
    uvicorn.run(
        create_holder_app(verifier, client), host="127.0.0.1", port=int(os.environ.get("HOLDER_PORT", "8100"))
    )


if __name__ == "__main__":
    main()
