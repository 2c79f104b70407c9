"""The architecture rules: the import-linter contracts of pyproject.toml, and what they cannot express.

`lint-imports` runs in `make lint` and .ci/run too; running it here makes `make test` fail on a
violation as well. The checks below it are the rules a contract cannot state: "standard library
only" (an allowlist, where contracts only forbid) and modules nothing imports yet (a contract can
only name modules that are in the import graph).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
# Database modules that nothing imports today, held to the protected contract's rule by hand.
ABSENT_DATABASE_MODULES = ("sqlite3", "aiosqlite")


def _lint_imports(*config_files: Path) -> subprocess.CompletedProcess[str]:
    # A fixed command line run with this interpreter's own lint-imports: nothing untrusted reaches it.
    return subprocess.run(  # noqa: S603
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", *map(str, config_files)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(
        "broker", "policy", "discretion_sdk", "discretion_wire", include_external_packages=True
    )


def test_the_import_contracts_are_kept() -> None:
    result = _lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_broken_contract_fails_lint_imports(tmp_path: Path) -> None:
    # The same machinery with a rule the tree breaks (the API uses the services): it must fail,
    # so a passing run above means the contracts were read and checked.
    config = tmp_path / ".importlinter"
    config.write_text(
        "[importlinter]\nroot_packages =\n    broker\n\n"
        "[importlinter:contract:api-without-services]\nname = the API without the services\n"
        "type = forbidden\nsource_modules =\n    broker.api\nforbidden_modules =\n    broker.services\n"
    )
    result = _lint_imports(config)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout


@pytest.mark.parametrize("package", ["discretion_wire", "policy"])
def test_pure_packages_import_only_the_standard_library(graph: grimp.ImportGraph, package: str) -> None:
    # policy may use the wire helpers, which are standard library only themselves.
    allowed = {package, "discretion_wire", "__future__", *sys.stdlib_module_names}
    for module in graph.find_descendants(package) | {package}:
        imported = {name.split(".")[0] for name in graph.find_modules_directly_imported_by(module)}
        assert imported <= allowed, (module, imported - allowed)


@pytest.mark.parametrize("driver", ABSENT_DATABASE_MODULES)
def test_only_storage_would_import_the_other_database_modules(graph: grimp.ImportGraph, driver: str) -> None:
    if driver not in graph.modules:
        return  # nothing imports it: the rule holds
    importers = graph.find_modules_that_directly_import(driver)
    assert all(name.startswith("broker.storage.") for name in importers), importers
