"""Domain error types. Services raise these; core.problems turns them into RFC 9457 responses."""


class DomainError(Exception):
    """Base of every error a service raises on purpose.

    `code` is a stable machine-readable string from the app's error_codes.py,
    `status` the HTTP status the API answers with.
    """

    code = "domain_error"
    status = 400
    title = "Request cannot be processed"

    def __init__(self, detail: str, *, code: str | None = None, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra


class NotFound(DomainError):
    status = 404
    title = "Not found"
    code = "not_found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"
    code = "conflict"


class IllegalTransition(Conflict):
    title = "Illegal status transition"
    code = "illegal_transition"


class ValidationFailed(DomainError):
    status = 422
    title = "Validation failed"
    code = "validation_failed"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        code: str | None = None,
        **extra: object,
    ) -> None:
        super().__init__(detail, code=code, **extra)
        self.errors = errors or []
