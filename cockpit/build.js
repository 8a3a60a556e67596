/* Builds the Cockpit package into dist/: index.js and index.css bundled
 * by esbuild from src/ and the locked PatternFly, with index.html and
 * manifest.json copied.  The output depends only on the sources and
 * package-lock.json, so `npm ci && npm run build` reproduces dist/
 * byte for byte (the cockpit-bundle test checks that). */

import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, "dist");

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
    entryPoints: [join(here, "src", "index.js")],
    bundle: true,
    minify: true,
    format: "iife",
    target: ["es2020"],
    outfile: join(out, "index.js"),
    /* Cockpit serves the fonts (static/fonts); the page's CSS points there. */
    external: ["../../static/*"],
    /* The select arrow and the like: small, inlined. */
    loader: { ".svg": "dataurl" },
    legalComments: "none",
    logLevel: "warning",
});
for (const name of ["index.html", "manifest.json"])
    copyFileSync(join(here, "src", name), join(out, name));
