// The field client's web UI in headless Chromium at phone size, against a
// real `tianye ui` process and a real encrypted store.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { makeStore, startUi, stop, launch, PHONE, DESKTOP, png, ARTIFACTS } from './harness.mjs';

let browser, ui, store;
before(async () => {
  store = makeStore('村里的口令 2026');
  ui = await startUi(store.store);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  if (ui) await stop(ui.proc);
});

const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, name + '.png'), fullPage: true });

// Opens the page and unlocks the store if it is locked (the local process
// stays unlocked across page loads until it is locked or idle).
async function unlock(page, url) {
  await page.goto(url);
  await page.waitForSelector('#passphrase, #forms');
  if (await page.locator('#passphrase').count()) {
    await page.fill('#passphrase', '村里的口令 2026');
    await page.click('#unlock');
  }
  await page.waitForSelector('#forms');
}

// Answers through the page; waits until the local process has saved it and
// the page has drawn the result.
async function answered(page, action) {
  const saved = page.waitForResponse((r) => /\/(answer|photo|repeat)$|\/photo\?/.test(r.url()) && r.request().method() === 'POST');
  const before = await page.evaluate(() => S.applied);
  await action();
  const r = await saved;
  assert.equal(r.status(), 200, await r.text());
  await page.waitForFunction((b) => S.applied > b, before);
}

async function gotoQuestion(page, p) {
  for (let i = 0; i < 30; i++) {
    if (await page.locator(`[data-path="${p}"]`).count()) return;
    await page.click('#next');
  }
  throw new Error('question not found: ' + p);
}

test('wrong passphrase is refused, right one unlocks, Chinese is rendered', async () => {
  const ctx = await browser.newContext(PHONE);
  const page = await ctx.newPage();
  await page.goto(ui.url);
  await page.fill('#passphrase', 'wrong');
  await page.tap('#unlock');
  await page.waitForFunction(() => document.querySelector('#unlock-msg').textContent === '口令不正确');
  // Nothing of the store is served before unlocking.
  const before = await page.evaluate(async () => (await fetch('/v1/records')).status);
  assert.equal(before, 401);
  await page.fill('#passphrase', '村里的口令 2026');
  await page.tap('#unlock');
  await page.waitForSelector('#forms button');
  assert.match(await page.textContent('#forms'), /农村户厕改造摸排整改/);
  // No horizontal scrolling at 390 px; a CJK font draws the hanzi (not tofu).
  assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);
  const tofu = await page.evaluate(() => {
    const d = (s) => { const c = document.createElement('canvas'); c.width = c.height = 40;
      const g = c.getContext('2d'); g.font = '32px sans-serif'; g.fillText(s, 2, 32);
      return g.getImageData(0, 0, 40, 40).data.join(); };
    return d('中') === d('\u{10FFFD}');
  });
  assert.equal(tofu, false);
  await shot(page, 'phone-home');
  await ctx.close();
});

