/* The onboarding page of the local stack: create an organization, connect WhatsApp
 * (Embedded Signup through static/signup.js, or the redirect dialog), finish registration,
 * and use the connection (status, events, inbox). It talks to the service only through
 * the HTTP API, as any frontend would. */
"use strict";
// What the stack serving this page says: its demo user's token, and (on the local stack)
// the origin of the Meta sandbox, whose popup posts Embedded Signup's messages.
const setting = (name) => (document.querySelector('meta[name="' + name + '"]') || {}).content || "";
const DEMO_TOKEN = setting("demo-token");
const SANDBOX_ORIGIN = setting("meta-sandbox-origin");
const KEY_TOKEN = "waOnboarding.token", KEY_ORG = "waOnboarding.orgId", KEY_STATE = "waOnboarding.oauthState";
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
const val = (form, name) => String(form.elements.namedItem(name).value || "").trim();
function store(kind, key, value) {
  try {
    const s = kind === "session" ? sessionStorage : localStorage;
    if (value === undefined) return s.getItem(key);
    if (value === null || value === "") s.removeItem(key); else s.setItem(key, value);
  } catch (_) { return null; }
}
const looksLikeJwt = (t) => typeof t === "string" && /^[\w-]+\.[\w-]+\.[\w-]*$/.test(t.trim());
const demoToken = looksLikeJwt(DEMO_TOKEN) ? DEMO_TOKEN : "";
let token = store("local", KEY_TOKEN) || demoToken;
let orgId = store("local", KEY_ORG) || "";
let oauthState = store("session", KEY_STATE) || "";
const ctx = { org: null, wabaId: "", wabaName: "" };

function el(tag, props, ...kids) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === "class") n.className = v;
    else if (k === "text") n.textContent = v;
    else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of kids.flat()) if (c != null && c !== false) n.append(c instanceof Node ? c : String(c));
  return n;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || "Something went wrong.");
    this.serverMessage = (body && body.message) || "";
    this.status = status;
    this.code = (body && body.code) || "http_" + status;
    this.action = (body && body.action) || "";
  }
}
async function api(method, path, body, auth = true) {
  const headers = { Accept: "application/json" };
  if (token && auth) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try { res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }); }
  catch (_) { throw new ApiError(0, { code: "network_error", message: "Could not reach the service.", action: "Check that the local stack is running and try again." }); }
  let data = null;
  try { const t = await res.text(); data = t ? JSON.parse(t) : null; } catch (_) { data = null; }
  if (!res.ok || (data && data.success === false)) {
    throw new ApiError(res.status, data && typeof data === "object" ? data : { message: "The service answered with HTTP " + res.status + "." });
  }
  if (!data || typeof data !== "object") throw new ApiError(res.status, { code: "bad_response", message: "The service sent an unexpected answer." });
  return data;
}

const EXPLAIN = {
  access_denied: ["Connection cancelled", "You closed or cancelled the Meta dialog, so nothing was connected.", "Start again whenever you are ready."],
  state_expired: ["This connection attempt expired", "For safety, a connection attempt is only valid for a few minutes.", "Start again to get a fresh one."],
  state_used: ["This connection attempt was already used", "Each attempt can be completed only once (for example, the page was submitted twice).", "Start again to connect."],
  invalid_state: ["We couldn't match this connection attempt", "The attempt is unknown or its steps were done out of order.", "Start again to connect."],
  no_waba_found: ["No WhatsApp Business Account found", "Meta did not share any WhatsApp Business Account with this app.", "Start again and select an account in the Meta dialog, or create one in Meta Business Suite first."],
  no_phone_numbers: ["No phone numbers in this account", "The chosen WhatsApp Business Account has no phone numbers yet.", "Add a number in WhatsApp Manager, or start again and pick another account."],
  unauthorized: ["Your sign-in isn't valid", "The bearer token is missing, invalid or expired.", "Open “Advanced” below and use a valid token."],
  forbidden: ["Not allowed", "This organization or connection attempt belongs to someone else.", "Use the right token or start over."],
  meta_error: ["Meta returned an error", "Meta refused the request.", "Try again; if it keeps failing, start again."],
  not_connected: ["WhatsApp is not connected", "This organization has no active phone number to send from, so nothing was sent.", "Connect WhatsApp again, then retry."],
  meta_unavailable: ["Meta is not responding", "Meta timed out or is rate-limiting requests.", "Wait a moment and try again."],
  signup_cancelled: ["Embedded Signup was cancelled", "The window was closed before the signup finished, so nothing was connected.", "Connect again whenever you are ready."],
  not_registered: ["This number can't send yet", "It is not registered for the Cloud API yet.", "Finish its registration below."],
  reauthorization_required: ["Meta no longer accepts this connection", "The authorization behind this number was revoked or has expired, so nothing was sent.", "Reconnect WhatsApp with the same number; its history stays."],
  phone_restricted: ["Meta restricts this number", "Meta does not let this number send for now, so nothing was sent.", "See the reasons under Health, and WhatsApp Manager's account quality page."],
  waba_banned: ["Meta disabled this WhatsApp Business Account", "Nothing can be sent from its numbers.", "Request a review in WhatsApp Manager."],
  template_error: ["Meta refused the template", "The template could not be sent as given.", "Check its parameters, or pick another approved template."],
  recipient_not_supported: ["This customer can't be reached by user ID", "Meta does not accept this business-scoped user ID as the recipient.", "Reply to the customer's phone number instead."],
  pin_mismatch: ["That PIN was not accepted", "Meta refused this two-step verification PIN.", "Enter the PIN set in WhatsApp Manager, or reset it there."],
  invalid_code: ["That code was not accepted", "Meta refused the verification code.", "Check the code, or ask for a new one."],
  verification_refused: ["Meta did not send a code", "Meta refused to send a verification code now.", "Wait a while, or try a voice call instead."],
  registration_limited: ["Meta asks to wait", "Meta allows only 10 registration attempts per number in 72 hours.", "It is registered again by itself once Meta allows it."],
};
const RESTART_CODES = new Set(["access_denied", "state_expired", "state_used", "invalid_state", "no_waba_found", "no_phone_numbers", "signup_cancelled"]);

