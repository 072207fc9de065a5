"""`artworkflow app`: start the web app on a trained model, or on the demo model shipped with the
package. Gradio is imported only here and in ``ui``, so the rest of the CLI works without it."""
from __future__ import annotations

import argparse
import atexit
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..cli import command
from ..data.images import MAX_SIDE
from ..errors import ArtworkflowError, ConfigError
from .state import default_model_path

if TYPE_CHECKING:
    import gradio as gr

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_MAX_FILE_SIZE = "10mb"
DEFAULT_MAX_SESSIONS = 200
"""Browser sessions whose state is kept in memory; beyond it the least recently used one is dropped,
so the server's memory stays bounded however many tabs are opened."""


def _import_gradio() -> None:
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ArtworkflowError("the web app needs Gradio; install it with: pip install -e \".[app]\" "
                               "(or pip install \"gradio>=6,<7\")") from None


def _stop(signum: int, frame: object) -> None:
    """Let a service manager's SIGTERM stop the server like Ctrl-C does, so the output folder is removed."""
    raise KeyboardInterrupt


def launch(model: str | os.PathLike | None = None, *, host: str = "127.0.0.1", port: int | None = 7860,
           device: str = "cpu", vgg_weights: str | os.PathLike | None = None,
           output_dir: str | os.PathLike | None = None, concurrency: int = 1,
           max_file_size: str | int = DEFAULT_MAX_FILE_SIZE, max_side: int = MAX_SIDE,
           max_sessions: int = DEFAULT_MAX_SESSIONS, block: bool = True, quiet: bool = False) -> tuple[gr.Blocks, str]:
    """Build the app and serve it; returns (app, local URL) once it stops (``block``) or at once.

    Nothing leaves the machine: analytics, share links, server-side rendering and the MCP server
    are off, and only ``output_dir`` (a temporary folder removed on exit unless given), which also
    holds Gradio's upload and example caches, is served."""
    if concurrency < 1:
        raise ConfigError(f"--concurrency must be >= 1, got {concurrency}")
    if max_sessions < 1:
        raise ConfigError(f"--max-sessions must be >= 1, got {max_sessions}")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    model_path = Path(model) if model is not None else default_model_path()
    if output_dir is None:
        out = Path(tempfile.mkdtemp(prefix="artworkflow-app-")).resolve()
        atexit.register(shutil.rmtree, out, ignore_errors=True)
    else:
        out = Path(output_dir).resolve()
        out.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(out / "uploads")
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(out / "examples")
    _import_gradio()

    from ..pipeline import WorkflowPipeline
    from .ui import APP_CSS, build_app

    pipeline = WorkflowPipeline.from_pretrained(model_path, device=device)
    demo = build_app(pipeline, output_dir=out / "downloads", device=device, vgg_weights=vgg_weights,
                     concurrency=concurrency, max_side=max_side,
                     title=f"artworkflow · {' → '.join(pipeline.names)}")
    if block and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
    if host not in LOCAL_HOSTS and not quiet:
        print(f"warning: listening on {host}: anyone who can reach this machine can use the app (there is no login)")
    try:
        _, url, _ = demo.launch(
            server_name=host, server_port=port, share=False, inbrowser=False, prevent_thread_lock=not block,
            allowed_paths=[str(out)], max_file_size=max_file_size, ssr_mode=False, pwa=False, mcp_server=False,
            enable_monitoring=False, run_history=False, footer_links=["api", "settings"],
            state_session_capacity=max_sessions, quiet=quiet, css=APP_CSS)
    except OSError:
        raise ArtworkflowError(f"cannot listen on {host}:{port}: the port is in use or the address is not one of "
                               "this machine's; pass another --port or --host") from None
    return demo, url


@command("app")
def _app(a: argparse.Namespace) -> None:
    launch(a.model, host=a.host, port=a.port, device=a.device, vgg_weights=a.vgg_weights, output_dir=a.output_dir,
           concurrency=a.concurrency, max_file_size=a.max_file_size, max_side=a.max_side,
           max_sessions=a.max_sessions)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="web app: create artwork stage by stage, or take finished artwork apart and edit it",
                       description="Start the interactive web app on this machine. Without --model it uses the demo "
                       "model shipped with the package. It listens on 127.0.0.1 unless --host says otherwise and "
                       "makes no network requests of its own.")
    p.add_argument("--model", help="run folder or saved model folder (default: the bundled demo model)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; 0.0.0.0 exposes the app to the network, without a login")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--vgg-weights", help="VGG16 weights for the perceptual term of the reconstruction "
                   "(default: $ARTWORKFLOW_VGG16 or the torch hub cache; without them the loss is ℓ1 only)")
    p.add_argument("--output-dir", help="where downloads and uploads are kept (default: a temporary folder "
                   "removed on exit); the only folder the app serves files from")
    p.add_argument("--concurrency", type=int, default=1, help="model computations that may run at once")
    p.add_argument("--max-file-size", default=DEFAULT_MAX_FILE_SIZE, help="largest upload, e.g. 10mb")
    p.add_argument("--max-side", type=int, default=MAX_SIDE, help="largest accepted image side in pixels")
    p.add_argument("--max-sessions", type=int, default=DEFAULT_MAX_SESSIONS,
                   help="browser sessions kept in memory; beyond this the least recently used is dropped")
