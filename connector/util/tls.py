"""TLS settings shared by every HTTP client: certificates are verified by default, and
``ca_bundle:`` pins the CA(s) a client trusts to one PEM file instead of the system store (a
private CA, or refusing any other CA for that server).

``requests`` takes the verification as one argument (``True``, ``False`` or a bundle path);
``requests_verify`` makes it from the two settings, so no client can get them in the wrong
order. A bundle with ``verify_tls: false`` is a contradiction and refused at start-up
(``check_tls``) rather than silently ignored.
"""

from __future__ import annotations

__all__ = ["CA_BUNDLE_HELP", "check_tls", "readable_bundle", "requests_verify"]

from pathlib import Path

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
