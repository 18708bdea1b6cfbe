"""Sets up isolation in a fresh process, then ``execve``s the untrusted program.

Run as ``python -I -S _launch.py CONFIG_JSON`` by :mod:`archon.sandbox.run`. It is a separate,
single-threaded process on purpose: ``preexec_fn`` in a parent that runs threads (asyncio
executors, Ray workers) can deadlock, and a script has nothing of the parent's state to leak.

This file imports only the standard library and nothing of archon: it runs with ``-I -S``.
A requested isolation step that fails is fatal (exit 125 with a marker line on stderr): the
parent probes once what the machine allows (:func:`archon.sandbox.capabilities`) and requests
only that, so a failure here means the machine changed, never a silent weakening.
"""

import ctypes
import json
import os
import resource
import sys

LAUNCH_ERROR_EXIT = 125
LAUNCH_ERROR_MARK = "archon-sandbox-launch-error:"

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)


def _fail(what: str) -> None:
    sys.stderr.write(f"{LAUNCH_ERROR_MARK} {what}\n")
    sys.stderr.flush()
    os._exit(LAUNCH_ERROR_EXIT)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        _fail(f"{what}: {os.strerror(err)} (errno {err})")


def _unshare(flags: int, what: str) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), f"unshare({what})")


def _mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None, what: str) -> None:
    def enc(s: str | None) -> bytes | None:
        return None if s is None else s.encode()

    _check(_libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), what)


def _first_blocked_ancestor(path: str) -> str | None:
    """The highest directory above ``path`` that "others" cannot traverse, if any."""
    parts = os.path.abspath(path).split(os.sep)[1:]
    current = ""
    for part in parts[:-1]:
        current += os.sep + part
        if not os.stat(current).st_mode & 0o001:
            return current
    return None


def _expose_readonly(prefix: str, stage: str) -> None:
    """Make ``prefix`` (the interpreter's installation) reachable for the sandbox uid when one
    of its ancestors is private (e.g. ``/root/.pyenv/...``): the private ancestor is covered with
    an empty tmpfs (which also hides the rest of it) and only ``prefix`` is bound back, read-only."""
    blocked = _first_blocked_ancestor(prefix)
    if blocked is None:
        return
    os.makedirs(stage, exist_ok=True)
    _mount(prefix, stage, None, MS_BIND | MS_REC, None, f"bind {prefix}")
    _mount("tmpfs", blocked, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755", f"tmpfs on {blocked}")
    os.makedirs(prefix, mode=0o755, exist_ok=True)
    _mount(stage, prefix, None, MS_MOVE, None, f"move to {prefix}")
    _mount(None, prefix, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, None, f"read-only {prefix}")


def _setup_filesystem(cfg: dict) -> str:
    """Private mount namespace. Everything the program can write lives on one size-limited tmpfs:
    ``/tmp`` (its work dir, holding ``main.py``) and the other world-writable places are folders
    of that one mount, so ``max_disk_mb`` caps the total written, not each file (RLIMIT_FSIZE does
    that), and nothing written outlives the run or reaches the host disk."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None, "make / private")
    _expose_readonly(cfg["interpreter_prefix"], cfg["stage_dir"])
    work = cfg["work_dir"]
    with open(os.path.join(work, "main.py"), "rb") as fh:
        program = fh.read()
    disk = cfg["disk_dir"]
    os.makedirs(disk, mode=0o700, exist_ok=True)
    _mount("tmpfs", disk, "tmpfs", MS_NOSUID | MS_NODEV, f"size={int(cfg['max_disk_mb'])}m,mode=0700", f"tmpfs on {disk}")
    owner = (int(cfg["uid"]), int(cfg["gid"])) if cfg.get("uid") is not None else None
    home = os.path.join(disk, "tmp")
    os.mkdir(home, 0o700)
    with open(os.path.join(home, "main.py"), "wb") as fh:
        fh.write(program)
    if owner is not None:
        os.chown(home, *owner)
        os.chown(os.path.join(home, "main.py"), *owner)
    for k, target in enumerate(cfg.get("scratch_mounts", ())):
        if os.path.isdir(target):
            scratch = os.path.join(disk, f"scratch{k}")
            os.mkdir(scratch)
            os.chmod(scratch, 0o1777)
            _mount(scratch, target, None, MS_BIND, None, f"bind scratch on {target}")
    # /tmp last: the folders above live under the host's /tmp, which this mount hides
    _mount(home, "/tmp", None, MS_BIND, None, "bind work dir on /tmp")
    return "/tmp"


def _count_user_processes(uid: int) -> int:
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def main() -> None:
    cfg = json.loads(sys.argv[1])
    features = set(cfg["features"])
    cwd = cfg["work_dir"]

    flags = 0
    if "user_namespace" in features:
        flags |= CLONE_NEWUSER
    if "network" in features:
        flags |= CLONE_NEWNET
    if "filesystem" in features:
        flags |= CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
    if flags:
        _unshare(flags, ",".join(sorted(f for f in features if f in ("user_namespace", "network", "filesystem"))))
    if "filesystem" in features:
        cwd = _setup_filesystem(cfg)
    os.chdir(cwd)

    limits = cfg["limits"]
    nproc = int(limits["nproc"])
    if "uid" not in features:
        # RLIMIT_NPROC counts every process of the real uid: allow what already runs plus the budget.
        nproc += _count_user_processes(os.getuid())
    for name, value in (
        ("RLIMIT_CPU", limits["cpu"]),
        ("RLIMIT_AS", limits["as_bytes"]),
        ("RLIMIT_FSIZE", limits["fsize_bytes"]),
        ("RLIMIT_NPROC", nproc),
        ("RLIMIT_CORE", 0),
        ("RLIMIT_NOFILE", limits["nofile"]),
    ):
        soft = int(value)
        hard = soft + 1 if name == "RLIMIT_CPU" else soft  # SIGXCPU first, then SIGKILL a second later
        try:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        except (ValueError, OSError) as exc:
            _fail(f"setrlimit {name}={value}: {exc}")

    if "uid" in features:
        try:
            os.setgroups([])
            os.setgid(int(cfg["gid"]))
            os.setuid(int(cfg["uid"]))
        except OSError as exc:
            _fail(f"drop privileges to uid {cfg['uid']}: {exc}")
        if os.getuid() == 0 or os.geteuid() == 0:
            _fail("still root after setuid")

    argv = [cfg["interpreter"], "-I", "-S", *cfg["args"]]
    try:
        os.execve(cfg["interpreter"], argv, cfg["env"])
    except OSError as exc:
        _fail(f"exec {cfg['interpreter']}: {exc}")


if __name__ == "__main__":
    main()
