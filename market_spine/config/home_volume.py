"""Whether the home lies on a network filesystem shared between machines. The home holds the
audit trail and the lake's integrity ledger (SQLite databases in write-ahead-log mode, whose
shared memory index works between processes of one machine only) and the warehouse lock (a
flock, which network filesystems do not hold across clients): on NFS, CIFS, CephFS and the like,
two nodes would each believe they hold the lock, and WAL readers could see torn pages."""

from __future__ import annotations

import re
from pathlib import Path

#: Filesystem types the kernel reports for storage shared between machines.
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "ceph",
        "glusterfs",
        "fuse.glusterfs",
        "fuse.cephfs",
        "fuse.sshfs",
        "fuse.s3fs",
        "fuse.gcsfuse",
        "fuse.juicefs",
        "fuse.efs",
        "lustre",
        "gpfs",
        "beegfs",
    }
)
#: The kernel's mount table of this process.
MOUNTS = Path("/proc/self/mounts")
_OCTAL = re.compile(r"\\([0-7]{3})")


def _unescaped(field: str) -> str:
    """A mount table field with its octal escapes (`\\040` for a space) decoded."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def filesystem_of(path: Path, mounts: Path = MOUNTS) -> tuple[str, str] | None:
    """(filesystem type, mount point) of the mount holding `path` (the longest mount point that
    contains it); None when the mount table cannot be read."""
    try:
        lines = mounts.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    target = Path(path).resolve()
    best: tuple[str, str] | None = None
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point, kind = _unescaped(fields[1]), fields[2]
        if target.is_relative_to(point) and (best is None or len(point) >= len(best[1])):
            best = (kind, point)
    return best


def shared_home_problem(home: Path, mounts: Path = MOUNTS) -> str:
    """Why the home cannot live where it is, with the fix ("" when it can): it is on a network
    filesystem."""
    found = filesystem_of(home, mounts)
    if found is None or found[0] not in NETWORK_FILESYSTEMS:
        return ""
    kind, point = found
    return (
        f"MARKET_SPINE_HOME={home} is on a network filesystem ({kind} mounted at {point}): the "
        f"audit trail ({home}/audit/audit.sqlite) and the lake's integrity ledger "
        f"({home}/lake/_integrity.sqlite) are SQLite databases in WAL mode and the warehouse "
        f"lock ({home}/warehouse/spine.lock) is a flock, none of which hold between machines; "
        "put the home on a disk of one node (in Kubernetes a ReadWriteOnce claim, with every "
        "pod that mounts it placed on that node by a required pod affinity) or a local folder"
    )
