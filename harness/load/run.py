"""``python -m harness load --scenario NAME``: bring the estate up, load it with Locust while
the scenario's fault timeline runs, collect every counter, judge the invariants.

Each run gets a fresh estate from a topology derived from topology.yaml (its own state folder,
the scenario's token lifetime, retry and health-check periods scaled to it) and a report
folder ``reports/<scenario>-<time>/`` with Locust's CSV and HTML report, the counters of IMS,
Analytics, the load balancer and every node, the derived topology, the estate's log and the
verdict.

The state folder (sealed tokens, the keyring, the balancer's cookie key, the simulated IMS's
signing key) is never in the report, which people share: it is a private temporary folder,
removed after the run, or ``keep_state`` when asked for, which must lie outside the reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TextIO

import aiohttp

from core.topology import (
    Topology,
    write_topology,
)
from harness.errors import NotOurEstate
from harness.estate.control import EstateControl
from harness.estate.hosts import HostPlan, NetworkHosts
from harness.estate.processes import child_environment, services_of
from harness.estate.redis_server import RedisPlan, redis_server
from harness.estate.supervisor import Supervisor
from harness.load.derive import derive_topology
from harness.load.facts import Happened
from harness.load.invariants import RunData
from harness.load.locust_run import Workers, run_locust
from harness.load.options import LoadOptions
from harness.load.sampler import Sampler
from harness.load.scenarios import Scenario, Step
from harness.load.verdict import Verdict, write_report
from harness.results import Check

RUNNING_NOTE = (
    "This run used an estate that was already running: its counters (token calls, 401s, "
    "peak concurrent token calls) include what happened before the run."
)


async def run_scenario(
    base: Topology,
    scenario: Scenario,
    options: LoadOptions,
    *,
    on_started: Callable[[], None] | None = None,
) -> Verdict:
    """Run ``scenario`` on an estate of ``base`` (a fresh one, or with ``options.running``
    the one already running at its ports) and judge its invariants. ``on_started`` is called
    once a fresh estate listens on every port it took (or it failed to start)."""
    if scenario.needs_hosts and (options.running or not options.hosts):
        raise NotOurEstate(f"{scenario.name} cuts a host off the network: run it with --hosts")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    label = "-".join(
        [
            scenario.name,
            options.design.label,
            *([] if options.sticky else ["unsticky"]),
        ]
    )
    folder = options.out / f"{label}-{stamp}"
    folder.mkdir(parents=True)
    if options.running:
        data = await _load_running(base, scenario, options, folder)
    else:
        data = await _load_own(base, scenario, options, folder, on_started or _nothing)
    verdict = Verdict(
        scenario.name,
        folder,
        tuple(Check(inv.name, *inv.check(data)) for inv in scenario.invariants),
        data,
    )
    write_report(folder, data, verdict)
    return verdict


def _nothing() -> None:
    return None


async def _load_own(
    base: Topology,
    scenario: Scenario,
    options: LoadOptions,
    folder: Path,
    on_started: Callable[[], None],
) -> RunData:
    """A fresh estate, started for this run and stopped after it."""
    plan = HostPlan.new() if options.hosts else None
    redis = None
    if options.store == "redis":  # on the bridge with hosts: every host reaches it
        redis = RedisPlan.new(plan.gateway if plan else "127.0.0.1", dict(os.environ))
    if scenario.extra_publishers and (options.lb_engine or "builtin") != "builtin":
        raise NotOurEstate(f"{scenario.name} registers targets: run it on the built-in balancer")
    with _state_folder(options) as state:
        topology, topology_path = derive_topology(
            base,
            folder,
            options,
            state,
            plan,
            extra_publishers=scenario.extra_publishers,
            redis=redis,
        )
        return await _run_own(
            scenario, options, folder, topology, topology_path, plan, redis, state, on_started
        )


@contextlib.contextmanager
def _state_folder(options: LoadOptions) -> Iterator[Path]:
    """Where the run's tokens and keys live: private (0700), outside the report folder."""
    if options.keep_state is not None:
        kept = options.keep_state.resolve()
        if kept.is_relative_to(options.out.resolve()):
            raise NotOurEstate(f"--keep-state {kept}: not under {options.out}, which is shared")
        kept.mkdir(mode=0o700, parents=True, exist_ok=True)
        yield kept
        return
    state = Path(tempfile.mkdtemp(prefix="tokensim-state-"))
    try:
        yield state
    finally:
        shutil.rmtree(state, ignore_errors=True)


