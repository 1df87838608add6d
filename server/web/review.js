// The supervisor's review pages: log in, the queue (filters, sorting,
// paging, bulk approve), one record (answers with their labels, history of
// every field, conflicts, review actions). Plain JS over the /v1 API; the
// token lives in sessionStorage only.
'use strict';

const T = {
  zh: {
    app: '田野 · 审核', login: '登录', user: '用户名', password: '密码', logout: '退出', queue: '审核队列',
    form: '表单', status: '状态', area: '地区', author: '调查员', conflictsOnly: '仅有冲突', photosPendingOnly: '照片未到', problemsOnly: '不符合表单校验', flags: '提示', formProblems: '答案不符合表单校验的项数', problems: '表单校验问题', unchecked: '另有 {n} 条记录尚在校验中', notChecked: '此表单版本未安装在服务器上，无法校验', shuozhou: '朔州市范围', gpsOutsideCity: '定位不在朔州市范围内', search: '搜索答案',
    filter: '筛选', any: '全部', updated: '更新时间', created: '创建时间', record: '记录', conflicts: '冲突',
    prev: '上一页', next: '下一页', page: '第 {p} 页，共 {n} 条', approveSelected: '批量通过',
    exportCsv: '导出 CSV', exportPhotos: '照片 ZIP', exportNeedsForm: '导出前请先选择表单',
    back: '返回队列', answers: '答案', history: '修改历史', field: '字段', value: '值', by: '修改人', device: '设备',
    when: '时间', kind: '方式', approve: '通过', hasIssues: '有问题', return: '退回调查员', reject: '不通过',
    commentLabel: '意见（退回时必填）', needComment: '退回需要填写意见', done: '已保存', take: '采用此值', mergedValue: '或填写核实后的值', useMerged: '采用填写的值', keepBoth: '两者都保留',
    base: '原值', none: '（空）', alreadyResolved: '已被他人处理，请刷新', comment: '审核意见：', empty: '没有符合条件的记录',
    draft: '草稿', finalized: '待审核', returned: '已退回', approved: '已通过', rejected: '未通过', has_issues: '有问题',
    toilet: '农村户厕', housing: '农村住房安全', germplasm: '种质资源', wrongLogin: '用户名或密码错误',
    dashboard: '看板', level: '按', county: '县', township: '乡镇', village: '村', households: '户数',
    sanitary: '卫生厕所', coverage: '卫生厕所普及率（目标 80%）', harmless: '无害化', problemHH: '问题户',
    fixed: '问题整改', overdue: '超期', assessed: '鉴定户数', grades: '等级 A/B/C/D', securedRate: '住房安全保障率',
    alerts: '低收入户住 C/D 级房', red: '在住 D 级危房（红色预警）', samples: '征集份数', atRisk: '濒危/减少',
    quality: '数据质量', perDay: '每人每日记录数', day: '日期', records: '记录数', medianMinutes: '调查时长中位数（分钟）',
    gpsOutside: 'GPS 不在本县', total: '合计', photoPending: '照片尚未上传到服务器', crop: '作物', livestock: '畜禽', aquatic: '水产', fungi: '食用菌',
    inspected: '摸排覆盖率（已摸排户/户籍户数）', noRegistered: 'villages.csv 未填写户籍户数（hh_registered）', inUse: '改厕户正常使用率', problemRate: '问题厕所率', cleared: '问题户销号率', onTime: '按期整改率', frozen: '冬季冻结停用率',
    manure: '粪污有效管护率', oldLatrine: '旧厕拆除率', satisfaction: '满意度', subsidyMean: '户均补助（元）', selfPaid: '自筹占比',
    toiletTypes: '卫生厕所类型结构', noHouse: '无房户', newDanger: '新增危房', seismic: '8度区防灾措施具备率', seismicNone: '完全不具备',
    highRisk: '高风险结构占比', over30: '房龄30年以上', siteDanger: '场地危险户', overridden: '等级改判',
    dangerByCategory: '危房户按对象类别', dangerByStructure: '危房户按结构', measures: '改造进度', daysToDone: '调查至竣工天数中位数',
    hazards: '场地隐患（场地危险户）', landrace: '地方品种/野生占比', deposited: '入库（移交）率', complete: '数据完整率',
    townships: '乡镇覆盖', traits: '特性分布', syncHours: '调查结束到同步的小时数中位数', gpsInaccurate: 'GPS 精度差于 50 米',
    shortSurveys: '调查时长不足 5 分钟', formProblemRecords: '不符合表单校验的记录', photosMissing: '缺少必拍照片的记录', duplicates: '同一户重复记录',
    byInspector: '按调查员', byMonth: '按月记录数', month: '月份',
    admin: '管理', users: '用户', displayName: '姓名', userRole: '角色', areas: '负责地区（代码，逗号分隔；* 为全部）',
    userDisabled: '停用', save: '保存', newPassword: '新密码（不改则留空）', addUser: '添加用户', formVersions: '表单版本',
    formVersion: '版本', installedAt: '安装时间', uploadForm: '安装新版本（XLSForm .xlsx 或 JSON）', install: '安装',
    saved: '已保存', installedForm: '已安装', inspector: '检查员', surveyor: '普查员', supervisor: '审核员', adminRole: '管理员',
    priorityCoverage: '重点对象鉴定覆盖率（今年已鉴定/名单户数）', unassessed: '名单内今年尚未鉴定的户',
    priorityList: '低收入户名单（民政/乡村振兴部门）', priorityHelp: 'CSV，表头含 hh_key（村代码-户编号）和 category（dibao、tekun、dibao_edge、return_risk、hardship、other_exit）；导入后替换所涉各县的名单',
    importList: '导入名单', importedList: '已导入', noList: '尚未导入名单',
    breeds: '畜禽地方品种群体状况', breed: '品种', males: '种公畜(禽)', females: '能繁母畜/种母禽', ne: '有效群体含量 Ne',
    families: '家系数', trend: '数量消长', trackedTitle: '重点特色资源面积/存栏', resource: '资源', year: '年份',
    areaMu: '种植面积(亩)', stock: '存栏',
  },
  en: {
    app: 'Tianye · Review', login: 'Log in', user: 'User name', password: 'Password', logout: 'Log out', queue: 'Review queue',
    form: 'Form', status: 'Status', area: 'Area', author: 'Inspector', conflictsOnly: 'Conflicts only', photosPendingOnly: 'Photos pending', problemsOnly: 'Constraint problems', flags: 'Flags', formProblems: 'Answers that fail the form\'s checks', problems: 'Form check problems', unchecked: '{n} more records are still being checked', notChecked: 'This form version is not installed on the server, so it cannot be checked', shuozhou: 'Shuozhou', gpsOutsideCity: 'The point lies outside Shuozhou',
    search: 'Search answers', filter: 'Filter', any: 'All', updated: 'Updated', created: 'Created', record: 'Record',
    conflicts: 'Conflicts', prev: 'Previous', next: 'Next', page: 'Page {p}, {n} records',
    approveSelected: 'Approve selected', exportCsv: 'Export CSV', exportPhotos: 'Photos (ZIP)', exportNeedsForm: 'Choose a form to export',
    back: 'Back to the queue', answers: 'Answers', history: 'History',
    field: 'Field', value: 'Value', by: 'By', device: 'Device', when: 'When', kind: 'How', approve: 'Approve',
    hasIssues: 'Has issues', return: 'Return to inspector', reject: 'Reject',
    commentLabel: 'Comment (needed to return)', needComment: 'Returning a record needs a comment', done: 'Saved',
    take: 'Take this value', mergedValue: 'Or enter the checked value', useMerged: 'Use the entered value', keepBoth: 'Keep both', base: 'Before', none: '(empty)', alreadyResolved: 'Someone resolved it first; reload',
    comment: 'Reviewer comment: ', empty: 'No records match', draft: 'Draft', finalized: 'To review',
    returned: 'Returned', approved: 'Approved', rejected: 'Rejected', has_issues: 'Has issues',
    toilet: 'Household toilet', housing: 'Housing safety', germplasm: 'Germplasm', wrongLogin: 'Wrong user name or password',
    dashboard: 'Dashboard', level: 'By', county: 'county', township: 'township', village: 'village',
    households: 'Households', sanitary: 'Sanitary', coverage: 'Sanitary-toilet coverage (target 80%)',
    harmless: 'Harmless', problemHH: 'Problem households', fixed: 'Problems fixed', overdue: 'Overdue',
    assessed: 'Assessed', grades: 'Grades A/B/C/D', securedRate: 'Housing secured', alerts: 'Low-income households in C/D houses',
    red: 'Living in a D house (red alert)', samples: 'Samples', atRisk: 'At risk', quality: 'Data quality',
    perDay: 'Records per inspector per day', day: 'Day', records: 'Records', medianMinutes: 'Median survey length (minutes)',
    gpsOutside: 'GPS outside the county', total: 'Total', photoPending: 'The photo has not reached the server yet', crop: 'crop', livestock: 'livestock', aquatic: 'aquatic', fungi: 'fungi',
    inspected: 'Inspection coverage (households / registered)', noRegistered: 'villages.csv gives no registered households (hh_registered)',
    inUse: 'Renovated toilets in normal use', problemRate: 'Problem toilets', cleared: 'Problem households cleared',
    onTime: 'Fixed on time', frozen: 'Froze last winter', manure: 'Manure managed', oldLatrine: 'Old latrine removed',
    satisfaction: 'Satisfied', subsidyMean: 'Mean subsidy (yuan)', selfPaid: 'Self-paid share', toiletTypes: 'Sanitary toilets by type',
    noHouse: 'No house', newDanger: 'Newly unsafe', seismic: 'Seismic measures (intensity 8)', seismicNone: 'None at all',
    highRisk: 'High-risk structures', over30: 'Over 30 years old', siteDanger: 'Dangerous sites', overridden: 'Grade overridden',
    dangerByCategory: 'C/D houses by category', dangerByStructure: 'C/D houses by structure', measures: 'Works progress',
    daysToDone: 'median days from survey to done', hazards: 'Hazards of dangerous sites', landrace: 'Landraces or wild',
    deposited: 'Deposited', complete: 'Complete', townships: 'Townships visited', traits: 'Traits',
    syncHours: 'Median hours from survey end to the server', gpsInaccurate: 'GPS worse than 50 m',
    shortSurveys: 'Surveys under 5 minutes', formProblemRecords: 'Records failing the form checks', photosMissing: 'Records missing a required photo',
    duplicates: 'Households recorded twice', byInspector: 'By inspector', byMonth: 'Records per month', month: 'Month',
    admin: 'Admin', users: 'Users', displayName: 'Name', userRole: 'Role', areas: 'Areas (codes, comma-separated; * everywhere)',
    userDisabled: 'Disabled', save: 'Save', newPassword: 'New password (empty: unchanged)', addUser: 'Add user', formVersions: 'Form versions',
    formVersion: 'Version', installedAt: 'Installed', uploadForm: 'Install a new version (XLSForm .xlsx or JSON)', install: 'Install',
    saved: 'Saved', installedForm: 'Installed', inspector: 'inspector', surveyor: 'surveyor', supervisor: 'supervisor', adminRole: 'admin',
    priorityCoverage: 'Listed low-income households assessed this year', unassessed: 'Listed households not assessed this year',
    priorityList: 'Low-income household list (civil affairs)', priorityHelp: 'CSV with the columns hh_key (village code-household no.) and category (dibao, tekun, dibao_edge, return_risk, hardship, other_exit); an import replaces the list of each county it names',
    importList: 'Import list', importedList: 'Imported', noList: 'No list imported yet',
    breeds: 'Local livestock breeds: populations', breed: 'Breed', males: 'Breeding males', females: 'Breeding females',
    ne: 'Effective population Ne', families: 'Sire families', trend: 'Trend', trackedTitle: 'Tracked local resources: area and stock',
    resource: 'Resource', year: 'Year', areaMu: 'Area grown (mu)', stock: 'Stock',
  },
};
const S = { lang: sessionStorage.getItem('lang') || 'zh', token: sessionStorage.getItem('token'), me: null,
            query: { sort: 'updated', order: 'desc', page: 1 }, forms: new Map() };
