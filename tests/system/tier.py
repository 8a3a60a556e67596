#!/usr/bin/python3
"""System tier: the installed files under the real dbus-daemon and polkitd.

    tests/system/tier.py BUILDDIR        (meson test --suite system)

As root, in a private mount namespace, touching nothing outside its own
temporary folder but the test users it creates and removes:
  - installs the build with `meson install --destdir`;
  - runs a dbus-daemon whose configuration includes the distribution's
    /usr/share/dbus-1/system.conf word for word and the installed bus
    policy, on a socket of its own;
  - runs the real polkitd with the installed polkit policy and example
    rules bind-mounted over its directories (the namespace undoes that);
  - lets the bus start the installed pcipassd through the installed
    activation file (bind-mounted where the launch helper looks) on the
    first pcipassctl list, on a simulated workstation whose simulated
    kernel binds (tests/pcipass-testbed --kernel);
  - calls it as root, as a member of the rules' group and as a user who is
    not, and checks what each may do, and that a refusal writes nothing.
Prints one line per check and a deny matrix; exits 0 when all pass, 77
(skipped) when not root outside CI, 1 otherwise.  See
../../../shared/notes/system-tests.md for the recipe.
"""

import grp
import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

BUS_NAME = "io.github.pcipassd"
ROOT_PATH = "/io/github/pcipassd"
GPU = "0000:01:00.0"
GPU_PATH = ROOT_PATH + "/devices/pci_0000_01_00_0"
DEVICE_IFACE = "io.github.pcipassd1.Device"
MANAGER_IFACE = "io.github.pcipassd1.Manager"
MEMBER = "pp-systest-member"
OTHER = "pp-systest-other"


class Failed(Exception):
    pass


def log(text):
    print(text, flush=True)


def run(argv, user=None, check=False, env=None, timeout=60):
    if user is not None and user != "root":
        argv = ["runuser", "-u", user, "--"] + argv
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    if check and out.returncode != 0:
        raise Failed("%s: exit %d: %s" % (" ".join(argv), out.returncode, out.stderr.strip()))
    return out


