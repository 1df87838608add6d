// Tianye field client page. All form logic runs in the local process: the
// page sends answers and shows the states it gets back; it never evaluates
// expressions itself. Text is set with textContent only.
'use strict';

const T = {
  zh: {
    app: '田野', unlock: '解锁', passphrase: '口令', wrong: '口令不正确', lock: '锁定', newRecord: '新建记录',
    forms: '表单', records: '我的记录', draft: '草稿', returned: '退回待改', finalized: '已完成，待同步',
    synced: '已同步', approved: '已通过', rejected: '未通过', none: '暂无', back: '上一页', next: '下一页',
    home: '首页', finalize: '完成并检查', finalizedOk: '记录已完成，等待同步。', problems: '还有以下问题：',
    add: '添加', remove: '删除', up: '上移', gps: '获取定位', gpsAgain: '重新定位', accuracy: '精度',
    meters: '米', gpsFail: '定位失败：', photo: '拍照/选择照片', uploading: '正在保存照片…', choose: '请选择',
    search: '输入以搜索', page: '页', locked: '已锁定', ack: '确认', tooBig: '照片太大', other: '其他',
    comment: '审核意见：', saving: '已保存', jump: '跳转到', deleted: '已删除',
    sync: '同步', server: '服务器地址', user: '用户名', password: '密码', syncing: '正在同步…',
    pin: '服务器证书指纹（sha256//…，管理员提供）',
    pending: '待上传的更改：', syncDone: '同步完成', pushed: '上传', pulled: '下载', conflicts: '冲突（待审核）',
    syncFail: '同步失败：', lastSync: '上次同步：', photos: '照片', photosLeft: '未传', photosIn: '收到同事照片',
  },
  en: {
    app: 'Tianye', unlock: 'Unlock', passphrase: 'Passphrase', wrong: 'Wrong passphrase', lock: 'Lock',
    newRecord: 'New record', forms: 'Forms', records: 'My records', draft: 'Drafts', returned: 'Returned to fix',
    finalized: 'Finalized, waiting to sync', synced: 'Synced', approved: 'Approved', rejected: 'Rejected',
    none: 'None', back: 'Back', next: 'Next', home: 'Home', finalize: 'Finish and check',
    finalizedOk: 'The record is finalized and waits to sync.', problems: 'Still to fix:', add: 'Add',
    remove: 'Remove', up: 'Move up', gps: 'Get location', gpsAgain: 'Locate again', accuracy: 'accuracy',
    meters: 'm', gpsFail: 'No location: ', photo: 'Take or choose a photo', uploading: 'Saving the photo…',
    choose: 'Choose', search: 'Type to search', page: 'page', locked: 'Locked', ack: 'Confirm',
    tooBig: 'The photo is too large', other: 'Other', comment: 'Reviewer comment: ', saving: 'Saved',
    jump: 'Go to', deleted: 'Deleted',
    sync: 'Sync', server: 'Server address', user: 'User name', password: 'Password', syncing: 'Syncing…',
    pin: 'Server key pin (sha256//…, from the administrator)',
    pending: 'Changes waiting to upload: ', syncDone: 'Synced', pushed: 'sent', pulled: 'received',
    conflicts: 'in conflict (for review)', syncFail: 'Sync failed: ', lastSync: 'Last sync: ', photos: 'photos', photosIn: 'colleagues\' photos received',
    photosLeft: 'not sent',
  },
};

// applied counts the server updates drawn on screen (tests wait on it).
const S = { lang: 'zh', record: null, form: null, states: new Map(), pages: [], page: 0, applied: 0 };
const app = document.getElementById('app');
const t = (k) => T[S.lang][k] || k;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else if (v !== false && v != null) e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid) e.append(kid);
  return e;
}

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  const j = r.headers.get('Content-Type')?.includes('json') ? await r.json() : null;
  if (r.status === 401 && j && j.error === 'locked') { showUnlock(t('locked')); throw new Error('locked'); }
  if (!r.ok) { const e = new Error(j?.message || r.statusText); e.code = j?.error; e.status = r.status; throw e; }
  return j;
}

function setTitle(text) { document.getElementById('title').textContent = text; document.title = text; }
function txt(tr) { return tr ? (tr[S.lang] || tr[S.form?.default_language] || tr._ || Object.values(tr)[0] || '') : ''; }

