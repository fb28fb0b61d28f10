# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""Lookup ``pgfleet.postgres.input_file``: read a YAML input file the safe way (module_utils/model/loader.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: input_file
author: pgfleet maintainers (@pgfleet)
short_description: Read a manifest or ConfigMap/Secret YAML file, refusing hostile YAML
description:
  - Reads one YAML file on the controller and returns its mapping.
  - Refuses files over 1.5 MiB, invalid UTF-8, empty files, lists, duplicate keys (naming the key and both lines),
    alias expansion beyond a fixed budget ("billion laughs") and deep nesting, with a message that never quotes the file's values.
  - With O(kind), a multi-document file is accepted and its one document of that kind is returned.
options:
  _terms:
    description: Path of the file (one).
    required: true
  what:
    description: The role of the file, used as the field in messages (V(manifest), V(operator_config), ...).
    type: str
    default: manifest
  kind:
    description: Pick the document of this O(kind) from a multi-document file.
    type: str
  check:
    description: Return the list of problems (empty, or the one refusal message) instead of the mapping; never fails.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Read a postgresql manifest
  ansible.builtin.set_fact:
    manifest_object: "{{ lookup('pgfleet.postgres.input_file', 'pg.yaml', kind='postgresql') }}"
"""

RETURN = r"""
_raw:
  description: The file's mapping (one element).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PgfleetError
from ansible_collections.pgfleet.postgres.plugins.module_utils.model import loader


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleLookupError("input_file takes exactly one path, got %d" % len(terms))
        try:
            found = loader.load_file(str(terms[0]), what=str(self.get_option("what")), kind=self.get_option("kind"))
        except PgfleetError as exc:
            if self.get_option("check"):
                return [exc.msg]
            raise AnsibleLookupError(exc.msg) from None
        return [] if self.get_option("check") else [found]
