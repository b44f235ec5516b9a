"""TLS settings shared by every HTTP client: certificates are verified by default, and
``ca_bundle:`` pins the CA(s) a client trusts to one PEM file instead of the system store (a
private CA, or refusing any other CA for that server).

Every client's settings declare ``ca_bundle: CaBundle = None`` after ``verify_tls``: the field, its
help and both checks in one annotated type, not a validator copied into each settings class.

``requests`` takes the verification as one argument (``True``, ``False`` or a bundle path);
``requests_verify`` makes it from the two settings, so no client can get them in the wrong
order. A bundle with ``verify_tls: false`` is a contradiction and refused at start-up
(``check_tls``) rather than silently ignored.
"""

from __future__ import annotations

__all__ = ["CA_BUNDLE_HELP", "CaBundle", "check_tls", "readable_bundle", "requests_verify"]

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo

CA_BUNDLE_HELP = (
    "PEM file of the CA(s) to trust for this server instead of the system store (a private CA; "
    "also pins the server to that CA); certificates are verified by default"
)


def readable_bundle(value: Path | None) -> Path | None:
    """A ``ca_bundle`` that is a readable file (checked at start-up, not at the first call)."""
    if value is not None and not value.is_file():
        raise ValueError(f"no such file: {value}")
    return value


def check_tls(verify_tls: bool, ca_bundle: Path | None) -> None:
    """Refuse ``ca_bundle`` together with ``verify_tls: false``."""
    if ca_bundle is not None and not verify_tls:
        raise ValueError("ca_bundle is set but verify_tls is false: drop one (a bundle is only used to verify)")


def requests_verify(verify_tls: bool, ca_bundle: Path | None) -> bool | str:
    """The ``verify=`` argument of ``requests`` for these settings."""
    if ca_bundle is not None:
        return str(ca_bundle)
    return verify_tls


def _checked_bundle(value: Path | None, info: ValidationInfo) -> Path | None:
    check_tls(bool(info.data.get("verify_tls", True)), value)
    return readable_bundle(value)


#: a client's ``ca_bundle`` field (declare it after ``verify_tls``, whose value it checks against)
CaBundle = Annotated[Path | None, Field(description=CA_BUNDLE_HELP), AfterValidator(_checked_bundle)]
