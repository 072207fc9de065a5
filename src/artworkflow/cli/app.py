"""`artworkflow app`: the web app's options, checked by ``AppOptions.check`` when it starts."""
from __future__ import annotations

import argparse

from ..app import state as S
from ..app.launch import DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_SESSIONS, MAX_CONCURRENCY, launch
from ..data.images import MAX_SIDE
from .base import command


@command("app")
def _app(a: argparse.Namespace) -> None:
    launch(a.model, host=a.host, port=a.port, device=a.device, vgg_weights=a.vgg_weights, output_dir=a.output_dir,
           concurrency=a.concurrency, max_file_size=a.max_file_size, max_side=a.max_side,
           max_sessions=a.max_sessions)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The `app` command. Numbers and sizes are read as text and checked by ``AppOptions.check``, so
    a bad value gets one line that names the option and what it accepts."""
    p = sub.add_parser("app", help="web app: create artwork stage by stage, or take finished artwork apart and edit it",
                       description="Start the interactive web app on this machine. Without --model it uses the demo "
                       "model shipped with the package. It listens on 127.0.0.1 unless --host says otherwise and "
                       "makes no network requests of its own.")
    p.add_argument("--model", help="run folder or saved model folder (default: the bundled demo model)")
    p.add_argument("--port", default=7860, help="port to listen on, 1 to 65535 (default: 7860)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; 0.0.0.0 exposes the app to the network, without a login "
                   "(default: 127.0.0.1)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument("--vgg-weights", help="VGG16 weights for the perceptual term of the reconstruction "
                   "(default: $ARTWORKFLOW_VGG16 or the torch hub cache; without them the loss is ℓ1 only)")
    p.add_argument("--output-dir", help="where downloads and uploads are kept (default: a temporary folder "
                   "removed on exit); the only folder the app serves files from")
    p.add_argument("--concurrency", default=1,
                   help=f"model computations that may run at once, 1 to {MAX_CONCURRENCY} (default: 1)")
    p.add_argument("--max-file-size", default=DEFAULT_MAX_FILE_SIZE,
                   help=f"largest upload: a whole number followed by b, kb, mb or gb, at most 1gb "
                   f"(default: {DEFAULT_MAX_FILE_SIZE})")
    p.add_argument("--max-side", default=MAX_SIDE,
                   help=f"largest accepted image side in pixels, 1 to {S.MAX_SIDE_LIMIT}, read from the file "
                   f"header before decoding (default: {MAX_SIDE})")
    p.add_argument("--max-sessions", default=DEFAULT_MAX_SESSIONS,
                   help="browser sessions kept in memory; beyond this the least recently used is dropped "
                   f"(default: {DEFAULT_MAX_SESSIONS})")
