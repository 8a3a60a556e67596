/* The page, drawn from the model with PatternFly 4's CSS (the version
 * Cockpit 287 uses).  Each change redraws the page from the model and the
 * few things the person chose (filter, search, open details, a pending
 * plan), which are kept here. */

import { groupsOf, isBlocking } from "./model.js";
import { explain, PROTECTION_WORDS, STATE_WORDS } from "./messages.js";

const TYPES = ["gpu", "network", "storage", "audio", "usb", "bridge", "other"];

/* h("tag.class1.class2", {attributes and on* handlers}, children...) */
function h(spec, attrs, ...children) {
    const [tag, ...classes] = spec.split(".");
    const el = document.createElement(tag);
    if (classes.length)
        el.className = classes.join(" ");
    for (const [key, value] of Object.entries(attrs || {})) {
        if (value === undefined || value === null || value === false)
            continue;
        if (key.startsWith("on"))
            el.addEventListener(key.slice(2), value);
        else if (key === "dataset")
            Object.assign(el.dataset, value);
        else
            el.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
        if (child === null || child === undefined || child === false)
            continue;
        el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
}

const label = (text, colour, attrs) =>
    h("span.pf-c-label.pf-m-" + colour, attrs, h("span.pf-c-label__content", null, text));

const button = (text, kind, attrs) =>
    h("button.pf-c-button.pf-m-" + kind, { type: "button", ...attrs }, text);

const hex4 = n => n.toString(16).padStart(4, "0");

export function createView(root, model) {
    const ui = {
        type: "",
        search: "",
        details: new Set(), /* addresses whose details are open */
        validation: new Map(), /* address -> checks, or an error */
        errors: new Map(), /* group key -> {title, detail, remedy} */
        running: new Map(), /* group key -> what runs */
        plan: null, /* {group, device, steps, persistent} */
        dialog: null, /* its element, while open */
        me: null,
    };
    cockpit.user().then(user => { ui.me = user.name; redraw(); });

    let scheduled = false;
    function redraw() {
        if (scheduled)
            return;
        scheduled = true;
        window.requestAnimationFrame(() => {
            scheduled = false;
            draw();
        });
    }

    function groupKey(group) {
        return group.number === null ? "none" : String(group.number);
    }

    /* Runs @work for @group with its controls disabled, and shows what
     * went wrong in the group's card. */
    function run(group, what, work) {
        const key = groupKey(group);
        ui.running.set(key, what);
        ui.errors.delete(key);
        redraw();
        return work()
                .catch(ex => ui.errors.set(key, explain(ex)))
                .finally(() => {
                    ui.running.delete(key);
                    redraw();
                });
    }

    function planBind(group, device) {
        run(group, "Working out the plan…", () =>
            model.bind(device.path, { dry_run: true }).then(steps => {
                openPlan({ group, device, steps, persistent: false });
            }));
    }

    /* The dialog lives outside the redrawn page, so that changes coming
     * in while it is open do not replace what the person is using. */
    function openPlan(plan) {
        closePlan();
        ui.plan = plan;
        ui.dialog = planDialog();
        document.body.append(ui.dialog);
        ui.dialog.querySelector("[data-action=confirm]").focus();
    }

    function closePlan() {
        if (ui.dialog)
            ui.dialog.remove();
        ui.dialog = null;
        ui.plan = null;
    }

    function confirmPlan() {
        const { group, device, persistent } = ui.plan;
        closePlan();
        run(group, "Passing the group through…", () =>
            model.bind(device.path, { persistent: persistent || undefined }));
    }

    function toggleDetails(device) {
        if (ui.details.has(device.Address)) {
            ui.details.delete(device.Address);
        } else {
            ui.details.add(device.Address);
            ui.validation.delete(device.Address);
            model.validate(device.path)
                    .then(checks => ui.validation.set(device.Address, checks))
                    .catch(ex => ui.validation.set(device.Address, explain(ex)))
                    .finally(redraw);
        }
        redraw();
    }

    function hostSummary() {
        const m = model.manager();
        const flag = (name, ok) => label(name + (ok ? " ready" : " missing"), ok ? "green" : "red",
                                         { "data-check": name });
        const checks = (model.hostChecks || []).filter(c => c.severity === "fail" || c.severity === "warn");
        return h("section.pf-c-card.pp-host", { "aria-label": "Host" },
                 h("div.pf-c-card__title", null, h("h2.pf-c-title.pf-m-lg", null, "Host")),
                 h("div.pf-c-card__body", null,
                   m
                       ? h("div.pf-c-label-group", null, flag("IOMMU", m.IommuEnabled),
                           flag("VFIO", m.VfioAvailable), flag("KVM", m.KvmAvailable))
                       : null,
                   model.hostChecks === null
                       ? h("p", null, "Checking the host…")
                       : checks.length === 0
                           ? h("p.pp-ok", null, "The host is ready for passthrough.")
                           : h("ul.pf-c-list.pf-m-plain.pp-host-checks", null, checks.map(c =>
                               h("li", { dataset: { check: c.check, severity: c.severity } },
                                 label(c.severity, c.severity === "fail" ? "red" : "orange"), " ",
                                 h("strong", null, c.check), ": ", c.message,
                                 c.remedy ? h("div.pp-remedy", null, "Remedy: ", c.remedy) : null)))));
    }

    function toolbar() {
        const select = h("select.pf-c-form-control", {
            id: "pp-type", "aria-label": "Device type",
            onchange: e => { ui.type = e.target.value; redraw(); },
        }, h("option", { value: "" }, "All types"),
        TYPES.map(t => h("option", { value: t, selected: ui.type === t }, t)));
        const search = h("input.pf-c-form-control", {
            id: "pp-search", type: "search", placeholder: "Search address, name, driver…",
            "aria-label": "Search", value: ui.search,
            oninput: e => { ui.search = e.target.value; redraw(); },
        });
        return h("div.pf-c-toolbar", null, h("div.pf-c-toolbar__content", null,
                                              h("div.pf-c-toolbar__content-section", null,
                                                h("div.pf-c-toolbar__item", null, select),
                                                h("div.pf-c-toolbar__item.pp-search", null, search))));
    }

    function matches(device) {
        if (ui.type && device.Type !== ui.type)
            return false;
        const q = ui.search.trim().toLowerCase();
        if (!q)
            return true;
        return [device.Address, device.VendorName, device.DeviceName, device.Driver,
            device.ResourceName, device.Type, hex4(device.VendorId) + ":" + hex4(device.DeviceId)]
                .some(text => String(text).toLowerCase().includes(q));
    }

    function groupActions(group, busy) {
        const why = busy ? ui.running.get(groupKey(group)) : null;
        if (group.number === null)
            return h("p.pp-note", null, "Without an IOMMU group these devices cannot be given to a VM.");
        const first = group.members.find(d => d.Driver !== "vfio-pci" && isBlocking(d)) || group.members[0];
        const onVfio = group.members.find(d => d.Driver === "vfio-pci");
        const persistent = group.members.some(d => d.Persistent);
        return h("div.pp-actions", null,
                 button("Pass through", "primary", {
                     disabled: busy || group.viable, "data-action": "bind",
                     onclick: () => planBind(group, first),
                 }),
                 button("Give back to host", "secondary", {
                     disabled: busy || !onVfio, "data-action": "unbind",
                     onclick: () => run(group, "Giving the group back…", () => model.unbind(onVfio.path)),
                 }),
                 button(persistent ? "Persistent" : "Make persistent", "secondary", {
                     disabled: busy || !onVfio || persistent, "data-action": "persist",
                     title: "Bind the group again at every start of pcipassd",
                     onclick: () => run(group, "Making the binding persistent…", () =>
                         model.bind(onVfio.path, { persistent: true })),
                 }),
                 why ? h("span.pp-running", { role: "status" }, h("span.pf-c-spinner.pf-m-md", { role: "progressbar" }), " ", why) : null);
    }

    function deviceRow(device, busy) {
        const open = ui.details.has(device.Address);
        const cells = [
            h("td", { "data-label": "Address" },
              h("button.pf-c-button.pf-m-link.pf-m-inline", {
                  type: "button", "aria-expanded": open ? "true" : "false",
                  onclick: () => toggleDetails(device),
              }, device.Address)),
            h("td", { "data-label": "Type" }, device.Type),
            h("td", { "data-label": "Vendor" }, device.VendorName || hex4(device.VendorId)),
            h("td", { "data-label": "Device" }, device.DeviceName || hex4(device.DeviceId)),
            h("td", { "data-label": "Driver", "data-driver": device.Driver }, device.Driver || "none"),
            h("td", { "data-label": "State", "data-state": device.State },
              label(STATE_WORDS[device.State] || device.State,
                    device.State === "vfio" ? "green" : device.State === "in-use" ? "orange" : "grey")),
            h("td", { "data-label": "NUMA" }, device.NumaNode < 0 ? "–" : String(device.NumaNode)),
            h("td", { "data-label": "Resource" }, device.ResourceName || "–",
              device.Owner ? h("div.pp-owner", null, "leased to ", device.Owner) : null),
            h("td", { "data-label": "Protected" },
              device.ProtectionReason
                  ? [label("Protected", "red", { "data-protected": device.ProtectionReason }),
                      h("div.pp-note", null, PROTECTION_WORDS[device.ProtectionReason] || device.ProtectionReason)]
                  : null),
        ];
        const rows = [h("tr", { "data-address": device.Address }, cells)];
        if (open)
            rows.push(h("tr.pp-details", null, h("td", { colspan: cells.length }, details(device, busy))));
        return rows;
    }

    function details(device, busy) {
        const result = ui.validation.get(device.Address);
        let body;
        if (result === undefined)
            body = h("p", null, "Validating…");
        else if (!Array.isArray(result))
            body = h("p", null, result.title, ": ", result.detail);
        else
            body = h("ul.pf-c-list.pf-m-plain.pp-validation", null, result.map(c =>
                h("li", { dataset: { check: c.check, severity: c.severity } },
                  label(c.severity, { pass: "green", warn: "orange", fail: "red" }[c.severity] || "grey"),
                  " ", h("strong", null, c.check), ": ", c.message,
                  c.remedy ? h("div.pp-remedy", null, "Remedy: ", c.remedy) : null)));
        const leases = [];
        if (device.ResourceName && !device.Owner && ui.me)
            leases.push(button("Reserve for " + ui.me, "secondary", {
                disabled: busy, "data-action": "reserve",
                onclick: () => run(groupOf(device), "Reserving…", () => model.reserve(device.path, ui.me)),
            }));
        if (device.Owner)
            leases.push(button("Release", "secondary", {
                disabled: busy, "data-action": "release",
                onclick: () => run(groupOf(device), "Releasing…", () => model.release(device.path, device.Owner)),
            }));
        return h("div.pp-details-body", null,
                 h("p", null, device.VendorName, " ", device.DeviceName, " [",
                   hex4(device.VendorId), ":", hex4(device.DeviceId), "], class ",
                   device.ClassCode.toString(16).padStart(6, "0"),
                   device.OriginalDriver ? ", host driver " + device.OriginalDriver : ""),
                 body, leases.length ? h("div.pp-actions", null, leases) : null);
    }

    function groupOf(device) {
        return { number: device.IommuGroup < 0 ? null : device.IommuGroup };
    }

    function groupCard(group) {
        const key = groupKey(group);
        const busy = ui.running.has(key);
        const error = ui.errors.get(key);
        let status;
        if (group.number === null)
            status = label("No IOMMU group", "grey");
        else if (group.viable)
            status = label("Can be given to a VM", "green", { "data-viable": "true" });
        else
            status = label("Not ready for a VM", "orange", { "data-viable": "false" });
        const blockers = group.number !== null && !group.viable && group.blocking.length
            ? h("p.pp-blockers", null, "Held by the host: ",
                group.blocking.map(d => d.Address + " (" + d.Driver + ")").join(", "),
                ". Pass through moves them all to vfio-pci.")
            : null;
        const protectedNote = group.protected.length
            ? h("p.pp-protected", null, "Protected: ",
                group.protected.map(d => d.Address + " " +
                    (PROTECTION_WORDS[d.ProtectionReason] || d.ProtectionReason)).join("; "),
                ". pcipassd refuses to move it without force.")
            : null;
        const shown = group.members.filter(matches);
        return h("section.pf-c-card.pp-group", {
            "aria-label": group.number === null ? "No IOMMU group" : "IOMMU group " + group.number,
            "data-group": key, "aria-busy": busy ? "true" : "false",
        },
                 h("div.pf-c-card__title.pp-group-title", null,
                   h("h3.pf-c-title.pf-m-md", null, group.number === null ? "No IOMMU group" : "IOMMU group " + group.number),
                   status),
                 h("div.pf-c-card__body", null,
                   error
                       ? h("div.pf-c-alert.pf-m-danger.pf-m-inline", { role: "alert", "aria-label": "Error" },
                           h("p.pf-c-alert__title", null, error.title),
                           h("div.pf-c-alert__description", null, h("p", null, error.detail),
                             error.remedy ? h("p.pp-remedy", null, error.remedy) : null))
                       : null,
                   blockers, protectedNote, groupActions(group, busy),
                   h("table.pf-c-table.pf-m-compact.pf-m-grid-lg", { role: "grid" },
                     h("thead", null, h("tr", null, ["Address", "Type", "Vendor", "Device", "Driver", "State",
                         "NUMA", "Resource", "Protected"].map(t => h("th", { scope: "col" }, t)))),
                     h("tbody", null, shown.map(d => deviceRow(d, busy))))));
    }

    function planDialog() {
        const plan = ui.plan;
        const close = closePlan;
        return h("div.pf-c-backdrop", null, h("div.pf-l-bullseye", null,
                                              h("div.pf-c-modal-box.pf-m-sm", {
                                                  role: "dialog", "aria-modal": "true", "aria-labelledby": "pp-plan-title",
                                                  onkeydown: e => { if (e.key === "Escape") close() },
                                              },
                                                h("header.pf-c-modal-box__header", null,
                                                  h("h1.pf-c-modal-box__title", { id: "pp-plan-title" },
                                                    "Pass IOMMU group " + plan.group.number + " through?")),
                                                h("div.pf-c-modal-box__body", null,
                                                  plan.steps.length === 0
                                                      ? h("p", null, "Nothing to move: the group is on vfio-pci already.")
                                                      : h("ul.pf-c-list.pp-plan", null, plan.steps.map(([address, from, to]) =>
                                                          h("li", { "data-address": address },
                                                            h("code", null, address), ": ", from || "no driver", " → ", to))),
                                                  h("div.pf-c-check", null,
                                                    h("input.pf-c-check__input", {
                                                        type: "checkbox", id: "pp-persistent", checked: plan.persistent,
                                                        onchange: e => { plan.persistent = e.target.checked },
                                                    }),
                                                    h("label.pf-c-check__label", { for: "pp-persistent" },
                                                      "Bind again at every start (persistent)"))),
                                                h("footer.pf-c-modal-box__footer", null,
                                                  button("Pass through", "primary", { "data-action": "confirm", onclick: confirmPlan }),
                                                  button("Cancel", "link", { onclick: close })))));
    }

    function draw() {
        const focused = document.activeElement && document.activeElement.id;
        let content;
        if (model.problem && !model.ready) {
            const e = explain(model.problem);
            content = h("div.pf-c-empty-state", null, h("h2.pf-c-title.pf-m-lg", null, e.title),
                        h("p", null, e.detail), e.remedy ? h("p", null, e.remedy) : null);
        } else if (!model.ready) {
            content = h("div.pf-c-empty-state", null, h("span.pf-c-spinner", { role: "progressbar" }),
                        h("p", null, "Loading devices…"));
        } else {
            const groups = groupsOf(model.devices()).filter(g => g.members.some(matches));
            content = [hostSummary(), toolbar(),
                h("div.pp-groups", { "aria-live": "polite" },
                  groups.length ? groups.map(groupCard) : h("p", null, "No device matches."))];
        }
        root.replaceChildren(h("div.pf-c-page__main-section.pf-m-light", null,
                               h("h1.pf-c-title.pf-m-xl", null, "PCI passthrough")),
                             h("div.pf-c-page__main-section", null, content));
        if (model.ready) {
            const t = window.ppTimings || {};
            window.ppTimings = { ...t, drawn: t.drawn || performance.now(), draws: (t.draws || 0) + 1,
                rows: t.rows || root.querySelectorAll("tr[data-address]").length, last: performance.now() };
        }
        if (!ui.plan && focused) {
            const el = document.getElementById(focused);
            if (el) {
                el.focus();
                if (el.id === "pp-search")
                    el.setSelectionRange(el.value.length, el.value.length);
            }
        }
    }

    return { redraw };
}
