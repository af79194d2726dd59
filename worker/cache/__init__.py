"""Never translate the same segment twice: a translation cache and in-flight dedup.

- :mod:`worker.cache.keys`: what an entry is keyed on (hashed).
- :mod:`worker.cache.backends`: the in-process LRU and the shared Redis.
- :mod:`worker.cache.entries`: what an entry holds (translation, confidence, finished).
- :mod:`worker.cache.guard`: timeouts and a circuit breaker, so a cache outage costs nothing
  but hits.
- :mod:`worker.cache.dedup`: identical segments in flight at once are computed once.
- :mod:`worker.cache.reuse`: the facade intake and completion call. docs/cache.md explains it.
"""

from worker.cache.entries import CachedTranslation
from worker.cache.keys import CacheScope
from worker.cache.metrics import CacheMetrics
from worker.cache.reuse import SegmentReuse, check_cache_spec, open_cache

__all__ = ["CacheMetrics", "CacheScope", "CachedTranslation", "SegmentReuse", "check_cache_spec",
           "open_cache"]
