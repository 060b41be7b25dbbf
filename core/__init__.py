"""The small shared core every tokensim service builds on.

It holds what services must agree on and nothing else: the topology model and its loader
(:mod:`core.topology`), secrets from the environment (:mod:`core.secrets`), logging with
redaction (:mod:`core.logs`) and the runner that serves an aiohttp application until SIGTERM
(:mod:`core.service`). The token library (:mod:`tokensim_token`, lib/tokensim-token) is below
it: typed secrets, the clock, atomic private files, bounded JSON. Services (``node``,
``upstream``, ``lb``) depend on these, never on each other.
"""
