"""Runs `artworkflow train ARGS...` with one function wrapped so that a test can SIGKILL the process
at an exact point instead of relying on timing:

    python killpoint.py MODULE:ATTR NEEDLE NTH MARKER [partial] -- ARGS...

On the NTH call of MODULE.ATTR whose first argument's text contains NEEDLE (an empty NEEDLE matches
every call), the wrapper writes MARKER and waits until killed, or until the file MARKER.go appears
and then goes on with the call (a test that sends a signal instead of a kill lets it go on). With
``partial`` it first deletes one file under that first argument, as an interrupted
``shutil.rmtree`` would. Only this process is patched; the project itself has no hook."""
from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    target, needle, nth, marker, *rest = argv
    partial = rest[:1] == ["partial"]
    args = rest[rest.index("--") + 1:]
    module_name, attr = target.split(":")
    module = importlib.import_module(module_name)
    real = getattr(module, attr)
    seen = [0]

    def wrapped(*a, **kw):
        if a and (not needle or needle in str(a[0])):
            seen[0] += 1
            if seen[0] == int(nth):
                if partial:
                    next(p for p in sorted(Path(a[0]).rglob("*")) if p.is_file()).unlink()
                Path(marker).write_text(f"{target} call {nth} on {a[0]}\n")
                while not Path(marker + ".go").exists():
                    time.sleep(0.05)
        return real(*a, **kw)

    setattr(module, attr, wrapped)
    from artworkflow.cli import main as cli_main
    return cli_main(["train", *args])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