test('toilet form: cascade, GPS, skip logic, constraint, repeats, photo, resume, finalize, language, lock', async () => {
  const ctx = await browser.newContext(PHONE);
  let page = await ctx.newPage();
  await unlock(page, ui.url);
  await page.tap('#forms button[data-form="toilet"]');
  await page.waitForSelector('[data-path="survey_date"]');
  await shot(page, 'phone-toilet-header');

  // Header: text, date, a short list as radios, cascading county -> town -> village.
  await answered(page, () => page.fill('[data-path="survey_date"] input', '2026-11-28').then(() => page.locator('[data-path="survey_date"] input').blur()));
  await answered(page, () => page.fill('[data-path="enum_name"] input', '李秀英').then(() => page.locator('[data-path="enum_name"] input').blur()));
  await answered(page, () => page.tap('[data-path="county"] input[value="140622"]'));
  await page.waitForSelector('[data-path="town"] input[value="140622100"]');
  assert.equal(await page.locator('[data-path="town"] input[value^="140603"]').count(), 0);
  await answered(page, () => page.tap('[data-path="town"] input[value="140622100"]'));
  const village = page.locator('[data-path="village"] input[list]');
  await village.waitFor();
  await answered(page, () => village.fill('东南角村委会 (140622100201)').then(() => village.blur()));
  // GPS from the (emulated) device, with its accuracy shown.
  await answered(page, () => page.tap('[data-path="gps"] button'));
  await page.waitForFunction(() => /精度 8 米/.test(document.querySelector('[data-path="gps"]').textContent));
  assert.equal(await page.locator('[data-path="gps_warn"]').isHidden(), true);

  // Skip logic: no toilet hides the toilet questions.
  await gotoQuestion(page, 'has_toilet');
  await answered(page, () => page.tap('[data-path="has_toilet"] input[value="no"]'));
  assert.equal(await page.locator('[data-path="no_toilet_reason"]').isVisible(), true);
  assert.equal(await page.locator('[data-path="toilet_type"]').isHidden(), true);
  await answered(page, () => page.tap('[data-path="has_toilet"] input[value="yes"]'));
  assert.equal(await page.locator('[data-path="toilet_type"]').isVisible(), true);
  await answered(page, () => page.tap('[data-path="toilet_type"] input[value="three_compartment"]'));

  // A constraint error next to the question, then its fix. Numbers get a numeric keypad.
  const tank = page.locator('[data-path="tank_volume"] input');
  assert.equal(await tank.getAttribute('inputmode'), 'decimal');
  await answered(page, () => tank.fill('50').then(() => tank.blur()));
  assert.equal(await page.textContent('[data-path="tank_volume"] .error'), '容积应在0.2至20立方米之间');
  await shot(page, 'phone-toilet-constraint');
  await answered(page, () => tank.fill('2').then(() => tank.blur()));
  assert.equal(await page.textContent('[data-path="tank_volume"] .error'), '');

  // A repeat with two instances; a cascading problem item within each.
  await gotoQuestion(page, 'problems');
  await answered(page, () => page.tap('[data-add="problems"]'));
  await answered(page, () => page.tap('[data-add="problems"]'));
  await page.waitForSelector('[data-path="problems[2]/prob_cat"]');
  await answered(page, () => page.tap('[data-path="problems[1]/prob_cat"] input[value="product"]'));
  await answered(page, () => page.tap('[data-path="problems[2]/prob_cat"] input[value="winter"]'));
  // Photo capture input, stored encrypted, thumbnail shown.
  const photo = page.locator('[data-path="problems[1]/prob_photo_before"] input[type=file]');
  assert.equal(await photo.getAttribute('capture'), 'environment');
  assert.equal(await photo.getAttribute('accept'), 'image/*');
  await answered(page, () => photo.setInputFiles({ name: '现场照片.png', mimeType: 'image/png', buffer: png(8, 6) }));
  await page.waitForFunction(() => {
    const img = document.querySelector('[data-path="problems[1]/prob_photo_before"] img');
    return img && !img.hidden && img.complete && img.naturalWidth === 8;
  });
  await shot(page, 'phone-toilet-repeat');

  // Kill the client process (no goodbye), restart it: the draft is intact and
  // reopens at the question where the inspector stopped.
  const recordId = await page.evaluate(() => S.record.id);
  await stop(ui.proc, 'SIGKILL');
  ui = await startUi(store.store);
  page = await ctx.newPage();
  await unlock(page, ui.url);
  await page.tap(`[data-record="${recordId}"]`);
  await page.waitForSelector('[data-path="problems[1]/prob_photo_before"]');
  assert.equal(await page.locator('[data-path="problems[2]/prob_cat"] input[value="winter"]').isChecked(), true);
  await gotoQuestion(page, 'tank_volume').catch(async () => {
    await page.selectOption('#jump', '0');
    await gotoQuestion(page, 'tank_volume');
  });
  assert.equal(await page.inputValue('[data-path="tank_volume"] input'), '2');

  // Finalize: a summary of what is missing, with links to the questions.
  while (await page.locator('#next').count()) await page.tap('#next');
  await page.tap('#finalize');
  await page.waitForSelector('#problems a[data-goto]');
  const problems = await page.locator('#problems a').allTextContents();
  assert.ok(problems.some((p) => p.startsWith('consent')), problems.join('\n'));
  await page.locator('#problems a[data-goto="consent"]').tap();
  await page.waitForSelector('[data-path="consent"]');
  await answered(page, () => page.tap('[data-path="consent"] input[value="yes"]'));

  // Language switch, then lock: nothing of the record stays in the page.
  await page.tap('#lang');
  await page.waitForFunction(() => document.querySelector('#next, #finalize') &&
                                   /Next|Finish/.test(document.querySelector('.pager').textContent));
  assert.match(await page.textContent('main'), /Consent|notice/i);
  await shot(page, 'phone-toilet-english');
  await page.tap('#lockbtn');
  await page.waitForSelector('#passphrase');
  assert.doesNotMatch(await page.content(), /李秀英|140622100201/);
  await ctx.close();
});