const app = document.getElementById('app');
const t = (k) => T[S.lang][k] ?? k;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else if (v !== false && v != null) e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid != null) e.append(kid);
  return e;
}

async function api(method, path, body) {
  const headers = {};
  if (S.token) headers.Authorization = 'Bearer ' + S.token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const j = await r.json().catch(() => null);
  if (r.status === 401 && path !== '/v1/login') { logout(false); throw new Error(j?.message || 'log in again'); }
  if (!r.ok) { const e = new Error(j?.message || r.statusText); e.code = j?.error; throw e; }
  return j;
}

const when = (ms) => ms ? new Date(ms).toLocaleString(S.lang === 'zh' ? 'zh-CN' : 'en-GB') : '';
const statusChip = (s) => el('span', { class: 'status ' + s, text: t(s || 'draft') });
// Area names from the forms' lists (GET /v1/areas), by 12-digit code.
const areaName = (code) => {
  const full = code && code.length < 12 ? code.padEnd(12, '0') : code;
  return S.names?.get(full) || code || '';
};
const areaText = (a) => areaName(a.village || a.township || a.county || '');

// ---------------------------------------------------------------- login

function showLogin(message) {
  document.getElementById('logout').hidden = true;
  document.getElementById('who').textContent = '';
  const user = el('input', { id: 'login-user', autocomplete: 'username' });
  const pass = el('input', { id: 'login-password', type: 'password', autocomplete: 'current-password' });
  const msg = el('p', { id: 'login-msg', class: 'error', role: 'alert', text: message || '' });
  const go = async () => {
    let device = localStorage.getItem('device');
    if (!device) { device = 'web-' + crypto.getRandomValues(new Uint32Array(2)).join(''); localStorage.setItem('device', device); }
    try {
      const r = await api('POST', '/v1/login', { username: user.value, password: pass.value, device_id: device });
      S.token = r.token; S.me = r.user;
      sessionStorage.setItem('token', r.token);
      pass.value = '';
      start();
    } catch (e) { msg.textContent = e.code === 'unauthenticated' ? t('wrongLogin') : e.message; }
  };
  pass.addEventListener('keydown', (e) => { if (e.key === 'Enter') go(); });
  app.replaceChildren(el('section', { class: 'card login' }, el('h2', { text: t('login') }),
    el('label', { for: 'login-user', text: t('user') }), user,
    el('label', { for: 'login-password', text: t('password') }), pass,
    el('div', { class: 'row' }, el('button', { id: 'login-go', onclick: go, text: t('login') })), msg));
  user.focus();
}

async function logout(tell) {
  if (tell && S.token) await api('POST', '/v1/logout', {}).catch(() => {});
  S.token = null; S.me = null;
  sessionStorage.removeItem('token');
  showLogin('');
}

