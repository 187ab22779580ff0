/* The hosted page of an onboarding link: Embedded Signup in Meta's popup (signup.js), then
 * the number's PIN or verification code if it needs one, then on to the SaaS's successUrl or
 * failureUrl. It calls only the link's own routes under /connect/{token}/. */
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const base = window.location.pathname.replace(/\/+$/, "");
  const sandboxOrigin = (document.querySelector('meta[name="meta-sandbox-origin"]') || {}).content || "";
  // What a connect left to do, kept for a reload while the link still allows finishing it.
  const KEPT = "waConnect." + base;

  async function call(method, path, body) {
    let response;
    try {
      response = await fetch(base + path, {
        method,
        headers: body === undefined ? { Accept: "application/json" } : { Accept: "application/json", "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (_) {
      throw { code: "network_error", message: "The service could not be reached.", action: "Check your connection and try again." };
    }
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok || !data || data.success === false) {
      throw Object.assign({ code: "http_" + response.status, message: "Something went wrong." }, data || {});
    }
    return data;
  }

  function say(kind, title, text) {
    const box = document.createElement("div");
    box.className = "status" + (kind === "error" ? " error" : "");
    const strong = document.createElement("strong");
    strong.textContent = title;
    box.append(strong);
    if (text) { const p = document.createElement("p"); p.textContent = text; box.append(p); }
    $("status").replaceChildren(box);
  }
  const sayError = (e) => say("error", e.message || "Something went wrong.", e.action || "");

  function goOn(url, after) {
    if (!url) return;
    window.setTimeout(() => { window.location.assign(url); }, after);
  }

  async function busy(button, work) {
    if (button.disabled) return;
    button.disabled = true;
    try { await work(); } finally { button.disabled = false; }
  }

  // What the connected number still needs, shown as the PIN or the code form.
  function next(answer) {
    const phones = Array.isArray(answer.phones) ? answer.phones : [];
    const pin = phones.find((p) => p.registration === "pin_required");
    const verify = phones.find((p) => p.registration === "verification_required");
    $("start").hidden = true;
    $("pin-form").hidden = !pin;
    $("code-form").hidden = !verify;
    if (pin) {
      $("pin-form").dataset.phone = pin.id;
      $("pin-why").textContent = pin.display + " already has a two-step verification PIN. Enter it to finish.";
      say("info", "Almost done", "One more step: your number's PIN.");
    } else if (verify) {
      $("code-form").dataset.phone = verify.id;
      $("code-why").textContent = verify.display + " is new to WhatsApp: Meta sends it a code to confirm it is yours.";
      say("info", "Almost done", "One more step: confirm your number with Meta's code.");
    } else {
      done(answer.redirectUrl);
      return;
    }
    try { sessionStorage.setItem(KEPT, JSON.stringify(answer)); } catch (_) { /* private mode: no reload */ }
  }

  function done(redirectUrl) {
    try { sessionStorage.removeItem(KEPT); } catch (_) { /* nothing kept */ }
    $("start").hidden = $("pin-form").hidden = $("code-form").hidden = true;
    say("success", "WhatsApp is connected", redirectUrl ? "Taking you back…" : "You can close this page.");
    goOn(redirectUrl, 1200);
  }

  async function connect() {
    const session = await call("GET", "/session");
    say("info", "Embedded Signup is open", "Finish the steps in Meta's window.");
    let outcome;
    try { outcome = await window.EmbeddedSignup.run(session.embeddedSignup, { sandboxOrigin }); }
    catch (e) { throw { code: e.code || "sdk_missing", message: e.message, action: "Reload the page and try again." }; }
    const body = { code: outcome.code, state: session.state };
    if (outcome.session) body.embeddedSignup = outcome.session;
    else if (!outcome.code) body.embeddedSignup = { event: "CANCEL", data: {} };
    // A code without a session event (a known Meta behaviour) is sent as it is: the service
    // connects the account the person granted.
    if (!outcome.code && body.embeddedSignup && !["CANCEL", "ERROR"].includes(body.embeddedSignup.event)) body.embeddedSignup.event = "CANCEL";
    try {
      next(await call("POST", "/complete", body));
    } catch (e) {
      // Cancelled: the person may try again; anything else ends here, or at failureUrl.
      if (e.redirectUrl && e.code !== "signup_cancelled") {
        say("error", e.message || "WhatsApp could not be connected.", "Taking you back…");
        goOn(e.redirectUrl, 1500);
        return;
      }
      throw e;
    }
  }

  $("connect-btn").addEventListener("click", (ev) => busy(ev.currentTarget, () => connect().catch(sayError)));

  $("pin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const phone = ev.currentTarget.dataset.phone;
    busy($("pin-btn"), async () => {
      try {
        const r = await call("POST", "/phone-numbers/" + encodeURIComponent(phone) + "/register", { pin: $("pin").value.trim() });
        done(r.redirectUrl);
      } catch (e) { sayError(e); }
    });
  });

  $("code-request").addEventListener("click", (ev) => busy(ev.currentTarget, async () => {
    const phone = $("code-form").dataset.phone;
    try {
      await call("POST", "/phone-numbers/" + encodeURIComponent(phone) + "/request-code", { method: $("code-method").value });
      say("info", "Code sent", "Enter the code Meta sent to your number.");
    } catch (e) { sayError(e); }
  }));

  $("code-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const phone = ev.currentTarget.dataset.phone;
    busy($("code-btn"), async () => {
      try {
        const r = await call("POST", "/phone-numbers/" + encodeURIComponent(phone) + "/verify-code", { code: $("code").value.trim() });
        done(r.redirectUrl);
      } catch (e) { sayError(e); }
    });
  });

  // A reload after the connect: the PIN or code still to enter.
  try {
    const kept = JSON.parse(sessionStorage.getItem(KEPT) || "null");
    if (kept) next(kept);
  } catch (_) { /* nothing kept */ }
})();
