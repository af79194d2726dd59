"""One delivery attempt of one event: check the destination, sign, POST, with quick retries.

An *attempt* (the unit the ladder counts) is one or more HTTP *tries*: blips (refused
connection, 5xx without Retry-After) get a few jittered in-process retries before the event
goes to the durable ladder. Every try re-checks the destination and signs with a fresh
timestamp; the ``webhook-id`` never changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from prometheus_client import Counter, Histogram
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_result,
    stop_after_attempt,
    wait_random_exponential,
)

from mtq.core.callback_policy import NetworkPolicy, UnusableCallback
from mtq.core.errors import ConfigError
from mtq.core.settings import Settings
from webhooks.events import ResultMessage
from webhooks.http.connections import ConnectionPools
from webhooks.http.ssrf import (
    CachingResolver,
    Destination,
    NotCached,
    ResolutionFailed,
    Resolver,
    resolve_destination,
    system_resolver,
)
from webhooks.http.transport import HttpLimits, HttpResult, post
from webhooks.metrics import DispatcherMetrics, status_class
from webhooks.pacing.pace import Feedback, Signal
from webhooks.policy import (
    RETRY_AFTER_STATUSES,
    Decision,
    Park,
    Verdict,
    classify,
    decide,
    parse_retry_after,
)
from webhooks.signing import SigningKey, parse_secrets, sign_headers

log = logging.getLogger(__name__)

USER_AGENT = "mtq-webhooks/1"
DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024
MAX_TOTAL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class DeliveryConfig:
    keys: tuple[SigningKey, ...]
    policy: NetworkPolicy
    http: HttpLimits
    schedule: tuple[int, ...]
    quick_retries: int = 3
    quick_wait_max_s: float = 2.0
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    dns_ttl_s: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        """Validate every webhook setting; raise ConfigError naming the one that is wrong."""
        keys = parse_secrets(settings.webhook_secret)
        if not settings.webhook_retry_schedule_s or min(settings.webhook_retry_schedule_s) < 1:
            raise ConfigError("MTQ_WEBHOOK_RETRY_SCHEDULE_S needs one or more delays >= 1 s")
        if not 0 < settings.webhook_connect_timeout_s <= settings.webhook_timeout_s:
            raise ConfigError(
                "MTQ_WEBHOOK_CONNECT_TIMEOUT_S must be > 0 and <= MTQ_WEBHOOK_TIMEOUT_S"
            )
        if settings.webhook_timeout_s > MAX_TOTAL_TIMEOUT_S:
            raise ConfigError(f"MTQ_WEBHOOK_TIMEOUT_S must be at most {MAX_TOTAL_TIMEOUT_S:g}")
        if settings.webhook_quick_retries < 0:
            raise ConfigError("MTQ_WEBHOOK_QUICK_RETRIES must be 0 or more")
        for name in ("webhook_concurrency", "webhook_per_host", "dispatcher_prefetch"):
            if getattr(settings, name) < 1:
                raise ConfigError(f"MTQ_{name.upper()} must be at least 1")
        if settings.webhook_dns_ttl_s < 0:
            raise ConfigError("MTQ_WEBHOOK_DNS_TTL_S must be 0 (resolve every try) or more")
        if not settings.webhook_allow_ports:
            raise ConfigError("MTQ_WEBHOOK_ALLOW_PORTS is empty: no callback could be reached")
        return cls(
            keys=keys,
            policy=NetworkPolicy.from_settings(settings),
            http=HttpLimits(
                connect_timeout_s=settings.webhook_connect_timeout_s,
                total_timeout_s=settings.webhook_timeout_s,
                max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES,
            ),
            schedule=tuple(settings.webhook_retry_schedule_s),
            quick_retries=settings.webhook_quick_retries,
            dns_ttl_s=settings.webhook_dns_ttl_s,
        )


@dataclass(frozen=True)
class Outcome:
    """The result of one attempt (its last try)."""

    verdict: Verdict
    status: int | None = None
    error: str = ""
    retry_after_s: float | None = None
    park_reason: str | None = None  # set for permanent refusals (blocked, invalid, too large)
    # What each HTTP try of the attempt said about the host's load (webhooks/pacing/pace.py).
    feedback: tuple[Feedback, ...] = ()

    def decision(self, attempt: int, schedule: tuple[int, ...]) -> Decision:
        if self.park_reason is not None:
            return Park(reason=self.park_reason, attempt=attempt)
        return decide(self.verdict, attempt, schedule, self.retry_after_s)


class Deliverer:
    """Delivers events. HTTP runs on the event loop; ``executor`` only looks names up (the
    system resolver blocks), and only when the cached answer has expired."""

    def __init__(
        self,
        config: DeliveryConfig,
        executor: Executor,
        *,
        resolver: Resolver = system_resolver,
        clock: Callable[[], float] = time.time,
        metrics: DispatcherMetrics | None = None,
    ) -> None:
        self._config = config
        self._metrics = metrics if metrics is not None else DispatcherMetrics()
        self._executor = executor
        self._resolver = CachingResolver(resolver, config.dns_ttl_s)
        self._clock = clock
        self._attempts: dict[tuple[str, str], Counter] = {}
        self._seconds: dict[str, Histogram] = {}
        self.pools = ConnectionPools(ca_certs=config.http.ca_certs,
                                     on_connect=self._metrics.connections_opened.inc)

    async def close(self) -> None:
        await self.pools.close()

    async def deliver(self, event: ResultMessage) -> Outcome:
        if len(event.body) > self._config.max_request_bytes:
            log.error("job %s: event is %d bytes, over the %d-byte request limit; parking",
                      event.job_id, len(event.body), self._config.max_request_bytes)
            return Outcome(Verdict.LADDER, error=f"event is {len(event.body)} bytes",
                           park_reason="request_too_large")
        feedback: list[Feedback] = []
        outcome = await self._try(event, feedback)
        if outcome.verdict is Verdict.QUICK_RETRY and self._config.quick_retries:
            outcome = await self._retry_quickly(event, feedback)
        return dataclasses.replace(outcome, feedback=tuple(feedback))

    async def _retry_quickly(self, event: ResultMessage, feedback: list[Feedback]) -> Outcome:
        """The blip path: up to ``quick_retries`` more tries with jittered waits. The retry
        loop is built only here: on the common path (delivered at once) it was a tenth of
        the dispatcher's own CPU per webhook."""
        # The same waits as one loop of all tries would take: 0.25 s, then 0.5 s, 1 s... (capped).
        wait = wait_random_exponential(multiplier=0.5, max=self._config.quick_wait_max_s)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._config.quick_retries),
            wait=wait,
            retry=retry_if_result(lambda outcome: outcome.verdict is Verdict.QUICK_RETRY),
            retry_error_callback=_last_outcome,
            before_sleep=_log_quick_retry(event, first=2),
        )
        first_wait = random.uniform(0, min(0.25, self._config.quick_wait_max_s))
        log.info("job %s: quick retry 1 of webhook %s in %.2fs", event.job_id,
                 event.webhook_id, first_wait)
        await asyncio.sleep(first_wait)
        outcome: Outcome = await retrying(self._try, event, feedback)
        return outcome

    async def _try(self, event: ResultMessage, feedback: list[Feedback]) -> Outcome:
        outcome = await self.try_once(event)
        feedback.extend(outcome.feedback)
        return outcome

    async def _destination(self, url: str) -> Destination:
        """Check ``url`` and pin an address. A DNS answer still cached is used on the loop;
        only a lookup (blocking ``getaddrinfo``) goes to the executor."""
        try:
            return resolve_destination(url, self._config.policy, self._resolver.cached)
        except NotCached:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, resolve_destination, url,
                                              self._config.policy, self._resolver)

    async def try_once(self, event: ResultMessage) -> Outcome:
        """One HTTP try: destination check, fresh signature, POST."""
        try:
            destination = await self._destination(event.callback_url)
        except UnusableCallback as exc:
            # The host only: callback URLs often carry tokens in their path or query.
            log.warning("job %s: callback on host %s refused (%s): %s", event.job_id,
                        event.host, exc.park_reason, exc.detail)
            self._count_attempt("blocked", "none")
            return Outcome(Verdict.LADDER, error=exc.detail, park_reason=exc.park_reason)
        except ResolutionFailed as exc:
            log.warning("job %s: %s", event.job_id, exc)
            self._count_attempt("failed", "none")
            return Outcome(Verdict.QUICK_RETRY, error=str(exc))
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **sign_headers(self._config.keys, event.webhook_id, timestamp, event.body),
        }
        result = await post(destination, event.body, headers, self._config.http, self.pools)
        if result.status is None and not result.timed_out:
            self._resolver.forget(destination.host)  # refused or reset: the address may move
        return self._judge(event, destination.address, result)

    def _count_attempt(self, outcome: str, status: str) -> None:
        # The labelled children, looked up once: ``labels()`` costs several times ``inc()``.
        counter = self._attempts.get((outcome, status))
        if counter is None:
            counter = self._attempts[(outcome, status)] = self._metrics.attempts.labels(
                outcome=outcome, status_class=status)
        counter.inc()

    def _judge(self, event: ResultMessage, address: str, result: HttpResult) -> Outcome:
        retry_after = None
        if result.status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(result.retry_after, now=self._clock(),
                                            cap_s=float(max(self._config.schedule)))
        verdict = classify(result.status, timed_out=result.timed_out, retry_after=retry_after)
        label = _outcome_label(verdict, result)
        self._count_attempt(label, status_class(result.status))
        seconds = self._seconds.get(label)
        if seconds is None:
            seconds = self._seconds[label] = self._metrics.delivery_seconds.labels(outcome=label)
        seconds.observe(result.elapsed_s)
        error = result.error
        if result.status is not None and verdict is not Verdict.DELIVERED and result.body:
            error += ": " + result.body[:200].decode("utf-8", "replace")
        level = logging.INFO if verdict is Verdict.DELIVERED else logging.WARNING
        log.log(level, "job %s: %s %s to %s (%s) -> %s in %.2fs", event.job_id,
                event.event_type, event.webhook_id, event.host, address,
                result.status if result.status is not None else result.error, result.elapsed_s)
        return Outcome(verdict, status=result.status, error=error, retry_after_s=retry_after,
                       feedback=(_feedback(result, retry_after),))


def _feedback(result: HttpResult, retry_after_s: float | None) -> Feedback:
    """Whether the answer speaks of load: no answer, 5xx and 429 do; other answers are prompt."""
    loaded = result.status is None or result.status == 429 or result.status >= 500
    return Feedback(Signal.FAILED if loaded else Signal.OK, result.elapsed_s, retry_after_s,
                    answered=result.status is not None)


def _outcome_label(verdict: Verdict, result: HttpResult) -> str:
    if verdict is Verdict.DELIVERED:
        return "delivered"
    if verdict is Verdict.GONE:
        return "gone"
    return "timeout" if result.timed_out else "failed"


def _last_outcome(state: RetryCallState) -> Outcome:
    assert state.outcome is not None  # tenacity always has one when it stops
    outcome: Outcome = state.outcome.result()
    return outcome


def _log_quick_retry(event: ResultMessage, first: int) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        wait = state.next_action.sleep if state.next_action else 0.0
        log.info("job %s: quick retry %d of webhook %s in %.2fs", event.job_id,
                 state.attempt_number + first - 1, event.webhook_id, wait)
    return before_sleep
