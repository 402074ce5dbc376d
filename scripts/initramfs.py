"""A newc cpio archive (the kernel's initramfs format) in Python, and the
busybox initramfs the benchmark scripts boot Debian's Linux with."""

from __future__ import annotations

import pathlib


def cpio(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A newc archive of (name, mode, data), with its trailer."""
    out = bytearray()
    for inode, (name, mode, data) in enumerate(entries + [("TRAILER!!!", 0, b"")], 1):
        encoded = name.encode() + b"\0"
        fields = (inode, mode, 0, 0, 2 if mode & 0o040000 else 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0)
        out += b"070701" + b"".join(b"%08X" % field for field in fields) + encoded
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def busybox_initramfs(guest: pathlib.Path, then: str, modules: bool = False) -> bytes:
    """Busybox from `guest` (scripts/fetch-linux-guest.sh's directory) and
    an init that mounts /proc and /dev, loads the virtio modules if asked,
    prints `polyhart-shell-ready` and runs `then` (shell text)."""
    order = (guest / "modules" / "order").read_text().split() if modules else []
    insmod = "".join(f"insmod /lib/{name}.ko\n" for name in order)
    init = (
        "#!/bin/busybox sh\n/bin/busybox --install -s /bin\nmount -t proc proc /proc\n"
        f"mount -t devtmpfs dev /dev\n{insmod}echo polyhart-shell-ready\n{then}\n"
    )
    entries = [("bin", 0o040755, b""), ("bin/busybox", 0o100755, (guest / "busybox").read_bytes())]
    entries += [(directory, 0o040755, b"") for directory in ("proc", "dev", "lib")]
    entries += [("init", 0o100755, init.encode())]
    entries += [(f"lib/{name}.ko", 0o100644, (guest / "modules" / f"{name}.ko").read_bytes()) for name in order]
    return cpio(entries)