async function start() {
  try { S.me = await api('GET', '/v1/me'); } catch { return; }
  if (!S.areas) {
    S.areas = await api('GET', '/v1/areas').catch(() => ({ counties: [], towns: [], villages: [] }));
    S.names = new Map([...S.areas.counties, ...S.areas.towns, ...S.areas.villages].map((a) => [a.code, a.name]));
  }
  document.getElementById('who').textContent = S.me.username;
  document.getElementById('logout').hidden = false;
  route();
}

function route() {
  const m = location.hash.match(/^#record\/([0-9a-f-]+)$/);
  if (m) showRecord(m[1]);
  else if (location.hash === '#dashboard') showDashboard();
  else if (location.hash === '#admin' && S.me?.role === 'admin') showAdmin();
  else showQueue();
}

function tabs(current) {
  return el('nav', { class: 'row tabs' },
    el('button', { id: 'tab-queue', class: current === 'queue' ? '' : 'secondary', text: t('queue'),
                   onclick: () => { location.hash = ''; } }),
    el('button', { id: 'tab-dashboard', class: current === 'dashboard' ? '' : 'secondary', text: t('dashboard'),
                   onclick: () => { location.hash = 'dashboard'; } }),
    S.me?.role === 'admin' ? el('button', { id: 'tab-admin', class: current === 'admin' ? '' : 'secondary', text: t('admin'),
                                            onclick: () => { location.hash = 'admin'; } }) : null);
}
window.addEventListener('hashchange', () => { if (S.token) route(); });

// ---------------------------------------------------------------- queue

// County → township → village selects; value() is the deepest code chosen.
function areaPicker(current) {
  const pick = (id, labelKey, items, selected) => {
    const s = el('select', { id }, el('option', { value: '', text: t('any') }),
                 ...items.map((a) => el('option', { value: a.code, text: a.name })));
    s.value = items.some((a) => a.code === selected) ? selected : '';
    return { s, label: el('label', { for: id }, t(labelKey), s) };
  };
  const cur = current || '';
  const county = pick('f-county', 'county', S.areas.counties, cur.slice(0, 6).padEnd(12, '0'));
  const town = pick('f-town', 'township', S.areas.towns.filter((a) => a.county === county.s.value),
                    cur.slice(0, 9).padEnd(12, '0'));
  const village = pick('f-village', 'village', S.areas.villages.filter((a) => a.town === town.s.value), cur);
  const refill = (target, items) => {
    target.s.replaceChildren(el('option', { value: '', text: t('any') }),
                             ...items.map((a) => el('option', { value: a.code, text: a.name })));
  };
  county.s.onchange = () => { refill(town, S.areas.towns.filter((a) => a.county === county.s.value)); refill(village, []); };
  town.s.onchange = () => refill(village, S.areas.villages.filter((a) => a.town === town.s.value));
  return { controls: [county.label, town.label, village.label],
           value: () => village.s.value || town.s.value || county.s.value };
}

async function showQueue() {
  const q = S.query;
  const input = (key, attrs) => el('input', { id: 'f-' + key, value: q[key] || '', ...attrs });
  const select = (key, options) => {
    const s = el('select', { id: 'f-' + key }, el('option', { value: '', text: t('any') }),
                 ...options.map((o) => el('option', { value: o, text: t(o) })));
    s.value = q[key] || '';
    return s;
  };
  const f = {
    form: select('form', ['toilet', 'housing', 'germplasm']),
    status: select('status', ['finalized', 'returned', 'has_issues', 'approved', 'rejected']),
    area: areaPicker(q.area),
    author: input('author', {}),
    q: input('q', { type: 'search' }),
    conflicts: el('input', { id: 'f-conflicts', type: 'checkbox', checked: q.conflicts === '1' }),
    photos: el('input', { id: 'f-photos', type: 'checkbox', checked: q.photos === 'pending' }),
    problems: el('input', { id: 'f-problems', type: 'checkbox', checked: q.problems === '1' }),
  };
  const apply = () => {
    for (const k of ['form', 'status', 'author', 'q']) q[k] = f[k].value.trim();
    q.area = f.area.value();
    q.conflicts = f.conflicts.checked ? '1' : '';
    q.photos = f.photos.checked ? 'pending' : '';
    q.problems = f.problems.checked ? '1' : '';
    q.page = 1;
    showQueue();
  };
  const label = (key, control) => el('label', { for: 'f-' + key }, t(key === 'q' ? 'search' : key), control);
  const filters = el('form', { class: 'card filters', id: 'filters', onsubmit: (e) => { e.preventDefault(); apply(); } },
    label('form', f.form), label('status', f.status), ...f.area.controls, label('author', f.author),
    label('q', f.q), el('label', { class: 'check', for: 'f-conflicts' }, f.conflicts, t('conflictsOnly')),
    el('label', { class: 'check', for: 'f-photos' }, f.photos, t('photosPendingOnly')),
    el('label', { class: 'check', for: 'f-problems' }, f.problems, t('problemsOnly')),
    el('button', { id: 'f-go', type: 'submit', text: t('filter') }));
  const msg = el('p', { id: 'queue-msg', class: 'error', role: 'alert' });
  app.replaceChildren(tabs('queue'), filters, msg);
  const params = new URLSearchParams(Object.entries(q).filter(([, v]) => v !== '' && v != null));
  let list;
  try { list = await api('GET', '/v1/review/records?' + params); } catch (e) { msg.textContent = e.message; return; }

  const sortBy = (key) => el('button', { type: 'button', 'data-sort': key, text: t(key) + (q.sort === key ? (q.order === 'asc' ? ' ▲' : ' ▼') : ''),
    onclick: () => { q.order = q.sort === key && q.order === 'desc' ? 'asc' : 'desc'; q.sort = key; showQueue(); } });
  const selected = new Set();
  const bulk = el('button', { id: 'bulk-approve', disabled: true, text: t('approveSelected'), onclick: async () => {
    bulk.disabled = true;
    for (const r of list.records.filter((x) => selected.has(x.id))) {
      try { await api('POST', `/v1/records/${r.id}/review`, { status: 'approved', seen_version: r.version }); }
      catch (e) { msg.textContent = r.id.slice(0, 8) + ': ' + e.message; }
    }
    showQueue();
  } });
  // Downloads the filtered queue as `file` (records.csv, records.xlsx: one
  // form; records.geojson, photos.zip: any).
  const download = async (file) => {
    if (file.startsWith('records.') && !file.endsWith('.geojson') && !q.form) {
      msg.textContent = t('exportNeedsForm');
      return;
    }
    const p = new URLSearchParams(Object.entries(q).filter(([k, v]) => v !== '' && v != null && k !== 'page'));
    const r = await fetch(`/v1/export/${file}?${p}`, { headers: { Authorization: 'Bearer ' + S.token } });
    if (!r.ok) { msg.textContent = (await r.json().catch(() => ({}))).message || r.statusText; return; }
    const a = el('a', { href: URL.createObjectURL(await r.blob()), download: `${q.form || 'records'}-${file}` });
    document.body.append(a);
    a.click();
    a.remove();
  };
  const exportButton = (id, text, file) => el('button', { id, class: 'secondary', text, onclick: () => download(file) });
  const exports = [exportButton('export-csv', t('exportCsv'), 'records.csv'),
                   exportButton('export-xlsx', 'Excel', 'records.xlsx'),
                   exportButton('export-geojson', 'GeoJSON', 'records.geojson'),
                   exportButton('export-photos', t('exportPhotos'), 'photos.zip')];
  const rows = list.records.map((r) => {
    const box = el('input', { type: 'checkbox', 'aria-label': r.id, onclick: (e) => {
      e.stopPropagation();
      if (box.checked) selected.add(r.id); else selected.delete(r.id);
      bulk.disabled = selected.size === 0;
    } });
    return el('tr', { class: 'rec', 'data-record': r.id, onclick: () => { location.hash = 'record/' + r.id; } },
      el('td', {}, box), el('td', { 'data-label': t('record') }, r.id.slice(-8)),
      el('td', { 'data-label': t('form'), text: t(r.form_id) }), el('td', { 'data-label': t('area'), text: areaText(r.area) }),
      el('td', { 'data-label': t('status') }, statusChip(r.status)), el('td', { 'data-label': t('author'), text: r.author }),
      el('td', { 'data-label': t('updated'), text: when(r.updated_ms) }),
      el('td', { 'data-label': r.open_conflicts || r.photos_pending || r.form_problems > 0 ? t('flags') : null },
         r.open_conflicts ? el('span', { class: 'flag', text: '⚠ ' + r.open_conflicts }) : '',
         r.photos_pending ? el('span', { class: 'flag photos', title: t('photoPending'), text: ' 📷 ' + r.photos_pending }) : '',
         r.form_problems > 0 ? el('span', { class: 'flag problems', title: t('formProblems'), text: ' ✗ ' + r.form_problems }) : ''));
  });
  const table = el('table', { class: 'queue', id: 'queue' },
    el('thead', {}, el('tr', {}, el('th', {}), el('th', { text: t('record') }), el('th', {}, sortBy('form')),
      el('th', {}, sortBy('area')), el('th', {}, sortBy('status')), el('th', {}, sortBy('author')),
      el('th', {}, sortBy('updated')), el('th', { text: t('flags') }))),
    el('tbody', {}, ...rows));
  const pages = Math.max(1, Math.ceil(list.total / list.per_page));
  const pager = el('div', { class: 'row' },
    el('button', { class: 'secondary', id: 'prev', disabled: q.page <= 1, text: t('prev'), onclick: () => { q.page--; showQueue(); } }),
    el('span', { id: 'page-info', text: t('page').replace('{p}', `${q.page}/${pages}`).replace('{n}', list.total) }),
    el('button', { class: 'secondary', id: 'next', disabled: q.page >= pages, text: t('next'), onclick: () => { q.page++; showQueue(); } }),
    bulk, ...exports);
  const waiting = list.unchecked ? el('p', { id: 'queue-unchecked', class: 'muted', text: t('unchecked').replace('{n}', list.unchecked >= 1000 ? '1000+' : list.unchecked) }) : null;
  app.append(list.records.length ? table : el('p', { id: 'queue-empty', class: 'muted', text: t('empty') }), ...(waiting ? [waiting] : []), pager);
}

// ---------------------------------------------------------------- record

async function formLabels(id, version) {
  const key = id + '@' + version;
  if (!S.forms.has(key)) {
    const def = await api('GET', `/v1/forms/${encodeURIComponent(id)}/${encodeURIComponent(version)}`).catch(() => null);
    const names = new Map(), choices = new Map();
    for (const q of def?.survey || []) {
      if (q.name) names.set(q.name, { zh: q['label::zh'] || q.label, en: q['label::en'] || q.label, type: q.type || '' });
    }
    for (const c of def?.choices || []) {
      choices.set(c.list_name + '\n' + c.name, { zh: c['label::zh'] || c.label, en: c['label::en'] || c.label });
    }
    S.forms.set(key, { names, choices });
  }
  return S.forms.get(key);
}

function answerText(labels, name, value) {
  const q = labels.names.get(name);
  const list = q && /^select_(one|multiple)\s+(\S+)/.exec(q.type);
  if (!list || typeof value !== 'string') return typeof value === 'string' ? value : JSON.stringify(value);
  return value.split(' ').map((v) => labels.choices.get(list[2] + '\n' + v)?.[S.lang] || v).join('、');
}

// A field key as a reader sees it: "problems[i1]/prob_type" -> "问题与整改 i1 · 问题类型".
function fieldLabel(labels, key) {
  return key.split('/').map((part) => {
    const m = /^([^[]+)(?:\[([^\]]+)\])?$/.exec(part);
    const label = (m && labels.names.get(m[1])?.[S.lang]) || (m ? m[1] : part);
    return m && m[2] ? `${label} ${m[2]}` : label;
  }).join(' · ');
}

// A photo answer ("<sha256>.jpg") as a thumbnail; a click shows it whole.
function photo(recordId, value) {
  const sha = value.slice(0, 64);
  const img = el('img', { class: 'thumb', alt: value, 'data-sha': sha });
  const link = el('a', { href: '#', class: 'photo' }, img);
  fetch(`/v1/records/${recordId}/files/${sha}`, { headers: { Authorization: 'Bearer ' + S.token } })
    .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(r.statusText))))
    .then((blob) => {
      const src = URL.createObjectURL(blob);
      img.src = src;
      link.onclick = (e) => { e.preventDefault(); window.open(src, '_blank'); };
    })
    .catch(() => link.replaceWith(el('span', { class: 'muted', text: t('photoPending') })));
  return link;
}

