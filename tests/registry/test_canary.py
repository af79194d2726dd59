"""MTQ_CANARY's choice of jobs: a pure function of the job id, close to the share asked."""

from __future__ import annotations

import random
import uuid

import pytest

from mtq.core.errors import ConfigError
from mtq.core.events import RegistryRef
from mtq.core.model_routes import Canary, canary_point, parse_canary
from mtq.core.settings import Settings


@pytest.mark.parametrize("share", [0.05, 0.1, 0.25, 0.5])
def test_the_share_is_within_two_points_over_2000_jobs(share: float) -> None:
    canary = Canary("models:/m@challenger", "m", share)

    def taken(ids: list[str]) -> float:
        return sum(canary.takes(job_id) for job_id in ids) / len(ids)

    # The shapes clients use, 2,000 each.
    assert abs(taken([f"job-{n}" for n in range(2000)]) - share) <= 0.02
    assert abs(taken([f"acme/2026-12-{1 + n % 28:02d}/order-{n:05d}"
                      for n in range(2000)]) - share) <= 0.02
    # Random ids: the share of 2,000 is binomial around the target (one standard deviation is
    # 1.1 points at 0.5), so over 50 sets nearly all land within 2 points, and 100,000 ids
    # together within half a point: an unbiased hash, not a lucky draw.
    rng = random.Random(27)
    sets = [[str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(2000)]
            for _ in range(50)]
    shares = [taken(ids) for ids in sets]
    assert sum(abs(s - share) <= 0.02 for s in shares) >= 45, shares
    assert abs(sum(shares) / len(shares) - share) <= 0.005


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


def test_shadow_agreement_of_the_same_and_of_other_output() -> None:
    from worker.registry.shadow import agreement

    same = agreement(["Der Hund schläft.", "Es regnet."], ["Der Hund schläft.", "Es regnet."])
    assert same.chrf == pytest.approx(100) and same.length_ratio == 1.0
    other = agreement(["Der Hund schläft."], ["Die Katze"])
    assert other.chrf < 50 and other.length_ratio == pytest.approx(9 / 17)
