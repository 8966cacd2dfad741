// Small DOM and formatting helpers shared by the pages. All user data goes in as text, never HTML.

// h('td', {class: 'num'}, '3500.00') -> <td class="num">3500.00</td>
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// What a phone keyboard types in full width (１３９…, Ｘ, the ideographic space) in half width,
// without surrounding spaces: for 学号, phone numbers, postcodes, ID numbers and codes — never
// for passwords or names. The server does the same; this only shows the student what is sent.
export function halfWidth(s) {
  return String(s ?? '')
    .replace(/[\uFF01-\uFF5E]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xFEE0))
    .replace(/\u3000/g, ' ')
    .trim();
}

// "3500.00" -> "3,500.00" (string based: amounts are never turned into floats)
export function money(s) {
  const str = String(s ?? '0.00');
  const [int, frac] = str.split('.');
  return int.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac !== undefined ? '.' + frac : '');
}

export function isZeroAmount(s) {
  return !/[1-9]/.test(String(s ?? '0'));
}

export function orDash(v, empty = '未填写') {
  return v === null || v === undefined || v === '' ? empty : String(v);
}

// Show a message in a [role=status]/[role=alert] box; kind: 'error' | 'success' | 'warn' | ''.
export function setMessage(el, text, kind = 'error') {
  if (!el) return;
  el.textContent = text || '';
  el.className = 'notice' + (kind ? ' ' + kind : '');
  el.hidden = !text;
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll('[data-error-for]')) {
    el.textContent = '';
    el.hidden = true;
  }
  for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
}

export function setFieldError(form, field, text) {
  const el = form.querySelector(`[data-error-for="${field}"]`);
  if (!el) return false;
  el.textContent = text;
  el.hidden = false;
  const input = form.elements.namedItem(field);
  if (input && input.setAttribute) input.setAttribute('aria-invalid', 'true');
  return true;
}

// Puts each of the server's per-field messages next to its field; anything that has no
// field on this form (or a non-field error) goes to the form's message box.
export function showError(form, msgEl, err) {
  clearErrors(form);
  const fields = err && err.fields ? err.fields : {};
  const unplaced = [];
  let first = null;
  for (const [name, text] of Object.entries(fields)) {
    if (setFieldError(form, name, text)) first = first || name;
    else unplaced.push(text);
  }
  setMessage(msgEl, [err.message, ...unplaced].filter(Boolean).join('；'), 'error');
  const input = first && form.elements.namedItem(first);
  if (input && input.focus) input.focus();
}

// "3500.00" -> 350000 (fen, an integer: sums stay exact); fromFen(350000) -> "3500.00"
export function toFen(s) {
  const m = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(String(s ?? '0').trim());
  if (!m) return 0;
  const v = Number(m[2]) * 100 + Number((m[3] || '').padEnd(2, '0'));
  return m[1] ? -v : v;
}

export function fromFen(n) {
  const a = Math.abs(n);
  return `${n < 0 ? '-' : ''}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}

// RFC 3339 instant -> Beijing time "2026-11-26 16:30:00"
export function beijingTime(iso) {
  const t = Date.parse(iso || '');
  if (Number.isNaN(t)) return '';
  return new Date(t + 8 * 3600 * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

// The 19-character order number (XF + yyMMdd + unit id + serial) found in a text, or null.
export function findOrderNo(text) {
  const m = /[A-Z]{2}\d{6}[A-Z0-9]{5}\d{6}/.exec(String(text ?? ''));
  return m ? m[0] : null;
}

// A cell of a table that stacks into label: value lines on phones (class stack-on-phone):
// td({ class: 'num' }, '金额（元）', '3,500.00').
export function td(attrs, label, ...content) {
  return h('td', { ...attrs, 'data-label': label }, h('span', { class: 'cell' }, ...content));
}