// A geopoint answer ("lat lon altitude accuracy") as text, a small map of
// where it lies in Shuozhou (the frame is the city's bounding box, the one
// the forms' gps_in_area check uses; nothing is fetched), and a geo: link
// that opens the phone's own map app.
const SHUOZHOU = { south: 38.9, north: 40.4, west: 111.7, east: 113.8 };
function gpsPoint(value) {
  const [lat, lon, , acc] = value.trim().split(/\s+/).map(Number);
  if (!Number.isFinite(lat) || !Number.isFinite(lon)) return document.createTextNode(value);
  const text = `${lat.toFixed(5)}°N ${lon.toFixed(5)}°E` + (Number.isFinite(acc) ? ` ±${Math.round(acc)} m` : '');
  const w = 210, h = 150;
  const x = ((lon - SHUOZHOU.west) / (SHUOZHOU.east - SHUOZHOU.west)) * w;
  const y = ((SHUOZHOU.north - lat) / (SHUOZHOU.north - SHUOZHOU.south)) * h;
  const inside = x >= 0 && x <= w && y >= 0 && y <= h;
  const map = svg('svg', { class: 'gps-map', width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: 'img',
                           'aria-label': text },
    svg('rect', { x: 0.5, y: 0.5, width: w - 1, height: h - 1, fill: '#f3f6f4', stroke: '#8a9a90' }),
    svg('text', { x: 6, y: 14, 'font-size': 11, fill: '#55625a' }, t('shuozhou')),
    inside ? svg('circle', { cx: x, cy: y, r: 5, fill: '#c0392b', stroke: '#fff', 'stroke-width': 1.5 }) : '');
  return el('div', { class: 'gps' }, el('a', { href: `geo:${lat},${lon}`, class: 'gps-text', text: text }),
            inside ? map : el('div', { class: 'error', text: t('gpsOutsideCity') }));
}

