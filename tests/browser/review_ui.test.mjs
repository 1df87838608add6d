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
import { CLI, makeStore, startServer, stop, launch, PHONE, DESKTOP, ARTIFACTS } from './harness.mjs';

const SERVER = process.env.TIANYE_SERVER;
let browser, store, server, url;

async function call(method, target, token, body) {
  const r = await fetch(url + target, {
    method, headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: 'Bearer ' + token } : {}) },
    body: body ? JSON.stringify(body) : undefined });
  return { status: r.status, json: await r.json() };
}
async function login(username) {
  const r = await call('POST', '/v1/login', null, { username, password: username + '-password', device_id: 'api-' + username });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json.token;
}
function syncInspector() {
  return execFileSync(CLI, ['sync', '--store', store.store, '--passphrase-file', store.passFile, '--server', url,
                            '--user', 'wang', '--password-file', path.join(store.dir, 'wang.pw')]).toString();
}

before(async () => {
  store = makeStore('口令');
  execFileSync(CLI, ['demo', '--count', '24', '--store', store.store, '--passphrase-file', store.passFile]);
  const dataDir = path.join(store.dir, 'server');
  for (const [name, role, area] of [['wang', 'inspector', '*'], ['zhao', 'supervisor', '140600000000'],
                                    ['ying', 'supervisor', '140623000000']]) {
    execFileSync(SERVER, ['user', 'add', name, '--role', role, '--area', area, '--data-dir', dataDir],
                 { env: { ...process.env, TIANYE_USER_PASSWORD: name + '-password' } });
  }
  fs.writeFileSync(path.join(store.dir, 'wang.pw'), 'wang-password\n');
  ({ proc: server, url } = await startServer(dataDir, ['--tls', 'off']));
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
  await page.screenshot({ path: path.join(ARTIFACTS, 'review-queue-desktop.png'), fullPage: true });

  // The record page: labels from the form, the history of every field.
  await page.click(`#queue tr.rec[data-record="${target.id}"]`);
  await page.waitForSelector('#answers dt');
  const labels = await page.locator('#answers dt').allTextContents();
  assert.ok(labels.some((l) => /[\u4e00-\u9fff]/.test(l)), 'questions show their Chinese labels: ' + labels.join(','));
  assert.ok(await page.locator('#history tbody tr').count() >= Object.keys(detail.json.fields).length - 1);

  // Returning needs a comment; with one, the status changes.
  await page.click('#act-return');
  await page.waitForFunction(() => document.getElementById('record-msg')?.textContent.includes('意见'));
  await page.fill('#review-comment', '请补拍厕屋照片');
  await page.click('#act-return');
  await page.waitForSelector('#record-comment');
  assert.match(await page.textContent('#record-comment'), /请补拍厕屋照片/);
  assert.match(await page.textContent('.status'), /已退回/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'review-record-desktop.png'), fullPage: true });
  await context.close();

  // The inspector's next sync brings the record back with the comment.
  syncInspector();
  const shown = JSON.parse(execFileSync(CLI, ['show', target.id, '--store', store.store,
                                              '--passphrase-file', store.passFile]).toString());
  assert.equal(shown.status, 'returned');
  assert.equal(shown.review_comment, '请补拍厕屋照片');

  // The queue on a phone.
  const phone = await browser.newContext(PHONE);
  const p2 = await phone.newPage();
  await p2.goto(url + '/');
  await p2.fill('#login-user', 'zhao');
  await p2.fill('#login-password', 'zhao-password');
  await p2.click('#login-go');
  await p2.waitForSelector('#queue tr.rec');
  const width = await p2.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling on a phone (${width}px)`);
  await p2.screenshot({ path: path.join(ARTIFACTS, 'review-queue-phone.png'), fullPage: true });
  await phone.close();
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
