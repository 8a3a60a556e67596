/* The Cockpit page in a real browser against the real daemon.
 *
 *   node cockpit/test/browser.mjs BUILDDIR     (meson test --suite cockpit)
 *   node cockpit/test/browser.mjs BUILDDIR --bench FIXTURE
 *        only the time from page load to the full table, on FIXTURE
 *        (such as bench/gen-host 4096's): a measurement, not a test
 *
 * Starts, each for this run only: a private bus standing in for the
 * system bus, python3-dbusmock's polkitd, pcipassd from BUILDDIR on the
 * simulated workstation with the simulated kernel (pcipass-testbed
 * --kernel, with a control FIFO), Debian's cockpit-ws with a local
 * cockpit-bridge session whose system bus is the private one, serving
 * cockpit/dist as the package "pcipassd"; then drives Debian's chromium
 * through playwright-core.  Prints one line per check and the timings;
 * exits 1 on any failure.  The screenshot of the main view is left in
 * BUILDDIR/cockpit/ for a person to look at.
 */

import { spawn, execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const src = resolve(here, "..", "..");
const build = resolve(process.argv[2] || join(src, "build"));
const benchFixture = process.argv[3] === "--bench" ? resolve(process.argv[4]) : null;
const CHROMIUM = process.env.PP_CHROMIUM || "/usr/bin/chromium";
const COCKPIT_WS = process.env.PP_COCKPIT_WS || "/usr/lib/cockpit/cockpit-ws";
const BRIDGE = process.env.PP_COCKPIT_BRIDGE || "/usr/bin/cockpit-bridge";
const PYTHON = "/usr/bin/python3";
const GPU = "0000:01:00.0";
const AUDIO = "0000:01:00.1";
const ALLOWED = ["io.github.pcipassd.bind", "io.github.pcipassd.unbind", "io.github.pcipassd.reserve"];

const work = mkdtempSync(join(process.env.TMPDIR || tmpdir(), "pp-cockpit-"));
const artifacts = join(build, "cockpit");
mkdirSync(artifacts, { recursive: true });
const procs = [];
const results = [];
const timings = [];
let browser = null;

function log(text) {
    process.stdout.write(text + "\n");
}

function start(argv, name, env) {
    const out = join(work, name + ".log");
    const proc = spawn(argv[0], argv.slice(1), {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    proc.output = "";
    proc.stdout.on("data", d => { proc.output += d });
    proc.stderr.on("data", d => { proc.output += d });
    proc.on("exit", () => writeFileSync(out, proc.output));
    proc.name = name;
    procs.push(proc);
    return proc;
}

function gdbus(...args) {
    return execFileSync("gdbus", args, { encoding: "utf8", env: process.env });
}

async function until(what, predicate, timeout = 10000) {
    const deadline = Date.now() + timeout;
    for (;;) {
        const value = await predicate();
        if (value)
            return value;
        if (Date.now() > deadline)
            throw new Error("timed out waiting for " + what);
        await new Promise(r => setTimeout(r, 20));
    }
}

function freePort() {
    return new Promise((ok, fail) => {
        const server = createServer();
        server.listen(0, "127.0.0.1", () => {
            const port = server.address().port;
            server.close(() => ok(port));
        });
        server.on("error", fail);
    });
}

let currentPage = null;

async function check(name, fn) {
    try {
        await fn();
        results.push([true, name]);
        log("PASS " + name);
    } catch (ex) {
        results.push([false, name]);
        log("FAIL " + name + ": " + (ex && ex.message ? ex.message.split("\n")[0] : ex));
        /* What the page showed, for whoever reads the log. */
        if (currentPage) {
            const n = results.length;
            await currentPage.screenshot({ path: join(artifacts, `failed-${n}.png`) }).catch(() => {});
            const text = await currentPage.locator("body").innerText().catch(() => "");
            log("  the page said: " + text.slice(0, 600).replaceAll("\n", " | "));
        }
    }
}

function expect(cond, message) {
    if (!cond)
        throw new Error(message);
}

/* The simulated kernel's own view: the driver link in the testbed. */
function sysfsDriver(root, address) {
    try {
        return basename(readlinkSync(join(root, "sys/bus/pci/devices", address, "driver")));
    } catch {
        return "";
    }
}

function snapshot(root, state) {
    const lines = [];
    for (const address of readdirSync(join(root, "sys/bus/pci/devices")).sort()) {
        const dir = join(root, "sys/bus/pci/devices", address);
        let override = "";
        try {
            override = readFileSync(join(dir, "driver_override"), "utf8");
        } catch {}
        lines.push(address + " " + sysfsDriver(root, address) + " " + override.trim());
    }
    if (existsSync(state))
        for (const name of readdirSync(state).sort())
            lines.push(name + " " + readFileSync(join(state, name), "utf8"));
    return lines.join("\n");
}

async function setup() {
    for (const [path, what] of [[CHROMIUM, "chromium"], [COCKPIT_WS, "cockpit-ws"], [BRIDGE, "cockpit-bridge"],
        [join(src, "cockpit", "dist", "index.js"), "the built page (cockpit/dist)"]])
        expect(existsSync(path), what + " is missing: " + path + " (run tools/install-deps)");

    /* The bus. */
    /* A bus of its own: no service directories, so nothing is activated
     * on it (Cockpit's bridge asks for systemd). */
    const config = join(work, "bus.conf");
    writeFileSync(config, '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"\n' +
                          ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n' +
                          `<busconfig><type>custom</type><listen>unix:dir=${work}</listen><auth>EXTERNAL</auth>` +
                          '<policy context="default"><allow send_destination="*" eavesdrop="true"/>' +
                          '<allow eavesdrop="true"/><allow own="*"/></policy></busconfig>\n');
    const bus = start(["dbus-daemon", "--config-file=" + config, "--nofork", "--print-address=1"], "dbus-daemon");
    const address = await until("the bus address", () => bus.output.split("\n")[0].startsWith("unix:") && bus.output.split("\n")[0]);
    process.env.DBUS_SYSTEM_BUS_ADDRESS = address.trim();

    /* polkit: the mock answers by action id. */
    start([PYTHON, "-m", "dbusmock", "--template", "polkitd"], "polkitd");
    gdbus("wait", "--system", "--timeout", "20", "org.freedesktop.PolicyKit1");
    setAllowed(ALLOWED);

    /* pcipassd on the simulated workstation, with a catalog that names its
     * GPU (so that it can be leased). */
    const state = join(work, "state");
    const fifo = join(work, "control");
    const catalog = join(work, "devices.yaml");
    writeFileSync(catalog, 'vendors:\n  - id: "10de"\n    name: nvidia\n    devices:\n' +
                           '      - id: "2684"\n        name: rtx4090\n        type: gpu\n');
    const testbed = start([join(build, "tests", "pcipass-testbed"), "--print-root", "--kernel", "--control", fifo,
        benchFixture || "workstation", "--", join(build, "service", "pcipassd"), "--state-dir=" + state,
        "--catalog=" + catalog, "--step-timeout=2"],
                          "pcipassd", { PP_FIXTURES_DIR: join(src, "tests", "fixtures") });
    const root = await until("the testbed root", () => {
        const first = testbed.output.split("\n")[0];
        return first.startsWith("/") && existsSync(first) && first;
    });
    gdbus("wait", "--system", "--timeout", "20", "io.github.pcipassd");

    /* Cockpit, serving cockpit/dist as the package pcipassd. */
    const data = join(work, "share");
    mkdirSync(join(data, "cockpit"), { recursive: true });
    symlinkSync(join(src, "cockpit", "dist"), join(data, "cockpit", "pcipassd"));
    const port = await freePort();
    start([COCKPIT_WS, "--no-tls", "--local-session=" + BRIDGE, "-p", String(port), "-a", "127.0.0.1"], "cockpit-ws",
          { XDG_DATA_DIRS: data + ":/usr/share", XDG_CONFIG_DIRS: join(work, "etc") });
    await until("cockpit-ws", async () => {
        try {
            return (await fetch(`http://127.0.0.1:${port}/cockpit/@localhost/pcipassd/manifest.json`)).ok;
        } catch {
            return false;
        }
    });
    return { root: root.trim(), state, fifo, port };
}

function setAllowed(actions) {
    gdbus("call", "--system", "-d", "org.freedesktop.PolicyKit1", "-o", "/org/freedesktop/PolicyKit1/Authority",
          "-m", "org.freedesktop.DBus.Mock.SetAllowed", "[" + actions.map(a => `'${a}'`).join(", ") + "]");
}

function pcipassctl(...args) {
    return JSON.parse(execFileSync(join(build, "client", "pcipassctl"), args,
                                   { encoding: "utf8", env: process.env, maxBuffer: 1 << 28 }));
}

async function main() {
    const env = await setup();
    const url = `http://127.0.0.1:${env.port}/cockpit/@localhost/pcipassd/index.html`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    const page = await browser.newPage({ viewport: { width: 1024, height: 900 } });
    currentPage = page;
    const consoleErrors = [];
    page.on("console", msg => { if (msg.type() === "error") consoleErrors.push(msg.text()) });
    page.on("pageerror", err => consoleErrors.push(String(err)));

    page.setDefaultTimeout(10000);
    const row = address => page.locator(`tr[data-address="${address}"]`);
    const card = address => page.locator("section.pp-group", { has: row(address) });

    if (benchFixture) {
        const count = pcipassctl("list", "--json").length;
        const started = Date.now();
        await page.goto(url);
        await page.locator("tr[data-address]").nth(count - 1).waitFor({ timeout: 300000 });
        timings.push([`page load to the full table (${basename(benchFixture)}, ${count} functions)`, Date.now() - started]);
        const marks = await page.evaluate(() => window.ppTimings);
        timings.push(["  of which: the daemon's objects in (after navigation start)", Math.round(marks.ready)]);
        timings.push(["  of which: the first full draw done (after navigation start)", Math.round(marks.drawn)]);
        timings.push([`  draws: ${marks.draws}, rows in the first: ${marks.rows}, the last done at`, Math.round(marks.last)]);
        return;
    }

    await check("the page loads and shows every group, as pcipassctl groups --json has them", async () => {
        const groups = pcipassctl("groups", "--json");
        const started = Date.now();
        await page.goto(url);
        const count = groups.reduce((n, g) => n + g.devices.length, 0);
        await page.locator("tr[data-address]").nth(count - 1).waitFor({ timeout: 15000 });
        timings.push(["page load to the full table (workstation, " + count + " functions)", Date.now() - started]);
        for (const g of groups) {
            const key = g.group === null ? "none" : String(g.group);
            const section = page.locator(`section.pp-group[data-group="${key}"]`);
            const shown = await section.locator("tr[data-address]").evaluateAll(rows => rows.map(r => r.dataset.address));
            expect(JSON.stringify(shown) === JSON.stringify(g.devices),
                   `group ${key}: the page shows ${shown}, the daemon ${g.devices}`);
            const viable = await section.locator("[data-viable]").getAttribute("data-viable").catch(() => null);
            if (g.group !== null)
                expect((viable === "true") === g.viable, `group ${key}: viable ${viable} on the page, ${g.viable} in the daemon`);
        }
        expect(await page.locator("[data-check=IOMMU]").count() === 1, "no IOMMU flag in the host summary");
    });

    await check("the protected devices are marked with the reason", async () => {
        const list = pcipassctl("list", "--json");
        for (const d of list.filter(d => d.protection_reason)) {
            const mark = row(d.address).locator("[data-protected]");
            expect(await mark.getAttribute("data-protected") === d.protection_reason,
                   d.address + " is not marked " + d.protection_reason);
        }
    });

    await check("Pass through of the GPU shows the plan, then both functions reach vfio on the page and in sysfs", async () => {
        await card(GPU).locator("[data-action=bind]").click();
        const plan = page.locator("[role=dialog] .pp-plan");
        await plan.waitFor();
        const planned = await plan.locator("li").evaluateAll(items => items.map(i => i.dataset.address));
        expect(planned.includes(GPU) && planned.includes(AUDIO), "the plan moves " + planned);
        await page.locator("[data-action=confirm]").click();
        for (const a of [GPU, AUDIO])
            await row(a).locator('[data-state="vfio"]').waitFor({ timeout: 15000 });
        for (const a of [GPU, AUDIO])
            expect(sysfsDriver(env.root, a) === "vfio-pci", a + " is on " + sysfsDriver(env.root, a) + " in sysfs");
        expect(await card(GPU).locator("[data-viable]").getAttribute("data-viable") === "true", "the group is not viable");
    });

    await check("a VM opening the group shows as in use without a reload, and letting go as ready", async () => {
        /* The GPU's group is 2 on the workstation; the testbed opens its
         * node, as QEMU opens /dev/vfio/2. */
        const started = Date.now();
        writeFileSync(env.fifo, "open-group 2\n");
        try {
            await row(GPU).locator('[data-state="in-use"]').waitFor({ timeout: 5000 });
            /* How soon is a measurement, printed, not a pass mark: this
             * machine's load decides it as much as the code. */
            timings.push(["a VM opening the group to the page", Date.now() - started]);
            /* Giving it back now is Busy, said in words. */
            await card(GPU).locator("[data-action=unbind]").click();
            const alert = card(GPU).locator("[role=alert]");
            await alert.waitFor();
            const text = await alert.innerText();
            expect(/in use/.test(text) && /Shut the VM down/.test(text), "the Busy alert says: " + text);
            expect(sysfsDriver(env.root, GPU) === "vfio-pci", "a refused Give back moved the GPU");
        } finally {
            writeFileSync(env.fifo, "close-group 2\n");
        }
        await row(GPU).locator('[data-state="vfio"]').waitFor({ timeout: 5000 });
    });

    await check("each change asks polkit with user interaction allowed (Cockpit's agent may prompt)", async () => {
        const polkit = procs.find(p => p.name === "polkitd").output;
        const checks = polkit.split("\n").filter(l => l.includes("CheckAuthorization") && l.includes("io.github.pcipassd.bind"));
        expect(checks.length > 0, "polkit was never asked about io.github.pcipassd.bind");
        /* CheckAuthorization's flags: 1 is AllowUserInteraction. */
        expect(checks.every(l => / 1 ""\s*$/.test(l)), "a call did not allow interaction: " + checks.find(l => !/ 1 ""\s*$/.test(l)));
    });

    await check("Give back to host returns both to their drivers", async () => {
        await card(GPU).locator("[data-action=unbind]").click();
        await row(GPU).locator('[data-driver="nvidia"]').waitFor({ timeout: 15000 });
        await row(AUDIO).locator('[data-driver="snd_hda_intel"]').waitFor({ timeout: 15000 });
        expect(sysfsDriver(env.root, GPU) === "nvidia", "the GPU is on " + sysfsDriver(env.root, GPU));
    });

    await check("Make persistent marks the bound group, and Give back ends it", async () => {
        await card(GPU).locator("[data-action=bind]").click();
        await page.locator("#pp-persistent").check();
        await page.locator("[data-action=confirm]").click();
        /* "Persistent" alone, not "Make persistent" (hasText is a substring). */
        await card(GPU).locator("[data-action=persist]", { hasText: /^Persistent$/ }).waitFor({ timeout: 15000 });
        const shown = pcipassctl("show", GPU, "--json");
        expect(shown.persistent === true, "pcipassctl show says persistent " + shown.persistent);
        await card(GPU).locator("[data-action=unbind]").click();
        await row(GPU).locator('[data-driver="nvidia"]').waitFor({ timeout: 15000 });
        expect(pcipassctl("show", GPU, "--json").persistent === false, "still persistent after Give back");
    });

    await check("a device's details show its Validate results, and Reserve and Release work", async () => {
        await row(GPU).locator("button[aria-expanded]").click();
        const details = page.locator("tr.pp-details");
        await details.locator("li[data-check]").first().waitFor({ timeout: 15000 });
        const checks = await details.locator("li[data-check]").evaluateAll(items => items.map(i => i.dataset.check));
        const daemon = pcipassctl("validate", GPU, "--json").filter(c => c.subject === GPU).map(c => c.check);
        for (const c of daemon)
            expect(checks.includes(c), `the details lack the ${c} check (${checks})`);
        await details.locator("[data-action=reserve]").click();
        await row(GPU).locator(".pp-owner").waitFor({ timeout: 15000 });
        expect(pcipassctl("show", GPU, "--json").owner === "root", "the daemon's owner is not root");
        await details.locator("[data-action=release]").click();
        await row(GPU).locator(".pp-owner").waitFor({ state: "detached", timeout: 15000 });
        await row(GPU).locator("button[aria-expanded]").click();
    });

    await check("the type filter and the search box narrow the table", async () => {
        const list = pcipassctl("list", "--json");
        const shown = () => page.locator("tr[data-address]").evaluateAll(rows => rows.map(r => r.dataset.address));
        await page.selectOption("#pp-type", "storage");
        const storage = list.filter(d => d.type === "storage").map(d => d.address);
        await until("the storage rows", async () => JSON.stringify(await shown()) === JSON.stringify(storage));
        await page.selectOption("#pp-type", "");
        await page.fill("#pp-search", "rtx 4090");
        await until("the search", async () => (await shown()).join() === GPU);
        await page.fill("#pp-search", "");
        await until("every row back", async () => (await shown()).length === list.length);
    });

    await check("Pass through of a protected group is refused in words, with the reason", async () => {
        const vga = pcipassctl("list", "--json").find(d => d.protection_reason === "boot-vga").address;
        const before = snapshot(env.root, env.state);
        await card(vga).locator("[data-action=bind]").click();
        const alert = card(vga).locator("[role=alert]");
        const confirm = page.locator("[data-action=confirm]");
        await alert.or(confirm).waitFor();
        if (await confirm.isVisible())
            await confirm.click();
        await alert.waitFor();
        const text = await alert.innerText();
        expect(/host depends on this device/.test(text) && /boot/.test(text), "the alert says: " + text);
        expect(snapshot(env.root, env.state) === before, "sysfs or the state directory changed");
    });

    await check("while an operation runs its group's controls are disabled, saying why; a Kernel error is explained", async () => {
        writeFileSync(env.fifo, "stick " + AUDIO + "\n");
        try {
            await card(GPU).locator("[data-action=bind]").click();
            await page.locator("[data-action=confirm]").click();
            await card(GPU).locator("[role=status]").waitFor();
            for (const action of ["bind", "unbind", "persist"])
                expect(await card(GPU).locator(`[data-action=${action}]`).isDisabled(), action + " is enabled while binding");
            const why = await card(GPU).locator("[role=status]").innerText();
            expect(/Passing the group through/.test(why), "the status says: " + why);
            const alert = card(GPU).locator("[role=alert]");
            await alert.waitFor({ timeout: 30000 });
            const text = await alert.innerText();
            expect(/kernel refused/.test(text) && /put back/.test(text), "the Kernel alert says: " + text);
        } finally {
            writeFileSync(env.fifo, "unstick " + AUDIO + "\n");
        }
        /* The hung probe may keep the audio function from its driver too
         * (the rollback's bind hangs as well): whatever sysfs ends up
         * saying, the page says the same. */
        await row(GPU).locator('[data-driver="nvidia"]').waitFor({ timeout: 15000 });
        await until("the page to show the audio function's driver as sysfs has it", async () =>
            await row(AUDIO).locator("[data-driver]").getAttribute("data-driver") === sysfsDriver(env.root, AUDIO),
                    15000);
    });

    await check("a polkit refusal is shown in words, and nothing is written", async () => {
        setAllowed([]);
        const before = snapshot(env.root, env.state);
        await card(GPU).locator("[data-action=bind]").click();
        /* The plan (a dry run) may be shown first; the refusal comes with
         * the real call. */
        const alert = card(GPU).locator("[role=alert]");
        const confirm = page.locator("[data-action=confirm]");
        await alert.or(confirm).waitFor({ timeout: 15000 });
        if (await confirm.isVisible())
            await confirm.click();
        await alert.waitFor({ timeout: 15000 });
        const text = await alert.innerText();
        expect(/not allowed/.test(text), "the alert says: " + text);
        expect(snapshot(env.root, env.state) === before, "sysfs or the state directory changed");
        setAllowed(ALLOWED);
    });

    await check("a hot-added device appears without a reload", async () => {
        const topo = join(work, "egpu.topo");
        writeFileSync(topo, "[0000:c1:00.0]\nvendor=10de\ndevice=2684\nclass=030000\ndriver=nvidia\niommu_group=90\n" +
                            "[0000:c1:00.1]\nvendor=10de\ndevice=22ba\nclass=040300\ndriver=snd_hda_intel\niommu_group=90\n");
        const started = Date.now();
        writeFileSync(env.fifo, "add " + topo + "\n");
        await row("0000:c1:00.1").waitFor({ timeout: 5000 });
        timings.push(["hot-add to the row on the page", Date.now() - started]);
        expect(await page.locator('section.pp-group[data-group="90"] tr[data-address]').count() === 2, "group 90 is not whole");
    });

    await check("a driver changed behind the daemon's back shows without a reload", async () => {
        /* The USB controller, as `echo ADDR > .../unbind` by hand would. */
        const usb = pcipassctl("list", "--json").find(d => d.type === "usb" && d.driver);
        const started = Date.now();
        writeFileSync(join(env.root, "sys/bus/pci/drivers", usb.driver, "unbind"), usb.address);
        await row(usb.address).locator('[data-driver=""]').waitFor({ timeout: 5000 });
        timings.push(["driver change to the page", Date.now() - started]);
    });

    await check("keyboard alone: Tab reaches Pass through, Enter opens the plan, Escape closes it", async () => {
        /* From the GPU's address, back to its group's Pass through. */
        await row(GPU).locator("button[aria-expanded]").focus();
        let reached = false;
        for (let i = 0; i < 10 && !reached; i++) {
            await page.keyboard.press("Shift+Tab");
            reached = await page.evaluate(() => document.activeElement && document.activeElement.dataset.action === "bind" &&
                                          !document.activeElement.disabled);
        }
        expect(reached, "Tab never reached a Pass through button");
        await page.keyboard.press("Enter");
        await page.locator("[role=dialog]").waitFor();
        expect(await page.evaluate(() => document.activeElement.dataset.action) === "confirm", "the dialog does not take the focus");
        await page.keyboard.press("Escape");
        await page.locator("[role=dialog]").waitFor({ state: "detached" });
    });

    await check("readable at 1024 px: nothing overflows sideways", async () => {
        const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth,
            document.documentElement.clientWidth]);
        expect(scroll <= client, `the page is ${scroll} px wide in a ${client} px window`);
    });

    await check("dark mode follows Cockpit's setting (shell:style)", async () => {
        await page.evaluate(() => window.localStorage.setItem("shell:style", "dark"));
        await page.reload();
        await row(GPU).waitFor();
        expect(await page.evaluate(() => document.documentElement.classList.contains("pf-theme-dark")),
               "no pf-theme-dark with shell:style dark");
        await page.screenshot({ path: join(artifacts, "page-dark.png"), fullPage: true });
        await page.evaluate(() => window.localStorage.setItem("shell:style", "light"));
        await page.reload();
        await row(GPU).waitFor();
        expect(!await page.evaluate(() => document.documentElement.classList.contains("pf-theme-dark")),
               "pf-theme-dark with shell:style light");
        await page.screenshot({ path: join(artifacts, "page.png"), fullPage: true });
    });

    await check("no error in the browser console", async () => {
        expect(consoleErrors.length === 0, consoleErrors.join("; "));
    });

    /* For a person: the page in Cockpit's shell, at 1024 px. */
    const shot = join(artifacts, "main-view.png");
    await page.goto(`http://127.0.0.1:${env.port}/pcipassd`);
    await page.frameLocator("iframe[name$='pcipassd']").locator("tr[data-address]").first().waitFor({ timeout: 15000 })
            .catch(() => {});
    await page.screenshot({ path: shot, fullPage: false });
    log("screenshot: " + shot);
}

let status = 0;
try {
    await main();
} catch (ex) {
    results.push([false, "setup"]);
    log("FAIL setup: " + (ex && ex.stack ? ex.stack : ex));
} finally {
    if (browser)
        await browser.close();
    for (const proc of procs.reverse()) {
        if (proc.exitCode === null) {
            proc.kill("SIGTERM");
            await new Promise(r => proc.once("exit", r));
        }
    }
    for (const [what, ms] of timings)
        log(`time: ${what}: ${ms} ms`);
    const failed = results.filter(r => !r[0]).length;
    log(`cockpit browser test: ${results.length - failed} passed, ${failed} failed`);
    if (failed) {
        status = 1;
        for (const proc of procs)
            log(`---- ${proc.name} (last lines)\n` + proc.output.split("\n").slice(-30).join("\n"));
    }
    rmSync(work, { recursive: true, force: true });
}
process.exit(status);
