"""Start the web app (``launch``) on a trained model, or on the demo model shipped with the package,
after checking every server option. Gradio is imported only in ``launch`` and in ``ui``, so the rest of
the package works without it."""
from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..data.images import MAX_SIDE
from ..errors import ArtworkflowError, ConfigError
from . import state as S

if TYPE_CHECKING:
    import gradio as gr

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_MAX_FILE_SIZE = "10mb"
DEFAULT_MAX_SESSIONS = 200
"""Browser sessions whose state is kept in memory; beyond it the least recently used one is dropped,
so the server's memory stays bounded however many tabs are opened."""
MAX_CONCURRENCY = 64
SIZE_UNITS = {"b": 1, "kb": 2**10, "mb": 2**20, "gb": 2**30}
"""Units of ``--max-file-size``, 1024-based as Gradio counts them."""
_SIZE = re.compile(r"(\d+)\s*([kmg]?b)?", re.IGNORECASE)


def parse_file_size(value: str | int) -> int:
    """``--max-file-size`` in bytes, from a whole number of bytes or one followed by b, kb, mb or gb."""
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    else:
        m = _SIZE.fullmatch(str(value).strip())
        n = int(m[1]) * SIZE_UNITS[(m[2] or "b").lower()] if m else 0
    if not 1 <= n <= S.MAX_FILE_SIZE_LIMIT:
        raise ConfigError(f"--max-file-size must be a size such as 10mb, 500kb or 1gb (a whole number followed "
                          f"by b, kb, mb or gb, at most 1gb), got {value!r}")
    return n


def check_device(device: str) -> str:
    """``--device`` as cpu, cuda or cuda:N, refused when this machine has no such CUDA device."""
    text = str(device).strip().lower()
    m = re.fullmatch(r"cpu|cuda(?::(\d+))?", text)
    if m is None:
        raise ConfigError(f"--device must be cpu, cuda or cuda:N, got {device!r}")
    if text != "cpu":
        import torch
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if int(m[1] or 0) >= count:
            have = {0: "no CUDA device", 1: "one CUDA device, cuda:0"}.get(
                count, f"CUDA devices cuda:0 to cuda:{count - 1}")
            raise ConfigError(f"--device {device}: this machine has {have}; use --device cpu"
                              + (" or one of those" if count else ""))
    return text


@dataclass(frozen=True)
class AppOptions:
    """The server's options, each checked (type and range) before anything is loaded or created."""

    port: int | None
    device: str
    concurrency: int
    max_sessions: int
    limits: S.UploadLimits

    @classmethod
    def check(cls, port: int | str | None, device: str, concurrency: int | str, max_sessions: int | str,
              max_side: int | str, max_file_size: int | str) -> AppOptions:
        return cls(None if port is None else S.whole_number(port, "--port", 1, 65535), check_device(device),
                   S.whole_number(concurrency, "--concurrency", 1, MAX_CONCURRENCY),
                   S.whole_number(max_sessions, "--max-sessions", 1),
                   S.UploadLimits(max_side, parse_file_size(max_file_size)))


def output_folder(output_dir: str | os.PathLike | None) -> Path:
    """The folder the app serves: ``output_dir`` (created if missing), or a temporary one removed on exit."""
    if output_dir is None:
        out = Path(tempfile.mkdtemp(prefix="artworkflow-app-")).resolve()
        atexit.register(shutil.rmtree, out, ignore_errors=True)
        return out
    out = Path(output_dir).resolve()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--output-dir {output_dir}: is a file, not a folder; give a folder (it is created if "
                          "missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--output-dir {output_dir}: cannot create it ({e.strerror or e}); give a folder you "
                          "can write to") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"--output-dir {output_dir}: is not writable; give a folder you can write to")
    return out


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
    options = AppOptions.check(port, device, concurrency, max_sessions, max_side, max_file_size)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    model_path = Path(model) if model is not None else S.default_model_path()
    out = output_folder(output_dir)
    os.environ["GRADIO_TEMP_DIR"] = str(out / "uploads")
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(out / "examples")
    _import_gradio()

    from ..pipeline import WorkflowPipeline
    from .ui import APP_CSS, build_app

    pipeline = WorkflowPipeline.from_pretrained(model_path, device=options.device)
    demo = build_app(pipeline, output_dir=out / "downloads", device=options.device, vgg_weights=vgg_weights,
                     concurrency=options.concurrency, max_side=options.limits.max_side,
                     max_file_size=options.limits.max_bytes, title=f"artworkflow · {' → '.join(pipeline.names)}")
    if block and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
    if host not in LOCAL_HOSTS and not quiet:
        print(f"warning: listening on {host}: anyone who can reach this machine can use the app (there is no login)")
    try:
        _, url, _ = demo.launch(
            server_name=host, server_port=options.port, share=False, inbrowser=False, prevent_thread_lock=not block,
            allowed_paths=[str(out)], max_file_size=options.limits.max_bytes, ssr_mode=False, pwa=False,
            mcp_server=False, enable_monitoring=False, run_history=False, footer_links=["api", "settings"],
            state_session_capacity=options.max_sessions, quiet=quiet, css=APP_CSS)
    except OSError:
        raise ArtworkflowError(f"cannot listen on {host}:{options.port}: the port is in use or the address is not "
                               "one of this machine's; pass another --port or --host") from None
    return demo, url
