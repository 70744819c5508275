// The pages' only script, served as /static/app.js (script-src 'self', nothing inline):
// refreshes <main> in place, shows a run's log on demand, and sends the incident actions with
// the admin token typed on the page. Untrusted text is inserted with textContent only.
export const APP_JS = `(function () {
  'use strict';
  var main = document.getElementById('main');
  if (!main) return;
  var every = (Number(main.getAttribute('data-refresh')) || 30) * 1000;

  // Never pull the page from under the reader: not while a log is open or a control has focus.
  function busy() {
    var a = document.activeElement;
    return document.hidden || !!document.querySelector('#main .logbox') || (!!a && a.id !== 'main' && !!document.getElementById('main').contains(a));
  }

  function refresh(force) {
    if (!force && busy()) return Promise.resolve();
    return fetch(location.href, { headers: { Accept: 'text/html' }, credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var next = doc.getElementById('main');
        var cur = document.getElementById('main');
        if (!next || !cur || (!force && busy())) return;
        var token = document.getElementById('admin-token');
        var keep = token ? token.value : '';
        cur.replaceWith(document.adoptNode(next));
        var again = document.getElementById('admin-token');
        if (again) again.value = keep;
        var g = doc.getElementById('generated');
        var g0 = document.getElementById('generated');
        if (g && g0) g0.replaceWith(document.adoptNode(g));
      })
      .catch(function () { /* keep the page as it is; the next tick retries */ });
  }
  setInterval(refresh, every);

  function toggleLog(link) {
    var row = link.closest('tr');
    var open = row.nextElementSibling;
    if (open && open.classList.contains('logrow')) {
      open.remove();
      link.textContent = 'Show log';
      link.setAttribute('aria-expanded', 'false');
      return;
    }
    fetch(link.getAttribute('href'), { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        var tr = document.createElement('tr');
        tr.className = 'logrow';
        var td = document.createElement('td');
        td.colSpan = row.children.length;
        var pre = document.createElement('pre');
        pre.className = 'logbox';
        pre.tabIndex = 0;
        pre.setAttribute('aria-label', 'Log of run ' + link.getAttribute('data-run'));
        var run = body.run;
        pre.textContent = run ? ((run.logTail || '') + (run.error ? '\\n' + run.error : '')) || '(empty log)' : (body.error && body.error.message) || 'Log unavailable.';
        td.appendChild(pre);
        tr.appendChild(td);
        row.after(tr);
        link.textContent = 'Hide log';
        link.setAttribute('aria-expanded', 'true');
        pre.focus();
      });
  }

  function say(text) {
    var out = document.getElementById('action-result');
    if (out) out.textContent = text;
  }

  function act(button) {
    var field = document.getElementById('admin-token');
    var token = field ? field.value.trim() : '';
    if (!token) { say('Type the admin token first.'); if (field) field.focus(); return; }
    var kind = button.getAttribute('data-action');
    var id = button.getAttribute('data-id');
    var req = { method: 'POST', headers: { Authorization: 'Bearer ' + token }, credentials: 'same-origin' };
    var url;
    if (kind === 'ack') { url = '/api/v1/incidents/' + encodeURIComponent(id) + '/ack'; req.headers['Content-Type'] = 'application/json'; req.body = '{}'; }
    else if (kind === 'mute') {
      var hours = Number(button.getAttribute('data-hours')) || 24;
      url = '/api/v1/mutes';
      req.headers['Content-Type'] = 'application/json';
      req.body = JSON.stringify({ asset: button.getAttribute('data-asset'), until: new Date(Date.now() + hours * 3600000).toISOString(), reason: 'muted from the status page' });
    } else if (kind === 'unmute') { url = '/api/v1/mutes/' + encodeURIComponent(id); req.method = 'DELETE'; }
    else return;
    button.disabled = true;
    fetch(url, req)
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        var text = res.ok ? 'Done: ' + button.textContent + '.' : 'Refused: ' + ((res.body && res.body.error && res.body.error.message) || 'unknown error');
        if (!res.ok) { button.disabled = false; say(text); return; }
        return refresh(true).then(function () { say(text); });
      })
      .catch(function (err) { button.disabled = false; say('Failed: ' + err.message); });
  }

  // Enter in the token field submits nothing: the token only travels with an action.
  document.addEventListener('submit', function (e) {
    if (e.target instanceof Element && e.target.id === 'admin-form') e.preventDefault();
  });

  document.addEventListener('click', function (e) {
    var t = e.target;
    if (!(t instanceof Element)) return;
    var link = t.closest('a.log');
    if (link) { e.preventDefault(); toggleLog(link); return; }
    var button = t.closest('button.act');
    if (button) act(button);
  });
})();
`;
