#!/usr/bin/python3
"""The test driver of the real-kernel tier.  Runs inside the test guest
(started by tests/vm/guest-run), where pcipassd from the build folder owns
io.github.pcipassd on the guest's system bus and the kernel is Debian's
stock kernel with an emulated Intel IOMMU.

It talks to pcipassd over D-Bus (Gio) and through pcipassctl, and checks
every answer against the guest's real sysfs, /dev/vfio and the VFIO ioctls.
Devices are found by vendor:device and topology, never by address or
group number.  Each check writes one line to RESULTS/checks.txt
("PASS name" or "FAIL name: why") as soon as it is decided, so a guest
that dies half-way still leaves what it found.

Besides the checks, it records every kernel uevent (RESULTS/uevents.log)
and a few raw kernel answers (RESULTS/kernel-facts.txt) that FINDINGS.md
compares with the simulated kernel of tests/pp-fake-kernel.c.
"""

import argparse
import errno
import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

from gi.repository import Gio, GLib

BUS_NAME = "io.github.pcipassd"
ROOT_PATH = "/io/github/pcipassd"
DEVICE_IFACE = "io.github.pcipassd1.Device"
MANAGER_PATH = ROOT_PATH + "/manager"
MANAGER_IFACE = "io.github.pcipassd1.Manager"
ERROR_PREFIX = "io.github.pcipassd.Error."
PCI = "/sys/bus/pci/devices"

# <linux/vfio.h>: _IO(VFIO_TYPE, VFIO_BASE + n), VFIO_TYPE ';', VFIO_BASE 100
VFIO_GET_API_VERSION = (ord(";") << 8) | 100
VFIO_SET_IOMMU = (ord(";") << 8) | 102
VFIO_GROUP_GET_STATUS = (ord(";") << 8) | 103
VFIO_GROUP_SET_CONTAINER = (ord(";") << 8) | 104
VFIO_GROUP_UNSET_CONTAINER = (ord(";") << 8) | 105
VFIO_GROUP_FLAGS_VIABLE = 1 << 0
VFIO_TYPE1v2_IOMMU = 3

# Vendor:device of the emulated functions (tests/vm/run's device set).
ID_E1000E = (0x8086, 0x10D3)
ID_NVME = (0x1B36, 0x0010)
ID_ROOT_PORT = (0x1B36, 0x000C)  # pcie-root-port, with ACS
ID_IOH3420 = (0x8086, 0x3420)  # ioh3420 root port, without ACS
ID_STD_VGA = (0x1234, 0x1111)
ID_VIRTIO_GPU = (0x1AF4, 0x1050)
ID_ICH9_HDA = (0x8086, 0x293E)
ID_ICH9_LPC = (0x8086, 0x2918)
ID_ICH9_AHCI = (0x8086, 0x2922)
ID_ICH9_SMBUS = (0x8086, 0x2930)


# ---- results -------------------------------------------------------------


class Results:
    def __init__(self, folder):
        self.folder = folder
        self.passed = 0
        self.failed = 0
        self.checks = open(os.path.join(folder, "checks.txt"), "w")
        self.facts = open(os.path.join(folder, "kernel-facts.txt"), "w")
        self.start = time.monotonic()

    def log(self, text):
        print("[%6.2f] %s" % (time.monotonic() - self.start, text), flush=True)

    def record(self, name, ok, why=""):
        if ok:
            self.passed += 1
            line = "PASS %s" % name
        else:
            self.failed += 1
            line = "FAIL %s: %s" % (name, why)
        self.checks.write(line + "\n")
        self.checks.flush()
        os.fsync(self.checks.fileno())
        self.log(line)
        # The console shows progress; the host prints the file at the end.
        with open("/dev/console", "w") as console:
            console.write("GUEST: %s\n" % line)

    def fact(self, text):
        self.facts.write(text + "\n")
        self.facts.flush()
        self.log("fact: " + text)


class CheckFailed(Exception):
    pass


def expect(condition, why):
    if not condition:
        raise CheckFailed(why)


def run_check(results, name, func, *args):
    """Runs one check; an exception fails it but not the ones after."""
    results.log("---- " + name)
    try:
        func(*args)
    except CheckFailed as e:
        results.record(name, False, str(e))
        return False
    except Exception as e:  # a bug in the check itself, or a hang
        results.log(traceback.format_exc())
        results.record(name, False, "%s: %s" % (type(e).__name__, e))
        return False
    results.record(name, True)
    return True