// ---------------------------------------------------------------- unlock / lock

function showUnlock(message) {
  S.record = null; S.form = null; S.states = new Map();
  document.getElementById('lockbtn').hidden = true;
  setTitle(t('app'));
  const pass = el('input', { type: 'password', id: 'passphrase', autocomplete: 'current-password',
                             'aria-label': t('passphrase'), placeholder: t('passphrase') });
  const msg = el('p', { id: 'unlock-msg', class: 'error', role: 'alert', text: message || '' });
  const go = async () => {
    try {
      await api('POST', '/v1/unlock', { passphrase: pass.value, lang: S.lang });
      pass.value = '';
      showHome();
    } catch (e) { msg.textContent = e.code === 'wrong_passphrase' ? t('wrong') : e.message; }
  };
  pass.addEventListener('keydown', (e) => { if (e.key === 'Enter') go(); });
  app.replaceChildren(el('h2', { text: t('unlock') }), pass,
                      el('div', { class: 'row' }, el('button', { id: 'unlock', onclick: go, text: t('unlock') })), msg);
  pass.focus();
}

async function lock() { try { await api('POST', '/v1/lock', {}); } finally { showUnlock(''); } }

// ---------------------------------------------------------------- home

async function showHome() {
  S.record = null; S.form = null;
  document.getElementById('lockbtn').hidden = false;
  setTitle(t('app'));
  const [forms, records] = await Promise.all([api('GET', '/v1/forms'), api('GET', '/v1/records')]);
  const formList = el('ul', { class: 'list', id: 'forms' });
  for (const f of forms) {
    formList.append(el('li', {}, el('button', { 'data-form': f.form_id, text: '＋ ' + txt(f.title) + ' (' + f.version + ')',
      onclick: async () => { const r = await api('POST', '/v1/records', { form_id: f.form_id }); openRecord(r.id); } })));
  }
  const titles = Object.fromEntries(forms.map((f) => [f.form_id, txt(f.title)]));
  const kids = [await syncPanel(), el('h2', { text: t('newRecord') }),
                formList.children.length ? formList : el('p', { text: t('none') })];
  for (const status of ['returned', 'draft', 'finalized', 'synced', 'approved', 'rejected']) {
    const mine = records.filter((r) => r.status === status);
    if (!mine.length && status !== 'draft') continue;
    const ul = el('ul', { class: 'list', id: 'records-' + status });
    for (const r of mine) {
      const when = new Date(r.updated_ms).toLocaleString(S.lang === 'zh' ? 'zh-CN' : 'en-GB');
      const b = el('button', { 'data-record': r.id, onclick: () => openRecord(r.id) },
        el('div', { text: (titles[r.form_id] || r.form_id) + (r.village ? ' · ' + r.village : '') }),
        el('div', { class: 'muted', text: when }));
      if (r.review_comment) b.append(el('div', { class: 'comment', text: t('comment') + r.review_comment }));
      ul.append(el('li', {}, b));
    }
    kids.push(el('h2', { text: t(status) + ' (' + mine.length + ')' }), mine.length ? ul : el('p', { class: 'muted', text: t('none') }));
  }
  app.replaceChildren(...kids);
}

// ---------------------------------------------------------------- sync

function syncSummary(r) {
  if (!r) return '';
  const when = new Date(r.at_ms).toLocaleString(S.lang === 'zh' ? 'zh-CN' : 'en-GB');
  if (!r.ok) return t('lastSync') + when + ' · ' + t('syncFail') + r.message;
  const kb = Math.round((r.bytes_up + r.bytes_down) / 1024);
  return t('lastSync') + when + ' · ' + t('pushed') + ' ' + r.pushed + ' · ' + t('pulled') + ' ' + r.pulled +
         (r.conflicts ? ' · ' + r.conflicts + ' ' + t('conflicts') : '') + ' · ' + t('photos') + ' ' + r.photos_sent +
         (r.photos_pending ? ' (' + t('photosLeft') + ' ' + r.photos_pending + ')' : '') +
         (r.photos_received ? ' · ' + t('photosIn') + ' ' + r.photos_received : '') + ' · ' + kb + ' KB' +
         (r.problems && r.problems.length ? ' · ' + r.problems.join('; ') : '');
}