def wait_for(predicate, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise Failed("timed out waiting for %s" % what)


class Tier:
    def __init__(self, build):
        self.build = os.path.abspath(build)
        self.src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.procs = []
        self.created_users = []
        self.created_group = None
        self.results = []
        self.matrix = {}

    # -- setting up --

    def install(self):
        self.dest = os.path.join(self.work, "dest")
        run([os.environ.get("PP_MESON", "meson"), "install", "-C", self.build, "--destdir", self.dest, "--no-rebuild", "--quiet"],
            check=True, timeout=300)
        options = run([os.environ.get("PP_MESON", "meson"), "introspect", "--buildoptions", self.build],
                      check=True).stdout
        options = {o["name"]: o["value"] for o in json.loads(options)}
        self.prefix = options["prefix"]
        self.group = options["privileged-group"]
        root = self.dest + self.prefix
        self.pcipassd = os.path.join(root, options["libexecdir"], "pcipassd")
        self.pcipassctl = os.path.join(root, options["bindir"], "pcipassctl")
        self.system_d = os.path.join(root, options["datadir"], "dbus-1", "system.d")
        self.actions = os.path.join(root, options["datadir"], "polkit-1", "actions")
        self.services = os.path.join(root, options["datadir"], "dbus-1", "system-services")
        self.rules = os.path.join(root, options["datadir"], "doc", "pcipassd", "examples")
        for path in (self.pcipassd, self.pcipassctl, self.system_d, self.actions, self.rules, self.services):
            if not os.path.exists(path):
                raise Failed("meson install did not create %s" % path)

    def users(self):
        try:
            grp.getgrnam(self.group)
        except KeyError:
            run(["groupadd", "--system", self.group], check=True)
            self.created_group = self.group
        for user, groups in ((MEMBER, [self.group]), (OTHER, [])):
            try:
                pwd.getpwnam(user)
                run(["userdel", user])
            except KeyError:
                pass
            argv = ["useradd", "--no-create-home", "--shell", "/bin/sh"]
            if groups:
                argv += ["--groups", ",".join(groups)]
            run(argv + [user], check=True)
            self.created_users.append(user)

    def bus(self):
        system_d = os.path.join(self.work, "system.d")
        os.mkdir(system_d)
        shutil.copy(os.path.join(self.system_d, "io.github.pcipassd.conf"), system_d)
        conf = os.path.join(self.work, "bus.conf")
        with open(conf, "w") as f:
            f.write('<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"\n'
                    ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
                    "<busconfig>\n"
                    "  <include>/usr/share/dbus-1/system.conf</include>\n"
                    "  <includedir>%s</includedir>\n"
                    "</busconfig>\n" % system_d)
        self.socket = os.path.join(self.work, "bus.sock")
        self.start(["dbus-daemon", "--config-file=" + conf, "--address=unix:path=" + self.socket,
                    "--nofork", "--nopidfile", "--nosyslog"], "dbus-daemon.log")
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = "unix:path=" + self.socket
        wait_for(lambda: os.path.exists(self.socket), "the bus socket")

    def polkit(self):
        # Our policy beside the distribution's, our example rules alone in
        # /etc's rules directory (Debian's own in /usr/share stay).
        actions = os.path.join(self.work, "actions")
        shutil.copytree("/usr/share/polkit-1/actions", actions)
        for name in os.listdir(self.actions):
            shutil.copy(os.path.join(self.actions, name), actions)
        self.rules_d = os.path.join(self.work, "rules.d")
        os.mkdir(self.rules_d)
        for name in os.listdir(self.rules):
            if name.endswith(".rules"):
                shutil.copy(os.path.join(self.rules, name), self.rules_d)
        for d in (actions, self.rules_d):
            os.chmod(d, 0o755)
            for name in os.listdir(d):
                os.chmod(os.path.join(d, name), 0o644)
        run(["mount", "--bind", actions, "/usr/share/polkit-1/actions"], check=True)
        os.makedirs("/etc/polkit-1/rules.d", exist_ok=True)
        run(["mount", "--bind", self.rules_d, "/etc/polkit-1/rules.d"], check=True)
        self.start(["/usr/lib/polkit-1/polkitd"], "polkitd.log")
        run(["gdbus", "wait", "--system", "--timeout", "10", "org.freedesktop.PolicyKit1"], check=True)

    def activation(self):
        """The installed activation file where the bus and its launch helper
        look (the helper reads only the standard directories of
        /usr/share/dbus-1/system.conf): a copy of that directory with ours
        added, bind-mounted over it.  Only Exec= differs from the installed
        file: the daemon must run on the simulated host, never on this
        machine's /sys, so it points at a wrapper that starts the installed
        pcipassd under the testbed (the helper clears the environment, so
        the wrapper names the bus itself)."""
        installed = os.path.join(self.services, BUS_NAME + ".service")
        with open(installed) as f:
            entry = f.read()
        exec_lines = [line for line in entry.splitlines() if line.startswith("Exec=")]
        if exec_lines != ["Exec=" + self.pcipassd[len(self.dest):]]:
            raise Failed("the installed activation file runs %r, not the installed pcipassd" % exec_lines)
        for want in ("Name=" + BUS_NAME, "User=root", "SystemdService=pcipassd.service"):
            if want not in entry.splitlines():
                raise Failed("the installed activation file lacks %s" % want)
        self.state = os.path.join(self.work, "state")
        self.pidfile = os.path.join(self.work, "daemon.pid")
        self.rootfile = os.path.join(self.work, "sysroot")
        testbed = os.path.join(self.build, "tests", "pcipass-testbed")
        fixture = os.path.join(self.src, "tests", "fixtures", "workstation.topo")
        wrapper = os.path.join(self.work, "pcipassd-on-testbed")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\n"
                    "echo $$ > %s\n"
                    "DBUS_SYSTEM_BUS_ADDRESS=unix:path=%s exec %s --print-root --kernel %s -- %s"
                    " --state-dir=%s --catalog= --step-timeout=5 > %s 2>> %s\n"
                    % (self.pidfile, self.socket, testbed, fixture, self.pcipassd, self.state,
                       self.rootfile, os.path.join(self.work, "pcipassd.log")))
        os.chmod(wrapper, 0o755)
        services = os.path.join(self.work, "system-services")
        if os.path.isdir("/usr/share/dbus-1/system-services"):
            shutil.copytree("/usr/share/dbus-1/system-services", services)
        else:
            os.mkdir(services)
        with open(os.path.join(services, BUS_NAME + ".service"), "w") as f:
            f.write("".join("Exec=%s\n" % wrapper if line.startswith("Exec=") else line + "\n"
                            for line in entry.splitlines()))
        run(["mount", "--bind", services, "/usr/share/dbus-1/system-services"], check=True)

    def check_activation(self):
        """Nothing owns the name until an unprivileged user's first
        pcipassctl list, which the bus answers by activating the daemon;
        that first list is the whole simulated host."""
        out = run(["gdbus", "call", "--system", "--dest", "org.freedesktop.DBus", "--object-path",
                   "/org/freedesktop/DBus", "--method", "org.freedesktop.DBus.NameHasOwner", BUS_NAME],
                  check=True)
        if out.stdout.strip() != "(false,)":
            raise Failed("%s has an owner before activation: %s" % (BUS_NAME, out.stdout.strip()))
        out = run([self.pcipassctl, "list", "--json"], user=OTHER, timeout=30)
        self.matrix[(OTHER, "list, activating")] = "ok" if out.returncode == 0 else out.stderr.strip()
        if out.returncode != 0:
            raise Failed("the first pcipassctl list: exit %d: %s" % (out.returncode, out.stderr.strip()))
        self.sysroot = open(self.rootfile).readline().strip()
        if not os.path.isdir(self.sysroot):
            raise Failed("the activated testbed wrote no root: %r" % self.sysroot)
        listed = sorted(d["address"] for d in json.loads(out.stdout))
        simulated = sorted(os.listdir(os.path.join(self.sysroot, "sys", "bus", "pci", "devices")))
        if not simulated or listed != simulated:
            raise Failed("the first list gave %d devices, the simulated host has %d" % (len(listed), len(simulated)))
        log("activated by %s's first pcipassctl list: %d devices" % (OTHER, len(listed)))

    def start(self, argv, log_name, stdout=None):
        logf = open(os.path.join(self.work, log_name), "w")
        proc = subprocess.Popen(argv, stdout=stdout if stdout else logf, stderr=logf, text=True)
        self.procs.append(proc)
        return proc

    def stop(self):
        # The activated daemon is the bus's grandchild, not ours.
        try:
            with open(self.pidfile) as f:
                pid = int(f.read())
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: not os.path.exists("/proc/%d" % pid) or
                     open("/proc/%d/stat" % pid).read().split(") ")[1][0] == "Z",
                     "the activated daemon to stop")
        except (AttributeError, OSError, ValueError, Failed):
            pass
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for user in self.created_users:
            run(["userdel", user])
        if self.created_group:
            run(["groupdel", self.created_group])

    # -- what a refusal must leave alone --

    def snapshot(self):
        """Every file of the simulated sysfs and of the state directory,
        with its contents (links as their targets)."""
        digest = hashlib.sha256()
        for top in (os.path.join(self.sysroot, "sys"), self.state):
            for dirpath, dirnames, filenames in os.walk(top):
                dirnames.sort()
                for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
                    path = os.path.join(dirpath, name)
                    digest.update(path.encode())
                    if os.path.islink(path):
                        digest.update(os.readlink(path).encode())
                    elif os.path.isfile(path):
                        try:
                            with open(path, "rb") as f:
                                digest.update(f.read())
                        except OSError:
                            pass
        return digest.hexdigest()

    # -- calls --

    def call(self, user, path, interface, method, *args):
        """gdbus call, whose errors carry their D-Bus names; @args are
        GVariant text."""
        argv = ["gdbus", "call", "--system", "--dest", BUS_NAME, "--object-path", path,
                "--method", interface + "." + method] + list(args)
        out = run(argv, user=user)
        return out.returncode == 0, (out.stdout + out.stderr).strip()

    def check(self, name, func):
        try:
            func()
            self.results.append((True, name, ""))
            log("PASS " + name)
        except Failed as e:
            self.results.append((False, name, str(e)))
            log("FAIL %s: %s" % (name, e))

    def expect_denied(self, user, label, path, interface, method, *args):
        before = self.snapshot()
        ok, text = self.call(user, path, interface, method, *args)
        denied = not ok and "io.github.pcipassd.Error.NotAuthorized" in text
        self.matrix[(user, label)] = "NotAuthorized" if denied else ("ok" if ok else text)
        if not denied:
            raise Failed("%s %s: expected NotAuthorized, got %s" % (user, label, text or "success"))
        if self.snapshot() != before:
            raise Failed("%s %s was refused but sysfs or the state directory changed" % (user, label))

    def expect_allowed(self, user, label, path, interface, method, *args):
        ok, text = self.call(user, path, interface, method, *args)
        self.matrix[(user, label)] = "ok" if ok else text
        if not ok:
            raise Failed("%s %s: %s" % (user, label, text))

    # -- the checks --

    def check_bind_matrix(self):
        self.expect_denied(OTHER, "Bind", GPU_PATH, DEVICE_IFACE, "Bind", "{}")
        for user in ("root", MEMBER):
            before = self.snapshot()
            self.expect_allowed(user, "Bind", GPU_PATH, DEVICE_IFACE, "Bind", "{}")
            # The snapshot sees a Bind: "nothing written" means something.
            if self.snapshot() == before:
                raise Failed("a Bind by %s changed nothing the snapshot sees" % user)
            self.expect_denied(OTHER, "Unbind", GPU_PATH, DEVICE_IFACE, "Unbind", "{}")
            self.expect_allowed(user, "Unbind", GPU_PATH, DEVICE_IFACE, "Unbind", "{}")

    def check_reserve_matrix(self):
        self.expect_denied(OTHER, "Reserve", GPU_PATH, DEVICE_IFACE, "Reserve", "vm-x", "{}")
        for user in ("root", MEMBER):
            owner = "vm-" + user
            self.expect_allowed(user, "Reserve", GPU_PATH, DEVICE_IFACE, "Reserve", owner, "{}")
            self.expect_denied(OTHER, "Release (someone's)", GPU_PATH, DEVICE_IFACE, "Release", "{}")
            self.expect_allowed(user, "Release (own)", GPU_PATH, DEVICE_IFACE, "Release",
                                "{'owner': <'%s'>}" % owner)

    def check_manage_matrix(self):
        manager = ROOT_PATH + "/manager"
        self.expect_denied(OTHER, "ReloadCatalog", manager, MANAGER_IFACE, "ReloadCatalog", "{}")
        # The example rules do not grant .manage: only root.
        self.expect_denied(MEMBER, "ReloadCatalog", manager, MANAGER_IFACE, "ReloadCatalog", "{}")
        self.expect_allowed("root", "ReloadCatalog", manager, MANAGER_IFACE, "ReloadCatalog", "{}")

    def check_reading(self):
        for user in ("root", MEMBER, OTHER):
            out = run([self.pcipassctl, "list", "--json"], user=user)
            if out.returncode != 0 or GPU not in out.stdout:
                raise Failed("%s: pcipassctl list: %s" % (user, out.stderr.strip()))
            self.matrix[(user, "list")] = "ok"
            for label, args in (
                ("Get", (GPU_PATH, "org.freedesktop.DBus.Properties", "Get", DEVICE_IFACE, "Driver")),
                ("Introspect", (GPU_PATH, "org.freedesktop.DBus.Introspectable", "Introspect")),
                ("Validate", (GPU_PATH, DEVICE_IFACE, "Validate", "{}")),
                ("ValidateHost", (ROOT_PATH + "/manager", MANAGER_IFACE, "ValidateHost", "{}")),
            ):
                self.expect_allowed(user, label, *args)

    def check_name(self):
        out = run(["gdbus", "call", "--system", "--dest", "org.freedesktop.DBus", "--object-path",
                   "/org/freedesktop/DBus", "--method", "org.freedesktop.DBus.RequestName", BUS_NAME, "4"],
                  user=OTHER)
        self.matrix[(OTHER, "own the name")] = "AccessDenied" if "AccessDenied" in out.stderr else out.stderr.strip()
        if out.returncode == 0 or "AccessDenied" not in out.stderr:
            raise Failed("an unprivileged user could ask for %s: %s %s" % (BUS_NAME, out.stdout, out.stderr))

    def check_unlisted_interface(self):
        ok, text = self.call(OTHER, GPU_PATH, "io.github.pcipassd1.Secret", "Anything")
        self.matrix[(OTHER, "unlisted interface")] = "AccessDenied" if "AccessDenied" in text else text
        if ok or "AccessDenied" not in text:
            raise Failed("a method of an interface the policy does not list got through: %s" % text)

    def check_ctl_message(self):
        out = run([self.pcipassctl, "bind", GPU, "--no-ask-password"], user=OTHER)
        if out.returncode != 1:
            raise Failed("pcipassctl bind as %s exited %d" % (OTHER, out.returncode))
        if "polkit" not in out.stderr or "rule" not in out.stderr:
            raise Failed("pcipassctl bind as %s does not say how to get the right: %s" % (OTHER, out.stderr))

    def readme_block(self, name):
        """The command lines of the README block <!-- system-tier: NAME -->."""
        text = open(os.path.join(self.src, "README.md")).read()
        start = text.index("<!-- system-tier: %s" % name)
        end = text.index("<!-- /system-tier -->", start)
        return [line.strip() for line in text[start:end].splitlines()[1:] if line.startswith("    ")]

    def check_readme(self):
        """The README's commands, as written: to give the group the right
        (as root, without sudo, into this tier's rules directory, with the
        install's prefix and the member's name), then to check it."""
        grant = self.readme_block("grant")
        if len(grant) != 2:
            raise Failed("the README's grant block has %d lines, not 2" % len(grant))
        for name in os.listdir(self.rules_d):
            os.unlink(os.path.join(self.rules_d, name))
        run(["gpasswd", "-d", MEMBER, self.group])
        for line in grant:
            words = line.split()
            if words[0] != "sudo":
                raise Failed("README grant line %r does not start with sudo" % line)
            # The README installs with --prefix=/usr; this build has its own.
            words = [self.dest + self.prefix + w[len("/usr"):] if w.startswith("/usr/share/doc/") else w
                     for w in words[1:]]
            words = [MEMBER if w == "alice" else w for w in words]
            if "usermod" in words and self.group not in words:
                raise Failed("README gives group %r, the build's is %r" % (words, self.group))
            run(words, check=True)
        for line in self.readme_block("check"):
            words = [self.pcipassctl if w == "pcipassctl" else w for w in line.split()]
            deadline = time.monotonic() + 10
            while True:
                out = run(words, user=MEMBER)
                # polkitd picks the new rules file up within milliseconds.
                if out.returncode == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            if out.returncode != 0:
                raise Failed("README check %r as %s: exit %d: %s" % (line, MEMBER, out.returncode,
                                                                  out.stderr.strip()))
        self.matrix[(MEMBER, "README's commands")] = "ok"

    def check_without_rules(self):
        for name in os.listdir(self.rules_d):
            os.unlink(os.path.join(self.rules_d, name))
        # polkitd reloads rules on its directory's changes.
        deadline = time.monotonic() + 10
        while True:
            before = self.snapshot()
            ok, text = self.call(MEMBER, GPU_PATH, DEVICE_IFACE, "Bind", "{}")
            if not ok and "NotAuthorized" in text:
                break
            if ok:
                self.call("root", GPU_PATH, DEVICE_IFACE, "Unbind", "{}")
            if time.monotonic() > deadline:
                raise Failed("without the rules the group member still binds: %s" % text)
            time.sleep(0.1)
        self.matrix[(MEMBER, "Bind, no rules")] = "NotAuthorized"
        if self.snapshot() != before:
            raise Failed("the refused Bind changed sysfs or the state directory")

    def run(self):
        if os.geteuid() != 0:
            if os.environ.get("CI") == "true":
                log("FAIL the system tier needs root, and CI runs as root")
                return 1
            log("SKIP the system tier needs root (it creates users, runs polkitd and mounts)")
            return 77
        self.work = tempfile.mkdtemp(prefix="pp-system-")
        os.chmod(self.work, 0o755)
        start = time.monotonic()
        try:
            self.install()
            self.users()
            self.bus()
            self.polkit()
            self.activation()
            self.check("D-Bus activation: the first pcipassctl list starts the daemon and lists the whole host",
                       self.check_activation)
            if not self.results[-1][0]:
                raise Failed("no daemon to test")
            for name, func in (
                ("every user can list, read, introspect and validate", self.check_reading),
                ("Bind and Unbind: root and the group member may, the other user gets NotAuthorized "
                 "and nothing is written", self.check_bind_matrix),
                ("Reserve and Release: the same, and releasing someone's lease is refused",
                 self.check_reserve_matrix),
                ("ReloadCatalog (.manage): root only", self.check_manage_matrix),
                ("an unprivileged user cannot own io.github.pcipassd", self.check_name),
                ("the bus refuses a method of an interface the policy does not list",
                 self.check_unlisted_interface),
                ("pcipassctl bind as the other user says how to get the right, exit 1", self.check_ctl_message),
                ("without the example rules the group member is refused", self.check_without_rules),
                ("the README's commands give the group the right, and its checks pass",
                 self.check_readme),
            ):
                self.check(name, func)
        except Failed as e:
            self.results.append((False, "setup", str(e)))
            log("FAIL setup: %s" % e)
        finally:
            self.stop()
        users = ["root", MEMBER, OTHER]
        labels = []
        for (_, label) in self.matrix:
            if label not in labels:
                labels.append(label)
        log("\ndeny matrix (user x action -> result):")
        log("%-26s %s" % ("action", "  ".join("%-18s" % u for u in users)))
        for label in labels:
            log("%-26s %s" % (label, "  ".join("%-18s" % self.matrix.get((u, label), "-")[:18] for u in users)))
        failed = [r for r in self.results if not r[0]]
        log("\nsystem tier: %d passed, %d failed, %.2f s" % (len(self.results) - len(failed), len(failed),
                                                           time.monotonic() - start))
        if failed:
            for name in ("dbus-daemon.log", "polkitd.log", "pcipassd.log"):
                path = os.path.join(self.work, name)
                if os.path.exists(path):
                    log("---- %s (last lines)" % name)
                    log("".join(open(path).readlines()[-30:]))
        shutil.rmtree(self.work, ignore_errors=True)
        return 1 if failed else 0


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    # A private mount namespace: the bind mounts over polkit's directories
    # vanish with the tier, whatever happens to it.
    if os.geteuid() == 0 and os.environ.get("PP_SYSTEM_TIER_NS") != "1":
        env = dict(os.environ, PP_SYSTEM_TIER_NS="1")
        return subprocess.run(["unshare", "--mount", "--propagation", "private", sys.executable,
                               os.path.abspath(__file__), sys.argv[1]], env=env).returncode
    return Tier(sys.argv[1]).run()


if __name__ == "__main__":
    sys.exit(main())
