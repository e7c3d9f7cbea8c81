// Workers (database heartbeats), model endpoint health, Swarm nodes and services.
"use strict";
(function () {
  const { api, el, flash, clear, time, ago, status } = Legato;
  const { idle_minutes: idleMinutes, admin, swarm_error: swarmOff } = Legato.pageData();
  const $ = (id) => document.getElementById(id);

  async function workers() {
    try {
      const w = await api("GET", "/api/workers");
      clear($("workers-body"), w.heartbeats.length ? w.heartbeats.map((h) => el("tr", { class: h.stale ? "stale" : "" },
        el("td", { text: h.hostname }), el("td", { class: "num", text: h.pid }),
        el("td", { class: "small", text: h.queues.join(", ") }),
        el("td", { class: "num", text: h.in_flight }), el("td", { class: "num", text: h.concurrency ?? "–" }),
        el("td", {}, h.stale ? status("stale") : null, ` ${Math.round(h.seconds_since_seen)} s ago`),
        el("td", { class: "small", text: time(h.started_at) }), el("td", { class: "small", text: h.version || "–" })))
        : el("tr", {}, el("td", { colspan: 8, class: "muted", text: "no worker has reported a heartbeat" })));
      const seen = w.workers.length ? `Celery inspect also sees ${w.workers.length} worker(s).` : "";
      $("inspect-note").textContent = [seen, w.inspect_error ? `Inspect: ${w.inspect_error}.` : ""].join(" ");
      clear($("endpoints-body"), w.endpoints.length ? w.endpoints.map((e) => el("tr", {},
        el("td", { text: e.tier }), el("td", { class: "small", text: e.base_url || "demo (offline)" }),
        el("td", {}, status(e.healthy ? "healthy" : "down"), e.error ? el("span", { class: "small", text: ` ${e.error}` }) : null),
        el("td", { class: "small", text: e.models.join(", ") || "–" }), el("td", { class: "small", text: ago(e.checked_at) })))
        : el("tr", {}, el("td", { colspan: 5, class: "muted", text: "no probe yet (beat probes every 30 s)" })));
    } catch (err) {
      flash(`Workers: ${err.message}`);
    }
  }

  function swarmError(err) {
    const box = $("swarm-error");
    box.textContent = err ? err.message : "";
    box.hidden = !err;
  }

  async function control(svc, action) {
    const verbs = { start: "Start", stop: "Stop (scale to 0)", rm: "Remove" };
    if (!confirm(`${verbs[action]} service ${svc.name}?`)) return;
    try {
      if (action === "rm") await api("DELETE", `/api/swarm/services/${encodeURIComponent(svc.name)}`);
      else await api("POST", `/api/swarm/services/${encodeURIComponent(svc.name)}/${action}`);
      flash("");
      swarm();
    } catch (err) {
      flash(err.message);
    }
  }

  function timeLeft(svc) {
    if (svc.idle_minutes === null || svc.idle_minutes === undefined || svc.desired_replicas === 0) return "–";
    const left = idleMinutes - svc.idle_minutes;
    return left <= 0 ? "next pass" : `${left.toFixed(1)} min`;
  }

  async function swarm() {
    try {
      const [nodes, services] = await Promise.all([api("GET", "/api/nodes"), api("GET", "/api/swarm/services")]);
      swarmError(null);
      clear($("nodes-body"), nodes.items.map((n) => el("tr", {},
        el("td", { text: n.hostname + (n.leader ? " (leader)" : "") }), el("td", { text: n.role }),
        el("td", { text: n.availability }), el("td", {}, status(n.state)), el("td", { class: "small", text: n.engine_version || "–" }))));
      clear($("services-body"), services.items.length ? services.items.map((s) => el("tr", {},
        el("td", { text: s.name }), el("td", { text: s.kind || "–" }), el("td", { text: s.queue || "–" }),
        el("td", { class: "num", text: `${s.running_replicas}/${s.desired_replicas}` }),
        el("td", { text: s.idle_minutes === null ? "–" : `${s.idle_minutes.toFixed(1)} min` }),
        el("td", { text: timeLeft(s) }),
        el("td", {},
          el("button", { class: "link", onclick: () => control(s, "start"), text: "start" }), " ",
          el("button", { class: "link", onclick: () => control(s, "stop"), text: "stop" }), " ",
          el("button", { class: "link danger", onclick: () => control(s, "rm"), text: "remove" }))))
        : el("tr", {}, el("td", { colspan: 7, class: "muted", text: "no legato services" })));
    } catch (err) {
      swarmError(err);
      clear($("nodes-body"));
      clear($("services-body"));
    }
  }

  if (admin) {
    workers();
    setInterval(workers, 5000);
    if (!swarmOff) {  // without Swarm the page already shows why (the API's 503 message)
      swarm();
      setInterval(swarm, 15000);
    }
  }
})();