async function syncPanel() {
  const st = await api('GET', '/v1/sync');
  const box = el('section', { id: 'sync', class: 'card' });
  const status = el('p', { id: 'sync-status', class: 'muted', role: 'status', text: syncSummary(st.last) });
  const pending = el('p', { id: 'sync-pending', text: t('pending') + st.pending });
  const fields = [];
  let server, user, password, pin;
  if (!st.logged_in) {
    server = el('input', { id: 'sync-server', type: 'url', inputmode: 'url', value: st.server || '',
                           placeholder: 'https://', 'aria-label': t('server') });
    user = el('input', { id: 'sync-user', autocomplete: 'username', value: st.user || '', 'aria-label': t('user') });
    password = el('input', { id: 'sync-password', type: 'password', autocomplete: 'current-password',
                             'aria-label': t('password') });
    pin = el('input', { id: 'sync-pin', value: st.pin || '', autocomplete: 'off', spellcheck: 'false',
                        placeholder: 'sha256//', 'aria-label': t('pin') });
    fields.push(el('label', { text: t('server') }), server, el('label', { text: t('pin') }), pin,
                el('label', { text: t('user') }), user, el('label', { text: t('password') }), password);
  }
  const button = el('button', { id: 'sync-go', text: t('sync') });
  button.onclick = async () => {
    button.disabled = true;
    status.textContent = t('syncing');
    status.className = 'muted';
    const body = server ? { server: server.value, pin: pin.value.trim(), username: user.value,
                            password: password.value } : {};
    try {
      const r = await fetch('/v1/sync', { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                           body: JSON.stringify(body) });
      const j = await r.json();
      if (!r.ok) { status.textContent = t('syncFail') + (j.message || r.status); status.className = 'error'; button.disabled = false; return; }
      await showHome();
    } catch (e) {
      status.textContent = t('syncFail') + e.message; status.className = 'error'; button.disabled = false;
    }
  };
  box.append(el('h2', { text: t('sync') }), pending, ...fields, el('div', { class: 'row' }, button), status);
  return box;
}

// ---------------------------------------------------------------- record

const Q = (i) => S.form.questions[i];
const nameOf = (path) => path.slice(path.lastIndexOf('/') + 1);

const HIDDEN_TYPES = ['calculate', 'start', 'end', 'today', 'deviceid', 'username', 'instanceID', 'hidden',
                      'csv-external', 'xml-external', 'unknown'];

// Pages: each top-level group or repeat is one screen; loose top-level questions share one.
function buildPages() {
  const pages = [];
  let loose = null;
  for (const q of S.form.questions) {
    if (q.parent !== -1 || HIDDEN_TYPES.includes(q.type)) continue;
    if (q.type === 'begin_group' || q.type === 'begin_repeat') { loose = null; pages.push({ root: q.index, title: q.label }); }
    else { if (!loose) { loose = { roots: [], title: null }; pages.push(loose); } loose.roots.push(q.index); }
  }
  return pages;
}

// Whether a page has anything to show (its group, or one of its loose questions, is relevant).
function pageShown(i) {
  const p = S.pages[i];
  const roots = p.root !== undefined ? [p.root] : p.roots;
  return roots.some((r) => S.states.get(Q(r).name)?.relevant);
}

// The next page (direction +1 or -1) with something to show; -1 when none.
function nextShown(from, direction) {
  for (let i = from + direction; i >= 0 && i < S.pages.length; i += direction) if (pageShown(i)) return i;
  return -1;
}

function pageOfPath(path) {
  const top = path.split('/')[0].replace(/\[\d+\]$/, '');
  let q = S.form.questions.find((x) => x.name === top);
  while (q && q.parent !== -1) q = Q(q.parent);
  return S.pages.findIndex((p) => (p.root !== undefined ? p.root === q?.index : p.roots.includes(q?.index)));
}

async function openRecord(id, path) {
  const rec = await api('GET', '/v1/records/' + id);
  const form = await api('GET', '/v1/forms/' + rec.form_id + '/' + rec.form_version);
  S.record = rec; S.form = form; S.states = new Map(rec.states.map((s) => [s.path, s]));
  S.pages = buildPages();
  setTitle(txt(form.title));
  if (rec.status !== 'draft' && rec.status !== 'returned') return showReadOnly(rec);
  const resume = path || rec.resume_path;
  S.page = Math.max(0, resume ? pageOfPath(resume) : 0);
  renderPage(resume);
}

