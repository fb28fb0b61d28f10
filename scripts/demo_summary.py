"""The end of `make demo`: a short summary of the local cluster the demo started.

    python scripts/demo_summary.py MANIFEST RENDER_DIR

Reads the cluster through the collection's own local-target code (each member's GET /patroni) and
prints the member table, how to connect, how to open the console and how to tear down. Never prints
a password: it says which file holds it.
"""
import json
import os
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", ".collections"))

from ansible_collections.pgfleet.postgres.plugins.module_utils.local.cluster import LocalCluster  # noqa: E402
from ansible_collections.pgfleet.postgres.plugins.module_utils.local.members import format_table  # noqa: E402
from ansible_collections.pgfleet.postgres.plugins.module_utils.model.loader import load_file  # noqa: E402


def main(manifest, render_dir):
    cr = load_file(manifest, kind="postgresql")
    name = cr["metadata"]["name"]
    cluster = LocalCluster(name, state_root=os.path.join(os.environ.get("PGFLEET_HOME", "/var/lib/pgfleet"), "clusters"))
    state = cluster.load_state()
    status = cluster.status(state)
    summary = cluster.summary(state)
    try:
        with open(os.path.join(render_dir, ".pgfleet-render.json")) as fh:
            rendered = len(json.load(fh)["files"])
    except (OSError, ValueError, KeyError):
        rendered = "?"
    dsn = summary["dsn"]
    mf = shlex.quote(manifest)
    lines = [
        "",
        "Rendered  %s Kubernetes objects into %s/ (apply them with kubectl, or let the operator do it)" % (rendered, render_dir),
        "Started   %s on this machine: PostgreSQL %s, %d member(s), %s" % (
            name, state.get("pg_version", "?"), len(status["members"]), "healthy" if status["healthy"] else "NOT healthy"),
        "",
    ]
    lines += ["  " + row for row in format_table(status["members"])]
    lines += [
        "",
        "Connect   psql %s" % shlex.quote(dsn),
        "          the password of user postgres is in %s (root only; never printed)" % summary["credentials_file"],
        "Console   ui/pgfleet-console --no-kubernetes     then open http://127.0.0.1:8088",
        "Status    .venv/bin/ansible-playbook playbooks/local.yml -e manifest=%s -e state=status" % mf,
        "Tear down .venv/bin/ansible-playbook playbooks/local.yml -e manifest=%s -e state=absent" % mf,
        "",
    ]
    print("\n".join(lines))
    for problem in status["problems"]:
        print("problem: %s" % problem)
    return 0 if status["healthy"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
