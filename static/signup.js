/* Embedded Signup v4, the browser side, shared by the onboarding page and the hosted page
 * of an onboarding link. What Meta documents, and what its popup is known to do:
 *
 * - FB.login(callback, {config_id, response_type: 'code', override_default_response_type:
 *   true, extras}) opens the popup; the popup posts the session (`WA_EMBEDDED_SIGNUP`, a JSON
 *   string) to this page as a `message` event, and the SDK calls back with a code that lives
 *   30 seconds.
 * - The session comes from a facebook.com origin: www., and for some people web. (Meta's own
 *   sample accepts any origin ending in facebook.com); locally from the Meta sandbox.
 * - Meta does not say which of the two comes first, and a known Meta behaviour hands over
 *   the code with no session at all. So whichever comes second is waited for, a few seconds;
 *   a code without a session is still a code (the page then lets the person pick the account
 *   and number instead).
 *
 * EmbeddedSignup.run(launch, {sandboxOrigin, waitMs}) resolves with {code, session}: the
 * code (or null when the person cancelled) and the session event without its `type` (or
 * null when none came).
 */
(function () {
  "use strict";

  /** Whether a `message` event comes from Meta's Embedded Signup popup. */
  function isMetaOrigin(origin, sandboxOrigin) {
    if (sandboxOrigin && origin === sandboxOrigin) return true;
    let url;
    try { url = new URL(origin); } catch (_) { return false; }
    const host = url.hostname;
    return url.protocol === "https:" && !url.port && (host === "facebook.com" || host.endsWith(".facebook.com"));
  }

  function parse(data) {
    if (data && typeof data === "object") return data;
    try { return JSON.parse(data); } catch (_) { return null; }
  }

  function run(launch, options) {
    const opts = options || {};
    const waitMs = opts.waitMs == null ? 5000 : opts.waitMs;
    return new Promise((resolve, reject) => {
      if (!window.FB) {
        const error = new Error("Meta's JavaScript SDK did not load.");
        error.code = "sdk_missing";
        error.action = "Reload the page, or use the redirect dialog.";
        return reject(error);
      }
      window.FB.init({ appId: launch.appId, autoLogAppEvents: true, xfbml: true, version: launch.graphVersion });
      let session = null, answered = false, code = null, timer = 0, done = false;
      function finish() {
        if (done) return;
        done = true;
        clearTimeout(timer);
        window.removeEventListener("message", onMessage);
        let forwarded = null;
        if (session) {
          forwarded = Object.assign({}, session);
          delete forwarded.type;
        }
        resolve({ code, session: forwarded });
      }
      function onMessage(event) {
        if (!isMetaOrigin(event.origin, opts.sandboxOrigin)) return;
        const data = parse(event.data);
        if (!data || data.type !== "WA_EMBEDDED_SIGNUP") return;
        session = data;
        if (answered) finish();
      }
      window.addEventListener("message", onMessage);
      // Meta calls back with a plain function, not an async one.
      window.FB.login((response) => {
        answered = true;
        code = response && response.authResponse ? response.authResponse.code || null : null;
        // The session came first, or there is nothing to wait for: done. Else the session
        // may still be on its way.
        if (session || !code) finish();
        else timer = setTimeout(finish, waitMs);
      }, {
        config_id: launch.configId,
        response_type: launch.responseType,
        override_default_response_type: launch.overrideDefaultResponseType,
        extras: launch.extras,
      });
    });
  }

  window.EmbeddedSignup = { run, isMetaOrigin };
})();
