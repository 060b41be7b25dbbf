"""``python -m harness.virtual.build_engine``: build the C traffic engine
(``harness/virtual/_traffic.c``) next to its source, for this interpreter (``make install``
runs it).

One file, the Python headers and the compiler this Python was built with: no build system.
The flags keep the arithmetic IEEE's and the reference's: no fused multiply-adds
(``-ffp-contract=off``; GCC fuses on a CPU that has them, which would change the last bit),
no fast-math. The module carries a digest of the source it was built from, and a run takes
it only when that is the source beside it (:func:`harness.virtual.engine.compiled`): an edited
``_traffic.c`` is never run stale. Without a compiler, it says so and runs take the reference
engine, which gives the same results more slowly.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from harness.virtual.engine import ENGINE_SOURCE, built_path, source_digest


def compiler() -> list[str] | None:
    """The C compiler this interpreter was built with (``sysconfig``'s CC), else ``cc``."""
    configured = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    for candidate in (configured, ["cc"], ["gcc"], ["clang"]):
        if candidate and shutil.which(candidate[0]):
            return [shutil.which(candidate[0]) or candidate[0], *candidate[1:]]
    return None


def command(cc: list[str], out: Path) -> list[str]:
    include = sysconfig.get_paths()["include"]
    return [
        *cc,
        "-O2",
        "-fPIC",
        "-shared",
        "-ffp-contract=off",
        "-fno-fast-math",
        "-Wall",
        f"-I{include}",
        f'-DTRAFFIC_SOURCE_DIGEST="{source_digest()}"',
        str(ENGINE_SOURCE),
        "-o",
        str(out),
        "-lm",
    ]


def build() -> Path | None:
    """Compile the engine; its path, or None when there is no compiler (said on stderr)."""
    cc = compiler()
    if cc is None:
        print(
            "build_engine: no C compiler found; the virtual world runs on the reference "
            "engine (the same results, several times slower: docs/benchmarks.md)",
            file=sys.stderr,
        )
        return None
    target = built_path()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as scratch:
        out = Path(scratch) / target.name
        done = subprocess.run(  # noqa: S603 - our compiler on our source, no shell
            command(cc, out), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise SystemExit(f"build_engine: the C engine did not compile:\n{done.stderr}")
        os.replace(out, target)  # a run never imports a half-written module
    return target


def main(argv: list[str] | None = None) -> int:
    """``--stamp FILE``: touched once the engine is built (make's record that it is)."""
    args = sys.argv[1:] if argv is None else argv
    built = build()
    if built is not None:
        print(f"build_engine: {built}")
        if args[:1] == ["--stamp"] and len(args) == 2:
            Path(args[1]).touch()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
