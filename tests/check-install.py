#!/usr/bin/python3
"""The files `meson install` puts down, against the expected list.

    tests/check-install.py BUILDDIR EXPECTED

Installs into a temporary --destdir and compares every file and link
with EXPECTED, where PREFIX stands for the build's prefix and UNITDIR for
its systemd unit directory, so the list holds for any prefix.
"""

import json
import os
import subprocess
import sys
import tempfile


def main():
    build, expected_path = sys.argv[1:3]
    meson = os.environ.get("PP_MESON", "meson")
    options = json.loads(subprocess.run([meson, "introspect", "--buildoptions", build],
                                        capture_output=True, text=True, check=True).stdout)
    options = {o["name"]: o["value"] for o in options}
    prefix = options["prefix"]
    installed = json.loads(subprocess.run([meson, "introspect", "--installed", build],
                                          capture_output=True, text=True, check=True).stdout)
    unitdir = next(os.path.dirname(p) for p in installed.values() if p.endswith("/pcipassd.service")
                   and "system-services" not in p)
    with tempfile.TemporaryDirectory() as dest:
        subprocess.run([meson, "install", "-C", build, "--destdir", dest, "--no-rebuild", "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        got = []
        for dirpath, dirnames, filenames in os.walk(dest):
            for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                path = os.path.join(dirpath, name)[len(dest):]
                if path.startswith(unitdir + "/"):
                    path = "UNITDIR" + path[len(unitdir):]
                elif path.startswith(prefix + "/"):
                    path = "PREFIX" + path[len(prefix):]
                got.append(path)
    got = sorted(got)
    expected = sorted(line.strip() for line in open(expected_path)
                      if line.strip() and not line.startswith("#"))
    for path in sorted(set(expected) - set(got)):
        print("missing:    " + path)
    for path in sorted(set(got) - set(expected)):
        print("unexpected: " + path)
    print("%d files installed, %d expected" % (len(got), len(expected)))
    return 0 if got == expected else 1


if __name__ == "__main__":
    sys.exit(main())
