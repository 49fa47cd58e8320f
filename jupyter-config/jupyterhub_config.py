"""JupyterHub with Fink's cutouts: in every user's JupyterLab, and as a hub service.

Run it from a directory the hub may write to (its database, cookie secret, proxy PID file)::

    npm install -g configurable-http-proxy
    pip install "fink-cutout-jupyter[hub]"
    FINK_CUTOUTS_LAKE=/data/fink jupyterhub -f jupyterhub_config.py

The project's tests start the hub with this file unchanged. The login and the spawner are the
trial ones (`DummyAuthenticator`, `SimpleLocalProcessSpawner`): replace those two settings in
production (see docs/how-to/jupyterhub.md); keep the rest.
"""

import os
import shutil
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (given by JupyterHub when it reads this file)

LAKE = os.environ.get("FINK_CUTOUTS_LAKE", "")
if not LAKE:
    raise SystemExit("set FINK_CUTOUTS_LAKE to the lake root (a directory, hdfs:// or s3:// URI)")
SERVICE = "fink-cutouts"
SERVICE_PORT = int(os.environ.get("FINK_CUTOUTS_SERVICE_PORT", "10101"))
ACCESS_SERVICE = f"access:services!service={SERVICE}"

# Who logs in: trial accounts, any password unless FINK_HUB_PASSWORD is set.
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = os.environ.get("FINK_HUB_PASSWORD", "")
c.Authenticator.allowed_users = set(os.environ.get("FINK_HUB_USERS", "alice bob").split())

# Every user's server: a JupyterLab, as a process of the hub's user, home in /tmp/<name>.
c.JupyterHub.spawner_class = "simple"
c.Spawner.default_url = "/lab"
if os.geteuid() == 0:  # the trial spawner runs servers as the hub's user: allow root there
    c.Spawner.args = ["--allow-root"]

# The lake, for every user's extension and CutoutClient (FINK_CUTOUTS_LAKE), and what the HDFS
# client needs to reach it, from the hub's own environment where set (JupyterHub passes none of
# its environment to servers and services). None of these is a secret: credentials (S3 keys, a
# Kerberos ticket cache) stay out of the users' kernels; see docs/how-to/jupyterhub.md.
HDFS_CLIENT = ("JAVA_HOME", "HADOOP_HOME", "HADOOP_CONF_DIR", "ARROW_LIBHDFS_DIR", "CLASSPATH")
LAKE_ENVIRONMENT = {
    "FINK_CUTOUTS_LAKE": LAKE,
    **{name: os.environ[name] for name in HDFS_CLIENT if os.environ.get(name)},
}
c.Spawner.environment = dict(LAKE_ENVIRONMENT)


def give_quickstart(spawner) -> None:
    """Put the quickstart notebook in the user's home if it has none (never overwrite)."""
    from fink_cutout_jupyter.cli import bundled_quickstart

    home = Path(getattr(spawner, "home_dir", "") or os.path.expanduser(f"~{spawner.user.name}"))
    notebook = home / "quickstart.ipynb"
    if not notebook.exists():
        home.mkdir(parents=True, exist_ok=True)
        notebook.write_bytes(bundled_quickstart())
        if os.geteuid() == 0 and home.owner() != "root":
            shutil.chown(notebook, home.owner(), home.group())


c.Spawner.pre_spawn_hook = give_quickstart

# The standalone service, started (and restarted if it exits) by the hub, behind its proxy at
# /services/fink-cutouts/; it answers only tokens with the scope ACCESS_SERVICE.
c.JupyterHub.services = [
    {
        "name": SERVICE,
        "url": f"http://127.0.0.1:{SERVICE_PORT}",
        "command": [
            *(sys.executable, "-m", "fink_cutout_jupyter.cli", "serve"),
            *("--jupyterhub", "--lake", LAKE),
        ],
        "environment": dict(LAKE_ENVIRONMENT),
        "display": True,
    }
]

# Users (their browser sessions and API tokens) and their servers (so a kernel's
# JUPYTERHUB_API_TOKEN) may call the service.
c.JupyterHub.load_roles = [
    {"name": "user", "scopes": ["self", ACCESS_SERVICE]},
    {"name": "server", "scopes": ["users:activity!user", "access:servers!server", ACCESS_SERVICE]},
]
