# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Write rendered Kubernetes objects into a cluster's own directory, one YAML file per object.

Used on the controller by the action ``pgfleet.postgres.write_objects`` (playbooks/render.yml): the
objects are read from the play's variables in process, so no secret is ever passed on a command line
or through a templated argument. :func:`name_files` names the files ``NN-<kind>-<name>.yaml`` in apply
order; :func:`write` writes them.

The files go to ``OUTPUT_DIR/NAMESPACE/NAME/``; a marker file ``.pgfleet-render.json`` there records
what was written here (file name -> sha256 of the content). Rules, so nothing we did not write is
ever deleted or overwritten:

* a file is written atomically (mode 0600 for Secrets, 0644 otherwise) and left untouched when its
  content is unchanged;
* a file that exists but is not in the marker (someone else's) is never overwritten: the run
  refuses before writing anything, naming the file, unless it already holds exactly our content;
* a file of an object that is no longer rendered is removed only when the marker lists it and its
  content is still what we wrote; an edited one is kept and reported;
* any other file in the directory (a user's notes, another tool's output) is left alone.

:func:`write` returns ``{"directory", "changed", "replaced", "removed", "kept"}`` (file names only) and
:func:`summary` the lines the playbook shows; a refusal raises :class:`Refused` with a message that
names files, never a value.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import re
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


# Values from the play are str subclasses (Ansible marks them unsafe); they are written as the strings they are.
_Dumper.add_multi_representer(str, yaml.SafeDumper.represent_str)


def _yaml_dump(obj):
    return yaml.dump(obj, Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True, width=1 << 20)


# A fast writer for what the roles render: block mappings and sequences of strings, integers, booleans
# and nulls. It writes the same bytes as _yaml_dump (the pure-Python emitter is most of the time
# render.yml spends on a cluster with thousands of users); whatever it is not sure of (a float, a
# multi-line or very long key, a string over several lines, a mapping or list that appears twice in one
# object, which YAML writes with an anchor) is left to _yaml_dump for the whole object.
# tests/unit/hostile/test_write_objects.py compares both on rendered objects and on hostile values.

class _Slow(Exception):
    pass


# Strings the emitter writes as they are (plain), when the resolver reads them back as strings: no
# indicator first, no space, colon, hash, quote or line break anywhere.
_PLAIN_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./=+-]*$")
_STR_TAG = "tag:yaml.org,2002:str"
# What YAML counts as a line break: a string holding one is written over several lines, indented by depth.
_BREAK_RE = re.compile(u"[\n\r\x85\u2028\u2029]")
_STYLE_CACHE = {}
_RESOLVER = yaml.resolver.Resolver()  # the one yaml.SafeDumper decides implicit types with


def _plain(text):
    return _PLAIN_RE.match(text) is not None and _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _STR_TAG


def _scalar_text(text, key):
    """How the emitter writes ``text`` as a mapping key (``key``) or as a value or list item."""
    if _plain(text) and not (key and len(text) >= 128):
        return text
    cached = _STYLE_CACHE.get((text, key))
    if cached is None:
        if _BREAK_RE.search(text) or (key and len(text) >= 128):
            raise _Slow()
        line = _yaml_dump({text: None} if key else {"k": text})
        prefix, suffix = ("", ": null\n") if key else ("k: ", "\n")
        if not (line.startswith(prefix) and line.endswith(suffix)) or _BREAK_RE.search(line[:-1]):
            raise _Slow()
        cached = line[len(prefix):len(line) - len(suffix)]
        if len(_STYLE_CACHE) > 100000:
            _STYLE_CACHE.clear()
        _STYLE_CACHE[(text, key)] = cached
    return cached


