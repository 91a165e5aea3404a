#!/usr/bin/env python3
"""Writes a single-layer container image as an OCI archive, with no Docker engine and no registry.

Usage:
  hack/oci-image.py --out FILE --name REF [--user UID:GID] [--entrypoint JSON] [--cmd JSON]
                    [--env K=V]... [--label K=V]... [--passwd] ENTRY...

ENTRY is SRC:DEST[:MODE] (a file copied to DEST, owned by root) or dir:DEST[:MODE[:UID]]
(an empty folder). --passwd adds /etc/passwd and /etc/group with root and nonroot (65532).

The archive holds oci-layout, index.json and blobs/sha256/* (an OCI image layout, as
`ctr images import`, `podman load`, `skopeo copy oci-archive:` and Docker >= 25 read it) and a
Docker manifest.json, so that older `docker load` reads it too. REF is normalised like Docker
does (mosip-partner-operator:0.1.0 -> docker.io/library/mosip-partner-operator:0.1.0). The output
is reproducible: fixed timestamps, sorted entries, uid/gid 0 unless given.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

EPOCH = 0  # reproducible archives: every timestamp is 1970-01-01


def normalise(ref):
    name, tag = ref, "latest"
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = ref.rsplit(":", 1)
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + name
    return name, tag


def tar_layer(entries, passwd):
    buf = io.BytesIO()
    dirs, files = {}, {}

    def add_parents(path):
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.setdefault("/".join(parts[:i]), (0o755, 0))

    if passwd:
        files["etc/passwd"] = (
            b"root:x:0:0:root:/root:/sbin/nologin\n"
            b"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
            0o644,
        )
        files["etc/group"] = (b"root:x:0:\nnonroot:x:65532:\n", 0o644)
        dirs["home"] = (0o755, 0)
        dirs["home/nonroot"] = (0o700, 65532)
        dirs["tmp"] = (0o1777, 0)
        add_parents("etc/passwd")
    for entry in entries:
        parts = entry.split(":")
        if parts[0] == "dir":
            dest = parts[1].strip("/")
            mode = int(parts[2], 8) if len(parts) > 2 else 0o755
            uid = int(parts[3]) if len(parts) > 3 else 0
            dirs[dest] = (mode, uid)
            add_parents(dest)
            continue
        if len(parts) < 2:
            sys.exit(f"bad entry {entry!r}: want SRC:DEST[:MODE]")
        src, dest = parts[0], parts[1].strip("/")
        with open(src, "rb") as f:
            data = f.read()
        mode = int(parts[2], 8) if len(parts) > 2 else (os.stat(src).st_mode & 0o777)
        files[dest] = (data, mode)
        add_parents(dest)

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(set(dirs) | set(files)):
            info = tarfile.TarInfo(path)
            info.mtime = EPOCH
            info.uname = info.gname = ""
            if path in files:
                data, mode = files[path]
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
            else:
                mode, uid = dirs[path]
                info.type, info.mode, info.uid, info.gid = tarfile.DIRTYPE, mode, uid, uid
                tar.addfile(info)
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--user", default="")
    ap.add_argument("--entrypoint", default="null")
    ap.add_argument("--cmd", default="null")
    ap.add_argument("--env", action="append", default=[])
    ap.add_argument("--label", action="append", default=[])
    ap.add_argument("--passwd", action="store_true")
    ap.add_argument("entries", nargs="*")
    a = ap.parse_args()

    layer = tar_layer(a.entries, a.passwd)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=EPOCH, compresslevel=6) as g:
        g.write(layer)
    layer_gz = gz.getvalue()

    cfg = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] + a.env,
           "WorkingDir": "/"}
    if a.user:
        cfg["User"] = a.user
    for key, val in (("Entrypoint", a.entrypoint), ("Cmd", a.cmd)):
        val = json.loads(val)
        if val is not None:
            cfg[key] = val
    if a.label:
        cfg["Labels"] = dict(kv.split("=", 1) for kv in a.label)
    config = {
        "created": "1970-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "hack/oci-image.py"}],
    }
    config_b = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()

    def digest(b):
        return "sha256:" + hashlib.sha256(b).hexdigest()

    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config_b), "size": len(config_b)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest(layer_gz), "size": len(layer_gz)}],
    }
    manifest_b = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    name, tag = normalise(a.name)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest(manifest_b), "size": len(manifest_b),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": f"{name}:{tag}",
                            "org.opencontainers.image.ref.name": tag},
        }],
    }
    short = name[len("docker.io/library/"):] if name.startswith("docker.io/library/") else name
    blob = "blobs/sha256/"
    docker_manifest = [{"Config": blob + digest(config_b)[7:], "RepoTags": [f"{short}:{tag}"],
                        "Layers": [blob + digest(layer_gz)[7:]]}]

    members = [
        ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        ("index.json", json.dumps(index, sort_keys=True).encode()),
        ("manifest.json", json.dumps(docker_manifest).encode()),
        (blob + digest(config_b)[7:], config_b),
        (blob + digest(layer_gz)[7:], layer_gz),
        (blob + digest(manifest_b)[7:], manifest_b),
    ]
    tmp = a.out + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
            tar.addfile(info)
        for path, data in members:
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, EPOCH
            tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, a.out)
    print(f"{a.out}: {name}:{tag} {digest(manifest_b)} ({len(layer_gz)} bytes compressed)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
