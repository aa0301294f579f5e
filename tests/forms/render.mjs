#!/usr/bin/env node
// Renders a FHIR R4 Questionnaire in LHC-Forms (a standard SDC renderer) in headless Chromium,
// checks what the form shows, answers it like a patient would, and saves what LHC-Forms makes.
//
//   node render.mjs QUESTIONNAIRE.json OUT-QR.json OUT-SCREENSHOT.png
//
// Checks, each a hard failure (exit 1 with a message naming what went wrong):
//   * the page loads with no page error, console error, failed or non-local request;
//   * every linkId of the Questionnaire is in LHC-Forms' form model (help display items,
//     which LHC-Forms turns into the parent's help text, are checked as that help text);
//   * enableWhen: regions, spread-pattern, duration, onset-speed, progression and
//     recent-infection are hidden until a symptom is answered yes, then shown; urgent-advice
//     and central-advice stay hidden; chemotherapy-when follows chemotherapy = Yes;
//     testicular-pain is shown while sex is unanswered, hidden for Female, shown for Male;
//   * the answers typed and clicked are in the QuestionnaireResponse LHC-Forms produces.
// The last line on stdout is a JSON summary (read by test_lhc_forms.py).
// Everything runs against 127.0.0.1 only, and the whole run is bounded by TOTAL_TIMEOUT_MS.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const TOTAL_TIMEOUT_MS = 50_000;
const STEP_TIMEOUT_MS = 10_000;
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// Items whose enableWhen hangs on the symptom questions (any symptom = yes enables them).
const SYMPTOM_GATED = ['regions', 'spread-pattern', 'duration', 'onset-speed', 'progression', 'recent-infection'];
const ANSWER_SYSTEM = 'http://neuroscreen.org/fhir/CodeSystem/screen-answers';

class RenderFailure extends Error {}

function fail(message) {
  throw new RenderFailure(message);
}

function check(condition, message) {
  if (!condition) fail(message);
}

// --- static server: the page and node_modules of tests/forms, nothing else -----------------

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.svg': 'image/svg+xml',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
};

