"""Delegation decisions replay from the log like token decisions: the same outcome comes out."""

from __future__ import annotations

import json

from broker.grantlog.replay import replay_log
from policy import Limits
from tests.broker.grantlog.helpers import auditor_key, export_lines
from tests.broker.oauth.test_delegation import TOKEN_URL, exchange
from tests.conftest import ChainWorld


def test_delegation_decisions_replay_to_the_same_outcome(chain: ChainWorld) -> None:
    key = auditor_key(chain)
    root = chain.token(chain.assistant, scope="calendar:read calendar:write", expires_in="600").json()[
        "access_token"
    ]
    allowed = exchange(chain, chain.assistant, root, "travel-agent", scope="calendar:read", reveal="PERSON")
    assert allowed.status_code == 200
    travel = allowed.json()["access_token"]
    proof = chain.travel.dpop_proof(TOKEN_URL, now=chain.clock.now)
    assert exchange(chain, chain.travel, travel, "airline", proof, expires_in="60").status_code == 200
    assert exchange(chain, chain.assistant, root, "travel-agent", scope="calendar:*").status_code == 400
    chain.block("locale", "IE")
    assert exchange(chain, chain.assistant, root, "airline").status_code == 400
    events = [json.loads(line)["event"] for line in export_lines(chain.client, key)]
    kinds = {e["seq"]: e["type"] for e in events}
    results = replay_log(events, Limits())
    delegations = [r for r in results if kinds[r.seq].startswith("token.delegat")]
    assert [r.logged["decision"] for r in delegations] == ["allow", "allow", "deny", "deny"]
    assert delegations[2].logged["reasons"] == ["scope_widening"]
    assert delegations[3].logged["reasons"] == ["blocked_locale"]
    assert all(r.same for r in results), [(r.seq, r.logged, r.replayed) for r in results if not r.same]


def test_a_doctored_delegation_is_noticed(chain: ChainWorld) -> None:
    key = auditor_key(chain)
    root = chain.token(chain.assistant, scope="calendar:read", expires_in="600").json()["access_token"]
    assert exchange(chain, chain.assistant, root, "travel-agent", scope="calendar:*").status_code == 400
    events = [json.loads(line)["event"] for line in export_lines(chain.client, key)]
    denied = next(e for e in events if e["type"] == "token.delegation_denied")
    denied["decision"], denied["reasons"] = "allow", ["granted"]
    assert not all(r.same for r in replay_log(events, Limits()))
