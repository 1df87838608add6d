// Field UI benchmark, all on 127.0.0.1 and self-stopping:
//  - time from an answer change in the page to the updated screen (API round
//    trip + DOM patch) on the generated 1,000-question form, p50/p95, in
//    headless Chromium;
//  - cold start of `tianye ui` to the first usable page;
//  - memory of the client process with 1,000 records and 200 photos.
// Usage: node tests/bench/ui_bench.mjs   (TIANYE_CLI, TIANYE_BENCH_FORM set by scripts/bench)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startUi, stop, launch, png } from '../browser/harness.mjs';

const CLI = process.env.TIANYE_CLI;
const dir = fs.mkdtempSync('/tmp/tianye-uibench-');
const store = path.join(dir, 'field.db');
const passFile = path.join(dir, 'pass');
fs.writeFileSync(passFile, 'bench\n');
execFileSync(CLI, ['init', '--store', store, '--passphrase-file', passFile]);
execFileSync(CLI, ['forms', 'install', process.env.TIANYE_BENCH_FORM, '--store', store, '--passphrase-file', passFile]);

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(p * (s.length - 1))]; };
const rss = (pid) => {
  const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: Number(st.match(/VmRSS:\s+(\d+)/)[1]) / 1024, hwm: Number(st.match(/VmHWM:\s+(\d+)/)[1]) / 1024 };
};

const browser = await launch();
// Cold start: process spawn to the first page usable in the browser.
const t0 = performance.now();
let ui = await startUi(store);
const page = await (await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'zh-CN' })).newPage();
await page.goto(ui.url);
await page.waitForSelector('#passphrase');
const coldStart = performance.now() - t0;

await page.fill('#passphrase', 'bench');
await page.click('#unlock');
await page.waitForSelector('#forms button');
await page.click('#forms button[data-form="bench"]');
await page.waitForSelector('[data-path="q1"] input');

// Answer changes measured inside the page: from the change event until the
// next question's visibility reflects it (7 hides the next question).
const times = await page.evaluate(async () => {
  const out = [];
  for (let k = 0; k < 120; k++) {
    const i = 1 + ((k * 37) % 900);
    if (i % 10 === 9 || i % 10 === 8) continue;  // calculations are not inputs; keep q(i+1) a question
    const input = document.querySelector(`[data-path="q${i}"] input`);
    const next = document.querySelector(`[data-path="q${i + 1}"]`);
    if (!input || !next || input.closest('[hidden]')) continue;
    const hide = next.hidden ? '3' : '7';
    const t = performance.now();
    input.value = hide;
    input.dispatchEvent(new Event('change'));
    await new Promise((resolve) => {
      const check = () => (next.hidden === (hide === '7') ? resolve() : requestAnimationFrame(check));
      check();
    });
    out.push(performance.now() - t);
  }
  return out;
});

// Memory with 1,000 records and 200 photos.
const api = (method, p, body, type = 'application/json') => page.evaluate(async ([m, u, b, ty]) => {
  const r = await fetch(u, { method: m, headers: { 'Content-Type': ty }, body: b });
  return r.json();
}, [method, p, body, type]);
const photo = png(640, 480).toString('base64');
const ids = [];
for (let n = 0; n < 1000; n++) ids.push((await api('POST', '/v1/records', JSON.stringify({ form_id: 'bench' }))).id);
for (let n = 0; n < 200; n++) {
  await page.evaluate(async ([id, b64, n]) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    bytes[bytes.length - 20] = n % 256;  // 200 different photos
    const r = await fetch(`/v1/records/${id}/photo?path=photo`, { method: 'POST', headers: { 'Content-Type': 'image/png' }, body: bytes });
    if (!r.ok) throw new Error('photo upload failed: ' + (await r.text()));
  }, [ids[n], photo, n]);
}
const mem = rss(ui.proc.pid);
await browser.close();
await stop(ui.proc);
fs.rmSync(dir, { recursive: true, force: true });

console.log('Field UI benchmark (headless Chromium, the 1,003-question benchmark form, 950 questions on one page)\n');
console.log('| measure | value | target |');
console.log('|---|---|---|');
console.log(`| answer change to updated screen, p50 | ${pct(times, 0.5).toFixed(1)} ms | |`);
console.log(`| answer change to updated screen, p95 | ${pct(times, 0.95).toFixed(1)} ms | under 50 ms |`);
console.log(`| cold start of tianye ui to first usable page | ${coldStart.toFixed(0)} ms | |`);
console.log(`| client RSS with 1,000 records and 200 photos | ${mem.rss.toFixed(1)} MiB (peak ${mem.hwm.toFixed(1)} MiB) | |`);
console.log(`\n(${times.length} answer changes measured)`);
