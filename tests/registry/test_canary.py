"""MTQ_CANARY's choice of jobs: a pure function of the job id, close to the share asked."""

from __future__ import annotations

import uuid

import pytest

from mtq.core.errors import ConfigError
from mtq.core.events import RegistryRef
from mtq.core.model_routes import Canary, canary_point, parse_canary
from mtq.core.settings import Settings


@pytest.mark.parametrize("share", [0.05, 0.1, 0.25, 0.5])
def test_the_share_is_within_two_points_over_2000_jobs(share: float) -> None:
    canary = Canary("models:/m@challenger", "m", share)
    for run in range(5):  # five sets of ids, not one lucky draw
        ids = [f"job-{run}-{uuid.uuid4()}" for _ in range(2000)]
        taken = sum(canary.takes(job_id) for job_id in ids) / len(ids)
        assert abs(taken - share) <= 0.02, (run, taken)


def test_the_choice_depends_on_the_job_id_only() -> None:
    canary = parse_canary("models:/opus-en-de@challenger:0.3")
    assert canary == Canary("models:/opus-en-de@challenger", "opus-en-de", 0.3)
    ids = [f"order-{n}" for n in range(500)]
    assert [canary.takes(i) for i in ids] == [canary.takes(i) for i in ids]
    assert all(0 <= canary_point(i) < 1 for i in ids)
    # a smaller share takes a subset of a larger one's jobs (raising it only adds jobs)
    small = Canary(canary.reference, canary.name, 0.1)
    assert all(canary.takes(i) for i in ids if small.takes(i))


@pytest.mark.parametrize("text", ["models:/m@challenger", "models:/m@challenger:1.5",
                                  "models:/m@challenger:0", "models:/m/3:0.1", "m@c:0.1",
                                  "models:/m@challenger:x"])
def test_a_bad_canary_is_one_line_naming_the_setting(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="models:/NAME@ALIAS:SHARE"):
        parse_canary(text)
    monkeypatch.setenv("MTQ_CANARY", text)
    with pytest.raises(ConfigError, match="MTQ_CANARY") as raised:
        Settings.from_env()
    assert "\n" not in str(raised.value)
    assert parse_canary("") is None


def test_the_stamp_names_the_role_only_for_the_canary() -> None:
    assert "role" not in RegistryRef("m", "1", "champion").to_json()
    assert RegistryRef("m", "2", "challenger", role="canary").to_json()["role"] == "canary"
