// sotto admin page: overview, moderation queue, recent decisions, appeals and IP bans.
//
// Plain JavaScript, no build step, no dependency. The page talks to the API
// on its own origin (the Content-Security-Policy allows nothing else) with
// the X-Admin-Token header. The tokens live in the variables of this script
// only: never in storage, a cookie or a URL, and reloading the page forgets
// them. Everything the API returns is put on the page with textContent
// (never innerHTML): post bodies and ban reasons are user text.
'use strict';

(function () {
  const REFRESH_DEFAULT_S = 5;
  const QUEUE_PAGE = 20;
  const DECIDED_PAGE = 20;
  const BAN_PAGE = 100;
  const BAN_PAGES_MAX = 10;
  const NOTE_MAX = 500;
  const REASON_LABELS = ['spam', 'harassment', 'hate', 'sexual', 'violence', 'self_harm',
    'illegal', 'other'];

  const state = {
    ui: '',            // ADMIN_UI_TOKEN as typed
    review: '',        // ADMIN_REVIEW_TOKEN as typed
    timer: 0,
    refreshes: 0,
    overviewBusy: false,
    queueBusy: false,
    queueCursor: null,
    queuePages: 0,
    decidedBusy: false,
    appealsBusy: false,
    bansBusy: false,
    bansKey: null,     // what the ban table shows, to skip needless redraws
    noteSeq: 0,
  };

  const $ = (id) => document.getElementById(id);

  // ---- small DOM helpers --------------------------------------------------
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null) node.setAttribute(k, String(v));
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // A status line's text and kind ('ok', 'error', 'busy' or none).
  function setState(node, text, kind) {
    node.textContent = text;
    node.classList.remove('ok', 'error', 'busy');
    if (kind) node.classList.add(kind);
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function row(cells) {
    const tr = el('tr');
    for (const c of cells) {
      const td = el('td');
      if (c instanceof Node) td.appendChild(c); else td.textContent = c;
      tr.appendChild(td);
    }
    return tr;
  }

  // A day number (days since 1970-01-01 UTC) as YYYY-MM-DD.
  function dayText(day) {
    if (typeof day !== 'number' || !Number.isFinite(day)) return '–';
    return new Date(day * 86400000).toISOString().slice(0, 10);
  }

  function now() {
    return new Date().toLocaleTimeString();
  }

  // ---- the API ------------------------------------------------------------
  // One request. Resolves to {ok, status, data} or {ok: false, status,
  // message}; message is built from the contract's error JSON
  // {"error": {"code", "message"}} when there is one. Never throws.
  async function api(method, path, token, body) {
    const headers = { 'X-Admin-Token': token, 'Accept': 'application/json' };
    const init = {
      method: method,
      headers: headers,
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
      redirect: 'error',
    };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      return { ok: false, status: 0, message: 'the server did not answer (network error)' };
    }
    let data = null;
    if (res.status !== 204) {
      try {
        data = await res.json();
      } catch (e) {
        data = null;
      }
    }
    if (res.ok) return { ok: true, status: res.status, data: data };
    return { ok: false, status: res.status, message: errorText(res.status, data) };
  }

  function errorText(status, data) {
    const err = data && typeof data === 'object' ? data.error : null;
    let text = 'HTTP ' + status;
    if (err && typeof err === 'object' && typeof err.code === 'string') {
      text = status + ' ' + err.code;
      if (typeof err.message === 'string' && err.message) text += ': ' + err.message;
    }
    if (status === 401) text += ' (check the token)';
    else if (status === 404 && !(err && err.code && err.code !== 'not_found'))
      text += ' (disabled on this server, or gone)';
    return text;
  }

  // ---- overview -------------------------------------------------------------
  function ms(v) {
    if (typeof v !== 'number') return '–';
    return v.toFixed(v < 1 ? 2 : 1) + ' ms';
  }

  function renderOverview(d) {
    const lat = d.latency_ms || {};
    $('ov-p50').textContent = ms(lat.p50);
    $('ov-p95').textContent = ms(lat.p95);
    $('ov-window').textContent = (lat.samples ?? '–') + ' of ' + (lat.window ?? '–');
    const w = d.workers || {};
    const wText = $('ov-workers');
    wText.textContent = (w.alive ?? '–') + ' / ' + (w.configured ?? '–');
    wText.className = w.alive < w.configured ? 'warn' : '';
    $('ov-pending').textContent = String(d.moderation_pending ?? '–');
    const bans = Array.isArray(d.bans) ? d.bans : [];
    $('ov-bans').textContent = String(bans.length);

    const statusBody = $('ov-status').tBodies[0];
    clear(statusBody);
    const counts = d.status_counts || {};
    for (const code of Object.keys(counts).sort()) {
      const tr = row([code, String(counts[code])]);
      if (/^5/.test(code)) tr.className = 'warn';
      statusBody.appendChild(tr);
    }

    const flagBody = $('ov-flags').tBodies[0];
    clear(flagBody);
    const flags = Array.isArray(d.recent_flags) ? d.recent_flags : [];
    for (const f of flags) {
      flagBody.appendChild(row([el('code', {}, f.post_id ?? f.post ?? '–'),
        f.reason ?? '–', dayText(f.day)]));
    }
    if (flags.length === 0) flagBody.appendChild(row(['none', '', '']));

    // Without the review token the overview is the only source of the bans.
    if (!state.review) renderBans(bans, false);
  }

  async function refreshOverview() {
    if (!state.ui || state.overviewBusy) return;
    state.overviewBusy = true;
    const node = $('overview-state');
    try {
      const r = await api('GET', '/admin/overview', state.ui);
      if (!state.ui) return;  // forgotten meanwhile
      if (!r.ok) {
        if (r.status === 401) {
          state.ui = '';
          showTokens();
          setState(node, 'UI token rejected: ' + r.message, 'error');
        } else {
          setState(node, 'Overview failed at ' + now() + ': ' + r.message, 'error');
        }
        return;
      }
      renderOverview(r.data || {});
      state.refreshes += 1;
      $('overview').dataset.refreshes = String(state.refreshes);
      setState(node, 'Updated at ' + now() + '.', 'ok');
    } finally {
      state.overviewBusy = false;
    }
  }

  // ---- moderation queue -----------------------------------------------------
  function reasonsText(reasons) {
    if (!reasons || typeof reasons !== 'object') return '–';
    const parts = [];
    for (const k of Object.keys(reasons).sort((a, b) =>
      REASON_LABELS.indexOf(a) - REASON_LABELS.indexOf(b))) {
      parts.push(k.replace('_', ' ') + ' ×' + reasons[k]);
    }
    return parts.length ? parts.join(', ') : 'none';
  }

  function queueItem(item) {
    const post = item.post || {};
    const li = el('li', { 'class': 'queue-item', 'data-item-id': item.id });
    const meta = el('p', { 'class': 'meta' });
    meta.appendChild(document.createTextNode('Post '));
    meta.appendChild(el('code', {}, post.id ?? '–'));
    meta.appendChild(document.createTextNode(
      ' · queued ' + dayText(item.day) +
      ' · source: ' + (item.source ?? '–') +
      ' · flags: ' + (item.flag_count ?? 0) +
      ' · auto score: ' + (typeof item.auto_score === 'number' ? item.auto_score.toFixed(2) : '–')));
    li.appendChild(meta);
    li.appendChild(el('p', { 'class': 'reasons' }, 'Reasons: ' + reasonsText(item.reasons)));
    const body = el('blockquote', { 'class': 'post-body' });
    body.textContent = typeof post.body === 'string' ? post.body : '(no text)';
    li.appendChild(body);

    const noteId = 'note-' + (++state.noteSeq);
    const form = el('form', { 'class': 'decide', 'autocomplete': 'off' });
    form.appendChild(el('label', { 'for': noteId }, 'Note (optional)'));
    const note = el('input', { id: noteId, type: 'text', maxlength: NOTE_MAX, 'class': 'note' });
    form.appendChild(note);
    const keep = el('button', { type: 'button', 'class': 'keep', 'data-decision': 'keep' }, 'Keep');
    const remove = el('button', { type: 'button', 'class': 'remove danger', 'data-decision': 'remove' },
      'Remove');
    form.appendChild(keep);
    form.appendChild(remove);
    form.addEventListener('submit', (ev) => ev.preventDefault());
    li.appendChild(form);
    const itemState = el('p', { 'class': 'state item-state', role: 'status', 'aria-live': 'polite' });
    li.appendChild(itemState);
    for (const b of [keep, remove]) {
      b.setAttribute('aria-label', b.textContent + ' post ' + (post.id ?? ''));
      b.addEventListener('click', () => decide(item.id, b.dataset.decision, li));
    }
    return li;
  }

  // POST one reviewer decision for the list item li: the buttons wait, the
  // item says how it went; a 409 means someone else decided first. done()
  // runs after a success and returns the text to show.
  async function sendDecision(path, body, li, done) {
    const buttons = li.querySelectorAll('button');
    const itemState = li.querySelector('.item-state');
    if (!state.review) {
      setState(itemState, 'Enter the review token first.', 'error');
      return;
    }
    buttons.forEach((b) => { b.disabled = true; });
    setState(itemState, 'Sending…', 'busy');
    const r = await api('POST', path, state.review, body);
    if (r.ok) {
      li.classList.add('decided');
      setState(itemState, done() + ' at ' + now() + '.', 'ok');
      return;
    }
    if (r.status === 409) {
      li.classList.add('decided');
      setState(itemState, 'Already decided: ' + r.message, 'error');
      return;
    }
    buttons.forEach((b) => { b.disabled = false; });
    setState(itemState, 'Decision failed: ' + r.message, 'error');
  }

  function decide(itemId, decision, li) {
    const note = li.querySelector('input.note');
    const body = { decision: decision };
    if (note.value.trim()) body.note = note.value.trim().slice(0, NOTE_MAX);
    return sendDecision('/moderation/queue/' + encodeURIComponent(itemId) + '/decision', body, li,
      () => {
        note.disabled = true;
        refreshOverview();
        loadDecided();
        return decision === 'keep' ? 'Kept' : 'Removed';
      });
  }

  // Show items: keep the nodes of items already shown (a note being typed
  // survives a refresh), add new ones at the end, drop those gone unless
  // just decided (their outcome stays until the next reload).
  function renderQueue(items, append) {
    const list = $('queue-list');
    const shown = new Map();
    for (const li of list.children) shown.set(li.dataset.itemId, li);
    const wanted = new Set(items.map((i) => String(i.id)));
    if (!append) {
      for (const [id, li] of shown) {
        if (!wanted.has(id) && !li.classList.contains('decided')) li.remove();
        else if (!wanted.has(id) && li.dataset.seenGone) li.remove();
        else if (!wanted.has(id)) li.dataset.seenGone = '1';
      }
    }
    for (const item of items) {
      if (!shown.has(String(item.id))) list.appendChild(queueItem(item));
    }
  }

  async function loadQueue(append) {
    if (!state.review || state.queueBusy) return;
    state.queueBusy = true;
    const node = $('queue-state');
    try {
      let path = '/moderation/queue?status=pending&limit=' + QUEUE_PAGE;
      if (append && state.queueCursor) path += '&cursor=' + encodeURIComponent(state.queueCursor);
      const r = await api('GET', path, state.review);
      if (!state.review) return;
      if (!r.ok) {
        if (r.status === 401) forgetReview('Review token rejected: ' + r.message);
        else setState(node, 'Queue failed at ' + now() + ': ' + r.message, 'error');
        return;
      }
      const items = Array.isArray(r.data && r.data.items) ? r.data.items : [];
      renderQueue(items, append);
      state.queuePages = append ? state.queuePages + 1 : 1;
      state.queueCursor = (r.data && r.data.next_cursor) || null;
      $('queue-more').hidden = !state.queueCursor;
      const n = $('queue-list').querySelectorAll('.queue-item:not(.decided)').length;
      setState(node, n === 0 ? 'Nothing pending (' + now() + ').'
        : n + ' pending item' + (n === 1 ? '' : 's') + ' shown (' + now() + ').', 'ok');
    } finally {
      state.queueBusy = false;
    }
  }

  // The latest decisions, newest first, with the moderator's note.
  async function loadDecided() {
    if (!state.review || state.decidedBusy) return;
    state.decidedBusy = true;
    const node = $('decided-state');
    try {
      const r = await api('GET', '/moderation/queue?status=decided&limit=' + DECIDED_PAGE,
        state.review);
      if (!state.review) return;
      if (!r.ok) {
        if (r.status === 401) forgetReview('Review token rejected: ' + r.message);
        else setState(node, 'Decisions failed at ' + now() + ': ' + r.message, 'error');
        return;
      }
      const items = Array.isArray(r.data && r.data.items) ? r.data.items : [];
      const tbody = $('decided-list').tBodies[0];
      clear(tbody);
      for (const item of items) {
        const tr = row([(item.post || {}).id ?? '–', item.status ?? '–', dayText(item.day),
          typeof item.note === 'string' ? item.note : '–']);
        tr.dataset.itemId = item.id ?? '';
        tbody.appendChild(tr);
      }
      setState(node, items.length === 0 ? 'No decisions yet (' + now() + ').'
        : 'The latest ' + items.length + ' decision' + (items.length === 1 ? '' : 's') +
          ' (' + now() + ').', 'ok');
    } finally {
      state.decidedBusy = false;
    }
  }

  // ---- appeals ------------------------------------------------------------------
  function appealItem(item) {
    const post = item.post || {};
    const li = el('li', { 'class': 'queue-item appeal-item', 'data-appeal-id': item.id });
    const meta = el('p', { 'class': 'meta' });
    meta.appendChild(document.createTextNode('Post '));
    meta.appendChild(el('code', {}, post.id ?? '–'));
    meta.appendChild(document.createTextNode(' · appealed ' + dayText(item.day) +
      ' · removed by ' + (item.removed_by ?? '–')));
    li.appendChild(meta);
    const body = el('blockquote', { 'class': 'post-body' });
    body.textContent = typeof post.body === 'string' ? post.body : '(no text)';
    li.appendChild(body);
    li.appendChild(el('p', { 'class': 'appeal-note' },
      'Author\'s note: ' + (typeof item.note === 'string' ? item.note : '–')));
    const form = el('form', { 'class': 'decide', 'autocomplete': 'off' });
    const uphold = el('button', { type: 'button', 'class': 'uphold', 'data-decision': 'uphold' },
      'Uphold removal');
    const reverse = el('button', { type: 'button', 'class': 'reverse', 'data-decision': 'reverse' },
      'Reverse removal');
    form.appendChild(uphold);
    form.appendChild(reverse);
    form.addEventListener('submit', (ev) => ev.preventDefault());
    li.appendChild(form);
    li.appendChild(el('p', { 'class': 'state item-state', role: 'status', 'aria-live': 'polite' }));
    for (const b of [uphold, reverse]) {
      b.setAttribute('aria-label', b.textContent + ' of post ' + (post.id ?? ''));
      b.addEventListener('click', () => decideAppeal(item.id, b.dataset.decision, li));
    }
    return li;
  }

  function decideAppeal(appealId, decision, li) {
    return sendDecision('/moderation/appeals/' + encodeURIComponent(appealId) + '/decision',
      { decision: decision }, li, () => {
        loadDecided();
        return decision === 'uphold' ? 'Upheld' : 'Reversed';
      });
  }

  // Pending appeals, oldest first; decided ones stay shown until the next load after.
  async function loadAppeals() {
    if (!state.review || state.appealsBusy) return;
    state.appealsBusy = true;
    const node = $('appeals-state');
    try {
      const r = await api('GET', '/moderation/appeals?status=pending&limit=' + QUEUE_PAGE,
        state.review);
      if (!state.review) return;
      if (!r.ok) {
        if (r.status === 401) forgetReview('Review token rejected: ' + r.message);
        else setState(node, 'Appeals failed at ' + now() + ': ' + r.message, 'error');
        return;
      }
      const items = Array.isArray(r.data && r.data.items) ? r.data.items : [];
      const list = $('appeal-list');
      const shown = new Set();
      for (const li of Array.from(list.children)) {
        if (li.classList.contains('decided') && li.dataset.seenGone) li.remove();
        else if (li.classList.contains('decided')) li.dataset.seenGone = '1';
        else shown.add(li.dataset.appealId);
      }
      for (const item of items) {
        if (!shown.has(String(item.id))) list.appendChild(appealItem(item));
      }
      setState(node, items.length === 0 ? 'No appeals pending (' + now() + ').'
        : items.length + ' pending appeal' + (items.length === 1 ? '' : 's') + ' (' + now() + ').',
        'ok');
    } finally {
      state.appealsBusy = false;
    }
  }

  // ---- bans -------------------------------------------------------------------
  function renderBans(items, canRemove) {
    const key = JSON.stringify([canRemove, items]);
    if (key === state.bansKey) return;
    state.bansKey = key;
    const tbody = $('ban-list').tBodies[0];
    clear(tbody);
    for (const b of items) {
      let action = '';
      if (canRemove && b.ban_id) {
        action = el('button', { type: 'button', 'class': 'danger', 'data-ban-id': b.ban_id,
          'aria-label': 'Remove the ban on ' + (b.prefix ?? 'this prefix') }, 'Remove');
        action.addEventListener('click', () => removeBan(b.ban_id, b.prefix, action));
      }
      const tr = row([el('code', {}, b.prefix ?? '–'), b.reason ?? '', dayText(b.day),
        b.expires_day == null ? 'never' : dayText(b.expires_day), action]);
      tr.dataset.banId = b.ban_id ?? '';
      tr.dataset.prefix = b.prefix ?? '';
      tbody.appendChild(tr);
    }
    if (items.length === 0) tbody.appendChild(row(['none', '', '', '', '']));
  }

  async function loadBans() {
    if (!state.review || state.bansBusy) return;
    state.bansBusy = true;
    const node = $('bans-state');
    try {
      const items = [];
      let cursor = null;
      for (let page = 0; page < BAN_PAGES_MAX; page++) {
        let path = '/moderation/bans?limit=' + BAN_PAGE;
        if (cursor) path += '&cursor=' + encodeURIComponent(cursor);
        const r = await api('GET', path, state.review);
        if (!state.review) return;
        if (!r.ok) {
          if (r.status === 401) forgetReview('Review token rejected: ' + r.message);
          else setState(node, 'Bans failed at ' + now() + ': ' + r.message, 'error');
          return;
        }
        items.push(...(Array.isArray(r.data && r.data.items) ? r.data.items : []));
        cursor = r.data && r.data.next_cursor;
        if (!cursor) break;
      }
      renderBans(items, true);
      if (!node.classList.contains('keep')) {
        setState(node, items.length + ' active ban' + (items.length === 1 ? '' : 's') +
          ' (' + now() + ').', 'ok');
      }
    } finally {
      state.bansBusy = false;
    }
  }

  // Keep an action's outcome on screen over the next refresh.
  function setBanOutcome(text, kind) {
    const node = $('bans-state');
    setState(node, text, kind);
    node.classList.add('keep');
    setTimeout(() => node.classList.remove('keep'), 8000);
  }

  async function addBan(ev) {
    ev.preventDefault();
    if (!state.review) {
      setBanOutcome('Enter the review token first.', 'error');
      return;
    }
    const ip = $('ban-ip').value.trim();
    const reason = $('ban-reason').value.trim();
    const days = $('ban-days').value.trim();
    const prefix = $('ban-prefix').value.trim();
    if (!ip) {
      setBanOutcome('Type the IP address to ban.', 'error');
      return;
    }
    if (days && !/^[1-9][0-9]{0,3}$/.test(days)) {
      setBanOutcome('Days must be a whole number from 1 to 3650, or empty.', 'error');
      return;
    }
    if (prefix && !/^(4[89]|5[0-9]|6[0-4])$/.test(prefix)) {
      setBanOutcome('The IPv6 prefix length must be a whole number from 48 to 64, or empty.', 'error');
      return;
    }
    const q = new URLSearchParams({ ip: ip });
    if (reason) q.set('reason', reason);
    if (days) q.set('days', days);
    if (prefix) q.set('prefix', prefix);
    const button = $('ban-add');
    button.disabled = true;
    setBanOutcome('Sending…', 'busy');
    try {
      const r = await api('POST', '/moderation/ban/ip?' + q.toString(), state.review);
      if (!r.ok) {
        setBanOutcome('Ban failed: ' + r.message, 'error');
        return;
      }
      const d = r.data || {};
      setBanOutcome('Banned ' + (d.prefix ?? ip) + (d.expires_day == null ? ', no expiry.'
        : ' until ' + dayText(d.expires_day) + '.'), 'ok');
      $('ban-form').reset();
      await loadBans();
      refreshOverview();
    } finally {
      button.disabled = false;
    }
  }

  async function removeBan(banId, prefix, button) {
    button.disabled = true;
    const r = await api('DELETE', '/moderation/bans/' + encodeURIComponent(banId), state.review);
    if (!r.ok) {
      button.disabled = false;
      setBanOutcome('Removing the ban on ' + (prefix ?? '?') + ' failed: ' + r.message, 'error');
      return;
    }
    setBanOutcome('Removed the ban on ' + (prefix ?? '?') + '.', 'ok');
    await loadBans();
    refreshOverview();
  }

  // ---- tokens and the refresh timer -------------------------------------------
  function showTokens() {
    const parts = [];
    parts.push('UI token: ' + (state.ui ? 'set' : 'not set'));
    parts.push('review token: ' + (state.review ? 'set' : 'not set'));
    setState($('token-state'), parts.join(' · ') + '.', state.ui || state.review ? 'ok' : '');
  }

  function forgetReview(message) {
    state.review = '';
    state.bansKey = null;
    showTokens();
    setState($('queue-state'), message, 'error');
    setState($('decided-state'), message, 'error');
    setState($('appeals-state'), message, 'error');
    setState($('bans-state'), message, 'error');
  }

  function tick() {
    if (document.hidden) return;
    refreshOverview();
    if (state.queuePages <= 1) loadQueue(false);
    loadDecided();
    loadAppeals();
    loadBans();
  }

  function startTimer() {
    clearInterval(state.timer);
    const s = Number($('refresh-every').value) || REFRESH_DEFAULT_S;
    state.timer = setInterval(tick, s * 1000);
  }

  function useTokens(ev) {
    ev.preventDefault();
    const ui = $('ui-token').value.trim();
    const review = $('review-token').value.trim();
    // An empty field keeps the token already in use.
    if (ui) state.ui = ui;
    if (review) state.review = review;
    $('ui-token').value = '';
    $('review-token').value = '';
    state.bansKey = null;
    showTokens();
    if (!state.ui) setState($('overview-state'), 'Enter the UI token to see the overview.', '');
    if (!state.review) {
      setState($('queue-state'), 'Enter the review token to work the queue.', '');
      setState($('decided-state'), 'Enter the review token to see the decisions.', '');
      setState($('appeals-state'), 'Enter the review token to decide appeals.', '');
      setState($('bans-state'), 'Enter the review token to manage bans.', '');
    } else {
      setState($('queue-state'), 'Loading…', 'busy');
      setState($('decided-state'), 'Loading…', 'busy');
      setState($('appeals-state'), 'Loading…', 'busy');
      setState($('bans-state'), 'Loading…', 'busy');
    }
    if (state.ui) setState($('overview-state'), 'Loading…', 'busy');
    startTimer();
    refreshOverview();
    loadQueue(false);
    loadDecided();
    loadAppeals();
    loadBans();
  }

  function forgetTokens() {
    state.ui = '';
    state.review = '';
    state.bansKey = null;
    state.queueCursor = null;
    state.queuePages = 0;
    clearInterval(state.timer);
    state.timer = 0;
    $('ui-token').value = '';
    $('review-token').value = '';
    clear($('queue-list'));
    clear($('decided-list').tBodies[0]);
    clear($('appeal-list'));
    clear($('ban-list').tBodies[0]);
    clear($('ov-status').tBodies[0]);
    clear($('ov-flags').tBodies[0]);
    for (const id of ['ov-p50', 'ov-p95', 'ov-window', 'ov-workers', 'ov-pending', 'ov-bans'])
      $(id).textContent = '–';
    $('queue-more').hidden = true;
    showTokens();
    setState($('overview-state'), 'Tokens forgotten.', '');
    setState($('queue-state'), 'Tokens forgotten.', '');
    setState($('decided-state'), 'Tokens forgotten.', '');
    setState($('appeals-state'), 'Tokens forgotten.', '');
    setState($('bans-state'), 'Tokens forgotten.', '');
  }

  function init() {
    $('js-needed').hidden = true;
    $('token-form').addEventListener('submit', useTokens);
    $('token-forget').addEventListener('click', forgetTokens);
    $('refresh-every').addEventListener('change', () => { if (state.timer) startTimer(); });
    $('queue-reload').addEventListener('click', () => { loadQueue(false); loadDecided(); });
    $('queue-more').addEventListener('click', () => loadQueue(true));
    $('ban-form').addEventListener('submit', addBan);
    document.addEventListener('visibilitychange', () => { if (!document.hidden && state.timer) tick(); });
  }

  init();
}());
