/* The Meta sandbox's stand-in for https://connect.facebook.net/en_US/sdk.js: the parts of
 * Meta's JavaScript SDK that Embedded Signup uses, with Meta's signatures.
 *
 *   FB.init({appId, version, autoLogAppEvents?, xfbml?, cookie?})
 *   FB.login(callback, {config_id, response_type: 'code', override_default_response_type: true, extras})
 *
 * FB.login opens the dialog in a popup. The popup posts Embedded Signup's session info
 * (`WA_EMBEDDED_SIGNUP`, a JSON string) to this page as a `message` event, and the SDK
 * calls back with `{status: 'connected', authResponse: {code, ...}}`, or with
 * `{status: 'unknown', authResponse: null}` when the person cancels or closes the popup.
 * As with Meta, window.fbAsyncInit runs once the SDK has loaded.
 */
(function () {
  'use strict';
  var script = document.currentScript;
  var root = script.src.replace(/\/connect\/[^/]+\/sdk\.js(\?.*)?$/, '');
  var dialogOrigin = new URL(root).origin;
  var settings = null;

  function login(callback, options) {
    if (!settings) throw new Error('FB.login() called before FB.init().');
    if (typeof callback !== 'function') throw new Error('FB.login needs a callback.');
    options = options || {};
    var params = new URLSearchParams({
      client_id: settings.appId,
      display: 'popup',
      response_type: options.response_type || 'token',
      origin: window.location.origin,
      sdk: 'joey'
    });
    if (options.config_id) params.set('config_id', options.config_id);
    if (options.scope) params.set('scope', options.scope);
    if (options.override_default_response_type) params.set('override_default_response_type', 'true');
    if (options.extras) params.set('extras', JSON.stringify(options.extras));
    var url = root + '/www/' + settings.version + '/dialog/oauth?' + params.toString();
    var popup = window.open(url, 'fb-embedded-signup', 'width=640,height=760');
    var done = false;
    function finish(response) {
      if (done) return;
      done = true;
      window.removeEventListener('message', onMessage);
      clearInterval(watch);
      callback(response);
    }
    function onMessage(event) {
      if (event.origin !== dialogOrigin || !event.data || event.data.type !== 'sandbox-sdk:login') return;
      if (event.data.code) {
        finish({ status: 'connected', authResponse: { code: event.data.code, userID: '', expiresIn: 30, graphDomain: 'facebook' } });
      } else {
        finish({ status: 'unknown', authResponse: null });
      }
    }
    window.addEventListener('message', onMessage);
    // A popup closed without an answer is a cancelled login, as on Meta.
    var watch = setInterval(function () {
      if (!popup || popup.closed) setTimeout(function () { finish({ status: 'unknown', authResponse: null }); }, 300);
    }, 200);
  }

  window.FB = {
    init: function (options) {
      if (!options || !options.appId) throw new Error('FB.init needs an appId.');
      if (!/^v\d+\.\d+$/.test(options.version || '')) throw new Error('FB.init needs a version such as v26.0.');
      settings = { appId: String(options.appId), version: options.version };
    },
    login: login,
    getLoginStatus: function (callback) { callback({ status: 'unknown', authResponse: null }); }
  };
  if (typeof window.fbAsyncInit === 'function') setTimeout(window.fbAsyncInit, 0);
})();
