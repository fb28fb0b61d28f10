"""The project's promise, end to end: no password ever appears in the output of a playbook.

``playbooks/render.yml`` (minimal and complete reference manifests, twice each: generating, then
reusing the passwords of the secrets already rendered) and ``playbooks/local.yml`` (present,
status, absent on the minimal manifest, in a temporary state dir) run verbosely, with the default
``pgfleet_no_log``. Every password those runs generated (the rendered credential Secrets, the local
cluster's credentials file) is then looked for in stdout and stderr, in plain text and base64.
Files that hold a password must be private (0600 for the rendered Secrets; nothing readable by
group or others in the local state dir), and no other rendered object may carry one.

One real local cluster (etcd + 2 Patroni members) for the module.
"""

import base64
import glob
import json
import os
import stat

import pytest
import yaml
from ansible_collections.pgfleet.postgres.tests.harness import (
    REFERENCE_DIR,
    minimal_state_dir,
    run_playbook,
)

REFERENCE = REFERENCE_DIR
MINIMAL = os.path.join(REFERENCE, "minimal-postgres-manifest.yaml")
COMPLETE = os.path.join(REFERENCE, "complete-postgres-manifest.yaml")
CONFIGMAP = os.path.join(REFERENCE, "configmap.yaml")


def forms(password):
    """The ways a password could show up in output: as is, and base64 (a Secret's data)."""
    return [password, base64.b64encode(password.encode()).decode()]


def assert_no_password(output, passwords, what):
    assert passwords, "no password to look for in %s" % what
    for name, password in sorted(passwords.items()):
        assert len(password) >= 8, "%s: %r is too short to search for" % (what, name)
        for form in forms(password):
            assert form not in output, "%s: the password of %s appears in the output" % (what, name)


def rendered_files(output_dir):
    """``{file name: (object, mode)}`` of the objects render.yml wrote (it writes one subdirectory
    per cluster, ``<namespace>/<name>/``)."""
    result = {}
    for path in sorted(glob.glob(os.path.join(output_dir, "*", "*", "*.yaml"))):
        with open(path) as fh:
            result[os.path.relpath(path, output_dir)] = (yaml.safe_load(fh), stat.S_IMODE(os.stat(path).st_mode))
    assert result, "render.yml wrote no object under %s/<namespace>/<name>/" % output_dir
    return result


@pytest.mark.parametrize("manifest, config", [(MINIMAL, None), (COMPLETE, CONFIGMAP)], ids=["minimal", "complete"])
def test_render_prints_no_password(tmp_path, manifest, config):
    out = tmp_path / "out"
    args = ["playbooks/render.yml", "-e", "manifest=%s" % manifest, "-e", "output_dir=%s" % out]
    if config:
        args += ["-e", "operator_config=%s" % config]
    outputs = []
    for verbosity in ("-v", "-vvv"):  # the second run reads the rendered secrets back
        proc = run_playbook(*(args + [verbosity]))
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        outputs.append(proc.stdout + proc.stderr)

    files = rendered_files(str(out))
    passwords = {}
    for name, (obj, mode) in files.items():
        if obj["kind"] == "Secret" and "password" in (obj.get("data") or {}):
            passwords[obj["metadata"]["name"]] = base64.b64decode(obj["data"]["password"]).decode()
            assert mode == 0o600, "%s holds a password and is mode %o" % (name, mode)
    assert {"postgres.%s.credentials.postgresql.acid.zalan.do" % obj["metadata"]["name"]
            for obj in [files[n][0] for n in files if files[n][0]["kind"] == "StatefulSet"]} <= set(passwords)
    for run, output in enumerate(outputs, 1):
        assert_no_password(output, passwords, "render.yml run %d" % run)
    for name, (obj, _mode) in files.items():
        if obj["kind"] != "Secret":
            assert_no_password(yaml.safe_dump(obj), passwords, "rendered object %s" % name)


def test_render_names_a_broken_input_file_without_its_content(tmp_path):
    value = "s3cr3t-bucket-key-4711"
    broken = tmp_path / "pod-env-secret.yaml"
    broken.write_text("apiVersion: v1\nkind: Secret\ndata:\n  KEY: %s\n  OTHER: \"unclosed\n\tKEY2: %s\n"
                      % (base64.b64encode(value.encode()).decode(), value))
    proc = run_playbook("playbooks/render.yml", "-e", "manifest=%s" % MINIMAL, "-e", "output_dir=%s" % (tmp_path / "out"),
                        "-e", "pod_environment_secret=%s" % broken, "-vvv")
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "%s: not a YAML mapping" % broken in " ".join(output.split()), output[-4000:]
    assert_no_password(output, {"the broken file's value": value}, "render.yml with a broken input file")


@pytest.fixture(scope="module")
def state_dir():
    with minimal_state_dir(prefix="pgf-leak-") as path:
        yield path


def local(state_dir, state, *extra):
    proc = run_playbook("playbooks/local.yml", "-e", "manifest=%s" % MINIMAL, "-e", "state=%s" % state,
                        "-e", "state_dir=%s" % state_dir, *extra)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    return output


def credentials(state_dir):
    """Every password of the local cluster's credentials file, by a readable name."""
    with open(os.path.join(state_dir, "state.json")) as fh:
        creds = json.load(fh)["credentials"]
    passwords = dict((key, creds[key]["password"]) for key in ("superuser", "replication", "restapi"))
    for name, secret in creds["secrets"].items():
        passwords["secret " + name] = secret["password"]
    return passwords


def private_files_holding(passwords, root):
    """Files under ``root`` that hold a password although group or others may read them."""
    exposed = []
    needles = [p.encode() for p in passwords.values()]
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
                if not stat.S_ISREG(st.st_mode) or not st.st_mode & 0o077:
                    continue
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError:  # a file Postgres removed meanwhile
                continue
            if any(n in data for n in needles):
                exposed.append("%s (mode %o)" % (path, stat.S_IMODE(st.st_mode)))
    return exposed


@pytest.mark.patroni
def test_local_playbook_prints_no_password(state_dir):
    outputs = {"present": local(state_dir, "present", "-v")}
    passwords = credentials(state_dir)
    # the manifest's users got passwords too, and the state file is the only place they are kept
    assert {"superuser", "replication", "restapi"} < set(passwords)
    assert any(name.startswith("secret zalando.") for name in passwords), sorted(passwords)
    assert private_files_holding(passwords, state_dir) == []
    outputs["present again"] = local(state_dir, "present", "-v")
    outputs["status"] = local(state_dir, "status", "-v")
    outputs["status -vvv"] = local(state_dir, "status", "-vvv")
    outputs["absent"] = local(state_dir, "absent", "-v")
    assert not os.path.exists(state_dir)
    for what, output in outputs.items():
        assert_no_password(output, passwords, "local.yml %s" % what)
