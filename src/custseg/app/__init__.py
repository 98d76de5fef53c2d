"""The custseg dashboard (Streamlit). The core never imports this package.

Start it with :func:`launch` (what ``custseg app`` calls) or
``streamlit run src/custseg/app/main.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: The Streamlit script.
MAIN = Path(__file__).with_name("main.py")
#: Largest upload accepted, in MB (also stated next to the uploader).
MAX_UPLOAD_MB = 200


def command(port: int | None = None, headless: bool | None = None,
            max_upload_mb: int = MAX_UPLOAD_MB) -> list[str]:
    """The ``streamlit run`` command line that serves the dashboard.

    Only what the caller gave is passed on (``headless`` None leaves the user's own Streamlit
    settings in charge: ``STREAMLIT_SERVER_HEADLESS``, ``.streamlit/config.toml``), plus two
    options that hold whatever those settings say: Streamlit never asks for an e-mail address
    (``server.showEmailPrompt``; without a credentials file it would otherwise wait at an
    "Email:" prompt, forever on a server with no terminal), and the browser sends no usage
    statistics (the dashboard makes no request to another host).
    """
    cmd = [sys.executable, "-m", "streamlit", "run", str(MAIN),
           "--server.showEmailPrompt", "false",
           "--browser.gatherUsageStats", "false",
           "--server.maxUploadSize", str(max_upload_mb)]
    if headless is not None:
        cmd += ["--server.headless", "true" if headless else "false"]
    if port is not None:
        cmd += ["--server.port", str(port)]
    return cmd


def launch(port: int | None = None, headless: bool | None = None,
           file: str | Path | None = None, max_upload_mb: int = MAX_UPLOAD_MB) -> int:
    """Serve the dashboard until interrupted; Streamlit prints its address.

    Parameters
    ----------
    port:
        Port to listen on; None lets Streamlit choose (8501 or the next free one).
    headless:
        True: do not open a browser window; False: open one; None: as the user's Streamlit
        settings say (Streamlit's default opens one when there is a display).
    file:
        Open on this transaction file instead of the demo data.
    max_upload_mb:
        Upload size limit in MB.

    Returns
    -------
    The server's exit code (0 after Ctrl+C).
    """
    env = dict(os.environ, CUSTSEG_MAX_UPLOAD_MB=str(max_upload_mb))
    if file is not None:
        env["CUSTSEG_APP_FILE"] = str(Path(file).resolve())
    try:
        return subprocess.call(command(port, headless, max_upload_mb), env=env)
    except KeyboardInterrupt:
        return 0


__all__ = ["MAIN", "MAX_UPLOAD_MB", "command", "launch"]
