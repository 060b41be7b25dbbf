"""The token designs tokensim compares, built on the token library (:mod:`tokensim_token`).

The library holds what a service copies (the refreshing provider, the sealed token file, the
shared store); this package holds the designs people propose besides it (a leader that
replicates its token, a scheduled job, the naive baseline) and the registry that builds each
strategy from topology.yaml (:mod:`node.token.strategies`).
"""