function answers(labels, values, recordId) {
  const dl = el('dl', { class: 'answers' });
  for (const [name, value] of Object.entries(values)) {
    if (name === '_id' || name === '_order') continue;  // a repeat instance's own id and order key
    const label = labels.names.get(name)?.[S.lang] || name;
    if (Array.isArray(value)) {
      dl.append(el('dt', { text: label }),
                el('dd', {}, ...value.map((inst) => el('div', { class: 'repeat' }, answers(labels, inst, recordId)))));
    } else if (value && typeof value === 'object') {
      dl.append(el('dt', { text: label }), el('dd', {}, answers(labels, value, recordId)));
    } else if (value !== '' && value != null) {
      const isPhoto = typeof value === 'string' && /^[0-9a-f]{64}(\.\w+)?$/.test(value);
      const isPoint = labels.names.get(name)?.type === 'geopoint';
      dl.append(el('dt', { 'data-field': name, text: label }),
                isPhoto ? el('dd', {}, photo(recordId, value))
                : isPoint ? el('dd', {}, gpsPoint(String(value)))
                : el('dd', { text: answerText(labels, name, value) }));
    }
  }
  return dl;
}

// An open conflict: the base value and every candidate side by side (who,
// which device, when), each with "take this value"; a merged value the
// supervisor types; "keep both" when the server says the field allows it.
function conflictCard(c, d, labels, msg) {
  const question = c.field.split('/').pop();
  const resolve = async (choice) => {
    try {
      await api('POST', `/v1/review/conflicts/${c.id}/resolve`, { ...choice, seen_version: c.version });
      showRecord(d.record.id);
    } catch (e) { msg.textContent = e.code === 'already_resolved' ? t('alreadyResolved') : e.message; }
  };
  const shown = (v) => (v == null ? t('none') : answerText(labels, question, v));
  const merged = el('textarea', { class: 'merged', rows: 2, 'aria-label': t('mergedValue') });
  merged.value = d.fields[c.field] ?? '';
  return el('section', { class: 'card conflict', 'data-conflict': c.id, 'data-field': c.field },
    el('h2', { text: `⚠ ${fieldLabel(labels, c.field)}` }),
    el('p', { class: 'muted', text: `${t('base')}: ${shown(c.base_value)}` }),
    el('div', { class: 'candidates' }, ...c.candidates.map((cand) => el('div', { class: 'candidate' },
      el('div', { class: 'value', text: shown(cand.value) }),
      el('div', { class: 'muted', text: `${cand.author} · ${t('device')} ${cand.device.slice(-8)} · ${when(cand.received_ms)}` +
                                        (cand.clock_ahead ? ' · ⏱' : '') }),
      el('button', { class: 'secondary take', text: t('take'), onclick: () => resolve({ value: cand.value }) })))),
    el('label', { text: t('mergedValue') }, merged),
    el('div', { class: 'row' },
      el('button', { class: 'secondary merge', text: t('useMerged'), onclick: () => resolve({ value: merged.value }) }),
      c.keep_both ? el('button', { class: 'secondary keep-both', text: t('keepBoth'), onclick: () => resolve({ keep: 'both' }) })
                  : null));
}

async function showRecord(id) {
  const msg = el('p', { id: 'record-msg', class: 'error', role: 'alert' });
  app.replaceChildren(el('div', { class: 'row' }, el('button', { class: 'secondary', id: 'back', text: t('back'),
                                                              onclick: () => { location.hash = ''; } })), msg);
  let d;
  try { d = await api('GET', `/v1/records/${id}?lang=${S.lang}`); } catch (e) { msg.textContent = e.message; return; }
  const r = d.record;
  const labels = await formLabels(r.form_id, r.form_version);
  const comment = el('textarea', { id: 'review-comment', 'aria-label': t('commentLabel') });
  const act = (status) => async () => {
    if (status === 'returned' && !comment.value.trim()) { msg.textContent = t('needComment'); return; }
    try {
      await api('POST', `/v1/records/${id}/review`, { status, comment: comment.value.trim(), seen_version: r.version });
      msg.textContent = '';
      showRecord(id);
    } catch (e) { msg.textContent = e.message; }
  };
  const head = el('section', { class: 'card' },
    el('h2', { id: 'record-title', text: `${t(r.form_id)} · ${areaText(r.area)} · ${r.author}` }),
    el('p', {}, statusChip(r.status), ' ', el('span', { class: 'muted', text: `${t('updated')} ${when(r.updated_ms)} · ${id}` })),
    d.comment ? el('p', { class: 'comment', id: 'record-comment', text: t('comment') + d.comment }) : null,
    el('label', { for: 'review-comment', text: t('commentLabel') }), comment,
    el('div', { class: 'row' },
      el('button', { id: 'act-approve', onclick: act('approved'), text: t('approve') }),
      el('button', { id: 'act-issues', class: 'warn', onclick: act('has_issues'), text: t('hasIssues') }),
      el('button', { id: 'act-return', class: 'secondary', onclick: act('returned'), text: t('return') }),
      el('button', { id: 'act-reject', class: 'danger', onclick: act('rejected'), text: t('reject') })));
  const conflicts = d.conflicts.filter((c) => c.state === 'open').map((c) => conflictCard(c, d, labels, msg));
  const history = el('table', { class: 'history', id: 'history' },
    el('thead', {}, el('tr', {}, ...['when', 'field', 'value', 'by', 'device', 'kind'].map((k) => el('th', { text: t(k) })))),
    el('tbody', {}, ...d.history.map((h) => el('tr', {},
      el('td', { text: when(h.received_ms) }), el('td', { text: fieldLabel(labels, h.field) }),
      el('td', { text: h.value ?? t('none') }), el('td', { text: h.author }),
      el('td', { text: h.device.slice(-8) }), el('td', { text: h.kind })))));
  // What fails the form's checks now (null: the form version is not on the server).
  const problems = d.problems === null ? el('section', { class: 'card', id: 'problems' }, el('p', { class: 'muted', text: t('notChecked') }))
    : d.problems.length ? el('section', { class: 'card', id: 'problems' }, el('h2', { text: t('problems') }),
        el('ul', {}, ...d.problems.map((p) => el('li', { 'data-path': p.path },
          el('strong', { text: fieldLabel(labels, p.path) }), '：', p.message))))
    : null;
  app.append(head, ...(problems ? [problems] : []), ...conflicts, el('section', { class: 'card', id: 'answers' }, el('h2', { text: t('answers') }), answers(labels, d.values, id)),
             el('section', { class: 'card' }, el('h2', { text: t('history') }), el('div', { class: 'scroll' }, history)));
}

// ---------------------------------------------------------------- dashboard

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const kid of kids) e.append(kid);
  return e;
}
const pct = (x) => x == null ? '–' : (100 * x).toFixed(1) + '%';

// A bar of `value` (0..1) with the target line drawn across it.
function bar(value, target) {
  const w = 160, fill = value == null ? 0 : Math.min(1, value) * w;
  const ok = value != null && (target == null || value >= target);
  const e = svg('svg', { width: w, height: 14, viewBox: `0 0 ${w} 14`, role: 'img', 'aria-label': pct(value) },
    svg('rect', { x: 0, y: 2, width: w, height: 10, fill: '#e4e8ec' }),
    svg('rect', { x: 0, y: 2, width: fill, height: 10, fill: ok ? '#2e7d32' : '#c62828' }));
  if (target != null) e.append(svg('line', { x1: target * w, x2: target * w, y1: 0, y2: 14, stroke: '#111', 'stroke-width': 2 }));
  return e;
}

// The A/B/C/D shares as one stacked bar.
function gradeBar(grades) {
  const colors = { A: '#2e7d32', B: '#9ccc65', C: '#ffa000', D: '#c62828' };
  const total = Object.values(grades).reduce((a, b) => a + b, 0) || 1;
  const e = svg('svg', { width: 160, height: 14, viewBox: '0 0 160 14', role: 'img' });
  let x = 0;
  for (const g of ['A', 'B', 'C', 'D']) {
    const w = 160 * (grades[g] || 0) / total;
    e.append(svg('rect', { x, y: 2, width: w, height: 10, fill: colors[g] }));
    x += w;
  }
  return e;
}

