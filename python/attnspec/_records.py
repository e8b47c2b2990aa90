"""Record: one result of the C++ library (a head's report, a stability entry, a layer summary) as an object with
attribute access, whose fields are those docs/report-format.md lists for its kind."""
import types

import numpy as np


class Record(types.SimpleNamespace):
    """Fields as attributes (`r.certified_max_tv`) and items (`r["k"]`); `kind` names the record type."""

    def __init__(self, kind, fields):
        super().__init__(**fields)
        object.__setattr__(self, "_kind", kind)

    @property
    def kind(self):
        """The record type, as docs/report-format.md names it: "head", "spectrum", "stability", ..."""
        return self._kind

    def __getitem__(self, name):
        return getattr(self, name)

    def field_names(self):
        """The fields, in the order reports write them (a head's fields include "queries" and "keys", so these
        are not dict methods)."""
        return [name for name in vars(self) if name != "_kind"]

    def as_dict(self):
        """Nested plain dicts and lists (numpy arrays stay arrays)."""
        return {name: _plain(getattr(self, name)) for name in self.field_names()}

    def __repr__(self):
        shown = []
        for name in self.field_names():
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                shown.append(f"{name}=<{value.size} values>")
            elif isinstance(value, list) and value and isinstance(value[0], Record):
                shown.append(f"{name}=<{len(value)} {value[0].kind} records>")
            elif isinstance(value, Record):
                shown.append(f"{name}=<{value.kind}>")
            else:
                shown.append(f"{name}={value!r}")
        return f"Record[{self._kind}](" + ", ".join(shown) + ")"

    def __eq__(self, other):
        if not isinstance(other, Record) or other.field_names() != self.field_names():
            return False
        return all(_equal(getattr(self, n), getattr(other, n)) for n in self.field_names())


def _plain(value):
    if isinstance(value, Record):
        return value.as_dict()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _equal(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b
