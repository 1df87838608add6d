// The supervisor's review pages of the real tianye-server, in Chromium: an
// inspector syncs the demo records with `tianye sync`; the supervisor logs
// in, filters and searches the queue, opens a record (answers shown with the
// form's Chinese labels, the history of every field), returns it with a
// comment; the inspector's next sync brings the comment back. The API behind
// the pages is checked for scope, roles and bad filter input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI, makeStore, startServer, serverApi, addUsers, stop, launch, reviewPage, PHONE, DESKTOP,
         ARTIFACTS } from './harness.mjs';

let browser, store, server, url, call, login, pushAs;

function syncInspector() {
  return execFileSync(CLI, ['sync', '--store', store.store, '--passphrase-file', store.passFile, '--server', url,
                            '--user', 'wang', '--password-file', path.join(store.dir, 'wang.pw')]).toString();
}

// A page of `options` (DESKTOP or PHONE) logged in as the supervisor zhao
// (or as `user`).
const supervisorPage = (options, user = 'zhao') => reviewPage(browser, url, options, user);

before(async () => {
  store = makeStore('口令');
  execFileSync(CLI, ['demo', '--count', '24', '--store', store.store, '--passphrase-file', store.passFile]);
  const dataDir = path.join(store.dir, 'server');
  addUsers(dataDir, [['wang', 'inspector', '*'], ['li', 'inspector', '*'], ['zhao', 'supervisor', '140600000000'],
                     ['ying', 'supervisor', '140623000000'], ['root', 'admin', '*']]);
  fs.writeFileSync(path.join(store.dir, 'wang.pw'), 'wang-password\n');
  ({ proc: server, url } = await startServer(dataDir, ['--tls', 'off']));
  ({ call, login, pushAs } = serverApi(url));
  syncInspector();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  if (server) await stop(server);
});

