"""Kubernetes resource quantities: parse, compare and print in the API server's canonical form.

The real API server re-serialises every quantity of a built-in object canonically ("1024Mi" is
stored as "1Gi", "0.5" as "500m"), which is one of the ways a naive live-vs-desired diff flaps.
The double does the same so that pgfleet's comparison is tested against it.
"""

import re
from decimal import ROUND_CEILING, Decimal

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXP = {v: k for k, v in _DECIMAL.items()}
_RE = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$")


class QuantityError(ValueError):
    pass


def parse(text):
    """Return (Decimal value, format) where format is 'binary', 'decimal' or 'exponent'."""
    if isinstance(text, bool):
        raise QuantityError("quantities must match the regular expression: %r" % (text,))
    if isinstance(text, (int, float)):
        text = str(text)
    m = _RE.match(str(text).strip())
    if not m:
        raise QuantityError("quantities must match the regular expression "
                            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': %r" % (text,))
    number, suffix = Decimal(m.group(1)), m.group(2) or ""
    if suffix in _BINARY:
        return number * (Decimal(1024) ** _BINARY[suffix]), "binary"
    if suffix[:1] in ("e", "E"):
        return number * (Decimal(10) ** int(suffix[1:])), "exponent"
    return number * (Decimal(10) ** _DECIMAL[suffix]), "decimal"


def value(text):
    return parse(text)[0]


def _decimal_form(val, exponent_style):
    # round up to nano units, like the API server
    nanos = (val * Decimal(10) ** 9).to_integral_value(rounding=ROUND_CEILING)
    if nanos == 0:
        return "0"
    exp = -9
    mant = int(nanos)
    while mant % 1000 == 0 and exp < 18:
        mant //= 1000
        exp += 3
    if exponent_style:
        return "%d" % mant if exp == 0 else "%de%d" % (mant, exp)
    return "%d%s" % (mant, _DECIMAL_BY_EXP[exp])


def canonical(text):
    """The canonical string the API server stores for a quantity."""
    val, fmt = parse(text)
    if fmt == "binary":
        if -1024 < val < 1024 or val != val.to_integral_value():
            return _decimal_form(val, False)
        mant, power = int(val), 0
        while mant % 1024 == 0 and power < 6 and mant != 0:
            mant //= 1024
            power += 1
        suffix = {v: k for k, v in _BINARY.items()}.get(power, "")
        return "%d%s" % (mant, suffix)
    return _decimal_form(val, fmt == "exponent")


def equal(a, b):
    try:
        return value(a) == value(b)
    except QuantityError:
        return a == b
