// Shared by the browser tests: Debian's Chromium through playwright-core (no browser
// download), a fresh profile per browser, screenshots, and small locator helpers.
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
