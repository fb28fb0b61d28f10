# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Safe loading of the YAML files a user hands us (manifests, operator ConfigMaps, Secrets).

Every entry point that reads a file a person wrote goes through here (``playbooks/render.yml``
through the ``pgfleet.postgres.input_file`` lookup, the local target, ``reconcile.yml -e
manifest=FILE``), so a file is refused the same way everywhere, before anything is written:

* bigger than :data:`MAX_BYTES` (Kubernetes itself keeps one object below ~1.5 MiB);
* not UTF-8 text, or empty, or holding no mapping;
* a mapping key written twice (YAML would silently keep the last one): the key and both lines
  are named;
* aliases that expand to more than :data:`MAX_NODES` nodes (the "billion laughs" file, a few
  hundred bytes that expand to billions of strings) or nest deeper than :data:`MAX_DEPTH`;
* tags other than the plain YAML ones (``!!python/...`` never constructs anything: safe loader).

Errors are :class:`ManifestError` whose field is the file's role (``manifest``,
``operator_config``...) and whose text never quotes the file's content (a file may hold
credentials). Values come back as plain ``str``/``int``/``dict``/``list``.

API: ``load_file(path, what="manifest", kind=None)`` and ``load_text(data, what, source, kind)``
return one mapping; ``kind="postgresql"`` picks the ``postgresql`` document of a multi-document
file (a Service or ServiceMonitor beside it is ignored). ``load_documents(...)`` returns all.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

try:
    import yaml
except ImportError:  # a target without PyYAML gets a clear error when a file is loaded (_need_yaml)
    yaml = None

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import ManifestError

#: Largest input file accepted, in bytes.
MAX_BYTES = 1536 * 1024
#: Most YAML nodes a file may expand to, aliases counted once per use.
MAX_NODES = 50000
#: Deepest nesting of mappings and lists.
MAX_DEPTH = 64
#: Most documents in one file.
MAX_DOCUMENTS = 100

_BASE = getattr(yaml, "CSafeLoader", None) or getattr(yaml, "SafeLoader", object)


class _Refused(Exception):
    def __init__(self, problem, fix):
        super(_Refused, self).__init__(problem)
        self.problem = problem
        self.fix = fix


def _where(mark):
    return "line %d, column %d" % (mark.line + 1, mark.column + 1) if mark is not None else "an unknown place"


def _short(text, limit=60):
    """A key or value for a message: plain text, at most ``limit`` characters, one line."""
    text = str(text)
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    if len(text) > limit:
        text = text[:limit] + "... (%d characters)" % len(text)
    return text


