# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Options shared by every module that talks to the Patroni REST API.
    DOCUMENTATION = r"""
options:
  api_url:
    description:
      - Base URL of the REST API of any one Patroni member, for example C(http://10.0.0.5:8008).
      - The modules read the member list from there (C(GET /cluster)) and re-resolve every member's own
        API URL before each call, so members that moved are found; when this member does not answer, any
        other member known from the DCS is asked instead.
    type: str
    required: true
    version_added: 0.1.0
  api_username:
    description:
      - User for HTTP basic auth on the unsafe endpoints (C(POST), C(PATCH), C(DELETE)).
    type: str
    version_added: 0.1.0
  api_password:
    description:
      - Password for HTTP basic auth. Never logged.
    type: str
    version_added: 0.1.0
  validate_certs:
    description:
      - Verify the TLS certificate of the REST API when O(api_url) is HTTPS.
    type: bool
    default: true
    version_added: 0.1.0
  ca_cert:
    description:
      - Path to a CA bundle for the REST API's certificate.
    type: path
    version_added: 0.1.0
  request_timeout:
    description:
      - Seconds to wait for one HTTP answer.
    type: float
    default: 5
    version_added: 0.1.0
  request_retries:
    description:
      - How often a request is retried after a connection error (not after an HTTP error answer).
      - A C(POST) is resent only when the connection was refused, so a switchover or a restart is never
        sent twice. HTTP proxies from the environment are not used.
    type: int
    default: 3
    version_added: 0.1.0
"""