function showBanner(kind, title, message, action, buttons) {
  const box = el("div", { class: "banner " + kind },
    title ? el("strong", { text: title }) : null,
    message ? el("p", { text: message }) : null,
    action ? el("p", { text: action }) : null,
    buttons && buttons.length ? el("div", { class: "row" }, buttons.map((b) => el("button", { type: "button", class: "secondary", text: b.label, onclick: b.onClick }))) : null);
  $("banner").replaceChildren(box);
}
const clearBanner = () => $("banner").replaceChildren();
function showError(err) {
  const code = err.code || "";
  const plain = EXPLAIN[code];
  const buttons = RESTART_CODES.has(code) ? [{ label: "Start again", onClick: startAgain }] : [];
  if (code === "unauthorized" || err.status === 401) $("advanced").open = true;
  showBanner("error", plain ? plain[0] : "Something went wrong", err.serverMessage || (plain ? plain[1] : err.message), err.action || (plain && plain[2]), buttons);
}

const SECTIONS = ["step-create", "step-connect", "step-account", "step-phone", "step-dashboard"];
function go(step, focus = true) {
  SECTIONS.forEach((id, i) => { $(id).hidden = i + 1 !== step; });
  if (step !== 5) setInbox(null);
  document.querySelectorAll(".stepper li").forEach((li) => {
    const n = Number(li.dataset.step);
    li.classList.toggle("done", n < step || (step === 5 && n === 5));
    li.classList.toggle("current", n === step);
    if (n === step) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
  });
  if (focus) $(SECTIONS[step - 1]).querySelector("h2").focus();
}
async function busy(btn, fn) {
  if (btn.disabled) return;
  const label = btn.textContent;
  btn.disabled = true; btn.setAttribute("aria-busy", "true"); btn.textContent = label + "…";
  try { await fn(); } finally { btn.disabled = false; btn.removeAttribute("aria-busy"); btn.textContent = label; }
}

function setOrg(id) { orgId = id || ""; store("local", KEY_ORG, orgId || null); $("org-id").value = orgId; }
function setState(s) { oauthState = s || ""; store("session", KEY_STATE, oauthState || null); }
function fmtDate(v) {
  if (v == null || v === "") return "—";
  const d = typeof v === "number" ? new Date(v < 1e12 ? v * 1000 : v) : new Date(v);
  return isNaN(d.getTime()) ? String(v) : d.toLocaleString();
}
function qualityBadge(q) {
  const v = String(q || "UNKNOWN").toUpperCase();
  return el("span", { class: "badge " + (["GREEN", "YELLOW", "RED"].includes(v) ? v : "") }, v === "UNKNOWN" ? "Unknown" : v.charAt(0) + v.slice(1).toLowerCase());
}
function fillDl(dl, pairs) {
  dl.replaceChildren(...pairs.filter((p) => p[1] != null && p[1] !== "").flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v)]));
}
const phoneLabel = (p) => (typeof p === "string" ? p : (p && (p.displayPhone || p.displayPhoneNumber || p.phoneNumberId || p.id)) || "");

