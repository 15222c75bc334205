"""`python -m caseline.emulator WORLD.json [--port N]`: serve a world file until Ctrl-C (manual testing)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from caseline.emulator.server import serve
from caseline.emulator.world import World


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m caseline.emulator", description=__doc__)
    parser.add_argument("world", type=Path, help="world JSON file (vendor-shaped records, @-3d style times)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    args = parser.parse_args(argv)
    world = World.load(args.world)
    with serve(world, port=args.port) as emu:
        for name, url in emu.base_urls().items():
            print(f"{name}: {url}", flush=True)
        print("serving; Ctrl-C stops", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
