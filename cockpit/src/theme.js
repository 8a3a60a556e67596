/* Cockpit's dark mode: the shell keeps the person's choice in
 * localStorage "shell:style" (auto, light or dark), and PatternFly 4 turns
 * dark with the pf-theme-dark class on the root element. */

function apply() {
    const style = window.localStorage.getItem("shell:style") || "auto";
    const systemDark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    const dark = style === "dark" || (style === "auto" && systemDark);
    document.documentElement.classList.toggle("pf-theme-dark", dark);
}

export function followTheme() {
    apply();
    /* The shell, another frame of the same origin, changes the key. */
    window.addEventListener("storage", event => {
        if (event.key === "shell:style")
            apply();
    });
    if (window.matchMedia)
        window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", apply);
}
