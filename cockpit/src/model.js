/* The page's view of pcipassd: the daemon's objects on the system bus,
 * kept up to date by its ObjectManager and PropertiesChanged signals (the
 * cockpit.dbus proxies do both).  Nothing here reads sysfs or runs a
 * command: pcipassd is the only source. */

export const BUS_NAME = "io.github.pcipassd";
export const ROOT = "/io/github/pcipassd";
export const DEVICE_IFACE = "io.github.pcipassd1.Device";
export const MANAGER_IFACE = "io.github.pcipassd1.Manager";
export const MANAGER_PATH = ROOT + "/manager";

/* Drivers that manage DMA themselves and so keep a group viable, besides
 * vfio-pci and its variants (<vendor>_vfio_pci): pcipassd's rule
 * (common/pp-driver.c), which pcipassctl shares. */
const DMA_MANAGED = ["pci-stub", "pcieport"];

/* A member that keeps its group from a VM: one on a host driver. */
export function isBlocking(device) {
    const driver = device.Driver;
    return driver !== "" && driver !== "vfio-pci" && !driver.endsWith("_vfio_pci") &&
        !DMA_MANAGED.includes(driver);
}

/* Groups by number, ascending; devices without a group (-1) last, never
 * viable, as `pcipassctl groups --json` orders them. */
export function groupsOf(devices) {
    const byNumber = new Map();
    for (const device of devices) {
        const n = device.IommuGroup;
        if (!byNumber.has(n))
            byNumber.set(n, []);
        byNumber.get(n).push(device);
    }
    const numbers = [...byNumber.keys()].sort((a, b) => (a < 0) - (b < 0) || a - b);
    return numbers.map(n => {
        const members = byNumber.get(n).sort((a, b) => a.Address.localeCompare(b.Address));
        return {
            number: n < 0 ? null : n,
            members,
            viable: n >= 0 && members.every(d => d.GroupViable),
            blocking: members.filter(isBlocking),
            protected: members.filter(d => d.ProtectionReason !== ""),
        };
    });
}

/* The properties the page shows, copied off a proxy so that the view
 * never holds a live proxy. */
const DEVICE_PROPS = [
    "Address", "VendorId", "DeviceId", "ClassCode", "VendorName", "DeviceName",
    "ResourceName", "Type", "Driver", "OriginalDriver", "State", "IommuGroup",
    "GroupViable", "NumaNode", "BootVga", "ProtectionReason", "Owner", "Persistent",
];

function snapshot(proxy) {
    const device = { path: proxy.path };
    for (const name of DEVICE_PROPS)
        device[name] = proxy.data[name];
    return device;
}

const variant = (type, value) => cockpit.variant(type, value);

/* Connects to the daemon and calls @onChange (with no argument) whenever
 * anything the page shows changed.  Returns the model. */
export function connect(onChange) {
    const client = cockpit.dbus(BUS_NAME, { bus: "system" });
    const devices = client.proxies(DEVICE_IFACE, ROOT);
    const manager = client.proxy(MANAGER_IFACE, MANAGER_PATH);
    const model = {
        ready: false,
        problem: null,
        hostChecks: null,
        busyGroups: new Set(),
        devices() {
            return Object.values(devices).filter(p => p.valid && p.data.Address).map(snapshot);
        },
        manager() {
            return manager.valid ? manager.data : null;
        },
        /* Every call may ask polkit for a password: the call allows
         * interactive authorization (flag "i"; Cockpit's bridge allows it
         * on its calls anyway), and Cockpit's own agent prompts. */
        call(path, iface, method, args) {
            return client.call(path, iface, method, args, { flags: "i" });
        },
        bind(path, options) {
            return this.call(path, DEVICE_IFACE, "Bind", [toOptions(options)]).then(r => r[0]);
        },
        unbind(path, options) {
            return this.call(path, DEVICE_IFACE, "Unbind", [toOptions(options)]).then(r => r[0]);
        },
        reserve(path, owner) {
            return this.call(path, DEVICE_IFACE, "Reserve", [owner, {}]);
        },
        release(path, owner) {
            return this.call(path, DEVICE_IFACE, "Release", [toOptions({ owner })]);
        },
        validate(path) {
            return this.call(path, DEVICE_IFACE, "Validate", [{}]).then(r => r[0].map(toCheck));
        },
        refreshHost() {
            return this.call(MANAGER_PATH, MANAGER_IFACE, "ValidateHost", [{}])
                    .then(r => {
                        model.hostChecks = r[0].map(toCheck);
                        onChange();
                    })
                    .catch(ex => {
                        model.hostChecks = [];
                        model.problem = ex;
                        onChange();
                    });
        },
    };

    for (const event of ["added", "changed", "removed"])
        devices.addEventListener(event, () => onChange());
    manager.addEventListener("changed", (event, changed) => {
        /* When IommuEnabled, VfioAvailable or KvmAvailable changed, so may
         * have the host checks; Leases and Resources change with every
         * lease and need no ValidateHost call. */
        if (["IommuEnabled", "VfioAvailable", "KvmAvailable"].some(name => changed && name in changed))
            model.refreshHost();
        onChange();
    });
    client.addEventListener("close", (event, options) => {
        model.problem = options;
        onChange();
    });

    Promise.all([devices.wait(), manager.wait()]).then(() => {
        model.ready = true;
        /* For bench/: when the daemon's objects were all in. */
        window.ppTimings = { ...window.ppTimings, ready: performance.now() };
        onChange();
        model.refreshHost();
    });
    return model;
}

function toOptions(options) {
    const out = {};
    for (const [key, value] of Object.entries(options || {})) {
        if (value === undefined)
            continue;
        out[key] = typeof value === "boolean" ? variant("b", value) : variant("s", String(value));
    }
    return out;
}

function toCheck([subject, check, severity, message, remedy]) {
    return { subject, check, severity, message, remedy };
}
