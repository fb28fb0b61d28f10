"""A representative handful of the hostile corpus through the real ``playbooks/render.yml``: refused,
the message names the field (or the file) and the fix, no traceback, and the output directory stays
empty. The rest of the corpus runs in process (test_corpus.py, test_loader.py)."""

import os

import pytest
import yaml
from ansible_collections.pgfleet.postgres.tests.harness import NO_PLAYBOOK, PLAYBOOK_BIN, run_playbook
from hostile_corpus import manifest
from test_loader import LAUGHS

pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason=NO_PLAYBOOK)


def _yaml(cr):
    return yaml.safe_dump(cr).encode("utf-8")


CASES = [
    ("billion-laughs-under-users", LAUGHS, ["has YAML aliases", "expand to more than"]),
    ("duplicate-key", _yaml(manifest({})).replace(b"numberOfInstances: 2\n", b"numberOfInstances: 1\n  numberOfInstances: 7\n"),
     ['"numberOfInstances" twice', "remove one of the two lines"]),
    ("namespace-path", _yaml(manifest({"metadata.namespace": "../../etc"})), ["metadata.namespace", "lower-case letters"]),
    ("pg-hba-newline", _yaml(manifest({"spec.patroni": {"pg_hba": ["host all all 0.0.0.0/0 md5\nhost all all 0.0.0.0/0 trust"]}})),
     ["spec.patroni.pg_hba[0]", "write one entry per list item"]),
    ("parameter-comment", _yaml(manifest({"spec.postgresql.parameters": {"work_mem": "4MB # injected"}})),
     ["spec.postgresql.parameters.work_mem", "no comments or extra words"]),
]


def _flat(proc):
    return " ".join((proc.stdout + proc.stderr).split())


@pytest.mark.timeout(900)
@pytest.mark.parametrize("data, expected", [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES])
def test_render_refuses_and_writes_nothing(tmp_path, data, expected):
    path = tmp_path / "pg.yaml"
    path.write_bytes(data)
    out = tmp_path / "out"
    proc = run_playbook("playbooks/render.yml", "-e", "manifest=%s" % path, "-e", "output_dir=%s" % out)
    output = _flat(proc)
    assert proc.returncode != 0, output[-3000:]
    for part in expected:
        assert part in output, output[-3000:]
    assert "Traceback" not in output and "AnsibleUnsafe" not in output
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.timeout(900)
def test_shell_metacharacters_in_arguments_are_only_file_names(tmp_path):
    out = tmp_path / "out; touch pwned"
    proc = run_playbook("playbooks/render.yml", "-e", "manifest=$(touch pwned); rm -rf %s" % tmp_path, "-e", "output_dir=%s" % out)
    output = _flat(proc)
    assert proc.returncode != 0 and "no such file" in output, output[-3000:]
    assert not os.path.exists(os.path.join(str(tmp_path), "pwned")) and not os.path.exists("pwned")
    assert tmp_path.exists() and not out.exists()
