"""The PostgreSQL rule: no server means a skip with the reason, or a failure where CI needs one."""

from __future__ import annotations

import pytest

from tests.storage.postgres import REQUIRE_ENV, PostgresUnavailable, find_bindir, unavailable


def test_missing_binaries_are_reported_with_the_package_to_install(tmp_path):
    with pytest.raises(PostgresUnavailable, match="apt-get install -y postgresql"):
        find_bindir(str(tmp_path / "*" / "bin" / "initdb"), path=str(tmp_path))


def test_without_the_requirement_the_tests_skip_with_the_reason(monkeypatch):
    monkeypatch.delenv(REQUIRE_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no initdb here; set LCM_REQUIRE_POSTGRES=1"):
        unavailable("no initdb here")


def test_with_the_requirement_the_tests_fail(monkeypatch):
    monkeypatch.setenv(REQUIRE_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="LCM_REQUIRE_POSTGRES=1 but PostgreSQL"):
        unavailable("no initdb here")
