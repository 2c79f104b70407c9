"""Delegation across three agents, with attenuation at each hop and a cascade revocation.

alice's personal assistant holds a grant to her calendar that allows two hops of delegation. It
hands a narrower token to a travel agent, which hands a narrower one still to an airline. Each
delegated token is bound (DPoP, `cnf.jkt`) to the delegate's registered key, carries the whole
chain in `act`, and can never be wider or live longer than its parent. When alice revokes the
assistant's grant, every token of the chain dies at once.

Run with `.venv/bin/python -m examples.three_hop` (a broker process is started for it).
"""

from __future__ import annotations

import time
from contextlib import ExitStack

import discretion_sdk
import httpx
import jwt

from examples.broker_process import BrokerProcess
from examples.demo import Agent, console, expect, refused, serve_holder, show, step
from examples.holder_service import CALENDAR_URI


def _claims(token: discretion_sdk.AccessToken) -> dict[str, object]:
    return jwt.decode(token.access_token, options={"verify_signature": False})  # type: ignore[no-any-return]


def run_three_hops(broker: BrokerProcess) -> None:
    """The scenario against a running broker."""
    issuer = broker.issuer
    with ExitStack() as stack:
        admin = stack.enter_context(
            httpx.Client(base_url=issuer, headers={"Authorization": f"Bearer {broker.create_admin_key()}"})
        )
        calendar = Agent("calendar-holder", "Calendar Co", "DE", [CALENDAR_URI])
        assistant = Agent("assistant", "Helpful Assistants", "GB")
        travel = Agent("travel-agent", "Wanderly Travel", "FR")
        airline = Agent("airline", "Sky Air", "IE")
        step(1, "Four agents are registered; alice grants her assistant two hops of delegation")
        for agent in (calendar, assistant, travel, airline):
            admin.post("/v1/agents", json=agent.registration()).raise_for_status()
        key = admin.post("/v1/users", json={"user_id": "alice"}).raise_for_status().json()["api_key"]
        alice = stack.enter_context(httpx.Client(base_url=issuer, headers={"Authorization": f"Bearer {key}"}))
        grant = (
            alice.post(
                "/v1/me/grants",
                json={
                    "agent": "assistant",
                    "resource": CALENDAR_URI,
                    "scopes": ["calendar:*"],
                    "max_ttl_seconds": 900,
                    "max_delegation_depth": 2,
                    "reveal": ["PERSON", "EMAIL_ADDRESS"],
                },
            )
            .raise_for_status()
            .json()
        )
        show("grant", f"{grant['scopes']} for 900 s, depth 2, reveal {grant['reveal']}")

        holder_client = stack.enter_context(calendar.client(issuer))
        verifier = stack.enter_context(
            discretion_sdk.TokenVerifier(
                issuer=issuer,
                audience=CALENDAR_URI,
                revocation_source=holder_client,
                revocation_poll_interval=0.2,
            )
        )
        holder_url = stack.enter_context(serve_holder(verifier, holder_client))
        clients = {a.client_id: stack.enter_context(a.client(issuer)) for a in (assistant, travel, airline)}

        step(2, "The assistant gets a token (read and write) for alice's calendar")
        root = clients["assistant"].token(
            subject="alice", resource=CALENDAR_URI, scopes=["calendar:read", "calendar:write"], expires_in=900
        )
        show("root", f"scope {' '.join(root.scope)}, {root.expires_in} s")

        step(3, "It delegates read-only access to the travel agent, revealing names only")
        travel_token = clients["assistant"].exchange(
            root, delegate="travel-agent", scopes=["calendar:read"], reveal=["PERSON"], expires_in=600
        )
        show(
            "delegated",
            f"{travel_token.token_type}, scope {' '.join(travel_token.scope)}, "
            f"act {_claims(travel_token)['act']}",
        )

        step(4, "The travel agent delegates to the airline, for five minutes")
        airline_token = clients["travel-agent"].exchange(travel_token, delegate="airline", expires_in=300)
        show("delegated", f"act {_claims(airline_token)['act']}")
        show("bound to the airline's key", _claims(airline_token)["cnf"])

        step(5, "The airline reads the calendar, proving possession of its key (DPoP)")
        url = f"{holder_url}/calendar/events"
        response = httpx.get(url, headers=clients["airline"].authorization_headers(airline_token, "GET", url))
        expect(response.status_code == 200, "the airline should be served")
        show("holder answered", [e["title"] for e in response.json()["events"]])
        stolen = httpx.get(url, headers={"Authorization": f"Bearer {airline_token.access_token}"})
        show("the same token without the airline's key", f"{stolen.status_code}")
        expect(stolen.status_code == 401, "a bound token must not work as a bearer token")

        step(6, "Widening is refused at every hop")
        show(
            "airline asks for calendar:write",
            refused(
                lambda: clients["airline"].exchange(
                    airline_token, delegate="travel-agent", scopes=["calendar:write"]
                )
            ),
        )
        show(
            "travel agent asks to reveal e-mail",
            refused(
                lambda: clients["travel-agent"].exchange(
                    travel_token, delegate="airline", reveal=["PERSON", "EMAIL_ADDRESS"]
                )
            ),
        )
        show(
            "a third hop (depth 3 > 2)",
            refused(lambda: clients["airline"].exchange(airline_token, delegate="travel-agent")),
        )

        step(7, "alice revokes the assistant's grant: the whole chain dies")
        alice.delete(f"/v1/me/grants/{grant['grant_id']}").raise_for_status()
        for name, token in (("root", root), ("travel agent", travel_token), ("airline", airline_token)):
            show(f"introspection of the {name}'s token", holder_client.introspect(token.access_token))
        time.sleep(0.3)  # past the holder's feed poll interval
        response = httpx.get(url, headers=clients["airline"].authorization_headers(airline_token, "GET", url))
        expect(response.status_code == 401, "the holder should refuse the revoked chain")
        show("holder refuses the airline", response.status_code)
    console.print("\n[bold green]Three-hop scenario complete.[/]")


def main() -> None:
    """Start a broker process on a fresh SQLite store and run the scenario."""
    with BrokerProcess() as broker:
        run_three_hops(broker)


if __name__ == "__main__":
    main()
