// A job: facts, actions, the piece graph with the path taken, a timeline of runs with
// their phases and judgments, and the event log, kept live from the event stream.
"use strict";
(function () {
  const { api, el, time, duration, status, clip, flash, pageData, clear } = Legato;
  const { job_id: jobId } = pageData();
  const TERMINAL = ["succeeded", "failed", "cancelled"];
  // Named SSE events are only delivered to listeners of their name; each one triggers a
  // sync that reads the JSON event log, so kinds not listed here still show up.
  const KNOWN = ["job_submitted", "movement_started", "movement_completed", "movement_failed",
    "movement_timed_out", "movement_retried", "parallel_started", "loop_monitor", "llm_retry",
    "model_fallback", "tool_call", "human_question", "waiting_input", "waiting_subtasks",
    "subtask_ended", "input_received", "human_answered", "job_resumed", "job_retry_scheduled",
    "job_retry_started", "job_requeued", "job_succeeded", "job_failed", "job_cancelled",
    "phase_started", "phase_completed", "judgment", "message"];
  let job = null;
  let lastEvent = 0;
  const events = [];
  let openRun = null;
  let syncing = null;
  let source = null;

  const $ = (id) => document.getElementById(id);

  // -- event descriptions -----------------------------------------------------------------
  const describe = {
    job_submitted: (d) => `queued: piece ${d.piece} on tier ${d.tier}`,
    movement_started: (d) => `▶ ${d.movement} (iteration ${d.iteration}, tier ${d.tier})`,
    movement_completed: (d) =>
      `✓ ${d.movement} → ${d.next}  [${d.tokens_in || 0}+${d.tokens_out || 0} tok, ${d.latency_ms || 0} ms]`,
    movement_failed: (d) => `✗ ${d.movement}: ${d.reason}`,
    llm_retry: (d) => `↻ ${d.movement}: model retry ${d.attempt}: ${d.reason} (waiting ${d.wait_s} s)`,
    model_fallback: (d) => `! ${d.movement}: ${d.warning}`,
    tool_call: (d) => `⚙ ${d.tool} ${d.outcome} (${d.latency_ms || 0} ms)${d.error ? ": " + d.error : ""}`,
    human_question: (d) => `? ${d.movement} asks: ${d.question}`,
    waiting_input: (d) => `‖ waiting for user input before ${d.movement}`,
    phase_started: (d) => `· ${d.movement}: phase ${d.phase} ${d.kind}${d.name ? " " + d.name : ""} started`,
    phase_completed: (d) =>
      `· ${d.movement}: phase ${d.phase} ${d.kind}${d.name ? " " + d.name : ""} done ` +
      `[${d.tokens_in || 0}+${d.tokens_out || 0} tok, ${d.latency_ms || 0} ms${d.model ? ", " + d.model : ""}]` +
      (d.match_method ? ` rule ${d.matched_rule} by ${d.match_method}` : ""),
    input_received: (d) => `← user input received (${d.chars} characters)`,
    human_answered: (d) => `← answer received (${d.chars} characters)`,
    judgment: (d) => `⚖ ${d.movement}: rule ${d.rule} "${d.condition}" by ${d.method} → ${d.next}`,
  };

  function eventText(e) {
    const fn = describe[e.kind];
    if (fn) return fn(e.data || {});
    const data = e.data || {};
    if (e.kind.startsWith("job_")) return `■ ${e.kind.slice(4)}${data.reason ? ": " + data.reason : ""}`;
    const reason = data.reason ? `: ${data.reason}` : "";
    const rest = Object.keys(data).length && !reason ? " " + clip(JSON.stringify(data), 160) : "";
    return `${e.kind}${reason}${rest}`;
  }

  // -- rendering --------------------------------------------------------------------------
  function fact(name, value) {
    return el("div", {}, el("dt", { text: name }), el("dd", {}, value));
  }

  function renderHead() {
    clear($("job-status"), status(job.status));
    const facts = [
      fact("piece", el("a", { href: `/ui/pieces/${encodeURIComponent(job.piece_name)}`, text: job.piece_name })),
      fact("tier", job.tier),
      fact("attempt", `${job.attempt} of ${job.max_attempts}`),
      fact("owner", `${job.owner_id} (${job.visibility})`),
      fact("tokens", `${job.tokens_in} in + ${job.tokens_out} out`),
      fact("created", time(job.created_at)),
      fact("started", time(job.started_at)),
      fact("finished", time(job.finished_at)),
      fact("duration", job.started_at ? duration(job.started_at, job.finished_at) : "–"),
    ];
    if (job.parent_job_id) {
      facts.push(fact("parent", el("a", { href: `/ui/jobs/${job.parent_job_id}`, text: job.parent_job_id.slice(0, 8) })));
    }
    clear($("facts"), facts);
    const active = !TERMINAL.includes(job.status);
    const activity = job.current_activity || (job.current_movement ? `at ${job.current_movement}` : "");
    $("activity").hidden = !(active && activity);
    $("activity").textContent = activity;
    const problems = [];
    if (job.error_summary) problems.push(el("p", {}, el("b", { text: "Error: " }), job.error_summary));
    if (job.abort_reason && job.abort_reason !== job.error_summary) {
      problems.push(el("p", {}, el("b", { text: "Abort reason: " }), job.abort_reason));
    }
    for (const run of job.runs.filter((r) => r.error && r.attempt === job.attempt)) {
      problems.push(el("p", {}, el("b", { text: `${run.name}: ` }), run.error));
    }
    clear($("problem"), problems);
    $("problem").hidden = !problems.length;
    const result = $("result");
    result.textContent = job.result || (active ? "no result yet" : "no result");
    result.classList.toggle("muted", !job.result);
  }

  function waitingFor() {
    // The latest question or input request since the job last resumed, if it waits.
    // ask_human records its question, then the pause itself (waiting_input): the
    // question wins.
    if (job.status !== "waiting_human") return null;
    let found = null;
    for (let i = events.length - 1; i >= 0; i--) {
      const kind = events[i].kind;
      if (kind === "job_resumed") break;
      if (kind === "human_question") return events[i];
      if (kind === "waiting_input" && !found) found = events[i];
    }
    return found || { kind: "waiting_input", data: {} };
  }

  function renderActions() {
    const terminal = TERMINAL.includes(job.status);
    $("cancel-btn").hidden = terminal;
    $("retry-btn").hidden = !["failed", "cancelled"].includes(job.status);
    $("replay").hidden = !terminal;
    const waiting = waitingFor();
    const asking = waiting && waiting.kind === "human_question";
    $("answer-form").hidden = !asking;
    if (asking) $("question").textContent = `${waiting.data.movement || "The job"} asks: ${waiting.data.question || ""}`;
    $("input-form").hidden = terminal || asking;
    $("input-label").textContent = waiting
      ? `The job waits for your input before ${waiting.data.movement || "its next movement"}`
      : "Give the job input (later movements see it)";
  }

  function runsByRetry() {
    const retries = {};
    for (const e of events) {
      if (e.kind === "llm_retry") retries[e.data.movement] = (retries[e.data.movement] || 0) + 1;
    }
    return retries;
  }

  function judgments() {
    const byRun = {};
    for (const e of events) {
      if (e.kind === "judgment" && e.data.run_id) byRun[e.data.run_id] = e.data;
    }
    return byRun;
  }

  function matched(run, judged) {
    const j = judged[run.id];
    if (j) return `${j.rule}: ${clip(j.condition || "", 30)} (${j.method})`;
    if (run.matched_rule === null || run.matched_rule === undefined) return "–";
    const judge = (run.phases || []).find((p) => p.match_method);
    const how = judge ? ` (${judge.match_method})` : "";
    return `${run.matched_rule}: ${clip(run.matched_condition || "", 30)}${how}`;
  }

  function phaseRow(p) {
    const label = `phase ${p.phase} ${p.kind}${p.name ? " · " + p.name : ""}`;
    return el("tr", { class: "phase" },
      el("td", {}), el("td", { class: "small", text: label }),
      el("td", {}, status(p.status || "–")),
      el("td", { class: "small", text: p.model || "" }),
      el("td", { class: "num small", text: `${p.tokens_in || 0}+${p.tokens_out || 0}` }),
      el("td", { class: "num small", text: p.latency_ms === null || p.latency_ms === undefined ? "–" : `${p.latency_ms} ms` }),
      el("td", { class: "small", text: p.match_method ? `${p.matched_rule ?? "–"} (${p.match_method})` : "" }),
      el("td", {}));
  }

  function renderTimeline() {
    const retries = runsByRetry();
    const judged = judgments();
    const rows = [];
    let attempt = null;
    for (const run of job.runs) {
      if (run.attempt !== attempt) {
        attempt = run.attempt;
        rows.push(el("tr", { class: "attempt" }, el("td", { colspan: 8, text: `attempt ${attempt}` })));
      }
      const retry = retries[run.name] ? el("span", { class: "retry", title: "model retries", text: ` ↻${retries[run.name]}` }) : null;
      rows.push(el("tr", { class: "run" + (openRun === run.id ? " open" : ""), dataset: { run: run.id, name: run.name }, onclick: () => toggleRun(run.id) },
        el("td", { class: "num", text: run.iteration }),
        el("td", {}, run.parent_run_id ? "  ⇉ " : "", el("a", { href: "#", text: run.name, onclick: (ev) => ev.preventDefault() })),
        el("td", {}, status(run.status), retry),
        el("td", { class: "small", text: `${run.tier}${run.model ? " · " + run.model : ""}` }),
        el("td", { class: "num", text: `${run.tokens_in}+${run.tokens_out}` }),
        el("td", { class: "num", text: run.latency_ms === null ? duration(run.started_at, run.finished_at) : `${run.latency_ms} ms` }),
        el("td", { class: "small", text: matched(run, judged) }),
        el("td", { text: run.next || "" })));
      for (const p of run.phases || []) rows.push(phaseRow(p));
    }
    clear($("timeline-body"), rows.length ? rows : el("tr", {}, el("td", { colspan: 8, class: "muted", text: "no movement has run yet" })));
  }

  function renderGraph() {
    const svg = document.querySelector("svg.graph");
    if (!svg) return;
    const runs = job.runs.filter((r) => r.attempt === job.attempt);
    const visited = new Set(runs.filter((r) => r.status !== "pending").map((r) => r.name));
    const taken = new Set(runs.filter((r) => r.next).map((r) => `${r.name}\u0000${r.next}`));
    const active = !TERMINAL.includes(job.status);
    const running = new Set(runs.filter((r) => r.status === "running" || r.status === "pending").map((r) => r.name));
    if (active && job.current_movement) running.add(job.current_movement);
    svg.querySelectorAll("g.node").forEach((g) => {
      const name = g.dataset.name;
      g.classList.toggle("visited", visited.has(name) || (name === "COMPLETE" && job.status === "succeeded"));
      g.classList.toggle("current", active && running.has(name));
      g.querySelectorAll("[data-member]").forEach((m) => m.classList.toggle("visited", visited.has(m.dataset.member)));
    });
    svg.querySelectorAll("g.edge").forEach((g) => {
      g.classList.toggle("taken", taken.has(`${g.dataset.from}\u0000${g.dataset.to}`));
    });
  }

  function renderEvents(fresh) {
    const list = $("events");
    for (const e of fresh) {
      list.append(el("li", { class: `ev ev-${e.kind}`, dataset: { kind: e.kind } },
        el("time", { datetime: e.created_at, text: time(e.created_at) }), " ",
        el("span", { class: "kind", text: e.kind }), " ", el("span", { text: eventText(e) })));
    }
  }

  function render() {
    renderHead();
    renderActions();
    renderTimeline();
    renderGraph();
  }

  // -- a run's details ----------------------------------------------------------------------
  function block(title, text) {
    if (!text) return null;
    return el("details", { class: "text" }, el("summary", { text: title }), el("pre", { text }));
  }

  async function toggleRun(runId) {
    const box = $("run-detail");
    if (openRun === runId) {
      openRun = null;
      box.hidden = true;
      renderTimeline();
      return;
    }
    openRun = runId;
    renderTimeline();
    box.hidden = false;
    clear(box, el("p", { class: "muted", text: "loading…" }));
    try {
      const run = await api("GET", `/api/jobs/${jobId}/runs/${runId}`);
      const parts = [el("h3", { text: `${run.name} · attempt ${run.attempt} · iteration ${run.iteration}` })];
      if (run.error) parts.push(el("p", { class: "problem", text: run.error }));
      for (const p of run.phases || []) {
        parts.push(el("div", { class: "phase-detail" },
          el("h4", { text: `Phase ${p.phase} · ${p.kind}${p.name ? " · " + p.name : ""}` }),
          block("System", p.system), block("Prompt", p.prompt), block("Answer", p.answer)));
      }
      if (!(run.phases || []).length) {
        parts.push(block("Prompt", run.prompt), block("Answer", run.output));
      }
      for (const r of run.reports) parts.push(block(`Report ${r.name}`, r.content));
      if (run.traces.length) {
        parts.push(el("h4", { text: "Tool calls" }), el("table", { class: "list small" },
          el("thead", {}, el("tr", {}, ["Tool", "Outcome", "Latency", "Input", "Output"].map((h) => el("th", { text: h })))),
          el("tbody", {}, run.traces.map((t) => el("tr", {},
            el("td", { text: t.tool }), el("td", {}, status(t.outcome)),
            el("td", { class: "num", text: `${t.latency_ms} ms` }),
            el("td", {}, el("code", { text: clip(JSON.stringify(t.input), 120) })),
            el("td", {}, el("code", { text: clip(t.error || t.output, 160) })))))));
      }
      if (run.llm_calls.length) {
        parts.push(el("h4", { text: "Model calls" }), el("ul", { class: "small" }, run.llm_calls.map((c) =>
          el("li", { text: `${c.model} ${c.outcome} · ${c.tokens_in}+${c.tokens_out} tok · ${c.duration_ms} ms` }))));
      }
      clear(box, parts.filter(Boolean));
    } catch (err) {
      clear(box, el("p", { class: "problem", text: `Could not load the run: ${err.message}` }));
    }
  }

  // -- keeping live -------------------------------------------------------------------------
  async function sync() {
    if (syncing) return syncing;
    syncing = (async () => {
      try {
        let more = true;
        while (more) {
          const page = await api("GET", `/api/jobs/${jobId}/events?after=${lastEvent}&limit=500`);
          if (page.items.length) lastEvent = page.items[page.items.length - 1].id;
          events.push(...page.items);
          renderEvents(page.items);
          more = page.items.length === 500;
        }
        job = await api("GET", `/api/jobs/${jobId}`);
        render();
        flash("");
      } catch (err) {
        flash(`Could not refresh the job: ${err.message}`);
      } finally {
        syncing = null;
      }
    })();
    return syncing;
  }

  function follow() {
    if (source) source.close();
    source = new EventSource(`/api/jobs/${jobId}/events?follow=1&after=${lastEvent}`);
    $("live").classList.add("on");
    for (const kind of KNOWN) source.addEventListener(kind, () => sync());
    source.addEventListener("end", () => {
      source.close();
      source = null;
      $("live").classList.remove("on");
      sync();
    });
    source.onerror = () => $("live").classList.remove("on");
    source.onopen = () => $("live").classList.add("on");
  }

  async function act(button, method, path, body, done) {
    if (button) button.disabled = true;
    try {
      await api(method, path, body);
      if (done) done();
      flash("");
      await sync();
      if (!TERMINAL.includes(job.status) && !source) follow();
    } catch (err) {
      flash(`${err.message}${err.details ? " — " + JSON.stringify(err.details) : ""}`);
    } finally {
      if (button) button.disabled = false;
    }
  }

  $("cancel-btn").addEventListener("click", (ev) => {
    if (confirm("Cancel this job?")) act(ev.target, "POST", `/api/jobs/${jobId}/cancel`);
  });
  $("retry-btn").addEventListener("click", (ev) => {
    if (confirm("Start a new attempt from the first movement?")) act(ev.target, "POST", `/api/jobs/${jobId}/retry`);
  });
  $("replay-btn").addEventListener("click", (ev) => {
    const movement = $("replay-movement").value;
    if (confirm(`Start a new attempt at ${movement}, with everything as it was just before it?`)) {
      act(ev.target, "POST", `/api/jobs/${jobId}/replay`, { movement });
    }
  });
  $("answer-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("answer-text");
    act(ev.submitter, "POST", `/api/jobs/${jobId}/answer`, { answer: text.value }, () => { text.value = ""; });
  });
  $("input-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("input-text");
    act(ev.submitter, "POST", `/api/jobs/${jobId}/inputs`, { text: text.value }, () => { text.value = ""; });
  });

  sync().then(() => {
    if (job && !TERMINAL.includes(job.status)) follow();
  });
  // A slow safety net: the stream can drop behind a proxy; the log catches up here.
  setInterval(() => { if (job && !TERMINAL.includes(job.status)) sync(); }, 5000);
})();
