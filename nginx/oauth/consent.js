// sotto consent page (OAuth 2.1 authorization code flow with PKCE).
//
// A client sends the browser here with response_type=code, client_id,
// redirect_uri, code_challenge, code_challenge_method=S256, scope and
// state. The page asks the API whether the client exists and registered
// that redirect URI character for character (GET /oauth/clients/{id}); only
// then will it ever send the browser there. The person logs in (account id
// and password, or an Ed25519 key signed with WebCrypto), sees the client's
// name and the scopes in plain words, and allows (POST /oauth/authorize
// gives the redirect with code, state and iss) or denies (error=access_denied).
// The login's own session is ended before leaving. Tokens and keys live in
// this script's variables only: never in storage, a cookie or a URL.
// Everything from the API or the URL is shown with textContent.
'use strict';

(function () {
  const SCOPE_WORDS = {
    read: 'read the feed, posts and communities, and your account\'s basic details',
    write: 'post, reply, vote, flag and create communities as you',
    dm: 'read and send your direct messages and group messages, and receive your events',
    account: 'export your data and see or end your sessions',
  };
  const POW_PREFIX = 'sotto-pow:';
  const SIGN_PREFIX = 'sotto-auth:';
  const POW_MAX_BITS = 24;          // beyond this a browser would work for minutes

  const $ = (id) => document.getElementById(id);
  const req = {};                   // the authorization request, as the URL gave it
  let token = null;                 // the person's access token, once logged in
  let busy = false;

  function setState(node, text, kind) {
    node.textContent = text;
    node.classList.remove('error', 'busy');
    if (kind) node.classList.add(kind);
  }

  function b64urlEncode(bytes) {
    let s = '';
    for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function b64urlDecode(text) {
    if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error('not base64url');
    const pad = text.length % 4 === 2 ? '==' : text.length % 4 === 3 ? '=' : '';
    const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/') + pad);
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  }

  // The API's answer: {status, body}; body is null when it is not JSON.
  async function api(method, path, body, headers) {
    const init = { method, headers: Object.assign({}, headers || {}), cache: 'no-store' };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (token !== null) init.headers.Authorization = 'Bearer ' + token;
    const r = await fetch(path, init);
    let parsed = null;
    try { parsed = await r.json(); } catch (e) { parsed = null; }
    return { status: r.status, body: parsed };
  }

  function apiMessage(r) {
    const e = r.body && r.body.error;
    return e && typeof e.message === 'string' ? e.message : 'the server answered ' + r.status;
  }

  // ---- the request in the URL ----------------------------------------------
  function readRequest() {
    const q = new URLSearchParams(window.location.search);
    for (const k of ['response_type', 'client_id', 'redirect_uri', 'code_challenge',
      'code_challenge_method', 'scope', 'state']) {
      if (q.getAll(k).length > 1) return k + ' is given more than once';
      req[k] = q.get(k);
    }
    if (req.response_type !== 'code') return 'response_type must be code';
    if (!req.client_id) return 'client_id is missing';
    if (!req.redirect_uri) return 'redirect_uri is missing';
    if (req.code_challenge_method !== 'S256') return 'code_challenge_method must be S256';
    if (!/^[A-Za-z0-9_-]{43}$/.test(req.code_challenge || '')) return 'code_challenge is malformed';
    const words = (req.scope || '').split(' ');
    if (!req.scope || words.some((w) => !Object.hasOwn(SCOPE_WORDS, w)) ||
        new Set(words).size !== words.length) {
      return 'scope must name one or more of read, write, dm, account';
    }
    req.scopes = words;
    return null;
  }

  // The registered redirect URI with the answer's parameters appended.
  function answerUri(params) {
    const sep = req.redirect_uri.includes('?') ? '&' : '?';
    const q = new URLSearchParams(params);
    if (req.state !== null) q.set('state', req.state);
    q.set('iss', window.location.origin);
    return req.redirect_uri + sep + q.toString();
  }

  // ---- logging in ---------------------------------------------------------
  function leadingZeroBits(bytes) {
    let n = 0;
    for (const b of bytes) {
      if (b === 0) { n += 8; continue; }
      return n + Math.clz32(b) - 24;
    }
    return n;
  }

  // X-PoW for action, when the server asks for one (428 pow_required).
  async function proofOfWork(action) {
    const r = await api('POST', '/pow/challenge', { action });
    if (r.status !== 200) throw new Error(apiMessage(r));
    const { challenge, difficulty } = r.body;
    if (difficulty > POW_MAX_BITS) throw new Error('the server is too busy; try again later');
    const enc = new TextEncoder();
    for (let nonce = 0; ; nonce++) {
      const msg = enc.encode(POW_PREFIX + action + ':' + challenge + ':' + nonce);
      const h = new Uint8Array(await crypto.subtle.digest('SHA-256', msg));
      if (leadingZeroBits(h) >= difficulty) return challenge + ':' + nonce;
    }
  }

  async function login(body) {
    let r = await api('POST', '/auth/login', body);
    if (r.status === 428) {
      setState($('answer-state'), 'Working on the server\'s proof of work…', 'busy');
      r = await api('POST', '/auth/login', body, { 'X-PoW': await proofOfWork('login') });
    }
    if (r.status !== 200 || typeof r.body.token !== 'string') {
      throw new Error(r.status === 401 ? 'Those credentials are not right.' : apiMessage(r));
    }
    token = r.body.token;
  }

  // PKCS#8 wrapping of an Ed25519 seed (RFC 8410 section 7).
  const PKCS8_ED25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65,
    0x70, 0x04, 0x22, 0x04, 0x20];

  async function loginWithKey() {
    let seed;
    try { seed = b64urlDecode($('private-key').value.trim()); } catch (e) { seed = null; }
    if (seed === null || seed.length !== 32) {
      throw new Error('The key must be 32 bytes, base64url (43 characters).');
    }
    const pkcs8 = new Uint8Array(PKCS8_ED25519.length + 32);
    pkcs8.set(PKCS8_ED25519);
    pkcs8.set(seed, PKCS8_ED25519.length);
    seed.fill(0);
    const key = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
    pkcs8.fill(0);
    const jwk = await crypto.subtle.exportKey('jwk', key);
    const publicKey = jwk.x;
    jwk.d = '';
    const ch = await api('POST', '/auth/challenge', { public_key: publicKey });
    if (ch.status !== 200) throw new Error(apiMessage(ch));
    const sig = await crypto.subtle.sign({ name: 'Ed25519' }, key,
      new TextEncoder().encode(SIGN_PREFIX + ch.body.challenge));
    await login({ public_key: publicKey, challenge: ch.body.challenge,
      signature: b64urlEncode(sig) });
  }

  async function logIn() {
    if ($('method-key').checked) return loginWithKey();
    const id = $('account-id').value.trim();
    const password = $('password').value;
    if (!id || !password) throw new Error('Enter your account id and password.');
    await login({ account_id: id, password });
    $('password').value = '';
  }

  // The page's own session ends: what it logged in for is done.
  async function logOut() {
    if (token === null) return;
    try { await api('POST', '/auth/logout'); } catch (e) { /* it expires by itself */ }
    token = null;
  }

  // ---- the answer ---------------------------------------------------------
  function setBusy(on) {
    busy = on;
    $('approve').disabled = on;
    $('deny').disabled = on;
  }

  async function approve() {
    if (busy) return;
    setBusy(true);
    const st = $('answer-state');
    try {
      setState(st, 'Logging in…', 'busy');
      if (token === null) await logIn();
      setState(st, 'Allowing…', 'busy');
      const r = await api('POST', '/oauth/authorize', {
        client_id: req.client_id, redirect_uri: req.redirect_uri,
        code_challenge: req.code_challenge, code_challenge_method: 'S256',
        scope: req.scope, ...(req.state !== null ? { state: req.state } : {}),
      });
      if (r.status !== 200 || typeof r.body.redirect !== 'string' ||
          !r.body.redirect.startsWith(req.redirect_uri)) {
        throw new Error(apiMessage(r));
      }
      await logOut();
      setState(st, 'Allowed. Going back to the app…', 'busy');
      window.location.assign(r.body.redirect);
    } catch (e) {
      setState(st, e.message || 'Something went wrong.', 'error');
      setBusy(false);
    }
  }

  async function deny() {
    if (busy) return;
    setBusy(true);
    await logOut();
    setState($('answer-state'), 'Denied. Going back to the app…', 'busy');
    window.location.assign(answerUri({ error: 'access_denied' }));
  }

  function showMethod() {
    const key = $('method-key').checked;
    $('key-form').hidden = !key;
    $('password-form').hidden = key;
  }

  // ---- start --------------------------------------------------------------
  async function start() {
    $('js-needed').hidden = true;
    const st = $('request-state');
    const problem = readRequest();
    if (problem !== null) {
      setState(st, 'This request cannot be answered: ' + problem + '.', 'error');
      return;
    }
    setState(st, 'Looking up the app…', 'busy');
    let r;
    try {
      r = await api('GET', '/oauth/clients/' + encodeURIComponent(req.client_id) +
        '?redirect_uri=' + encodeURIComponent(req.redirect_uri));
    } catch (e) {
      r = { status: 0, body: null };
    }
    if (r.status !== 200 || !r.body || typeof r.body.name !== 'string') {
      setState(st, r.status === 422 || r.status === 404
        ? 'This app is not registered here, or it asked to return to an address it did ' +
          'not register. Nothing was sent to it.'
        : 'The server cannot answer now (' + apiMessage(r) + '). Try again later.', 'error');
      return;
    }
    setState(st, '', null);
    $('client-name').textContent = r.body.name;
    $('redirect-origin').textContent = new URL(req.redirect_uri).origin !== 'null'
      ? new URL(req.redirect_uri).origin : req.redirect_uri.split(':')[0] + ':';
    const list = $('scope-list');
    for (const s of req.scopes) {
      const li = document.createElement('li');
      li.textContent = SCOPE_WORDS[s];
      li.dataset.scope = s;
      list.appendChild(li);
    }
    $('ask').hidden = false;
    $('login').hidden = false;
    $('answer').hidden = false;
    $('method-password').addEventListener('change', showMethod);
    $('method-key').addEventListener('change', showMethod);
    $('password-form').addEventListener('submit', (ev) => { ev.preventDefault(); approve(); });
    $('key-form').addEventListener('submit', (ev) => { ev.preventDefault(); approve(); });
    $('approve').addEventListener('click', approve);
    $('deny').addEventListener('click', deny);
  }

  document.addEventListener('DOMContentLoaded', start);
}());
