// The Sync button of the field client's page against a real tianye-server on
// loopback, over HTTPS with the server's self-signed certificate: a wrong
// pin is refused, the printed pin pairs the device; the first sync logs in
// and sends the finalized records; a supervisor
// returns one with a comment; the next sync (no password again) brings it
// back to the inspector, editable, with the comment shown.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { CLI, makeStore, startUi, startServer, addUsers, stop, launch, PHONE, ARTIFACTS } from './harness.mjs';

let browser, ui, store, server, serverUrl, serverPin, serverCa;

// A supervisor's API call, trusting the server's own certificate.
function call(method, url, token, body) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, ca: serverCa,
                                     headers: { 'Content-Type': 'application/json',
                                                ...(token ? { Authorization: 'Bearer ' + token } : {}) } },
                              (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

before(async () => {
  store = makeStore('口令');
  execFileSync(CLI, ['demo', '--store', store.store, '--passphrase-file', store.passFile]);
  const dataDir = path.join(store.dir, 'server');
  addUsers(dataDir, [['wang', 'inspector', '*'], ['zhao', 'supervisor', '*']]);
  ({ proc: server, url: serverUrl, pin: serverPin } = await startServer(dataDir));
  serverCa = fs.readFileSync(path.join(dataDir, 'tls-cert.pem'));
  ui = await startUi(store.store);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  if (ui) await stop(ui.proc);
  if (server) await stop(server);
});

test('sync from the page, then a returned record comes back with its comment', async () => {
  const context = await browser.newContext(PHONE);
  const page = await context.newPage();
  await page.goto(ui.url);
  await page.fill('#passphrase', '口令');
  await page.click('#unlock');
  await page.waitForSelector('#sync-go');
  const before = await page.textContent('#sync-pending');
  assert.notEqual(before.replace(/\D/g, ''), '0');
  await page.fill('#sync-server', serverUrl);
  await page.fill('#sync-user', 'wang');
  await page.fill('#sync-password', 'wang-password');
  await page.fill('#sync-pin', 'sha256//' + 'A'.repeat(43) + '=');
  await page.click('#sync-go');
  await page.waitForSelector('#sync-status.error');
  assert.match(await page.textContent('#sync-status'), /同步失败.*pin_mismatch/);
  await page.fill('#sync-pin', serverPin);
  await page.fill('#sync-password', 'wrong-password');
  await page.click('#sync-go');
  await page.waitForFunction(() => /同步失败.*(password|密码)/i.test(document.getElementById('sync-status')?.textContent || ''));
  await page.fill('#sync-password', 'wang-password');
  await page.click('#sync-go');
  await page.waitForFunction(() => /上传 \d+/.test(document.getElementById('sync-status')?.textContent || ''));
  assert.equal(await page.locator('#sync-server').count(), 0, 'logged in: no password asked again');
  const synced = await page.locator('#records-synced li').count();
  assert.ok(synced >= 3, `finalized demo records show as synced (${synced})`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'sync-phone.png'), fullPage: true });

  // A supervisor returns one of them with a comment.
  const sup = await call('POST', serverUrl + '/v1/login', null,
                         { username: 'zhao', password: 'zhao-password', device_id: 'web' });
  assert.equal(sup.status, 200);
  const pulled = await call('GET', serverUrl + '/v1/sync/pull', sup.json.token);
  const id = pulled.json.changes.find((c) => c.field === '@form' && c.value === 'toilet').record;
  const back = await call('POST', `${serverUrl}/v1/records/${id}/review`, sup.json.token,
                          { status: 'returned', comment: '请补拍厕屋照片' });
  assert.equal(back.status, 200, JSON.stringify(back.json));

  await page.click('#sync-go');
  await page.waitForSelector('#records-returned li');
  assert.match(await page.textContent('#records-returned'), /请补拍厕屋照片/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'sync-returned-phone.png'), fullPage: true });
  // It opens for editing (returned records are editable again).
  await page.click(`#records-returned [data-record="${id}"]`);
  await page.waitForSelector('.q');
  assert.equal(await page.locator('.q input:not([disabled])').count() > 0, true);
  await context.close();
});
