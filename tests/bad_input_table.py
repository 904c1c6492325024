"""The one runner of the table-driven bad-input suites (``tests/test_bad_inputs*.py``).

A suite is a list of rows ``(case id, callable, expected exception type, phrase)``; every row must
raise that type with a message containing the phrase (the helpful part of the message).
"""

import pytest


def table(cases):
    """``pytest.mark.parametrize`` over the rows, with the case ids as test ids."""
    return pytest.mark.parametrize("call, error, phrase", [c[1:] for c in cases], ids=[c[0] for c in cases])


def assert_clear_error(call, error, phrase: str) -> None:
    """``call()`` raises ``error`` whose message contains ``phrase`` (for a ``KeyError`` the
    message itself, not its quoted repr)."""
    with pytest.raises(error) as info:
        call()
    args = info.value.args
    message = args[0] if len(args) == 1 and isinstance(args[0], str) else str(info.value)
    assert phrase in message, f"message lacks {phrase!r}: {message!r}"
