//! Receipts of Meta's webhook deliveries that were handled in full. Meta sends a delivery
//! again, byte for byte, when its answer was late or lost, for up to 7 days; a large one is
//! then answered from its receipt instead of being parsed and looked up event by event.

use super::{Reader, Records, attr, with_key};
use crate::clock::Timestamp;
use crate::crypto;
use crate::error::ApiError;
use crate::store::{Key, Value, WriteOp, schema};

/// As long as Meta delivers again a webhook it got no answer for.
pub const RECEIPT_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// By the delivery's signature, the HMAC of its bytes under the app secret: the same bytes
/// always have it, and no other bytes can.
fn receipt_key(signature: &[u8; 32]) -> Key {
    Key::new(format!("WEBHOOK#{}", crypto::hex(signature)), "RECEIPT")
}

impl Records {
    /// How many messages and statuses the delivery with this signature brought, if it was
    /// handled in full within Meta's redelivery window.
    pub async fn delivery_receipt(&self, signature: &[u8; 32], now: Timestamp) -> Result<Option<usize>, ApiError> {
        let Some(item) = self.store.get(&receipt_key(signature)).await? else { return Ok(None) };
        let mut receipt = Reader(&item);
        // DynamoDB's time to live removes an item days late, and the local stack's hourly.
        if receipt.time(schema::TTL)? <= now {
            return Ok(None);
        }
        Ok(Some(receipt.opt_n(attr::COUNT).unwrap_or(0).max(0) as usize))
    }

    /// Remembers a delivery handled in full: written only once everything it brought is.
    pub async fn record_delivery(&self, signature: &[u8; 32], events: usize, now: Timestamp) -> Result<(), ApiError> {
        let mut item = with_key(receipt_key(signature), "webhook_receipt");
        item.insert(attr::COUNT.into(), Value::N(events as i64));
        item.insert(schema::TTL.into(), Value::N(now.0 + RECEIPT_LIFETIME_SECS));
        self.store.write(vec![WriteOp::Put { item, condition: None }]).await?;
        Ok(())
    }
}