test('desktop: housing components offer the grades of their type; germplasm opens', async () => {
  const ctx = await browser.newContext(DESKTOP);
  const page = await ctx.newPage();
  await unlock(page, ui.url);
  await page.click('#forms button[data-form="germplasm"]');
  await page.waitForSelector('[data-path="survey_date"]');
  await shot(page, 'desktop-germplasm-header');
  await page.click('#home');
  await page.click('#forms button[data-form="housing"]');
  await page.waitForSelector('[data-path="survey_date"]');
  await shot(page, 'desktop-housing-header');
  await gotoQuestion(page, 'no_house');
  await answered(page, () => page.click('[data-path="no_house"] input[value="no"]'));
  await gotoQuestion(page, 'components');
  await answered(page, () => page.click('[data-add="components"]'));
  await answered(page, () => page.click('[data-path="components[1]/comp_type"] input[value="bearing_wall"]'));
  await page.waitForSelector('[data-path="components[1]/comp_grade"] input[value="c_bearing_wall"]');
  const grades = await page.locator('[data-path="components[1]/comp_grade"] input').evaluateAll((els) => els.map((e) => e.value));
  assert.deepEqual(grades, ['a_bearing_wall', 'b_bearing_wall', 'c_bearing_wall', 'd_bearing_wall']);
  await answered(page, () => page.click('[data-path="components[1]/comp_grade"] input[value="c_bearing_wall"]'));
  assert.equal(await page.locator('[data-path="components[1]/comp_photo"]').isVisible(), true);
  await shot(page, 'desktop-housing-components');
  await ctx.close();
});

test('small phone (360x640): every screen of a form fits without horizontal scrolling', async () => {
  const ctx = await browser.newContext({ ...PHONE, viewport: { width: 360, height: 640 } });
  const page = await ctx.newPage();
  await unlock(page, ui.url);
  await page.click('#forms button[data-form="housing"]');
  await page.waitForSelector('[data-path="survey_date"]');
  const pages = await page.locator('#jump option').count();
  for (let i = 0; i < pages; i++) {
    await page.selectOption('#jump', String(i));
    await page.waitForSelector('#page', { state: 'attached' });
    const fits = await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
    assert.equal(fits, true, `screen ${i + 1} scrolls sideways`);
    // Touch targets: every button and choice row is at least 44 px tall.
    const small = await page.evaluate(() => [...document.querySelectorAll('button, .choice')]
      .filter((e) => e.offsetParent && e.getBoundingClientRect().height < 44).map((e) => e.textContent));
    assert.deepEqual(small, [], `screen ${i + 1}`);
  }
  await page.screenshot({ path: path.join(ARTIFACTS, 'phone360-housing-last.png') });
  await ctx.close();
});

test('idle: after the idle time the page locks itself and shows nothing of the record', async () => {
  const quick = await startUi(store.store, ['--idle-lock', '10']);
  try {
    const ctx = await browser.newContext(PHONE);
    const page = await ctx.newPage();
    await unlock(page, quick.url);
    await page.click('#forms button[data-form="toilet"]');
    await page.waitForSelector('[data-path="enum_name"] input');
    await page.fill('[data-path="enum_name"] input', '赵志刚');
    await page.locator('[data-path="enum_name"] input').blur();
    await page.waitForTimeout(500);
    // No interaction for longer than the idle time.
    await page.waitForSelector('#passphrase', { timeout: 20000 });
    assert.doesNotMatch(await page.content(), /赵志刚/);
    const records = await page.evaluate(async () => (await fetch('/v1/records')).status);
    assert.equal(records, 401);
    await ctx.close();
  } finally {
    await stop(quick.proc);
  }
});
