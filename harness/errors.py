"""The one error type for failures a user can fix."""

from __future__ import annotations


class HarnessError(Exception):
    """A user-facing failure: what went wrong and what to do about it.

    The CLI prints these without a traceback and exits non-zero; anything else
    escaping is a bug and keeps its traceback.
    """

    def __init__(self, message: str, fix: str | None = None, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.exit_code = exit_code

    def __str__(self) -> str:
        if self.fix:
            return f"{self.message}\n  fix: {self.fix}"
        return self.message
