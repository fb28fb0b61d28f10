"""plugins/plugin_utils/render_files.py (what render.yml's write_objects action runs): only our own files
are replaced or removed, and the fast YAML writer writes exactly what PyYAML writes."""

import json
import os
import random

import pytest
import yaml
from ansible_collections.pgfleet.postgres.plugins.plugin_utils import render_files as wo


def _entries(*names, kind="ConfigMap", data="x"):
    return [{"file": n, "object": {"kind": kind, "metadata": {"name": n}, "data": {"v": data}}} for n in names]


def test_write_replace_remove_keep(tmp_path):
    root = str(tmp_path)
    first = wo.write(root, "default", "acid-a", _entries("01-configmap-a.yaml", "02-configmap-b.yaml", "03-configmap-c.yaml"))
    cdir = first["directory"]
    assert cdir == os.path.join(root, "default", "acid-a")
    assert first["changed"] == ["01-configmap-a.yaml", "02-configmap-b.yaml", "03-configmap-c.yaml"]
    with open(os.path.join(cdir, "notes.txt"), "w") as fh:
        fh.write("mine")
    with open(os.path.join(cdir, "03-configmap-c.yaml"), "a") as fh:
        fh.write("# edited\n")
    second = wo.write(root, "default", "acid-a", _entries("01-configmap-a.yaml", data="y"))
    assert second["replaced"] == ["01-configmap-a.yaml"]
    assert second["removed"] == ["02-configmap-b.yaml"]
    assert second["kept"] == ["03-configmap-c.yaml"]
    assert sorted(os.listdir(cdir)) == [".pgfleet-render.json", "01-configmap-a.yaml", "03-configmap-c.yaml", "notes.txt"]
    marker = json.load(open(os.path.join(cdir, ".pgfleet-render.json")))
    assert marker["cluster"] == "default/acid-a" and set(marker["files"]) == {"01-configmap-a.yaml", "03-configmap-c.yaml"}


def test_secret_mode_and_foreign_file_refused_before_writing(tmp_path):
    root = str(tmp_path)
    cdir = os.path.join(root, "ns", "acid-b")
    os.makedirs(cdir)
    with open(os.path.join(cdir, "02-configmap-x.yaml"), "wb") as fh:
        fh.write(b"not: ours \xff\n")  # not even UTF-8
    with pytest.raises(wo.Refused, match="refusing to overwrite"):
        wo.write(root, "ns", "acid-b", _entries("01-secret-s.yaml", kind="Secret") + _entries("02-configmap-x.yaml"))
    assert sorted(os.listdir(cdir)) == ["02-configmap-x.yaml"]
    result = wo.write(root, "ns", "acid-b", _entries("01-secret-s.yaml", kind="Secret"))
    assert os.stat(os.path.join(cdir, "01-secret-s.yaml")).st_mode & 0o777 == 0o600
    assert result["changed"] == ["01-secret-s.yaml"]


@pytest.mark.parametrize("namespace, name", [("..", "x"), ("a/b", "x"), ("default", "../etc"), ("Default", "x"), ("default", "")])
def test_cluster_directory_names_are_dns_labels(tmp_path, namespace, name):
    with pytest.raises(wo.Refused, match="not a DNS label"):
        wo.write(str(tmp_path), namespace, name, [])
    assert os.listdir(str(tmp_path)) == []


def test_bad_file_names_and_symlinks(tmp_path):
    with pytest.raises(wo.Refused, match="not an NN-<kind>-<name>.yaml"):
        wo.write(str(tmp_path), "default", "acid-c", _entries("../01-configmap-a.yaml"))
    assert os.listdir(str(tmp_path)) == []  # refused before even a directory was made
    os.makedirs(os.path.join(str(tmp_path), "default"))
    os.symlink("/etc", os.path.join(str(tmp_path), "default", "acid-d"))
    with pytest.raises(wo.Refused, match="symbolic link"):
        wo.write(str(tmp_path), "default", "acid-d", _entries("01-configmap-a.yaml"))


def test_a_marker_of_another_cluster_is_refused(tmp_path):
    wo.write(str(tmp_path), "default", "acid-e", _entries("01-configmap-a.yaml"))
    marker = os.path.join(str(tmp_path), "default", "acid-e", ".pgfleet-render.json")
    data = json.load(open(marker))
    data["cluster"] = "default/other"
    json.dump(data, open(marker, "w"))
    with pytest.raises(wo.Refused, match="another cluster"):
        wo.write(str(tmp_path), "default", "acid-e", _entries("01-configmap-a.yaml"))


