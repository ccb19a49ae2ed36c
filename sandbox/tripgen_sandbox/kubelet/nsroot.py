"""The container's view of the filesystem, built in a private mount namespace so a process sees
its volumes at their real mountPath without the host changing.

Run by path with `python -I -S nsroot.py MODE ...` (stdlib only: it must start fast and must not
import the project, whose modules the container's environment could shadow). Modes:

  run SPEC.json -- ARGV...    new mount namespace (plus a user namespace when not root), a tmpfs
                              root holding bind mounts of the host's top-level entries, pivot_root
                              into it, then every volume bind-mounted at its mountPath (read-only
                              where asked), /etc/hosts replaced, cd workingDir, exec ARGV.
  exec SPEC.json -- ARGV...   the same for an exec while the container's own view is not ready
  enter PID WORKDIR -- ARGV   join the mount namespace of a running container (kubectl exec).
  probe SPEC.json             build a view and exit 0: can this machine do it at all?

A mount point missing on the host is created without touching the host: the top level lives in
the tmpfs root, and a deeper missing directory under a host directory is made by overmounting
that directory with a tmpfs that re-binds each of its original children (a "shadow").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import platform
import stat
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}.get(platform.machine(), -1)

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


class ViewError(Exception):
    pass


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise ViewError(f"{what}: {os.strerror(err)}")


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {source or fstype} on {target}")


def umount(target: str) -> None:
    _check(_libc.umount2(_b(target), MNT_DETACH), f"umount {target}")


class View:
    """The mount table being built: which mount points are the container's own (tmpfs root,
    shadows, volumes: creating an entry there changes nothing on the host) and which are host
    directories (creating an entry there would)."""

    def __init__(self) -> None:
        self.own: dict[str, bool] = {"/": True}
        self.shadows = 0

    def owner(self, path: str) -> bool:
        best = "/"
        for m in self.own:
            if (path == m or path.startswith(m.rstrip("/") + "/")) and len(m) > len(best):
                best = m
        return self.own[best]

    def shadow(self, directory: str) -> None:
        """Overmount a host directory with a tmpfs showing the same children, so new entries can
        be created in it without creating them on the host."""
        self.shadows += 1
        stash = f"/.tgsb-shadow/{self.shadows}"
        os.makedirs(stash, exist_ok=True)
        mount(directory, stash, None, MS_BIND | MS_REC)
        st = os.stat(directory)
        mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={stat.S_IMODE(st.st_mode):o}")
        try:
            os.chown(directory, st.st_uid, st.st_gid)
        except OSError:
            pass
        self.own[directory] = True
        for name in os.listdir(stash):
            src, dst = f"{stash}/{name}", os.path.join(directory, name)
            self._replicate(src, dst)
        umount(stash)
        os.rmdir(stash)

    def _replicate(self, src: str, dst: str) -> None:
        """One child of a shadowed directory, as it is on the host. Seen once in ~10 suites: the
        fresh tmpfs already held the entry (EEXIST for /root/.pyenv, cause not found); an
        entry that is there is bound over like a new one instead of failing the container."""
        st = os.lstat(src)
        if stat.S_ISLNK(st.st_mode):
            if not os.path.islink(dst) or os.readlink(dst) != os.readlink(src):
                os.symlink(os.readlink(src), dst)
            return
        if stat.S_ISDIR(st.st_mode):
            if not os.path.isdir(dst):
                os.mkdir(dst, stat.S_IMODE(st.st_mode))
        else:
            open(dst, "ab").close()
        mount(src, dst, None, MS_BIND | MS_REC)
        self.own[dst] = False

    def ensure_dir(self, path: str) -> str:
        real = os.path.realpath(path)
        if os.path.isdir(real):
            return real
        if os.path.lexists(real):
            raise ViewError(f"{path}: not a directory")
        parent = self.ensure_dir(os.path.dirname(real))
        if not self.owner(parent):
            self.shadow(parent)
        os.mkdir(real, 0o755)
        return real

    def ensure_file(self, path: str) -> str:
        real = os.path.realpath(path)
        if os.path.lexists(real):
            if os.path.isdir(real):
                raise ViewError(f"{path}: is a directory (the volume source is a file)")
            return real
        parent = self.ensure_dir(os.path.dirname(real))
        if not self.owner(parent):
            self.shadow(parent)
        open(real, "ab").close()
        return real

    def bind(self, source: str, target: str, read_only: bool) -> None:
        if os.path.isdir(source):
            real = self.ensure_dir(target)
        else:
            real = self.ensure_file(target)
        mount(source, real, None, MS_BIND | MS_REC)
        if read_only:
            mount(None, real, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
        self.own[real] = True


def _enter_userns() -> None:
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare(user, mount)")
    with open("/proc/self/setgroups", "w") as fh:
        fh.write("deny")
    with open("/proc/self/uid_map", "w") as fh:
        fh.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as fh:
        fh.write(f"{gid} {gid} 1")


def build(spec: dict) -> View:
    if os.geteuid() == 0:
        _check(_libc.unshare(CLONE_NEWNS), "unshare(mount)")
    else:
        _enter_userns()
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = spec["root"]
    os.makedirs(root, exist_ok=True)
    mount("tmpfs", root, "tmpfs", MS_NOSUID, "mode=755")
    view = View()
    for name in sorted(os.listdir("/")):
        src, dst = "/" + name, os.path.join(root, name)
        st = os.lstat(src)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dst)
        elif stat.S_ISDIR(st.st_mode):
            os.mkdir(dst, stat.S_IMODE(st.st_mode))
            try:
                mount(src, dst, None, MS_BIND | MS_REC)
            except ViewError:
                if name in ("proc", "sys", "dev"):
                    raise
                os.rmdir(dst)  # an unreadable extra (e.g. a stale mount): the container does without
                continue
            view.own["/" + name] = False
        elif stat.S_ISREG(st.st_mode):
            open(dst, "ab").close()
            mount(src, dst, None, MS_BIND)
            view.own["/" + name] = False
    _pivot(root)
    if os.path.ismount(root):  # the copy of our own tmpfs that came along with /tmp (or wherever)
        try:
            umount(root)
        except ViewError:
            pass
    mounts = sorted(spec.get("mounts") or [], key=lambda m: m["path"].rstrip("/").count("/"))
    # hold every source before mounting anything: a later source may lie under an earlier
    # mount point (e.g. /root/.pyenv re-bound into the pod's own /root)
    fds = [os.open(m["source"], os.O_PATH) for m in mounts]
    for m, fd in zip(mounts, fds):
        view.bind(f"/proc/self/fd/{fd}", m["path"], bool(m.get("readOnly")))
        os.close(fd)
    hosts = spec.get("hosts")
    if hosts and os.path.exists("/etc/hosts"):
        mount(hosts, os.path.realpath("/etc/hosts"), None, MS_BIND)
    return view


def _pivot(root: str) -> None:
    os.chdir(root)
    if SYS_PIVOT_ROOT > 0 and _libc.syscall(SYS_PIVOT_ROOT, b".", b".") == 0:
        umount(".")  # the old root, stacked under the new one
        os.chdir("/")
        return
    # pivot_root refused (e.g. the host itself runs chrooted): move the mount and chroot
    mount(root, "/", None, MS_MOVE)
    os.chroot(".")
    os.chdir("/")


def _exec(argv: list[str]) -> None:
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        if "/" not in argv[0] and isinstance(exc, FileNotFoundError):
            msg = f'exec: "{argv[0]}": executable file not found in $PATH'
        else:
            msg = f"exec {argv[0]}: {exc.strerror}"
        sys.stderr.write(msg + "\n")
        os._exit(127 if isinstance(exc, FileNotFoundError) else 126)


def _chdir(workdir: str, view: View | None) -> None:
    try:
        os.chdir(view.ensure_dir(workdir) if view else workdir)
    except (OSError, ViewError):
        os.chdir("/")


def enter(pid: int, workdir: str, argv: list[str]) -> None:
    if os.geteuid() != 0:
        own = os.readlink("/proc/self/ns/user")
        if os.readlink(f"/proc/{pid}/ns/user") != own:
            fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY)
            _check(_libc.setns(fd, CLONE_NEWUSER), "setns(user)")
            os.close(fd)
    fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
    _check(_libc.setns(fd, CLONE_NEWNS), "setns(mount)")
    os.close(fd)
    _chdir(workdir, None)
    _exec(argv)


def main(args: list[str]) -> int:
    mode = args[0] if args else ""
    try:
        if mode == "enter":
            sep = args.index("--")
            enter(int(args[1]), args[2], args[sep + 1:])
        elif mode in ("run", "exec", "probe"):
            with open(args[1]) as fh:
                spec = json.load(fh)
            view = build(spec)
            if mode == "probe":
                return 0 if os.path.isdir("/proc/self") else 1
            sep = args.index("--")
            _chdir(spec.get("workdir") or "/", view)
            ready = spec.get("ready")
            if ready and mode == "run":  # only the container itself: exec enters its view by pid
                with open(ready, "w") as fh:
                    fh.write(str(os.getpid()))
            _exec(args[sep + 1:])
        else:
            sys.stderr.write("usage: nsroot.py run SPEC -- ARGV | enter PID WORKDIR -- ARGV | probe SPEC\n")
            return 2
    except (ViewError, OSError) as exc:
        sys.stderr.write(f"container view: {exc}\n")
        return 128
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
