// Each of the three shipped forms filled end to end through the page, at
// phone size, until it finalizes: every shown required question is answered
// with its real control (radio, checkbox, numeric or date input, the GPS
// button, the photo input), values the form refuses are replaced, and the
// finalize summary's links lead back to what is still missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { makeStore, startUi, stop, launch, PHONE, png, ARTIFACTS } from './harness.mjs';

let browser, ui, store;
before(async () => {
  store = makeStore('口令');
  ui = await startUi(store.store);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  if (ui) await stop(ui.proc);
});

const SKIP_CHOICES = new Set(['none', 'other', 'not_yet', 'unknown', 'dangerous', 'vacant', 'no_house']);
const NUMBERS = ['1', '2', '3', '5', '10', '30', '2025', '2020', '1.5', '0.5', '100'];
const TEXTS = ['张德明测试', 'A-101', 'Fagopyrum esculentum', '13912345678', '11010519491231002X'];

// Runs `action` and waits until the page has drawn the server's answer to it.
async function saved(page, action) {
  const before = await page.evaluate(() => S.applied);
  await action();
  await page.waitForFunction((b) => S.applied > b, before);
}

// Answers one shown, required, empty question; true when it tried something.
async function fillOne(page, box) {
  const type = await box.getAttribute('data-type');
  const p = await box.getAttribute('data-path');
  const error = () => box.locator('.error').textContent();
  if (type.startsWith('select') || type === 'rank') {
    const search = box.locator('input[list]');
    if (await search.count()) {
      const first = await box.locator('datalist option').first().getAttribute('value');
      await saved(page, () => search.fill(first).then(() => search.blur()));
      return true;
    }
    await box.locator('input').first().waitFor();
    const inputs = box.locator('input');
    const values = await inputs.evaluateAll((els) => els.map((e) => e.value));
    const current = await inputs.evaluateAll((els) => els.filter((e) => e.checked).map((e) => e.value));
    const order = values.filter((x) => !SKIP_CHOICES.has(x)).concat(values.filter((x) => SKIP_CHOICES.has(x)));
    for (const v of order.filter((x) => !current.includes(x))) {
      await saved(page, () => box.locator(`input[value="${v}"]`).click());
      if (!(await error())) return true;
      if (type.startsWith('select_multiple') || type === 'rank') await saved(page, () => box.locator(`input[value="${v}"]`).click());
    }
    return true;
  }
  if (type.startsWith('geo')) { await saved(page, () => box.locator('button').click()); return true; }
  if (['image', 'file', 'audio', 'video'].includes(type)) {
    await saved(page, () => box.locator('input[type=file]').setInputFiles({ name: 'p.png', mimeType: 'image/png', buffer: png(6, 4) }));
    return true;
  }
  if (type === 'acknowledge') { await saved(page, () => box.locator('input').check()); return true; }
  const input = box.locator('input, textarea').first();
  const kind = (await input.getAttribute('type')) || 'text';
  const mode = await input.getAttribute('inputmode');
  const tries = kind === 'date' ? ['2026-11-28', '2026-11-30', '2025-01-01'] : kind === 'time' ? ['08:30']
              : mode === 'numeric' || mode === 'decimal' ? NUMBERS : TEXTS;
  const current = await input.inputValue();  // the same value again would send nothing
  for (const v of tries.filter((x) => x !== current)) {
    await saved(page, () => input.fill(v).then(() => input.blur()));
    if (!(await error())) return true;
  }
  throw new Error(`no value accepted for ${p}: ${await error()}`);
}

