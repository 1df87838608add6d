// The whole review loop with real processes: an inspector fills a toilet
// record in the field client (`tianye ui`, through the API its page uses),
// finalizes and syncs it from the page; two colleagues' devices then change
// it (one moves the survey date past the rectification deadline, both
// change the household number), so the server holds a constraint problem
// and a conflict. The supervisor, in Chromium, filters the queue on
// constraint problems, opens the record (the problem named, the conflict
// side by side), settles the conflict and returns the record with a comment.
// The inspector syncs, sees the comment, fixes the deadline and marks the
// problem rectified in the page, finalizes, syncs; the supervisor sees the
// problem gone, approves, and the dashboard's figures move; an admin
// imports a low-income list on the admin page and the dashboard counts it.
// With TIANYE_TEST_STORE=postgres the server runs on PostgreSQL (CTest's
// browser.review_loop_postgres), the same steps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeStore, startUi, startServer, serverApi, addUsers, stop, launch, reviewPage, png, PHONE, DESKTOP,
         ARTIFACTS, ON_POSTGRES } from './harness.mjs';

let browser, ui, store, server, serverUrl, call, login, pushAs;
// A screenshot's file (the PostgreSQL run keeps its own).
const shot = (name) => path.join(ARTIFACTS, `loop-${name}${ON_POSTGRES ? '-postgres' : ''}.png`);

// A call to the field client's local API (what its page calls).
async function client(method, target, body, raw) {
  const r = await fetch(ui.url.replace(/\/$/, '') + target, {
    method, headers: raw ? { 'Content-Type': 'image/png' } : { 'Content-Type': 'application/json' },
    body: raw ?? (body ? JSON.stringify(body) : undefined) });
  return { status: r.status, json: await r.json() };
}
// Fills a new record of `form` as an inspector would: the given answers and
// repeat instances first, then each shown, required, empty question with
// the first value the form accepts (choices in order, photos as a PNG),
// until it finalizes. Returns the record's id.
async function fillAndFinalize(form, answers, repeats) {
  const rec = (await client('POST', '/v1/records', { form_id: form })).json;
  const def = (await client('GET', `/v1/forms/${form}/${rec.form_version}`)).json;
  const answer = (p, value) => client('POST', `/v1/records/${rec.id}/answer`, { path: p, value });
  for (const r of repeats) assert.equal((await client('POST', `/v1/records/${rec.id}/repeat`, { op: 'add', path: r })).status, 200);
  for (const [p, v] of answers) assert.equal((await answer(p, v)).status, 200, p);
  const guesses = ['1', '2', '5', '30', '2025', '1.5', '2026-09-01', '张德明', '39.56 113.18 1010 6', 'OK'];
  for (let round = 0; round < 8; ++round) {
    const { states } = (await client('GET', `/v1/records/${rec.id}`)).json;
    for (const n of states) {
      const q = def.questions[n.q];
      if (!n.relevant || !n.required || n.read_only || n.value !== '' || /^(begin|end)_/.test(q.type)) continue;
      if (q.type === 'image') {
        const r = await client('POST', `/v1/records/${rec.id}/photo?path=${encodeURIComponent(n.path)}`, null, png(6, 4));
        assert.equal(r.status, 200, JSON.stringify(r.json));
        continue;
      }
      const choices = await client('GET', `/v1/records/${rec.id}/choices?path=${encodeURIComponent(n.path)}`);
      const tries = choices.status === 200 ? choices.json.map((c) => c.name).filter((c) => c !== 'none' && c !== 'other') : guesses;
      for (const v of tries) {
        const r = await answer(n.path, v);
        if (r.status === 200 && !r.json.changes.find((c) => c.path === n.path)?.error) break;
      }
    }
    const done = await client('POST', `/v1/records/${rec.id}/finalize`, {});
    if (done.json.finalized) return rec.id;
    if (round === 7) assert.fail('the record does not finalize: ' + JSON.stringify(done.json.problems));
  }
}

before(async () => {
  store = makeStore('口令');
  const dataDir = path.join(store.dir, 'server');
  addUsers(dataDir, [['wang', 'inspector', '140600000000'], ['li', 'inspector', '140600000000'],
                     ['ma', 'inspector', '140600000000'], ['zhao', 'supervisor', '140600000000'],
                     ['root', 'admin', '*']]);
  ({ proc: server, url: serverUrl } = await startServer(dataDir, ['--tls', 'off']));
  ({ call, login, pushAs } = serverApi(serverUrl));
  ui = await startUi(store.store);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  if (ui) await stop(ui.proc);
  if (server) await stop(server);
});