async function loadOrg() {
  const r = await api("GET", "/api/v1/organizations/" + enc(orgId));
  ctx.org = r.data || r;
  renderOrg();
  return ctx.org;
}
function renderOrg() {
  const o = ctx.org || {};
  const wa = o.whatsapp || {};
  const nums = Array.isArray(wa.phoneNumbers) ? wa.phoneNumbers.map(phoneLabel).filter(Boolean) : [];
  const waBadge = el("span", { class: "badge " + (wa.connected ? "on" : "off"), text: wa.connected ? "Connected" : "Not connected" });
  fillDl($("org-summary"), [["Organization", o.name], ["Industry", o.industry], ["WhatsApp", waBadge], ["WABA ID", wa.wabaId], ["Numbers", nums.join(", ")]]);
  fillDl($("org-details"), [["Name", o.name], ["Description", o.description], ["Industry", o.industry], ["Website", o.website], ["ID", o.id || orgId]]);
  $("h-dash").textContent = o.name ? o.name : "Organization";
  $("e-name").value = o.name || ""; $("e-desc").value = o.description || ""; $("e-ind").value = o.industry || ""; $("e-web").value = o.website || "";
}
function renderStatus(s) {
  const phones = Array.isArray(s.phoneNumbers) ? s.phoneNumbers : [];
  const status = el("span", { class: "badge " + (s.connected ? "on" : "off"), text: s.connected ? "Connected" : "Not connected" });
  fillDl($("wa-summary"), [["Status", status], ["Can send", el("span", { class: "badge " + (s.canSend ? "on" : "off"), text: s.canSend ? "Yes" : "Not yet" })], ["WABA ID", s.wabaId]]);
  $("status-rows").replaceChildren(...(phones.length ? phones.map((p) => el("tr", {},
    el("td", { "data-label": "Display phone", text: p.displayPhone || "—" }),
    el("td", { "data-label": "Phone ID", text: p.phoneNumberId || p.id || "—" }),
    el("td", { "data-label": "Active" }, el("span", { class: "badge " + (p.isActive ? "on" : "off"), text: p.isActive ? "Active" : "Inactive" })),
    el("td", { "data-label": "Registration", title: p.registrationReason || "" }, registrationBadge(p), syncLine(p)),
    el("td", { "data-label": "Health" }, healthBadge(p), ...(p.healthReasons || []).map((r) => el("div", { class: "hint reason", text: r.code + ": " + r.message + (r.until ? " (until " + fmtDate(r.until) + ")" : "") }))),
    el("td", { "data-label": "Can send" }, el("span", { class: "badge " + (p.canSend ? "on" : "off"), text: p.canSend ? "Yes" : "No" })),
    el("td", { "data-label": "Quality" }, qualityBadge(p.qualityRating))))
    : [el("tr", {}, el("td", { colspan: "7", class: "muted", text: "No phone numbers connected." }))]));
  // A dead token is repaired by connecting the same number again.
  const reauthorize = phones.some((p) => p.health === "needs_reauthorization");
  $("reconnect-btn").hidden = !!s.connected && !reauthorize;
  $("reconnect-btn").textContent = reauthorize ? "Reconnect WhatsApp" : "Connect WhatsApp";
  $("status-action").hidden = !s.action;
  $("status-action").textContent = s.action || "";
  $("disconnect-btn").hidden = !s.connected;
  renderRegistration(phones.filter((p) => p.isActive));
  setInbox(s);
}
const HEALTH = { ok: "OK", needs_reauthorization: "Reconnect needed", restricted: "Restricted", banned: "Disabled by Meta", disconnected: "Disconnected" };
function healthBadge(p) {
  return el("span", { class: "badge " + (p.health === "ok" ? "on" : "off"), text: HEALTH[p.health] || p.health || "—" });
}
const EVENT_WORDS = { api: "this service", webhook: "Meta's webhook", sweep: "the health sweep" };
const events = { cursor: null };
async function loadEvents(more) {
  const q = "?limit=20" + (more && events.cursor ? "&cursor=" + enc(events.cursor) : "");
  try {
    const page = await api("GET", "/api/v1/organizations/" + enc(orgId) + "/whatsapp/events" + q);
    const items = (page.events || []).map((e) => el("li", {},
      el("span", { class: "muted", text: fmtDate(e.at) + " · " + (EVENT_WORDS[e.source] || e.source) + " · " }),
      el("strong", { text: e.kind.replace(/_/g, " ") }),
      el("span", { text: (e.from != null || e.to != null ? " " + (e.from ?? "—") + " → " + (e.to ?? "—") : "") + (e.reason ? " — " + e.reason : "") })));
    if (more) $("event-list").append(...items); else $("event-list").replaceChildren(...items);
    if (!more && !items.length) $("event-list").replaceChildren(el("li", { class: "muted", text: "No events yet." }));
    events.cursor = page.nextCursor || null;
    $("events-more").hidden = !events.cursor;
  } catch (e) { showError(e); }
}
const REGISTRATION = { registered: "Registered", not_required: "WhatsApp Business app", pin_required: "PIN required", verification_required: "Verify the number", pending: "Pending", failed: "Failed" };
const SYNC = { not_requested: "waiting", requested: "under way", complete: "done", declined: "not shared", failed: "failed" };
const syncLine = (p) => p.sync ? el("div", { class: "hint reason", text: "Contacts " + (SYNC[p.sync.contacts] || p.sync.contacts) + " · history " + (SYNC[p.sync.history] || p.sync.history) }) : null;
function registrationBadge(p) {
  const ok = p.registration === "registered" || p.registration === "not_required";
  return el("span", { class: "badge " + (ok ? "on" : "off"), text: REGISTRATION[p.registration] || p.registration || "—" });
}
// Meta wants registration within 14 days of signup: ask for the number's own PIN when it
// has one (133005), and offer a retry when Meta asked to wait.
function renderRegistration(active) {
  const verify = active.find((p) => p.registration === "verification_required");
  $("verify-form").hidden = !verify;
  $("verify-form").dataset.phone = verify ? verify.phoneNumberId : "";
  if (verify) $("verify-why").textContent = verify.displayPhone + " is new to WhatsApp: Meta sends it a code by SMS or voice call. Enter the code to verify and register the number.";
  const needsPin = active.find((p) => p.registration === "pin_required");
  const retry = active.find((p) => p.registration === "pending" || p.registration === "failed");
  $("pin-form").hidden = !needsPin;
  $("pin-form").dataset.phone = needsPin ? needsPin.phoneNumberId : "";
  if (needsPin) $("pin-why").textContent = needsPin.displayPhone + " already has a two-step verification PIN. Enter it so the number can be registered for the Cloud API.";
  $("retry-row").hidden = !retry;
  $("retry-row").dataset.phone = retry ? retry.phoneNumberId : "";
  $("retry-why").textContent = retry ? (retry.displayPhone + ": " + (retry.registrationReason || "registration did not finish")) : "";
}
async function loadStatus() {
  $("status-rows").replaceChildren(el("tr", {}, el("td", { colspan: "7", class: "loading", text: "Loading status…" })));
  try { renderStatus(await api("GET", "/api/v1/organizations/" + enc(orgId) + "/whatsapp/status")); }
  catch (e) { $("status-rows").replaceChildren(); showError(e); }
}
async function showDashboard(focus = true) {
  go(5, focus);
  await Promise.all([loadOrg().catch(showError), loadStatus(), loadEvents(false), loadContacts()]);
}
// The contacts a WhatsApp Business app number synced (coexistence).
async function loadContacts() {
  try {
    const r = await api("GET", "/api/v1/organizations/" + enc(orgId) + "/whatsapp/contacts?limit=100");
    const contacts = Array.isArray(r.contacts) ? r.contacts : [];
    $("contacts").hidden = !contacts.length;
    $("contact-list").replaceChildren(...contacts.map((c) => el("li", {}, el("strong", { text: c.name || c.phone }), el("span", { class: "muted", text: " · " + c.phone }))));
  } catch (_) { $("contacts").hidden = true; }
}