function table(id, headers, rows) {
  return el('div', { class: 'scroll' }, el('table', { id, class: 'figures' },
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { text: h })))),
    el('tbody', {}, ...rows.map((cells) => el('tr', {}, ...cells.map((c) => el('td', {}, c)))))));
}

// The newest installed version of each form's labels (for choice names on
// the dashboard): form id -> formLabels().
async function newestLabels() {
  const installed = (await api('GET', '/v1/forms').catch(() => ({ forms: [] }))).forms;
  const out = {};
  for (const f of installed) if (!out[f.form_id]) out[f.form_id] = f.version;  // the list is newest first
  for (const id of Object.keys(out)) out[id] = await formLabels(id, out[id]);
  return out;
}

// Counts per choice as "label n · label n", largest first.
function tally(labels, list, counts) {
  const entries = Object.entries(counts || {}).sort((a, b) => b[1] - a[1]);
  if (!entries.length) return '–';
  return entries.map(([v, n]) => `${labels?.choices.get(list + '\n' + v)?.[S.lang] || v} ${n}`).join(' · ');
}

// A ratio cell: the percentage with the two counts it comes from.
const rate = (x, a, b) => el('span', { title: `${a}/${b}` }, pct(x), el('span', { class: 'muted', text: ` (${a}/${b})` }));

