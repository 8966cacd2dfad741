//! 手机访问: the site's own address and its QR code, for the login page — as the reference's
//! login page shows one for students who found the site on a computer and pay on a phone.

use crate::app::App;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct SiteView {
    /// The site's address (`PUBLIC_BASE_URL`), ending in `/`.
    pub url: String,
    /// Its QR code as SVG markup, drawn here so the page needs no library.
    pub qr_svg: Option<String>,
}

impl<S> App<S> {
    /// Needs nothing but the configuration: no store, no session.
    pub fn site(&self) -> SiteView {
        let url = format!("{}/", self.settings.public_base_url.trim_end_matches('/'));
        let qr_svg = crate::gateway::qr_svg(&url);
        SiteView { url, qr_svg }
    }
}