const TICKS = { sent: [1, "✓", "Sent"], delivered: [2, "✓✓", "Delivered"], read: [3, "✓✓", "Read"], failed: [4, "✕", "Failed"] };
const inbox = { org: null, items: new Map(), local: new Map(), rank: new Map(), hi: 0, lo: 0, cursor: null, loaded: false, phoneId: "", timer: 0, busy: false, again: null, sig: "" };
const msgUrl = () => "/api/v1/organizations/" + enc(orgId) + "/whatsapp/messages";
const digits = (v) => String(v == null ? "" : v).replace(/\D/g, "");
// A reply goes to a phone number (`to`) or, for a customer whose number Meta withholds, to
// their business-scoped user ID (`recipient`).
const isUserId = (v) => /^[A-Z]{2}\.[A-Za-z0-9.]+$/.test(String(v || "").trim());
const replyKey = (v) => isUserId(v) ? String(v).trim() : digits(v);
const customerKey = (m) => digits(m.from) || m.userId || "";
const customerName = (m) => m.contactName || m.username || m.from || m.userId || "Unknown sender";
const tsOf = (m) => Date.parse(m.timestamp) || 0;
const byTime = (a, b) => tsOf(a) - tsOf(b) || (inbox.rank.get(a.id) || 0) - (inbox.rank.get(b.id) || 0);
function keep(m, newer) {
  if (!inbox.rank.has(m.id)) inbox.rank.set(m.id, newer ? ++inbox.hi : --inbox.lo);
  inbox.items.set(m.id, m);
}
function fmtTime(v) {
  const d = new Date(v);
  if (!v || isNaN(d.getTime())) return "";
  return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}
function setInbox(s) {
  const phones = s && s.connected ? (Array.isArray(s.phoneNumbers) ? s.phoneNumbers : []) : null;
  const p = phones && (phones.find((x) => x.isActive) || phones[0]);
  inbox.phoneId = (p && (p.phoneNumberId || p.id)) || "";
  const wasShown = !$("inbox").hidden;
  $("inbox").hidden = !phones;
  if (phones && (!wasShown || inbox.org !== orgId)) refreshInbox("bottom");
  else if (!phones) clearTimeout(inbox.timer);
}
function resetInbox() {
  Object.assign(inbox, { org: orgId, cursor: null, loaded: false, sig: "" });
  inbox.items.clear(); inbox.local.clear(); inbox.rank.clear();
  $("msg-list").replaceChildren(); $("r-to").value = ""; $("r-who").textContent = "(number with country code, or the customer's user ID)";
  $("older-btn").hidden = true; $("inbox-note").textContent = ""; $("sim-note").textContent = "";
}
function scheduleInbox() {
  clearTimeout(inbox.timer);
  if (!$("inbox").hidden && document.visibilityState === "visible") inbox.timer = setTimeout(refreshInbox, 3000);
}
async function refreshInbox(mode) {
  if (typeof mode !== "string") mode = "keep";
  if ($("inbox").hidden) return clearTimeout(inbox.timer);
  if (inbox.org !== orgId) resetInbox();
  if (inbox.busy) { inbox.again = inbox.again === "bottom" ? "bottom" : mode; return; }
  inbox.busy = true;
  const org = orgId;
  try {
    const r = await api("GET", msgUrl() + "?limit=30");
    if (org === orgId) mergeLatest(Array.isArray(r.messages) ? r.messages : [], r.nextCursor || null, mode);
  } catch (e) {
    if (org === orgId) $("inbox-note").textContent = "Couldn't refresh the inbox: " + e.message + " Retrying…";
  } finally { inbox.busy = false; }
  if (inbox.again) { const m = inbox.again; inbox.again = null; return refreshInbox(m); }
  scheduleInbox();
}
function mergeLatest(page, nextCursor, mode) {
  const list = page.filter((m) => m && m.id != null);
  const gap = inbox.loaded && nextCursor && list.length && !list.some((m) => inbox.items.has(m.id));
  const fresh = inbox.loaded ? list.filter((m) => !inbox.items.has(m.id) && m.kind !== "status" && m.direction === "inbound") : [];
  if (gap) inbox.items.clear();
  if (!inbox.loaded || gap) inbox.cursor = nextCursor;
  list.slice().reverse().forEach((m) => keep(m, true));
  inbox.loaded = true;
  $("inbox-note").textContent = "";
  if (fresh.length) {
    const m = fresh[0], who = m.contactName || m.from || "a customer";
    $("inbox-live").textContent = (fresh.length > 1 ? fresh.length + " new messages, the latest from " : "New message from ") + who + (m.text ? ": " + m.text : "");
  }
  renderInbox(mode);
}
function renderInbox(mode) {
  const box = $("chat"), list = $("msg-list");
  const fromBottom = box.scrollHeight - box.scrollTop, atBottom = fromBottom - box.clientHeight < 40;
  const all = [...inbox.items.values()].sort(byTime);
  const best = new Map(), failures = new Map();
  for (const m of all) {
    if (m.kind === "status" && m.status === "failed" && m.error) failures.set(m.messageId, m.error);
    if (!m.messageId || !TICKS[m.status] || (m.kind !== "status" && m.direction !== "outbound")) continue;
    if (!best.has(m.messageId) || TICKS[m.status][0] > TICKS[best.get(m.messageId)][0]) best.set(m.messageId, m.status);
  }
  const msgs = all.filter((m) => m.kind !== "status");
  const ids = new Set(msgs.map((m) => m.messageId).filter(Boolean));
  for (const [mid, m] of inbox.local) if (!ids.has(mid)) { msgs.push(m); ids.add(mid); }
  for (const m of all) {
    if (m.kind !== "status" || !m.messageId || ids.has(m.messageId)) continue;
    ids.add(m.messageId);
    msgs.push(Object.assign({}, m, { kind: "message", direction: "outbound", text: null, orphan: true }));
  }
  msgs.sort(byTime);
  const to = replyKey($("r-to").value);
  const sig = msgs.map((m) => (m.id || m.messageId) + ":" + (best.get(m.messageId) || "") + ":" + (m.media ? m.media.status : "")).join("|") + "#" + to + "#" + inbox.cursor;
  $("older-btn").hidden = !inbox.cursor;
  $("inbox-empty").hidden = msgs.length > 0;
  if (sig === inbox.sig && mode !== "bottom") return;
  inbox.sig = sig;
  const active = document.activeElement, focusKey = active && list.contains(active) ? active.dataset.key : null;
  list.replaceChildren(...msgs.map((m) => {
    const inbound = m.direction === "inbound", from = customerKey(m), st = inbound ? "" : best.get(m.messageId) || "";
    const tick = TICKS[st], failure = st === "failed" ? failures.get(m.messageId) : null;
    const also = [m.username && m.username !== customerName(m) ? m.username : null, m.from && m.from !== customerName(m) ? m.from : null].filter(Boolean);
    const body = [
      inbound ? el("span", { class: "who" }, customerName(m), also.length ? el("span", { class: "num", text: " · " + also.join(" · ") }) : null)
        : el("span", { class: "sr-only", text: "You" + (m.to || m.userId ? " to " + (m.to || m.userId) : "") + ": " }),
      el("span", { class: "txt" + (m.text ? "" : " none"), text: m.text || (m.orphan ? "Message to " + (m.to || m.userId || "a customer") : "[" + (m.type || "message") + "]") }),
      window.messageExtras ? window.messageExtras(m) : null,
      m.history ? el("span", { class: "tag", text: "from the chat history" }) : null,
      m.source === "business_app" ? el("span", { class: "tag", text: "sent from the WhatsApp Business app" }) : null,
      m.system && (m.system.waId || m.system.userId) ? el("span", { class: "tag", text: "now " + (m.system.waId || m.system.userId) }) : null,
      failure ? el("span", { class: "failure", text: "Not delivered: " + [failure.title, failure.details].filter(Boolean).join(" — ") + " (" + failure.code + ")" }) : null,
      el("span", { class: "meta" }, el("time", { datetime: m.timestamp, text: fmtTime(m.timestamp) }),
        tick ? el("span", { class: "tick " + st, role: "img", title: tick[2], "aria-label": tick[2], text: tick[1] }) : null),
    ];
    const key = String(m.id || m.messageId);
    const bubble = inbound && from
      ? el("button", { type: "button", class: "bubble", "data-key": key, "data-from": from, "data-name": customerName(m), "aria-pressed": String(from === to), title: "Reply to " + customerName(m) }, body)
      : el("div", { class: "bubble", "data-key": key }, body);
    return el("li", { class: inbound ? "in" : "out" }, bubble);
  }));
  const again = focusKey && [...list.querySelectorAll("[data-key]")].find((n) => n.dataset.key === focusKey);
  if (again) again.focus();
  if (mode === "top") box.scrollTop = box.scrollHeight - fromBottom;
  else if (mode === "bottom" || atBottom) box.scrollTop = box.scrollHeight;
  if (window.markShownRead) window.markShownRead(msgs);
}

