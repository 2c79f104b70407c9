"""The end-to-end demo: a real broker process, three agents, one user, grants, a block, a revocation.

Cast: a calendar holder (Calendar Co, Germany) keeps alice's calendar; a travel agent (Wanderly
Travel, France) plans her trip; an ad agent (AdTrack Inc., California) wants her data too. Every step
goes over real HTTP: agents use discretion_sdk.BrokerClient, the holder guards its API with
discretion_sdk.require_scope.

Run with `make demo`. Exits non-zero if any step does not turn out as the story says.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import discretion_sdk
import httpx
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from examples.broker_process import BrokerProcess, free_port
from examples.holder_service import CALENDAR_URI, create_holder_app

console = Console(highlight=False)


class Agent:
    """An agent's identity: a client id, an Ed25519 key, and what the admin attests about it."""

    def __init__(self, client_id: str, organization: str, locale: str, resources: list[str] | None = None):
        self.client_id, self.organization, self.locale = client_id, organization, locale
        self.resources = resources or []
        self.key = Ed25519PrivateKey.generate()
        self.kid = f"{client_id}-key-1"

    def registration(self) -> dict[str, Any]:
        """The body an admin posts to /v1/agents."""
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {
            "client_id": self.client_id,
            "name": self.client_id,
            "organization": self.organization,
            "locale": self.locale,
            "resource_uris": self.resources,
            "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.kid, "use": "sig"}]},
        }

    def client(self, issuer: str) -> discretion_sdk.BrokerClient:
        """This agent's SDK client."""
        return discretion_sdk.BrokerClient(
            issuer=issuer, client_id=self.client_id, private_key=self.key, kid=self.kid
        )


def step(number: int, text: str) -> None:
    """Print a step heading."""
    console.print(f"\n[bold cyan]{number:>2}.[/] [bold]{text}[/]")


def show(label: str, value: object) -> None:
    """Print one result line."""
    console.print(f"    {label}: [green]{value}[/]")


def expect(condition: bool, what: str) -> None:
    """Fail the demo loudly when the story does not hold."""
    if not condition:
        raise SystemExit(f"demo failed: {what}")


