// Jobs list: filters and paging from the URL, statuses refreshed every few seconds.
"use strict";
(function () {
  const { api, el, time, duration, status, clip, flash, clear } = Legato;
  const params = new URLSearchParams(location.search);
  const LIMIT = 25;
  const offset = Math.max(0, parseInt(params.get("offset") || "0", 10) || 0);
  const body = document.getElementById("jobs-body");

  function query() {
    const q = new URLSearchParams({ limit: LIMIT, offset });
    for (const key of ["status", "piece", "tier", "owner"]) {
      if (params.get(key)) q.set(key, params.get(key));
    }
    const search = (params.get("search") || "").trim();
    if (search) q.set(/^[0-9a-fA-F-]{1,36}$/.test(search) ? "id_prefix" : "q", search);
    return q;
  }

  function row(job) {
    const href = `/ui/jobs/${job.id}`;
    const now = ["queued", "running", "retry"].includes(job.status)
      ? job.current_activity || job.current_movement || ""
      : "";
    return el("tr", { dataset: { id: job.id, status: job.status } },
      el("td", {}, el("a", { href, class: "mono", title: job.id, text: job.id.slice(0, 8) })),
      el("td", {}, status(job.status)),
      el("td", { text: job.piece_name }),
      el("td", { text: job.tier }),
      el("td", { text: `${job.attempt}/${job.max_attempts}` }),
      el("td", { class: "small", text: clip(now, 40) }),
      el("td", { class: "num", text: `${job.tokens_in}+${job.tokens_out}` }),
      el("td", { class: "small", title: job.created_at, text: time(job.created_at) }),
      el("td", { class: "small", text: job.started_at ? duration(job.started_at, job.finished_at) : "–" }),
      el("td", {}, el("a", { href, text: clip(job.instruction, 70) })),
    );
  }

  function pager(page) {
    const prev = document.getElementById("prev");
    const next = document.getElementById("next");
    const link = (off) => { const p = new URLSearchParams(params); p.set("offset", off); return "?" + p; };
    prev.hidden = offset === 0;
    prev.href = link(Math.max(0, offset - LIMIT));
    next.hidden = page.next_offset === null;
    next.href = link(page.next_offset || 0);
    document.getElementById("page-info").textContent =
      page.items.length ? `${offset + 1}–${offset + page.items.length}` : "";
  }

  async function load() {
    try {
      const page = await api("GET", "/api/jobs?" + query());
      clear(body, page.items.length ? page.items.map(row)
        : el("tr", {}, el("td", { colspan: 10, class: "muted", text: "no jobs match" })));
      pager(page);
      flash("");
    } catch (err) {
      flash(`Could not load jobs: ${err.message}`);
    }
  }

  load();
  setInterval(load, 3000);
})();
