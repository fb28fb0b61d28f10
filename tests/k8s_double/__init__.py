"""A Kubernetes API TEST DOUBLE for pgfleet's tests (not a Kubernetes API server).

``KubeDouble`` serves discovery and the REST verbs over real HTTP so that kubernetes.core and
pgfleet's modules run unmodified against it; see README.md for its exact scope.
"""

from .server import KubeDouble, RequestRecord  # noqa: F401
from .store import ApiError  # noqa: F401
