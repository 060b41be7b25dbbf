"""The small shared core every tokensim service builds on.

It holds what services must agree on and nothing else: the topology model and its loader
(:mod:`core.topology`), typed secrets (:mod:`core.secrets`), the clock (:mod:`core.clock`),
atomic file writes (:mod:`core.files`), log redaction (:mod:`core.logs`) and the runner that
serves an aiohttp application until SIGTERM (:mod:`core.service`). Services (``node``,
``upstream``, later ``lb``) depend on this package, never on each other.
"""
