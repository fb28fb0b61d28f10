"""playbooks/files/write_objects.py in process: only our own files are replaced or removed."""

import importlib.util
import json
import os

import pytest
from ansible_collections.pgfleet.postgres.tests.harness import REPO

_SPEC = importlib.util.spec_from_file_location("pgfleet_write_objects", os.path.join(REPO, "playbooks", "files", "write_objects.py"))
wo = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(wo)


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
