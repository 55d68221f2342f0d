"""Personalize's modelled errors.

A leaf module that every layer may import: resources, jobs and runtime raise these,
and ``protocol.serialize`` turns them into the wire format botocore maps to the
modelled exception classes (``client.exceptions.ResourceNotFoundException`` ...).
Each class is named exactly like the botocore error shape.
"""

from __future__ import annotations

import re

# What a failureReason or a log line keeps of caller text (characters).
CALLER_TEXT_LIMIT = 1024
# C0 and C1 controls, DEL, the Unicode line and paragraph separators (anything that could
# end a log line or hide text on a terminal) and lone surrogates (no UTF-8 holds them).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def clip(text: object, limit: int = CALLER_TEXT_LIMIT) -> str:
    """``text`` made safe to store as a failureReason or to log: control characters
    written as escapes (a newline in an id cannot start a new log line), then cut to
    about ``limit`` characters with a note of how long it was."""
    text = str(text)
    kept = _CONTROL.sub(_escape, text[:limit])
    if len(text) <= limit and len(kept) <= limit:
        return kept
    return f"{kept[:limit]}... ({len(text)} characters in all)"


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape", "backslashreplace").decode()


class PersonalizeError(Exception):
    """Base class: ``code`` is the botocore shape name, ``status`` the HTTP status."""

    code = "InternalFailure"
    status = 400
    # The status on the REST-JSON APIs when botocore's model does not give one.
    rest_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputException(PersonalizeError):
    code = "InvalidInputException"


class ResourceNotFoundException(PersonalizeError):
    code = "ResourceNotFoundException"

    @classmethod
    def for_arn(cls, arn: str) -> ResourceNotFoundException:
        return cls(f"Resource Arn {arn} does not exist.")


class ResourceAlreadyExistsException(PersonalizeError):
    code = "ResourceAlreadyExistsException"


class ResourceInUseException(PersonalizeError):
    code = "ResourceInUseException"


class LimitExceededException(PersonalizeError):
    code = "LimitExceededException"


class InvalidNextTokenException(PersonalizeError):
    code = "InvalidNextTokenException"


class TooManyTagsException(PersonalizeError):
    code = "TooManyTagsException"


class TooManyTagKeysException(PersonalizeError):
    code = "TooManyTagKeysException"


class UnknownOperationException(PersonalizeError):
    """Not modelled by Personalize; what AWS answers for an unknown X-Amz-Target."""

    code = "UnknownOperationException"


class SerializationException(PersonalizeError):
    """Not modelled by Personalize; what AWS answers for a body that is not JSON."""

    code = "SerializationException"


class AuthenticationError(PersonalizeError):
    """A request refused before it reaches an operation: not modelled by Personalize but
    answered by every AWS endpoint (400 on AWS JSON, 403 on REST-JSON)."""

    rest_status = 403


class MissingAuthenticationTokenException(AuthenticationError):
    code = "MissingAuthenticationTokenException"


class IncompleteSignatureException(AuthenticationError):
    code = "IncompleteSignatureException"


class UnrecognizedClientException(AuthenticationError):
    code = "UnrecognizedClientException"


class InvalidSignatureException(AuthenticationError):
    code = "InvalidSignatureException"


class ServiceUnavailable(PersonalizeError):
    """Not modelled by Personalize; AWS's common error for a server that is too busy.
    botocore retries a 503."""

    code = "ServiceUnavailable"
    status = 503


class InternalFailure(PersonalizeError):
    code = "InternalFailure"
    status = 500