function startServer() {
  const roots = [path.join(HERE, 'page'), path.join(HERE, 'node_modules')];
  const server = http.createServer((req, res) => {
    let file;
    try {
      file = path.join(HERE, decodeURIComponent(new URL(req.url, 'http://127.0.0.1').pathname));
    } catch {
      file = null;
    }
    const allowed =
      req.method === 'GET' && file && roots.some((root) => file.startsWith(root + path.sep));
    if (!allowed) {
      res.writeHead(404).end();
      return;
    }
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404).end();
        return;
      }
      const type = MIME[path.extname(file)] || 'application/octet-stream';
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(data);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// --- in-page helpers -----------------------------------------------------------------------

const itemLocator = (page, linkIdPath) => page.locator(`lhc-item[id="item-${linkIdPath}"]`);

/** Whether LHC-Forms shows the item: its model status and its element on the page. */
async function visibility(page, linkId) {
  const model = await page.evaluate((id) => {
    const form = document.querySelector('wc-lhc-form').lhcFormData;
    const item = form.itemList.find((i) => i.linkId === id);
    return item ? item._skipLogicStatus || 'target-enabled' : null;
  }, linkId);
  check(model !== null, `item ${linkId} is missing from the LHC-Forms form model`);
  const shown = (await page.locator(`lhc-item[id^="item-${linkId}/"]`).count()) > 0;
  const enabled = model !== 'target-disabled';
  check(
    shown === enabled,
    `item ${linkId}: form model says ${model} but the page ${shown ? 'shows' : 'hides'} it`,
  );
  return shown;
}

async function expectShown(page, linkIds, shown, when) {
  for (const linkId of linkIds) {
    const actual = await visibility(page, linkId);
    check(
      actual === shown,
      `enableWhen: ${linkId} should be ${shown ? 'shown' : 'hidden'} ${when}, but is ${
        actual ? 'shown' : 'hidden'
      }`,
    );
  }
}

async function click(page, id) {
  const target = page.locator(`[id="${id}"]`);
  check((await target.count()) === 1, `no unique element with id ${id} to click`);
  await target.click({ timeout: STEP_TIMEOUT_MS });
}

/** Every linkId of the Questionnaire, with whether it is a help display item. */
function questionnaireLinkIds(questionnaire) {
  const found = [];
  const walk = (items, parent) => {
    for (const item of items || []) {
      const help = (item.extension || []).some(
        (ext) =>
          ext.url === 'http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl' &&
          (ext.valueCodeableConcept?.coding || []).some((c) => c.code === 'help'),
      );
      found.push({ linkId: item.linkId, type: item.type, text: item.text, help, parent });
      walk(item.item, item.linkId);
    }
  };
  walk(questionnaire.item, null);
  return found;
}

// --- the run -------------------------------------------------------------------------------

async function run(questionnairePath, qrPath, screenshotPath, cleanup) {
  const questionnaire = JSON.parse(fs.readFileSync(questionnairePath, 'utf8'));
  check(questionnaire.resourceType === 'Questionnaire', `${questionnairePath} is no Questionnaire`);
  check(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}`);

  const server = await startServer();
  cleanup.push(() => new Promise((resolve) => server.close(resolve)));
  const origin = `http://127.0.0.1:${server.address().port}`;

  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'neuroscreen-lhc-chromium-'));
  cleanup.push(() => fs.rmSync(userDataDir, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1280, height: 900 },
    timeout: 20_000,
  });
  cleanup.unshift(() => context.close());
  context.setDefaultTimeout(STEP_TIMEOUT_MS);

  const problems = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`) || url.startsWith('data:')) return route.continue();
    problems.push(`request to a non-local address: ${url}`);
    return route.abort();
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
    else if (msg.type() === 'warning' || /warn/i.test(msg.text())) {
      console.error(`[browser ${msg.type()}] ${msg.text()}`);
    }
  });
  page.on('requestfailed', (req) => {
    if (!req.url().startsWith(origin)) return; // reported by the route above
    problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`);
  });
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.url()}`);
  });
  const noProblems = (stage) => check(problems.length === 0, `${stage}:\n  ${problems.join('\n  ')}`);

  // 1. Load LHC-Forms and the R4 support, then the Questionnaire.
  await page.goto(`${origin}/page/index.html`, { waitUntil: 'load' });
  await page.waitForFunction(
    () => window.LForms?.Util?.addFormToPage && window.LForms?.FHIR?.R4 && window.Zone,
    null,
    { timeout: STEP_TIMEOUT_MS },
  );
  noProblems('loading LHC-Forms');
  const lformsVersion = await page.evaluate(() => window.LForms.lformsVersion ?? null);
  const loadError = await page.evaluate(
    (q) =>
      LForms.Util.addFormToPage(q, 'container', { fhirVersion: 'R4' }).then(
        () => null,
        (err) => (err instanceof Error ? err.message : JSON.stringify(err)),
      ),
    questionnaire,
  );
  check(loadError === null, `LForms.Util.addFormToPage rejected the Questionnaire: ${loadError}`);
  await page.waitForFunction(
    () => document.querySelector('wc-lhc-form')?.lhcFormData?.itemList?.length > 0,
    null,
    { timeout: STEP_TIMEOUT_MS },
  );
  await page.locator('lhc-item').first().waitFor({ state: 'visible' });
  noProblems('rendering the Questionnaire');

  // 2. Every linkId is in the form model (help display items as their parent's help text).
  const model = await page.evaluate(() => {
    const form = document.querySelector('wc-lhc-form').lhcFormData;
    return form.itemList.map((i) => ({
      linkId: i.linkId,
      help: i.codingInstructions ?? null,
      question: i.question ?? null,
    }));
  });
  const modelById = new Map(model.map((m) => [m.linkId, m]));
  const linkIds = questionnaireLinkIds(questionnaire);
  const missing = [];
  for (const item of linkIds) {
    if (item.help) {
      const parent = modelById.get(item.parent);
      if (!parent || !(parent.help || '').includes(item.text)) missing.push(`${item.linkId} (help)`);
    } else if (!modelById.has(item.linkId)) {
      missing.push(item.linkId);
    } else if (item.text && modelById.get(item.linkId).question !== item.text) {
      missing.push(`${item.linkId} (text differs: ${modelById.get(item.linkId).question})`);
    }
  }
  check(missing.length === 0, `linkIds missing from the LHC-Forms form model: ${missing}`);
  const questionCount = linkIds.filter((i) => !['group', 'display'].includes(i.type)).length;

  // 3. enableWhen before any answer.
  await expectShown(page, [...SYMPTOM_GATED, 'urgent-advice', 'central-advice', 'chemotherapy-when'], false, 'before any answer');
  await expectShown(page, ['testicular-pain', 'burning', 'age'], true, 'before any answer');

  // 4. Answer like a patient: click and type on the page.
  await page.locator('[id="age/1/1"]').fill('52');
  await page.locator('[id="age/1/1"]').press('Tab');
  await click(page, `sex/1/1|${ANSWER_SYSTEM}|female`);
  await expectShown(page, ['testicular-pain'], false, 'when sex is Female');
  await click(page, `sex/1/1|${ANSWER_SYSTEM}|male`);
  await expectShown(page, ['testicular-pain'], true, 'when sex is Male');
  await click(page, `sex/1/1|${ANSWER_SYSTEM}|female`);
  await expectShown(page, ['testicular-pain'], false, 'when sex is Female again');

  await click(page, 'burning/1/1|false');
  await expectShown(page, SYMPTOM_GATED, false, 'when burning is No');
  await click(page, 'burning/1/1|true');
  await expectShown(page, SYMPTOM_GATED, true, 'when burning is Yes');
  await expectShown(page, ['urgent-advice'], false, 'with no red-flag answer');
  await click(page, 'tingling/1/1|true');
  await click(page, 'numbness/1/1|true');
  await click(page, 'electric-shocks/1/1|false');

  // The enabled items are now on the page; find their element ids (group/item positions).
  const idOf = async (linkId) => {
    const id = await page.locator(`lhc-item[id^="item-${linkId}/"]`).getAttribute('id');
    return id.slice('item-'.length);
  };
  const regions = await idOf('regions');
  await click(page, `${regions}|${ANSWER_SYSTEM}|left-foot`);
  await click(page, `${regions}|${ANSWER_SYSTEM}|right-hand`);
  const spread = await idOf('spread-pattern');
  await click(page, `${spread}|${ANSWER_SYSTEM}|separate-nerves`);
  await click(page, `${await idOf('recent-infection')}|false`);
  await click(page, `${await idOf('weight-loss')}|true`);
  await click(page, `${await idOf('known-conditions')}|${ANSWER_SYSTEM}|sjogren`);
  await click(page, `${await idOf('diabetes')}|false`);
  // 1.1.0: chemotherapy-when is asked only after chemotherapy = Yes.
  await click(page, `${await idOf('one-side-body')}|false`);
  await expectShown(page, ['central-advice'], false, 'when one-side-body is No');
  await click(page, `${await idOf('chemotherapy')}|false`);
  await expectShown(page, ['chemotherapy-when'], false, 'when chemotherapy is No');
  await click(page, `${await idOf('chemotherapy')}|true`);
  await expectShown(page, ['chemotherapy-when'], true, 'when chemotherapy is Yes');
  await click(page, `${await idOf('chemotherapy-when')}|${ANSWER_SYSTEM}|over-12-months-ago`);
  await click(page, `${await idOf('onset-speed')}|${ANSWER_SYSTEM}|weeks-to-months`);

  // Answered, and shown as answered.
  check(
    (await page.locator('[id="age/1/1"]').inputValue()) === '52',
    'the age field does not show 52',
  );
  for (const id of [`${regions}|${ANSWER_SYSTEM}|left-foot`, `${spread}|${ANSWER_SYSTEM}|separate-nerves`, 'burning/1/1|true']) {
    const checked = await page.locator(`[id="${id}"] input`).isChecked();
    check(checked, `${id} does not show as checked after clicking it`);
  }
  noProblems('answering the form');
  // Every help display item is a help button now (spread-pattern's one only shows once enabled).
  const helpButtons = await page.locator('button.lhc-help-button').count();
  const helpItems = linkIds.filter((i) => i.help).length;
  check(helpButtons === helpItems, `${helpButtons} help buttons shown for ${helpItems} help items`);

  // 5. What LHC-Forms makes of it.
  const qr = await page.evaluate(() =>
    LForms.Util.getFormFHIRData('QuestionnaireResponse', 'R4', document.getElementById('container')),
  );
  check(qr && qr.resourceType === 'QuestionnaireResponse', 'getFormFHIRData returned no QuestionnaireResponse');
  const answers = {};
  const collect = (items) => {
    for (const item of items || []) {
      if (item.answer) answers[item.linkId] = item.answer;
      collect(item.item);
      for (const answer of item.answer || []) collect(answer.item);
    }
  };
  collect(qr.item);
  const codes = (linkId) => (answers[linkId] || []).map((a) => a.valueCoding?.code);
  check(answers.age?.[0]?.valueInteger === 52, `age in the QR is ${JSON.stringify(answers.age)}`);
  check(answers.burning?.[0]?.valueBoolean === true, `burning in the QR is ${JSON.stringify(answers.burning)}`);
  check(codes('spread-pattern').join() === 'separate-nerves', `spread-pattern in the QR is ${codes('spread-pattern')}`);
  check(codes('regions').sort().join() === 'left-foot,right-hand', `regions in the QR are ${codes('regions')}`);
  check(!('testicular-pain' in answers) && !('urgent-advice' in answers), 'a disabled item is in the QR');
  fs.writeFileSync(qrPath, JSON.stringify(qr, null, 2) + '\n');

  // Move focus off the last answer (LHC-Forms highlights the active row), let the radio
  // animations finish, and photograph the whole form.
  await page.locator('#page-title').click();
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({
    path: screenshotPath,
    fullPage: true,
    animations: 'disabled',
    timeout: STEP_TIMEOUT_MS,
  });
  noProblems('the whole run');

  return {
    ok: true,
    lformsVersion,
    chromium: context.browser()?.version() ?? null,
    linkIds: linkIds.length,
    questions: questionCount,
    helpItems,
    answered: Object.keys(answers).sort(),
  };
}

async function main() {
  const [questionnairePath, qrPath, screenshotPath] = process.argv.slice(2);
  if (!questionnairePath || !qrPath || !screenshotPath) {
    console.error('usage: node render.mjs QUESTIONNAIRE.json OUT-QR.json OUT-SCREENSHOT.png');
    process.exit(2);
  }
  const cleanup = [];
  const watchdog = setTimeout(() => {
    console.error(`render.mjs: FAILED: gave up after ${TOTAL_TIMEOUT_MS / 1000} s`);
    process.exit(1);
  }, TOTAL_TIMEOUT_MS);
  let code = 0;
  try {
    const summary = await run(questionnairePath, qrPath, screenshotPath, cleanup);
    console.log(JSON.stringify(summary));
  } catch (err) {
    const what = err instanceof RenderFailure ? err.message : err.stack || String(err);
    console.error(`render.mjs: FAILED: ${what}`);
    code = 1;
  } finally {
    for (const step of cleanup) {
      try {
        await step();
      } catch (err) {
        console.error(`render.mjs: cleanup: ${err.message}`);
      }
    }
    clearTimeout(watchdog);
  }
  process.exit(code);
}

main();