function showReadOnly(rec) {
  const pre = el('pre', { style: 'white-space: pre-wrap; word-break: break-all', text: JSON.stringify(rec.values || {}, null, 1) });
  app.replaceChildren(el('h2', { text: t(rec.status) }), pre,
    el('div', { class: 'row' }, el('button', { class: 'secondary', onclick: showHome, text: t('home') })));
}

function label(q) {
  // Labels may refer to answers (${name}); fill them in from the states we have.
  return txt(q.label).replace(/\$\{([A-Za-z_][\w.-]*)\}/g, (m, n) => {
    for (const s of S.states.values()) if (nameOf(s.path) === n) return s.value;
    return '';
  }) || q.name;
}

function statesUnder(rootIndex, prefix) {
  const out = [];
  for (const s of S.states.values()) {
    if (prefix && !s.path.startsWith(prefix)) continue;
    let q = Q(s.q);
    while (q && q.index !== rootIndex) q = q.parent === -1 ? null : Q(q.parent);
    if (q) out.push(s);
  }
  return out;
}

function renderPage(focusPath) {
  const page = S.pages[S.page];
  const body = el('div', { id: 'page' });
  const roots = page.root !== undefined ? [page.root] : page.roots;
  for (const r of roots) renderNode(body, Q(r), '');
  const out = el('div', { id: 'problems', class: 'problems' });
  app.replaceChildren(el('h2', { text: page.title ? txt(page.title) : txt(S.form.title) }), body, out, pager());
  if (S.record.review_comment) app.prepend(el('p', { class: 'comment', text: t('comment') + S.record.review_comment }));
  const target = focusPath && document.querySelector('[data-path="' + CSS.escape(focusPath) + '"]');
  if (target) { target.scrollIntoView({ block: 'center' }); target.querySelector('input,select,button')?.focus(); }
  else window.scrollTo(0, 0);
}

// Back / next / finalize and the jump list, from the current states: an
// answer can show or hide whole screens, so this is rebuilt after answers.
function pager() {
  const prev = nextShown(S.page, -1), next = nextShown(S.page, +1);
  const index = el('select', { id: 'jump', 'aria-label': t('jump'),
    onchange: (e) => { S.page = Number(e.target.value); renderPage(); } });
  S.pages.forEach((p, i) => index.append(el('option', { value: String(i), selected: i === S.page,
    text: (i + 1) + '. ' + (p.title ? txt(p.title) : t('forms')) })));
  return el('div', { class: 'pager', id: 'pager' },
    el('div', { class: 'row' },
      el('button', { id: 'back', class: 'secondary', disabled: prev < 0, onclick: () => { S.page = prev; renderPage(); }, text: t('back') }),
      next >= 0
        ? el('button', { id: 'next', onclick: () => { S.page = next; renderPage(); }, text: t('next') })
        : el('button', { id: 'finalize', onclick: finalize, text: t('finalize') })),
    el('div', { class: 'row' }, index, el('button', { class: 'secondary', id: 'home', onclick: showHome, text: t('home') })));
}

function renderNode(parent, q, prefix) {
  if (q.type === 'begin_repeat') return renderRepeat(parent, q, prefix);
  const path = prefix + q.name;
  const st = S.states.get(path);
  if (!st) return;
  if (q.type === 'begin_group') {
    const box = el('section', { class: 'group', 'data-path': path, hidden: !st.relevant });
    if (q.parent !== -1 && txt(q.label)) box.append(el('h3', { text: label(q) }));
    for (const c of q.children) renderNode(box, Q(c), prefix);
    parent.append(box);
    return;
  }
  if (HIDDEN_TYPES.includes(q.type)) return;
  parent.append(renderQuestion(q, st));
}

