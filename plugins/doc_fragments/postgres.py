# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Options shared by every module that connects to PostgreSQL.
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Host (or unix socket directory) of the PostgreSQL primary.
    type: str
    default: localhost
    version_added: 0.1.0
  login_port:
    description:
      - Port of the PostgreSQL primary.
    type: int
    default: 5432
    version_added: 0.1.0
  login_user:
    description:
      - Superuser to connect as.
    type: str
    default: postgres
    version_added: 0.1.0
  login_password:
    description:
      - Password of O(login_user). Never logged.
    type: str
    version_added: 0.1.0
  login_db:
    description:
      - Maintenance database to connect to first.
    type: str
    default: postgres
    version_added: 0.1.0
  ssl_mode:
    description:
      - libpq C(sslmode).
    type: str
    default: prefer
    choices: [disable, allow, prefer, require, verify-ca, verify-full]
    version_added: 0.1.0
  connect_timeout:
    description:
      - Seconds to wait for a connection.
    type: int
    default: 15
    version_added: 0.1.0
"""