class _Loader(_BASE):
    """The safe loader, refusing duplicate keys."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _Refused("has a mapping key at %s that is not a plain value" % _where(key_node.start_mark),
                                   "write keys as plain strings")
                key = self.construct_object(key_node)
                try:
                    hash(key)
                except TypeError:
                    raise _Refused("has a mapping key at %s that is not a plain value" % _where(key_node.start_mark),
                                   "write keys as plain strings") from None
                if key in seen:
                    raise _Refused("has the key \"%s\" twice (line %d and line %d); YAML would silently keep the last one"
                                   % (_short(key), seen[key] + 1, key_node.start_mark.line + 1),
                                   "remove one of the two lines")
                seen[key] = key_node.start_mark.line
        return super(_Loader, self).construct_mapping(node, deep=deep)


def _check_expansion(node):
    """Count the nodes ``node`` expands to (an alias counts as the whole node it names)."""
    sizes = {}

    def size(current, depth, stack):
        ident = id(current)
        if ident in sizes:
            return sizes[ident]
        if depth > MAX_DEPTH:
            raise _Refused("nests deeper than %d levels (at %s)" % (MAX_DEPTH, _where(current.start_mark)),
                           "flatten the file; a manifest needs far fewer levels")
        if ident in stack:
            raise _Refused("has a recursive alias at %s" % _where(current.start_mark), "write the value out instead of the alias")
        total = 1
        if isinstance(current, yaml.SequenceNode):
            children = current.value
        elif isinstance(current, yaml.MappingNode):
            children = [part for pair in current.value for part in pair]
        else:
            children = ()
        stack.add(ident)
        for child in children:
            total += size(child, depth + 1, stack)
            if total > MAX_NODES:
                raise _Refused("has YAML aliases (&anchor/*alias) that expand to more than %d values" % MAX_NODES,
                               "write the values out instead of nesting aliases")
        stack.discard(ident)
        sizes[ident] = total
        return total

    size(node, 0, set())


def _need_yaml():
    if yaml is None:
        raise _Refused("cannot be read: the Python module PyYAML is missing", "install PyYAML (it comes with ansible-core)")


def _decode(data, source):
    _need_yaml()
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise _Refused("is %d bytes; at most %d are accepted" % (len(data), MAX_BYTES),
                           "split the file; one Kubernetes object is at most ~1.5 MiB")
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[:exc.start].count(b"\n") + 1
            raise _Refused("is not UTF-8 text (invalid byte 0x%02x on line %d)" % (data[exc.start], line),
                           "save the file as UTF-8") from None
    else:
        text = data
        if len(text) > MAX_BYTES:
            raise _Refused("is %d characters; at most %d are accepted" % (len(text), MAX_BYTES), "split the file")
    if not text.strip():
        raise _Refused("is empty", "write a YAML mapping (a Kubernetes object)")
    return text


def _check_depth(text):
    """Refuse deep nesting from the event stream, before composing (libyaml composes recursively in C)."""
    loader = _BASE(text)
    try:
        depth = 0
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _Refused("nests deeper than %d levels (at %s)" % (MAX_DEPTH, _where(event.start_mark)),
                                   "flatten the file; a manifest needs far fewer levels")
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    finally:
        loader.dispose()


def _documents(text):
    loader = _Loader(text)
    try:
        _check_depth(text)
        documents = []
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            if len(documents) >= MAX_DOCUMENTS:
                raise _Refused("holds more than %d YAML documents" % MAX_DOCUMENTS, "split the file")
            _check_expansion(node)
            documents.append((node.start_mark.line + 1, loader.construct_document(node)))
        return documents
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise _Refused("not a YAML mapping (invalid YAML: %s at %s)" % (_short(problem, 120), _where(mark)), "fix the YAML syntax there") from None
    except yaml.YAMLError as exc:
        raise _Refused("not a YAML mapping (invalid YAML: %s)" % _short(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 120),
                       "fix the YAML syntax") from None
    except RecursionError:
        raise _Refused("nests too deeply", "flatten the file") from None
    finally:
        loader.dispose()


def plain(value):
    """A copy made of plain ``str`` (not a subclass such as AnsibleUnsafeText), ``int``, ``float``,
    ``bool``, ``None``, ``dict`` and ``list`` only; dates and other YAML types become their text."""
    if isinstance(value, dict):
        return dict((plain(k), plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _error(what, source, problem, fix):
    """``<what>: <source>: <problem>; <fix>``, e.g. ``manifest: /tmp/pg.yaml: is empty; write ...``."""
    return ManifestError(what, "%s: %s" % (_short(source, 200), problem) if source else problem, fix)


def load_documents(data, what="manifest", source=None):
    """Every non-empty document of ``data`` (bytes or text) as ``[(first line, value)]``."""
    try:
        return [(line, plain(value)) for line, value in _documents(_decode(data, source)) if value is not None]
    except _Refused as exc:
        raise _error(what, source, exc.problem, exc.fix) from None


def load_text(data, what="manifest", source=None, kind=None):
    """The one mapping in ``data``; with ``kind``, the one document of that kind (others are skipped)."""
    documents = load_documents(data, what, source)
    if not documents:
        raise _error(what, source, "holds no YAML document", "write a YAML mapping (a Kubernetes object)")
    mappings = [(line, doc) for line, doc in documents if isinstance(doc, dict)]
    if kind is not None and len(documents) > 1:
        mappings = [(line, doc) for line, doc in mappings if doc.get("kind") == kind]
        if not mappings:
            raise _error(what, source, "holds %d documents and none is of kind %s" % (len(documents), kind),
                         "add the %s object to the file" % kind)
    if not mappings:
        found = documents[0][1]
        return _refuse_type(what, source, found)
    if len(mappings) > 1:
        raise _error(what, source, "holds %d %s documents (lines %s)" % (
            len(mappings), kind or "mapping", ", ".join(str(line) for line, _doc in mappings[:10])),
            "keep one object per file")
    if len(documents) > 1 and kind is None:
        raise _error(what, source, "holds %d YAML documents" % len(documents), "keep one object per file")
    return mappings[0][1]


def _refuse_type(what, source, found):
    names = {list: "a list", str: "a single string", int: "a number", float: "a number", bool: "a boolean"}
    raise _error(what, source, "is %s, not a mapping" % names.get(type(found), "not a mapping"),
                 "write a YAML mapping (a Kubernetes object with apiVersion, kind, metadata)")


def load_file(path, what="manifest", kind=None):
    """Read ``path`` (at most :data:`MAX_BYTES`) and return its mapping, as :func:`load_text`."""
    source = str(path)
    try:
        if not os.path.isfile(source):
            raise _error(what, source, "is not a file" if os.path.exists(source) else "does not exist",
                         "pass the path of a YAML file")
        with open(source, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except (IOError, OSError) as exc:
        raise _error(what, source, "cannot be read (%s)" % (exc.strerror or type(exc).__name__), "check the path and its permissions") from None
    if len(data) > MAX_BYTES:
        raise _error(what, source, "is larger than %d bytes" % MAX_BYTES, "split the file; one Kubernetes object is at most ~1.5 MiB")
    return load_text(data, what, source, kind)