async def _run_own(
    scenario: Scenario,
    options: LoadOptions,
    folder: Path,
    topology: Topology,
    topology_path: Path,
    plan: HostPlan | None,
    redis: RedisPlan | None,
    state: Path,
    on_started: Callable[[], None],
) -> RunData:
    env, _ = child_environment(topology, {**os.environ, **(redis.environment() if redis else {})})
    duration = scenario.lifetimes * options.lifetime
    hosts = None if plan is None else NetworkHosts(plan, [p.id for p in topology.publishers])
    with (folder / "estate.log").open("w") as log:
        supervisor = Supervisor(env, log=log, report=lambda line: _log_line(log, line))
        try:
            if hosts is not None:
                hosts.create()
            async with contextlib.AsyncExitStack() as stack:
                if redis is not None:
                    await stack.enter_async_context(
                        redis_server(redis, state, folder / "redis.log")
                    )
                    stack.push_async_callback(supervisor.stop_all)  # the nodes before the store
                specs = services_of(
                    topology, topology_path, hosts=hosts, log_level=options.log_level
                )
                down = _starting_down(topology, scenario.starts_down)
                try:
                    await supervisor.start_all([s for s in specs if s.id not in down], timeout=30)
                finally:
                    on_started()
                async with aiohttp.ClientSession() as http:
                    control = EstateControl(
                        {s.id: s for s in specs}, http, supervisor, hosts, topology=topology
                    )
                    for dispatcher in sorted(down - scenario.starts_down):
                        await control.target(dispatcher, "deregister")  # not in the tier yet
                    workers = _workers(options, plan, hosts, topology)
                    return await _load(
                        control, scenario, options, folder, topology, duration, workers
                    )
        finally:
            await supervisor.stop_all()
            if hosts is not None:
                hosts.remove()


def _workers(
    options: LoadOptions, plan: HostPlan | None, hosts: NetworkHosts | None, topology: Topology
) -> Workers:
    """Locust's workers for the run: on this machine, or with hosts on the publishers' hosts
    in turn, reaching the master over the bridge as they would from other machines."""
    if not options.workers:
        return Workers()
    if plan is None or hosts is None:
        return Workers(count=options.workers)
    return Workers(
        count=options.workers,
        bind=plan.gateway,
        prefixes=tuple(hosts.prefix(p.id) for p in topology.publishers),
    )


def _log_line(log: TextIO, line: str) -> None:
    log.write(line + "\n")
    log.flush()


def _starting_down(topology: Topology, publishers: frozenset[str]) -> set[str]:
    """The publishers not up at the start, and the dispatchers in front of them."""
    dispatchers = {d.id for d in topology.dispatchers if d.publisher in publishers}
    return set(publishers) | dispatchers


async def _load_running(
    base: Topology, scenario: Scenario, options: LoadOptions, folder: Path
) -> RunData:
    """The estate already running (``harness up``) at the topology's ports, as it is: its
    token lifetime, its counters since it started. Faults are put back afterwards."""
    if scenario.needs_own_estate:
        raise NotOurEstate(
            f"{scenario.name} kills and restarts a publisher: run it without --running"
        )
    topology = base
    path = write_topology(topology, folder / "topology.yaml")
    (folder / "NOTE.txt").write_text(RUNNING_NOTE + "\n")
    specs = {s.id: s for s in services_of(topology, path)}
    lifetime = topology.simulation.ims.expires_in
    run_options = replace(options, lifetime=lifetime)
    sim = topology.simulation
    async with aiohttp.ClientSession() as http:
        control = EstateControl(specs, http)
        try:
            return await _load(
                control,
                scenario,
                run_options,
                folder,
                topology,
                scenario.lifetimes * lifetime,
                Workers(count=options.workers),
            )
        finally:
            await control.faults("ims", **sim.ims.faults.model_dump())
            await control.faults("analytics", **sim.analytics.faults.model_dump())