async function showDashboard() {
  // Every figure by area, by inspector or by month, for one inspector or
  // one month if chosen.
  const levelText = { inspector: t('author'), month: t('month') };
  const level = el('select', { id: 'd-level' }, ...['county', 'township', 'village', 'inspector', 'month'].map((l) =>
    el('option', { value: l, text: levelText[l] || t(l) })));
  level.value = S.level || 'county';
  level.onchange = () => { S.level = level.value; showDashboard(); };
  const anyone = () => el('option', { value: '', text: t('any') });
  const who = el('select', { id: 'd-inspector' }, anyone(),
    ...(S.dashInspector ? [el('option', { value: S.dashInspector, text: S.dashInspector })] : []));
  who.value = S.dashInspector || '';
  who.onchange = () => { S.dashInspector = who.value; showDashboard(); };
  const month = el('input', { id: 'd-month', type: 'month', value: S.dashMonth || '' });
  month.onchange = () => { S.dashMonth = month.value; showDashboard(); };
  const msg = el('p', { id: 'dash-msg', class: 'error', role: 'alert' });
  app.replaceChildren(tabs('dashboard'), el('div', { class: 'row' },
    el('label', { for: 'd-level', text: t('level') }), level,
    el('label', { for: 'd-inspector', text: t('author') }), who,
    el('label', { for: 'd-month', text: t('month') }), month), msg);
  const params = new URLSearchParams({ level: level.value });
  if (who.value) params.set('inspector', who.value);
  if (month.value) params.set('month', month.value);
  let d, labels;
  try {
    [d, labels] = await Promise.all([api('GET', '/v1/review/dashboard?' + params), newestLabels()]);
  } catch (e) { msg.textContent = e.message; return; }
  // The inspectors to choose from: those of the figures shown when none is chosen.
  if (!who.value) {
    who.replaceChildren(anyone(), ...d.inspectors.map((i) => el('option', { value: i.author, text: i.author })));
  }
  const rows = [...d.areas, { ...d.total, area: t('total') }];
  const target = d.target.toilet_coverage;
  const n = (x) => String(x ?? 0);
  const toiletRows = rows.filter((f) => f.toilet.records);
  const toilets = table('dash-toilet', [t('area'), t('households'), t('sanitary'), t('coverage'), t('harmless'),
                                         t('problemHH'), t('fixed'), t('overdue')],
    toiletRows.map((f) => [areaName(f.area), n(f.toilet.in_scope), n(f.toilet.sanitary),
      el('span', { class: 'bar' }, bar(f.toilet.coverage, target), ' ', pct(f.toilet.coverage)), n(f.toilet.harmless),
      n(f.toilet.problem_households), `${f.toilet.problems_fixed}/${f.toilet.problems}`, n(f.toilet.overdue)]));
  // B3 divides by the villages' registered households in the forms'
  // villages.csv (ⓡ); where the list gives none it shows '–'.
  const lvl = S.level || 'county';
  const prefixOf = (code) => code.padEnd(12, '0').slice(0, lvl === 'county' ? 6 : lvl === 'township' ? 9 : 12);
  const registeredIn = (code) => (S.areas?.villages || []).reduce((sum, v) =>
    sum + (v.hh_registered != null && v.code.startsWith(prefixOf(code)) ? v.hh_registered : 0), 0);
  const registered = (area) => (area === t('total') ? d.areas.reduce((a, f) => a + registeredIn(f.area), 0) : registeredIn(area));
  const coverageB3 = (area, x) => {
    const r = registered(area);
    return r ? rate(x.households_inspected / r, x.households_inspected, r)
      : el('span', { title: t('noRegistered'), text: `– (${x.households_inspected})` });
  };
  // B3, B4-B12: inspection coverage, the renovation's use, upkeep and cost.
  const toiletMore = table('dash-toilet-more', [t('area'), t('inspected'), t('inUse'), t('problemRate'), t('cleared'), t('onTime'),
                                                 t('frozen'), t('manure'), t('oldLatrine'), t('satisfaction'),
                                                 t('subsidyMean'), t('selfPaid')],
    toiletRows.map(({ area, toilet: x }) => [areaName(area), coverageB3(area, x), rate(x.in_use_rate, x.in_use_normal, x.renovated),
      rate(x.problem_rate, x.problem_households, x.renovated), rate(x.cleared_rate, x.problem_cleared, x.problem_households),
      rate(x.on_time_rate, x.fixed_on_time, x.problems_fixed), rate(x.frozen_rate, x.frozen, x.renovated),
      rate(x.manure_rate, x.manure_managed, x.with_toilet), rate(x.old_latrine_rate, x.old_latrine_cleared, x.renovated),
      rate(x.satisfaction_rate, x.satisfied, x.satisfaction_answered),
      x.subsidy_mean == null ? '–' : Math.round(x.subsidy_mean).toString(), pct(x.self_paid_share)]));
  const hl = labels.housing, h = d.total.housing;
  const housingRows = rows.filter((f) => f.housing.records || f.housing.priority_listed);
  // C1 needs the imported low-income list (admin page); '–' until then.
  const housing = table('dash-housing', [t('area'), t('assessed'), t('grades'), t('securedRate'), t('priorityCoverage')],
    housingRows.map((f) => [areaName(f.area), n(f.housing.records),
      el('span', { class: 'bar' }, gradeBar(f.housing.grades), ' ',
         ['A', 'B', 'C', 'D'].map((g) => f.housing.grades[g] || 0).join('/')),
      el('span', { class: 'bar' }, bar(f.housing.secured_rate, 1), ' ', pct(f.housing.secured_rate)),
      f.housing.priority_listed ? rate(f.housing.priority_rate, f.housing.priority_assessed, f.housing.priority_listed) : '–']));
  const waiting = h.priority_listed - h.priority_assessed;
  const unassessed = el('ul', { id: 'dash-unassessed' }, ...d.unassessed.map((u) =>
    el('li', { text: [u.hh_key, areaName(u.village),
                      ...(u.category ? [hl?.choices.get('lowinc_cat\n' + u.category)?.[S.lang] || u.category] : [])].join(' · ') })),
    ...(waiting > d.unassessed.length ? [el('li', { class: 'muted', text: `… +${waiting - d.unassessed.length}` })] : []));
  // C3, C6, C8-C11.
  const housingMore = table('dash-housing-more', [t('area'), t('noHouse'), t('newDanger'), t('seismic'), t('seismicNone'),
                                                   t('highRisk'), t('over30'), t('siteDanger'), t('overridden')],
    housingRows.map(({ area, housing: x }) => [areaName(area), n(x.no_house), n(x.new_danger),
      rate(x.seismic_rate, x.seismic_full, x.seismic_focus), n(x.seismic_none),
      rate(x.high_risk_rate, x.high_risk_structure, x.records), rate(x.over_30_rate, x.over_30_years, x.records),
      n(x.site_dangerous), rate(x.override_rate, x.grade_overridden, x.records)]));
  const days = d.median_days_to_done == null ? '–' : String(d.median_days_to_done);
  const housingBreakdown = el('dl', { id: 'dash-housing-breakdown', class: 'tallies' },
    el('dt', { text: t('dangerByCategory') }), el('dd', { text: tally(hl, 'lowinc_cat', h.danger_by_category) }),
    el('dt', { text: t('dangerByStructure') }), el('dd', { text: tally(hl, 'structure', h.danger_by_structure) }),
    el('dt', { text: t('measures') }), el('dd', { text: `${tally(hl, 'measure_status', h.measures)}；${t('daysToDone')} ${days}` }),
    el('dt', { text: t('hazards') }), el('dd', { text: tally(hl, 'site_hazard', h.hazards) }));
  const alerts = el('ul', { id: 'dash-alerts', class: 'alerts' }, ...d.alerts.map((a) => el('li', { class: a.red ? 'red' : '' },
    el('a', { href: '#record/' + a.record, text: `${a.grade} · ${areaName(a.village)} · ${a.record.slice(-8)}${a.red ? ' · ' + t('red') : ''}` }))));
  // A9 at county level: townships visited of the county's townships in the
  // forms' town list (the total: of the counties shown).
  const townsOf = (code) => (S.areas?.towns || []).filter((tw) => tw.county === code.padEnd(12, '0')).length;
  const townsIn = (area) => (area === t('total') ? d.areas.reduce((a, f) => a + townsOf(f.area), 0) : townsOf(area));
  const byCounty = (S.level || 'county') === 'county';
  const cats = ['crop', 'livestock', 'aquatic', 'fungi'];
  const sampleCount = (g) => Object.values(g.samples).reduce((a, b) => a + b, 0);
  const germplasm = table('dash-germplasm', [t('area'), t('records'), ...cats.map(t), t('atRisk'), t('landrace'),
                                              t('deposited'), t('complete'), t('townships')],
    rows.filter((f) => f.germplasm.records).map(({ area, germplasm: g }) => [areaName(area), n(g.records),
      ...cats.map((c) => n(g.samples[c])), n(g.at_risk), rate(g.landrace_rate, g.landrace_wild, g.samples.crop || 0),
      rate(g.deposited_rate, g.deposited, sampleCount(g)), rate(g.complete_rate, g.samples_complete, sampleCount(g)),
      byCounty ? `${g.townships_visited}/${townsIn(area) || '–'}` : n(g.townships_visited)]));
  const traits = el('p', { id: 'dash-traits', text: `${t('traits')}: ${tally(labels.germplasm, 'traits', d.total.germplasm.traits)}` });
  // A6, A7: from the samples themselves, for the whole scope.
  const breeds = table('dash-breeds', [t('breed'), t('samples'), t('males'), t('females'), t('ne'), t('families'), t('trend')],
    d.breeds.map((b) => [b.name, n(b.samples), n(b.males), n(b.females), String(b.ne), n(b.families),
      tally(labels.germplasm, 'trend', b.trends)]));
  const tracked = table('dash-tracked', [t('resource'), t('year'), t('samples'), t('areaMu'), t('stock')],
    d.tracked.map((x) => [x.resource, x.year, n(x.samples), x.area_mu ? n(x.area_mu) : '–', x.stock ? n(x.stock) : '–']));
  const toiletTypes = el('p', { id: 'dash-toilet-types', text: `${t('toiletTypes')}: ${tally(labels.toilet, 'toilet_type', d.total.toilet.sanitary_types)}` });
  const quality = table('dash-quality', [t('day'), t('author'), t('records')],
    d.per_inspector.map((p) => [p.day, p.author, String(p.records)]));
  const inspectors = table('dash-inspectors', [t('author'), t('records'), t('shortSurveys'), t('gpsOutside'), t('overridden')],
    d.inspectors.map((i) => [i.author, n(i.records), n(i.short_surveys), n(i.gps_outside),
      i.housing_records ? `${i.grade_overridden}/${i.housing_records}` : '–']));
  const forms = ['toilet', 'housing', 'germplasm'];
  const months = table('dash-months', [t('month'), ...forms.map(t)],
    Object.entries(d.per_month).reverse().map(([m, c]) => [m, ...forms.map((f) => n(c[f]))]));
  const duplicates = el('ul', { id: 'dash-duplicates' }, ...d.duplicates.map((dup) => el('li', {},
    `${t(dup.form)} · ${dup.hh_key}${dup.round ? ' · ' + dup.round : ''}: `,
    ...dup.records.flatMap((id, i) => [i ? ', ' : '', el('a', { href: '#record/' + id, text: id.slice(-8) })]))));
  const per = (m) => Object.entries(m).map(([f, x]) => `${t(f)} ${Math.round(x * 10) / 10}`).join(' · ') || '–';
  const q = d.total;
  app.append(
    el('section', { class: 'card' }, el('h2', { text: t('toilet') }), toilets, toiletMore, toiletTypes),
    el('section', { class: 'card' }, el('h2', { text: t('housing') }), housing, housingMore, housingBreakdown,
       el('h2', { text: `⚠ ${t('alerts')} (${d.alerts.length})` }), alerts,
       ...(h.priority_listed ? [el('h2', { text: `${t('unassessed')} (${waiting})` }), unassessed] : [])),
    el('section', { class: 'card' }, el('h2', { text: t('germplasm') }), germplasm, traits,
       el('h2', { text: t('breeds') }), breeds, el('h2', { text: t('trackedTitle') }), tracked),
    el('section', { class: 'card' }, el('h2', { text: t('quality') }),
       el('p', { id: 'dash-medians', text: `${t('medianMinutes')}: ${per(d.median_minutes)}` }),
       el('p', { id: 'dash-sync-lag', text: `${t('syncHours')}: ${per(d.median_sync_hours)}` }),
       el('p', { id: 'dash-gps', text: `${t('gpsOutside')}: ${q.gps_outside} · ${t('gpsInaccurate')}: ${q.gps_inaccurate}` }),
       el('p', { id: 'dash-flags', text: `${t('shortSurveys')}: ${q.short_surveys} · ${t('formProblemRecords')}: ${q.form_problems} · ${t('photosMissing')}: ${q.photos_missing}` }),
       el('h2', { text: `${t('duplicates')} (${d.duplicates.length})` }), duplicates,
       el('h2', { text: t('byInspector') }), inspectors,
       el('h2', { text: t('byMonth') }), months,
       el('h2', { text: t('perDay') }), quality));
}

// ---------------------------------------------------------------- admin

