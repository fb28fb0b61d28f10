"""The actions that run a module's code in the task's worker (plugins/plugin_utils/inprocess.py) give the
same result as the module itself: one playbook calls operator_metrics in process (connection local)
and as a module (under async, where the action hands it to the normal module path), and compares."""

import json
import textwrap

from ansible_collections.pgfleet.postgres.tests import harness

PLAYBOOK = textwrap.dedent("""\
    - hosts: localhost
      connection: local
      gather_facts: false
      vars:
        probe:
          url: http://127.0.0.1:9/metrics   # discard port: nothing listens, the post is refused at once
          timeout: 0.5
          metrics: [{name: pgfleet_probe_total, type: counter, labels: {outcome: ok}}]
      tasks:
        - name: As a module (async hands it to the module path)
          pgfleet.postgres.operator_metrics: "{{ probe }}"
          async: 60
          poll: 1
          register: as_module
        - name: In the task's worker
          pgfleet.postgres.operator_metrics: "{{ probe }}"
          register: here
        - name: Both results
          ansible.builtin.copy:
            content: "{{ {'module': as_module, 'here': here} | to_json }}"
            dest: "{{ out }}"
            mode: "0600"
    """)


def test_in_process_and_module_results_agree(tmp_path):
    play = tmp_path / "play.yml"
    play.write_text(PLAYBOOK)
    out = tmp_path / "out.json"
    proc = harness.run_playbook(str(play), "-e", "out=%s" % out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text())
    module, here = results["module"], results["here"]
    for key in ("changed", "payloads", "posted", "reachable"):
        assert module[key] == here[key], key
    assert here["reachable"] is False and here["posted"] == 0 and not here.get("failed")
    assert len(here["warnings"]) == len(module["warnings"]) == 1 and "no metrics sent" in here["warnings"][0]
