// Agents: list, create and edit; chat with one, showing the turn's progress while it runs.
"use strict";
(function () {
  const { api, el, flash, clear, time } = Legato;
  const form = document.getElementById("agent-form");
  let editing = null;
  let chatAgent = null;
  let sessionId = null;

  async function list() {
    try {
      const page = await api("GET", "/api/agents");
      clear(document.getElementById("agents-body"), page.items.length ? page.items.map((a) => el("tr", {},
        el("td", {}, el("b", { text: a.name })),
        el("td", { text: a.queue }),
        el("td", { text: a.model || "(tier default)" }),
        el("td", { class: "small", text: a.allowed_tools.join(", ") || "–" }),
        el("td", {},
          el("button", { class: "link", onclick: () => edit(a), text: "edit" }), " ",
          el("button", { class: "link", onclick: () => pick(a), text: "chat" }), " ",
          el("button", { class: "link danger", onclick: () => remove(a), text: "delete" }))))
        : el("tr", {}, el("td", { colspan: 5, class: "muted", text: "no agents yet" })));
    } catch (err) {
      flash(`Could not load agents: ${err.message}`);
    }
  }

  function edit(agent) {
    editing = agent.name;
    form.name.value = agent.name;
    form.name.disabled = true;
    form.tier.value = agent.tier;
    form.model.value = agent.model || "";
    form.system_prompt.value = agent.system_prompt || "";
    form.allowed_tools.value = agent.allowed_tools.join(", ");
    form.temperature.value = agent.temperature ?? "";
    form.dedicated.checked = agent.dedicated;
    document.getElementById("agent-form-title").textContent = `Edit ${agent.name}`;
    document.getElementById("agent-save").textContent = "Save";
    document.getElementById("agent-new").hidden = false;
  }

  function reset() {
    editing = null;
    form.reset();
    form.name.disabled = false;
    document.getElementById("agent-form-title").textContent = "New agent";
    document.getElementById("agent-save").textContent = "Create";
    document.getElementById("agent-new").hidden = true;
  }

  async function remove(agent) {
    if (!confirm(`Delete agent ${agent.name}, its sessions and tasks?`)) return;
    try {
      await api("DELETE", `/api/agents/${encodeURIComponent(agent.name)}`);
      if (editing === agent.name) reset();
      list();
    } catch (err) {
      flash(err.message);
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {
      tier: form.tier.value,
      model: form.model.value.trim() || null,
      system_prompt: form.system_prompt.value || null,
      allowed_tools: form.allowed_tools.value.split(",").map((t) => t.trim()).filter(Boolean),
      temperature: form.temperature.value === "" ? null : Number(form.temperature.value),
      dedicated: form.dedicated.checked,
    };
    try {
      if (editing) {
        await api("PATCH", `/api/agents/${encodeURIComponent(editing)}`, body);
      } else {
        await api("POST", "/api/agents", { name: form.name.value.trim(), ...body });
      }
      flash("");
      reset();
      list();
    } catch (err) {
      const details = Array.isArray(err.details) ? " — " + err.details.map((d) => `${d.loc}: ${d.message}`).join("; ") : "";
      flash(`${err.message}${details}`);
    }
  });
  document.getElementById("agent-new").addEventListener("click", reset);

  // -- chat -----------------------------------------------------------------------------------
  function pick(agent) {
    chatAgent = agent;
    sessionId = null;
    document.getElementById("chat-agent").textContent = `with ${agent.name} (queue ${agent.queue})`;
    clear(document.getElementById("chat-log"));
    document.getElementById("chat-text").disabled = false;
    document.getElementById("chat-send").disabled = false;
  }

  function say(role, text, extra) {
    document.getElementById("chat-log").append(
      el("li", { class: `msg ${role}` }, el("span", { class: "role", text: role }), el("div", { text }), extra || null));
  }

  const activity = (agent) => api("GET", `/ui/agents/${encodeURIComponent(agent.name)}/activity`);

  async function watch(agent, before, box) {
    // While the reply is pending, show what the agent's turn is doing: waiting for a
    // worker, running, and each model call the worker records (failures included).
    const started = Date.now();
    while (!box.done) {
      try {
        const act = await activity(agent);
        const secs = Math.round((Date.now() - started) / 1000);
        const mine = act.id && act.id !== before;
        const parts = [`${mine ? act.status : "sending"} · ${secs} s`];
        if (mine && act.status === "pending") parts.push(`waiting for a worker on ${agent.queue}`);
        if (mine && act.status === "running") parts.push("the model is working");
        for (const c of mine ? act.calls : []) parts.push(`model call ${c.outcome} (${c.model}, ${c.ms} ms)`);
        if (!box.done) box.node.textContent = parts.join(" · ");
      } catch (err) {
        box.node.textContent = err.message;
      }
      await new Promise((r) => setTimeout(r, 700));
    }
  }

  document.getElementById("chat-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!chatAgent) return;
    const input = document.getElementById("chat-text");
    const message = input.value;
    if (!message.trim()) return;
    input.value = "";
    say("you", message);
    const status = document.getElementById("chat-status");
    const box = { done: false, node: status };
    status.hidden = false;
    status.textContent = "sending…";
    const before = (await activity(chatAgent).catch(() => ({}))).id || null;
    watch(chatAgent, before, box);
    try {
      const out = await api("POST", `/api/agents/${encodeURIComponent(chatAgent.name)}/chat`,
        sessionId ? { message, session_id: sessionId } : { message });
      sessionId = out.session_id;
      say(chatAgent.name, out.reply, el("span", { class: "muted small", text: ` ${out.tokens_in}+${out.tokens_out} tok · ${time(new Date().toISOString())}` }));
    } catch (err) {
      say("error", err.message);
    } finally {
      box.done = true;
      status.hidden = true;
    }
  });

  list();
})();
