"""The SDK installs alone (`pip install ./sdk` in a fresh venv: no broker, Presidio, spaCy, SQLAlchemy
or FastAPI), and an agent built on it, run from that venv against a real broker and holder, is
refused after its user blocks it and served again by a fresh token after the unblock, never by the
cached revoked one.

Needs PyPI (the SDK's four dependencies) like `make test`'s own install.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import discretion_sdk
import httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI

from examples.broker_process import BrokerProcess, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BANK = "https://bank.example/api"
#: The issue's budget for an agent's environment, pip and setuptools included.
MAX_VENV_BYTES = 60 * 1024 * 1024
#: Distributions an agent must not be made to install.
FORBIDDEN = {
    "presidio-analyzer", "spacy", "sqlalchemy", "fastapi", "starlette", "numpy", "faker", "discretion",
}


def _venv_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def sdk_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sdk-alone")
    venv = root / "venv"
    # Built from a copy: pip's in-tree build would leave build/ and *.egg-info in the checkout.
    source = shutil.copytree(
        ROOT / "sdk", root / "sdk", ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
    python = venv / "bin" / "python"
    result = subprocess.run(  # noqa: S603
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return venv


def test_the_sdk_installs_alone_in_a_small_venv(sdk_venv: Path) -> None:
    python = sdk_venv / "bin" / "python"
    listed = subprocess.run(  # noqa: S603
        [str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {d["name"].lower().replace("_", "-") for d in json.loads(listed.stdout)}
    assert "discretion-sdk" in names
    assert names & FORBIDDEN == set()
    size = _venv_size(sdk_venv)
    print(f"\nSDK-only venv: {size / 1e6:.1f} MB ({len(names)} distributions: {', '.join(sorted(names))})")
    assert size < MAX_VENV_BYTES
    # The import works without the broker; the guard says which extra it needs.
    probe = textwrap.dedent(
        """
        import importlib.util, discretion_sdk
        assert importlib.util.find_spec("broker") is None and importlib.util.find_spec("policy") is None
        key = discretion_sdk.generate_key()
        jwks = discretion_sdk.public_jwks(key, "k-1")
        assert "d" not in jwks["keys"][0]
        try:
            discretion_sdk.require_scope
        except ImportError as exc:
            print(exc)
        """
    )
    # Run outside the checkout, whose broker/ and policy/ folders `python -c` would find.
    run = subprocess.run(  # noqa: S603
        [str(python), "-c", probe], capture_output=True, text=True, cwd=sdk_venv
    )
    assert run.returncode == 0, run.stderr
    assert "pip install 'discretion-sdk[guard]'" in run.stdout


# -- the agent, from the SDK-only venv, against a real broker and holder --------------------------

AGENT = """
import json, os, time
import httpx
import discretion_sdk

env = os.environ
key = discretion_sdk.load_private_key(env["AGENT_KEY_FILE"])
broker = discretion_sdk.BrokerClient(
    issuer=env["ISSUER"], client_id="budgeting", private_key=key, kid="budgeting-key-1")
sent = []  # the jti of every token the holder received, in order

def record(request):
    token = request.headers["authorization"].split(" ", 1)[1]
    payload = token.split(".")[1]
    sent.append(json.loads(discretion_sdk._jose.b64url_decode(payload))["jti"])

auth = broker.auth(subject="dana", resource=env["BANK"], scopes=["accounts:read"])
holder = httpx.Client(base_url=env["HOLDER"], auth=auth, event_hooks={"request": [record]})
dana = httpx.Client(base_url=env["ISSUER"], headers={"Authorization": "Bearer " + env["USER_KEY"]})
steps = []

def read():
    try:
        response = holder.get("/accounts")
        return {"status": response.status_code, "body": response.json()}
    except discretion_sdk.AccessDenied as exc:
        return {"refused": exc.error}

