"""The two modules through a real ansible-playbook run (module packaging, argument specs, no_log)."""

import json
import sys

import pytest
from ansible_collections.pgfleet.postgres.tests import harness

pytestmark = pytest.mark.postgres

PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    conn: &conn
      login_host: 127.0.0.1
      login_port: "{{ pg_port }}"
      login_password: "{{ pg_password }}"
      ssl_mode: disable
  tasks:
    - name: Roles
      pgfleet.postgres.postgresql_role_sync:
        <<: *conn
        roles: "{{ cluster_model.roles }}"
      register: roles_result
    - name: Databases
      pgfleet.postgres.postgresql_database_sync:
        <<: *conn
        databases: "{{ cluster_model.databases }}"
        prepared_databases: "{{ cluster_model.prepared_databases }}"
      register: db_result
    - name: Save the results
      ansible.builtin.copy:
        content: "{{ {'Roles': roles_result, 'Databases': db_result} | to_json }}"
        dest: "{{ result_file }}"
        mode: "0600"
      check_mode: false
"""


def run_playbook(tmp_path, pg, model, *extra):
    play = tmp_path / "sync.yml"
    play.write_text(PLAYBOOK)
    varsfile = tmp_path / "vars.json"
    cluster_model = {"roles": model["roles"], "databases": model["databases"],
                     "prepared_databases": model["prepared_databases"]}
    varsfile.write_text(json.dumps({"pg_port": pg.port, "pg_password": pg.password,
                                    "result_file": str(tmp_path / "result.json"), "cluster_model": cluster_model}))
    proc = harness.run_playbook("-i", "localhost,", play, "-e", "@%s" % varsfile, "-e", "ansible_python_interpreter=" + sys.executable,
                                "-v", *extra, timeout=300, env={"ANSIBLE_LOCALHOST_WARNING": "false"})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    tasks = json.loads((tmp_path / "result.json").read_text())
    return tasks, proc.stdout + proc.stderr


def test_playbook_check_apply_noop(tmp_path, pg, sync):
    model = sync.model({"users": {"app_user": ["createdb"]}, "databases": {"app": "app_user"},
                        "preparedDatabases": {"shop": {"defaultUsers": True}}})
    secrets = [r["password"] for r in model["roles"] if r["password"]]
    before = sync.catalog()
    tasks, out = run_playbook(tmp_path, pg, model, "--check")
    assert tasks["Roles"]["changed"] is True
    assert sync.catalog() == before
    tasks, out = run_playbook(tmp_path, pg, model)
    assert tasks["Roles"]["changed"] and tasks["Databases"]["changed"]
    assert not any(s in out for s in secrets), "a password leaked into the playbook output"
    sync.check_access("shop", "data", sync.passwords(model))
    tasks, out = run_playbook(tmp_path, pg, model)
    for name in ("Roles", "Databases"):
        assert (tasks[name]["changed"], tasks[name]["statements"], tasks[name]["queries"]) == (False, 0, [])
