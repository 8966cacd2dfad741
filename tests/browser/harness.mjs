// Shared by the browser tests: Debian's Chromium through playwright-core (no browser
// download), a fresh profile per browser, screenshots, and small locator helpers.
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const BASE = (process.env.CAMPUS_BASE_URL || 'http://127.0.0.1:3000').replace(/\/+$/, '');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// A fresh browser profile; returns { context, page, errors, close }.
export async function openBrowser(options = {}) {
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'campus-pay-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, headless: true, args: ARGS, locale: 'zh-CN', ...options,
  });
  const page = context.pages()[0] || await context.newPage();
  context.setDefaultTimeout(15000);
  const errors = [];
  context.on('weberror', (err) => errors.push(err.error().message));
  // Anything a page's content security policy blocked counts as an error too.
  const watch = (p) => p.on('console', (m) => {
    if (m.type() === 'error' && m.text().includes('Content Security Policy')) errors.push(m.text());
  });
  context.pages().forEach(watch);
  context.on('page', watch);
  return {
    context, page, errors,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

export async function shot(page, name) {
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

export const url = (p) => `${BASE}/${p}`;
export const byId = (page, id) => page.getByTestId(id);
export const visible = (locator, timeout) => locator.waitFor({ state: 'visible', timeout });

// 学费缴费 first pops up the important 系统公告 not yet acknowledged in this session: acknowledge
// it when it shows, then the wizard (or "nothing payable") appears.
export async function acknowledgeAnnouncements(page) {
  const modal = byId(page, 'announcement-modal');
  await page.locator('[data-testid="announcement-modal"]:visible, [data-testid="step-year"]:visible, [data-testid="nothing-payable"]:visible')
    .first().waitFor();
  if (await modal.isVisible()) {
    await byId(page, 'announcement-ack').click();
    await modal.waitFor({ state: 'detached' });
  }
}

// Where a login landed: 'forced' (initial password), 'home', or 'failed'.
async function landing(page) {
  for (const end = Date.now() + 15000; Date.now() < end; await page.waitForTimeout(100)) {
    const u = page.url();
    if (/\/password\.html\?forced=1$/.test(u)) return 'forced';
    if (/\/home\.html$/.test(u)) return 'home';
    if (await byId(page, 'login-message').isVisible().catch(() => false)) return 'failed';
  }
  return 'timeout';
}

export async function login(page, username, password) {
  await page.goto(url('index.html'));
  await page.getByLabel('用户名').fill(username);
  await page.getByLabel('密码', { exact: true }).fill(password);
  await page.getByRole('button', { name: '登录' }).click();
  return landing(page);
}

// The phones on file of the demo students (infra/local/src/seed.rs), E.164.
export const DEMO_PHONES = {
  '2021010101': '+8618712346579',
  '2021010102': '+8613912345678',
  '2021010103': '+8613893112345',
  '2021010104': '+8615193112345',
  U0001: '+8613609311234',
  '2021010105': '+8613512345678',
  '2021010106': '+8613919312345',
};

// The code of the newest verification SMS for `action` (首次登录验证, 找回密码, 更换绑定手机)
// sent to `phoneE164` after the first `before` SMS to it; waits up to 5 s.
export async function codeSentTo(phoneE164, action, before) {
  const pattern = new RegExp(`您正在${action}，验证码(\\d{6})`);
  for (let i = 0; i < 50; i += 1) {
    const found = (await smsSentTo(phoneE164)).slice(before).reverse().map((t) => t.match(pattern)).find(Boolean);
    if (found) return found[1];
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no ${action} code was sent to ${phoneE164}`);
}

// On the first login's page (password.html?forced=1): asks for the code to the phone on file,
// types it with the initial and the new password, and lands on the home page.
export async function completeFirstLogin(page, username, initial, changed, shotName) {
  await page.waitForURL(/\/password\.html\?forced=1$/);
  const phone = DEMO_PHONES[username];
  const before = (await smsSentTo(phone)).length;
  await page.getByLabel('原密码').fill(initial);
  await byId(page, 'btn-code').click();
  await visible(page.getByText(/验证码已发送至 \d{3}\*{4}\d{4}/));
  await page.getByLabel('手机验证码').fill(await codeSentTo(phone, '首次登录验证', before));
  await page.getByLabel('新密码', { exact: true }).fill(changed);
  await page.getByLabel('确认新密码').fill(changed);
  if (shotName) await shot(page, shotName);
  await page.getByRole('button', { name: '确认' }).click();
  await page.waitForURL(/\/home\.html$/);
}

// First login (the phone's code, a new password); a later one (another test, a re-run) uses
// the new password.
export async function signIn(page, username, initial, changed) {
  const first = await login(page, username, initial);
  if (first === 'home') return;
  if (first === 'forced') {
    await completeFirstLogin(page, username, initial, changed);
    return;
  }
  assert.equal(await login(page, username, changed), 'home', `cannot log in as ${username} with ${initial} or ${changed}`);
}

// 学费缴费 steps 1-3 with the defaults (newest payable year, every payable item checked);
// checks.year / checks.items run on steps 1 and 2; checks.yearIndex picks another year.
export async function wizardToStep4(page, shots, checks = {}) {
  await page.getByRole('navigation', { name: '主导航' }).getByRole('link', { name: '学费缴费', exact: true }).click();
  await page.waitForURL(/\/tuition\.html$/);
  await visible(byId(page, 'payment-notice'));
  const notice = await byId(page, 'payment-notice').innerText();
  for (const text of ['支付额度', '甘肃省财政厅', '如已扣款切勿重复缴费，请在缴费单页面点击「我已支付」查询']) {
    assert.ok(notice.includes(text), `the notice must say ${text}`);
  }
  await acknowledgeAnnouncements(page);
  await visible(byId(page, 'step-year'));
  if (checks.year) await checks.year();
  if (checks.yearIndex !== undefined) await byId(page, 'year-option').nth(checks.yearIndex).check();
  if (shots) await shot(page, `${shots}-1-year`);
  await page.getByRole('button', { name: '下一步' }).click();
  await visible(byId(page, 'step-items'));
  if (checks.items) await checks.items();
  if (shots) await shot(page, `${shots}-2-items`);
  await byId(page, 'btn-next-2').click();
  await visible(byId(page, 'step-confirm'));
  assert.match(await byId(page, 'confirm-payee').innerText(), /甘肃省财政厅/);
  if (shots) await shot(page, `${shots}-3-confirm`);
  await byId(page, 'btn-next-3').click();
  await visible(byId(page, 'step-phone'));
}

// SMS the local platform sent through SNS, as moto recorded them (MOTO_ENDPOINT, set by
// scripts/test; our moto wrapper's `/_campus/sms`), for one phone number in E.164 form; oldest first.
export async function smsSentTo(phoneE164) {
  const endpoint = (process.env.MOTO_ENDPOINT || 'http://127.0.0.1:4566').replace(/\/+$/, '');
  const answer = await fetch(`${endpoint}/_campus/sms?phone=${encodeURIComponent(phoneE164)}`);
  assert.equal(answer.status, 200, 'moto is run by scripts/moto_server.py');
  return answer.json();
}
