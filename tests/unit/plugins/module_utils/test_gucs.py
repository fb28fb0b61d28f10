"""PostgreSQL settings validation (module_utils/postgres/gucs.py), against the pg_settings tables."""

import importlib.util
import os

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.postgres import gucs, gucs_15, gucs_18, gucs_rows

REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..")

REFUSED = [
    ("work_mem", "lots", "not a number"),
    ("max_connections", "-5", "outside the allowed range 1..262143"),
    ("work_mem", "4MB # injected", "no comments"),
    ("work_mem", "4mb", "unknown unit 'mb'"),
    ("max_connections", "100MB", "has a unit but this setting has none"),
    ("bad\nname", "1", "is not a parameter name"),
    ("x;y", "1", "is not a parameter name"),
    ("application_name", "a\nb", "newline"),
    ("application_name", "a\x00b", "control character"),
    ("application_name", "x" * 9000, "9000 characters"),
    ("log_statement", "bogus", "not one of none, ddl, mod, all"),
    ("max_conections", "100", "did you mean max_connections"),
    ("checkpoint_completion_target", "2", "0..1"),
    ("block_size", "8192", "read-only"),
    ("statement_timeout", "1 hour", "unknown unit"),
    ("fsync", "maybe", "not a boolean"),
    ("work_mem", "1e400", "not a finite number"),
    ("work_mem", "99999999999999999999", "outside the allowed range"),
    ("shared_buffers", {"a": 1}, "single value"),
]

ACCEPTED = [
    ("work_mem", "4MB"), ("work_mem", 65536), ("shared_buffers", "128MB"), ("max_connections", "100"),
    ("application_name", "x"), ("log_statement", "ALL"), ("wal_level", "hot_standby"), ("synchronous_commit", "true"),
    ("pg_stat_statements.track", "all"), ("checkpoint_completion_target", "0.9"), ("statement_timeout", "1h"),
    ("fsync", True), ("fsync", "of"), ("DateStyle", "ISO, MDY"), ("datestyle", "ISO, MDY"), ("max_connections", "1.5"),
    ("search_path", '"$user", public'), ("log_min_duration_statement", "-1"), ("work_mem", "0x1000"),
]


@pytest.mark.parametrize("major", ["15", "18"])
@pytest.mark.parametrize("name, value, expected", REFUSED, ids=[c[0] + "=" + str(c[1])[:20] for c in REFUSED])
def test_refused_with_the_reason_and_the_fix(major, name, value, expected):
    problem = gucs.parameter_check(name, value, major)
    assert problem is not None
    assert expected in problem[0] + "; " + problem[1]
    assert problem[1]
    assert len(problem[0]) < 300


@pytest.mark.parametrize("major", ["15", "18", 15])
@pytest.mark.parametrize("name, value", ACCEPTED, ids=[c[0] + "=" + str(c[1]) for c in ACCEPTED])
def test_accepted(major, name, value):
    assert gucs.parameter_problem(name, value, major) is None


def test_tables_come_from_pg_settings():
    assert gucs_15.MAJOR == 15 and gucs_18.MAJOR == 18
    for table in (gucs_15.GUCS, gucs_18.GUCS):
        assert "application_name" in table  # missing from postgres --describe-config
        assert table["max_connections"][5] == "postmaster"
    assert "io_method" in gucs_18.GUCS and "io_method" not in gucs_15.GUCS
    assert gucs.parameter_check("io_method", "worker", "15") is not None
    assert gucs.parameter_check("io_method", "worker", "18") is None


def test_majors_without_a_table_check_only_syntax():
    assert not gucs.has_table("16") and gucs.known("work_mem", "16") is None
    assert gucs.parameter_problem("work_mem", "lots", "16") is None
    assert gucs.parameter_problem("work_mem", "4MB\nx = 1", "16") is not None


def test_normalize_and_context():
    assert gucs.normalize("shared_buffers", "128MB", 15) == gucs.normalize("shared_buffers", "131072kB", 15) == 16384
    assert gucs.normalize("shared_buffers", 16384, 15) == 16384
    assert gucs.normalize("fsync", "true", 15) == gucs.normalize("fsync", True, 15) == "on"
    assert gucs.normalize("log_statement", "ALL", 15) == "all"
    assert gucs.normalize("statement_timeout", "1min", 15) == gucs.normalize("statement_timeout", "60s", 15) == 60000
    assert gucs.is_restart("max_connections", 15) and not gucs.is_restart("work_mem", 15)
    assert gucs.context("work_mem", "18") == "user" and gucs.known("nope", 18) is False


def test_each_setting_is_written_once():
    """gucs_15.py lists every setting; gucs_18.py only what 18 adds, changes and removes (gucs_rows.py)."""
    added, changed, removed = gucs_rows.delta(gucs_15.GUCS, gucs_18.GUCS)
    assert added == gucs_rows.parse(gucs_18.ADDED) and "io_method" in added
    assert changed == gucs_rows.parse(gucs_18.CHANGED) and "server_version_num" in changed
    assert removed == tuple(gucs_18.REMOVED.split()) and "force_parallel_mode" in removed
    for table in (gucs_15.GUCS, gucs_18.GUCS):
        assert list(table) == sorted(table)
        for name, row in table.items():
            assert gucs_rows.parse(gucs_rows.line(name, row)) == {name: row}
    assert gucs_18.GUCS["default_transaction_isolation"][4] == ("serializable", "repeatable read", "read committed", "read uncommitted")
    assert gucs_18.GUCS["work_mem"] == ("integer", "kB", "64", "2147483647", (), "user")


@pytest.mark.parametrize("text", ["work_mem integer user kB 64", "fsync bool sighup on", "x enum user", "x float user - 0 1",
                                  "fsync bool sighup\nfsync bool user", "x"])
def test_row_format_refuses_what_it_would_misread(text):
    with pytest.raises(ValueError):
        gucs_rows.parse(text)


@pytest.mark.parametrize("row", [("enum", "", "", "", ("a,b",), "user"), ("enum", "", "", "", (), "user"),
                                 ("bool", "", "1", "", (), "user"), ("integer", "", "", "10", (), "user"), ("string", "", "", "", (), 'a"b')])
def test_row_format_refuses_rows_it_cannot_hold(row):
    with pytest.raises(ValueError):
        gucs_rows.line("x", row)


@pytest.mark.parametrize("added, changed, removed", [({"work_mem": gucs_15.GUCS["work_mem"]}, {}, ()),
                                                     ({}, {"io_method": gucs_18.GUCS["io_method"]}, ()), ({}, {}, ("io_method",))])
def test_a_difference_that_does_not_fit_its_base_is_refused(added, changed, removed):
    with pytest.raises(ValueError):
        gucs_rows.derive(gucs_15.GUCS, added, changed, removed)


def test_gen_gucs_writes_these_files():
    spec = importlib.util.spec_from_file_location("gen_gucs", os.path.join(REPO, "scripts", "gen_gucs.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for module, base in ((gucs_15, None), (gucs_18, gucs_15.GUCS)):
        with open(module.__file__) as handle:
            assert gen.render(module.SERVER_VERSION_NUM, module.GUCS, base) == handle.read()
