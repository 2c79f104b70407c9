"""Pseudonyms are no oracle: a recipient that can disclose data to itself cannot confirm guesses.

The attack: an agent is both a holder and a recipient, and its operator is a user. It receives a
victim's data with pseudonyms, then has its operator grant it access to the operator's own data,
discloses guessed values to itself as that data, and compares the pseudonyms. With pseudonyms
keyed by recipient alone, twenty guesses recovered a phone number; keyed by recipient and data
subject, no guess matches.
"""

from __future__ import annotations

import json
import re
from typing import Any

from broker.redaction import DisclosurePolicy, Operator, Redactor
from tests.agents import TestAgent
from tests.conftest import CALENDAR_URI, ISSUER, World, auth

SECRET = b"oracle-test-secret-0123456789abcdef"
VICTIM_PHONE = "+44 7700 900461"
GUESSES = [f"+44 7700 9004{n:02d}" for n in range(50, 70)]  # 20 guesses, the victim's among them
MALLORY_URI = "https://mallory.example/api"
_PSEUDONYM = re.compile(r"<PHONE_NUMBER_[0-9a-f]{16}>")


def _oracle(redactor: Redactor, victim_subject: str, attacker_subject: str) -> list[str]:
    """The guesses whose pseudonym equals the victim's, as the attack computes them."""
    policy = DisclosurePolicy(operator=Operator.PSEUDONYM, recipient="mallory-agent", subject=victim_subject)
    seen = redactor.redact({"phone": VICTIM_PHONE}, policy).data["phone"]
    mine = DisclosurePolicy(operator=Operator.PSEUDONYM, recipient="mallory-agent", subject=attacker_subject)
    return [g for g in GUESSES if redactor.redact({"phone": g}, mine).data["phone"] == seen]


def test_phone_oracle_succeeds_when_pseudonyms_ignore_the_data_subject() -> None:
    # The attack itself works: with one key for every subject (the old keying), it finds the number.
    redactor = Redactor(secret=SECRET)
    assert _oracle(redactor, victim_subject="", attacker_subject="") == [VICTIM_PHONE]


def test_phone_oracle_fails_with_pseudonyms_keyed_by_data_subject() -> None:
    redactor = Redactor(secret=SECRET)
    assert _oracle(redactor, victim_subject="user:alice", attacker_subject="user:mallory") == []


def test_pseudonyms_stay_stable_for_one_recipient_and_one_subject() -> None:
    redactor = Redactor(secret=SECRET)
    policy = DisclosurePolicy(operator=Operator.PSEUDONYM, recipient="r", subject="user:alice")
    assert (
        redactor.redact({"phone": VICTIM_PHONE}, policy).data
        == redactor.redact({"phone": "+447700900461"}, policy).data
    )


def test_recipient_and_subject_cannot_be_shifted_into_each_other() -> None:
    redactor = Redactor(secret=SECRET)
    one = DisclosurePolicy(operator=Operator.PSEUDONYM, recipient="ab", subject="c")
    two = DisclosurePolicy(operator=Operator.PSEUDONYM, recipient="a", subject="bc")
    assert (
        redactor.redact({"phone": VICTIM_PHONE}, one).data
        != redactor.redact({"phone": VICTIM_PHONE}, two).data
    )


def _disclose(world: World, holder: TestAgent, token: str, data: Any) -> Any:
    headers = {
        "Authorization": f"Bearer {holder.assertion(ISSUER, now=world.clock.now)}",
        "Content-Type": "application/json",
    }
    body = {"token": token, "data": data, "operator": "pseudonym"}
    response = world.client.post("/v1/disclose", content=json.dumps(body).encode(), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def _token(world: World, agent: TestAgent, subject: str, resource: str) -> str:
    response = world.token(agent, subject=subject, resource=resource, scope="calendar:read")
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_phone_oracle_through_the_api_fails(world: World) -> None:
    """The 20-guess attack end to end: a holder-recipient and its operator's own grant."""
    mallory_agent = TestAgent("mallory-agent", "Mallory Ltd", "GB", [MALLORY_URI])
    response = world.client.post(
        "/v1/agents", json=mallory_agent.registration(), headers=auth(world.admin_key)
    )
    assert response.status_code == 201, response.text
    response = world.client.post("/v1/users", json={"user_id": "mallory"}, headers=auth(world.admin_key))
    assert response.status_code == 201, response.text
    mallory_key = response.json()["api_key"]
    # Alice shares her calendar with the agent; the calendar discloses her phone, pseudonymized.
    world.grant(agent="mallory-agent")
    victim = _disclose(
        world, world.calendar, _token(world, mallory_agent, "alice", CALENDAR_URI), {"phone": VICTIM_PHONE}
    )
    assert _PSEUDONYM.fullmatch(victim["phone"])
    # Mallory grants her own agent access to her own data; the agent, as its holder, discloses
    # each guess to itself and compares.
    grant = {
        "agent": "mallory-agent",
        "resource": MALLORY_URI,
        "scopes": ["calendar:read"],
        "max_ttl_seconds": 600,
    }
    response = world.client.post("/v1/me/grants", json=grant, headers=auth(mallory_key))
    assert response.status_code == 201, response.text
    token = _token(world, mallory_agent, "mallory", MALLORY_URI)
    answers = _disclose(world, mallory_agent, token, {"phones": GUESSES})["phones"]
    assert all(_PSEUDONYM.fullmatch(a) for a in answers)
    assert victim["phone"] not in answers
    # The same guesses against the same subject do repeat: the pseudonyms are still useful.
    again = _disclose(
        world, mallory_agent, _token(world, mallory_agent, "mallory", MALLORY_URI), {"phones": GUESSES}
    )
    assert again["phones"] == answers