async function fillPage(page) {
  const tried = new Map();
  for (let round = 0; round < 60; round++) {
    const boxes = page.locator('.q:not([hidden])');
    const n = await boxes.count();
    let did = false;
    for (let i = 0; i < n; i++) {
      const box = boxes.nth(i);
      if (!(await box.isVisible())) continue;
      const required = (await box.locator('.req').textContent()) === '*';
      const filled = await box.evaluate((b) => {
        const checked = b.querySelector('input:checked');
        const text = b.querySelector('input[type=text], input[type=date], input[type=time], textarea, input[list]');
        const img = b.querySelector('img.thumb');
        const gps = b.querySelector('[id$="-info"]');
        return !!(checked || (text && text.value) || (img && !img.hidden) || (gps && /\d/.test(gps.textContent)));
      });
      const wrong = await box.evaluate((b) => b.classList.contains('has-error'));
      if ((required && !filled) || wrong) {
        if (tried.get(await box.getAttribute('data-path')) > 3) continue;
        tried.set(await box.getAttribute('data-path'), (tried.get(await box.getAttribute('data-path')) || 0) + 1);
        await fillOne(page, box);
        did = true;
        break;  // the page may have changed
      }
    }
    if (!did) return;
  }
}

// Repeat instances each form needs, added when their page is reached.
const REPEATS = {
  toilet: [['problems', [['prob_cat', 'winter']]]],
  // The grade needs a foundation, a load-bearing member and a roof.
  housing: [['components', [['comp_type', 'foundation']]], ['components', [['comp_type', 'bearing_wall']]],
            ['components', [['comp_type', 'roof_floor']]]],
  germplasm: [['sample', [['res_cat', 'crop']]]],
};

async function fillForm(page, form) {
  await page.click(`#forms button[data-form="${form}"]`);
  await page.waitForSelector('[data-path="survey_date"]');
  const pages = await page.locator('#jump option').count();
  for (let i = 0; i < pages; i++) {
    await page.selectOption('#jump', String(i));
    await page.waitForSelector('#page', { state: 'attached' });
    for (const [name, answers] of REPEATS[form]) {
      if (await page.locator(`[data-add="${name}"]:visible`).count()) await addRepeat(page, name, answers);
    }
    await fillPage(page);
  }
  for (let attempt = 0; attempt < 6; attempt++) {
    while (await page.locator('#next').count()) await page.click('#next');
    await page.click('#finalize');
    await page.waitForSelector('#finalized, #problems a');
    if (await page.locator('#finalized').count()) return;
    const links = await page.locator('#problems a').evaluateAll((as) => as.map((a) => a.dataset.goto));
    console.error(`${form} attempt ${attempt}: ${await page.textContent('#problems')}`);
    await page.locator(`#problems a[data-goto="${links[0]}"]`).click();
    await fillPage(page);
  }
  throw new Error(form + ' did not finalize: ' + (await page.textContent('#problems')));
}

async function addRepeat(page, name, answers) {
  const before = await page.locator(`[data-instance^="${name}["]`).count();
  await saved(page, () => page.click(`[data-add="${name}"]`));
  const n = before + 1;
  await page.waitForSelector(`[data-instance="${name}[${n}]"]`);
  for (const [q, v] of answers) {
    const sel = `[data-path="${name}[${n}]/${q}"] input[value="${v}"]`;
    await page.waitForSelector(sel);
    await saved(page, () => page.click(sel));
  }
}

for (const form of ['toilet', 'housing', 'germplasm']) {
  test(`${form}: filled through the page until it finalizes`, async () => {
    const ctx = await browser.newContext(PHONE);
    const page = await ctx.newPage();
    await page.goto(ui.url);
    await page.waitForSelector('#passphrase, #forms');
    if (await page.locator('#passphrase').count()) {
      await page.fill('#passphrase', '口令');
      await page.click('#unlock');
    }
    await page.waitForSelector('#forms');
    await fillForm(page, form);
    await page.screenshot({ path: path.join(ARTIFACTS, `phone-${form}-finalized.png`) });
    assert.equal(await page.locator('#finalized').count(), 1);
    await page.click('#finalized + .row button');
    await page.waitForSelector('#records-finalized li');
    await ctx.close();
  });
}
