/*! Herald browser snippet: identify visitors and track events with a public key.
 *
 *   <script async src="https://herald.example.com/sdk.js" data-key="pk_…"></script>
 *   herald.identify({email: "ada@example.com", first_name: "Ada"});
 *   herald.track("Viewed Product", {sku: "TEA-1"});
 *   herald.page();
 *
 * See docs/sdk.md in Herald's source for the whole API. No dependencies, no cookies sent to
 * Herald: the visitor's anonymous id lives in this site's own storage (localStorage, else a
 * first-party cookie) and goes with every call, so Herald can merge a visitor's anonymous
 * activity into their profile when they identify.
 */
(function (window, document) {
  "use strict";

  var VERSION = "1";
  var STORAGE_KEY = "herald_anonymous_id";
  var COOKIE_NAME = "herald_aid";
  var COOKIE_MAX_AGE = 365 * 24 * 60 * 60;
  var PROFILE_FIELDS = [
    "email",
    "phone",
    "external_id",
    "first_name",
    "last_name",
    "timezone",
    "location"
  ];
  var MAX_ATTEMPTS = 4;
  var KEEPALIVE_LIMIT = 60000; // browsers allow 64 kB of keepalive bodies in flight
  var METHODS = ["init", "identify", "track", "page", "reset", "anonymousId"];

  var queued = window.herald;
  if (queued && queued.__herald) {
    return; // loaded twice
  }

  var config = { key: null, host: null, debug: false };
  var retrying = {}; // unique key -> {url, payload}: sent again by beacon if the page goes away
  var retryCounter = 0;

  function warn(message) {
    if (window.console && window.console.warn) {
      window.console.warn("herald: " + message);
    }
  }

  // --- the anonymous id ---------------------------------------------------------------------

  function randomId() {
    var crypto = window.crypto;
    if (crypto && typeof crypto.randomUUID === "function") {
      return crypto.randomUUID();
    }
    var bytes = new Uint8Array(16);
    if (crypto && typeof crypto.getRandomValues === "function") {
      crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = "";
    for (var j = 0; j < 16; j++) {
      hex += (bytes[j] + 0x100).toString(16).slice(1);
      if (j === 3 || j === 5 || j === 7 || j === 9) hex += "-";
    }
    return hex;
  }

  function readCookie(name) {
    var parts = (document.cookie || "").split(";");
    for (var i = 0; i < parts.length; i++) {
      var pair = parts[i].replace(/^\s+/, "");
      if (pair.indexOf(name + "=") === 0) {
        try {
          return decodeURIComponent(pair.slice(name.length + 1)) || null;
        } catch (e) {
          return null;
        }
      }
    }
    return null;
  }

  function writeCookie(name, value, maxAge) {
    var secure = window.location && window.location.protocol === "https:" ? "; Secure" : "";
    document.cookie =
      name + "=" + encodeURIComponent(value) + "; Max-Age=" + maxAge + "; Path=/; SameSite=Lax" + secure;
  }

  function localStore() {
    try {
      var store = window.localStorage;
      var probe = "herald_probe";
      store.setItem(probe, probe);
      store.removeItem(probe);
      return store;
    } catch (e) {
      return null; // disabled, blocked or full: fall back to a cookie
    }
  }

  function storedId() {
    var store = localStore();
    var value = store ? store.getItem(STORAGE_KEY) : null;
    return value || readCookie(COOKIE_NAME);
  }

  function storeId(value) {
    var store = localStore();
    if (store) {
      store.setItem(STORAGE_KEY, value);
    } else {
      writeCookie(COOKIE_NAME, value, COOKIE_MAX_AGE);
    }
  }

  function anonymousId() {
    var id = storedId();
    if (!id) {
      id = randomId();
      storeId(id);
    }
    return id;
  }

  function reset() {
    var store = localStore();
    if (store) store.removeItem(STORAGE_KEY);
    if (readCookie(COOKIE_NAME)) writeCookie(COOKIE_NAME, "", 0);
  }

  // --- sending --------------------------------------------------------------------------------

  function endpoint(path) {
    return config.host + path + "?api_key=" + encodeURIComponent(config.key);
  }

  function beacon(url, payload) {
    if (navigatorHas("sendBeacon")) {
      // A string goes as text/plain: a request browsers make across origins without a preflight.
      return window.navigator.sendBeacon(url, payload);
    }
    return false;
  }

  function navigatorHas(name) {
    return !!(window.navigator && typeof window.navigator[name] === "function");
  }

  function wait(ms) {
    return new Promise(function (resolve) {
      setTimeout(resolve, ms);
    });
  }

  function post(url, payload, attempt, retryKey) {
    var request;
    try {
      request = window.fetch(url, {
        method: "POST",
        // text/plain keeps this a "simple" request: no preflight round trip. Herald reads it as JSON.
        headers: { "Content-Type": "text/plain;charset=UTF-8" },
        body: payload,
        credentials: "omit",
        mode: "cors",
        keepalive: payload.length < KEEPALIVE_LIMIT
      });
    } catch (e) {
      request = Promise.reject(e);
    }
    return request.then(
      function (response) {
        if (response.status === 429 || response.status >= 500) {
          return retry(url, payload, attempt, retryKey, "HTTP " + response.status);
        }
        delete retrying[retryKey];
        return response.json().then(
          function (body) {
            if (!response.ok) {
              var error = body && body.error;
              warn((error && error.message) || "HTTP " + response.status);
              return null;
            }
            return body;
          },
          function () {
            return null;
          }
        );
      },
      function (error) {
        return retry(url, payload, attempt, retryKey, String(error));
      }
    );
  }

  function retry(url, payload, attempt, retryKey, reason) {
    if (attempt >= MAX_ATTEMPTS) {
      delete retrying[retryKey];
      warn("gave up after " + attempt + " attempts: " + reason);
      return null;
    }
    retrying[retryKey] = { url: url, payload: payload };
    return wait(500 * Math.pow(2, attempt - 1)).then(function () {
      if (!retrying[retryKey]) return null; // sent by beacon when the page was hidden
      return post(url, payload, attempt + 1, retryKey);
    });
  }

  function send(path, body) {
    if (!config.key) {
      warn("no public key: add data-key=\"pk_…\" to the script tag or call herald.init(\"pk_…\")");
      return Promise.resolve(null);
    }
    var url = endpoint(path);
    var payload = JSON.stringify(body);
    if (typeof window.fetch !== "function") {
      beacon(url, payload);
      return Promise.resolve(null);
    }
    retryCounter += 1;
    return post(url, payload, 1, "r" + retryCounter);
  }

  function flushRetries() {
    // The page is going away: timers will not fire again, so hand what still waits to the browser.
    for (var key in retrying) {
      if (Object.prototype.hasOwnProperty.call(retrying, key)) {
        beacon(retrying[key].url, retrying[key].payload);
        delete retrying[key];
      }
    }
  }

  // --- the public API -------------------------------------------------------------------------

  function isObject(value) {
    return value !== null && typeof value === "object" && !(value instanceof Array);
  }

  function init(key, options) {
    if (typeof key !== "string" || key.indexOf("pk_") !== 0) {
      warn("herald.init needs a public key (pk_…); never put a secret key in a web page");
      return;
    }
    options = options || {};
    config.key = key;
    if (options.host) config.host = String(options.host).replace(/\/+$/, "");
    if (!config.host) config.host = window.location.origin;
  }

  function identify(traits) {
    if (!isObject(traits)) {
      warn("herald.identify takes an object, for example {email: \"ada@example.com\"}");
      return Promise.resolve(null);
    }
    var body = { anonymous_id: anonymousId() };
    var properties = {};
    var hasProperties = false;
    for (var name in traits) {
      if (!Object.prototype.hasOwnProperty.call(traits, name)) continue;
      if (name === "anonymous_id") continue;
      if (name === "consent" && isObject(traits.consent)) {
        // {sms: {status: "subscribed", text: "..."}}: the page is evidence of where it was given.
        body.consent = {};
        for (var channel in traits.consent) {
          if (!Object.prototype.hasOwnProperty.call(traits.consent, channel)) continue;
          var given = traits.consent[channel];
          if (!isObject(given)) continue;
          var copy = { page_url: window.location.href };
          for (var key in given) {
            if (Object.prototype.hasOwnProperty.call(given, key)) copy[key] = given[key];
          }
          body.consent[channel] = copy;
        }
        continue;
      }
      if (name === "properties" && isObject(traits.properties)) {
        for (var prop in traits.properties) {
          if (Object.prototype.hasOwnProperty.call(traits.properties, prop)) {
            properties[prop] = traits.properties[prop];
            hasProperties = true;
          }
        }
      } else if (PROFILE_FIELDS.indexOf(name) >= 0) {
        body[name] = traits[name];
      } else {
        properties[name] = traits[name]; // anything else is a custom property
        hasProperties = true;
      }
    }
    if (hasProperties) body.properties = properties;
    return send("/api/identify", body);
  }

  function track(name, properties, options) {
    if (typeof name !== "string" || !name) {
      warn("herald.track needs an event name, for example herald.track(\"Viewed Product\")");
      return Promise.resolve(null);
    }
    options = options || {};
    var body = {
      event: name,
      profile: { anonymous_id: anonymousId() },
      properties: isObject(properties) ? properties : {},
      time: options.time ? new Date(options.time).toISOString() : new Date().toISOString(),
      // Each call gets its own id, so a retry of the same call is stored once.
      unique_id: options.unique_id ? String(options.unique_id) : randomId()
    };
    if (typeof options.value === "number") body.value = options.value;
    return send("/api/track", body);
  }

  function page(properties) {
    var details = {
      url: window.location.href,
      path: window.location.pathname,
      title: document.title,
      referrer: document.referrer || null
    };
    if (isObject(properties)) {
      for (var key in properties) {
        if (Object.prototype.hasOwnProperty.call(properties, key)) details[key] = properties[key];
      }
    }
    return track("Viewed Page", details);
  }

  var herald = {
    __herald: VERSION,
    init: init,
    identify: identify,
    track: track,
    page: page,
    reset: reset,
    anonymousId: anonymousId
  };

  // Configuration from the script tag: data-key, data-host (defaults to where sdk.js came from),
  // data-track-pages (send a page view on load).
  var script = document.currentScript;
  if (!script || !script.getAttribute("data-key")) {
    var candidates = document.querySelectorAll("script[data-key][src*='sdk.js']");
    script = candidates.length ? candidates[candidates.length - 1] : script;
  }
  var trackPages = false;
  if (script && script.src) {
    try {
      config.host = new URL(script.src, window.location.href).origin;
    } catch (e) {
      config.host = null;
    }
    if (script.getAttribute("data-host")) {
      config.host = script.getAttribute("data-host").replace(/\/+$/, "");
    }
    if (script.getAttribute("data-key")) init(script.getAttribute("data-key"));
    trackPages = script.hasAttribute("data-track-pages");
  }

  window.herald = herald;
  if (window.addEventListener) {
    window.addEventListener("pagehide", flushRetries);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") flushRetries();
    });
  }

  // Calls made before this file loaded (see the loader in docs/sdk.md) run now, in order.
  if (queued && typeof queued.length === "number") {
    for (var i = 0; i < queued.length; i++) {
      var call = queued[i];
      if (call && METHODS.indexOf(call[0]) >= 0) {
        herald[call[0]].apply(herald, Array.prototype.slice.call(call, 1));
      }
    }
  }
  if (trackPages) page();
})(window, document);
