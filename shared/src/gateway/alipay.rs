//! Alipay (see gateways.md §1). Written next.