function option(name, value, title, meta, badge, checked) {
  const id = (name + "-" + value).replace(/[^\w-]/g, "_");
  const input = el("input", { type: "radio", name, id, value: String(value), required: true });
  input.checked = !!checked;
  return el("label", { class: "option", for: id }, input,
    el("span", { class: "opt-body" }, el("span", { class: "opt-title", text: title }), el("span", { class: "opt-meta", text: meta.filter(Boolean).join(" · ") })), badge);
}
async function loadAccounts(focus = true) {
  go(3, focus);
  const box = $("waba-options");
  box.replaceChildren(el("p", { class: "loading", text: "Loading your WhatsApp Business Accounts…" }));
  $("waba-next").disabled = true;
  try {
    const r = await api("GET", "/api/v1/organizations/whatsapp/accounts?state=" + enc(oauthState));
    const opts = Array.isArray(r.wabaOptions) ? r.wabaOptions : [];
    if (!opts.length) throw new ApiError(422, { code: "no_waba_found" });
    box.replaceChildren(...opts.map((w) => option("waba", w.id, w.name || String(w.id), ["ID " + w.id, w.timezone_id != null ? "Time zone " + w.timezone_id : ""], null, opts.length === 1 || w.id === ctx.wabaId)));
    $("waba-next").disabled = !box.querySelector("input:checked");
  } catch (e) { box.replaceChildren(); showError(e); }
}
async function loadPhones() {
  go(4);
  $("phone-waba").textContent = "Account: " + (ctx.wabaName || ctx.wabaId);
  const box = $("phone-options");
  box.replaceChildren(el("p", { class: "loading", text: "Loading phone numbers…" }));
  $("save-btn").disabled = true;
  try {
    const r = await api("GET", "/api/v1/organizations/whatsapp/phone-numbers?state=" + enc(oauthState) + "&wabaId=" + enc(ctx.wabaId));
    const opts = Array.isArray(r.phoneOptions) ? r.phoneOptions : [];
    if (!opts.length) throw new ApiError(422, { code: "no_phone_numbers" });
    box.replaceChildren(...opts.map((p) => option("phone", p.id, p.displayPhoneNumber || String(p.id),
      [p.verifiedName, "ID " + p.id, p.coexistence ? "WhatsApp Business app" : (p.registered ? "on Cloud API" : "will be registered")], qualityBadge(p.qualityRating), opts.length === 1)));
    $("save-btn").disabled = !box.querySelector("input:checked");
  } catch (e) { box.replaceChildren(); showError(e); }
}

function startAgain() {
  setState(""); ctx.wabaId = ""; clearBanner();
  if (!orgId) return go(1);
  go(2);
  loadOrg().catch(showError);
}
function startOver() {
  setOrg(""); setState(""); ctx.org = null; ctx.wabaId = ""; clearBanner();
  $("create-form").reset();
  go(1);
}
async function resume(focus = true) {
  if (!orgId) return go(1, focus);
  try {
    const org = await loadOrg();
    const connected = org.whatsapp ? !!org.whatsapp.connected
      : !!(await api("GET", "/api/v1/organizations/" + enc(orgId) + "/whatsapp/status")).connected;
    if (connected) return showDashboard(focus);
    if (oauthState) return loadAccounts(focus);
    go(2, focus);
  } catch (e) {
    if (e.status === 404 || e.status === 403) {
      startOver();
      showBanner("info", "Saved organization not available", "The organization saved in this browser was not found for the current token, so it was forgotten.", "Create a new organization, or open another one under “Advanced”.");
    } else { go(2, focus); showError(e); }
  }
}

