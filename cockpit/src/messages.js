/* pcipassd's errors, in words a person understands, with what to do
 * about them.  The daemon's own message follows as the detail. */

const PREFIX = "io.github.pcipassd.Error.";

const EXPLAINED = {
    NotAuthorized: {
        title: "You are not allowed to do this",
        remedy: "Switch to administrative access (the lock at the top of Cockpit), " +
                "or ask an administrator to add you to the group the pcipassd polkit rules name.",
    },
    Protected: {
        title: "The host depends on this device",
        remedy: "It drives the boot display, holds a mounted file system or carries the " +
                "default route. Moving it could cut the host off; do it from a console if you must.",
    },
    Busy: {
        title: "The device is in use",
        remedy: "A virtual machine (or another operation) holds its group. Shut the VM down, " +
                "or wait for the other operation to finish, and try again.",
    },
    Kernel: {
        title: "The kernel refused",
        remedy: "The kernel log (Logs page) says why; the device was put back as it was.",
    },
    GroupNotViable: {
        title: "The group cannot be given to a VM as it is",
        remedy: "Pass the whole group through, or free the members that hold it.",
    },
    IommuDisabled: {
        title: "The host has no working IOMMU",
        remedy: "Turn on VT-d or AMD-Vi in the firmware and on the kernel command line " +
                "(the host checks above say which).",
    },
    VfioUnavailable: {
        title: "vfio-pci is not available",
        remedy: "Load it (modprobe vfio-pci), or install pcipassd's modules-load.d file.",
    },
    Reserved: {
        title: "The device is leased to someone else",
        remedy: "Its owner must release it first.",
    },
    NotFound: {
        title: "The device is gone",
        remedy: "It was removed from the host; the list follows.",
    },
    ReadOnly: {
        title: "pcipassd runs read-only",
        remedy: "It was started with --read-only; restart it without to change bindings.",
    },
};

/* @error: what cockpit.dbus rejected with ({name, message}, or a
 * closed channel's {problem, message}).  Returns {title, detail, remedy}. */
export function explain(error) {
    const name = error && error.name ? String(error.name) : "";
    const detail = error && error.message ? String(error.message) : String(error);
    if (name.startsWith(PREFIX)) {
        const known = EXPLAINED[name.slice(PREFIX.length)];
        if (known)
            return { title: known.title, detail, remedy: known.remedy };
        return { title: "pcipassd refused", detail, remedy: null };
    }
    if (name === "org.freedesktop.DBus.Error.ServiceUnknown" || (error && error.problem === "not-found"))
        return { title: "pcipassd is not running", detail, remedy: "Start it: systemctl start pcipassd" };
    if (name === "org.freedesktop.DBus.Error.AccessDenied")
        return { title: "The system bus refused the call", detail, remedy: "Is pcipassd's bus policy installed?" };
    return { title: "Something went wrong", detail, remedy: null };
}

export const STATE_WORDS = {
    host: "On the host",
    unbound: "No driver",
    vfio: "Ready for a VM",
    "in-use": "In use by a VM",
};

export const PROTECTION_WORDS = {
    "boot-vga": "drives the boot display",
    "mounted-filesystem": "holds a mounted file system",
    "default-route": "carries the default route",
};
