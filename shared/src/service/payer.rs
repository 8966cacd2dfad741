//! 微信内支付: before a JSAPI payment the gateway names the payer (WeChat: the openid of our
//! official account's user, by the silent `snsapi_base` OAuth).
//!
//! 1. [`App::payer_authorize`] — the student's own open order, a fresh `state`, and the
//!    gateway's authorize URL; the state travels in a signed token (a cookie, 10 minutes) bound
//!    to the session, the order and the channel.
//! 2. WeChat sends the browser back to `/api/wechat/payer?code&state`: [`App::payer_authorized`]
//!    checks the state against the token, exchanges the code (signed-in only through the token:
//!    the session cookie is `SameSite=Strict` and does not come on that cross-site return), and
//!    gives a payer token (a cookie, 2 hours) bound to the same session.
//! 3. `POST /api/orders/{no}/pay` reads the payer from that token ([`App::payer_of`]) for that
//!    session only; without it a JSAPI start answers `PAYER_REQUIRED`.

use crate::app::App;
use crate::auth::{Claims, Purpose, constant_time_eq, random_id};
use crate::domain::Channel;
use crate::error::AppError;
use crate::gateway::Device;
use crate::service::orders::OrderStores;
use crate::service::payments::PaymentStores;
use crate::service::session::Authed;

/// How long the OAuth round trip may take.
pub const PAYER_STATE_SECS: i64 = 600;
/// How long a named payer is kept for the session.
pub const PAYER_SECS: i64 = 7200;

/// Where to send the browser, and the state token to keep meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayerRedirect {
    pub location: String,
    pub state_token: String,
}

/// Where the browser goes back to, and the payer token when the payer was named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayerNamed {
    pub location: String,
    pub payer_token: Option<String>,
}

/// The path of the OAuth return (the template routes it to the orders function).
pub const PAYER_RETURN_PATH: &str = "/api/wechat/payer";

impl<S: OrderStores + PaymentStores + crate::store::SessionStore> App<S> {
    /// Step 1: the gateway's authorize URL for the student's open order `no` on `channel`.
    pub async fn payer_authorize(&self, who: &Authed, no: &str, channel: Channel) -> Result<PayerRedirect, AppError> {
        let gateway = self.gateway(channel)?;
        if !gateway.needs_payer(Device::Wechat) {
            return Err(AppError::ChannelUnavailable);
        }
        let order = self.own_open_order(who, no).await?;
        let state = random_id();
        let back = format!("{}{PAYER_RETURN_PATH}", self.settings.public_base_url.trim_end_matches('/'));
        let location = gateway.payer_authorize_url(&back, &state).map_err(|e| {
            tracing::error!(channel = channel.as_str(), error = %e, "payer authorization cannot start");
            AppError::ChannelUnavailable
        })?;
        let now = self.clock.now();
        let state_token = self.keys()?.issue(&Claims {
            sub: who.student_no.as_str().to_owned(),
            sid: who.session_id.clone(),
            purpose: Purpose::PayerState,
            pwc: false,
            iat: now.timestamp(),
            exp: now.timestamp() + PAYER_STATE_SECS,
            data: Some(format!("{state} {} {}", order.order_no, channel.as_str())),
        });
        Ok(PayerRedirect { location, state_token })
    }

    /// Step 2: the gateway came back with `code` and `state`. Always somewhere to go: the
    /// order page, paying on (`pay=<channel>`) with a payer token, or told it failed
    /// (`payer=failed`); with no valid state token, 学费缴费.
    pub async fn payer_authorized(&self, state_token: Option<&str>, code: &str, state: &str) -> PayerNamed {
        let now = self.clock.now();
        let refused = |why: &str| {
            tracing::warn!(reason = why, "payer authorization refused");
            PayerNamed { location: "/tuition.html".into(), payer_token: None }
        };
        let Ok(keys) = self.keys() else { return refused("no session keys") };
        let Some(claims) = state_token.and_then(|t| keys.verify(t, Purpose::PayerState, now)) else {
            return refused("no valid state token");
        };
        let data = claims.data.clone().unwrap_or_default();
        let mut parts = data.split(' ');
        let (Some(expected), Some(no), Some(channel)) = (parts.next(), parts.next(), parts.next().and_then(Channel::parse)) else {
            return refused("state token without its order");
        };
        if !constant_time_eq(expected.as_bytes(), state.as_bytes()) {
            return refused("state differs");
        }
        let order_page = |query: &str| format!("/order.html?order_no={no}&{query}");
        let Ok(gateway) = self.gateway(channel) else { return PayerNamed { location: order_page("payer=failed"), payer_token: None } };
        let payer = match gateway.payer_from_code(code).await {
            Ok(payer) => payer,
            Err(e) => {
                tracing::warn!(channel = channel.as_str(), error = %e, "payer not named");
                return PayerNamed { location: order_page("payer=failed"), payer_token: None };
            }
        };
        let payer_token = keys.issue(&Claims {
            sub: claims.sub,
            sid: claims.sid,
            purpose: Purpose::Payer,
            pwc: false,
            iat: now.timestamp(),
            exp: now.timestamp() + PAYER_SECS,
            data: Some(payer),
        });
        PayerNamed { location: order_page(&format!("pay={}", channel.as_str())), payer_token: Some(payer_token) }
    }

    /// Step 3: the payer a payer token names, if it is this session's.
    pub fn payer_of(&self, who: &Authed, token: Option<&str>) -> Option<String> {
        let claims = self.keys().ok()?.verify(token?, Purpose::Payer, self.clock.now())?;
        (claims.sub == who.student_no.as_str() && claims.sid == who.session_id).then_some(claims.data).flatten()
    }
}
