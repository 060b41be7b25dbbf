"""A publisher node: the home page with "most visited pages" from Analytics.

``python -m node --id p1`` serves it; :func:`node.app.create_app` builds it for tests and the
launcher. The token code it uses lives in :mod:`node.token` and does not depend on the rest of
the node, so it can be copied into a real service.
"""
