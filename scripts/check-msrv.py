#!/usr/bin/env python3
"""Checks that each workspace crate's declared `rust-version` is honest: at
least the highest `rust-version` among the locked crates it builds with
(its normal and build dependencies, transitively, as `cargo metadata`
resolves the workspace). Clippy's `incompatible_msrv` lint (on by default)
checks the crates' own code against the same number.

Prints one line per crate; exits 1 when a crate declares less than it needs.
"""
import json
import subprocess
import sys


def version(v):
    return tuple(int(x) for x in (v or "0").split(".")[:3]) + (0,) * (3 - len((v or "0").split(".")[:3]))


def main():
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    by_name = {(p["name"], p["version"]): p for p in meta["packages"]}
    bad = 0
    for member in meta["workspace_members"]:
        pkg = next(p for p in meta["packages"] if p["id"] == member)
        if pkg.get("publish") == []:
            continue  # not published: no user builds it
        declared = pkg.get("rust_version")
        # What `cargo build -p <crate>` builds (its own features resolved
        # alone, as a user's build resolves them): normal and build
        # dependencies, transitively.
        tree = subprocess.run(
            ["cargo", "tree", "--locked", "-p", pkg["name"], "-e", "normal,build",
             "--prefix", "none", "--format", "{p}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        deps = set()
        for line in tree.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1].startswith("v"):
                deps.add((parts[0], parts[1][1:]))
        deps.discard((pkg["name"], pkg["version"]))
        need_pkg = max(
            (by_name[d] for d in deps if d in by_name and by_name[d].get("rust_version")),
            key=lambda p: version(p["rust_version"]),
            default=None,
        )
        need = need_pkg["rust_version"] if need_pkg else None
        ok = declared is not None and (need is None or version(declared) >= version(need))
        why = f"{need_pkg['name']} {need_pkg['version']} needs {need}" if need_pkg else "no dependency declares one"
        print(f"{'ok ' if ok else 'BAD'} {pkg['name']}: rust-version {declared}; {why}")
        bad += not ok
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