function renderRepeat(parent, q, prefix) {
  const path = prefix + q.name;
  const st = S.states.get(path);
  const box = el('section', { class: 'rep', 'data-path': path, hidden: st && !st.relevant });
  box.append(el('h3', { text: label(q) }));
  const count = [...S.states.keys()].filter((p) => p.startsWith(path + '[') && p.endsWith('/' + Q(q.children[0]).name)
                                                   && !p.slice(path.length).includes('/', p.indexOf(']', path.length) + 2)).length;
  for (let i = 1; i <= count; i++) {
    const ip = path + '[' + i + ']';
    const inst = el('div', { class: 'instance', 'data-instance': ip });
    const head = el('div', { class: 'rep-head' }, el('strong', { text: '#' + i }));
    if (!q.fixed_count) {
      const buttons = el('div', { class: 'row' });
      if (i > 1) buttons.append(el('button', { class: 'secondary', text: t('up'), onclick: () => repeatOp('move', ip, i - 1) }));
      buttons.append(el('button', { class: 'danger', text: t('remove'), 'data-remove': ip, onclick: () => repeatOp('remove', ip) }));
      head.append(buttons);
    }
    inst.append(head);
    for (const c of q.children) renderNode(inst, Q(c), ip + '/');
    box.append(inst);
  }
  if (!q.fixed_count) box.append(el('button', { 'data-add': path, text: t('add') + ' ' + label(q), onclick: () => repeatOp('add', path) }));
  parent.append(box);
}

async function repeatOp(op, path, to) {
  const r = await api('POST', '/v1/records/' + S.record.id + '/repeat', { op, path, to });
  if (op !== 'add') { const fresh = await api('GET', '/v1/records/' + S.record.id); S.states = new Map(fresh.states.map((s) => [s.path, s])); }
  else for (const s of r.changes) S.states.set(s.path, s);
  renderPage(op === 'add' ? r.changes.find((s) => s.path.startsWith(path + '['))?.path : undefined);
  S.applied++;
}

function renderQuestion(q, st) {
  const box = el('div', { class: 'q' + (st.error ? ' has-error' : ''), 'data-path': st.path, 'data-type': q.type, hidden: !st.relevant });
  const id = 'q-' + st.path.replace(/[^\w-]/g, '_');
  const lab = el('label', { class: 'main', for: id, text: label(q) });
  lab.append(el('span', { class: 'req', text: st.required ? '*' : '' }));
  box.append(lab);
  if (txt(q.hint)) box.append(el('p', { class: 'hint', text: txt(q.hint) }));
  const send = (value) => answer(st.path, value);
  const ro = st.read_only;
  switch (q.type) {
    case 'note': box.classList.add('note'); break;
    case 'select_one': case 'select_multiple': case 'select_one_from_file': case 'select_multiple_from_file': case 'rank':
      box.append(renderChoices(q, st, id, send)); break;
    case 'geopoint': case 'geotrace': case 'geoshape': box.append(renderGps(st, id, send)); break;
    case 'image': case 'file': case 'audio': case 'video': box.append(renderPhoto(q, st, id)); break;
    case 'acknowledge':
      box.append(el('label', { class: 'choice' }, el('input', { type: 'checkbox', id, checked: st.value === 'OK', disabled: ro,
        onchange: (e) => send(e.target.checked ? 'OK' : '') }), el('span', { text: t('ack') })));
      break;
    default: {
      const attrs = { id, value: st.value, readonly: ro, onchange: (e) => send(e.target.value) };
      if (q.type === 'integer') Object.assign(attrs, { type: 'text', inputmode: 'numeric', pattern: '-?[0-9]*' });
      else if (q.type === 'decimal' || q.type === 'range') Object.assign(attrs, { type: 'text', inputmode: 'decimal' });
      else if (q.type === 'date') attrs.type = 'date';
      else if (q.type === 'time') attrs.type = 'time';
      else if (q.type === 'dateTime') attrs.type = 'datetime-local';
      else if (q.appearance.includes('numbers')) Object.assign(attrs, { type: 'text', inputmode: 'tel' });
      else attrs.type = 'text';
      box.append(q.appearance.includes('multiline') ? el('textarea', attrs) : el('input', attrs));
    }
  }
  box.append(el('div', { class: 'error', role: 'alert', text: st.error }));
  return box;
}

