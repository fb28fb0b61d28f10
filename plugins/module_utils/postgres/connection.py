# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""PostgreSQL connection, identifier quoting and statement execution for every pgfleet SQL module.

Rules kept here so no other file has to think about them:

* the common connection options are defined once (``postgres_argument_spec``) and documented
  once (``plugins/doc_fragments/postgres.py``);
* every identifier goes through ``ident`` (``psycopg.sql.Identifier``) and every value through
  ``literal`` (``psycopg.sql.Literal``) or a bound parameter; no user input is ever formatted
  into SQL text;
* names are validated (``check_name``) before they reach a plan: Postgres silently truncates
  identifiers longer than 63 bytes, which would make every later sync see a "missing" object;
* write statements are ``Statement`` objects: the SQL that runs, plus a display form for the
  ``queries`` return value in which password material is masked.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import (
    ManifestError,
    PostgresError,
)

try:
    import psycopg
    from psycopg import sql

    HAS_PSYCOPG = True
    PSYCOPG_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the modules
    psycopg = None
    sql = None
    HAS_PSYCOPG = False
    PSYCOPG_IMPORT_ERROR = exc

# NAMEDATALEN - 1: the longest identifier Postgres keeps without truncating it.
MAX_IDENTIFIER_BYTES = 63
MASK = "'********'"


def postgres_argument_spec():
    """The connection options shared by every SQL module (documented in doc fragment postgres)."""
    return dict(
        login_host=dict(type="str", default="localhost"),
        login_port=dict(type="int", default=5432),
        login_user=dict(type="str", default="postgres"),
        login_password=dict(type="str", no_log=True),
        login_db=dict(type="str", default="postgres"),
        ssl_mode=dict(
            type="str",
            default="prefer",
            choices=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
        ),
        connect_timeout=dict(type="int", default=15),
    )


def connection_params(params):
    """Pick the connection options out of a module's ``params`` (a dict with the spec's keys)."""
    spec = postgres_argument_spec()
    return {key: params.get(key, spec[key].get("default")) for key in spec}


# --- names -------------------------------------------------------------------------------------


def check_name(name, field, what="name"):
    """Return ``name`` if Postgres can store it exactly as given, else raise ``ManifestError``.

    Quotes, semicolons, spaces and non-ASCII letters are fine (they are quoted by ``ident``);
    refused are: non-strings, the empty string, NUL bytes and more than 63 bytes of UTF-8.
    """
    if not isinstance(name, str):
        raise ManifestError(field, "the %s must be a string, got %r" % (what, name), "write it as a quoted YAML string")
    if name == "":
        raise ManifestError(field, "the %s is empty" % what, "give a non-empty name")
    if "\x00" in name:
        raise ManifestError(field, "the %s %r contains a NUL byte" % (what, name), "remove the NUL byte")
    size = len(name.encode("utf-8"))
    if size > MAX_IDENTIFIER_BYTES:
        raise ManifestError(
            field,
            "the %s %r is %d bytes long in UTF-8; PostgreSQL keeps only %d and would silently truncate it"
            % (what, name, size, MAX_IDENTIFIER_BYTES),
            "use a shorter name",
        )
    return name


def names_ok(errors, *checks):
    """``check_name(name, field, what)`` for each ``(name, field, what)`` of ``checks``, in order.

    True when every name is fine; else the first problem is appended to ``errors`` (a list of
    ``ManifestError``, so a plan reports every bad input at once) and False is returned.
    """
    try:
        for name, field, what in checks:
            check_name(name, field, what)
    except ManifestError as err:
        errors.append(err)
        return False
    return True


def ident(*names):
    """One quoted identifier (``ident("s", "t")`` -> ``"s"."t"``)."""
    return sql.Identifier(*names)


def idents(names):
    """A comma-separated list of quoted identifiers."""
    return sql.SQL(", ").join(sql.Identifier(n) for n in names)


def literal(value):
    return sql.Literal(value)


def keywords(words):
    """SQL keywords from a fixed allow-list owned by the caller (never user input)."""
    return sql.SQL(" ").join(sql.SQL(w) for w in words)


