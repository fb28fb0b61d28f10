# -*- coding: utf-8 -*-
# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""The Ansible side of the ``k8s_*`` modules: shared options, the API client, the failure result.

The options are documented by ``kubernetes.core.k8s_auth_options`` (the authentication options)
and ``plugins/doc_fragments/k8s_cluster.py`` (the cluster's ``name`` and ``namespace``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib

from ansible_collections.pgfleet.postgres.plugins.module_utils.errors import PgfleetError
from ansible_collections.pgfleet.postgres.plugins.module_utils.k8s.api import Api, auth_argument_spec


def k8s_argument_spec(cluster=False, **options):
    """kubernetes.core's authentication options, with ``cluster`` the required ``name`` and ``namespace``
    (doc fragment ``pgfleet.postgres.k8s_cluster``), then the module's own ``options``."""
    spec = auth_argument_spec()
    if cluster:
        spec.update(name=dict(type="str", required=True), namespace=dict(type="str", required=True))
    spec.update(options)
    return spec


class ApiSession(object):
    """What :func:`api_session` yields: ``api`` (None until it is built) and ``failure``, the keys a
    failure result gets besides the error's own."""

    def __init__(self, count_requests=False, failure=None):
        self.api = None
        self.count_requests = count_requests
        self.failure = dict(failure or {})

    def requests(self):
        """The API requests made so far: the list (method, path, status), or with ``count_requests`` their number."""
        if self.count_requests:
            return len(self.api.log) if self.api else 0
        return self.api.log if self.api else []


@contextlib.contextmanager
def api_session(module, dry_run=True, count_requests=False, failure=None):
    """The ``try`` of a ``k8s_*`` module's ``main()``: builds the :class:`Api` client from the module's
    authentication options (its writes are dry runs in check mode unless ``dry_run=False``, for a module
    that only reads) and yields an :class:`ApiSession`.

    A :class:`PgfleetError` inside the block (building the client included) fails the task with the
    error's message and context, then ``session.failure`` (``failure`` to start with), then ``requests``
    (:meth:`ApiSession.requests`).
    """
    session = ApiSession(count_requests, failure)
    try:
        session.api = Api(module.params, dry_run=module.check_mode) if dry_run else Api(module.params)
        yield session
    except PgfleetError as exc:
        out = exc.to_result()
        out.update(session.failure)
        out["requests"] = session.requests()
        module.fail_json(**out)