@contextmanager
def serve_holder(
    verifier: discretion_sdk.TokenVerifier, broker: discretion_sdk.BrokerClient
) -> Iterator[str]:
    """Run the example holder on a free port in a background thread."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_holder_app(verifier, broker), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)


def refused(call: Any) -> str:
    """Run a call that the broker must refuse and return the wire error code."""
    try:
        call()
    except discretion_sdk.BrokerError as exc:
        return exc.error
    raise SystemExit("demo failed: the broker issued a token it should have refused")


def run_demo(broker: BrokerProcess) -> None:
    """The scenario, against a running broker."""
    with ExitStack() as stack:
        _scenario(broker, stack)


def _scenario(broker: BrokerProcess, stack: ExitStack) -> None:
    issuer = broker.issuer
    step(1, f"Broker running at {issuer} (SQLite in {broker.data_dir})")
    metadata = httpx.get(f"{issuer}/.well-known/oauth-authorization-server").json()
    show("token endpoint", metadata["token_endpoint"])
    show("client authentication", ", ".join(metadata["token_endpoint_auth_methods_supported"]))

    step(2, "An admin key from the command line (`discretion admin create-key`)")
    admin_key = broker.create_admin_key()
    admin = stack.enter_context(
        httpx.Client(base_url=issuer, headers={"Authorization": f"Bearer {admin_key}"})
    )
    show("admin key", "created (shown once, kept by the admin)")

    step(3, "The admin registers three agents and attests their organization and locale")
    calendar = Agent("calendar-holder", "Calendar Co", "DE", [CALENDAR_URI])
    travel = Agent("travel-agent", "Wanderly Travel", "FR")
    ads = Agent("ad-agent", "AdTrack Inc.", "US-CA")
    for agent in (calendar, travel, ads):
        body = admin.post("/v1/agents", json=agent.registration()).raise_for_status().json()
        show(agent.client_id, f"organization={body['organization']!r} locale={body['locale']}")

    step(4, "The admin creates the user alice; her API key is shown once")
    alice_key = admin.post("/v1/users", json={"user_id": "alice"}).raise_for_status().json()["api_key"]
    alice = stack.enter_context(
        httpx.Client(base_url=issuer, headers={"Authorization": f"Bearer {alice_key}"})
    )

    # Purposes are registered values: the grant log only ever holds codes an admin registered.
    admin.post(
        "/v1/purposes", json={"code": "trip-planning", "description": "Plan and book travel"}
    ).raise_for_status()
    show("purpose", "trip-planning registered by the admin (Plan and book travel)")

    step(5, "alice grants the travel agent read access to her calendar, at most 10 minutes a token")
    travel_grant = (
        alice.post(
            "/v1/me/grants",
            json={
                "agent": "travel-agent",
                "resource": CALENDAR_URI,
                "scopes": ["calendar:read"],
                "max_ttl_seconds": 600,
                "purposes": ["trip-planning"],
            },
        )
        .raise_for_status()
        .json()
    )
    show("grant", f"{travel_grant['grant_id']} scopes={travel_grant['scopes']}")
    alice.post(
        "/v1/me/grants",
        json={
            "agent": "ad-agent",
            "resource": CALENDAR_URI,
            "scopes": ["calendar:read"],
            "max_ttl_seconds": 300,
        },
    ).raise_for_status()
    show("an older grant", "the ad agent can read her calendar too (from a free app she once installed)")

    calendar_client = stack.enter_context(calendar.client(issuer))
    verifier = stack.enter_context(
        discretion_sdk.TokenVerifier(
            issuer=issuer,
            audience=CALENDAR_URI,
            revocation_source=calendar_client,
            revocation_poll_interval=0.2,
        )
    )
    with (
        serve_holder(verifier, calendar_client) as holder_url,
        travel.client(issuer) as travel_client,
        ads.client(issuer) as ads_client,
    ):
        step(6, "The travel agent asks the broker for a token (private_key_jwt) and reads the calendar")
        travel_token = travel_client.token(
            subject="alice", resource=CALENDAR_URI, scopes=["calendar:read"], purpose="trip-planning"
        )
        show(
            "token",
            f"{travel_token.token_type}, expires in {travel_token.expires_in} s, "
            f"scope {' '.join(travel_token.scope)}",
        )
        events = httpx.get(
            f"{holder_url}/calendar/events", headers={"Authorization": f"Bearer {travel_token.access_token}"}
        )
        expect(events.status_code == 200, "the holder should serve the travel agent")
        answer = events.json()
        show("holder verified it offline and answered", [e["title"] for e in answer["events"]])
        show(
            "attendees as the travel agent sees them (redacted by the broker)",
            answer["events"][0]["attendees"],
        )
        show("redacted", f"{answer['redacted']}, grant-log receipt #{answer['receipt']}")
        expect("alice@example.org" not in events.text, "the e-mail address must not reach the travel agent")

        step(7, "A token for more than alice granted is refused")
        show(
            "calendar:write",
            refused(
                lambda: travel_client.token(
                    subject="alice", resource=CALENDAR_URI, scopes=["calendar:write"], purpose="trip-planning"
                )
            ),
        )

        step(8, "The ad agent gets a token under its old grant")
        ads_token = ads_client.token(subject="alice", resource=CALENDAR_URI, scopes=["calendar:read"])
        expect(
            httpx.get(
                f"{holder_url}/calendar/events", headers={"Authorization": f"Bearer {ads_token.access_token}"}
            ).status_code
            == 200,
            "the ad agent's token should work before the block",
        )
        show("holder answered the ad agent", "200")

        step(9, "alice blocks the organization AdTrack Inc., the way a browser blocks a site")
        entry = (
            alice.post(
                "/v1/me/blocklist",
                json={"kind": "organization", "value": "adtrack inc.", "note": "no ad companies"},
            )
            .raise_for_status()
            .json()
        )
        show("entry", f"{entry['kind']}={entry['value']!r}")
        show("introspection of the ad agent's live token", calendar_client.introspect(ads_token.access_token))
        time.sleep(0.3)  # past the holder's feed poll interval
        blocked = httpx.get(
            f"{holder_url}/calendar/events", headers={"Authorization": f"Bearer {ads_token.access_token}"}
        )
        expect(blocked.status_code == 401, "the holder should refuse the revoked token")
        show(
            "holder refuses it (revocation feed)",
            f"{blocked.status_code} {blocked.headers.get('www-authenticate')}",
        )
        ads_client.forget(ads_token)  # the holder says it is revoked: never reuse it
        show(
            "a new request by the ad agent",
            refused(
                lambda: ads_client.token(subject="alice", resource=CALENDAR_URI, scopes=["calendar:read"])
            ),
        )

        step(10, "alice revokes the travel agent's grant when the trip is booked")
        alice.delete(f"/v1/me/grants/{travel_grant['grant_id']}").raise_for_status()
        show("introspection", calendar_client.introspect(travel_token.access_token))
        travel_client.forget(travel_token)
        show(
            "a new request",
            refused(
                lambda: travel_client.token(
                    subject="alice",
                    resource=CALENDAR_URI,
                    scopes=["calendar:read"],
                    purpose="trip-planning",
                )
            ),
        )

    step(11, "alice reads her activity: who got which token for her data, and what was refused")
    for event in reversed(alice.get("/v1/me/activity").raise_for_status().json()["events"]):
        if event["type"].startswith("token."):
            console.print(
                f"    #{event['seq']:<3} {event['type']:<14} {','.join(event['agents']):<13} "
                f"{event['decision']:<7} {','.join(event['reasons'])}"
            )
    console.print("\n[bold green]Demo complete.[/]")


def main() -> None:
    """Start a broker process on a fresh SQLite store and run the scenario."""
    with BrokerProcess() as broker:
        run_demo(broker)


if __name__ == "__main__":
    main()
