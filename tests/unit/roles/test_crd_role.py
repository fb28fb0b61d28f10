"""Role pgfleet.postgres.crd: bad input fails at the door, before anything talks to Kubernetes."""

import os
import re
import sys

import pytest
import yaml
from ansible_collections.pgfleet.postgres.tests.harness import NO_PLAYBOOK, PLAYBOOK_BIN, REPO, run_playbook


def run_role(tmp_path, role_vars):
    play = [{"name": "crd role", "hosts": "localhost", "gather_facts": False,
             "roles": [{"role": "pgfleet.postgres.crd", "vars": role_vars}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    return run_playbook("-i", "localhost,", "-c", "local", path, timeout=300)


@pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason=NO_PLAYBOOK)
def test_argument_spec_rejects_unknown_state(tmp_path):
    result = run_role(tmp_path, {"crd_state": "gone"})
    assert result.returncode != 0
    assert "crd_state" in result.stdout and "present, absent" in result.stdout, result.stdout


@pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason=NO_PLAYBOOK)
def test_absent_needs_confirmation(tmp_path):
    result = run_role(tmp_path, {"crd_state": "absent"})
    assert result.returncode != 0
    assert "crd_confirm_delete_all_clusters=true" in result.stdout, result.stdout
    assert "Remove the postgresql CRD" not in result.stdout


def test_argument_spec_documents_every_default():
    with open(os.path.join(REPO, "roles", "crd", "defaults", "main.yml")) as fh:
        defaults = yaml.safe_load(fh)
    with open(os.path.join(REPO, "roles", "crd", "meta", "argument_specs.yml")) as fh:
        options = yaml.safe_load(fh)["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    for name, spec in options.items():
        assert spec.get("default") == defaults[name], name
        assert name.startswith("crd_")


@pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason=NO_PLAYBOOK)
def test_present_sends_the_crd_to_the_api_server(tmp_path, monkeypatch):
    """Everything up to the request works offline: the CRD file is found and templated, and the
    module fails only because nothing listens on the API address."""
    monkeypatch.setenv("K8S_AUTH_HOST", "https://127.0.0.1:9")
    monkeypatch.setenv("K8S_AUTH_API_KEY", "not-a-token")
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "false")
    monkeypatch.setenv("ANSIBLE_PYTHON_INTERPRETER", sys.executable)
    result = run_role(tmp_path, {"crd_wait": False})
    assert result.returncode != 0
    assert "Apply the postgresql CRD (server-side apply)" in result.stdout
    assert re.search(r"Connection refused|Max retries exceeded|NewConnectionError", result.stdout), result.stdout[-3000:]
    assert "lookup" not in result.stdout.lower()
