"""Hypothesis strategies for resque jobs, for property tests of code that uses pyresque.

Values drawn here can be enqueued in the given dialect and read back equal, and (for the
node dialect) passed through JavaScript unchanged: integers stay within ``±(2**53 - 1)``,
floats are finite, strings hold no lone surrogates unless asked for.

>>> from hypothesis import given
>>> from pyresque.testing.strategies import job_args
>>> @given(job_args())
... def test_round_trip(args): ...
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = ["class_names", "job_args", "json_values", "queue_names"]

SAFE_INT = 2**53 - 1


def json_values(
    *,
    dialect: str = "node",
    max_leaves: int = 12,
    surrogates: bool = False,
) -> st.SearchStrategy[Any]:
    """JSON values (None, bools, ints, finite floats, text, lists, str-keyed dicts).

    node: integers JavaScript represents exactly, floats below 2**53 in magnitude (JavaScript
    writes a larger float as integer digits, which Python reads back as an int with the same
    double value but not an equal one), and some array-index keys (``"7"``), which
    JavaScript orders first; ruby: any integer size.
    """
    bound = SAFE_INT if dialect == "node" else 2**70
    floats = st.floats(allow_nan=False, allow_infinity=False)
    if dialect == "node":
        floats = st.floats(-float(SAFE_INT), float(SAFE_INT), allow_nan=False)
    alphabet = st.characters() if surrogates else st.characters(exclude_categories=["Cs"])
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-bound, bound),
        floats,
        st.text(alphabet, max_size=16),
    )
    keys = st.text(alphabet, max_size=8)
    if dialect == "node":
        keys = st.one_of(keys, st.integers(0, 99).map(str))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def job_args(*, dialect: str = "node", max_size: int = 4) -> st.SearchStrategy[list[Any]]:
    """A job's ``args`` list."""
    return st.lists(json_values(dialect=dialect), max_size=max_size)


def queue_names() -> st.SearchStrategy[str]:
    """Queue names that are not blank (the peers drop blank key parts)."""
    return st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=20).filter(
        lambda name: name.strip() != ""
    )


def class_names(*, ruby: bool = False) -> st.SearchStrategy[str]:
    """Job class names; ``ruby=True`` gives constant paths Ruby can resolve
    (``Billing::Invoice``)."""
    if ruby:
        return st.from_regex(r"\A[A-Z][A-Za-z0-9]{0,10}(::[A-Z][A-Za-z0-9]{0,10}){0,2}\Z")
    return st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.:-]{0,30}\Z")