const ROLES = ['inspector', 'surveyor', 'supervisor', 'admin'];
const roleName = (r) => t(r === 'admin' ? 'adminRole' : r);
const codesOf = (text) => text.split(/[,，\s]+/).filter(Boolean);
// A code with its name, where the area lists name it (they stop at counties).
const scopeText = (scope) => scope.map((c) => (areaName(c) !== c ? `${c} ${areaName(c)}` : c)).join(', ');

// Users (role, areas, disabled, a new password) and the installed forms, with
// an upload of a new version. Admins only; the server checks that too.
async function showAdmin() {
  const msg = el('p', { id: 'admin-msg', class: 'error', role: 'alert' });
  const ok = el('p', { id: 'admin-ok', class: 'muted', role: 'status' });
  app.replaceChildren(tabs('admin'), msg, ok);
  let users, forms, list;
  try {
    [users, forms, list] = await Promise.all([api('GET', '/v1/admin/users'), api('GET', '/v1/admin/forms'),
      api('GET', '/v1/admin/priority-list')]);
  } catch (e) { msg.textContent = e.message; return; }
  const done = (text) => { msg.textContent = ''; ok.textContent = text; };
  const roleSelect = (value) => {
    const s = el('select', { 'aria-label': t('userRole') }, ...ROLES.map((r) => el('option', { value: r, text: roleName(r) })));
    s.value = value;
    return s;
  };
  const rows = users.users.map((u) => {
    const role = roleSelect(u.role);
    const areas = el('input', { class: 'areas', value: u.scope.join(', '), 'aria-label': t('areas') });
    const disabled = el('input', { type: 'checkbox', class: 'disabled', checked: u.disabled, 'aria-label': t('userDisabled') });
    const password = el('input', { type: 'password', class: 'password', autocomplete: 'new-password', 'aria-label': t('newPassword') });
    const save = async () => {
      ok.textContent = '';
      const change = { role: role.value, scope: codesOf(areas.value), disabled: disabled.checked };
      if (password.value) change.password = password.value;
      try {
        await api('POST', '/v1/admin/users/' + encodeURIComponent(u.username), change);
        password.value = '';
        done(`${u.username}: ${t('saved')}`);
      } catch (e) { msg.textContent = `${u.username}: ${e.message}`; }
    };
    return el('tr', { 'data-user': u.username },
      el('td', { 'data-label': t('user'), text: u.username }), el('td', { 'data-label': t('displayName'), text: u.display_name }),
      el('td', { 'data-label': t('userRole') }, role),
      el('td', { 'data-label': t('areas') }, areas, el('div', { class: 'muted', text: scopeText(u.scope) })),
      el('td', { 'data-label': t('userDisabled') }, disabled), el('td', { 'data-label': t('newPassword') }, password),
      el('td', {}, el('button', { class: 'secondary save', text: t('save'), onclick: save })));
  });
  const userTable = el('table', { id: 'users', class: 'queue' },
    el('thead', {}, el('tr', {}, ...[t('user'), t('displayName'), t('userRole'), t('areas'), t('userDisabled'), t('newPassword'), '']
      .map((h) => el('th', { text: h })))),
    el('tbody', {}, ...rows));

  const nu = { username: el('input', { id: 'new-username', autocomplete: 'off' }), display_name: el('input', { id: 'new-name' }),
               role: roleSelect('inspector'), scope: el('input', { id: 'new-areas', placeholder: '140623000000' }),
               password: el('input', { id: 'new-password', type: 'password', autocomplete: 'new-password' }) };
  nu.role.id = 'new-role';
  const add = async () => {
    try {
      await api('POST', '/v1/admin/users', { username: nu.username.value.trim(), display_name: nu.display_name.value.trim(),
                                              role: nu.role.value, scope: codesOf(nu.scope.value), password: nu.password.value });
      await showAdmin();
      document.getElementById('admin-ok').textContent = `${nu.username.value.trim()}: ${t('saved')}`;
    } catch (e) { msg.textContent = e.message; }
  };
  const addForm = el('div', { class: 'filters' },
    el('label', { for: 'new-username' }, t('user'), nu.username), el('label', { for: 'new-name' }, t('displayName'), nu.display_name),
    el('label', { for: 'new-role' }, t('userRole'), nu.role), el('label', { for: 'new-areas' }, t('areas'), nu.scope),
    el('label', { for: 'new-password' }, t('password'), nu.password),
    el('button', { id: 'add-user', text: t('addUser'), onclick: add }));

  const formTable = table('forms', [t('form'), t('formVersion'), t('records'), t('installedAt')],
    forms.forms.map((f) => [`${f.form_id} · ${f.title[S.lang] || f.title.zh || ''}`, f.version, String(f.records), when(f.installed_ms)]));
  const file = el('input', { id: 'form-file', type: 'file', accept: '.xlsx,.json', 'aria-label': t('uploadForm') });
  const upload = async () => {
    const f = file.files[0];
    if (!f) return;
    const r = await fetch('/v1/admin/forms', { method: 'POST', body: f,
      headers: { Authorization: 'Bearer ' + S.token, 'Content-Type': f.name.endsWith('.json') ? 'application/json'
        : 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' } });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) { msg.textContent = [j.message || r.statusText, ...(j.problems || [])].join('\n'); return; }
    await showAdmin();
    document.getElementById('admin-ok').textContent = `${t('installedForm')}: ${j.form_id} ${j.version}`;
  };
  // The low-income list (C1's denominator): counties, and a CSV to import.
  const listTable = list.counties.length
    ? table('priority-list', [t('county'), t('households'), t('importedList')],
        list.counties.map((c) => [areaName(c.county) || c.county, String(c.households), when(c.imported_ms)]))
    : el('p', { id: 'priority-list', class: 'muted', text: t('noList') });
  const listFile = el('input', { id: 'list-file', type: 'file', accept: '.csv,text/csv', 'aria-label': t('priorityList') });
  const importList = async () => {
    const f = listFile.files[0];
    if (!f) return;
    const r = await fetch('/v1/admin/priority-list', { method: 'POST', body: f,
      headers: { Authorization: 'Bearer ' + S.token, 'Content-Type': 'text/csv' } });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) { msg.textContent = j.message || r.statusText; return; }
    await showAdmin();
    document.getElementById('admin-ok').textContent = `${t('importedList')}: ${j.households}`;
  };
  app.append(
    el('section', { class: 'card' }, el('h2', { text: t('users') }), el('div', { class: 'scroll' }, userTable),
       el('h2', { text: t('addUser') }), addForm),
    el('section', { class: 'card' }, el('h2', { text: t('formVersions') }), formTable,
       el('label', { for: 'form-file', text: t('uploadForm') }), file,
       el('div', { class: 'row' }, el('button', { id: 'install-form', text: t('install'), onclick: upload }))),
    el('section', { class: 'card' }, el('h2', { text: t('priorityList') }), listTable,
       el('p', { class: 'muted', text: t('priorityHelp') }), listFile,
       el('div', { class: 'row' }, el('button', { id: 'import-list', text: t('importList'), onclick: importList }))));
}

// ---------------------------------------------------------------- start

document.getElementById('lang').addEventListener('click', () => {
  S.lang = S.lang === 'zh' ? 'en' : 'zh';
  sessionStorage.setItem('lang', S.lang);
  document.documentElement.lang = S.lang === 'zh' ? 'zh-CN' : 'en';
  document.getElementById('lang').textContent = S.lang === 'zh' ? 'English' : '中文';
  document.getElementById('logout').textContent = t('logout');
  document.getElementById('title').textContent = t('app');
  if (S.token) route(); else showLogin('');
});
document.getElementById('logout').addEventListener('click', () => logout(true));
if (S.token) start(); else showLogin('');
