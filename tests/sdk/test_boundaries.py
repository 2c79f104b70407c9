"""The SDK's dependency rules that import-linter cannot state: an allowlist, and what importing loads.

No broker, policy or server stack, and starlette only in the guard: contracts in pyproject.toml
(tests/test_import_contracts.py runs them).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SDK = Path(__file__).resolve().parents[2] / "sdk" / "discretion_sdk"
# nacl: libsodium's Ed25519 point check (sdk/discretion_sdk/_jose.py), a crypto library like cryptography.
ALLOWED = {"discretion_wire", "httpx", "jwt", "cryptography", "nacl", "starlette", "anyio", "__future__"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(SDK.glob("*.py")), ids=lambda p: p.name)
def test_sdk_modules_import_only_allowed_packages(path: Path) -> None:
    third_party = _imports(path) - set(sys.stdlib_module_names)
    assert third_party <= ALLOWED, third_party - ALLOWED


def test_importing_sdk_loads_no_web_framework() -> None:
    code = (
        "import sys, discretion_sdk; "
        "print(sorted(m for m in ('starlette', 'fastapi', 'broker', 'policy') if m in sys.modules))"
    )
    # A fixed command line run with this interpreter: nothing untrusted reaches it.
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=SDK.parent.parent
    )
    assert out.stdout.strip() == "[]"


def test_the_package_is_typed() -> None:
    assert (SDK / "py.typed").exists()


def test_every_public_name_has_a_docstring() -> None:
    import discretion_sdk

    for name in discretion_sdk.__all__:
        obj = getattr(discretion_sdk, name)
        if isinstance(obj, type) or callable(obj):
            assert obj.__doc__, name
            assert obj.__doc__.strip(), name
