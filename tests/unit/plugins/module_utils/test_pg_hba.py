"""spec.patroni.pg_hba entries (module_utils/model/pg_hba.py): one parsed line each, trust only where it is local."""

import pytest
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import pg_hba

GOOD = [
    "hostssl all all 0.0.0.0/0 md5",
    "host    all all 0.0.0.0/0 md5",
    "local all all trust",
    "host all all 127.0.0.1/32 trust",
    "host all all ::1/128 trust",
    "host all all 127.0.0.1 255.255.255.255 trust",
    "hostssl all +zalandos 127.0.0.1/32 pam",
    "host replication standby all scram-sha-256",
    'host "my db",other "user x" 10.0.0.0/8 scram-sha-256',
    "hostssl all all .example.com cert clientcert=verify-full",
    "host all all samenet scram-sha-256",
    "hostnossl all all 0.0.0.0/0 reject",
    'host all all 10.0.0.0/8 ldap ldapserver=ldap.example.com ldapprefix="cn="',
]

BAD = [
    ("host all all 0.0.0.0/0 md5\nhost all all 0.0.0.0/0 trust", "control character"),
    ("host all all 0.0.0.0/0 md5\r", "control character"),
    ("host all all 0.0.0.0/0 trust", "without a password"),
    ("hostssl all all ::/0 trust", "without a password"),
    ("host all all 10.1.2.3 255.0.0.0 trust", "without a password"),
    ("host all all example.com trust", "without a password"),
    ("host all all 0.0.0.0/0 md5 # comment", "comment"),
    ("include /etc/passwd", "include"),
    ("include_dir /etc", "include"),
    ("host all @/etc/passwd 0.0.0.0/0 md5", "refers to a file"),
    ("hots all all 0.0.0.0/0 md5", "not a connection type"),
    ("host all all 0.0.0.0/0 letmein", "not an authentication method"),
    ("host all all 999.0.0.0/8 md5", "not a CIDR"),
    ("host all all 10.0.0.1 md5", "not a network mask"),
    ("host all all", "too few fields"),
    ("host all all 0.0.0.0/0 md5 nonsense", "not an option"),
    ('host "all all 0.0.0.0/0 md5', "unclosed"),
    ("", "is empty"),
    (42, "must be a string"),
    ("host all all 0.0.0.0/0 md5 " + "x=y " * 400, "characters long"),
    ("host all all in$valid md5", "not an address"),
]


@pytest.mark.parametrize("line", GOOD)
def test_valid_entries_parse(line):
    errors, warnings = pg_hba.check_entries([line])
    assert errors == [] and warnings == []


@pytest.mark.parametrize("line, expected", BAD, ids=[str(b[0])[:30] for b in BAD])
def test_bad_entries_are_refused_with_field_and_fix(line, expected):
    errors, _warnings = pg_hba.check_entries(["local all all peer", line])
    assert len(errors) == 1
    field, problem, fix = errors[0]
    assert field == "spec.patroni.pg_hba[1]"
    assert expected in problem + fix, problem
    assert fix and len(problem) < 300


def test_trust_on_a_network_is_allowed_by_the_annotation_with_a_warning():
    errors, warnings = pg_hba.check_entries(["host all all 0.0.0.0/0 trust"], allow_trust=True)
    assert errors == []
    assert len(warnings) == 1 and pg_hba.ALLOW_TRUST_ANNOTATION in warnings[0] and "spec.patroni.pg_hba[0]" in warnings[0]


def test_not_a_list_and_too_many():
    assert pg_hba.check_entries("host all all 0.0.0.0/0 md5")[0][0][1].startswith("must be a list")
    assert "entries" in pg_hba.check_entries(["local all all peer"] * 600)[0][0][1]


def test_parse_entry_fields():
    entry = pg_hba.parse_entry("host all all 10.0.0.1 255.255.255.0 scram-sha-256")
    assert entry["address"] == "10.0.0.1" and entry["mask"] == "255.255.255.0" and entry["method"] == "scram-sha-256"