test('review loop: filter, open, return with a comment; the comment reaches the inspector', async () => {
  const zhao = await login('zhao');
  const all = await call('GET', '/v1/review/records?per_page=200', zhao);
  assert.equal(all.status, 200);
  assert.equal(all.json.total, 6, 'the six finalized demo records were synced');

  const context = await browser.newContext(DESKTOP);
  const page = await context.newPage();
  await page.goto(url + '/');
  await page.fill('#login-user', 'zhao');
  await page.fill('#login-password', 'wrong');
  await page.click('#login-go');
  await page.waitForFunction(() => document.getElementById('login-msg')?.textContent.includes('密码错误'));
  await page.fill('#login-password', 'zhao-password');
  await page.click('#login-go');
  await page.waitForSelector('#queue tr.rec');
  assert.equal(await page.locator('#queue tr.rec').count(), 6);
  assert.match(await page.textContent('#page-info'), /6/);

  // Filter by form: only the toilet records stay.
  await page.selectOption('#f-form', 'toilet');
  await page.click('#f-go');
  await page.waitForFunction(() => document.querySelectorAll('#queue tr.rec').length === 2);
  for (const text of await page.locator('#queue tr.rec td:nth-child(3)').allTextContents()) assert.equal(text, '农村户厕');

  // Search an answer's text: the record that holds it is found.
  const target = all.json.records.find((r) => r.form_id === 'toilet');
  const detail = await call('GET', '/v1/records/' + target.id, zhao);
  assert.equal(detail.status, 200);
  const [, needle] = Object.entries(detail.json.fields).find(([k, v]) => !k.startsWith('@') && /[\u4e00-\u9fff]{2,}/.test(v));
  await page.fill('#f-q', needle.slice(0, 4));
  await page.click('#f-go');
  await page.waitForSelector(`#queue tr.rec[data-record="${target.id}"]`);
  // The area picker lists the forms' counties by name; choosing one filters by it.
  const county = target.area.county.padEnd(12, '0');
  assert.ok(await page.locator(`#f-county option[value="${county}"]`).count() === 1);
  assert.match(await page.textContent(`#f-county option[value="${county}"]`), /[\u4e00-\u9fff]+(县|区|市)/);
  await page.selectOption('#f-county', county);
  await page.click('#f-go');
  await page.waitForSelector(`#queue tr.rec[data-record="${target.id}"]`);
  const inCounty = (await call('GET', `/v1/review/records?form=toilet&area=${county}&q=${encodeURIComponent(needle.slice(0, 4))}`, zhao)).json;
  assert.equal(await page.locator('#queue tr.rec').count(), inCounty.total);
  assert.match(await page.textContent(`#queue tr.rec[data-record="${target.id}"] td:nth-child(4)`), /[\u4e00-\u9fff]/,
               'the area shows by name');
  await page.screenshot({ path: path.join(ARTIFACTS, 'review-queue-desktop.png'), fullPage: true });

  // The record page: labels from the form, the history of every field.
  await page.click(`#queue tr.rec[data-record="${target.id}"]`);
  await page.waitForSelector('#answers dt');
  const labels = await page.locator('#answers dt').allTextContents();
  assert.ok(labels.some((l) => /[\u4e00-\u9fff]/.test(l)), 'questions show their Chinese labels: ' + labels.join(','));
  assert.ok(await page.locator('#history tbody tr').count() >= Object.keys(detail.json.fields).length - 1);
  // The record's photo, fetched from the server, shown as a thumbnail.
  await page.waitForFunction(() => document.querySelector('#answers img.thumb')?.naturalWidth > 0);
  const sha = await page.getAttribute('#answers img.thumb', 'data-sha');
  assert.equal((await fetch(`${url}/v1/records/${target.id}/files/${sha}`,
                            { headers: { Authorization: 'Bearer ' + zhao } })).status, 200);
  assert.equal((await fetch(`${url}/v1/records/${target.id}/files/${'0'.repeat(64)}`,
                            { headers: { Authorization: 'Bearer ' + zhao } })).status, 404, 'only files the record names');

  // Returning needs a comment; with one, the status changes.
  await page.click('#act-return');
  await page.waitForFunction(() => document.getElementById('record-msg')?.textContent.includes('意见'));
  await page.fill('#review-comment', '请补拍厕屋照片');
  await page.click('#act-return');
  await page.waitForSelector('#record-comment');
  assert.match(await page.textContent('#record-comment'), /请补拍厕屋照片/);
  assert.match(await page.textContent('.status'), /已退回/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'review-record-desktop.png'), fullPage: true });

  // Export of the filtered queue from the page.
  await page.click('#back');
  await page.waitForSelector('#queue tr.rec');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
  const file = fs.readFileSync(await download.path());
  assert.deepEqual([...file.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
  assert.match(file.toString('utf8'), new RegExp(target.id));
  const [xlsx] = await Promise.all([page.waitForEvent('download'), page.click('#export-xlsx')]);
  assert.equal(xlsx.suggestedFilename(), 'toilet-records.xlsx');
  assert.equal(fs.readFileSync(await xlsx.path()).subarray(0, 2).toString(), 'PK', 'a ZIP container, as XLSX is');
  await context.close();

  // The inspector's next sync brings the record back with the comment.
  syncInspector();
  const shown = JSON.parse(execFileSync(CLI, ['show', target.id, '--store', store.store,
                                              '--passphrase-file', store.passFile]).toString());
  assert.equal(shown.status, 'returned');
  assert.equal(shown.review_comment, '请补拍厕屋照片');

  // The queue on a phone.
  const { context: phone, page: p2 } = await supervisorPage(PHONE);
  const width = await p2.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling on a phone (${width}px)`);
  await p2.screenshot({ path: path.join(ARTIFACTS, 'review-queue-phone.png'), fullPage: true });
  await phone.close();
});

// RFC 4180 rows of a CSV text (quoted fields, doubled quotes, CRLF).
function parseCsv(text) {
  const rows = [];
  let row = [], cell = '', quoted = false;
  for (let i = 0; i < text.length; ++i) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; ++i; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; }
    else if (c === '\r') continue;
    else if (c === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; }
    else cell += c;
  }
  if (cell || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

async function exportCsv(query, token) {
  const r = await fetch(url + '/v1/export/records.csv?' + query, { headers: { Authorization: 'Bearer ' + token } });
  const bytes = Buffer.from(await r.arrayBuffer());
  return { status: r.status, count: r.headers.get('x-record-count'), bytes,
           rows: parseCsv(bytes.toString('utf8').replace(/^\uFEFF/, '')) };
}

test('CSV export: a BOM for Excel, the filtered records in scope, sensitive answers masked but for admins', async () => {
  const zhao = await login('zhao');
  const root = await login('root');
  const ying = await login('ying');
  const housing = (await call('GET', '/v1/review/records?form=housing&per_page=200', zhao)).json;
  assert.ok(housing.total >= 2);
  const csv = await exportCsv('form=housing', zhao);
  assert.equal(csv.status, 200);
  assert.deepEqual([...csv.bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 byte-order mark');
  const [header, ...rows] = csv.rows;
  assert.equal(rows.length, housing.total);
  assert.equal(csv.count, String(housing.total));
  assert.deepEqual(rows.map((r) => r[0]).sort(), housing.records.map((r) => r.id).sort());
  const col = (name) => header.indexOf(name);
  assert.equal(header[0], '@id');
  assert.ok(col('category') > 0 && col('hh_head_name') > 0, header.join(','));
  assert.equal(new Set(header).size, header.length, 'no two columns share a name');
  assert.ok(rows.every((r) => r.length === header.length), 'every row has every column');
  const headOf = async (id) => (await call('GET', '/v1/records/' + id, zhao)).json.values.hh_head_name;
  for (const r of rows) assert.equal(r[col('hh_head_name')], await headOf(r[0]), 'Chinese text round-trips');
  assert.ok(rows.every((r) => /^[\u4e00-\u9fff]{2,4}$/.test(r[col('hh_head_name')])), 'names in Chinese');
  assert.ok(rows.every((r) => ['***', ''].includes(r[col('category')])), 'a supervisor sees 低保 status masked');
  assert.ok(rows.some((r) => r[col('category')] === '***'));
  const admin = await exportCsv('form=housing', root);
  assert.ok(admin.rows.slice(1).every((r) => ['dibao', 'tekun', 'dibao_edge', 'none'].includes(r[col('category')])),
            'an admin sees it');

  // The queue's filters apply; the scope always does.
  const filtered = await exportCsv('form=housing&status=approved', zhao);
  assert.equal(filtered.rows.length - 1,
               (await call('GET', '/v1/review/records?form=housing&status=approved', zhao)).json.total);
  const county = await exportCsv('form=housing', ying);
  assert.ok(county.rows.length - 1 < rows.length);
  for (const r of county.rows.slice(1)) assert.ok(r[col('@county')].startsWith('140623'), r.join(','));

  // GeoJSON: the GPS points of the records that have one (every demo record).
  const geo = await fetch(url + '/v1/export/records.geojson', { headers: { Authorization: 'Bearer ' + zhao } });
  assert.equal(geo.status, 200);
  const fc = await geo.json();
  assert.equal(fc.type, 'FeatureCollection');
  const all = (await call('GET', '/v1/review/records', zhao)).json.total;
  assert.equal(fc.features.length, all);
  for (const f of fc.features) {
    const [lon, lat] = f.geometry.coordinates;
    assert.ok(lon > 112 && lon < 114 && lat > 39 && lat < 41, `a point in or near Shuozhou: ${lon},${lat}`);
    assert.ok(['toilet', 'housing', 'germplasm'].includes(f.properties.form_id));
  }
  const countyGeo = await (await fetch(url + '/v1/export/records.geojson', { headers: { Authorization: 'Bearer ' + ying } })).json();
  assert.ok(countyGeo.features.every((f) => f.properties.village.startsWith('140623')));

  assert.equal((await exportCsv('', zhao)).status, 400, 'an export is of one form');
  assert.equal((await exportCsv('form=housing', await login('wang'))).status, 403);
  assert.equal((await exportCsv('form=nonesuch', zhao)).status, 404);
});

// Reads an export with Debian's Python (openpyxl, zipfile), as a user's tools would.
async function readExport(kind, target, token) {
  const r = await fetch(url + target, { headers: { Authorization: 'Bearer ' + token } });
  assert.equal(r.status, 200, target);
  const file = path.join(store.dir, 'export.' + kind);
  fs.writeFileSync(file, Buffer.from(await r.arrayBuffer()));
  const out = execFileSync('/usr/bin/python3', [fileURLToPath(new URL('read_export.py', import.meta.url)), kind, file]);
  return { type: r.headers.get('content-type'), count: r.headers.get('x-record-count'), ...JSON.parse(out.toString()) };
}

test('XLSX export: a sheet per repeat joined by record id, opened by openpyxl; ZIP of the photos named by record', async () => {
  const zhao = await login('zhao');
  const root = await login('root');
  const ying = await login('ying');
  const toilets = (await call('GET', '/v1/review/records?form=toilet&per_page=200', zhao)).json;
  assert.ok(toilets.total >= 2);
  const book = await readExport('xlsx', '/v1/export/records.xlsx?form=toilet', zhao);
  assert.match(book.type, /spreadsheetml/);
  assert.deepEqual(Object.keys(book), ['type', 'count', 'toilet', 'problems']);
  const [header, ...rows] = book.toilet;
  const col = (name) => header.indexOf(name);
  assert.equal(header[0], '@id');
  assert.equal(rows.length, toilets.total);
  assert.deepEqual(rows.map((r) => r[0]).sort(), toilets.records.map((r) => r.id).sort());
  for (const r of rows) {
    const values = (await call('GET', '/v1/records/' + r[0], zhao)).json.values;
    assert.equal(r[col('hh_head_name')], values.hh_head_name, 'Chinese text');
    if (values.tank_volume) assert.equal(r[col('tank_volume')], Number(values.tank_volume), 'a decimal answer is a number cell');
  }
  assert.ok(rows.some((r) => typeof r[col('tank_volume')] === 'number'));
  // The repeat's sheet: one row per instance, joined by @id; the record's cell counts them.
  const [pHeader, ...problems] = book.problems;
  assert.deepEqual(pHeader.slice(0, 2), ['@id', '@index']);
  const ids = new Set(rows.map((r) => r[0]));
  assert.ok(problems.every((p) => ids.has(p[0])), 'every instance joins a record');
  for (const r of rows) {
    assert.equal(problems.filter((p) => p[0] === r[0]).length, r[col('problems')] ?? 0, 'instance count per record');
  }
  assert.ok(problems.every((p) => p[pHeader.indexOf('prob_desc')] === '化粪池盖板破损，冬季有冻裂风险'));
  assert.ok(problems.every((p) => p[1] === '1'));

  // Sensitive answers (低保 status) masked for a supervisor, shown to an admin; scope applies.
  const housing = await readExport('xlsx', '/v1/export/records.xlsx?form=housing', zhao);
  const hc = housing.housing[0].indexOf('category');
  assert.ok(housing.housing.slice(1).some((r) => r[hc] === '***'));
  assert.ok(housing.housing.slice(1).every((r) => [null, '***'].includes(r[hc])));
  const adminHousing = await readExport('xlsx', '/v1/export/records.xlsx?form=housing', root);
  assert.ok(adminHousing.housing.slice(1).some((r) => r[hc] === 'dibao'));
  const yingBook = await readExport('xlsx', '/v1/export/records.xlsx?form=toilet', ying);
  assert.ok(yingBook.toilet.length - 1 < rows.length);
  assert.ok(yingBook.toilet.slice(1).every((r) => r[col('@county')] === '140623'));

  // Photos: every record's photo, stored whole under form/village/record/field, listed in the manifest.
  const zip = await readExport('zip', '/v1/export/photos.zip?form=toilet', zhao);
  assert.equal(zip.type, 'application/zip');
  assert.equal(zip.bad, null, 'every member passes its CRC');
  const photos = zip.entries.filter((e) => e.name !== 'manifest.csv');
  // A member per photo answer (the demo's records name one photo in each of their photo questions).
  let answers = 0;
  for (const r of toilets.records) {
    const v = (await call('GET', '/v1/records/' + r.id, zhao)).json.values;
    answers += [...Object.values(v), ...(v.problems || []).flatMap((p) => Object.values(p))]
      .filter((x) => typeof x === 'string' && x.endsWith('.bmp')).length;
  }
  assert.equal(photos.length, answers);
  const manifest = parseCsv(zip.manifest);
  assert.deepEqual(manifest[0], ['record_id', 'form_id', 'village', 'field', 'file', 'sha256', 'bytes', 'note']);
  assert.equal(manifest.length - 1, answers);
  for (const r of toilets.records) {
    const line = manifest.find((m) => m[0] === r.id && m[3] === 'photo_room');
    assert.ok(line, 'the manifest lists ' + r.id);
    assert.equal(line[4], `toilet/${r.area.village}/${r.id}/photo_room.bmp`);
    const entry = photos.find((e) => e.name === line[4]);
    assert.ok(entry, line[4]);
    assert.equal(entry.sha256, line[5], 'the bytes are the photo the record names');
    assert.equal(String(entry.size), line[6]);
    assert.ok(entry.stored, 'photos are stored, not compressed again');
  }
  const yingZip = await readExport('zip', '/v1/export/photos.zip', ying);
  assert.ok(yingZip.entries.filter((e) => e.name !== 'manifest.csv').every((e) => e.name.split('/')[1].startsWith('140623')));
  assert.equal((await fetch(url + '/v1/export/photos.zip', { headers: { Authorization: 'Bearer ' + await login('wang') } })).status, 403);
  assert.equal((await fetch(url + '/v1/export/records.xlsx', { headers: { Authorization: 'Bearer ' + zhao } })).status, 400);
});

test('conflicts in the page: side by side with device and time; keep both, a checked value, or take one', async () => {
  const zhao = await login('zhao');
  const toilets = (await call('GET', '/v1/review/records?form=toilet&status=finalized', zhao)).json.records;
  const rec = toilets[toilets.length - 1];
  const base = {};  // field -> its version now, as both devices last saw it
  for (const h of (await call('GET', '/v1/records/' + rec.id, zhao)).json.history) base[h.field] = h.version;
  // Two inspectors edit the same three answers offline; the second to sync conflicts on each.
  assert.deepEqual(await pushAs('wang', rec.id, base,
                                { not_use_reasons: 'frozen no_water', hh_no: '12A', not_use_other: '缺水' }),
                   ['applied', 'applied', 'applied']);
  assert.deepEqual(await pushAs('li', rec.id, base,
                                { not_use_reasons: 'full frozen', hh_no: '12B', not_use_other: '没人抽粪' }),
                   ['conflict', 'conflict', 'conflict']);

  const { context, page } = await supervisorPage(DESKTOP);
  await page.goto(url + '/#record/' + rec.id);
  await page.waitForSelector('.conflict');
  assert.equal(await page.locator('.conflict').count(), 3);
  const card = (field) => page.locator(`.conflict[data-field="${field}"]`);
  // Choices show with their labels; each candidate names its author and device.
  const reasons = await card('not_use_reasons').textContent();
  assert.match(reasons, /冬季冻结、缺水\/冲水不便/);
  assert.match(reasons, /wang · 设备 api-wang/);
  assert.match(reasons, /li · 设备 api-li/);
  // "Keep both" only where the question allows it: not for a household number with a pattern.
  assert.equal(await card('not_use_reasons').locator('.keep-both').count(), 1);
  assert.equal(await card('not_use_other').locator('.keep-both').count(), 1);
  assert.equal(await card('hh_no').locator('.keep-both').count(), 0);
  const { context: phone, page: small } = await supervisorPage(PHONE);
  await small.goto(url + '/#record/' + rec.id);
  await small.waitForSelector('.conflict');
  assert.ok(await small.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scroll');
  await small.screenshot({ path: path.join(ARTIFACTS, 'review-conflicts-phone.png'), fullPage: true });
  await phone.close();

  await card('not_use_reasons').locator('.keep-both').click();
  await page.waitForFunction(() => document.querySelectorAll('.conflict').length === 2);
  await card('hh_no').locator('textarea.merged').fill('12');
  await card('hh_no').locator('.merge').click();
  await page.waitForFunction(() => document.querySelectorAll('.conflict').length === 1);
  await card('not_use_other').locator('.candidate', { hasText: '没人抽粪' }).locator('.take').click();
  await page.waitForFunction(() => document.querySelectorAll('.conflict').length === 0);
  assert.match(await page.textContent('#answers'), /冬季冻结、缺水\/冲水不便、粪池满无人抽/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'review-conflicts-resolved-desktop.png'), fullPage: true });
  // A germplasm record's GPS point: as text, on a small map of the city (nothing fetched), as a geo: link.
  const germ = (await call('GET', '/v1/review/records?form=germplasm', zhao)).json.records[0];
  const point = (await call('GET', '/v1/records/' + germ.id, zhao)).json.values.gps.split(' ').map(Number);
  await page.goto(url + '/#record/' + germ.id);
  await page.waitForSelector('.gps');
  assert.equal(await page.textContent('.gps-text'), `${point[0].toFixed(5)}°N ${point[1].toFixed(5)}°E ±${point[3]} m`);
  assert.equal(await page.getAttribute('.gps-text', 'href'), `geo:${point[0]},${point[1]}`);
  assert.equal(await page.locator('.gps-map circle').count(), 1);
  await context.close();

  const after = (await call('GET', '/v1/records/' + rec.id, zhao)).json;
  assert.equal(after.fields.not_use_reasons, 'frozen no_water full');
  assert.equal(after.fields.hh_no, '12');
  assert.equal(after.fields.not_use_other, '没人抽粪');
  const how = Object.fromEntries(after.conflicts.map((c) => [c.field, c.resolution.how]));
  assert.deepEqual(how, { not_use_reasons: 'keep_both', hh_no: 'merged', not_use_other: 'take' });
  assert.ok(after.conflicts.every((c) => c.state === 'resolved' && c.resolution.by === 'zhao'));
});

test('admin page: a new user, a changed role and area, disabling; a new form version from an XLSForm and from JSON', async () => {
  const zhaoPage = await supervisorPage(DESKTOP);
  assert.equal(await zhaoPage.page.locator('#tab-admin').count(), 0, 'a supervisor has no admin tab');
  await zhaoPage.context.close();
  assert.equal((await call('GET', '/v1/admin/users', await login('zhao'))).status, 403);

  const { context, page } = await supervisorPage(DESKTOP, 'root');
  await page.click('#tab-admin');
  await page.waitForSelector('#users tr[data-user="wang"]');
  await page.fill('#new-username', 'sun');
  await page.fill('#new-name', '孙立');
  await page.selectOption('#new-role', 'supervisor');
  await page.fill('#new-areas', '140623000000');
  await page.fill('#new-password', 'sun-password');
  await page.click('#add-user');
  await page.waitForSelector('#users tr[data-user="sun"]');
  assert.match(await page.textContent('#users tr[data-user="sun"]'), /孙立[\s\S]*右玉县/);
  let sun = await login('sun');
  const inScope = (await call('GET', '/v1/review/records?per_page=200', sun)).json.records;
  assert.ok(inScope.length > 0 && inScope.every((r) => r.area.county.startsWith('140623')), 'the new supervisor sees 右玉县 only');

  // Another county, then inspector: the scope and role apply to the next request.
  const row = page.locator('#users tr[data-user="sun"]');
  await row.locator('input.areas').fill('140622000000');
  await row.locator('button.save').click();
  await page.waitForSelector('#admin-ok:has-text("sun")');
  const moved = (await call('GET', '/v1/review/records?per_page=200', sun)).json.records;
  assert.ok(moved.length > 0 && moved.every((r) => r.area.county.startsWith('140622')));
  await row.locator('select').selectOption('inspector');
  await row.locator('button.save').click();
  await page.waitForSelector('#admin-ok:has-text("sun")');
  assert.equal((await call('GET', '/v1/review/records', sun)).status, 403, 'an inspector does not review');
  await row.locator('input.disabled').check();
  await row.locator('button.save').click();
  await page.waitForSelector('#admin-ok:has-text("sun")');
  assert.equal((await call('GET', '/v1/me', sun)).status, 401, 'disabling ends the sessions');
  const relogin = await call('POST', '/v1/login', null, { username: 'sun', password: 'sun-password', device_id: 'x' });
  assert.equal(relogin.status, 401);
  // An admin cannot lock themselves out.
  await page.locator('#users tr[data-user="root"] select').selectOption('supervisor');
  await page.locator('#users tr[data-user="root"] button.save').click();
  await page.waitForSelector('#admin-msg:has-text("root")');
  assert.equal((await call('GET', '/v1/admin/users', await login('root'))).status, 200);

  // A new form from an XLSForm workbook, uploaded from the page.
  const xlsx = path.join(store.dir, 'well_check.xlsx');
  execFileSync('/usr/bin/python3', [fileURLToPath(new URL('make_xlsform.py', import.meta.url)), xlsx]);
  await page.setInputFiles('#form-file', xlsx);
  await page.click('#install-form');
  await page.waitForSelector('#admin-ok:has-text("well_check")');
  assert.match(await page.textContent('#forms'), /well_check · 饮水井检查[\s\S]*2026\.1/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'review-admin-desktop.png'), fullPage: true });
  await context.close();
  const root = await login('root');
  const well = await call('GET', '/v1/forms/well_check/2026.1', root);
  assert.equal(well.status, 200);
  assert.equal(well.json.survey.find((q) => q.name === 'depth_m')['label::zh'], '井深(米)');

  // A new version of a shipped form as JSON: its lists come from the installed forms; records keep their version.
  const toilet = JSON.parse(fs.readFileSync(path.join(process.env.TIANYE_FORMS_DIR, 'toilet.json'), 'utf8'));
  toilet.settings.version = '2026.2';
  const r = await fetch(url + '/v1/admin/forms', { method: 'POST', body: JSON.stringify(toilet),
    headers: { Authorization: 'Bearer ' + root, 'Content-Type': 'application/json' } });
  assert.equal(r.status, 201, await r.text());
  const versions = (await call('GET', '/v1/admin/forms', root)).json.forms.filter((f) => f.form_id === 'toilet');
  assert.deepEqual(versions.map((f) => f.version).sort(), ['2026.1', '2026.2']);
  assert.equal(versions.find((f) => f.version === '2026.2').records, 0);
  assert.ok(versions.find((f) => f.version === '2026.1').records > 0);
  toilet.settings['form_title::zh'] += '（修订）';
  const again = await fetch(url + '/v1/admin/forms', { method: 'POST', body: JSON.stringify(toilet),
    headers: { Authorization: 'Bearer ' + root, 'Content-Type': 'application/json' } });
  assert.equal(again.status, 409, 'a version is never reused with other content');
  const broken = await fetch(url + '/v1/admin/forms', { method: 'POST', body: 'PK\u0003\u0004 not really a workbook',
    headers: { Authorization: 'Bearer ' + root } });
  assert.equal(broken.status, 400);
  assert.ok((await broken.json()).problems.length > 0, 'the problems are listed');
});

test('the review API keeps to the scope and the role, and answers bad filters with 400', async () => {
  const zhao = await login('zhao');
  const ying = await login('ying');
  const wang = await login('wang');
  const everything = (await call('GET', '/v1/review/records?per_page=200', zhao)).json.records;
  const yingXian = everything.filter((r) => (r.area.village || r.area.township || r.area.county).startsWith('140623'));
  const mine = await call('GET', '/v1/review/records?per_page=200', ying);
  assert.equal(mine.status, 200);
  assert.ok(yingXian.length > 0 && yingXian.length < everything.length, 'the demo records span several counties');
  assert.equal(mine.json.total, yingXian.length, 'a county supervisor counts only the county');
  assert.deepEqual(mine.json.records.map((r) => r.id).sort(), yingXian.map((r) => r.id).sort());
  const other = everything.find((r) => !yingXian.includes(r));
  assert.equal((await call('GET', '/v1/records/' + other.id, ying)).status, 404, 'another county is not found');

  assert.equal((await call('GET', '/v1/review/records', wang)).status, 403, 'inspectors do not review');
  assert.equal((await call('GET', '/v1/records/' + other.id, wang)).status, 403);
  assert.equal((await call('GET', '/v1/review/records', null)).status, 401);

  for (const query of ['sort=bogus', 'per_page=1000', 'page=abc', 'page=0', 'area=14%25', 'order=sideways',
                       'status=nonsense', 'q=' + 'x'.repeat(300)]) {
    const r = await call('GET', '/v1/review/records?' + query, zhao);
    assert.equal(r.status, 400, query + ' -> ' + JSON.stringify(r.json));
    assert.ok(r.json.message, 'a message says what is wrong');
  }
  for (const query of ["q=' OR 1=1 --", 'q=%25', "author=x'; DROP TABLE server_records; --", 'page=999999']) {
    const r = await call('GET', '/v1/review/records?' + query.replace(/ /g, '%20').replace(/;/g, '%3B'), zhao);
    assert.equal(r.status, 200, query);
    assert.equal(r.json.records.length, 0, query + ' matches nothing');
  }
  assert.equal((await call('GET', '/v1/review/records', zhao)).json.total, everything.length, 'nothing was dropped');
});

test('low-income list: imported on the admin page, then C1 on the dashboard with the households still to assess', async () => {
  const root = await login('root');
  const { context, page } = await supervisorPage(DESKTOP, 'root');
  await page.click('#tab-admin');
  await page.waitForSelector('#priority-list');
  assert.equal(await page.textContent('#priority-list'), '尚未导入名单');
  // A list with a mistake is refused whole, naming the line.
  const bad = path.join(store.dir, 'bad-list.csv');
  fs.writeFileSync(bad, 'hh_key,category\n140622100201-7,dibao\n140622100201-8,低保\n');
  await page.setInputFiles('#list-file', bad);
  await page.click('#import-list');
  await page.waitForSelector('#admin-msg:has-text("line 3")');
  assert.equal((await call('GET', '/v1/admin/priority-list', root)).json.counties.length, 0, 'nothing imported');
  const good = path.join(store.dir, 'list.csv');
  fs.writeFileSync(good, '\ufeffhh_key,category,备注\n140622100201-7,dibao,\n140622100201-8,tekun,\n140623100201-3,hardship,\n');
  await page.setInputFiles('#list-file', good);
  await page.click('#import-list');
  await page.waitForSelector('#admin-ok:has-text("3")');
  assert.match(await page.textContent('#priority-list'), /应县[\s\S]*2[\s\S]*右玉县[\s\S]*1/);
  await context.close();

  // One listed household of 应县 is assessed (a housing record pushed by an inspector).
  const id = '01a0c1c1-0000-7000-8000-' + String(Date.now()).slice(-12).padStart(12, '0');
  assert.deepEqual(await pushAs('wang', id, {}, { '@county': '140622', '@township': '140622100',
    '@village': '140622100201', '@author': 'wang', '@status': 'finalized', hh_key: '140622100201-8', grade_final: 'B' },
  'housing'), Array(7).fill('applied'));
  const zhao = await login('zhao');
  const api = (await call('GET', '/v1/review/dashboard', zhao)).json;
  const yingXian = api.areas.find((a) => a.area === '140622');
  assert.equal(yingXian.housing.priority_listed, 2);
  assert.equal(yingXian.housing.priority_assessed, 1);
  assert.deepEqual(api.unassessed.map((u) => u.hh_key), ['140622100201-7', '140623100201-3']);
  assert.ok(api.unassessed.every((u) => !('category' in u)), 'a supervisor does not see the sensitive category');
  const asAdmin = (await call('GET', '/v1/review/dashboard', root)).json;
  assert.equal(asAdmin.unassessed[0].category, 'dibao', 'an admin does');
  const ying = (await call('GET', '/v1/review/dashboard', await login('ying'))).json;
  assert.deepEqual(ying.unassessed.map((u) => u.hh_key), ['140623100201-3'], '右玉县 sees its own households only');

  const sup = await supervisorPage(PHONE);
  await sup.page.click('#tab-dashboard');
  await sup.page.waitForSelector('#dash-unassessed li');
  const row = await sup.page.locator('#dash-housing tbody tr', { hasText: '应县' }).locator('td').allTextContents();
  assert.equal(row.at(-1), '50.0% (1/2)');
  const waiting = await sup.page.locator('#dash-unassessed li').allTextContents();
  assert.equal(waiting.length, 2);
  assert.equal(waiting[0], '140622100201-7 · 东南角村委会');
  await sup.page.screenshot({ path: path.join(ARTIFACTS, 'review-dashboard-c1-phone.png'), fullPage: true });
  await sup.context.close();
});

test('dashboard: the plan indicators for the scope, with the C/D alert list; a rejected record drops out', async () => {
  const zhao = await login('zhao');
  const api = (await call('GET', '/v1/review/dashboard', zhao)).json;
  assert.ok(api.total.toilet.records >= 2 && api.total.housing.records >= 2 && api.total.germplasm.records >= 2);
  assert.equal(api.target.toilet_coverage, 0.8);
  const ying = (await call('GET', '/v1/review/dashboard', await login('ying'))).json;
  assert.ok(ying.areas.length >= 1 && ying.areas.every((a) => a.area.startsWith('140623')), JSON.stringify(ying.areas));
  assert.ok(ying.total.toilet.records + ying.total.housing.records + ying.total.germplasm.records <
            api.total.toilet.records + api.total.housing.records + api.total.germplasm.records);
  assert.equal((await call('GET', '/v1/review/dashboard', await login('wang'))).status, 403);
  assert.equal((await call('GET', '/v1/review/dashboard?level=street', zhao)).status, 400);

  const { context, page } = await supervisorPage(DESKTOP);
  await page.click('#tab-dashboard');
  await page.waitForSelector('#dash-toilet tbody tr');
  const totalRow = () => page.locator('#dash-toilet tbody tr').last().locator('td').allTextContents();
  const before = await totalRow();
  assert.equal(before[0], '合计');
  assert.equal(before[1], String(api.total.toilet.in_scope));
  assert.match(before[3], new RegExp((100 * api.total.toilet.coverage).toFixed(1) + '%'));
  assert.equal(await page.locator('#dash-alerts li').count(), api.alerts.length);
  assert.equal(await page.locator('#dash-alerts li.red').count(), api.alerts.filter((a) => a.red).length);
  // The rest of §6: rates with their counts, township coverage against the
  // forms' town list, the per-inspector table.
  const more = await page.locator('#dash-toilet-more tbody tr').last().locator('td').allTextContents();
  const p = api.total.toilet;
  assert.equal(more[3], `${p.problem_rate == null ? '–' : (100 * p.problem_rate).toFixed(1) + '%'} (${p.problem_households}/${p.renovated})`);
  // B3: the shipped villages.csv gives no registered households, so the
  // coverage shows '–' with the households inspected.
  assert.equal(more[1], `– (${p.households_inspected})`);
  const areas = (await call('GET', '/v1/areas', zhao)).json;
  const towns = areas.towns.filter((tw) => api.areas.some((a) => tw.county === a.area.padEnd(12, '0'))).length;
  assert.ok(towns > 0);
  const germ = await page.locator('#dash-germplasm tbody tr').last().locator('td').allTextContents();
  assert.equal(germ.at(-1), `${api.total.germplasm.townships_visited}/${towns}`);
  // A6, A7 from the samples: the demo's livestock breeds and the plan's tracked resources.
  assert.ok(api.breeds.length > 0 && api.tracked.length > 0, JSON.stringify([api.breeds, api.tracked]));
  assert.equal(await page.locator('#dash-breeds tbody tr').count(), api.breeds.length);
  assert.equal(await page.locator('#dash-tracked tbody tr').count(), api.tracked.length);
  assert.equal(await page.locator('#dash-breeds tbody tr').first().locator('td').first().textContent(), api.breeds[0].name);
  assert.equal(await page.locator('#dash-inspectors tbody tr').count(), api.inspectors.length);
  assert.ok(api.inspectors.length > 0);
  assert.ok((await page.locator('#dash-flags').textContent()).endsWith(`缺少必拍照片的记录: ${api.total.photos_missing}`));
  assert.equal(api.total.photos_missing, 0, 'the demo records have every photo their forms require');
  await page.screenshot({ path: path.join(ARTIFACTS, 'review-dashboard-desktop.png'), fullPage: true });

  // Rejecting a toilet record takes it out of the figures.
  const toilet = (await call('GET', '/v1/review/records?form=toilet&status=finalized', zhao)).json.records[0];
  const rejected = await call('POST', `/v1/records/${toilet.id}/review`, zhao, { status: 'rejected', comment: '重复记录' });
  assert.equal(rejected.status, 200, JSON.stringify(rejected.json));
  await page.click('#tab-queue');
  await page.waitForSelector('#queue');
  await page.click('#tab-dashboard');
  await page.waitForFunction((n) => {
    const cells = [...document.querySelectorAll('#dash-toilet tbody tr:last-child td')];
    return cells[1]?.textContent === String(n);
  }, api.total.toilet.in_scope - 1);

  // Every figure by inspector and by month (forms.md §6), and for one
  // inspector in one month: the page shows what the API gives.
  assert.equal((await call('GET', '/v1/review/dashboard?month=2026-13', zhao)).status, 400);
  const byInspector = (await call('GET', '/v1/review/dashboard?level=inspector', zhao)).json;
  assert.deepEqual(byInspector.areas.map((a) => a.area), byInspector.inspectors.map((i) => i.author));
  await page.selectOption('#d-level', 'inspector');
  await page.waitForFunction((names) => {
    const rows = [...document.querySelectorAll('#dash-housing tbody tr td:first-child')].map((td) => td.textContent);
    return names.every((n) => rows.includes(n));
  }, byInspector.areas.filter((a) => a.housing.records).map((a) => a.area));
  const author = byInspector.inspectors[0].author;
  const month = (await call('GET', '/v1/review/dashboard?level=month', zhao)).json.areas.at(-1).area;
  assert.match(month, /^\d{4}-\d{2}$/);
  const narrowed = (await call('GET', `/v1/review/dashboard?level=month&inspector=${author}&month=${month}`, zhao)).json;
  assert.equal(narrowed.inspectors.length, 1);
  assert.equal(narrowed.inspectors[0].author, author);
  await page.selectOption('#d-level', 'month');
  await page.waitForSelector('#d-inspector option:nth-child(2)', { state: 'attached' });
  await page.selectOption('#d-inspector', author);
  await page.waitForSelector('#dash-inspectors tbody tr');
  await page.fill('#d-month', month);
  await page.waitForFunction((n) => document.querySelectorAll('#dash-inspectors tbody tr').length === 1 &&
    document.querySelector('#dash-inspectors tbody td')?.textContent === n, author);
  const figures = async (id) => (await page.locator(`#${id} tbody tr`).last().locator('td').allTextContents());
  if (narrowed.total.housing.records) {
    assert.equal((await figures('dash-housing'))[1], String(narrowed.total.housing.records));
  }
  assert.equal(await page.locator('#dash-inspectors tbody tr td').nth(1).textContent(), String(narrowed.inspectors[0].records));
  await context.close();
});
