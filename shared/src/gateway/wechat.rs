//! WeChat Pay APIv3 (see gateways.md §2). Written next.
