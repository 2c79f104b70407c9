"""`discretion agents|users|auditors|grants`: the operator's path from an empty database to a grant."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import discretion_sdk
import pytest
from typer.testing import CliRunner

from broker.process.cli import app

BANK = "https://bank.example/api"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DISCRETION_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def run(runner: CliRunner, *args: str, code: int = 0) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    if "--json" in args and code == 0:
        return json.loads(result.stdout)
    return result


def bank(runner: CliRunner, tmp_path: Path) -> dict[str, Any]:
    return run(  # type: ignore[no-any-return]
        runner, "agents", "create", "bank", "--organization", "Bank Co", "--locale", "DE",
        "--resource", BANK, "--generate-key", str(tmp_path / "bank.pem"), "--json",
    )  # fmt: skip


def test_a_generated_key_is_written_0600_and_its_public_half_registered(
    runner: CliRunner, tmp_path: Path
) -> None:
    agent = bank(runner, tmp_path)
    pem = tmp_path / "bank.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    key = discretion_sdk.load_private_key(pem)
    (registered,) = agent["jwks"]["keys"]
    assert registered["kid"] == "bank-key-1"
    expected = discretion_sdk.public_jwks(key, "bank-key-1")["keys"][0]
    assert {k: registered[k] for k in ("kty", "crv", "x")} == {k: expected[k] for k in ("kty", "crv", "x")}
    assert agent["resource_uris"] == [BANK]
    assert agent["organization_display"] == "Bank Co"
    listed = run(runner, "agents", "list", "--json")
    assert [a["client_id"] for a in listed] == ["bank"]
    assert "d" not in listed[0]["jwks"]["keys"][0]


def test_an_agent_from_a_jwks_file(runner: CliRunner, tmp_path: Path) -> None:
    key = discretion_sdk.generate_key("ES256")
    (tmp_path / "jwks.json").write_text(json.dumps(discretion_sdk.public_jwks(key, "k-1")))
    agent = run(
        runner, "agents", "create", "budgeting", "--organization", "Budget Ltd", "--locale", "FR",
        "--jwks", str(tmp_path / "jwks.json"), "--json",
    )  # fmt: skip
    assert agent["jwks"]["keys"][0]["alg"] == "ES256"
    table = run(runner, "agents", "list").stdout
    assert "budgeting" in table
    assert "Budget Ltd" in table


def test_a_private_jwks_file_is_refused_and_nothing_registered(runner: CliRunner, tmp_path: Path) -> None:
    key = discretion_sdk.generate_key()
    private = json.loads(__import__("jwt").get_algorithm_by_name("EdDSA").to_jwk(key))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [{**private, "kid": "k"}]}))
    result = run(
        runner, "agents", "create", "x", "--organization", "X", "--locale", "FR",
        "--jwks", str(tmp_path / "jwks.json"), code=1,
    )  # fmt: skip
    assert "private key members are refused" in result.output
    assert run(runner, "agents", "list", "--json") == []


def test_an_existing_key_file_is_never_overwritten(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "bank.pem").write_text("someone's key")
    result = run(
        runner, "agents", "create", "bank", "--organization", "Bank Co", "--locale", "DE",
        "--generate-key", str(tmp_path / "bank.pem"), code=2,
    )  # fmt: skip
    assert "never overwritten" in result.output
    assert (tmp_path / "bank.pem").read_text() == "someone's key"
    assert run(runner, "agents", "list", "--json") == []


def test_exactly_one_key_source(runner: CliRunner, tmp_path: Path) -> None:
    run(runner, "agents", "create", "x", "--organization", "X", "--locale", "FR", code=2)


def test_a_refused_registration_writes_no_key(runner: CliRunner, tmp_path: Path) -> None:
    bank(runner, tmp_path)
    run(
        runner, "agents", "create", "bank", "--organization", "Bank Co", "--locale", "DE",
        "--generate-key", str(tmp_path / "again.pem"), code=1,
    )  # fmt: skip
    assert not (tmp_path / "again.pem").exists()


def test_users_auditors_and_their_keys(runner: CliRunner, tmp_path: Path) -> None:
    shown = run(runner, "users", "create", "dana")
    api_key = shown.stdout.strip().splitlines()[-1]
    assert api_key.startswith("dsc_")
    run(runner, "users", "create", "erin", "--key-file", str(tmp_path / "erin.key"))
    assert stat.S_IMODE((tmp_path / "erin.key").stat().st_mode) == 0o600
    assert (tmp_path / "erin.key").read_text().startswith("dsc_")
    users = run(runner, "users", "list", "--json")
    assert {u["user_id"] for u in users} == {"dana", "erin"}
    assert all("api_key" not in u for u in users)
    run(runner, "users", "create", "dana", code=1)
    auditor = run(runner, "auditors", "create", "Audit Team", "--json")
    assert auditor["api_key"].startswith("dsc_")
    (listed,) = run(runner, "auditors", "list", "--json")
    assert listed["name"] == "Audit Team"
    assert auditor["api_key"] not in json.dumps(listed)


def test_grants_create_list_and_revoke(runner: CliRunner, tmp_path: Path) -> None:
    bank(runner, tmp_path)
    run(
        runner, "agents", "create", "budgeting", "--organization", "Budget Ltd", "--locale", "FR",
        "--generate-key", str(tmp_path / "budgeting.pem"),
    )  # fmt: skip
    run(runner, "users", "create", "dana")
    run(runner, "purposes", "add", "budgeting", "Household budgeting")
    grant = run(
        runner, "grants", "create", "--user", "dana", "--agent", "budgeting", "--resource", BANK,
        "--scope", "accounts:read", "--max-ttl", "600", "--purpose", "budgeting", "--reveal", "PERSON",
        "--json",
    )  # fmt: skip
    assert grant["scopes"] == ["accounts:read"]
    assert grant["max_ttl_seconds"] == 600
    assert grant["reveal"] == ["PERSON"]
    assert grant["purposes"] == ["budgeting"]
    assert grant["status"] == "active"
    (listed,) = run(runner, "grants", "list", "--user", "dana", "--json")
    assert listed["grant_id"] == grant["grant_id"]
    table = run(runner, "grants", "list", "--user", "dana").stdout
    # Ids wrap inside their column, never cut with an ellipsis: read the first column back.
    first_column = "".join(line.split("│")[1].strip() for line in table.splitlines() if "│" in line)
    assert first_column == grant["grant_id"]
    revoked = run(runner, "grants", "revoke", "--user", "dana", grant["grant_id"], "--json")
    assert revoked["status"] == "revoked"


def test_purposes_add_list_and_retire(runner: CliRunner, tmp_path: Path) -> None:
    added = run(runner, "purposes", "add", "trip-planning", "Plan and book travel", "--json")
    assert (added["code"], added["description"], added["retired"]) == (
        "trip-planning",
        "Plan and book travel",
        False,
    )
    # A code registered twice, or a free-text one, is refused with the reason.
    assert "exists" in run(runner, "purposes", "add", "trip-planning", "Again", code=1).output
    assert (
        "purpose must be a code" in run(runner, "purposes", "add", "my wife's trip", "Prose", code=1).output
    )
    retired = run(runner, "purposes", "retire", "trip-planning", "--json")
    assert retired["retired"] is True
    (listed,) = run(runner, "purposes", "list", "--json")
    assert (listed["code"], listed["retired"]) == ("trip-planning", True)
    # A retired purpose is no longer grantable.
    bank(runner, tmp_path)
    run(runner, "users", "create", "dana")
    result = run(
        runner, "grants", "create", "--user", "dana", "--agent", "bank", "--resource", BANK,
        "--scope", "accounts:read", "--purpose", "trip-planning", code=1,
    )  # fmt: skip
    assert "not a registered, live purpose" in " ".join(result.output.split())


def test_grant_refusals_exit_1_with_the_reason(runner: CliRunner, tmp_path: Path) -> None:
    bank(runner, tmp_path)
    run(runner, "users", "create", "dana")
    result = run(
        runner, "grants", "create", "--user", "dana", "--agent", "nobody", "--resource", BANK,
        "--scope", "accounts:read", code=1,
    )  # fmt: skip
    assert "agent is not a registered agent" in result.output
    result = run(
        runner, "grants", "create", "--user", "zed", "--agent", "bank", "--resource", BANK,
        "--scope", "accounts:read", code=1,
    )  # fmt: skip
    assert "no user 'zed'" in result.output


def test_audit_checkpoint_keeps_the_logs_origin_when_the_issuer_is_not_set(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As after `discretion serve --port 9999` (issuer derived, not in the environment).
    monkeypatch.setenv("DISCRETION_ISSUER", "http://127.0.0.1:9999")
    first = run(runner, "audit", "checkpoint").stdout
    assert first.startswith("127.0.0.1:9999/grant-log\n")
    monkeypatch.delenv("DISCRETION_ISSUER")
    run(runner, "users", "create", "dana")  # a new event, so that a new checkpoint is signed
    again = run(runner, "audit", "checkpoint").stdout
    assert again.startswith("127.0.0.1:9999/grant-log\n")
    assert again.split("\n")[1] != first.split("\n")[1]  # a larger tree
    # An issuer set to another URL is refused, naming the settings, and signs nothing.
    monkeypatch.setenv("DISCRETION_ISSUER", "https://broker.example")
    refused = run(runner, "audit", "checkpoint", code=2)
    assert "DISCRETION_CHECKPOINT_ORIGIN=127.0.0.1:9999/grant-log" in " ".join(refused.output.split())


def test_grant_budgets_from_the_cli(runner: CliRunner, tmp_path: Path) -> None:
    bank(runner, tmp_path)
    run(
        runner, "agents", "create", "budgeting", "--organization", "Budget Ltd", "--locale", "FR",
        "--generate-key", str(tmp_path / "budgeting.pem"),
    )  # fmt: skip
    run(runner, "users", "create", "dana")
    run(runner, "purposes", "add", "budgeting", "Household budgeting")
    grant = run(
        runner, "grants", "create", "--user", "dana", "--agent", "budgeting", "--resource", BANK,
        "--scope", "accounts:read", "--tokens-per-hour", "30", "--json",
    )  # fmt: skip
    assert grant["tokens_per_hour"] == 30
    assert grant["disclosures_per_day"] is None
    changed = run(
        runner, "grants", "budget", "--user", "dana", grant["grant_id"],
        "--disclosures-per-day", "5", "--json",
    )  # fmt: skip
    assert (changed["tokens_per_hour"], changed["disclosures_per_day"]) == (None, 5)
    (listed,) = run(runner, "grants", "list", "--user", "dana", "--json")
    assert listed["disclosures_per_day"] == 5
    run(runner, "grants", "budget", "--user", "dana", grant["grant_id"], "--tokens-per-hour", "-1", code=1)


def test_rotate_keys_with_a_generated_key_retires_the_old_one(runner: CliRunner, tmp_path: Path) -> None:
    bank(runner, tmp_path)
    rotated = run(
        runner, "agents", "rotate-keys", "bank", "--generate-key", str(tmp_path / "bank-2.pem"),
        "--kid", "bank-key-2", "--json",
    )  # fmt: skip
    assert stat.S_IMODE((tmp_path / "bank-2.pem").stat().st_mode) == 0o600
    assert [k["kid"] for k in rotated["jwks"]["keys"]] == ["bank-key-2"]
    assert rotated["current_kid"] == "bank-key-2"
    assert [k["kid"] for k in rotated["retiring_keys"]] == ["bank-key-1"]
    # Marking the retiring key compromised ends it at once.
    key = discretion_sdk.load_private_key(tmp_path / "bank-2.pem")
    (tmp_path / "jwks.json").write_text(json.dumps(discretion_sdk.public_jwks(key, "bank-key-2")))
    compromised = run(
        runner, "agents", "rotate-keys", "bank", "--jwks", str(tmp_path / "jwks.json"),
        "--compromised", "bank-key-1", "--json",
    )  # fmt: skip
    assert compromised["retiring_keys"] == []


def test_a_refused_rotation_writes_no_key_and_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    bank(runner, tmp_path)
    run(
        runner, "agents", "rotate-keys", "bank", "--generate-key", str(tmp_path / "again.pem"),
        "--kid", "bank-key-1",
        code=1,
    )  # fmt: skip
    assert not (tmp_path / "again.pem").exists()
