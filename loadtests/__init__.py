"""Locust load tests of the estate. Runs under gevent: nothing here imports the asyncio
services; the estate is started as processes by ``python -m harness load`` and reached over
HTTP through the load balancer."""