function renderChoices(q, st, id, send) {
  const wrap = el('div', { class: 'choices', id });
  const multi = q.type.startsWith('select_multiple') || q.type === 'rank';
  api('GET', '/v1/records/' + S.record.id + '/choices?path=' + encodeURIComponent(st.path)).then((choices) => {
    if (choices.length > 12 && !multi) {
      // Long lists (villages): type to search.
      const listId = id + '-list';
      const byLabel = new Map(choices.map((c) => [c.label + ' (' + c.name + ')', c.name]));
      const current = choices.find((c) => c.name === st.value);
      const input = el('input', { type: 'text', list: listId, placeholder: t('search'), 'aria-label': label(q),
        value: current ? current.label + ' (' + current.name + ')' : '',
        onchange: (e) => { const v = byLabel.get(e.target.value); if (v !== undefined || e.target.value === '') send(v || ''); } });
      const dl = el('datalist', { id: listId });
      for (const c of choices) dl.append(el('option', { value: c.label + ' (' + c.name + ')' }));
      wrap.replaceChildren(input, dl);
      return;
    }
    const chosen = new Set(st.value.split(' ').filter(Boolean));
    const kids = choices.map((c) => el('label', { class: 'choice' },
      el('input', { type: multi ? 'checkbox' : 'radio', name: id, value: c.name, checked: chosen.has(c.name), disabled: st.read_only,
        onchange: () => {
          const picked = [...wrap.querySelectorAll('input:checked')].map((i) => i.value);
          send(multi ? picked.join(' ') : picked[0] || '');
        } }),
      el('span', { text: c.label || c.name })));
    wrap.replaceChildren(...kids);
  }).catch(() => {});
  return wrap;
}

function gpsText(value) {
  const [lat, lon, , acc] = value.split(' ').map(Number);
  if (!Number.isFinite(lat) || !Number.isFinite(lon)) return value;
  return lat.toFixed(6) + ', ' + lon.toFixed(6) + (Number.isFinite(acc) ? ' · ' + t('accuracy') + ' ' + Math.round(acc) + ' ' + t('meters') : '');
}

function renderGps(st, id, send) {
  const info = el('div', { class: 'muted', id: id + '-info', text: st.value ? gpsText(st.value) : '' });
  const btn = el('button', { id, type: 'button', text: st.value ? t('gpsAgain') : t('gps') });
  btn.addEventListener('click', () => {
    info.textContent = '…';
    navigator.geolocation.getCurrentPosition((pos) => {
      const c = pos.coords;
      const v = [c.latitude, c.longitude, c.altitude ?? 0, c.accuracy ?? 0].map((n) => Number(n.toFixed(6))).join(' ');
      info.textContent = gpsText(v);
      btn.textContent = t('gpsAgain');
      send(v);
    }, (err) => { info.textContent = t('gpsFail') + err.message; btn.textContent = t('gpsAgain'); },
    { enableHighAccuracy: true, timeout: 30000, maximumAge: 0 });
  });
  return el('div', {}, btn, info);
}

function renderPhoto(q, st, id) {
  const input = el('input', { type: 'file', id, accept: q.type === 'image' ? 'image/*' : '', capture: q.type === 'image' ? 'environment' : false });
  const status = el('div', { class: 'muted' });
  const thumb = el('img', { class: 'thumb', alt: label(q), hidden: !st.value });
  if (st.value) thumb.src = '/v1/attachments/' + st.value.split('.')[0];
  input.addEventListener('change', async () => {
    const file = input.files[0];
    if (!file) return;
    status.textContent = t('uploading');
    const r = await fetch('/v1/records/' + S.record.id + '/photo?path=' + encodeURIComponent(st.path),
                          { method: 'POST', headers: { 'Content-Type': file.type || 'application/octet-stream' }, body: file });
    const j = await r.json();
    if (!r.ok) { status.textContent = r.status === 413 ? t('tooBig') + ': ' + j.message : j.message; S.applied++; return; }
    status.textContent = t('saving');
    applyChanges(j.changes);
    const v = S.states.get(st.path).value;
    thumb.src = '/v1/attachments/' + v.split('.')[0];
    thumb.hidden = false;
  });
  return el('div', {}, el('label', { class: 'button', for: id, text: t('photo') }), input, status, thumb);
}

async function answer(path, value) {
  try {
    const r = await api('POST', '/v1/records/' + S.record.id + '/answer', { path, value });
    applyChanges(r.changes);
  } catch (e) {
    const box = document.querySelector('[data-path="' + CSS.escape(path) + '"] .error');
    if (box) box.textContent = e.message;
    S.applied++;
  }
}

