#!/usr/bin/python3
"""The installed systemd unit's exposure, as systemd-analyze scores it.

    tests/check-unit-security.py BUILDDIR

Installs into a temporary --destdir and runs `systemd-analyze security
--offline=yes` on the pcipassd.service found there, which must score 2.0
or lower ("OK").  Prints the score.  (--threshold counts in tenths of the
printed score: 20 is 2.0.)
"""

import os
import re
import subprocess
import sys
import tempfile

LIMIT = 2.0


def main():
    build = sys.argv[1]
    meson = os.environ.get("PP_MESON", "meson")
    analyze = os.environ.get("PP_SYSTEMD_ANALYZE", "systemd-analyze")
    with tempfile.TemporaryDirectory() as dest:
        subprocess.run([meson, "install", "-C", build, "--destdir", dest, "--no-rebuild", "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        units = [os.path.join(d, "pcipassd.service") for d, _, files in os.walk(dest)
                 if "pcipassd.service" in files and d.endswith("/systemd/system")]
        if len(units) != 1:
            print("expected one installed pcipassd.service, found %r" % units)
            return 1
        out = subprocess.run([analyze, "security", "--offline=yes", "--no-pager",
                              "--threshold=%d" % round(LIMIT * 10), units[0]],
                             capture_output=True, text=True)
    text = out.stdout + out.stderr
    score = re.search(r"Overall exposure level for pcipassd\.service: ([0-9.]+) (\w+)", text)
    if not score:
        print(text)
        print("systemd-analyze printed no exposure level")
        return 1
    # What is left exposed, for whoever tightens the unit next.
    print("\n".join(line for line in text.splitlines() if line.startswith("✗")))
    print("exposure of the installed pcipassd.service: %s %s (limit %.1f)"
          % (score.group(1), score.group(2), LIMIT))
    if float(score.group(1)) > LIMIT or out.returncode != 0:
        print("the unit is more exposed than %.1f" % LIMIT)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
