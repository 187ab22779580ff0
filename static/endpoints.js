/* The onboarding page's "Events to your systems": the organization's event endpoints (each
 * signing secret shown once, when it is made), and each endpoint's recent deliveries. Uses
 * the page's helpers from app.js (el, api, $, enc, orgId, busy, showError, fmtDate). */
"use strict";
const EVENT_TYPES = ["message.received", "message.sent", "message.status", "message.echo", "message.history",
  "contact.updated", "connection.connected", "connection.changed", "connection.disconnected"];
const endpointsUrl = () => "/api/v1/organizations/" + enc(orgId) + "/whatsapp/event-endpoints";

$("ep-types").append(...EVENT_TYPES.map((type) =>
  el("label", { class: "check" }, el("input", { type: "checkbox", name: "types", value: type }), type)));

function endpointItem(e) {
  const disabled = e.status === "disabled";
  const state = disabled ? "Disabled " + fmtDate(e.disabledAt) + (e.disabledReason ? ": " + e.disabledReason : "")
    : e.failingSince ? "Failing since " + fmtDate(e.failingSince) + "; retrying" : "Active";
  return el("li", { "data-endpoint": e.id },
    el("strong", { text: e.url }),
    el("span", { class: "badge " + (disabled || e.failingSince ? "off" : "on"), style: "margin-left:8px", text: disabled ? "Disabled" : e.failingSince ? "Failing" : "Active" }),
    el("div", { class: "hint reason", text: (e.types ? e.types.join(", ") : "every event") + " · " + state }),
    el("div", { class: "row", style: "margin-top:6px" },
      el("button", { type: "button", class: "secondary", text: "Deliveries", onclick: (ev) => busy(ev.currentTarget, () => loadDeliveries(e)) }),
      el("button", { type: "button", class: "danger", text: "Delete", onclick: (ev) => busy(ev.currentTarget, () => deleteEndpoint(e)) })));
}

async function loadEndpoints() {
  try {
    const r = await api("GET", endpointsUrl());
    const list = Array.isArray(r.endpoints) ? r.endpoints : [];
    $("endpoint-list").replaceChildren(...(list.length ? list.map(endpointItem) : [el("li", { class: "muted", text: "No endpoints yet." })]));
  } catch (e) { showError(e); }
}

function outcome(d) {
  if (d.deliveredAt) return "Delivered " + fmtDate(d.deliveredAt);
  if (d.failed) return "Failed: no more attempts";
  return d.nextAttemptAt ? "Next attempt " + fmtDate(d.nextAttemptAt) : "Waiting";
}

async function loadDeliveries(endpoint) {
  const r = await api("GET", endpointsUrl() + "/" + enc(endpoint.id) + "/deliveries?limit=20").catch(showError);
  if (!r) return;
  const rows = (r.deliveries || []).map((d) => el("tr", {},
    el("td", { "data-label": "Event", text: d.eventId }),
    el("td", { "data-label": "Type", text: d.type }),
    el("td", { "data-label": "Attempts", text: String(d.attempts) }),
    el("td", { "data-label": "Last answer", text: d.lastStatus != null ? "HTTP " + d.lastStatus : (d.lastError || "—") }),
    el("td", { "data-label": "Outcome", text: outcome(d) })));
  $("deliveries-title").hidden = false;
  $("deliveries-title").textContent = "Recent deliveries to " + endpoint.url;
  $("deliveries").hidden = false;
  $("delivery-rows").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "5", class: "muted", text: "Nothing delivered yet." }))]));
}

async function deleteEndpoint(endpoint) {
  if (!window.confirm("Stop sending events to " + endpoint.url + "?")) return;
  try {
    await api("DELETE", endpointsUrl() + "/" + enc(endpoint.id));
    $("deliveries").hidden = $("deliveries-title").hidden = true;
    await loadEndpoints();
  } catch (e) { showError(e); }
}

$("endpoint-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const form = ev.currentTarget;
  busy($("ep-add"), async () => {
    const types = [...form.querySelectorAll("input[name=types]:checked")].map((i) => i.value);
    const body = { url: val(form, "url") };
    if (types.length) body.types = types;
    try {
      const r = await api("POST", endpointsUrl(), body);
      // The only time the secret is ever shown.
      $("ep-secret-value").textContent = r.data.secret;
      $("ep-secret").hidden = false;
      form.reset();
      await loadEndpoints();
    } catch (e) { showError(e); }
  });
});
// Closing the section forgets the secret: it is never shown again.
$("endpoints").addEventListener("toggle", () => {
  if ($("endpoints").open) return loadEndpoints();
  $("ep-secret").hidden = true;
  $("ep-secret-value").textContent = "";
});
$("refresh-btn").addEventListener("click", () => { if ($("endpoints").open) loadEndpoints(); });
