// Browser test of the e-receipt: pay in the sandbox, the receipt SMS (read from moto), its link
// opening the printable receipt in a browser nobody logged in to, and the same receipt from the
// order page.
//   MOTO_ENDPOINT=http://127.0.0.1:4566 CAMPUS_BASE_URL=http://127.0.0.1:3000 node --test receipts.test.mjs
// Needs freshly seeded demo data; uses 吴九 (2021010106) only, who is here for this test, so it
// does not disturb the others. He pays this year's 学费 and 考试费 (3,000.00 + 120.50).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, openBrowser, shot, url, byId, visible, signIn, wizardToStep4, smsSentTo } from './harness.mjs';

const SUN_PHONE = '+8613919312345';

// The newest receipt SMS for the order, from this platform: its text and link.
async function receiptSms(page, orderNo) {
  for (const end = Date.now() + 15000; Date.now() < end; await page.waitForTimeout(100)) {
    const mine = (await smsSentTo(SUN_PHONE)).filter((m) => m.includes(orderNo) && m.includes(`${BASE}/r/`));
    if (mine.length) {
      const msg = mine[mine.length - 1];
      return { text: msg.slice(0, msg.indexOf(BASE)), link: msg.slice(msg.indexOf(BASE)) };
    }
  }
  throw new Error(`no receipt SMS for ${orderNo} reached moto`);
}

