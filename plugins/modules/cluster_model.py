#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
# Documentation only: the work is done on the controller by the action plugin plugins/action/cluster_model.py.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cluster_model
short_description: Build the cluster model of a postgresql manifest, with credentials, as a task result
version_added: 0.2.0
description:
  - Validates a C(postgresql) manifest (acid.zalan.do/v1) against the operator configuration and returns
    the cluster model the roles render from (the same as the filter C(pgfleet.postgres.postgresql_model)),
    with the credentials of O(existing_secrets) attached and a generated password for every other secret.
  - Register the result, for example as C(cluster_model); its keys are the model's. A registered result
    is kept as it is, where C(set_fact) with the filter prints and parses the whole model again (on
    ansible-core 2.18), which dominates the cost for clusters with many users.
  - An invalid manifest fails with one message that names each C(spec.) field and the fix.
  - The result holds passwords, so use C(no_log), or O(validate_only) to check a manifest in a task whose
    output is shown.
author:
  - pgfleet maintainers (@pgfleet)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  manifest:
    description: The C(postgresql) object (apiVersion, kind, metadata, spec). Not read when O(base) is given.
    type: dict
  operator_config:
    description:
      - The operator configuration, keys one-to-one with the Zalando C(postgres-operator) ConfigMap
        (a ConfigMap's C(data) or typed values).
    type: dict
    default: {}
  existing_secrets:
    description:
      - "Credential secrets that already exist, as C({name: {username, password}}) or a list of v1 Secret
        objects. Their passwords are kept; a password is generated only for the others."
    type: raw
  base:
    description: A model built earlier without credentials; only the credentials are attached to it.
    type: dict
  validate_only:
    description: Only check the manifest; return nothing of the model (no password is generated).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Nothing is written either way.
  diff_mode:
    support: none
  platform:
    platforms: all
"""

EXAMPLES = r"""
- name: Check the manifest (errors name the field and the fix)
  pgfleet.postgres.cluster_model:
    manifest: "{{ lookup('ansible.builtin.file', 'cluster.yaml') | ansible.builtin.from_yaml }}"
    validate_only: true

- name: Build the model with the passwords of the secrets that exist
  pgfleet.postgres.cluster_model:
    manifest: "{{ lookup('ansible.builtin.file', 'cluster.yaml') | ansible.builtin.from_yaml }}"
    existing_secrets: "{{ secrets.resources }}"
  register: cluster_model
  no_log: true
"""

RETURN = r"""
name:
  description: The cluster's name; every other key of the model is returned as well (docs/dev/CONTRACTS.md).
  returned: success, unless O(validate_only)
  type: str
secrets:
  description: The credential secrets, each with C(name), C(namespace), C(role), C(username) and C(password).
  returned: success, unless O(validate_only)
  type: list
  elements: dict
roles:
  description: The database roles, each with its password.
  returned: success, unless O(validate_only)
  type: list
  elements: dict
warnings:
  description: What the manifest sets that is ignored or deprecated, each naming the field.
  returned: success, unless O(validate_only)
  type: list
  elements: str
"""
