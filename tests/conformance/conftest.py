"""The backends the conformance suite runs on, as one parametrized ``harness`` fixture.

* ``local``   — the embedded SQLite helpdesk (``connector.plugins.local``);
* ``glpi``    — the GLPI backend against the stateful fake of GLPI 10's documented API
  (``tests/contract/glpi_fake.py``; GLPI cannot be installed here);
* ``redmine`` — the Redmine backend against the real Redmine 5 of scripts/services/redmine.sh,
  marked ``integration`` (``-m "not integration"`` leaves it out).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import responses
from pydantic import SecretStr

from connector.domain.clock import FakeClock, SystemClock
from connector.integrations.glpi import GlpiBackend, GlpiSettings
from connector.integrations.redmine import RedmineBackend, RedmineSettings
from connector.plugins.local import LocalBackend
from tests.conformance.harness import GlpiHarness, Harness, LocalHarness, RedmineHarness
from tests.contract.glpi_fake import URL, USER_TOKEN, GlpiFake
from tests.integration.conftest import redmine_env  # noqa: F401 - the session fixture, shared

BACKENDS = ["local", "glpi", pytest.param("redmine", marks=pytest.mark.integration)]


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Harness]:
    """Each backend in turn, with an independent view of what it wrote."""
    name = request.param
    if name == "local":
        path = tmp_path / "helpdesk.db"
        yield LocalHarness(backend=LocalBackend(path, clock), clock=clock, path=path)
    elif name == "glpi":
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            fake = GlpiFake(rsps, clock)
            fake.add("RequestType", name="Monitoring")
            settings = GlpiSettings(url=URL, user_token=SecretStr(USER_TOKEN))
            backend = GlpiBackend(settings, clock=clock, session=requests.Session())
            yield GlpiHarness(backend=backend, fake=fake, clock=clock)
            backend.close()
    else:
        env = request.getfixturevalue("redmine_env")
        settings_r = RedmineSettings(
            url=env["REDMINE_URL"],
            api_key=SecretStr(env["REDMINE_API_KEY"]),
            project=env["REDMINE_PROJECT"],
            timeout_seconds=30,
        )
        redmine = RedmineBackend(settings_r)
        yield RedmineHarness(backend=redmine, env=env, clock=SystemClock())
        redmine.close()