$("create-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = ev.target, btn = f.querySelector("button[type=submit]");
  busy(btn, async () => {
    const body = { name: val(f, "name") };
    if (val(f, "description")) body.description = val(f, "description");
    if (val(f, "industry")) body.industry = val(f, "industry");
    try {
      const r = await api("POST", "/api/v1/organizations", body);
      ctx.org = r.data || {};
      setOrg(ctx.org.id);
      renderOrg();
      showBanner("success", "Organization created", "“" + (ctx.org.name || body.name) + "” is ready. Next, connect its WhatsApp number.");
      go(2);
    } catch (e) { showError(e); }
  });
});
// Embedded Signup v4 in Meta's popup (static/signup.js). With its session event, the code
// goes to the service at once, with the session, to be exchanged there. A code that came
// without one (a known Meta behaviour) is exchanged through the callback instead, and the
// person picks the account and number (steps 3-5).
async function embeddedSignup(launch, state) {
  let outcome;
  try { outcome = await window.EmbeddedSignup.run(launch, { sandboxOrigin: SANDBOX_ORIGIN }); }
  catch (e) { throw new ApiError(0, { code: e.code || "sdk_missing", message: e.message, action: e.action }); }
  const { code, session } = outcome;
  if (!session && code) {
    const q = "?source=js_sdk&state=" + enc(state) + "&code=" + enc(code);
    const r = await api("GET", "/api/v1/organizations/whatsapp/callback" + q, undefined, false);
    return { pick: r.state };
  }
  const forwarded = session || { event: "CANCEL", data: {} };
  if (!code && !["CANCEL", "ERROR"].includes(forwarded.event)) forwarded.event = "CANCEL";
  return api("POST", "/api/integrations/whatsapp/oauth", { code, state, embeddedSignup: forwarded });
}
function connectedBanner(r) {
  const phones = Array.isArray(r.phones) ? r.phones : [];
  const pin = phones.find((p) => p.registration === "pin_required");
  const verify = phones.find((p) => p.registration === "verification_required");
  showBanner("success", "WhatsApp connected", r.message || "Your phone number is connected.",
    pin ? "One more step: enter the number's two-step verification PIN below."
      : verify ? "One more step: verify the number with the code Meta sends to it, below." : "");
}
async function connect(featureType) {
  try {
    const q = featureType ? "?featureType=" + enc(featureType) : "";
    const r = await api("GET", "/api/v1/organizations/" + enc(orgId) + "/whatsapp/init-oauth" + q);
    if (!r.embeddedSignup) return redirectTo(r);
    showBanner("info", "Embedded Signup is open", "Finish the steps in Meta's window.");
    const done = await embeddedSignup(r.embeddedSignup, r.state);
    if (done.pick) {
      setState(done.pick);
      showBanner("info", "Choose your account and number", "Meta's window did not say which number you picked; choose it here.");
      return loadAccounts();
    }
    connectedBanner(done);
    await showDashboard();
  } catch (e) { showError(e); }
}
$("connect-btn").addEventListener("click", (ev) => busy(ev.currentTarget, () => connect(null)));
$("app-btn").addEventListener("click", (ev) => busy(ev.currentTarget, () => connect("whatsapp_business_app_onboarding")));
function redirectTo(r) {
    const url = r.authUrl ? new URL(r.authUrl, window.location.href) : null;
    if (!url || !/^https?:$/.test(url.protocol)) throw new ApiError(0, { code: "bad_response", message: "The service did not return a valid sign-in address." });
    setState("");
    showBanner("info", "Opening Meta…", "Redirecting you to Meta to sign in.");
    window.location = url.href;
}
$("redirect-btn").addEventListener("click", (ev) => busy(ev.currentTarget, async () => {
  try { redirectTo(await api("GET", "/api/v1/organizations/" + enc(orgId) + "/whatsapp/init-oauth")); }
  catch (e) { showError(e); }
}));
$("pin-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const phone = ev.target.dataset.phone, pin = $("pin").value.trim();
  busy($("pin-btn"), async () => {
    try {
      const r = await api("POST", "/api/v1/organizations/" + enc(orgId) + "/whatsapp/phone-numbers/" + enc(phone) + "/register", { pin });
      $("pin").value = "";
      showBanner("success", "Number registered", (r.phone && r.phone.displayPhone ? r.phone.displayPhone + " " : "") + "can now send messages.");
      await loadStatus();
    } catch (e) { showError(e); }
  });
});
const phoneUrl = (phone, step) => "/api/v1/organizations/" + enc(orgId) + "/whatsapp/phone-numbers/" + enc(phone) + "/" + step;
$("code-btn").addEventListener("click", (ev) => busy(ev.currentTarget, async () => {
  const phone = $("verify-form").dataset.phone;
  try {
    const r = await api("POST", phoneUrl(phone, "request-code"), { method: $("code-method").value });
    showBanner("info", "Code on its way", r.message || "Meta is sending the code.");
    // On the local stack the sandbox stands in for the phone: show what it "received".
    if (SANDBOX_ORIGIN) {
      const shown = await fetch("/meta-sandbox/control/verification-code?phoneNumberId=" + enc(phone)).then((x) => x.json()).catch(() => ({}));
      $("code-hint").textContent = shown.code ? "Sandbox: the code Meta sent is " + shown.code + "." : "";
    }
    $("code").focus();
  } catch (e) { showError(e); }
}));
$("verify-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const phone = ev.target.dataset.phone, code = $("code").value.trim();
  busy($("verify-btn"), async () => {
    try {
      const r = await api("POST", phoneUrl(phone, "verify-code"), { code });
      $("code").value = ""; $("code-hint").textContent = "";
      const ok = r.phone && r.phone.canSend;
      showBanner(ok ? "success" : "info", ok ? "Number verified and registered" : "Number verified", ok ? "It can now send messages." : (r.phone && r.phone.registrationReason) || "Registration follows.");
      await loadStatus();
    } catch (e) { showError(e); }
  });
});
$("retry-btn").addEventListener("click", (ev) => busy(ev.currentTarget, async () => {
  try {
    const r = await api("POST", "/api/v1/organizations/" + enc(orgId) + "/whatsapp/phone-numbers/" + enc($("retry-row").dataset.phone) + "/register");
    const ok = r.phone && r.phone.canSend;
    showBanner(ok ? "success" : "info", ok ? "Number registered" : "Registration still pending", ok ? "The number can now send messages." : (r.phone && r.phone.registrationReason) || "Meta asked to wait; it will be retried.");
    await loadStatus();
  } catch (e) { showError(e); }
}));
$("reconnect-btn").addEventListener("click", () => { clearBanner(); go(2); });
$("events-more").addEventListener("click", () => loadEvents(true));
$("waba-options").addEventListener("change", () => { $("waba-next").disabled = false; });
$("phone-options").addEventListener("change", () => { $("save-btn").disabled = false; });
$("account-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const sel = ev.target.querySelector("input[name=waba]:checked");
  if (!sel) return;
  ctx.wabaId = sel.value;
  ctx.wabaName = sel.closest("label").querySelector(".opt-title").textContent;
  clearBanner();
  loadPhones();
});
$("phone-back").addEventListener("click", () => { clearBanner(); loadAccounts(); });
$("phone-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const sel = ev.target.querySelector("input[name=phone]:checked");
  if (!sel) return;
  busy($("save-btn"), async () => {
    try {
      const r = await api("POST", "/api/v1/organizations/" + enc(orgId) + "/whatsapp/save-config", { state: oauthState, wabaId: ctx.wabaId, phoneNumberId: sel.value });
      setState("");
      connectedBanner({ message: r.message, phones: [r.data || {}] });
      await showDashboard();
    } catch (e) { showError(e); }
  });
});
document.querySelectorAll("[data-restart]").forEach((b) => b.addEventListener("click", startAgain));
$("refresh-btn").addEventListener("click", (ev) => busy(ev.currentTarget, async () => { clearBanner(); await showDashboard(false); }));
$("disconnect-btn").addEventListener("click", (ev) => {
  const name = (ctx.org && ctx.org.name) || "this organization";
  if (!window.confirm("Disconnect WhatsApp from " + name + "? Messages will stop until you connect again.")) return;
  busy(ev.currentTarget, async () => {
    try {
      const r = await api("POST", "/api/v1/organizations/" + enc(orgId) + "/whatsapp/disconnect");
      showBanner("success", "WhatsApp disconnected", r.message || "The phone number was disconnected.", "You can connect again at any time.");
      go(2);
      loadOrg().catch(showError);
    } catch (e) { showError(e); }
  });
});
$("edit-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = ev.target, o = ctx.org || {}, body = {};
  for (const k of ["name", "description", "industry", "website"]) {
    const v = val(f, k);
    if (v !== (o[k] || "")) body[k] = v;
  }
  if (!Object.keys(body).length) return showBanner("info", "Nothing to save", "The details are unchanged.");
  busy(f.querySelector("button[type=submit]"), async () => {
    try {
      const r = await api("PUT", "/api/v1/organizations/" + enc(orgId), body);
      if (r.data && typeof r.data === "object") { ctx.org = Object.assign({}, o, r.data); renderOrg(); }
      await loadOrg().catch(() => {});
      showBanner("success", "Details saved", r.message || "The organization details were updated.");
    } catch (e) { showError(e); }
  });
});
$("older-btn").addEventListener("click", (ev) => busy(ev.currentTarget, async () => {
  if (!inbox.cursor) return;
  try {
    const r = await api("GET", msgUrl() + "?limit=30&cursor=" + enc(inbox.cursor));
    (Array.isArray(r.messages) ? r.messages : []).forEach((m) => { if (m && m.id != null) keep(m, false); });
    inbox.cursor = r.nextCursor || null;
    renderInbox("top");
    if (!inbox.cursor) $("chat").focus();
  } catch (e) { showError(e); }
}));
$("msg-list").addEventListener("click", (ev) => {
  const b = ev.target.closest("button.bubble");
  if (!b) return;
  $("r-to").value = b.dataset.from;
  $("r-who").textContent = "(replying to " + (b.dataset.name && b.dataset.name !== b.dataset.from ? b.dataset.name + ", " : "") + b.dataset.from + ")";
  renderInbox("keep");
  $("r-text").focus();
});
$("r-to").addEventListener("input", () => { $("r-who").textContent = "(number with country code, or the customer's user ID)"; renderInbox("keep"); });
$("r-text").addEventListener("keydown", (ev) => { if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); $("reply-form").requestSubmit(); } });
$("reply-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const to = replyKey($("r-to").value), text = $("r-text").value.trim(), file = $("r-file").files[0];
  if (!to || !(text || file)) return $(to ? "r-text" : "r-to").focus();
  busy($("send-btn"), async () => {
    $("reply-note").textContent = "";
    try {
      const r = file ? await window.sendFile(file, to, text) : await api("POST", msgUrl(), isUserId(to) ? { recipient: to, text } : { to, text });
      $("r-file").value = "";
      clearBanner();
      if (r.messageId) {
        inbox.rank.set("local:" + r.messageId, ++inbox.hi);
        inbox.local.set(r.messageId, Object.assign({ id: "local:" + r.messageId, kind: "message", direction: "outbound", messageId: r.messageId, text: file ? "[" + file.name + "] " + text : text, timestamp: new Date().toISOString() }, isUserId(to) ? { userId: to } : { to }));
      }
      $("r-text").value = "";
      $("reply-note").textContent = "Sent.";
      renderInbox("bottom");
      refreshInbox("bottom");
    } catch (e) {
      showError(e);
      $("reply-note").textContent = "Not sent — see the message at the top of the page.";
      if (e.code === "not_connected") loadStatus();
    }
  });
});
$("sim-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = ev.target, body = { phoneNumberId: inbox.phoneId, from: digits(val(f, "from")), name: val(f, "name"), text: val(f, "text"), username: val(f, "username") || null, withholdPhone: $("s-withhold").checked };
  busy(f.querySelector("button[type=submit]"), async () => {
    $("sim-note").textContent = "";
    try {
      const r = await api("POST", "/meta-sandbox/control/inbound", body, false);
      const ws = Number(r.webhookStatus);
      $("sim-note").textContent = "Sent as " + (body.name || body.from) + "." + (ws && (ws < 200 || ws > 299) ? " The webhook answered HTTP " + ws + ", so it may not appear." : "");
      f.elements.namedItem("text").value = "";
      if (!$("r-to").value && !body.withholdPhone) $("r-to").value = body.from;
      await refreshInbox("bottom");
    } catch (e) {
      if (e.status === 404) $("sim-note").textContent = "The simulator only works with the local stack's built-in Meta sandbox, which is not in use here." + (e.serverMessage ? " (The service said: " + e.serverMessage + ")" : "");
      else showError(e);
    }
  });
});
const templates = { list: [] };
async function loadTemplates() {
  try {
    const r = await api("GET", "/api/v1/organizations/" + enc(orgId) + "/whatsapp/templates?status=APPROVED&limit=100");
    templates.list = Array.isArray(r.templates) ? r.templates : [];
    $("tpl-name").replaceChildren(...templates.list.map((t, i) => el("option", { value: String(i), text: t.name + " (" + t.language + ")" })));
    $("tpl-note").textContent = templates.list.length ? "" : "No approved templates in this WhatsApp Business Account.";
    showTemplateHint();
  } catch (e) { $("tpl-note").textContent = "Couldn't load the templates: " + (e.serverMessage || e.message); }
}
function showTemplateHint() {
  const t = templates.list[Number($("tpl-name").value)];
  const body = t && (t.components || []).find((c) => String(c.type).toUpperCase() === "BODY");
  const count = body && body.text ? (body.text.match(/\{\{\d+\}\}/g) || []).length : 0;
  $("tpl-hint").textContent = body ? "(" + count + " for: " + body.text + ")" : "(one per line, in order)";
}
$("tpl").addEventListener("toggle", () => { if ($("tpl").open) loadTemplates(); });
$("tpl-name").addEventListener("change", showTemplateHint);
$("tpl-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const t = templates.list[Number($("tpl-name").value)], to = replyKey($("r-to").value);
  if (!t) return;
  if (!to) { $("tpl-note").textContent = "Choose a customer first (the To field above)."; return $("r-to").focus(); }
  const params = $("tpl-params").value.split("\n").map((p) => p.trim()).filter(Boolean);
  const template = { name: t.name, language: t.language };
  if (params.length) template.components = [{ type: "body", parameters: params.map((text) => ({ type: "text", text })) }];
  busy($("tpl-send"), async () => {
    $("tpl-note").textContent = "";
    try {
      await api("POST", msgUrl(), Object.assign(isUserId(to) ? { recipient: to } : { to }, { template }));
      clearBanner();
      $("tpl-note").textContent = "Sent.";
      $("tpl-params").value = "";
      refreshInbox("bottom");
    } catch (e) { showError(e); $("tpl-note").textContent = "Not sent — see the message at the top of the page."; }
  });
});
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") refreshInbox(); else clearTimeout(inbox.timer); });
$("start-over").addEventListener("click", (ev) => { ev.preventDefault(); startOver(); });
$("token-save").addEventListener("click", () => {
  const t = $("token").value.trim();
  token = t;
  store("local", KEY_TOKEN, t && t !== demoToken ? t : null);
  showBanner("info", "Token updated", t ? "Requests now use the token from “Advanced”." : "No token set; requests will be rejected.");
  resume(false);
});
$("token-demo").addEventListener("click", () => {
  token = demoToken; $("token").value = demoToken; store("local", KEY_TOKEN, null);
  showBanner("info", "Demo token restored", demoToken ? "Requests now use the demo user's token." : "No demo token is available on this page.");
  resume(false);
});
$("org-open").addEventListener("click", () => {
  const id = $("org-id").value.trim();
  if (!id) return;
  setOrg(id); setState(""); clearBanner();
  resume();
});

(async function init() {
  $("token").value = token;
  $("org-id").value = orgId;
  const params = new URLSearchParams(window.location.search);
  const qState = params.get("state"), qError = params.get("error");
  const qDetail = params.get("error_description") || params.get("message");
  if (qState || qError) history.replaceState(null, "", window.location.pathname + window.location.hash);
  if (qError) {
    setState("");
    await resume(false);
    const plain = EXPLAIN[qError] || ["The connection did not finish", "Meta or the service reported “" + qError + "”.", "Start again to retry."];
    showBanner("error", plain[0], qDetail || plain[1], plain[2], [{ label: "Start again", onClick: startAgain }]);
    return;
  }
  if (qState) {
    setState(qState);
    if (!orgId) {
      go(1, false);
      showBanner("error", "Organization unknown", "This browser has no saved organization to attach the WhatsApp account to.", "Open your organization under “Advanced”, or create one and connect again.");
      return;
    }
    loadOrg().catch(() => {});
    return loadAccounts(false);
  }
  await resume(false);
})();
