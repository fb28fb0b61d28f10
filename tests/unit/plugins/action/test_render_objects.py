"""The render_objects action through a real ``ansible-playbook`` (the one next to this interpreter:
ansible-core 2.18 in .venv; run with a 2.19 interpreter it checks the 2.19 path): a role of its own
with small templates, so each case names what the action promises (plugins/action/render_objects.py).

- A value that looks like Jinja (from ``vars`` or ``vars_from``) is printed as it is, never templated
  again.
- ``as`` hands an object to the next template of the entry; ``loop_over`` renders once per item;
  ``when`` false renders nothing; ``checksum`` stamps the pod template checksum.
- A template that does not compile, or a variable that is not given, fails the task with the name of
  the template.
"""

import json
import os

import pytest
from ansible_collections.pgfleet.postgres.tests.harness import NO_PLAYBOOK, PLAYBOOK_BIN, run_playbook

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason=NO_PLAYBOOK)

TEMPLATES = {
    "config.yaml.j2": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ name }}\n"
        "data:\n  literal: {{ literal | to_json }}\n  fact: {{ fact.value | to_json }}\n"
        "  count: {{ (items | length) | string | to_json }}\n"),
    "item.yaml.j2": "kind: Item\nname: {{ item.name | to_json }}\nfrom_config: {{ config.metadata.name | to_json }}\n",
    "pod.yaml.j2": (
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: {{ name }}\n  annotations: {}\n"
        "spec:\n  template:\n    metadata:\n      annotations: {}\n    spec:\n      containers: [{name: c, image: {{ fact.image | to_json }}}]\n"
        "  volumeClaimTemplates: []\n"),
    "broken.yaml.j2": "kind: Broken\nname: {{ name \n",
    "undefined.yaml.j2": "kind: Undefined\nname: {{ not_given }}\n",
}

TASKS = """
- name: Render
  pgfleet.postgres.render_objects:
    vars_from: [fact, items]
    vars:
      name: demo
      literal: "{{ '{{' }} lookup('pipe', 'id') {{ '}}' }}"
    objects: %s
  register: rendered
- name: Write what was rendered
  ansible.builtin.copy:
    content: "{{ {'objects': rendered.objects, 'checksum': rendered.template_checksum} | to_json }}"
    dest: "{{ out }}"
    mode: "0600"
"""

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: A fact whose strings look like templates (as a manifest read from a file can hold)
      ansible.builtin.set_fact:
        fact: "{{ {'value': '{{ 7 * 7 }}', 'image': '{% if true %}x{% endif %}'} }}"
        items: [{name: "a"}, {name: "{{ '{{' }} b {{ '}}' }}"}]
    - name: The role
      ansible.builtin.include_role:
        name: r
"""

GOOD = [
    {"templates": [{"template": "config.yaml.j2", "as": "config"}, "item.yaml.j2"], "loop_over": "items", "loop_var": "item"},
    {"template": "pod.yaml.j2", "checksum": True},
    {"template": "config.yaml.j2", "when": False},
]


def _run(tmp_path, objects):
    role = tmp_path / "roles" / "r"
    (role / "templates").mkdir(parents=True)
    (role / "tasks").mkdir()
    for name, text in TEMPLATES.items():
        (role / "templates" / name).write_text(text)
    (role / "tasks" / "main.yml").write_text(TASKS % json.dumps(objects))
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    out = tmp_path / "out.json"
    proc = run_playbook(tmp_path / "play.yml", "-e", "out=%s" % out)
    return proc, (json.loads(out.read_text()) if out.exists() else None)


def test_objects_rendered_in_order_and_values_never_templated_again(tmp_path):
    proc, result = _run(tmp_path, GOOD)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    objects = result["objects"]
    assert [o["kind"] for o in objects] == ["ConfigMap", "Item", "ConfigMap", "Item", "StatefulSet"]
    config = objects[0]["data"]
    assert config == {"literal": "{{ lookup('pipe', 'id') }}", "fact": "{{ 7 * 7 }}", "count": "2"}
    assert [o["name"] for o in objects if o["kind"] == "Item"] == ["a", "{{ b }}"]
    assert all(o["from_config"] == "demo" for o in objects if o["kind"] == "Item")
    sts = objects[-1]
    assert sts["spec"]["template"]["spec"]["containers"][0]["image"] == "{% if true %}x{% endif %}"
    stamped = sts["metadata"]["annotations"]["pgfleet.io/template-checksum"]
    assert len(stamped) == 64 and result["checksum"] == stamped


@pytest.mark.parametrize("template, message", [
    ("broken.yaml.j2", "render_objects: template broken.yaml.j2 does not compile"),
    ("undefined.yaml.j2", "render_objects: rendering undefined.yaml.j2 failed"),
])
def test_a_bad_template_fails_with_its_name(tmp_path, template, message):
    proc, result = _run(tmp_path, [template])
    output = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode != 0 and result is None, output[-3000:]
    assert message in output, output[-3000:]
    assert "Traceback" not in output