// Waits until the server's background check has seen every record, then
// returns the queue filtered on constraint problems.
async function problemQueue(token) {
  for (let i = 0; i < 300; ++i) {
    const r = await call('GET', '/v1/review/records?problems=1', token);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    if (r.json.unchecked === 0) return r.json;
    await new Promise((done) => setTimeout(done, 100));
  }
  assert.fail('the server did not check the records within 30 s');
}

test('the review loop: a conflict and a constraint problem, returned, fixed on the device, approved', async () => {
  // The device logs in at its first sync (before going to the village), then
  // the inspector fills a complete record: it passes every check there.
  const phone = await (await browser.newContext(PHONE)).newPage();
  await phone.goto(ui.url);
  await phone.fill('#passphrase', '口令');
  await phone.click('#unlock');
  await phone.waitForSelector('#sync-go');
  await phone.fill('#sync-server', serverUrl);
  await phone.fill('#sync-user', 'wang');
  await phone.fill('#sync-password', 'wang-password');
  await phone.click('#sync-go');
  await phone.waitForFunction(() => !document.getElementById('sync-server') && /上传 0/.test(document.getElementById('sync-status')?.textContent || ''));
  const id = await fillAndFinalize('toilet', [['survey_date', '2026-09-01'], ['has_toilet', 'yes'], ['renovated', 'yes'],
                                              ['toilet_type', 'three_compartment'], ['problems[1]/deadline', '2026-09-20'],
                                              ['problems[1]/prob_status', 'pending']], ['problems']);
  await phone.reload();
  await phone.waitForSelector(`#records-finalized [data-record="${id}"]`);
  await phone.click('#sync-go');
  await phone.waitForSelector(`#records-synced [data-record="${id}"]`);

  const zhao = await login('zhao');
  assert.equal((await problemQueue(zhao)).total, 0, 'the record as the inspector finalized it passes');
  const dashBefore = (await call('GET', '/v1/review/dashboard', zhao)).json.total;

  // Two colleagues' devices change it offline: li moves the survey date past
  // the deadline (each edit passes on its own device, not together with the
  // deadline), and both change the household number.
  const base = {};
  for (const h of (await call('GET', '/v1/records/' + id, zhao)).json.history) base[h.field] = h.version;
  assert.deepEqual(await pushAs('li', id, base, { survey_date: '2026-09-25', hh_no: '12A' }), ['applied', 'applied']);
  assert.deepEqual(await pushAs('ma', id, base, { hh_no: '12B' }), ['conflict']);

  // The supervisor filters the queue on constraint problems.
  assert.equal((await problemQueue(zhao)).total, 1);
  const { page: desk } = await reviewPage(browser, serverUrl, DESKTOP, 'zhao');
  await desk.waitForSelector('#queue tr.rec');
  await desk.check('#f-problems');
  await desk.click('#f-go');
  await desk.waitForFunction(() => document.querySelectorAll('#queue tr.rec').length === 1);
  const row = `#queue tr.rec[data-record="${id}"]`;
  assert.match(await desk.textContent(row), /⚠ 1/, 'the conflict shows in the row');
  assert.match(await desk.textContent(row), /wang/, 'by the inspector who made it');
  assert.match(await desk.textContent(`${row} .flag.problems`), /✗ 1/);
  await desk.screenshot({ path: shot('queue-problems-desktop'), fullPage: true });

  // The record page names the problem and shows the conflict.
  await desk.click(row);
  await desk.waitForSelector('#problems li');
  assert.equal(await desk.locator('#problems li').count(), 1);
  assert.match(await desk.textContent('#problems li[data-path="problems[1]/deadline"]'), /整改时限不能早于调查日期/);
  assert.match(await desk.textContent('#problems li'), /问题与整改|整改时限/, 'the question by its label');
  await desk.waitForSelector('.conflict[data-field="hh_no"]');
  await desk.screenshot({ path: shot('record-problem-desktop') });  // the top: problem, conflict
  const card = desk.locator('.conflict[data-field="hh_no"]');
  await card.locator('.candidate', { hasText: '12A' }).locator('button').click();
  await desk.waitForFunction(() => document.querySelectorAll('.conflict').length === 0);
  await desk.fill('#review-comment', '整改时限早于调查日期，请核实后修改');
  await desk.click('#act-return');
  await desk.waitForSelector('#record-comment');
  assert.match(await desk.textContent('.status'), /已退回/);

  // The inspector's next sync brings it back with the comment; the
  // inspector fixes the deadline, marks the problem rectified, finalizes.
  await phone.click('#sync-go');
  await phone.waitForSelector(`#records-returned [data-record="${id}"]`);
  assert.match(await phone.textContent('#records-returned'), /整改时限早于调查日期/);
  await phone.click(`#records-returned [data-record="${id}"]`);
  await phone.waitForSelector('#jump');
  const problemsPage = await phone.locator('#jump option').evaluateAll(
    (opts) => opts.find((o) => /问题与整改/.test(o.textContent))?.value);
  assert.ok(problemsPage !== undefined, 'the form has a page of problems');
  await phone.selectOption('#jump', problemsPage);
  const saved = async (action) => {
    const before = await phone.evaluate(() => S.applied);
    await action();
    await phone.waitForFunction((b) => S.applied > b, before);
  };
  const q = (p) => `.q[data-path="${p}"]`;
  await phone.waitForSelector(q('problems[1]/deadline'));
  assert.match(await phone.textContent(q('problems[1]/deadline')), /整改时限不能早于调查日期/,
               'the device shows the same problem');
  await saved(() => phone.fill(`${q('problems[1]/deadline')} input`, '2026-10-10').then(() => phone.locator(`${q('problems[1]/deadline')} input`).blur()));
  await saved(() => phone.click(`${q('problems[1]/prob_status')} input[value="fixed"]`));
  await saved(() => phone.fill(`${q('problems[1]/fixed_date')} input`, '2026-10-05').then(() => phone.locator(`${q('problems[1]/fixed_date')} input`).blur()));
  await saved(() => phone.locator(`${q('problems[1]/prob_photo_after')} input[type=file]`)
    .setInputFiles({ name: 'after.png', mimeType: 'image/png', buffer: png(6, 4) }));
  await phone.screenshot({ path: shot('fix-phone'), fullPage: true });
  const last = await phone.locator('#jump option').evaluateAll((opts) => opts[opts.length - 1].value);
  await phone.selectOption('#jump', last);
  await phone.click('#finalize');
  await phone.waitForSelector('#finalized');
  await phone.click('#finalized ~ .row button');
  await phone.click('#sync-go');
  await phone.waitForSelector(`#records-synced [data-record="${id}"]`);

  // The supervisor sees the fix: no problem left, the record to review again.
  assert.equal((await problemQueue(zhao)).total, 0);
  await desk.reload();
  await desk.waitForSelector('#record-title');
  assert.equal(await desk.locator('#problems').count(), 0, 'no problem listed any more');
  assert.match(await desk.textContent('.status'), /待审核/);
  await desk.click('#act-approve');
  await desk.waitForFunction(() => /已通过/.test(document.querySelector('.status')?.textContent || ''));

  // The dashboard: one more problem rectified, one more record approved.
  const dashAfter = (await call('GET', '/v1/review/dashboard', zhao)).json.total;
  assert.equal(dashAfter.toilet.problems_fixed, dashBefore.toilet.problems_fixed + 1);
  assert.equal(dashAfter.approved, dashBefore.approved + 1);
  await desk.click('#back');
  await desk.waitForSelector('#tab-dashboard');
  await desk.click('#tab-dashboard');
  await desk.waitForSelector('#dash-toilet tbody tr');
  const total = await desk.locator('#dash-toilet tbody tr').last().locator('td').allTextContents();
  assert.equal(total[6], `${dashAfter.toilet.problems_fixed}/${dashAfter.toilet.problems}`);
  await desk.screenshot({ path: shot('dashboard-desktop'), fullPage: true });
  await phone.context().close();
  await desk.context().close();

  // The low-income list, imported on the admin page: the dashboard counts
  // the household of this loop's record as listed, and one more not yet assessed.
  const { page: admin } = await reviewPage(browser, serverUrl, DESKTOP, 'root');
  await admin.waitForSelector('#tab-admin');
  await admin.click('#tab-admin');
  await admin.waitForSelector('#priority-list');
  const list = path.join(store.dir, 'low-income.csv');
  fs.writeFileSync(list, 'hh_key,category\n140622100201-9001,dibao\n140622100201-9002,tekun\n');
  await admin.setInputFiles('#list-file', list);
  await admin.click('#import-list');
  await admin.waitForSelector('#admin-ok:has-text("2")');
  assert.equal(await admin.textContent('#admin-msg'), '');
  await admin.screenshot({ path: shot('admin-desktop'), fullPage: true });
  await admin.context().close();
  const withList = (await call('GET', '/v1/review/dashboard', zhao)).json;
  assert.equal(withList.total.housing.priority_listed, 2);
  assert.deepEqual(withList.unassessed.map((u) => u.hh_key), ['140622100201-9001', '140622100201-9002']);
});