steps.append(read())
entry = dana.post("/v1/me/blocklist", json={"kind": "agent", "value": "budgeting"}).json()
time.sleep(float(env["FEED_WAIT"]))  # past the holder's revocation-feed poll
steps.append(read())
steps.append(read())
dana.delete("/v1/me/blocklist/" + entry["entry_id"]).raise_for_status()
steps.append(read())
steps.append(read())
print(json.dumps({"steps": steps, "sent": sent}))
"""


def bank_app(verifier: discretion_sdk.TokenVerifier, bank: discretion_sdk.BrokerClient) -> FastAPI:
    app = FastAPI()
    guard = discretion_sdk.require_scope(verifier, "accounts:read")

    @app.get("/accounts")
    def accounts(token: discretion_sdk.VerifiedToken = Depends(guard)) -> Any:  # noqa: B008
        shared = bank.disclose({"owner": "Dana Whitfield", "balance": 1250}, token)
        return {"jti": token.jti, "data": shared.data}

    return app


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _register(admin: httpx.Client, client_id: str, key: Any, resources: list[str]) -> None:
    admin.post(
        "/v1/agents",
        json={
            "client_id": client_id,
            "name": client_id,
            "organization": f"{client_id} Ltd",
            "locale": "FR",
            "resource_uris": resources,
            "jwks": discretion_sdk.public_jwks(key, f"{client_id}-key-1"),
        },
    ).raise_for_status()


def test_an_sdk_only_agent_is_refused_after_a_block_and_served_fresh_after_the_unblock(
    sdk_venv: Path, tmp_path: Path
) -> None:
    with BrokerProcess() as broker:
        admin_key = broker.create_admin_key()
        admin = httpx.Client(base_url=broker.url, headers={"Authorization": f"Bearer {admin_key}"})
        bank_key, agent_key = discretion_sdk.generate_key(), discretion_sdk.generate_key()
        _register(admin, "bank", bank_key, [BANK])
        _register(admin, "budgeting", agent_key, [])
        user_key = admin.post("/v1/users", json={"user_id": "dana"}).raise_for_status().json()["api_key"]
        dana = httpx.Client(base_url=broker.url, headers={"Authorization": f"Bearer {user_key}"})
        dana.post(
            "/v1/me/grants",
            json={
                "agent": "budgeting",
                "resource": BANK,
                "scopes": ["accounts:read"],
                "max_ttl_seconds": 600,
            },
        ).raise_for_status()
        discretion_sdk.save_private_key(tmp_path / "budgeting.pem", agent_key)
        bank = discretion_sdk.BrokerClient(
            issuer=broker.issuer, client_id="bank", private_key=bank_key, kid="bank-key-1"
        )
        verifier = discretion_sdk.TokenVerifier(
            issuer=broker.issuer, audience=BANK, revocation_source=bank, revocation_poll_interval=0.2
        )
        with bank, verifier, serving(bank_app(verifier, bank)) as holder_url:
            env = {
                "PATH": os.environ.get("PATH", ""),
                "ISSUER": broker.issuer,
                "HOLDER": holder_url,
                "BANK": BANK,
                "AGENT_KEY_FILE": str(tmp_path / "budgeting.pem"),
                "USER_KEY": user_key,
                "FEED_WAIT": "1.0",
            }
            run = subprocess.run(  # noqa: S603
                [str(sdk_venv / "bin" / "python"), "-c", AGENT],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert run.returncode == 0, run.stderr
            result = json.loads(run.stdout.strip().splitlines()[-1])
        activity = dana.get("/v1/me/activity").raise_for_status().json()["events"]
        admin.close()
        dana.close()

    served, blocked, still_blocked, unblocked, again = result["steps"]
    assert served["status"] == 200
    assert served["body"]["data"]["owner"] == "<PERSON>"  # the broker's redaction reached the agent
    first_jti = served["body"]["jti"]
    # After the block: the holder refused the cached token (invalid_token), the flow asked the
    # broker for a fresh one, and the broker refused it: AccessDenied, not a second 401.
    assert blocked == {"refused": "access_denied"}
    assert still_blocked == {"refused": "access_denied"}
    # After the unblock: a new token, never the revoked one.
    assert unblocked["status"] == 200
    assert unblocked["body"]["jti"] != first_jti
    assert again["body"]["jti"] == unblocked["body"]["jti"]  # cached again while fresh
    # The revoked token reached the holder exactly once (the refused request), never after.
    sent = result["sent"]
    assert sent.count(first_jti) == 2  # served, then refused by the holder after the block
    assert sent[:2] == [first_jti, first_jti]
    assert first_jti not in sent[2:]
    # The user sees the refusals in her activity.
    denied = [e for e in activity if e["type"] == "token.denied" and "budgeting" in e["agents"]]
    assert len(denied) >= 2
