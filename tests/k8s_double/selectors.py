"""Label and field selectors as the API server parses them (the subset clients actually send)."""

import re

_SET = re.compile(r"^\s*([^\s!=()]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


class SelectorError(ValueError):
    pass


def _split(text):
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_labels(text):
    """Return a list of predicates over a labels dict."""
    preds = []
    for term in _split(text or ""):
        m = _SET.match(term)
        if m:
            key, op, vals = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",") if v.strip()}
            if op == "in":
                preds.append(lambda lb, k=key, v=vals: k in lb and lb[k] in v)
            else:
                preds.append(lambda lb, k=key, v=vals: k not in lb or lb[k] not in v)
        elif "!=" in term:
            key, val = [s.strip() for s in term.split("!=", 1)]
            preds.append(lambda lb, k=key, v=val: lb.get(k) != v)
        elif "==" in term:
            key, val = [s.strip() for s in term.split("==", 1)]
            preds.append(lambda lb, k=key, v=val: lb.get(k) == v)
        elif "=" in term:
            key, val = [s.strip() for s in term.split("=", 1)]
            preds.append(lambda lb, k=key, v=val: lb.get(k) == v)
        elif term.startswith("!"):
            key = term[1:].strip()
            preds.append(lambda lb, k=key: k not in lb)
        elif re.match(r"^[A-Za-z0-9./_-]+$", term):
            preds.append(lambda lb, k=term: k in lb)
        else:
            raise SelectorError("unable to parse requirement: %r" % term)
    return preds


def match_labels(preds, labels):
    labels = labels or {}
    return all(p(labels) for p in preds)


def _field(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def parse_fields(text):
    preds = []
    for term in _split(text or ""):
        neg = "!=" in term
        sep = "!=" if neg else ("==" if "==" in term else "=")
        if sep not in term:
            raise SelectorError("invalid field selector: %r" % term)
        key, val = [s.strip() for s in term.split(sep, 1)]
        if neg:
            preds.append(lambda o, k=key, v=val: str(_field(o, k) or "") != v)
        else:
            preds.append(lambda o, k=key, v=val: str(_field(o, k) or "") == v)
    return preds


def match_fields(preds, obj):
    return all(p(obj) for p in preds)


def selector_matches(selector, labels):
    """A LabelSelector object ({matchLabels, matchExpressions}) against labels."""
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, vals = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in vals:
            return False
        if op == "NotIn" and key in labels and labels[key] in vals:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