test('吴九 pays by 支付宝; the SMS link opens the printable receipt without logging in; a refund shows on it and in 交易查询', { timeout: 180000 }, async () => {
  const { context, page, errors, close } = await openBrowser({ viewport: { width: 1280, height: 900 } });
  const reader = await openBrowser({ viewport: { width: 1280, height: 900 } });
  try {
    await signIn(page, '2021010106', '05201232', 'Campus2026f');
    await wizardToStep4(page, null);
    // The phone on file receives the receipt.
    assert.equal(await byId(page, 'profile-phone').innerText(), '139****2345');
    await page.getByRole('button', { name: '确认缴费' }).click();
    await page.waitForURL(/\/order\.html\?order_no=XF\d{6}[A-Z0-9]{5}\d{6}$/);
    const orderNo = new URL(page.url()).searchParams.get('order_no');
    await visible(byId(page, 'pay-panel'));
    assert.match(await byId(page, 'order-total').innerText(), /^3,120\.50 元$/);

    // 支付宝 on a PC: scan the sandbox QR code, press 支付.
    await byId(page, 'channel-alipay').click();
    await visible(byId(page, 'qr-code').locator('svg'));
    const scan = await context.newPage();
    await scan.goto(await byId(page, 'qr-code').getAttribute('data-qr-content'));
    await visible(byId(scan, 'sandbox-pay'));
    await byId(scan, 'sandbox-pay').click();
    await visible(byId(page, 'pay-success'), 10000);
    assert.match(await byId(page, 'pay-success').innerText(), /电子票据已开具.*139\*\*\*\*2345/);

    // The SMS: one short segment, then the link.
    const { text, link } = await receiptSms(page, orderNo);
    assert.ok([...text].length <= 70, `${text} fits one SMS segment`);
    assert.match(text, /^【校园统一支付平台】您已缴费3,120\.50元，缴费单XF\d{6}[A-Z0-9]{5}\d{6}。电子票据\d+天内有效：$/);
    assert.match(link, /\/r\/[A-Za-z0-9_-]{22}$/);

    // Opened in another browser, where nobody is logged in: the receipt.
    const r = reader.page;
    const res = await r.goto(link);
    assert.equal(res.status(), 200);
    await visible(byId(r, 'receipt'));
    assert.equal(await byId(r, 'receipt-order-no').innerText(), orderNo);
    assert.equal(await byId(r, 'receipt-no').innerText(), `PJ${orderNo}`);
    assert.equal(await byId(r, 'receipt-capitals').innerText(), '人民币叁仟壹佰贰拾元零伍角整');
    assert.equal(await byId(r, 'receipt-total').innerText(), '¥3,120.50');
    assert.equal(await byId(r, 'receipt-payee').innerText(), '甘肃省财政厅');
    assert.equal(await byId(r, 'receipt-payer').innerText(), '吴九');
    assert.equal(await byId(r, 'receipt-student-no').innerText(), '2021010106');
    assert.equal(await byId(r, 'receipt-channel').innerText(), '支付宝');
    assert.match(await byId(r, 'receipt-check-code').innerText(), /^[2-9A-HJKMNP-Z]{12}$/);
    assert.equal(await byId(r, 'receipt-item').count(), 2);
    assert.match(await byId(r, 'receipt-items').innerText(), /学费[\s\S]*3,000\.00[\s\S]*考试费[\s\S]*120\.50/);
    assert.match(await byId(r, 'receipt-paid-at').innerText(), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}（北京时间）$/);
    await shot(r, 'receipt-1-link');
    // The print button works under the page's policy (its script is allowed by hash only).
    await r.evaluate(() => { window.printed = 0; window.print = () => { window.printed += 1; }; });
    await byId(r, 'receipt-print').click();
    assert.equal(await r.evaluate(() => window.printed), 1, 'the print button opens printing');
    assert.equal(await byId(r, 'receipt').evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(255, 255, 255)', 'the style sheet applies');
    // Printed: the receipt alone, without the print button.
    await r.emulateMedia({ media: 'print' });
    assert.equal(await byId(r, 'receipt-print').isVisible(), false);
    assert.equal(await byId(r, 'receipt').isVisible(), true);
    await shot(r, 'receipt-2-print');
    await r.emulateMedia({ media: 'screen' });

    // 票据查验: the receipt names the page and carries a QR code leading to this receipt's check.
    assert.match(await byId(r, 'receipt-verify').innerText(), new RegExp(`${BASE.replace(/[.]/g, '\\.')}/verify\\.html`));
    assert.equal(await byId(r, 'receipt-verify-qr').locator('svg').count(), 1);
    const checkCode = await byId(r, 'receipt-check-code').innerText();
    const verifyLink = url(`verify.html?no=PJ${orderNo}&code=${checkCode}`);
    await r.goto(verifyLink);
    await visible(byId(r, 'verify-result'));
    assert.equal(await byId(r, 'verify-status').innerText(), '票据真实有效');
    assert.equal(await byId(r, 'verify-payer').innerText(), '吴*');
    assert.equal(await byId(r, 'verify-total').innerText(), '3,120.50 元');
    assert.equal(await byId(r, 'verify-capitals').innerText(), '人民币叁仟壹佰贰拾元零伍角整');
    assert.equal(await byId(r, 'verify-payee').innerText(), '甘肃省财政厅');
    assert.equal(await byId(r, 'verify-state').innerText(), '有效');
    assert.match(await byId(r, 'verify-items').innerText(), /学费[\s\S]*3,000\.00[\s\S]*考试费[\s\S]*120\.50/);
    assert.ok(!(await byId(r, 'verify-result').innerText()).includes('2021010106'), 'no student number');
    await shot(r, 'verify-1-valid');
    // A wrong pair: one message, nothing shown.
    await byId(r, 'input-check_code').fill('AAAAAAAAAAAA');
    await byId(r, 'verify-submit').click();
    await visible(byId(r, 'form-message'));
    assert.match(await byId(r, 'form-message').innerText(), /票据号或校验码不正确/);
    assert.equal(await byId(r, 'verify-result').isVisible(), false);
    await shot(r, 'verify-2-wrong');

    // A link altered in one character shows a page saying so, and nothing of the receipt.
    const last = link.slice(-2, -1);
    const altered = `${link.slice(0, -2)}${last === 'a' ? 'b' : 'a'}${link.slice(-1)}`;
    assert.equal((await r.goto(altered)).status(), 404);
    assert.equal(await byId(r, 'notice-title').innerText(), '链接无效');
    assert.equal(await byId(r, 'receipt').count(), 0);
    assert.ok(!(await r.content()).includes(orderNo), 'no receipt data');
    await shot(r, 'receipt-3-altered');

    // From the order page (logged in): 查看电子票据 → the same receipt.
    await byId(page, 'link-receipt').click();
    await page.waitForURL(new RegExp(`/receipts/${orderNo}$`));
    assert.equal(await byId(page, 'receipt-order-no').innerText(), orderNo);
    assert.equal(await byId(page, 'receipt-capitals').innerText(), '人民币叁仟壹佰贰拾元零伍角整');
    await shot(page, 'receipt-4-own');

    // The finance office refunds it (the refund function, as from the Lambda console): the
    // receipt says so, 银行交易记录 shows 已退款, and 已交费信息 marks the record.
    const refund = await fetch(url('_local/invoke/refund'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ out_trade_no: `${orderNo}A01`, operator: '财务处-浏览器测试', reason: '学生退学，全额退费' }),
    });
    assert.equal(refund.status, 200, await refund.clone().text());
    assert.equal((await refund.json()).state, 'refunded', 'Alipay refunds at once');
    // Checked again after the refund: genuine, and 已退款.
    await r.goto(verifyLink);
    await visible(byId(r, 'verify-result'));
    assert.equal(await byId(r, 'verify-state').innerText(), '已退款');
    assert.match(await byId(r, 'verify-status').innerText(), /已退款/);
    await shot(r, 'verify-3-refunded');
    await page.reload();
    await visible(byId(page, 'receipt-refunded'));
    assert.equal(await byId(page, 'receipt-refunded').innerText(), '本笔缴费已退款');
    await shot(page, 'receipt-5-refunded');
    await page.goto(url('transactions.html'));
    const tx = page.locator(`[data-testid=transaction][data-out-trade-no="${orderNo}A01"]`);
    await visible(tx);
    assert.equal(await tx.getAttribute('data-status'), 'refunded');
    assert.equal(await tx.locator('[data-testid=transaction-status]').innerText(), '已退款');
    await page.goto(url('paid.html'));
    const paidRow = page.locator(`[data-testid=paid-record][data-id="${orderNo}"]`);
    await visible(paidRow);
    assert.equal(await paidRow.locator('[data-testid=paid-refunded]').innerText(), '已退款');
    assert.deepEqual(errors, [], 'no uncaught page errors');
    assert.deepEqual(reader.errors, [], 'no uncaught page errors');
  } finally {
    await reader.close();
    await close();
  }
});

test('a browser nobody logged in to gets a login page for a receipt page', { timeout: 60000 }, async () => {
  const { page, close } = await openBrowser();
  try {
    const res = await page.goto(url('receipts/XF200101LUTAU000001'));
    assert.equal(res.status(), 401);
    assert.equal(await byId(page, 'notice-title').innerText(), '请先登录');
    assert.equal(await byId(page, 'receipt').count(), 0);
  } finally {
    await close();
  }
});
