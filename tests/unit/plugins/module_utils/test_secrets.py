# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import re

from ansible_collections.pgfleet.postgres.plugins.module_utils.model import secrets


def test_password_is_64_alphanumerics():
    pw = secrets.generate_password()
    assert len(pw) == 64
    assert re.match(r"^[A-Za-z0-9]{64}$", pw)


def test_passwords_differ_and_use_the_whole_alphabet():
    seen = set(secrets.generate_password() for dummy in range(50))
    assert len(seen) == 50
    chars = set("".join(seen))
    assert any(c.islower() for c in chars) and any(c.isupper() for c in chars) and any(c.isdigit() for c in chars)


def test_password_length_argument():
    assert len(secrets.generate_password(16)) == 16


def test_secret_name_default_template():
    assert secrets.secret_name("foo_user", "acid-minimal-cluster") == \
        "foo-user.acid-minimal-cluster.credentials.postgresql.acid.zalan.do"
    assert secrets.secret_name("zalando", "acid-test-cluster", {"secret_name_template": ""}) == \
        "zalando.acid-test-cluster.credentials.postgresql.acid.zalan.do"


def test_secret_name_custom_template_and_cross_namespace_user():
    cfg = {"secret_name_template": "{cluster}-{username}-secret"}
    assert secrets.secret_name("db_user", "c", cfg) == "c-db-user-secret"
    assert secrets.secret_name("test.db_user", "c") == "test.db-user.c.credentials.postgresql.acid.zalan.do"
    assert secrets.secret_name("u", "c", "{username}/{namespace}", namespace="ns") == "u/ns"
    assert secrets.secret_name("u", "c", "{username}-{unknown}") == "u-{unknown}"


def test_secret_name_is_lower_case():
    assert secrets.secret_name("Bar_Owner", "c") == "bar-owner.c.credentials.postgresql.acid.zalan.do"


def test_secret_namespace():
    on = {"enable_cross_namespace_secret": True}
    off = {"enable_cross_namespace_secret": False}
    assert secrets.secret_namespace("test.db_user", "default", on) == "test"
    assert secrets.secret_namespace("test.db_user", "default", off) == "default"
    assert secrets.secret_namespace("db_user", "default", on) == "default"
    assert secrets.secret_namespace("db_user", "default") == "default"


def test_credential_secret_payload():
    s = secrets.credential_secret("n", "ns", "user", "pw", labels={"a": "b"}, annotations={"c": "d"},
                                  owner_references=[{"kind": "postgresql"}], next_rotation="2026-01-01T00:00:00Z")
    assert s["apiVersion"] == "v1" and s["kind"] == "Secret" and s["type"] == "Opaque"
    assert s["metadata"] == {"name": "n", "namespace": "ns", "labels": {"a": "b"}, "annotations": {"c": "d"},
                             "ownerReferences": [{"kind": "postgresql"}]}
    assert base64.b64decode(s["data"]["username"]) == b"user"
    assert base64.b64decode(s["data"]["password"]) == b"pw"
    assert base64.b64decode(s["data"]["nextRotation"]) == b"2026-01-01T00:00:00Z"


def test_credential_secret_leaves_out_empty_metadata():
    s = secrets.credential_secret("n", "ns", "user", "pw")
    assert s["metadata"] == {"name": "n", "namespace": "ns"}
    assert set(s["data"]) == {"username", "password"}


def test_decode_secret_data_round_trip():
    s = secrets.credential_secret("n", "ns", "üser", "pw")
    assert secrets.decode_secret_data(s) == {"username": "üser", "password": "pw"}
    assert secrets.decode_secret_data({"stringData": {"password": "x"}}) == {"password": "x"}
