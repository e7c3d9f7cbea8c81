// Pieces: the list, and validation of pasted YAML with each problem's YAML path.
"use strict";
(function () {
  const { api, el, flash, clear } = Legato;

  async function list() {
    try {
      const page = await api("GET", "/api/pieces");
      clear(document.getElementById("pieces-body"), page.items.map((p) => el("tr", {},
        el("td", {}, el("a", { href: `/ui/pieces/${encodeURIComponent(p.name)}`, text: p.name })),
        el("td", { text: p.source }),
        el("td", { class: "small", text: p.movements.join(" → ") }),
        el("td", { class: "small", text: p.description || "" }))));
    } catch (err) {
      flash(`Could not load pieces: ${err.message}`);
    }
  }

  function problem(p) {
    return el("li", { class: `problem-item ${p.severity}` },
      el("b", { text: `${p.severity}: ` }), el("code", { class: "path", text: p.path || "(file)" }), " ",
      p.message, p.hint ? el("span", { class: "muted", text: ` (${p.hint})` }) : null);
  }

  document.getElementById("validate-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = document.getElementById("validation");
    const yaml = document.getElementById("yaml").value;
    if (!yaml.trim()) return;
    try {
      const report = await api("POST", "/api/pieces/validate", { yaml });
      const items = [...report.errors, ...report.warnings].map(problem);
      clear(out,
        el("p", { class: report.ok ? "ok" : "error", id: "validation-summary",
          text: report.ok ? `Valid${report.warnings.length ? `, with ${report.warnings.length} warning(s)` : ""}.`
            : `${report.errors.length} error(s)${report.warnings.length ? `, ${report.warnings.length} warning(s)` : ""}:` }),
        items.length ? el("ul", { class: "problems", id: "problems" }, items) : null);
    } catch (err) {
      const details = Array.isArray(err.details) ? err.details.map((d) => `${d.loc}: ${d.message}`).join("; ") : "";
      clear(out, el("p", { class: "error", text: `${err.message}${details ? " — " + details : ""}` }));
    }
  });

  list();
})();
