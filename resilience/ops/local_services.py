"""Project-local PostgreSQL and Mosquitto, started for real on loopback (``resilience services start|stop|status``).

PostgreSQL refuses to run as root, so when we are root the data folder is owned by, and the server run
as, the unprivileged ``postgres`` account (via ``runuser``). Everything lives under ``settings.services_dir``
(``.local/`` in the checkout); a second start is a no-op, stop is clean (fast shutdown, then SIGTERM).
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from resilience.store import bootstrap
from resilience.core.settings import Settings, get_settings

PG_INSTALL_HINT = "apt-get install -y postgresql"
MOSQUITTO_INSTALL_HINT = "apt-get install -y mosquitto"


class ServiceError(RuntimeError):
    """A local service could not be found, started or stopped; the message says what to do."""


def _pg_bindir() -> Path:
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if out:
            candidates.append(Path(out))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise ServiceError(f"PostgreSQL server binaries (initdb, pg_ctl) not found; install them: {PG_INSTALL_HINT}")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def _wait_port(host: str, port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(host, port):
            return
        time.sleep(0.1)
    raise ServiceError(f"{what} did not open {host}:{port} within {timeout:.0f}s")


@dataclass
class ServiceUser:
    """Who runs a server: ourselves, or ``postgres`` via runuser when we are root."""

    name: str | None

    @classmethod
    def for_postgres(cls) -> ServiceUser:
        if os.geteuid() != 0:
            return cls(None)
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServiceError("running as root needs the 'postgres' account: " + PG_INSTALL_HINT) from exc
        return cls("postgres")

    def run(self, cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        full = ["runuser", "-u", self.name, "--", *cmd] if self.name else cmd
        done: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]  # **kw: run's own
            full, text=True, capture_output=True, **kw
        )
        return done

    def own(self, path: Path) -> None:
        if self.name:
            pw = pwd.getpwnam(self.name)
            for p in [path, *path.rglob("*")]:
                try:
                    os.chown(p, pw.pw_uid, pw.pw_gid)
                except FileNotFoundError:
                    continue  # removed since the walk saw it


class LocalPostgres:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.services_dir / "postgres"
        self.data = self.root / "data"
        self.run_dir = self.root / "run"
        self.log = self.root / "postgres.log"
        self.user = ServiceUser.for_postgres()

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists() and _port_open(self.settings.db_host, self.settings.db_port)

    def start(self) -> str:
        if not (self.data / "postmaster.pid").exists() and _port_open(self.settings.db_host, self.settings.db_port):
            # a server this services dir does not own (a shared one) already answers there: use it
            return f"postgres already reachable on {self.settings.db_host}:{self.settings.db_port} (not managed here)"
        bindir = _pg_bindir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(exist_ok=True)
        if self.user.name:  # the postgres account must be able to reach the folder
            for parent in [self.settings.services_dir, *self.settings.services_dir.parents]:
                if parent == Path("/"):
                    break
                os.chmod(parent, os.stat(parent).st_mode | 0o011)
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(exist_ok=True)
            self.user.own(self.root)
            pwfile = self.root / ".pw"
            pwfile.write_text("postgres\n")
            self.user.own(pwfile)
            r = self.user.run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    f"--pwfile={pwfile}",
                ]
            )
            pwfile.unlink()
            if r.returncode != 0:
                raise ServiceError(f"initdb failed: {r.stderr.strip() or r.stdout.strip()}")
            with open(self.data / "postgresql.conf", "a") as conf:
                conf.write(
                    "\n# resilience local settings\nmax_connections = 200\nshared_buffers = 256MB\n"
                    "wal_level = minimal\nmax_wal_senders = 0\nmax_wal_size = 2GB\n"
                    "synchronous_commit = on\nlog_min_messages = warning\n"
                )
        if self.running:  # before owning: a running server creates and deletes files under the walk
            return f"postgres already running on {self.settings.db_host}:{self.settings.db_port}"
        self.user.own(self.root)
        stale = self.data / "postmaster.pid"
        if stale.exists():
            stale.unlink()
        opts = f"-p {self.settings.db_port} -h {self.settings.db_host} -k {self.run_dir}"
        r = self.user.run(
            [str(bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", opts, "start"]
        )
        if r.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise ServiceError(f"pg_ctl start failed: {r.stderr.strip()} {tail}")
        _wait_port(self.settings.db_host, self.settings.db_port, 30, "PostgreSQL")
        self._ensure_role_and_db(bindir)
        return f"postgres started on {self.settings.db_host}:{self.settings.db_port} (data {self.data})"

    def _ensure_role_and_db(self, bindir: Path) -> None:
        s = self.settings
        psql = [
            str(bindir / "psql"),
            "-h",
            s.db_host,
            "-p",
            str(s.db_port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-c",
        ]
        for statement in bootstrap.role_statements(
            owner=s.db_user, owner_password=s.db_password, app=s.db_app_user, app_password=s.db_app_password
        ):
            self.user.run(psql + [statement], check=True)
        exists = self.user.run(psql + [bootstrap.database_exists_query(s.db_name)], check=True)
        if exists.stdout.strip() != "1":
            self.user.run(psql + [bootstrap.create_database_statement(s.db_name, owner=s.db_user)], check=True)

    def stop(self) -> str:
        if not (self.data / "postmaster.pid").exists():
            return "postgres not running"
        r = self.user.run([str(_pg_bindir() / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
        if r.returncode != 0:
            raise ServiceError(f"pg_ctl stop failed: {r.stderr.strip()}")
        return "postgres stopped"


class LocalMosquitto:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.services_dir / "mosquitto"
        self.conf = self.root / "mosquitto.conf"
        self.pid_file = self.root / "mosquitto.pid"

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    @property
    def running(self) -> bool:
        s = self.settings
        return self._pid() is not None and all(_port_open(s.mqtt_host, p) for p in (s.mqtt_port, s.mqtt_device_port))

    def start(self) -> str:
        binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
        if not binary:
            raise ServiceError(f"mosquitto not found; install it: {MOSQUITTO_INSTALL_HINT}")
        if self.running:
            from resilience.ops import broker_accounts as mqtt_auth

            mqtt_auth.sync(self.settings)  # refresh the accounts and SIGHUP it
            return f"mosquitto already running on {self.settings.mqtt_host}:{self.settings.mqtt_port}"
        if self._pid() is not None:  # ours, but not on every listener (an older configuration): restart it
            self.stop()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "data").mkdir(exist_ok=True)
        user = "root" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        from resilience.ops import broker_accounts as mqtt_auth

        mqtt_auth.sync(self.settings, reload=False)  # service accounts + the registry's utilities
        s = self.settings
        self.conf.write_text(
            "# generated by resilience services start: the platform's listener, then the utilities' (whose client\n"
            "# ids are their logins, so no one takes another's session); each listener has its own accounts\n"
            "per_listener_settings true\n"
            f"listener {s.mqtt_port} {s.mqtt_host}\n"
            "allow_anonymous false\n"
            f"password_file {mqtt_auth.password_file(s)}\n"
            f"acl_file {mqtt_auth.acl_file(s)}\n"
            f"listener {s.mqtt_device_port} {s.mqtt_host}\n"
            "allow_anonymous false\n"
            "use_username_as_clientid true\n"
            f"password_file {mqtt_auth.device_password_file(s)}\n"
            f"acl_file {mqtt_auth.device_acl_file(s)}\n"
            f"user {user}\n"
            "persistence true\n"
            f"persistence_location {self.root / 'data'}/\n"
            "autosave_interval 30\n"
            "max_inflight_messages 1000\n"
            "max_queued_messages 1000000\n"
            "max_queued_bytes 0\n"
            "set_tcp_nodelay true\n"
            "persistent_client_expiration 7d\n"
            f"pid_file {self.pid_file}\n"
            f"log_dest file {self.root / 'mosquitto.log'}\n"
            "log_type error\nlog_type warning\n"
        )
        r = subprocess.run([binary, "-c", str(self.conf), "-d"], capture_output=True, text=True)
        if r.returncode != 0:
            raise ServiceError(f"mosquitto failed to start: {r.stderr.strip()}")
        _wait_port(s.mqtt_host, s.mqtt_port, 15, "Mosquitto")
        _wait_port(s.mqtt_host, s.mqtt_device_port, 15, "Mosquitto (device listener)")
        return f"mosquitto started on {s.mqtt_host}:{s.mqtt_port} (platform) and :{s.mqtt_device_port} (utilities)"

    def stop(self) -> str:
        pid = self._pid()
        if pid is None:
            return "mosquitto not running"
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._pid() is not None:
            time.sleep(0.1)
        if self._pid() is not None:
            os.kill(pid, signal.SIGKILL)
        return "mosquitto stopped"


def start_all(settings: Settings | None = None) -> list[str]:
    s = settings or get_settings()
    return [LocalPostgres(s).start(), LocalMosquitto(s).start()]


def stop_all(settings: Settings | None = None) -> list[str]:
    s = settings or get_settings()
    return [LocalMosquitto(s).stop(), LocalPostgres(s).stop()]


def _cmd(args: argparse.Namespace) -> int:
    s = get_settings()
    try:
        if args.action == "start":
            lines = start_all(s)
        elif args.action == "stop":
            lines = stop_all(s)
        else:
            pg, mq = LocalPostgres(s), LocalMosquitto(s)
            reachable = _port_open(s.db_host, s.db_port)
            pg_state = "running" if pg.running else ("reachable, not managed here" if reachable else "stopped")
            lines = [
                f"postgres: {pg_state} ({s.db_host}:{s.db_port})",
                f"mosquitto: {'running' if mq.running else 'stopped'} "
                f"({s.mqtt_host}:{s.mqtt_port}, :{s.mqtt_device_port})",
            ]
    except (ServiceError, subprocess.CalledProcessError) as exc:
        print(f"error: {exc}")
        return 1
    print("\n".join(lines))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("services", help="start/stop/status of project-local PostgreSQL and Mosquitto")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.set_defaults(func=_cmd)
