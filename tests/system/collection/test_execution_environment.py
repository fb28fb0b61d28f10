"""The collection in an execution environment: ansible-builder finds our Python and system
dependencies in the built artifact (meta/execution-environment.yml), and the example EE
definition produces a build context that installs pgfleet.postgres."""
import os
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BIN = os.path.dirname(sys.executable)


def _tool(name):
    path = os.path.join(BIN, name)
    if not os.path.exists(path):
        pytest.fail("%s is not installed in the project's venv: run scripts/setup.sh" % name)
    return path


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("ee")
    subprocess.run([_tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", str(work / "dist"), ROOT],
                   check=True, capture_output=True, text=True)
    artifact = next((work / "dist").glob("pgfleet-postgres-*.tar.gz"))
    subprocess.run([_tool("ansible-galaxy"), "collection", "install", "--offline", "--no-deps", "--force",
                    "-p", str(work / "collections"), str(artifact)], check=True, capture_output=True, text=True)
    return work


def test_introspection_lists_our_dependencies(installed):
    out = subprocess.run([_tool("ansible-builder"), "introspect", str(installed / "collections")],
                         check=True, capture_output=True, text=True).stdout
    data = yaml.safe_load(out.split("\n", 1)[1])
    python = " ".join(data["python"])
    for package in ("kubernetes", "psycopg[binary]", "jmespath"):
        assert package in python, "%s missing from the EE Python dependencies: %s" % (package, python)
    assert all("from collection pgfleet.postgres" in line for line in data["python"] + data["system"])
    assert any(line.startswith("libpq5 [platform:dpkg]") for line in data["system"])


def test_example_definition_creates_a_context(tmp_path):
    definition = os.path.join(ROOT, "examples", "execution-environment", "execution-environment.yml")
    subprocess.run([_tool("ansible-builder"), "create", "-f", definition, "--context", str(tmp_path / "ctx")],
                   check=True, capture_output=True, text=True, cwd=tmp_path)
    files = {p.name for p in (tmp_path / "ctx").rglob("*")}
    assert {"Dockerfile", "requirements.yml"} <= files or {"Containerfile", "requirements.yml"} <= files
    galaxy = yaml.safe_load((tmp_path / "ctx" / "_build" / "requirements.yml").read_text())
    assert "pgfleet.postgres" in [c["name"] for c in galaxy["collections"]]
    shutil.rmtree(tmp_path / "ctx")
