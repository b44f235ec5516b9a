"""Capabilities are found once, when the adapters are built: a backend missing a required
method stops the start with its name, and the optional ones become a record the rest of the
connector reads instead of probing the backend."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pluggy
import pytest

from connector import hookimpl
from connector.contracts.adapters import Backend, BackendType, PluginContext, Source
from connector.contracts.capabilities import (
    BackendCapabilities,
    SourceCapabilities,
    check_backend,
    check_notifier,
    check_source,
    protocol_members,
)
from connector.contracts.notifiers import Notifier
from connector.domain.clock import FakeClock
from connector.domain.errors import PluginError
from connector.integrations.zabbix.push import ZabbixWebhookSource
from connector.plugins.local import LocalBackend, LocalSettings
from connector.runtime.app import build_app, load


def test_the_required_members_are_the_protocols_own() -> None:
    assert protocol_members(Backend) == (
        "name",
        "resolves_duplicates",
        "find_by_key",
        "create_ticket",
        "update_ticket",
        "add_note",
        "add_relation",
        "resolve_ticket",
        "add_attachment",
        "changed_since",
        "close",
    )
    assert protocol_members(Source) == ("name", "poll", "acknowledge", "close")
    assert protocol_members(Notifier) == ("name", "needs_recipients", "send", "close")


def test_the_local_backend_has_every_optional_capability_but_documents(tmp_path: Path, clock: FakeClock) -> None:
    backend = LocalBackend(tmp_path / "t.db", clock)
    check_backend(backend, "local")
    caps = BackendCapabilities.of(backend)
    assert caps.users is backend and caps.history is backend and caps.own_login is backend
    assert caps.documents is None and caps.closes_duplicates is False
    assert caps.names == ("UserDirectory", "HistoryReader", "OwnLogin")


def test_a_bare_backend_has_none() -> None:
    class Bare:
        name = "bare"

    assert BackendCapabilities.of(Bare()) == BackendCapabilities()


def test_a_missing_method_is_named(tmp_path: Path, clock: FakeClock) -> None:
    class NoAttachments(LocalBackend):
        add_attachment = None  # type: ignore[assignment]

    class Half:
        name = "half"

        def find_by_key(self, key: str) -> None:
            return None

    with pytest.raises(
        PluginError,
        match=r"plugin 'x': the backend type 'x' built a NoAttachments without add_attachment\(\) "
        r"\(it is not callable\)",
    ):
        check_backend(NoAttachments(tmp_path / "t.db", clock), "x")
    with pytest.raises(
        PluginError, match=r"without resolves_duplicates, create_ticket\(\), update_ticket\(\)"
    ) as caught:
        check_backend(Half(), "half")
    assert "close()" in str(caught.value) and "find_by_key" not in str(caught.value)
    with pytest.raises(
        PluginError,
        match=r"the source type 'y' built a Half without poll\(\), acknowledge\(\), close\(\), "
        "which every Source must have",
    ):
        check_source(Half(), "y")
    with pytest.raises(
        PluginError, match=r"the notifier of channel 'sms' built a Half without needs_recipients, send\(\)"
    ):
        check_notifier(Half(), "sms")


def test_source_capabilities_and_their_defaults() -> None:
    class Quiet:
        name = "quiet"

    class Mailbox:
        name = "mail"
        acknowledge_enabled = False
        on_recovery = "note"
        unknown_senders = "reject"

    assert SourceCapabilities.of(Quiet()) == SourceCapabilities("resolve", True, False, None)
    assert SourceCapabilities.of(Mailbox()) == SourceCapabilities("note", False, True, None)


def test_a_push_source_is_found_as_one(tmp_path: Path) -> None:
    caps = SourceCapabilities.of(ZabbixWebhookSource.__new__(ZabbixWebhookSource))
    assert caps.push is not None


def test_a_backend_without_a_required_method_stops_the_start(
    tmp_path: Path, pm: pluggy.PluginManager, clock: FakeClock
) -> None:
    class Forgetful(LocalBackend):
        """A plugin's backend that forgot to implement ``resolve_ticket``."""

        def __getattribute__(self, name: str) -> Any:
            if name == "resolve_ticket":
                raise AttributeError(name)
            return super().__getattribute__(name)

    class Plugin:
        @hookimpl
        def register_backend_types(self) -> list[BackendType]:
            def build(settings: LocalSettings, ctx: PluginContext) -> Forgetful:
                return Forgetful(ctx.data_dir / settings.path, ctx.clock, ctx.name)

            return [BackendType(name="forgetful", settings=LocalSettings, factory=build)]

    pm.register(Plugin(), name="forgetful")
    config_path = tmp_path / "c.yaml"
    config_path.write_text(
        textwrap.dedent("""
        state: {path: s.db}
        backend: {type: forgetful, path: t.db}
        sources: []
        """)
    )
    config, pm = load(config_path, pm)
    with pytest.raises(PluginError, match=r"plugin 'forgetful': .* without resolve_ticket\(\)"):
        build_app(config, pm, clock=clock)