def _scalar(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _scalar_text(value, False)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    raise _Slow()


def _block(node, indent, out, seen, inline):
    """A non-empty mapping or sequence at ``indent``; its first line starts where ``out`` ends when ``inline``."""
    if id(node) in seen:
        raise _Slow()  # written twice: YAML would use an anchor
    seen.add(id(node))
    pad = " " * indent
    first = True
    items = node.items() if isinstance(node, dict) else ((None, v) for v in node)
    for key, value in items:
        if not (first and inline):
            out.append(pad)
        first = False
        if isinstance(node, dict):
            if not isinstance(key, str):
                raise _Slow()
            out.append(_scalar_text(key, True))
            out.append(":")
            lead, nested = " ", "\n"
        else:
            out.append("- ")
            lead, nested = "", None
        if isinstance(value, (dict, list)) and value:
            if nested:
                out.append(nested)
                _block(value, indent + 2, out, seen, False)
            else:
                _block(value, indent + 2, out, seen, True)
        elif isinstance(value, dict):
            out.append(lead + "{}\n")
        elif isinstance(value, list):
            out.append(lead + "[]\n")
        else:
            out.append(lead + _scalar(value) + "\n")


def _dump(obj):
    if isinstance(obj, dict) and obj:
        out = []
        try:
            _block(obj, 0, out, set(), False)
            return "".join(out)
        except _Slow:
            pass
    return _yaml_dump(obj)


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


def write(root, namespace, name, entries, dry_run=False):
    """Write ``entries`` (:func:`name_files`) by the rules above; ``dry_run``: check and report the same,
    touching nothing (check mode)."""
    directory = _cluster_dir(root, namespace, name)
    ours = _load_marker(directory, namespace, name)
    planned = []
    for entry in entries:
        fname = entry["file"]
        if not OUTPUT_RE.match(fname):
            raise Refused("refusing to write %r: not an NN-<kind>-<name>.yaml file name" % fname[:120])
        try:
            text = _dump(entry["object"])
        except yaml.YAMLError:  # the representer's message quotes the value: name the file only
            raise Refused("refusing to write %s: the object holds a value YAML cannot represent" % fname) from None
        mode = 0o600 if entry["object"].get("kind") == "Secret" else 0o644
        path = os.path.join(directory, fname)
        if os.path.islink(path) or (os.path.exists(path) and not os.path.isfile(path)):
            raise Refused("refusing to write %s: it is a symbolic link or not a regular file" % path)
        current = _read(path) if os.path.exists(path) else None
        if os.path.exists(path) and fname not in ours and current != text:  # also when unreadable
            raise Refused("refusing to overwrite %s: render.yml did not write it; move it away or render into another output_dir" % path)
        planned.append((fname, text, mode, current))
    # Nothing was written (not even a directory) before every check passed.
    if not dry_run:
        os.makedirs(directory, exist_ok=True)
    result = {"directory": directory, "changed": [], "replaced": [], "removed": [], "kept": []}
    wanted = {}
    for fname, text, mode, current in planned:
        wanted[fname] = _digest(text)
        path = os.path.join(directory, fname)
        if current == text and (os.stat(path).st_mode & 0o777) == mode:
            continue
        if not dry_run:
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
            if not dry_run:
                os.remove(path)
            result["removed"].append(fname)
        else:
            result["kept"].append(fname)
            wanted[fname] = ours[fname]  # still listed, so a later run can remove it once restored
    if not dry_run:
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


#: A kind with more objects than this (a cluster with thousands of users has as many Secrets) is
#: shown by its first SUMMARY_SHOWN objects and a count; the files are all there.
SUMMARY_PER_KIND = 50
SUMMARY_SHOWN = 10


def summary(entries, namespace, name, result):
    """The lines the playbook shows: a count, a KIND/NAME/NAMESPACE table, what was replaced,
    removed or kept. Names only, never a value."""
    per_kind = {}
    for e in entries:
        kind = e["object"].get("kind") or ""
        per_kind[kind] = per_kind.get(kind, 0) + 1
    rows = [("KIND", "NAME", "NAMESPACE")]
    seen = {}
    for e in entries:
        kind = e["object"].get("kind") or ""
        seen[kind] = seen.get(kind, 0) + 1
        if per_kind[kind] > SUMMARY_PER_KIND and seen[kind] > SUMMARY_SHOWN:
            if seen[kind] == SUMMARY_SHOWN + 1:
                rows.append((kind, "... and %d more" % (per_kind[kind] - SUMMARY_SHOWN), ""))
            continue
        rows.append((kind, e["object"]["metadata"].get("name") or "", e["object"]["metadata"].get("namespace") or "-"))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = ["%d objects of %s/%s in %s" % (len(entries), namespace, name, result["directory"])]
    lines += [("%-*s  %-*s  %s" % (w0, r[0], w1, r[1], r[2])).rstrip() for r in rows]
    for what, reason in REASONS:
        if result[what]:
            lines.append("%s (%s): %s" % (what, reason, ", ".join(result[what])))
    return lines
