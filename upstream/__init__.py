"""The simulated outside world: Adobe IMS (``upstream.ims``) and Analytics (``upstream.analytics``).

Both speak the real wire formats (docs/wire-formats.md), count what they see,
and inject faults on command through ``/admin/faults``. IMS signs RS256 and publishes its keys
(``/ims/keys``); Analytics verifies against them over HTTP, as a resource server does. Besides
that they share only IMS's revocations file (:mod:`upstream.ims.keys`).
"""
