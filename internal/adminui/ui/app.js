// The admin web page for approvals (SPEC §10.3). It reads and decides approvals through the admin
// API, with the admin token the operator enters (kept in this tab's sessionStorage, sent as a bearer
// token, never in a cookie). Everything an agent could have written is put on the page as text,
// never as markup, and every character that could hide or reorder text is shown as an escape.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = 'gatehouse.admin.token';
  const NAME_KEY = 'gatehouse.approver';
  const API = '../v1/approvals';
  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  let current = null; // the approval shown in the detail, as last read
  let listFailed = false;
  let listed = ''; // the listing the rows show, as JSON: rows are rebuilt only when it changes

  // Shown as it is, as the CLI shows it: printable as Go's unicode.IsPrint counts it (letters, marks,
  // numbers, punctuation, symbols and the ASCII space; not controls, format characters such as bidi
  // overrides and zero-width joiners, other spaces, separators, private-use, unassigned code points
  // or lone surrogates), and not a character that shows nothing: a default-ignorable code point
  // (variation selectors, Hangul fillers, the combining grapheme joiner) or the braille blank.
  const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
  const invisible = /^[\p{Default_Ignorable_Code_Point}\u2800]$/u;

  function escapeOf(ch) {
    const cp = ch.codePointAt(0);
    if (cp > 0xffff) {
      return [ch.charCodeAt(0), ch.charCodeAt(1)].map((u) => '\\u' + u.toString(16).padStart(4, '0')).join('');
    }
    return '\\u' + cp.toString(16).padStart(4, '0');
  }

  // visible returns s as DOM text, each character that is not printable as a highlighted escape.
  // keepNewlines keeps '\n' as a line break (the pretty-printed params, whose own newlines JSON
  // always escapes).
  function visible(s, keepNewlines) {
    const frag = document.createDocumentFragment();
    let run = '';
    for (const ch of String(s)) {
      if ((printable.test(ch) && !invisible.test(ch)) || (keepNewlines && ch === '\n')) {
        run += ch;
        continue;
      }
      if (run) frag.append(document.createTextNode(run));
      run = '';
      const mark = document.createElement('mark');
      mark.className = 'esc';
      mark.textContent = escapeOf(ch);
      frag.append(mark);
    }
    if (run) frag.append(document.createTextNode(run));
    return frag;
  }

  // pretty indents JSON without parsing it, so that every number is shown as the call has it (a
  // JavaScript number would round 9007199254740993).
  function pretty(json) {
    let out = '';
    let depth = 0;
    let inString = false;
    let escaped = false;
    const newline = () => '\n' + '  '.repeat(Math.max(depth, 0));
    for (let i = 0; i < json.length; i++) {
      const c = json[i];
      if (inString) {
        out += c;
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      switch (c) {
        case '"':
          inString = true;
          out += c;
          break;
        case '{':
        case '[': {
          const close = c === '{' ? '}' : ']';
          let j = i + 1;
          while (j < json.length && ' \t\r\n'.includes(json[j])) j++;
          if (json[j] === close) {
            out += c + close;
            i = j;
            break;
          }
          depth++;
          out += c + newline();
          break;
        }
        case '}':
        case ']':
          depth--;
          out += newline() + c;
          break;
        case ',':
          out += ',' + newline();
          break;
        case ':':
          out += ': ';
          break;
        case ' ':
        case '\t':
        case '\r':
        case '\n':
          break;
        default:
          out += c;
      }
    }
    return out;
  }

  function show(text, isError) {
    const m = $('message');
    m.textContent = '';
    m.append(visible(text));
    m.classList.toggle('error', Boolean(isError));
    m.hidden = false;
  }

  function hideMessage() {
    $('message').hidden = true;
  }

  function explain(status, data) {
    const said = data && typeof data.error === 'string' ? data.error : '';
    if (status === 401) {
      return token ? 'The admin listener refused the token given.' : 'The admin listener needs its token: enter it above.';
    }
    return said ? `${status}: ${said}` : `The admin listener answered ${status}.`;
  }

  async function api(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    const init = { method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (e) {
      const err = new Error('The admin listener could not be reached.');
      err.status = 0;
      throw err;
    }
    let data = null;
    try {
      data = await resp.json();
    } catch (e) {
      // 401 and proxies answer text.
    }
    if (!resp.ok) {
      const err = new Error(explain(resp.status, data));
      err.status = resp.status;
      err.data = data;
      throw err;
    }
    return data;
  }

  function when(s) {
    const t = Date.parse(s);
    return Number.isNaN(t) ? '' : new Date(t).toLocaleString();
  }

  function until(s) {
    const t = Date.parse(s);
    if (Number.isNaN(t)) return '';
    let left = Math.round((t - Date.now()) / 1000);
    if (left <= 0) return 'passed';
    const h = Math.floor(left / 3600);
    const m = Math.floor((left % 3600) / 60);
    left %= 60;
    return 'in ' + (h ? `${h}h ${m}m` : m ? `${m}m ${left}s` : `${left}s`);
  }

  function cell(row, text) {
    const td = document.createElement('td');
    td.append(visible(text || '—'));
    row.append(td);
    return td;
  }

  function statusCell(row, status) {
    const td = cell(row, status);
    td.className = 'status-' + status;
  }

  function expiresText(ap) {
    return ap.status === 'pending' || ap.status === 'approved' ? until(ap.expires) : when(ap.expires);
  }

  // renderRows shows the listing. Unchanged, only the times left are updated, so that the rows
  // (and a button about to be clicked) stay in place.
  function renderRows(approvals) {
    const rows = $('rows');
    const now = JSON.stringify(approvals);
    if (now === listed) {
      approvals.forEach((ap, i) => {
        const td = rows.children[i] && rows.children[i].children[6];
        if (td) {
          td.textContent = '';
          td.append(visible(expiresText(ap) || '—'));
        }
      });
      return;
    }
    listed = now;
    rows.textContent = '';
    for (const ap of approvals) {
      const tr = document.createElement('tr');
      tr.dataset.id = ap.id;
      if (current && current.id === ap.id) tr.className = 'selected';
      cell(tr, when(ap.created));
      cell(tr, ap.tool || ap.method);
      cell(tr, ap.caller);
      cell(tr, ap.tenant);
      cell(tr, ap.rule_id);
      cell(tr, ap.arguments_preview);
      cell(tr, expiresText(ap));
      statusCell(tr, ap.status);
      const td = document.createElement('td');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'review';
      b.textContent = 'Review';
      b.addEventListener('click', () => open(ap.id));
      td.append(b);
      tr.append(td);
      rows.append(tr);
    }
    $('empty').hidden = approvals.length > 0;
  }

  async function refresh() {
    const status = $('filter').value;
    try {
      const data = await api('GET', API + (status ? '?status=' + encodeURIComponent(status) : ''));
      if (status !== $('filter').value) return; // the filter changed meanwhile; its own refresh shows it
      const approvals = data.approvals || [];
      renderRows(approvals);
      // The approval shown was decided elsewhere, or expired (it changed status, or left the
      // pending listing): show it as it stands.
      if (current) {
        const listedNow = approvals.find((ap) => ap.id === current.id);
        if (listedNow ? listedNow.status !== current.status : status === 'pending' && current.status === 'pending') open(current.id);
      }
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
      if (listFailed) hideMessage();
      listFailed = false;
    } catch (e) {
      listFailed = true;
      show(e.message, true);
    }
  }

  const FIELDS = [
    ['Status', 'status'], ['Method', 'method'], ['Tool', 'tool'], ['Caller', 'caller'], ['Tenant', 'tenant'],
    ['Upstream', 'upstream'], ['Rule', 'rule_id'], ['Reason', 'reason'], ['Policy revision', 'policy_revision'],
    ['Call digest', 'call_digest'], ['Decision id', 'decision_id'], ['Created', 'created', when],
    ['Expires', 'expires', (s) => `${when(s)} (${until(s)})`], ['Approver', 'approver'], ['Note', 'note'], ['Decided', 'decided', when],
  ];

  function renderDetail(ap) {
    current = ap;
    $('detail-id').textContent = '';
    $('detail-id').append(visible(ap.id));
    const dl = $('fields');
    dl.textContent = '';
    for (const [label, key, format] of FIELDS) {
      if (!ap[key]) continue;
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.append(visible(format ? format(ap[key]) : ap[key]));
      if (key === 'status') dd.className = 'status-' + ap.status;
      dl.append(dt, dd);
    }
    const params = $('params');
    params.textContent = '';
    params.append(ap.params ? visible(pretty(ap.params), true) : visible('(not shown in this answer)'));
    const pending = ap.status === 'pending';
    $('approve').disabled = !pending;
    $('deny').disabled = !pending;
    $('note').disabled = !pending;
    $('detail').hidden = false;
    for (const tr of $('rows').children) tr.classList.toggle('selected', tr.dataset.id === ap.id);
  }

  async function open(id) {
    try {
      const ap = await api('GET', API + '/' + encodeURIComponent(id));
      if (!current || current.id !== ap.id) $('note').value = ''; // a note is for one approval
      renderDetail(ap);
      $('detail').scrollIntoView({ block: 'nearest' });
    } catch (e) {
      if (e.status === 404 && current && current.id === id) closeDetail(); // no longer kept
      show(e.message, true);
    }
  }

  async function decide(action) {
    if (!current) return;
    const approver = $('approver').value.trim();
    if (!approver) {
      show('Enter your name: it is recorded in the audit log as the approver.', true);
      $('approver').focus();
      return;
    }
    localStorage.setItem(NAME_KEY, approver);
    const id = current.id;
    $('approve').disabled = true;
    $('deny').disabled = true;
    try {
      const ap = await api('POST', API + '/' + action, { id, approver, note: $('note').value });
      $('note').value = '';
      renderDetail(ap);
      show(`${action === 'approve' ? 'Approved' : 'Denied'} ${id} as ${approver}.`, false);
    } catch (e) {
      if (e.status === 409 && e.data && e.data.approval) renderDetail(e.data.approval);
      else if (current) renderDetail(current);
      show(e.message, true);
    }
    refresh();
  }

  function showTokenState() {
    $('token').value = '';
    $('token').placeholder = token ? 'token set for this tab' : "admin.token_sha256's token";
    $('forget-token').disabled = !token;
  }

  $('credentials').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const given = $('token').value.trim();
    if (given) {
      token = given;
      sessionStorage.setItem(TOKEN_KEY, token);
    }
    const name = $('approver').value.trim();
    if (name) localStorage.setItem(NAME_KEY, name);
    showTokenState();
    hideMessage();
    refresh();
  });
  function closeDetail() {
    current = null;
    $('note').value = '';
    $('detail').hidden = true;
    for (const tr of $('rows').children) tr.classList.remove('selected');
  }

  $('forget-token').addEventListener('click', () => {
    token = '';
    sessionStorage.removeItem(TOKEN_KEY);
    showTokenState();
    closeDetail();
    listed = '';
    $('rows').textContent = '';
    refresh();
  });
  $('filter').addEventListener('change', refresh);
  $('refresh').addEventListener('click', refresh);
  $('close').addEventListener('click', closeDetail);
  // Enter in the note does not submit anything (the CSP allows no form action): a decision is a
  // click on Approve or Deny.
  $('decide').addEventListener('submit', (ev) => ev.preventDefault());
  $('approve').addEventListener('click', () => decide('approve'));
  $('deny').addEventListener('click', () => decide('deny'));

  $('approver').value = localStorage.getItem(NAME_KEY) || '';
  showTokenState();
  refresh();
  setInterval(() => {
    if (document.visibilityState === 'visible') refresh();
  }, 5000);
})();
