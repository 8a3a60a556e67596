#!/usr/bin/python3
"""Checks that the manual pages name everything the programs take.

    man/check-man.py PCIPASSD PCIPASSCTL PCIPASSD_SCD PCIPASSCTL_SCD

Every long option of `pcipassd --help`, every command of `pcipassctl
help` and every option of each command's --help must appear in the
scdoc source of its page, so a new option cannot ship undocumented.
"""

import re
import subprocess
import sys


def options(argv):
    text = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z-]*)", text, re.M))


def main():
    pcipassd, pcipassctl, daemon_page, client_page = sys.argv[1:5]
    daemon_text = open(daemon_page).read()
    client_text = open(client_page).read()
    missing = []
    for option in sorted(options([pcipassd, "--help"]) - {"--help"}):
        if "*%s*" % option not in daemon_text:
            missing.append("pcipassd(8) lacks %s" % option)
    help_text = subprocess.run([pcipassctl, "help"], capture_output=True, text=True, check=True).stdout
    commands = re.findall(r"^  ([a-z]+)  ", help_text.split("Commands:")[1], re.M)
    if len(commands) < 10:
        missing.append("could not read pcipassctl's commands: %r" % commands)
    for command in commands:
        if "*%s*" % command not in client_text:
            missing.append("pcipassctl(1) lacks the command %s" % command)
            continue
        for option in sorted(options([pcipassctl, command, "--help"]) - {"--help"}):
            if "*%s*" % option not in client_text:
                missing.append("pcipassctl(1) lacks %s of %s" % (option, command))
    for line in missing:
        print(line)
    print("%d missing" % len(missing))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