// Patches the page in place with the states that changed, so the question
// being typed into keeps its focus.
function applyChanges(changes) {
  let structural = false;
  for (const s of changes) {
    S.states.set(s.path, s);
    const box = document.querySelector('[data-path="' + CSS.escape(s.path) + '"]');
    if (!box) {
      // A question that should be on this page but is not drawn yet (e.g. a new repeat instance).
      if (s.relevant && !HIDDEN_TYPES.includes(Q(s.q).type) && pageOfPath(s.path) === S.page) structural = true;
      continue;
    }
    box.hidden = !s.relevant;
    if (box.classList.contains('q')) {
      box.classList.toggle('has-error', !!s.error);
      const err = box.querySelector('.error'); if (err) err.textContent = s.error;
      const req = box.querySelector('.req'); if (req) req.textContent = s.required ? '*' : '';
      const input = box.querySelector('input[type=text],input[type=date],input[type=time],textarea');
      if (input && document.activeElement !== input && !input.list) input.value = s.value;
      if (box.dataset.type?.startsWith('select')) {
        const choices = box.querySelector('.choices');
        if (choices && s.relevant) choices.replaceWith(renderChoices(Q(s.q), s, choices.id, (v) => answer(s.path, v)));
      }
    }
  }
  // Choice lists filtered by a changed answer (county -> town -> village).
  const changedNames = new Set(changes.map((s) => nameOf(s.path)));
  for (const box of document.querySelectorAll('.q[data-type^="select"]')) {
    const st = S.states.get(box.dataset.path);
    if (!st || !Q(st.q).filter_refs.some((n) => changedNames.has(n))) continue;
    const choices = box.querySelector('.choices');
    if (choices) choices.replaceWith(renderChoices(Q(st.q), st, choices.id, (v) => answer(st.path, v)));
  }
  if (structural) renderPage();
  else document.getElementById('pager')?.replaceWith(pager());
  S.applied++;
}

async function finalize() {
  const r = await api('POST', '/v1/records/' + S.record.id + '/finalize', {});
  const out = document.getElementById('problems');
  if (r.finalized) {
    app.replaceChildren(el('p', { id: 'finalized', class: 'note', text: t('finalizedOk') }),
      el('div', { class: 'row' }, el('button', { onclick: showHome, text: t('home') })));
    return;
  }
  const ul = el('ul', {});
  for (const p of r.problems) {
    ul.append(el('li', {}, el('a', { href: '#', 'data-goto': p.path, text: p.path + ': ' + p.message,
      onclick: (e) => { e.preventDefault(); S.page = Math.max(0, pageOfPath(p.path)); renderPage(p.path); } })));
  }
  out.replaceChildren(el('h2', { text: t('problems') }), ul);
  out.scrollIntoView();
}

// ---------------------------------------------------------------- language and start

document.getElementById('lang').addEventListener('click', async () => {
  S.lang = S.lang === 'zh' ? 'en' : 'zh';
  document.documentElement.lang = S.lang === 'zh' ? 'zh-CN' : 'en';
  document.getElementById('lang').textContent = S.lang === 'zh' ? 'English' : '中文';
  document.getElementById('lockbtn').textContent = t('lock');
  const status = await api('GET', '/v1/status');
  if (status.locked) return showUnlock('');
  await api('POST', '/v1/language', { lang: S.lang });
  if (S.record) openRecord(S.record.id, undefined); else showHome();
});
document.getElementById('lockbtn').addEventListener('click', lock);

// The page locks itself on the same idle timer as the store, so nothing
// decrypted stays on the screen of a phone left lying on a table.
let idleTimer = null, idleSeconds = 600;
function armIdle() {
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => { if (!document.getElementById('passphrase')) lock(); }, idleSeconds * 1000);
}
for (const ev of ['pointerdown', 'keydown', 'input', 'touchstart']) document.addEventListener(ev, armIdle, { passive: true });

(async () => {
  const status = await api('GET', '/v1/status');
  idleSeconds = status.idle_lock_seconds || 600;
  armIdle();
  S.lang = status.language === 'en' ? 'en' : 'zh';
  document.getElementById('lang').textContent = S.lang === 'zh' ? 'English' : '中文';
  document.getElementById('lockbtn').textContent = t('lock');
  if (status.locked) showUnlock(''); else showHome();
})();