def wait_until(predicate, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


# ---- the guest's real sysfs ----------------------------------------------


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def ids(addr):
    return (int(read(f"{PCI}/{addr}/vendor"), 16), int(read(f"{PCI}/{addr}/device"), 16))


def pci_class(addr):
    return int(read(f"{PCI}/{addr}/class"), 16)


def driver(addr):
    """Current driver, "" when unbound."""
    link = f"{PCI}/{addr}/driver"
    return os.path.basename(os.readlink(link)) if os.path.islink(link) else ""


def override(addr):
    value = read(f"{PCI}/{addr}/driver_override", "")
    return "" if value == "(null)" else value


def group(addr):
    link = f"{PCI}/{addr}/iommu_group"
    return int(os.path.basename(os.readlink(link))) if os.path.islink(link) else -1


def group_members(g):
    return sorted(os.listdir(f"/sys/kernel/iommu_groups/{g}/devices"))


def parent(addr):
    """The PCI function upstream of @addr, or None on a root bus."""
    up = os.path.basename(os.path.dirname(os.path.realpath(f"{PCI}/{addr}")))
    return up if os.path.exists(f"{PCI}/{up}") else None


def addresses():
    return sorted(os.listdir(PCI))


def find(vid_did, cls=None):
    return [a for a in addresses() if ids(a) == vid_did and (cls is None or pci_class(a) >> 8 == cls)]


def net_interfaces(addr):
    try:
        return sorted(os.listdir(f"{PCI}/{addr}/net"))
    except OSError:
        return []


# Drivers that leave DMA to VFIO (driver_managed_dma): the kernel's
# viability rule, which pcipassd's GroupViable must follow.
DMA_MANAGED = {"vfio-pci", "pci-stub", "pcieport"}


# ValidateHost's checks behind each manager property: the property is
# true exactly when none of them fails (io.github.pcipassd1.Manager.xml).
PROPERTY_CHECKS = {
    "IommuEnabled": ("iommu",),
    "VfioAvailable": ("vfio-pci", "vfio-iommu-backend", "vfio-container"),
    "KvmAvailable": ("kvm", "cpu-virtualization"),
}
SEVERITIES = ("pass", "warn", "fail", "skip")


def sysfs_group_viable(g):
    return all(driver(m) in DMA_MANAGED or driver(m) == "" for m in group_members(g))


def vfio_group_status(g):
    """VFIO_GROUP_GET_STATUS flags of /dev/vfio/G (which must exist)."""
    fd = os.open(f"/dev/vfio/{g}", os.O_RDWR | os.O_CLOEXEC)
    try:
        buf = fcntl.ioctl(fd, VFIO_GROUP_GET_STATUS, struct.pack("II", 8, 0))
        return struct.unpack("II", buf)[1]
    finally:
        os.close(fd)


def sysfs_write(path, value):
    """One write(2), as pcipassd does; returns 0 or the errno."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        return e.errno
    try:
        os.write(fd, value.encode())
        return 0
    except OSError as e:
        return e.errno
    finally:
        os.close(fd)


def errname(err):
    return "OK" if err == 0 else errno.errorcode.get(err, str(err))


def snapshot(addrs):
    """What a failed operation must leave untouched."""
    return {a: (driver(a), override(a), group(a), net_interfaces(a)) for a in addrs}


# ---- kernel uevents, as they come --------------------------------------


class UeventLog:
    """Every kernel uevent (NETLINK_KOBJECT_UEVENT, group 1), with its
    properties, written to uevents.log: what pcipassd sees too."""

    def __init__(self, path):
        self.events = []
        self.lock = threading.Lock()
        self.out = open(path, "w")
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 15)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((0, 1))
        self.t0 = time.monotonic()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            data = self.sock.recv(65536)
            parts = data.split(b"\0")
            props = {}
            for p in parts[1:]:
                if b"=" in p:
                    k, v = p.split(b"=", 1)
                    props[k.decode()] = v.decode(errors="replace")
            stamp = time.monotonic() - self.t0
            with self.lock:
                self.events.append(props)
                self.out.write(
                    "%8.3f %s %s %s\n"
                    % (
                        stamp,
                        props.get("ACTION"),
                        props.get("DEVPATH"),
                        " ".join(f"{k}={v}" for k, v in props.items() if k not in ("ACTION", "DEVPATH")),
                    )
                )
                self.out.flush()

    def mark(self):
        with self.lock:
            return len(self.events)

    def since(self, mark):
        with self.lock:
            return list(self.events[mark:])


# ---- pcipassd over D-Bus ---------------------------------------------------


def object_path(addr):
    return ROOT_PATH + "/devices/pci_" + addr.replace(":", "_").replace(".", "_")


class Daemon:
    def __init__(self):
        self.bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)

    def call(self, addr, method, **options):
        """(steps, None, None) or (None, error name, message)."""
        opts = {k: GLib.Variant("b", v) for k, v in options.items()}
        try:
            reply = self.bus.call_sync(
                BUS_NAME,
                object_path(addr),
                DEVICE_IFACE,
                method,
                GLib.Variant("(a{sv})", (opts,)),
                GLib.VariantType("(a(sss))"),
                Gio.DBusCallFlags.NONE,
                120000,
                None,
            )
            return [tuple(s) for s in reply.unpack()[0]], None, None
        except GLib.Error as e:
            name = Gio.DBusError.get_remote_error(e)
            Gio.DBusError.strip_remote_error(e)
            return None, name, e.message

    def props(self, addr):
        reply = self.bus.call_sync(
            BUS_NAME,
            object_path(addr),
            "org.freedesktop.DBus.Properties",
            "GetAll",
            GLib.Variant("(s)", (DEVICE_IFACE,)),
            GLib.VariantType("(a{sv})"),
            Gio.DBusCallFlags.NONE,
            30000,
            None,
        )
        return reply.unpack()[0]

    def validate_host(self):
        """Manager.ValidateHost({}): [(subject, check, severity, message,
        remedy)], in the daemon's order."""
        reply = self.bus.call_sync(
            BUS_NAME,
            MANAGER_PATH,
            MANAGER_IFACE,
            "ValidateHost",
            GLib.Variant("(a{sv})", ({},)),
            GLib.VariantType("(a(sssss))"),
            Gio.DBusCallFlags.NONE,
            60000,
            None,
        )
        return [tuple(r) for r in reply.unpack()[0]]

    def manager_props(self):
        reply = self.bus.call_sync(
            BUS_NAME,
            MANAGER_PATH,
            "org.freedesktop.DBus.Properties",
            "GetAll",
            GLib.Variant("(s)", (MANAGER_IFACE,)),
            GLib.VariantType("(a{sv})"),
            Gio.DBusCallFlags.NONE,
            30000,
            None,
        )
        return reply.unpack()[0]

    def managed_objects(self):
        reply = self.bus.call_sync(
            BUS_NAME,
            ROOT_PATH,
            "org.freedesktop.DBus.ObjectManager",
            "GetManagedObjects",
            None,
            GLib.VariantType("(a{oa{sa{sv}}})"),
            Gio.DBusCallFlags.NONE,
            30000,
            None,
        )
        return reply.unpack()[0]

    def polkit_allow(self, actions):
        self.bus.call_sync(
            "org.freedesktop.PolicyKit1",
            "/org/freedesktop/PolicyKit1/Authority",
            "org.freedesktop.DBus.Mock",
            "SetAllowed",
            GLib.Variant("(as)", (actions,)),
            None,
            Gio.DBusCallFlags.NONE,
            30000,
            None,
        )

    def wait_props(self, addr, want, timeout=10.0):
        """Waits until every property in @want has its value; returns the
        last properties read."""
        last = {}

        def done():
            nonlocal last
            last = self.props(addr)
            return all(last.get(k) == v for k, v in want.items())

        wait_until(done, timeout)
        return last


def expect_props(props, want, who):
    wrong = {k: (props.get(k), v) for k, v in want.items() if props.get(k) != v}
    expect(not wrong, "%s: D-Bus properties (have, want): %s" % (who, wrong))


# ---- pcipassctl monitor --json, in the background ---------------------------


class Monitor:
    """pcipassctl monitor --json: one JSON object per line, each a
    PropertiesChanged (event "changed") or an object added or removed."""

    def __init__(self, pcipassctl, path):
        self.path = path
        self.out = open(path, "w")
        self.proc = subprocess.Popen(
            [pcipassctl, "monitor", "--json"], stdout=self.out, stderr=subprocess.PIPE, text=True
        )
        # It says so on stderr once it has its baseline.
        line = self.proc.stderr.readline()
        if "monitoring" not in line:
            raise RuntimeError("pcipassctl monitor did not start: %r" % line)
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def events(self):
        with open(self.path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def mark(self):
        return len(self.events())

    def wait(self, mark, predicate, timeout=10.0):
        """The first event after @mark that @predicate accepts, or None."""

        def find():
            for e in self.events()[mark:]:
                if predicate(e):
                    return e
            return None

        return wait_until(find, timeout)

    def changed(self, mark, addr, prop, new, timeout=10.0):
        return self.wait(
            mark,
            lambda e: e.get("event") == "changed"
            and e.get("address") == addr
            and e.get("property") == prop
            and e.get("new") == new,
            timeout,
        )

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


# ---- the tests ---------------------------------------------------------------


class Tier:
    def __init__(self, args):
        self.build = args.build
        self.results = Results(args.results)
        self.pcipassctl = os.path.join(self.build, "client", "pcipassctl")
        self.uevents = UeventLog(os.path.join(args.results, "uevents.log"))
        self.daemon = Daemon()
        self.monitor = None

    def ctl_json(self, *args):
        out = subprocess.run([self.pcipassctl, *args, "--json"], capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise CheckFailed("pcipassctl %s --json: exit %d: %s" % (" ".join(args), out.returncode, out.stderr.strip()))
        return json.loads(out.stdout)

    # -- the device set --

    def check_topology(self):
        nics = find(ID_E1000E)
        on_root = [a for a in nics if parent(a) is None]
        behind = [a for a in nics if parent(a) is not None and ids(parent(a)) == ID_ROOT_PORT]
        expect(len(on_root) >= 2, "want 2 e1000e on a root bus, have %s" % on_root)
        expect(len(behind) >= 1, "want an e1000e behind a pcie-root-port, have %s" % behind)
        self.nic, self.routed_nic = on_root[0], on_root[1]
        self.port_nic = behind[0]
        self.port = parent(self.port_nic)

        nvme = find(ID_NVME)
        vga = find(ID_STD_VGA, cls=0x0300)
        gpu = find(ID_VIRTIO_GPU)
        hda = find(ID_ICH9_HDA)
        expect(nvme and vga and gpu and hda, "missing nvme %s, VGA %s, GPU %s or audio %s" % (nvme, vga, gpu, hda))
        self.nvme, self.vga, self.gpu, self.audio = nvme[0], vga[0], gpu[0], hda[0]
        ich9 = [find(i) for i in (ID_ICH9_LPC, ID_ICH9_AHCI, ID_ICH9_SMBUS)]
        expect(all(ich9), "missing ICH9 functions: %s" % ich9)
        self.lpc, self.ahci, self.smbus = (f[0] for f in ich9)

        layout = {a: group(a) for a in addresses()}
        with open(os.path.join(self.results.folder, "groups.txt"), "w") as f:
            for g in sorted(set(layout.values())):
                f.write("group %d (%s): %s\n" % (
                    g, read(f"/sys/kernel/iommu_groups/{g}/type"),
                    " ".join(f"{a}[{ids(a)[0]:04x}:{ids(a)[1]:04x} {driver(a) or '-'}]" for a in group_members(g))))

        self.results.log("roles: nic %s, routed nic %s, port %s with %s, nvme %s, vga %s, gpu %s + audio %s, ich9 %s %s %s"
                         % (self.nic, self.routed_nic, self.port, self.port_nic, self.nvme, self.vga,
                            self.gpu, self.audio, self.lpc, self.ahci, self.smbus))
        expect(all(g >= 0 for g in layout.values()), "devices without an IOMMU group: %s" % layout)
        for a in (self.nic, self.routed_nic, self.port_nic, self.nvme, self.port):
            expect(group_members(group(a)) == [a], "%s is not alone in group %d: %s" % (a, group(a), group_members(group(a))))
        # The GPU's root port has no ACS: port, GPU and audio, one group.
        self.gpu_port = parent(self.gpu)
        expect(self.gpu_port is not None and ids(self.gpu_port) == ID_IOH3420,
               "the GPU %s is not behind an ioh3420 root port" % self.gpu)
        expect(group(self.gpu) == group(self.audio) and group_members(group(self.gpu)) == sorted([self.gpu_port, self.gpu, self.audio]),
               "GPU %s, audio %s and their port %s do not make one group: %s"
               % (self.gpu, self.audio, self.gpu_port, group_members(group(self.gpu))))
        expect(self.gpu.rsplit(".", 1)[0] == self.audio.rsplit(".", 1)[0], "GPU and audio are not one slot")
        g = group(self.ahci)
        expect(group(self.lpc) == g == group(self.smbus), "the ICH9 functions do not share a group")
        # The drivers the rest of the checks start from.
        want = {self.nic: "e1000e", self.port_nic: "e1000e", self.port: "pcieport", self.gpu_port: "pcieport", self.nvme: "nvme",
                self.gpu: "virtio-pci", self.audio: "snd_hda_intel", self.ahci: "ahci"}
        have = {a: driver(a) for a in want}
        expect(have == want, "drivers at boot (have, want): %s" % {a: (have[a], want[a]) for a in want if have[a] != want[a]})
        self.ich9_drivers = {a: driver(a) for a in (self.lpc, self.ahci, self.smbus)}
        self.results.fact("ICH9 drivers at boot: %s" % self.ich9_drivers)

    def check_list_matches_sysfs(self):
        devices = self.ctl_json("list")
        by_addr = {d["address"]: d for d in devices}
        expect(sorted(by_addr) == addresses(), "pcipassctl list %s != sysfs %s" % (sorted(by_addr), addresses()))
        wrong = []
        for a in addresses():
            d = by_addr[a]
            vid, did = ids(a)
            g = group(a)
            want = {
                "vendor_id": "%04x" % vid,
                "device_id": "%04x" % did,
                "class_code": "%06x" % pci_class(a),
                "driver": driver(a) or None,
                "driver_override": override(a) or None,
                "iommu_group": g,
                "iommu_group_devices": [m for m in group_members(g) if m != a],
                "group_viable": sysfs_group_viable(g),
                "boot_vga": read(f"{PCI}/{a}/boot_vga", "0") == "1",
            }
            for k, v in want.items():
                if d.get(k) != v:
                    wrong.append("%s %s: pcipassd %r, sysfs %r" % (a, k, d.get(k), v))
        expect(not wrong, "; ".join(wrong))

        objects = self.daemon.managed_objects()
        paths = sorted(p for p, ifaces in objects.items() if DEVICE_IFACE in ifaces)
        expect(paths == sorted(object_path(a) for a in addresses()), "D-Bus objects %s != sysfs" % paths)

        groups = self.ctl_json("groups")
        have = {g["group"]: (g["devices"], g["viable"]) for g in groups}
        want = {int(g): (group_members(int(g)), sysfs_group_viable(int(g))) for g in os.listdir("/sys/kernel/iommu_groups")}
        expect(have == want, "pcipassctl groups %s != sysfs %s" % (have, want))

    # -- host validation --

    def host_checks(self):
        """ValidateHost's results, held to the method's promises (subject
        "host", a known severity, each check once, a remedy with every
        warn and fail), and the manager's properties as they are after the
        call, which must agree with those results.  Returns
        ({check: (severity, message, remedy)} in the daemon's order,
        properties)."""
        results = self.daemon.validate_host()
        with open(os.path.join(self.results.folder, "validate-host.txt"), "w") as f:
            for r in results:
                f.write("%s %s %s: %s | remedy: %s\n" % r)
        by_check = {}
        for subject, check, severity, message, remedy in results:
            expect(subject == "host", "subject %r for %s" % (subject, check))
            expect(severity in SEVERITIES, "%s: severity %r" % (check, severity))
            expect(check not in by_check, "%s is reported twice" % check)
            expect(severity not in ("warn", "fail") or remedy, "%s is %s without a remedy" % (check, severity))
            by_check[check] = (severity, message, remedy)
        props = self.daemon.manager_props()
        for prop, checks in PROPERTY_CHECKS.items():
            want = not any(by_check.get(c, ("",))[0] == "fail" for c in checks)
            expect(props.get(prop) == want, "%s is %r, but its checks say %r: %s"
                   % (prop, props.get(prop), want, {c: by_check.get(c, ("missing",))[0] for c in checks}))
        self.results.fact("ValidateHost: %s; IommuEnabled %r VfioAvailable %r KvmAvailable %r"
                          % (" ".join("%s=%s" % (c, v[0]) for c, v in by_check.items()),
                             props.get("IommuEnabled"), props.get("VfioAvailable"), props.get("KvmAvailable")))
        return by_check, props

    def expect_vfio_checks_pass(self, by_check):
        """vfio-pci, its IOMMU backend and the container node are all there
        in the guest (the modules are loaded by /init, IOMMU or not), and
        ValidateHost must say so."""
        expect(os.path.isdir("/sys/bus/pci/drivers/vfio-pci"), "the guest has no vfio-pci driver")
        expect(os.path.isdir("/sys/module/vfio_iommu_type1"), "the guest has no vfio_iommu_type1")
        st = os.stat("/dev/vfio/vfio")
        expect(st.st_mode & 0o170000 == 0o020000 and st.st_mode & 0o666 == 0o666,
               "/dev/vfio/vfio has mode %o" % st.st_mode)
        for c in ("vfio-pci", "vfio-iommu-backend", "vfio-container"):
            expect(by_check.get(c, ("missing",))[0] == "pass", "%s: %s" % (c, by_check.get(c, "missing")))

    def check_validate_host(self):
        """With the IOMMU on and vfio-pci loaded, ValidateHost passes the
        IOMMU and VFIO checks, and IommuEnabled and VfioAvailable are true."""
        units = sorted(os.listdir("/sys/class/iommu"))
        expect(units and os.listdir("/sys/kernel/iommu_groups"), "the guest has no IOMMU: units %s" % units)
        by_check, props = self.host_checks()
        severity, message, _ = by_check.get("iommu", ("missing", "", ""))
        expect(severity == "pass", "iommu: %s" % (by_check.get("iommu"),))
        expect(all(u in message for u in units), "the iommu message %r does not name the units %s" % (message, units))
        self.expect_vfio_checks_pass(by_check)
        expect(props["IommuEnabled"] is True and props["VfioAvailable"] is True,
               "IommuEnabled %r VfioAvailable %r" % (props["IommuEnabled"], props["VfioAvailable"]))

    def check_ctl_validate(self):
        """pcipassctl validate --json: an array that starts with the host's
        results, the same checks and severities as ValidateHost's, remedy
        null exactly for pass and skip; the exit status is 1 when anything
        fails (here at least "kvm": the guest has no kvm module), else 0."""
        by_check, _ = self.host_checks()
        out = subprocess.run([self.pcipassctl, "validate", "--json"], capture_output=True, text=True, timeout=120)
        with open(os.path.join(self.results.folder, "validate.json"), "w") as f:
            f.write(out.stdout)
        expect(out.returncode in (0, 1), "exit status %d: %s" % (out.returncode, out.stderr.strip()))
        try:
            data = json.loads(out.stdout)
        except ValueError as e:
            raise CheckFailed("not JSON (%s): %r" % (e, out.stdout[:200]))
        expect(isinstance(data, list) and data and all(isinstance(r, dict) for r in data),
               "not an array of objects: %r" % out.stdout[:200])
        host = [r for r in data if r.get("subject") == "host"]
        expect(data[: len(host)] == host, "the host's results do not come first")
        have = [(r.get("check"), r.get("severity")) for r in host]
        want = [(c, v[0]) for c, v in by_check.items()]
        expect(have == want, "host results %s, ValidateHost %s" % (have, want))
        wrong = [r.get("check") for r in data if (r.get("remedy") is None) != (r.get("severity") in ("pass", "skip"))]
        expect(not wrong, "remedy null for a warn or fail, or set for a pass or skip: %s" % wrong)
        failed = any(r.get("severity") == "fail" for r in data)
        expect(out.returncode == int(failed), "exit status %d, with%s a fail" % (out.returncode, "" if failed else "out"))

    # -- the boot without an IOMMU (tests/vm/run's second boot) --

    def check_no_iommu_guest(self):
        """The guest is what this mode is about: intel_iommu=off, no IOMMU
        unit, no group, vfio-pci loaded."""
        cmdline = read("/proc/cmdline", "").split()
        expect("intel_iommu=off" in cmdline, "intel_iommu=off is not on the command line: %s" % cmdline)
        units = os.listdir("/sys/class/iommu") if os.path.isdir("/sys/class/iommu") else []
        groups = os.listdir("/sys/kernel/iommu_groups") if os.path.isdir("/sys/kernel/iommu_groups") else []
        expect(not units and not groups, "IOMMU units %s, groups %s" % (units, groups))
        expect(all(group(a) < 0 for a in addresses()), "devices with an IOMMU group")
        expect(os.path.isdir("/sys/bus/pci/drivers/vfio-pci"), "vfio-pci is not registered")

    def check_validate_host_no_iommu(self):
        """Without an IOMMU, ValidateHost fails "iommu", and its remedy is
        to remove the word that turned it off; VFIO's checks still pass
        (the modules load without an IOMMU); IommuEnabled is false."""
        by_check, props = self.host_checks()
        severity, message, remedy = by_check.get("iommu", ("missing", "", ""))
        expect(severity == "fail", "iommu: %s" % (by_check.get("iommu"),))
        expect("intel_iommu=off" in remedy and "remove" in remedy,
               "the remedy does not say to remove intel_iommu=off: %r" % remedy)
        self.expect_vfio_checks_pass(by_check)
        expect(props["IommuEnabled"] is False, "IommuEnabled %r" % props["IommuEnabled"])
        expect(props["VfioAvailable"] is True, "VfioAvailable %r" % props["VfioAvailable"])

    def no_iommu_facts(self):
        """What the real kernel does with a vfio-pci bind of a device that
        has no IOMMU group (the ICH9 SMBus, which q35 always has); the
        simulated kernel answers EINVAL (vfio_group_find_or_alloc())."""
        f = self.results.fact
        for d in ("/sys/class/iommu", "/sys/kernel/iommu_groups"):
            f("no IOMMU: %s %s" % (d, "lists %s" % sorted(os.listdir(d)) if os.path.isdir(d) else "does not exist"))
        smbus = find(ID_ICH9_SMBUS)
        if not smbus:
            f("no ICH9 SMBus function in this guest")
            return
        a = smbus[0]
        boot = driver(a)
        sysfs_write(f"{PCI}/{a}/driver_override", "vfio-pci")
        if boot:
            sysfs_write(f"{PCI}/{a}/driver/unbind", a)
        err = sysfs_write("/sys/bus/pci/drivers/vfio-pci/bind", a)
        f("no IOMMU: vfio-pci/bind of %s (no iommu_group): %s; driver %r; /dev/vfio: %s"
          % (a, errname(err), driver(a), sorted(os.listdir("/dev/vfio"))))
        err = sysfs_write("/sys/bus/pci/drivers_probe", a)
        f("no IOMMU: drivers_probe with override vfio-pci: %s; driver %r" % (errname(err), driver(a)))
        sysfs_write(f"{PCI}/{a}/driver_override", "\n")
        if driver(a):
            sysfs_write(f"{PCI}/{a}/driver/unbind", a)
        sysfs_write("/sys/bus/pci/drivers_probe", a)
        f("no IOMMU: %s restored: %r (boot: %r)" % (a, driver(a), boot))

    def check_not_authorized(self):
        before = snapshot([self.nic])
        steps, err, msg = self.daemon.call(self.nic, "Bind")
        expect(err == ERROR_PREFIX + "NotAuthorized", "Bind without polkit's yes: %s %s %s" % (steps, err, msg))
        expect(snapshot([self.nic]) == before, "a refused Bind changed sysfs")
        self.daemon.polkit_allow(["io.github.pcipassd.bind", "io.github.pcipassd.unbind"])

    def check_dry_run(self):
        before = snapshot([self.nic])
        steps, err, msg = self.daemon.call(self.nic, "Bind", dry_run=True)
        expect(err is None, "dry run failed: %s %s" % (err, msg))
        expect(steps == [(self.nic, "e1000e", "vfio-pci")], "plan %s" % steps)
        expect(snapshot([self.nic]) == before, "a dry run changed sysfs")

    def check_bind_nic(self):
        a, g = self.nic, group(self.nic)
        m, u = self.monitor.mark(), self.uevents.mark()
        ifaces = net_interfaces(a)
        expect(ifaces, "%s has no network interface before the bind" % a)
        expect(not os.path.exists(f"/dev/vfio/{g}"), "/dev/vfio/%d exists before the bind" % g)
        steps, err, msg = self.daemon.call(a, "Bind")
        expect(err is None, "Bind: %s: %s" % (err, msg))
        expect(steps == [(a, "e1000e", "vfio-pci")], "steps %s" % steps)
        expect(driver(a) == "vfio-pci", "sysfs driver is %r" % driver(a))
        expect(override(a) == "vfio-pci", "driver_override is %r" % override(a))
        node = f"/dev/vfio/{g}"
        expect(os.path.exists(node) and os.stat(node).st_mode & 0o170000 == 0o020000, "%s is not a character device" % node)
        expect(net_interfaces(a) == [], "the interface %s is still there" % net_interfaces(a))
        flags = vfio_group_status(g)
        expect(flags & VFIO_GROUP_FLAGS_VIABLE, "VFIO_GROUP_GET_STATUS flags %#x: not viable" % flags)
        props = self.daemon.wait_props(a, {"Driver": "vfio-pci"})
        expect_props(props, {"Driver": "vfio-pci", "DriverOverride": "vfio-pci", "State": "vfio",
                             "OriginalDriver": "e1000e", "GroupViable": True, "IommuGroup": g}, a)
        expect(self.monitor.changed(m, a, "Driver", "vfio-pci"), "no PropertiesChanged Driver -> vfio-pci")
        expect(self.monitor.changed(m, a, "State", "vfio"), "no PropertiesChanged State -> vfio")
        ev = self.uevents.since(u)
        expect(any(e.get("ACTION") == "bind" and e.get("DRIVER") == "vfio-pci" and e.get("PCI_SLOT_NAME") == a for e in ev),
               "the kernel sent no bind uevent")

    def check_unbind_nic(self):
        a, g = self.nic, group(self.nic)
        m = self.monitor.mark()
        steps, err, msg = self.daemon.call(a, "Unbind")
        expect(err is None, "Unbind: %s: %s" % (err, msg))
        expect(steps == [(a, "vfio-pci", "e1000e")], "steps %s" % steps)
        expect(driver(a) == "e1000e", "sysfs driver is %r" % driver(a))
        expect(override(a) == "", "driver_override is %r" % override(a))
        expect(not os.path.exists(f"/dev/vfio/{g}"), "/dev/vfio/%d is still there" % g)
        expect(wait_until(lambda: net_interfaces(a), 5), "no network interface came back")
        props = self.daemon.wait_props(a, {"Driver": "e1000e"})
        expect_props(props, {"Driver": "e1000e", "DriverOverride": "", "State": "host", "OriginalDriver": ""}, a)
        expect(self.monitor.changed(m, a, "Driver", "e1000e"), "no PropertiesChanged Driver -> e1000e")

    def check_gpu_alone(self):
        """Bind of the GPU alone: the group is not viable, and the kernel
        agrees."""
        gpu, audio, g = self.gpu, self.audio, group(self.gpu)
        props = self.daemon.props(gpu)
        expect(props["GroupViable"] is False, "GroupViable before any bind: %r" % props["GroupViable"])
        # The group's members are the devices with its number: no object
        # lists its peers.
        expect("IommuGroupDevices" not in props, "IommuGroupDevices is still published")
        for member in (audio, self.gpu_port):
            expect(self.daemon.props(member)["IommuGroup"] == props["IommuGroup"],
                   "%s is not in %s's IOMMU group %r" % (member, gpu, props["IommuGroup"]))
        steps, err, msg = self.daemon.call(gpu, "Bind", group=False)
        expect(err is None, "Bind group=false: %s: %s" % (err, msg))
        expect(steps == [(gpu, "virtio-pci", "vfio-pci")], "steps %s" % steps)
        expect(driver(gpu) == "vfio-pci" and driver(audio) == "snd_hda_intel",
               "drivers %s, %s" % (driver(gpu), driver(audio)))
        flags = vfio_group_status(g)
        expect(not flags & VFIO_GROUP_FLAGS_VIABLE, "the kernel says viable (%#x) with audio on snd_hda_intel" % flags)
        props = self.daemon.wait_props(gpu, {"Driver": "vfio-pci"})
        expect_props(props, {"Driver": "vfio-pci", "State": "vfio", "GroupViable": False}, gpu)

    def check_gpu_group(self):
        gpu, audio, g = self.gpu, self.audio, group(self.gpu)
        m = self.monitor.mark()
        steps, err, msg = self.daemon.call(audio, "Bind")  # group is the default
        expect(err is None, "Bind: %s: %s" % (err, msg))
        expect(steps == [(audio, "snd_hda_intel", "vfio-pci")], "steps %s" % steps)
        expect(driver(gpu) == driver(audio) == "vfio-pci", "drivers %s, %s" % (driver(gpu), driver(audio)))
        # The root port stays on pcieport, which leaves DMA to VFIO.
        expect(driver(self.gpu_port) == "pcieport", "the GPU's root port is on %r" % driver(self.gpu_port))
        flags = vfio_group_status(g)
        expect(flags & VFIO_GROUP_FLAGS_VIABLE, "VFIO_GROUP_GET_STATUS flags %#x: not viable" % flags)
        for a in (gpu, audio):
            props = self.daemon.wait_props(a, {"GroupViable": True})
            expect_props(props, {"Driver": "vfio-pci", "State": "vfio", "GroupViable": True}, a)
            expect(self.monitor.changed(m, a, "GroupViable", True), "no PropertiesChanged GroupViable -> true for %s" % a)
        # Bind of what is already on vfio-pci changes nothing.
        steps, err, msg = self.daemon.call(gpu, "Bind")
        expect(err is None and steps == [], "a second Bind: %s %s %s" % (steps, err, msg))

    def check_unbind_busy(self):
        """Unbind while a "VM" holds the group: Busy, nothing moves.  The
        group is opened and attached to a container, as QEMU does."""
        gpu, audio, g = self.gpu, self.audio, group(self.gpu)
        gfd = os.open(f"/dev/vfio/{g}", os.O_RDWR | os.O_CLOEXEC)
        cfd = os.open("/dev/vfio/vfio", os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.ioctl(gfd, VFIO_GROUP_SET_CONTAINER, struct.pack("i", cfd))
            fcntl.ioctl(cfd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)
            before = snapshot([gpu, audio])
            steps, err, msg = self.daemon.call(gpu, "Unbind")
            expect(err == ERROR_PREFIX + "Busy", "Unbind of an open group: %s %s %s" % (steps, err, msg))
            expect(snapshot([gpu, audio]) == before, "a refused Unbind changed sysfs")
            props = self.daemon.props(gpu)
            expect(props["State"] == "in-use", "State %r while the group is open" % props["State"])
        finally:
            try:
                fcntl.ioctl(gfd, VFIO_GROUP_UNSET_CONTAINER)
            except OSError:
                pass
            os.close(cfd)
            os.close(gfd)

    def check_gpu_unbind(self):
        gpu, audio, g = self.gpu, self.audio, group(self.gpu)
        m = self.monitor.mark()
        steps, err, msg = self.daemon.call(gpu, "Unbind")
        expect(err is None, "Unbind: %s: %s" % (err, msg))
        expect(sorted(steps) == sorted([(gpu, "vfio-pci", "virtio-pci"), (audio, "vfio-pci", "snd_hda_intel")]),
               "steps %s" % steps)
        expect(driver(gpu) == "virtio-pci" and driver(audio) == "snd_hda_intel",
               "drivers %s, %s" % (driver(gpu), driver(audio)))
        expect(override(gpu) == override(audio) == "", "overrides left: %r %r" % (override(gpu), override(audio)))
        expect(not os.path.exists(f"/dev/vfio/{g}"), "/dev/vfio/%d is still there" % g)
        for a in (gpu, audio):
            props = self.daemon.wait_props(a, {"State": "host"})
            expect_props(props, {"State": "host", "GroupViable": False, "OriginalDriver": ""}, a)
        expect(self.monitor.changed(m, audio, "Driver", "snd_hda_intel"), "no PropertiesChanged Driver -> snd_hda_intel")

    def check_ich9_group(self):
        """Bind with group of the ICH9 functions, whose LPC function (an ISA
        bridge, class 0601, but a type 0 header that vfio-pci accepts) is
        on lpc_ich, as on a real host with udev.  Two answers are coherent:
        every endpoint moves and the kernel calls the group viable, or the
        Bind is refused with GroupNotViable and nothing moves.  Success
        with a group the kernel will not hand to a VM is not."""
        g = group(self.ahci)
        members = group_members(g)
        before = snapshot(members)
        steps, err, msg = self.daemon.call(self.ahci, "Bind")
        after = {a: driver(a) for a in members}
        self.results.fact("ICH9 Bind(group): steps %s, error %s %s, drivers before %s after %s"
                          % (steps, err, msg, {a: v[0] for a, v in before.items()}, after))
        if err == ERROR_PREFIX + "GroupNotViable":
            expect(snapshot(members) == before, "a refused Bind changed sysfs")
            return
        expect(err is None, "Bind: %s: %s" % (err, msg))
        left = {a: d for a, d in after.items() if d not in DMA_MANAGED and d != ""}
        viable = os.path.exists(f"/dev/vfio/{g}") and vfio_group_status(g) & VFIO_GROUP_FLAGS_VIABLE
        expect(viable and not left,
               "Bind(group) succeeded but VFIO_GROUP_GET_STATUS says not viable: moved %s, left on "
               "kernel drivers %s (vfio-pci accepts them: see kernel-facts.txt)"
               % (sorted(s[0] for s in steps), left))
        props = self.daemon.wait_props(self.ahci, {"GroupViable": True})
        expect(props["GroupViable"] is True, "GroupViable %r" % props["GroupViable"])

    def check_ich9_unbind(self):
        members = group_members(group(self.ahci))
        steps, err, msg = self.daemon.call(self.ahci, "Unbind")
        expect(err is None, "Unbind: %s: %s" % (err, msg))
        now = {a: driver(a) for a in members}
        expect(now == self.ich9_drivers, "drivers after Unbind %s, at boot %s" % (now, self.ich9_drivers))
        expect(all(override(a) == "" for a in members), "overrides left")

    def check_protected_nvme(self):
        a = self.nvme
        props = self.daemon.props(a)
        expect(props["ProtectionReason"] == "mounted-filesystem", "ProtectionReason %r" % props["ProtectionReason"])
        before = snapshot([a])
        steps, err, msg = self.daemon.call(a, "Bind")
        expect(err == ERROR_PREFIX + "Protected", "Bind of the NVMe: %s %s %s" % (steps, err, msg))
        expect(snapshot([a]) == before, "a refused Bind changed sysfs")
        expect(read("/mnt/nvme/hello") == "pcipassd vm test", "the filesystem on the NVMe is gone")

    def check_protected_vga(self):
        a = self.vga
        expect(read(f"{PCI}/{a}/boot_vga") == "1", "the kernel does not call %s the boot VGA" % a)
        props = self.daemon.props(a)
        expect(props["BootVga"] is True and props["ProtectionReason"] == "boot-vga",
               "BootVga %r ProtectionReason %r" % (props["BootVga"], props["ProtectionReason"]))
        before = snapshot([a])
        steps, err, msg = self.daemon.call(a, "Bind")
        expect(err == ERROR_PREFIX + "Protected", "Bind of the boot VGA: %s %s %s" % (steps, err, msg))
        expect(snapshot([a]) == before, "a refused Bind changed sysfs")

    def check_protected_route(self):
        a = self.routed_nic
        ifaces = net_interfaces(a)
        expect(ifaces, "%s has no interface" % a)
        bb = "/opt/busybox"
        for cmd in (["ip", "link", "set", ifaces[0], "up"],
                    ["ip", "addr", "add", "10.0.2.15/24", "dev", ifaces[0]],
                    ["ip", "route", "add", "default", "via", "10.0.2.2", "dev", ifaces[0]]):
            r = subprocess.run([bb, *cmd], capture_output=True, text=True)
            expect(r.returncode == 0, "%s: %s" % (" ".join(cmd), r.stderr.strip()))
        before = snapshot([a])
        steps, err, msg = self.daemon.call(a, "Bind")
        expect(err == ERROR_PREFIX + "Protected", "Bind of the routed NIC: %s %s %s" % (steps, err, msg))
        expect(snapshot([a]) == before, "a refused Bind changed sysfs")
        props = self.daemon.props(a)
        expect(props["ProtectionReason"] == "default-route", "ProtectionReason %r" % props["ProtectionReason"])

    def check_kernel_refuses_bridge(self):
        """vfio-pci refuses a bridge (not a type 0 header): -EINVAL from its
        probe, which drivers/vfio-pci/bind returns.  pcipassd must say so
        (Kernel, with the errno's text) and put the port back on pcieport."""
        port, behind = self.port, self.port_nic
        before = snapshot([port, behind])
        m = self.monitor.mark()
        steps, err, msg = self.daemon.call(port, "Bind", group=False)
        self.results.fact("Bind(group=false) of root port %s: %s %s" % (port, err, msg))
        expect(err == ERROR_PREFIX + "Kernel", "Bind of a root port: %s %s %s" % (steps, err, msg))
        expect("Invalid argument" in msg, "the message has no errno text (EINVAL): %s" % msg)
        expect("drivers/vfio-pci/bind" in msg, "the message does not name the file: %s" % msg)
        after = snapshot([port, behind])
        expect(after == before, "not left as it was: before %s, after %s" % (before, after))
        props = self.daemon.wait_props(port, {"Driver": "pcieport"})
        expect_props(props, {"Driver": "pcieport", "DriverOverride": "", "State": "host", "OriginalDriver": ""}, port)
        expect(self.daemon.props(behind)["Driver"] == "e1000e", "the NIC behind the port lost its driver")
        # The port was unbound and bound again within the call; pcipassd
        # re-reads sysfs when the uevents arrive, by which time the port is
        # back, so it may rightly announce nothing.  Whatever it did
        # announce must end where the kernel is.
        time.sleep(0.5)
        seen = [e["new"] for e in self.monitor.events()[m:]
                if e.get("address") == port and e.get("property") == "Driver"]
        self.results.fact("Driver changes announced for the port during the failed Bind: %s" % seen)
        expect(not seen or seen[-1] == "pcieport", "the last Driver announced for the port is %r" % seen[-1:])

    def check_external_change(self):
        """A change made by someone else (here: sysfs written directly) is
        published from the kernel's uevents alone."""
        a = self.nic
        m = self.monitor.mark()
        err = sysfs_write(f"{PCI}/{a}/driver/unbind", a)
        expect(err == 0, "unbind: %s" % errname(err))
        expect(self.monitor.changed(m, a, "Driver", ""),
               "no PropertiesChanged Driver -> \"\" after an unbind by hand")
        props = self.daemon.wait_props(a, {"Driver": "", "State": "unbound"})
        expect_props(props, {"Driver": "", "State": "unbound"}, a)
        m = self.monitor.mark()
        err = sysfs_write("/sys/bus/pci/drivers_probe", a)
        expect(err == 0, "drivers_probe: %s" % errname(err))
        expect(self.monitor.changed(m, a, "Driver", "e1000e"), "no PropertiesChanged Driver -> e1000e after drivers_probe")
        expect_props(self.daemon.wait_props(a, {"State": "host"}), {"Driver": "e1000e", "State": "host"}, a)

    def check_hotplug(self):
        """Hot removal and rescan of the NIC behind the root port."""
        a, g = self.port_nic, group(self.port_nic)
        m = self.monitor.mark()
        err = sysfs_write(f"{PCI}/{a}/remove", "1")
        expect(err == 0, "remove: %s" % errname(err))
        expect(self.monitor.wait(m, lambda e: e.get("event") == "removed" and e.get("address") == a),
               "no InterfacesRemoved for %s" % a)
        paths = self.daemon.managed_objects()
        expect(object_path(a) not in paths, "the object is still exported")
        m = self.monitor.mark()
        err = sysfs_write("/sys/bus/pci/rescan", "1")
        expect(err == 0, "rescan: %s" % errname(err))
        expect(self.monitor.wait(m, lambda e: e.get("event") == "added" and e.get("address") == a),
               "no InterfacesAdded for %s" % a)
        props = self.daemon.wait_props(a, {"Driver": "e1000e"})
        expect_props(props, {"Driver": "e1000e", "State": "host", "IommuGroup": group(a)}, a)
        self.results.fact("hot-removed %s (group %d) came back in group %d" % (a, g, group(a)))

    # -- raw kernel answers, for FINDINGS.md (not checks) --

    def kernel_facts(self):
        f = self.results.fact
        gpu, audio, g = self.gpu, self.audio, group(self.gpu)
        ov = f"{PCI}/{audio}/driver_override"

        # Is a sysfs bind synchronous: is the new driver link there when
        # write() returns?
        sysfs_write(ov, "vfio-pci")
        sysfs_write(f"{PCI}/{audio}/driver/unbind", audio)
        f("unbind: driver link right after write(): %r" % driver(audio))
        err = sysfs_write("/sys/bus/pci/drivers/vfio-pci/bind", audio)
        f("vfio-pci/bind: %s; driver link right after write(): %r; /dev/vfio/%d exists: %s"
          % (errname(err), driver(audio), g, os.path.exists(f"/dev/vfio/{g}")))
        err = sysfs_write("/sys/bus/pci/drivers/vfio-pci/bind", audio)
        f("vfio-pci/bind while already bound: %s" % errname(err))
        err = sysfs_write("/sys/bus/pci/drivers/snd_hda_intel/bind", audio)
        f("snd_hda_intel/bind while bound to vfio-pci: %s" % errname(err))
        err = sysfs_write("/sys/bus/pci/drivers/snd_hda_intel/unbind", audio)
        f("snd_hda_intel/unbind of a device on vfio-pci: %s" % errname(err))
        sysfs_write(f"{PCI}/{audio}/driver/unbind", audio)
        err = sysfs_write("/sys/bus/pci/drivers/snd_hda_intel/bind", audio)
        f("snd_hda_intel/bind of an unbound device whose override is vfio-pci: %s" % errname(err))

        # Emptying driver_override: O_TRUNC and no bytes (a shell's
        # "printf '' > driver_override") versus "\n".
        fd = os.open(ov, os.O_WRONLY | os.O_TRUNC)
        os.close(fd)
        f("driver_override after open(O_TRUNC)+close, no write: %r" % read(ov))
        fd = os.open(ov, os.O_WRONLY)
        try:
            n = os.write(fd, b"")
            f("write of 0 bytes to driver_override returned %d; now %r" % (n, read(ov)))
        except OSError as e:
            f("write of 0 bytes to driver_override: %s" % errname(e.errno))
        os.close(fd)
        err = sysfs_write(ov, "\n")
        f("driver_override after writing \"\\n\": %s, now %r" % (errname(err), read(ov)))
        err = sysfs_write("/sys/bus/pci/drivers/vfio-pci/bind", audio)
        f("vfio-pci/bind with no override: %s" % errname(err))
        err = sysfs_write(ov, "no-such-driver")
        err2 = sysfs_write("/sys/bus/pci/drivers_probe", audio)
        f("override naming no loaded driver, then drivers_probe: %s, %s; driver %r" % (errname(err), errname(err2), driver(audio)))
        sysfs_write(ov, "\n")
        err = sysfs_write("/sys/bus/pci/drivers_probe", "0000:99:00.0")
        f("drivers_probe of a device that does not exist: %s" % errname(err))
        err = sysfs_write("/sys/bus/pci/drivers/vfio-pci/bind", "0000:99:00.0")
        f("vfio-pci/bind of a device that does not exist: %s" % errname(err))
        err = sysfs_write(f"{PCI}/{self.port}/driver_override", "x" * 5000)
        f("driver_override of 5000 bytes: %s" % errname(err))

        # DMA ownership: is merely opening /dev/vfio/N a claim, or only
        # VFIO_GROUP_SET_CONTAINER?  The GPU on vfio-pci keeps the node.
        sysfs_write(f"{PCI}/{gpu}/driver_override", "vfio-pci")
        sysfs_write(f"{PCI}/{gpu}/driver/unbind", gpu)
        sysfs_write("/sys/bus/pci/drivers/vfio-pci/bind", gpu)
        gfd = os.open(f"/dev/vfio/{g}", os.O_RDWR | os.O_CLOEXEC)
        try:
            err = sysfs_write("/sys/bus/pci/drivers_probe", audio)
            f("group opened (no container): drivers_probe of the sibling: %s, driver %r" % (errname(err), driver(audio)))
            if driver(audio):
                sysfs_write(f"{PCI}/{audio}/driver/unbind", audio)
            flags = fcntl.ioctl(gfd, VFIO_GROUP_GET_STATUS, struct.pack("II", 8, 0))
            f("group status with the sibling unbound: flags %#x" % struct.unpack("II", flags)[1])
            cfd = os.open("/dev/vfio/vfio", os.O_RDWR | os.O_CLOEXEC)
            try:
                fcntl.ioctl(gfd, VFIO_GROUP_SET_CONTAINER, struct.pack("i", cfd))
                err = sysfs_write("/sys/bus/pci/drivers/snd_hda_intel/bind", audio)
                f("group attached to a container: snd_hda_intel/bind of the sibling: %s" % errname(err))
                err = sysfs_write("/sys/bus/pci/drivers_probe", audio)
                f("group attached to a container: drivers_probe of the sibling: %s, driver %r" % (errname(err), driver(audio)))
                fcntl.ioctl(gfd, VFIO_GROUP_UNSET_CONTAINER)
            finally:
                os.close(cfd)
        finally:
            os.close(gfd)
        # Back to the boot state.
        for a, d in ((gpu, "virtio-pci"), (audio, "snd_hda_intel")):
            sysfs_write(f"{PCI}/{a}/driver_override", "\n")
            if driver(a) and driver(a) != d:
                sysfs_write(f"{PCI}/{a}/driver/unbind", a)
            if not driver(a):
                sysfs_write("/sys/bus/pci/drivers_probe", a)
        f("restored: %s %r, %s %r" % (gpu, driver(gpu), audio, driver(audio)))

        # Header types (config byte 0x0e): what vfio-pci actually checks.
        for a in addresses():
            with open(f"{PCI}/{a}/config", "rb") as c:
                hdr = c.read(16)[14] & 0x7F
            f("%s class %06x header type %d" % (a, pci_class(a), hdr))
        # Can vfio-pci take the ICH9 LPC (an ISA bridge, class 0601, type 0
        # header) and so make that group viable?
        members = group_members(group(self.lpc))
        boot = {a: driver(a) for a in members}
        for a in members:
            sysfs_write(f"{PCI}/{a}/driver_override", "vfio-pci")
            if driver(a):
                sysfs_write(f"{PCI}/{a}/driver/unbind", a)
            err = sysfs_write("/sys/bus/pci/drivers/vfio-pci/bind", a)
            f("ICH9 %s (%s) -> vfio-pci/bind: %s" % (a, boot[a] or "no driver", errname(err)))
        lg = group(self.lpc)
        if os.path.exists(f"/dev/vfio/{lg}"):
            f("ICH9 group %d with every member on vfio-pci: VFIO_GROUP_GET_STATUS flags %#x" % (lg, vfio_group_status(lg)))
        for a in members:
            sysfs_write(f"{PCI}/{a}/driver_override", "\n")
            if driver(a):
                sysfs_write(f"{PCI}/{a}/driver/unbind", a)
            sysfs_write("/sys/bus/pci/drivers_probe", a)
        f("ICH9 restored: %s (boot: %s)" % ({a: driver(a) for a in members}, boot))

    def check_restart(self):
        """A device moved before a daemon restart goes back to its driver:
        the record in the state directory survives, and the new daemon
        reads the kernel's state as it finds it."""
        a = self.nic
        steps, err, msg = self.daemon.call(a, "Bind")
        expect(err is None and driver(a) == "vfio-pci", "Bind: %s %s %s" % (steps, err, msg))
        pid = int(read("/run/pcipassd.pid"))
        os.kill(pid, signal.SIGTERM)
        expect(wait_until(lambda: not os.path.exists(f"/proc/{pid}") or
                          read(f"/proc/{pid}/stat", "").split()[2:3] == ["Z"], 10),
               "pcipassd did not exit on SIGTERM")
        log = open(os.path.join(self.results.folder, "pcipassd-restarted.log"), "w")
        proc = subprocess.Popen(
            [os.path.join(self.build, "service", "pcipassd"), "--verbose", "--state-dir=/var/lib/pcipassd"],
            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, G_MESSAGES_DEBUG="all"))
        with open("/run/pcipassd.pid", "w") as f:
            f.write("%d\n" % proc.pid)
        expect(subprocess.run(["gdbus", "wait", "--system", "--timeout", "30", BUS_NAME]).returncode == 0,
               "the new pcipassd did not take the bus name")
        props = self.daemon.props(a)
        expect_props(props, {"Driver": "vfio-pci", "State": "vfio", "OriginalDriver": "e1000e"}, a)
        steps, err, msg = self.daemon.call(a, "Unbind")
        expect(err is None and steps == [(a, "vfio-pci", "e1000e")], "Unbind: %s %s %s" % (steps, err, msg))
        expect(driver(a) == "e1000e" and override(a) == "", "driver %r override %r" % (driver(a), override(a)))

    def restart_daemon(self, log_name):
        """SIGTERM to the running pcipassd, and a new one, waited for."""
        pid = int(read("/run/pcipassd.pid"))
        os.kill(pid, signal.SIGTERM)
        expect(wait_until(lambda: not os.path.exists(f"/proc/{pid}") or
                          read(f"/proc/{pid}/stat", "").split()[2:3] == ["Z"], 10),
               "pcipassd did not exit on SIGTERM")
        log = open(os.path.join(self.results.folder, log_name), "w")
        proc = subprocess.Popen(
            [os.path.join(self.build, "service", "pcipassd"), "--verbose", "--state-dir=/var/lib/pcipassd"],
            stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, G_MESSAGES_DEBUG="all"))
        with open("/run/pcipassd.pid", "w") as f:
            f.write("%d\n" % proc.pid)
        expect(subprocess.run(["gdbus", "wait", "--system", "--timeout", "30", BUS_NAME]).returncode == 0,
               "the new pcipassd did not take the bus name")

    def check_persistent(self):
        """A persistent binding is applied again by the real kernel's rules:
        after a daemon restart that finds the NIC back on e1000e (as after
        a reboot), and after a hot removal and rescan, where e1000e probes
        it first: the daemon publishes it only once on vfio-pci."""
        a = self.port_nic
        steps, err, msg = self.daemon.call(a, "Bind", persistent=True)
        expect(err is None and driver(a) == "vfio-pci", "Bind: %s %s %s" % (steps, err, msg))
        expect_props(self.daemon.props(a), {"Persistent": True, "Driver": "vfio-pci"}, a)

        # A reboot, as far as this device can tell: on e1000e, no override.
        self.monitor.stop()
        expect(sysfs_write(f"{PCI}/{a}/driver_override", "\n") == 0, "clearing the override")
        expect(sysfs_write("/sys/bus/pci/drivers/vfio-pci/unbind", a) == 0, "unbinding vfio-pci")
        expect(sysfs_write("/sys/bus/pci/drivers_probe", a) == 0, "probing")
        expect(driver(a) == "e1000e", "the NIC is on %r, not e1000e, before the restart" % driver(a))
        self.restart_daemon("pcipassd-persistent.log")
        expect(driver(a) == "vfio-pci", "after the restart the NIC is on %r" % driver(a))
        expect_props(self.daemon.props(a), {"Persistent": True, "Driver": "vfio-pci", "State": "vfio"}, a)
        self.results.fact("persistent binding of %s applied again by the restarted daemon" % a)

        # Hot removal and rescan: e1000e gets it first, the bus sees vfio-pci.
        self.monitor = Monitor(self.pcipassctl, os.path.join(self.results.folder, "monitor-persistent.jsonl"))
        m = self.monitor.mark()
        expect(sysfs_write(f"{PCI}/{a}/remove", "1") == 0, "remove")
        expect(self.monitor.wait(m, lambda e: e.get("event") == "removed" and e.get("address") == a),
               "no InterfacesRemoved for %s" % a)
        m = self.monitor.mark()
        expect(sysfs_write("/sys/bus/pci/rescan", "1") == 0, "rescan")
        expect(self.monitor.wait(m, lambda e: e.get("event") == "added" and e.get("address") == a),
               "no InterfacesAdded for %s" % a)
        props = self.daemon.props(a)
        expect_props(props, {"Persistent": True, "Driver": "vfio-pci", "State": "vfio"}, a)
        changed = [e for e in self.monitor.events()[m:] if e.get("address") == a and e.get("property") == "Driver"]
        expect(not changed, "Driver changed after the device was published: %s" % changed)
        self.results.fact("rescanned %s was published on vfio-pci directly" % a)

        steps, err, msg = self.daemon.call(a, "Unbind")
        expect(err is None and driver(a) == "e1000e", "Unbind: %s %s %s" % (steps, err, msg))
        expect_props(self.daemon.props(a), {"Persistent": False}, a)

    def check_daemon_alive(self):
        expect(subprocess.run(["gdbus", "wait", "--system", "--timeout", "1", BUS_NAME]).returncode == 0,
               "pcipassd left the bus")

    def run(self):
        r = self.results
        if not run_check(r, "topology: the device set is there, found by vendor:device", self.check_topology):
            return
        self.monitor = Monitor(self.pcipassctl, os.path.join(r.folder, "monitor.jsonl"))
        checks = [
            ("list and groups match the guest's sysfs", self.check_list_matches_sysfs),
            ("ValidateHost: iommu and VFIO checks pass, IommuEnabled and VfioAvailable true",
             self.check_validate_host),
            ("pcipassctl validate --json: an array with ValidateHost's host checks", self.check_ctl_validate),
            ("Bind without polkit's consent: NotAuthorized, nothing changes", self.check_not_authorized),
            ("Bind dry_run of a NIC: the plan, nothing changes", self.check_dry_run),
            ("Bind of a NIC reaches vfio-pci, /dev/vfio/N appears, viable", self.check_bind_nic),
            ("Unbind gives the NIC back to e1000e", self.check_unbind_nic),
            ("Bind of the GPU alone: group not viable, as the kernel says", self.check_gpu_alone),
            ("Bind with group of GPU+audio: both on vfio-pci, port stays, viable", self.check_gpu_group),
            ("Unbind while the group is attached to a container: Busy", self.check_unbind_busy),
            ("Unbind of the GPU group: virtio-pci and snd_hda_intel back", self.check_gpu_unbind),
            ("Bind with group of the ICH9 group (LPC on lpc_ich): viable, or GroupNotViable", self.check_ich9_group),
            ("Unbind of the ICH9 group: the boot drivers back", self.check_ich9_unbind),
            ("Bind of the NVMe holding a mounted filesystem: Protected", self.check_protected_nvme),
            ("Bind of the boot VGA: Protected", self.check_protected_vga),
            ("Bind of the NIC with the default route: Protected", self.check_protected_route),
            ("Bind of a root port: Kernel error with EINVAL, nothing changed", self.check_kernel_refuses_bridge),
            ("A driver change made by hand is published (uevents)", self.check_external_change),
            ("Hot removal and rescan: InterfacesRemoved, InterfacesAdded", self.check_hotplug),
            ("After a daemon restart, Unbind still gives the NIC back", self.check_restart),
            ("A persistent binding is applied again after a restart and a rescan", self.check_persistent),
            ("pcipassd is still on the bus", self.check_daemon_alive),
        ]
        for name, func in checks:
            run_check(r, name, func)
        self.monitor.stop()
        try:
            self.kernel_facts()
        except Exception:
            r.log("kernel facts: " + traceback.format_exc())


    def run_no_iommu(self):
        r = self.results
        if not run_check(r, "no IOMMU: the guest has intel_iommu=off, no IOMMU groups, vfio-pci",
                         self.check_no_iommu_guest):
            return
        checks = [
            ("no IOMMU: ValidateHost fails iommu with remedy \"remove intel_iommu=off\", VFIO passes, "
             "IommuEnabled false", self.check_validate_host_no_iommu),
            ("no IOMMU: pcipassctl validate --json has the iommu fail, exit status 1", self.check_ctl_validate),
            ("no IOMMU: pcipassd is still on the bus", self.check_daemon_alive),
        ]
        for name, func in checks:
            run_check(r, name, func)
        try:
            self.no_iommu_facts()
        except Exception:
            r.log("kernel facts: " + traceback.format_exc())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", required=True)
    parser.add_argument("--results", required=True)
    # "full": the guest of tests/vm/run's first boot (IOMMU, device set);
    # "no-iommu": its second boot, intel_iommu=off, host validation only.
    parser.add_argument("--mode", choices=("full", "no-iommu"), default="full")
    args = parser.parse_args()
    tier = Tier(args)
    try:
        if args.mode == "no-iommu":
            tier.run_no_iommu()
        else:
            tier.run()
    finally:
        r = tier.results
        r.log("%d passed, %d failed" % (r.passed, r.failed))
        with open(os.path.join(args.results, "status.txt"), "w") as f:
            f.write("DONE\n")
    return 0 if r.failed == 0 and r.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
