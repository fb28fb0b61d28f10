# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Write rendered Kubernetes objects into a cluster's own directory, one YAML file per object (playbooks/render.yml).

Usage: ``write_objects.py OUTPUT_DIR NAMESPACE NAME`` with ``{"objects": [...]}`` (in apply order; the
files are named ``NN-<kind>-<name>.yaml`` here) or ``{"files": [{"file", "object"}, ...]}`` as base64
JSON on stdin, so no secret ever appears on a command line.

The files go to ``OUTPUT_DIR/NAMESPACE/NAME/``; a marker file ``.pgfleet-render.json`` there records
what this script wrote (file name -> sha256 of the content). Rules, so nothing we did not write is
ever deleted or overwritten:

* a file is written atomically (mode 0600 for Secrets, 0644 otherwise) and left untouched when its
  content is unchanged;
* a file that exists but is not in the marker (someone else's) is never overwritten: the run
  refuses before writing anything, naming the file, unless it already holds exactly our content;
* a file of an object that is no longer rendered is removed only when the marker lists it and its
  content is still what we wrote; an edited one is kept and reported;
* any other file in the directory (a user's notes, another tool's output) is left alone.

Prints ``{"directory", "changed", "replaced", "removed", "kept", "summary"}`` as JSON (file names, kinds
and object names only; ``summary`` is the lines the playbook shows), or
``{"error": "..."}`` with exit status 1.
"""

import base64
import hashlib
import json
import os
import re
import sys
import tempfile

import yaml

OUTPUT_RE = re.compile(r"^[0-9]+-[a-z]+-[a-z0-9][-a-z0-9.]*\.yaml$")
LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MARKER = ".pgfleet-render.json"
MARKER_FORMAT = 1


class Refused(Exception):
    pass


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, long strings kept on one line."""

    def increase_indent(self, flow=False, indentless=False):
        return super(_Dumper, self).increase_indent(flow, False)


def _dump(obj):
    return yaml.dump(obj, Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True, width=1 << 20)


def _digest(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def _cluster_dir(root, namespace, name):
    for what, value in (("namespace", namespace), ("name", name)):
        if not LABEL_RE.match(value) or len(value) > 63:
            raise Refused("refusing to write: the cluster %s %r is not a DNS label" % (what, value[:80]))
    root = os.path.realpath(root)
    directory = os.path.join(root, namespace, name)
    for part in (os.path.join(root, namespace), directory):
        if os.path.islink(part) or (os.path.exists(part) and not os.path.isdir(part)):
            raise Refused("refusing to write into %s: it is a symbolic link or not a directory" % part)
    return directory


def _load_marker(directory, namespace, name):
    text = _read(os.path.join(directory, MARKER))
    if text is None:
        return {}
    try:
        marker = json.loads(text)
    except ValueError:
        raise Refused("%s is not a marker written by render.yml; move it away" % os.path.join(directory, MARKER)) from None
    if not isinstance(marker, dict) or marker.get("cluster") != "%s/%s" % (namespace, name) or not isinstance(marker.get("files"), dict):
        raise Refused("%s belongs to another cluster or another tool; render into another output_dir" % os.path.join(directory, MARKER))
    return dict((k, v) for k, v in marker["files"].items() if OUTPUT_RE.match(k) and isinstance(v, str))


def _write_atomic(directory, name, text, mode):
    handle, tmp = tempfile.mkstemp(prefix=".%s." % name, dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, os.path.join(directory, name))
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write(root, namespace, name, entries):
    directory = _cluster_dir(root, namespace, name)
    ours = _load_marker(directory, namespace, name)
    planned = []
    for entry in entries:
        fname = entry["file"]
        if not OUTPUT_RE.match(fname):
            raise Refused("refusing to write %r: not an NN-<kind>-<name>.yaml file name" % fname[:120])
        text = _dump(entry["object"])
        mode = 0o600 if entry["object"].get("kind") == "Secret" else 0o644
        path = os.path.join(directory, fname)
        if os.path.islink(path) or (os.path.exists(path) and not os.path.isfile(path)):
            raise Refused("refusing to write %s: it is a symbolic link or not a regular file" % path)
        current = _read(path) if os.path.exists(path) else None
        if os.path.exists(path) and fname not in ours and current != text:  # also when unreadable
            raise Refused("refusing to overwrite %s: render.yml did not write it; move it away or render into another output_dir" % path)
        planned.append((fname, text, mode, current))
    # Nothing was written (not even a directory) before every check passed.
    os.makedirs(directory, exist_ok=True)
    result = {"directory": directory, "changed": [], "replaced": [], "removed": [], "kept": []}
    wanted = {}
    for fname, text, mode, current in planned:
        wanted[fname] = _digest(text)
        path = os.path.join(directory, fname)
        if current == text and (os.stat(path).st_mode & 0o777) == mode:
            continue
        _write_atomic(directory, fname, text, mode)
        result["changed"].append(fname)
        if current is not None and current != text:
            result["replaced"].append(fname)
    for fname in sorted(ours):
        if fname in wanted:
            continue
        path = os.path.join(directory, fname)
        current = _read(path)
        if current is None:
            continue
        if _digest(current) == ours[fname]:
            os.remove(path)
            result["removed"].append(fname)
        else:
            result["kept"].append(fname)
            wanted[fname] = ours[fname]  # still listed, so a later run can remove it once restored
    marker = {"format": MARKER_FORMAT, "cluster": "%s/%s" % (namespace, name), "files": wanted}
    _write_atomic(directory, MARKER, json.dumps(marker, indent=1, sort_keys=True) + "\n", 0o644)
    return result


def name_files(objects):
    """``[{"file": "NN-<kind>-<name>.yaml", "object"}]`` in the given (apply) order; NN is 1-based,
    zero-padded to at least two digits."""
    width = max(2, len(str(len(objects))))
    entries = []
    for index, obj in enumerate(objects, 1):
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            raise Refused("refusing to write object %d: not a Kubernetes object" % index)
        fname = "%0*d-%s-%s.yaml" % (width, index, str(obj.get("kind") or "").lower(), obj["metadata"].get("name") or "")
        entries.append({"file": fname, "object": obj})
    return entries


REASONS = (("replaced", "our earlier file, new content"), ("removed", "our file of an object no longer rendered"),
           ("kept", "no longer rendered, but edited since we wrote it"))


def summary(entries, namespace, name, result):
    """The lines the playbook shows: a count, a KIND/NAME/NAMESPACE table, what was replaced,
    removed or kept. Names only, never a value."""
    rows = [("KIND", "NAME", "NAMESPACE")] + [
        (e["object"].get("kind") or "", e["object"]["metadata"].get("name") or "", e["object"]["metadata"].get("namespace") or "-")
        for e in entries]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = ["%d objects of %s/%s in %s" % (len(entries), namespace, name, result["directory"])]
    lines += ["%-*s  %-*s  %s" % (w0, r[0], w1, r[1], r[2]) for r in rows]
    for what, reason in REASONS:
        if result[what]:
            lines.append("%s (%s): %s" % (what, reason, ", ".join(result[what])))
    return lines


def main():
    if len(sys.argv) != 4:
        raise SystemExit("usage: write_objects.py OUTPUT_DIR NAMESPACE NAME < payload")
    payload = json.loads(base64.b64decode(sys.stdin.read()))
    try:
        entries = payload["files"] if "files" in payload else name_files(payload["objects"])
        result = write(sys.argv[1], sys.argv[2], sys.argv[3], entries)
    except Refused as exc:
        json.dump({"error": str(exc)}, sys.stdout)
        sys.exit(1)
    result["summary"] = summary(entries, sys.argv[2], sys.argv[3], result)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