# Strings chosen to take every road of the emitter: plain, resolved as another type (quoted), indicators,
# spaces, quotes, unicode, control characters, line breaks, very long, empty.
_HOSTILE_STRINGS = [
    "a", "acid-test-cluster", "v1", "app.kubernetes.io/name", "10.0.0.0/8", "c2VjcmV0", "YWJjPT0=", "+abc", "-abc",
    "yes", "No", "ON", "off", "true", "False", "null", "Null", "~", "", " ", "123", "0x1F", "0o17", "1_000", "1e3",
    "1.5", ".inf", "-.Inf", ".NaN", "12:30:00", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "<<", "=", "a: b",
    "a #b", "#x", "a:b", "x:", "- item", "? key", "[x]", "{y}", "&anchor", "*alias", "!tag", "|", ">", "'quoted'",
    '"dq"', "it's", "%TAG", "@at", "`tick`", "trailing ", " leading", "tab\there", "line\nbreak", "cr\rhere",
    "nul\x00", "bell\x07", "del\x7f", "caf\u00e9", "\u65e5\u672c", "\u00a0nbsp", "\u2028ls", "\ufeffbom",
    "x" * 200, "y" * 2000, "--- doc", "... end", "0", "-1", "+1", "0.0", "Y", "n", "=x", "a/b", "_x",
]


def _random_value(rng, depth):
    pick = rng.random()
    if depth > 3 or pick < 0.55:
        return rng.choice(_HOSTILE_STRINGS + [None, True, False, 0, 7, -3, 2 ** 40, [], {}])
    if pick < 0.8:
        return dict((rng.choice(_HOSTILE_STRINGS), _random_value(rng, depth + 1)) for dummy in range(rng.randint(1, 4)))
    return [_random_value(rng, depth + 1) for dummy in range(rng.randint(1, 4))]


def test_fast_writer_writes_what_pyyaml_writes():
    rng = random.Random(20261206)
    docs = [dict((rng.choice(_HOSTILE_STRINGS), _random_value(rng, 0)) for dummy in range(rng.randint(1, 6))) for dummy2 in range(1500)]
    shared = {"app": "x"}
    for doc in docs:
        assert wo._dump(doc) == wo._yaml_dump(doc), doc
        assert yaml.safe_load(wo._dump(doc)) == doc  # read back as it was
    special = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "foo-user.acid.credentials", "labels": {"team": "acid"}},
         "type": "Opaque", "data": {"username": "Zm9vX3VzZXI=", "password": "cGFzcw=="}},
        {"spec": {"template": {"spec": {"containers": [
            {"name": "postgres", "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 5432}], "args": [[1, 2], []]}]}}}},
        {"a": shared, "b": shared},  # one mapping twice: YAML writes an anchor
        {"f": 1.5, "g": [0.25]},  # floats
        {("t", "u"): 1}, {1: "int key"}, {"k" * 130: "long key"},
    ]
    for doc in special:
        assert wo._dump(doc) == wo._yaml_dump(doc), doc


def test_summary_counts_a_kind_with_thousands_of_objects(tmp_path):
    many = [{"kind": "Secret", "metadata": {"name": "u%04d" % i, "namespace": "ns"}} for i in range(wo.SUMMARY_PER_KIND + 5)]
    few = [{"kind": "Service", "metadata": {"name": "svc%d" % i, "namespace": "ns"}} for i in range(3)]
    entries = wo.name_files(many + few)
    lines = wo.summary(entries, "ns", "acid-f", {"directory": str(tmp_path), "replaced": [], "removed": [], "kept": []})
    assert lines[0].startswith("%d objects of ns/acid-f" % (len(many) + 3))
    secrets = [line for line in lines if line.startswith("Secret")]
    assert len(secrets) == wo.SUMMARY_SHOWN + 1 and secrets[-1].split() == ["Secret", "...", "and", "%d" % (len(many) - wo.SUMMARY_SHOWN), "more"]
    assert all(any(line.split()[:2] == ["Service", "svc%d" % i] for line in lines) for i in range(3))


def test_dry_run_reports_the_same_and_touches_nothing(tmp_path):
    root = str(tmp_path)
    dry = wo.write(root, "default", "acid-g", _entries("01-configmap-a.yaml"), dry_run=True)
    assert dry["changed"] == ["01-configmap-a.yaml"] and os.listdir(root) == []
    wo.write(root, "default", "acid-g", _entries("01-configmap-a.yaml", "02-configmap-b.yaml"))
    cdir = os.path.join(root, "default", "acid-g")
    before = dict((n, open(os.path.join(cdir, n)).read()) for n in os.listdir(cdir))
    dry = wo.write(root, "default", "acid-g", _entries("01-configmap-a.yaml", data="y"), dry_run=True)
    assert dry["changed"] == dry["replaced"] == ["01-configmap-a.yaml"] and dry["removed"] == ["02-configmap-b.yaml"]
    assert dict((n, open(os.path.join(cdir, n)).read()) for n in os.listdir(cdir)) == before
    with open(os.path.join(cdir, "03-configmap-c.yaml"), "w") as fh:
        fh.write("mine\n")
    with pytest.raises(wo.Refused, match="did not write it"):
        wo.write(root, "default", "acid-g", _entries("03-configmap-c.yaml"), dry_run=True)
