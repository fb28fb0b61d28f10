# Copyright: pgfleet maintainers
# Apache License 2.0 (see LICENSE)
"""A task result that ansible-core 2.18 reads as it is, however large (the cluster model with every user).

On 2.18, each time a template names a variable, the variable proxy templates its value again: a
mapping is copied key by key down to its last string, although every string of a task result is
already marked unsafe and left as it is. For the model of a cluster with 10,000 users that is about
half a second, paid by every task that reads ``cluster_model`` at all. A value that is itself marked
unsafe is returned at once (``AnsibleJ2Vars``), so the actions that build the model and the objects
return their result as :class:`UnsafeDict`: a plain ``dict`` with the unsafe mark, whose strings are
all marked unsafe as well (``wrap_var``), so nothing in it is ever templated, as before.

ansible-core 2.19 templates lazily and marks trust on the values themselves: there a result is
returned as the plain dict it is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:  # ansible-core 2.18: the Jinja environment class exists only there
    from ansible.template import AnsibleEnvironment  # noqa: F401 pylint: disable=unused-import
    from ansible.utils.unsafe_proxy import AnsibleUnsafe, AnsibleUnsafeText, wrap_var
except ImportError:  # 2.19 and later
    AnsibleUnsafe = AnsibleUnsafeText = wrap_var = None

_AS_IS = (int, float, bool, type(None))


def _wrap(value):
    """``wrap_var(value)`` for the plain data a model or a rendered object is made of (dict, list, str,
    numbers, booleans, None), by exact type (wrap_var asks the abstract base classes at every value,
    most of its time on a large model); anything else is left to ``wrap_var``."""
    kind = type(value)
    if kind is str:
        return AnsibleUnsafeText(value)
    if kind is dict:
        return dict((_wrap(k), _wrap(v)) for k, v in value.items())
    if kind is list:
        return [_wrap(v) for v in value]
    if kind in _AS_IS:
        return value
    return wrap_var(value)


if AnsibleUnsafe is not None:
    class UnsafeDict(dict, AnsibleUnsafe):
        """A dict marked unsafe as a whole. ``copy`` keeps the mark (the strategy copies a result
        before it registers it)."""

        def copy(self):
            return UnsafeDict(self)
else:
    UnsafeDict = None


def unsafe_result(result):
    """``result`` (a dict) for an action to return: on 2.18 an :class:`UnsafeDict` whose every key and
    value is marked unsafe; on 2.19 ``result`` itself."""
    if UnsafeDict is None:
        return result
    return UnsafeDict(_wrap(result))
