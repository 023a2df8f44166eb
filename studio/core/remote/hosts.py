"""The machines a user trains on (`studio hosts`): a name, how ssh reaches it, the Python that
has the studio there and the folder it works in. Kept in the user's settings (hosts.json in the
config folder), never in a project file: a project names no machine."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from studio.core.errors import HostError, StudioError
from studio.core.files import atomic_write_text
from studio.core.paths import config_dir

HOSTS_FILE = "hosts.json"
DEFAULT_PYTHON = "python3"
DEFAULT_WORKDIR = "~/.torch-studio"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Host:
    name: str
    url: str  # ssh://user@host:port, or an alias of ~/.ssh/config
    python: str = DEFAULT_PYTHON
    workdir: str = DEFAULT_WORKDIR

    @property
    def destination(self) -> str:
        """What `ssh` is given: user@host, or the alias."""
        return _split(self.url)[0]

    @property
    def port(self) -> int | None:
        return _split(self.url)[1]

    def to_json(self) -> dict:
        return asdict(self)


def _split(url: str) -> tuple[str, int | None]:
    if not url.startswith("ssh://"):
        return url, None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise StudioError(f"{url}: the port is not a number") from None
    if not parts.hostname:
        raise StudioError(f"{url}: no host in it (ssh://user@host[:port])")
    user = f"{parts.username}@" if parts.username else ""
    return f"{user}{parts.hostname}", port


def check_url(url: str) -> str:
    if not url or url.startswith("-") or any(c.isspace() for c in url):
        raise StudioError(f"{url!r}: expected ssh://user@host[:port] or an alias of ~/.ssh/config")
    if "://" in url and not url.startswith("ssh://"):
        raise StudioError(f"{url}: only ssh:// hosts are reached (ssh://user@host[:port])")
    _split(url)
    return url


def hosts_file() -> Path:
    return config_dir() / HOSTS_FILE


def read_hosts() -> dict[str, Host]:
    """The hosts, by name ({} before the first is added); a broken file is one line."""
    path = hosts_file()
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise StudioError(f"{path}: cannot read the hosts ({exc})") from None
    try:
        return {name: Host(name=name, **fields) for name, fields in saved["hosts"].items()}
    except (KeyError, TypeError, AttributeError):
        raise StudioError(
            f"{path}: not a hosts file (expected {{'hosts': {{NAME: ...}}}})"
        ) from None


def _write(hosts: dict[str, Host]) -> None:
    saved = {
        name: {k: v for k, v in h.to_json().items() if k != "name"} for name, h in hosts.items()
    }
    path = hosts_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"hosts": saved}, indent=2) + "\n")
    except OSError as exc:
        raise StudioError(f"{path}: cannot save the hosts ({exc.strerror})") from None


def add_host(host: Host) -> None:
    if not _NAME.match(host.name):
        raise StudioError(
            f"{host.name!r}: a host's name is letters, digits, '.', '_' and '-' (no commas: "
            "--on a,b names two)"
        )
    check_url(host.url)
    hosts = read_hosts()
    hosts[host.name] = host
    _write(hosts)


def remove_host(name: str) -> None:
    hosts = read_hosts()
    if name not in hosts:
        raise StudioError(f"no host named {name!r} (studio hosts list)")
    del hosts[name]
    _write(hosts)


def get_host(name: str) -> Host:
    hosts = read_hosts()
    if name not in hosts:
        known = ", ".join(sorted(hosts)) or "none yet"
        raise HostError(
            f"no host named {name!r} (hosts: {known}; add one: studio hosts add {name} "
            "ssh://user@host)"
        )
    return hosts[name]


def hosts_named(names: str) -> list[Host]:
    """`--on a,b`: the hosts, in order, each once."""
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted or len(set(wanted)) != len(wanted):
        raise StudioError(f"--on {names}: expected a host's name, or several once each: a,b")
    return [get_host(name) for name in wanted]
