"""The simulated outside world: Adobe IMS (``upstream.ims``) and Analytics (``upstream.analytics``).

Both speak the real wire formats (../shared/reference/wire-formats.md), count what they see,
and inject faults on command through ``/admin/faults``. They share the simulation's signing
keys (:mod:`upstream.signing`) the way the real services share Adobe's, and nothing else.
"""