class Statement(object):
    """One write statement of a plan: what runs, and what ``queries`` shows.

    ``display`` masks secrets (password verifiers); it is None when the statement has none.
    """

    __slots__ = ("query", "display")

    def __init__(self, query, display=None):
        self.query = query
        self.display = display

    def render(self, context=None):
        return (self.display if self.display is not None else self.query).as_string(context)

    def __repr__(self):
        return "Statement(%s)" % self.render()


def stmt(template, *args, **kwargs):
    """``Statement(sql.SQL(template).format(...))``: ``template`` is a constant of the caller."""
    return Statement(sql.SQL(template).format(*args, **kwargs))


# --- sessions ----------------------------------------------------------------------------------


class Session(object):
    """A connection to one database that reads freely and records every write statement.

    ``writes`` counts the write statements sent to the server (including ones later rolled back
    in check mode), ``queries`` lists their display form.
    """

    def __init__(self, params, dbname=None, autocommit=False):
        self.params = connection_params(params)
        self.dbname = dbname or self.params["login_db"]
        self.autocommit = autocommit
        self.conn = None
        self.writes = 0
        self.queries = []

    def __enter__(self):
        self.connect()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(commit=False)
        return False

    def connect(self):
        if not HAS_PSYCOPG:
            raise PostgresError("the Python library psycopg (3.x) is required on the host that runs this module: "
                                "pip install 'psycopg[binary]'", error=str(PSYCOPG_IMPORT_ERROR))
        p = self.params
        kwargs = dict(
            host=p["login_host"],
            port=p["login_port"],
            user=p["login_user"],
            dbname=self.dbname,
            sslmode=p["ssl_mode"],
            connect_timeout=p["connect_timeout"],
            application_name="pgfleet",
            autocommit=self.autocommit,
        )
        if p.get("login_password"):
            kwargs["password"] = p["login_password"]
        try:
            self.conn = psycopg.connect(**kwargs)
        except psycopg.Error as exc:
            raise PostgresError(
                "cannot connect to PostgreSQL at %s:%s as %s (database %s): %s; check login_host, login_port, "
                "login_user and login_password" % (p["login_host"], p["login_port"], p["login_user"], self.dbname,
                                                   _first_line(exc)),
                database=self.dbname,
            ) from exc
        return self

    def fetch(self, query, args=None):
        """Run a read-only catalog query (a constant with bound parameters) and return its rows."""
        try:
            with self.conn.cursor() as cur:
                cur.execute(query, args)
                return cur.fetchall()
        except psycopg.Error as exc:
            raise PostgresError("reading the catalog of database %s failed: %s" % (self.dbname, _first_line(exc)),
                                database=self.dbname, sqlstate=getattr(exc, "sqlstate", None)) from exc

    def run(self, statement):
        """Execute one write ``Statement``; a failure raises ``PostgresError`` naming the statement."""
        shown = statement.render(self.conn)
        self.queries.append(shown)
        self.writes += 1
        try:
            with self.conn.cursor() as cur:
                cur.execute(statement.query)
        except psycopg.Error as exc:
            raise PostgresError(
                "statement failed in database %s: %s -- %s" % (self.dbname, shown, _first_line(exc)),
                database=self.dbname,
                query=shown,
                sqlstate=getattr(exc, "sqlstate", None),
            ) from exc

    def run_all(self, statements):
        for statement in statements:
            self.run(statement)

    def finish(self, commit):
        """Commit (``commit=True``) or roll back the open transaction."""
        if self.conn is None or self.autocommit:
            return
        try:
            if commit:
                self.conn.commit()
            else:
                self.conn.rollback()
        except psycopg.Error as exc:
            what = "COMMIT" if commit else "ROLLBACK"
            raise PostgresError("%s in database %s failed: %s" % (what, self.dbname, _first_line(exc)),
                                database=self.dbname) from exc

    def close(self, commit=False):
        if self.conn is None:
            return
        try:
            if not self.conn.closed and not self.autocommit:
                self.finish(commit)
        finally:
            self.conn.close()
            self.conn = None


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
