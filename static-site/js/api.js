// Thin wrapper around fetch() for the same-origin campus-pay API (/api/...).
// Errors come back as {code, message, fields?}; they are thrown as ApiError.

export const BUSY_MESSAGE = '系统繁忙，请稍后再试';
const NETWORK_MESSAGE = '网络连接失败，请检查网络后重试';

export class ApiError extends Error {
  constructor(status, code, message, fields) {
    super(message || BUSY_MESSAGE);
    this.status = status;
    this.code = code || 'INTERNAL';
    this.fields = fields || {};
  }
}

// Navigate away and never settle, so callers stop working on a page that is going away.
export function redirect(url) {
  window.location.replace(url);
  return new Promise(() => {});
}

// auth=true (default): the route needs a session; a lost session sends the user to the
// login page and a pending forced password change sends them to the password page.
export async function api(method, path, body, { auth = true } = {}) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  // Every request that changes something is JSON, even without a body: the server refuses any
  // other (415), so no other site's form can post here.
  if (method !== 'GET' && method !== 'HEAD') init.headers['Content-Type'] = 'application/json';
  if (body !== undefined) init.body = JSON.stringify(body);
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'NETWORK', NETWORK_MESSAGE);
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (res.ok) return data;
  const code = data && typeof data.code === 'string' ? data.code : null;
  if (auth && res.status === 401 && (code === null || code === 'UNAUTHENTICATED')) {
    return redirect('index.html?expired=1');
  }
  if (auth && res.status === 403 && code === 'PASSWORD_CHANGE_REQUIRED') {
    return redirect('password.html?forced=1');
  }
  if (!code) throw new ApiError(res.status, 'INTERNAL', BUSY_MESSAGE);
  throw new ApiError(res.status, code, data.message, data.fields);
}
