"""RFC 8693 token exchange with `actor_token`, `audience` and `requested_token_type`."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from discretion_wire import jwk_thumbprint

from tests.agents import TestAgent
from tests.conftest import CALENDAR_URI, ISSUER, ChainWorld

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
TOKEN_URL = ISSUER + "/oauth2/token"


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


def root_token(chain: ChainWorld) -> str:
    """The assistant's own (bearer) token, which it hands to the travel agent."""
    response = chain.token(chain.assistant, scope="calendar:read calendar:write", expires_in="600")
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def own_token(chain: ChainWorld, agent: TestAgent) -> str:
    """`agent`'s own access token, from its own grant: what it proves itself with."""
    chain.grant(agent=agent.client_id)
    response = chain.token(agent)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def actor_exchange(
    chain: ChainWorld,
    caller: TestAgent,
    subject_token: str,
    actor_token: str | None,
    *,
    proof: str | None = None,
    **params: str,
) -> Any:
    """The delegate (`caller`) exchanges the token it was handed, proving itself with its own."""
    form = {
        "grant_type": EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN,
        **caller.auth_form(ISSUER, now=chain.clock.now),
        **params,
    }
    if actor_token is not None:
        form["actor_token"] = actor_token
        form.setdefault("actor_token_type", ACCESS_TOKEN)
    headers = {"DPoP": proof} if proof else {}
    return chain.client.post("/oauth2/token", data=form, headers=headers)


def test_the_delegate_proves_itself_with_its_own_actor_token(chain: ChainWorld) -> None:
    root = root_token(chain)
    response = actor_exchange(
        chain, chain.travel, root, own_token(chain, chain.travel), scope="calendar:read"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["issued_token_type"] == ACCESS_TOKEN
    assert body["token_type"] == "DPoP"
    claims = _claims(body["access_token"])
    assert claims["client_id"] == "travel-agent"
    assert claims["act"] == {"sub": "travel-agent", "act": {"sub": "assistant"}}
    assert claims["aud"] == CALENDAR_URI
    assert claims["scope"] == "calendar:read"
    # Bound to the delegate's registered key, as with requested_actor.
    assert claims["cnf"]["jkt"] == jwk_thumbprint(chain.travel.jwks()["keys"][0])
    assert chain.introspect(body["access_token"])["active"] is True


@pytest.mark.parametrize("audience", [CALENDAR_URI, "calendar-holder"], ids=["resource-uri", "holder-id"])
def test_an_audience_naming_the_resource_or_its_holder_is_honoured(chain: ChainWorld, audience: str) -> None:
    response = actor_exchange(
        chain, chain.travel, root_token(chain), own_token(chain, chain.travel), audience=audience
    )
    assert response.status_code == 200, response.text
    assert _claims(response.json()["access_token"])["aud"] == CALENDAR_URI


def test_requested_token_type_access_token_is_accepted(chain: ChainWorld) -> None:
    response = actor_exchange(
        chain,
        chain.travel,
        root_token(chain),
        own_token(chain, chain.travel),
        requested_token_type=ACCESS_TOKEN,
    )
    assert response.status_code == 200, response.text
