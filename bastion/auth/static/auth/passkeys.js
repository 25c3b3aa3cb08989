// Passkeys for Bastion's PasskeyRoutes: the JSON options from the server become the
// ArrayBuffers navigator.credentials wants, and the credential it returns goes back as JSON
// with its binary fields in base64url. No dependencies, no build step.
// window.BastionPasskeys = {register, signIn, secondFactor, list, rename, remove,
//                           toBase64url, fromBase64url}
(function () {
  "use strict";

  function fromBase64url(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    base64 += "====".slice((base64.length % 4) || 4);
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function settings() {
    var root = document.getElementById("passkeys");
    return {
      api: (root && root.dataset.api) || "/auth/passkeys",
      csrf: root && root.dataset.csrf,
    };
  }

  // A JSON request; a refusal (problem+json) is thrown as an Error whose message is the
  // server's sentence saying what to do next, with the document as .problem.
  async function call(method, path, body) {
    var config = settings();
    var headers = { "accept": "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (config.csrf) headers["x-csrf-token"] = config.csrf;
    var response = await fetch(config.api + path, {
      method: method,
      headers: headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) return null;
    var data = await response.json().catch(function () { return {}; });
    if (!response.ok) {
      var error = new Error(data.detail || response.statusText);
      error.problem = data;
      throw error;
    }
    return data;
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      return Object.assign({}, d, { id: fromBase64url(d.id) });
    });
  }

  function creationOptions(json) {
    return Object.assign({}, json, {
      challenge: fromBase64url(json.challenge),
      user: Object.assign({}, json.user, { id: fromBase64url(json.user.id) }),
      excludeCredentials: descriptors(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    return Object.assign({}, json, {
      challenge: fromBase64url(json.challenge),
      allowCredentials: descriptors(json.allowCredentials),
    });
  }

  function common(credential) {
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
    };
  }

  // Registers a passkey for the signed-in user; resolves to the stored passkey.
  async function register(name) {
    var options = await call("POST", "/register/options");
    var credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
    var response = credential.response;
    var json = common(credential);
    json.response = {
      clientDataJSON: toBase64url(response.clientDataJSON),
      attestationObject: toBase64url(response.attestationObject),
      transports: response.getTransports ? response.getTransports() : [],
    };
    return call("POST", "/register", { credential: json, name: name || null });
  }

  // Password-less sign-in with a passkey the browser holds for this site; or, with
  // secondFactor (the login answered 202), the second step after the password.
  async function signIn() { return assert("/login", {}); }

  async function secondFactor(pending) {
    return assert("/second-factor", { pending: pending || null });
  }

  async function assert(path, extra) {
    var options = await call("POST", path + "/options", path === "/login" ? undefined : extra);
    var credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
    var response = credential.response;
    var json = common(credential);
    json.response = {
      clientDataJSON: toBase64url(response.clientDataJSON),
      authenticatorData: toBase64url(response.authenticatorData),
      signature: toBase64url(response.signature),
      userHandle: response.userHandle ? toBase64url(response.userHandle) : null,
    };
    return call("POST", path, Object.assign({ credential: json }, extra));
  }

  var api = {
    register: register,
    signIn: signIn,
    secondFactor: secondFactor,
    list: function () { return call("GET", ""); },
    rename: function (id, name) { return call("PATCH", "/" + id, { name: name }); },
    remove: function (id) { return call("DELETE", "/" + id); },
    toBase64url: toBase64url,
    fromBase64url: fromBase64url,
  };
  window.BastionPasskeys = api;

  // The page (auth/passkeys.html), when it is this one.
  function status(text) {
    var element = document.getElementById("passkey-status");
    if (element) element.textContent = text;
  }

  async function refresh() {
    var list = document.getElementById("passkey-list");
    var template = document.getElementById("passkey-item");
    if (!list || !template) return;
    var passkeys = await api.list();
    list.replaceChildren();
    passkeys.forEach(function (passkey) {
      var item = template.content.firstElementChild.cloneNode(true);
      item.dataset.id = passkey.id;
      item.querySelector(".passkey-label").textContent = passkey.name;
      item.querySelector(".passkey-rename").addEventListener("click", function () {
        var name = window.prompt("New name", passkey.name);
        if (name) run(function () { return api.rename(passkey.id, name); }, "Renamed.");
      });
      item.querySelector(".passkey-delete").addEventListener("click", function () {
        run(function () { return api.remove(passkey.id); }, "Removed.");
      });
      list.appendChild(item);
    });
  }

  async function run(action, done) {
    try {
      await action();
      status(done);
      await refresh();
    } catch (error) {
      status(error.message);
    }
  }

  function wire() {
    if (!document.getElementById("passkeys")) return;
    if (!window.PublicKeyCredential) {
      document.getElementById("passkey-unsupported").hidden = false;
      return;
    }
    var add = document.getElementById("passkey-add");
    if (add) {
      add.addEventListener("submit", function (event) {
        event.preventDefault();
        var name = document.getElementById("passkey-name").value.trim();
        run(function () { return api.register(name); }, "Passkey added.");
      });
      refresh().catch(function (error) { status(error.message); });
    }
    var signInButton = document.getElementById("passkey-sign-in");
    if (signInButton) {
      signInButton.addEventListener("click", async function () {
        try {
          var account = await api.signIn();
          status("Signed in as " + account.email + ".");
          document.dispatchEvent(new CustomEvent("passkey:signed-in", { detail: account }));
        } catch (error) {
          status(error.message);
        }
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
})();