async def _load(
    control: EstateControl,
    scenario: Scenario,
    options: LoadOptions,
    folder: Path,
    topology: Topology,
    duration: float,
    workers: Workers,
) -> RunData:
    analytics = topology.analytics
    if analytics.report_refresh > 0 and not analytics.published:
        # Room for a first call that times out and the retry after it (seen on a slow VM).
        await control.wait_for_first_reports(limit=2 * (analytics.timeout + topology.ims.timeout))
    # Visitors reach the site through the CDN when there is one (edge-cached), else the balancer.
    lb = control.url("cdn") if "cdn" in control.specs else control.url("lb")
    started = time.time()
    locust = asyncio.create_task(
        run_locust(
            lb,
            folder,
            users=options.users,
            seconds=duration,
            shape=scenario.shape or "constant",
            token_lifetime=options.lifetime,
            workers=workers,
        )
    )
    timeline = asyncio.create_task(_run_timeline(control, scenario.timeline, options, started))
    sampler = Sampler(control, started, every=max(0.2, options.lifetime / 24))
    sampling = asyncio.create_task(sampler.run(until=started + duration))
    result = await locust
    await asyncio.wait_for(timeline, timeout=90)
    await asyncio.wait_for(sampling, timeout=30)
    await sampler.sample()  # the end of the run: its Analytics counters are the run's
    collected = time.time()
    ims = await control.get_json(f"{control.url('ims')}/admin/stats")
    settings = topology.token
    limit = topology.simulation.analytics.rate_limit
    trace = sampler.trace(
        options.design.label,
        horizon=duration,
        lifetime=options.lifetime,
        issued_log=ims.get("issued_log", []),
        limit_per_minute=limit.requests * 60 / limit.per if limit.enabled else None,
        rate_window=limit.per,
        faults=scenario.faults(control.events, started),
        locust_folder=folder,
    )
    return RunData(
        scenario=scenario.name,
        strategy=settings.strategy,
        lifetime=options.lifetime,
        duration=duration,
        users=options.users,
        publishers=control.publishers,
        refresh_at=settings.refresh_at,
        refresh_jitter=settings.refresh_jitter,
        retry_cap=settings.retry.cap,
        expiry_margin=settings.expiry_margin,
        locust=result,
        ims=ims,
        analytics=sampler.analytics[-1]
        or await control.get_json(f"{control.url('analytics')}/admin/stats"),
        lb=await control.get_json(f"{control.admin_url('lb')}/lb/status"),
        nodes={
            n: await control.get_json(f"{control.url(n)}/status")
            for n in control.running_publishers
        },
        events=control.events,
        measured=control.measured,
        started_wall=started,
        collected_wall=collected,
        trace=trace,
        token_holders=(
            [topology.author.id]
            if topology.author is not None and topology.analytics.published
            else None
        ),
        exits=_exits(control.exits, tuple(e.describe() for e in result.worker_exits)),
    )


def _exits(services: tuple[str, ...] | None, workers: tuple[str, ...]) -> tuple[str, ...] | None:
    """What exited unasked: the estate's services (None: not watched) and Locust's workers."""
    if services is None and not workers:
        return None
    return (*(services or ()), *workers)


async def _run_timeline(
    control: EstateControl, steps: tuple[Step, ...], options: LoadOptions, started: float
) -> None:
    for step in sorted(steps, key=lambda s: s.at):
        delay = started + step.at * options.lifetime - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        control.events.append(Happened(step.kind, step.nodes, step.label, time.time()))
        await step.action(control)
