# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Write rendered Kubernetes objects into a directory, one YAML file per object (playbooks/render.yml).

Reads ``{"files": [{"file": "NN-kind-name.yaml", "object": {...}}, ...]}`` as base64 JSON on stdin, so no
secret ever appears on a command line. Writes each file atomically (mode 0600 for Secrets, 0644
otherwise), leaves a file untouched when its content is unchanged, and removes earlier output files
(``NN-<kind>-<name>.yaml``) of objects that are no longer rendered. Prints ``{"changed": [...],
"removed": [...]}`` as JSON. One process for every file keeps a render fast.
"""

import base64
import json
import os
import re
import sys
import tempfile

import yaml

OUTPUT_RE = re.compile(r"^[0-9]+-[a-z]+-[^/]+\.yaml$")


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, long strings kept on one line."""

    def increase_indent(self, flow=False, indentless=False):
        return super(_Dumper, self).increase_indent(flow, False)


def _dump(obj):
    return yaml.dump(obj, Dumper=_Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True, width=1 << 20)


def main():
    directory = sys.argv[1]
    payload = json.loads(base64.b64decode(sys.stdin.read()))
    os.makedirs(directory, exist_ok=True)
    wanted = set()
    changed = []
    for entry in payload["files"]:
        name = entry["file"]
        if "/" in name or not OUTPUT_RE.match(name):
            raise SystemExit("refusing to write %r: not an NN-<kind>-<name>.yaml file name" % name)
        wanted.add(name)
        path = os.path.join(directory, name)
        text = _dump(entry["object"])
        mode = 0o600 if entry["object"].get("kind") == "Secret" else 0o644
        try:
            with open(path) as handle:
                same = handle.read() == text
        except OSError:
            same = False
        if same and (os.stat(path).st_mode & 0o777) == mode:
            continue
        handle, tmp = tempfile.mkstemp(prefix=".%s." % name, dir=directory)
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        changed.append(name)
    removed = []
    for name in sorted(os.listdir(directory)):
        if OUTPUT_RE.match(name) and name not in wanted:
            os.remove(os.path.join(directory, name))
            removed.append(name)
    json.dump({"changed": changed, "removed": removed}, sys.stdout)


if __name__ == "__main__":
    main()
