//! The DynamoDB adapter: one table, `pk`/`sk` keys, two sparse GSIs (`byOwner`, `byTime`),
//! TTL on `ttl`. A single
//! operation becomes a conditional PutItem/UpdateItem/DeleteItem; several become one
//! TransactWriteItems.

use super::{Condition, Cursor, Index, Item, Key, Page, Query, Store, StoreError, Value, WriteOp, check_batch, schema};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ScalarAttributeType, StreamSpecification,
    StreamViewType, TimeToLiveSpecification, TransactWriteItem, Update,
};
use std::collections::HashMap;

/// How many conditional puts one webhook delivery keeps in flight.
const PARALLEL_PUTS: usize = 32;
/// BatchGetItem's limit of keys per request.
const BATCH_GET_KEYS: usize = 100;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    /// Creates the table when it does not exist yet, from `infra/table.json` — the schema
    /// `template.yaml` declares too (a test keeps them equal). The local stack's
    /// `LOCAL_BACKEND=aws` and the tests use this; in AWS the template creates the table.
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        let exists = self.client.describe_table().table_name(&self.table).send().await;
        match exists {
            Ok(_) => return Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(backend(e)),
        }
        let schema: TableSchema = serde_json::from_str(TABLE_SCHEMA).expect("infra/table.json is valid");
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Invalid(e.to_string());
        let key_schema = |keys: &[KeyElement]| {
            keys.iter()
                .map(|k| {
                    KeySchemaElement::builder()
                        .attribute_name(&k.attribute_name)
                        .key_type(KeyType::from(k.key_type.as_str()))
                        .build()
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let mut request = self.client.create_table().table_name(&self.table).billing_mode(BillingMode::PayPerRequest);
        for attribute in &schema.attribute_definitions {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(&attribute.attribute_name)
                    .attribute_type(ScalarAttributeType::from(attribute.attribute_type.as_str()))
                    .build()
                    .map_err(invalid)?,
            );
        }
        request = request.set_key_schema(Some(key_schema(&schema.key_schema).map_err(invalid)?));
        for index in &schema.global_secondary_indexes {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&index.index_name)
                    .set_key_schema(Some(key_schema(&index.key_schema).map_err(invalid)?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::from(index.projection.projection_type.as_str()))
                            .build(),
                    )
                    .build()
                    .map_err(invalid)?,
            );
        }
        // The stream the local stack reads, as the functions' triggers read it in AWS.
        let stream = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::from(schema.stream_specification.stream_view_type.as_str()))
            .build()
            .map_err(invalid)?;
        request.stream_specification(stream).send().await.map_err(backend)?;
        let ttl = &schema.time_to_live_specification;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(ttl.enabled)
                    .attribute_name(&ttl.attribute_name)
                    .build()
                    .map_err(invalid)?,
            )
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// The table's schema, in CloudFormation's property names.
pub const TABLE_SCHEMA: &str = include_str!("../../../infra/table.json");

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableSchema {
    pub attribute_definitions: Vec<AttributeSpec>,
    pub key_schema: Vec<KeyElement>,
    pub global_secondary_indexes: Vec<IndexSpec>,
    pub time_to_live_specification: TtlSpec,
    pub stream_specification: StreamSpec,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpec {
    pub stream_view_type: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeSpec {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexSpec {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: ProjectionSpec,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionSpec {
    pub projection_type: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlSpec {
    pub attribute_name: String,
    pub enabled: bool,
}

fn backend<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static, R: std::fmt::Debug>(
    error: SdkError<E, R>,
) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(&error).to_string())
}

/// A single conditional write's failure: its condition, or the backend.
fn single_write_error<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static, R: std::fmt::Debug>(
    error: SdkError<E, R>,
) -> StoreError {
    match error.as_service_error().and_then(ProvideErrorMetadata::code) {
        Some("ConditionalCheckFailedException") => StoreError::ConditionFailed { index: 0 },
        _ => backend(error),
    }
}

fn to_attribute(value: &Value) -> AttributeValue {
    match value {
        Value::S(s) => AttributeValue::S(s.clone()),
        Value::N(n) => AttributeValue::N(n.to_string()),
        Value::B(b) => AttributeValue::B(Blob::new(b.clone())),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::L(l) => AttributeValue::L(l.iter().cloned().map(AttributeValue::S).collect()),
    }
}

fn from_attribute(value: &AttributeValue) -> Result<Value, StoreError> {
    Ok(match value {
        AttributeValue::S(s) => Value::S(s.clone()),
        AttributeValue::N(n) => Value::N(n.parse().map_err(|_| StoreError::Invalid(format!("number `{n}`")))?),
        AttributeValue::B(b) => Value::B(b.as_ref().to_vec()),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::L(l) => Value::L(
            l.iter()
                .map(|v| v.as_s().cloned().map_err(|_| StoreError::Invalid("non-string list element".into())))
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(StoreError::Invalid(format!("unsupported attribute {other:?}"))),
    })
}

fn to_item(item: &Item) -> HashMap<String, AttributeValue> {
    item.iter().map(|(k, v)| (k.clone(), to_attribute(v))).collect()
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Item, StoreError> {
    item.iter().map(|(k, v)| Ok((k.clone(), from_attribute(v)?))).collect()
}

fn key_map(key: &Key) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (schema::PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (schema::SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// Builds expression strings with `#n`/`:v` placeholders, so attribute names never collide
/// with DynamoDB's reserved words and values never need escaping.
#[derive(Default)]
struct Expression {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expression {
    fn name(&mut self, name: &str) -> String {
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), name.to_owned());
        placeholder
    }

    fn value(&mut self, value: &Value) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), to_attribute(value));
        placeholder
    }

    fn condition(&mut self, condition: &Condition) -> String {
        match condition {
            Condition::Exists => format!("attribute_exists({})", self.name(schema::PK)),
            Condition::NotExists => format!("attribute_not_exists({})", self.name(schema::PK)),
            Condition::Equals(n, v) => format!("{} = {}", self.name(n), self.value(v)),
            Condition::LessThan(n, v) => format!("{} < {}", self.name(n), self.value(v)),
            Condition::GreaterThan(n, v) => format!("{} > {}", self.name(n), self.value(v)),
            Condition::AttributeMissing(n) => format!("attribute_not_exists({})", self.name(n)),
            Condition::And(all) if all.is_empty() => {
                self.condition(&Condition::Or(vec![Condition::Exists, Condition::NotExists]))
            }
            Condition::Or(any) if any.is_empty() => {
                self.condition(&Condition::And(vec![Condition::Exists, Condition::NotExists]))
            }
            Condition::And(all) => self.join(all, " AND "),
            Condition::Or(any) => self.join(any, " OR "),
        }
    }

    fn join(&mut self, conditions: &[Condition], operator: &str) -> String {
        conditions.iter().map(|c| format!("({})", self.condition(c))).collect::<Vec<_>>().join(operator)
    }

    fn update(&mut self, set: &[(String, Value)], remove: &[String]) -> String {
        let mut parts = Vec::new();
        if !set.is_empty() {
            let assignments: Vec<String> =
                set.iter().map(|(n, v)| format!("{} = {}", self.name(n), self.value(v))).collect();
            parts.push(format!("SET {}", assignments.join(", ")));
        }
        if !remove.is_empty() {
            let names: Vec<String> = remove.iter().map(|n| self.name(n)).collect();
            parts.push(format!("REMOVE {}", names.join(", ")));
        }
        parts.join(" ")
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

impl DynamoStore {
    async fn write_one(&self, op: WriteOp) -> Result<(), StoreError> {
        let mut expr = Expression::default();
        match op {
            WriteOp::Put { item, condition } => {
                let condition = condition.map(|c| expr.condition(&c));
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(to_item(&item)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .send()
                    .await
                    .map(drop)
                    .map_err(single_write_error)
            }
            WriteOp::Update { key, set, remove, condition } => {
                let update = expr.update(&set, &remove);
                let condition = condition.map(|c| expr.condition(&c));
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(key_map(&key)))
                    .update_expression(update)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .send()
                    .await
                    .map(drop)
                    .map_err(single_write_error)
            }
            WriteOp::Delete { key, condition } => {
                let condition = condition.map(|c| expr.condition(&c));
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key_map(&key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .send()
                    .await
                    .map(drop)
                    .map_err(single_write_error)
            }
            check @ WriteOp::Check { .. } => self.transact(vec![check]).await,
        }
    }

    fn transact_item(&self, op: WriteOp) -> Result<TransactWriteItem, StoreError> {
        let mut expr = Expression::default();
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Invalid(e.to_string());
        let item = match op {
            WriteOp::Put { item, condition } => {
                let condition = condition.map(|c| expr.condition(&c));
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_item(&item)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(invalid)?;
                TransactWriteItem::builder().put(put).build()
            }
            WriteOp::Update { key, set, remove, condition } => {
                let update = expr.update(&set, &remove);
                let condition = condition.map(|c| expr.condition(&c));
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_map(&key)))
                    .update_expression(update)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(invalid)?;
                TransactWriteItem::builder().update(update).build()
            }
            WriteOp::Delete { key, condition } => {
                let condition = condition.map(|c| expr.condition(&c));
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_map(&key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(invalid)?;
                TransactWriteItem::builder().delete(delete).build()
            }
            WriteOp::Check { key, condition } => {
                let condition = expr.condition(&condition);
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_map(&key)))
                    .condition_expression(condition)
                    .set_expression_attribute_names(expr.names())
                    .set_expression_attribute_values(expr.values())
                    .build()
                    .map_err(invalid)?;
                TransactWriteItem::builder().condition_check(check).build()
            }
        };
        Ok(item)
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        let items = ops.into_iter().map(|op| self.transact_item(op)).collect::<Result<Vec<_>, _>>()?;
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        let Err(error) = result else { return Ok(()) };
        let Some(service) = error.as_service_error() else {
            return Err(backend(error));
        };
        if let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
            canceled,
        ) = service
        {
            let reasons = canceled.cancellation_reasons();
            if let Some(index) = reasons.iter().position(|r| r.code() == Some("ConditionalCheckFailed")) {
                return Err(StoreError::ConditionFailed { index });
            }
            if reasons.iter().any(|r| r.code() == Some("TransactionConflict")) {
                return Err(StoreError::TransactionConflict);
            }
        }
        if service.is_transaction_in_progress_exception() {
            return Err(StoreError::TransactionConflict);
        }
        Err(backend(error))
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        output.item().map(from_item).transpose()
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        let mut found: HashMap<Key, Item> = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_KEYS) {
            let mut unique: Vec<&Key> = chunk.iter().collect();
            unique.sort();
            unique.dedup();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(unique.into_iter().map(key_map).collect()))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Invalid(e.to_string()))?,
            );
            // DynamoDB may answer part of a batch and hand back the rest as unprocessed.
            for _ in 0..8 {
                let Some(request) = pending.take() else { break };
                let output =
                    self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(backend)?;
                for item in output.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
                    let item = from_item(item)?;
                    let key = Key::of(&item).ok_or_else(|| StoreError::Invalid("an item lacks pk or sk".into()))?;
                    found.insert(key, item);
                }
                pending = output.unprocessed_keys().and_then(|u| u.get(&self.table)).cloned();
            }
            if pending.is_some() {
                return Err(StoreError::Unavailable("DynamoDB left keys of a batch read unprocessed".into()));
            }
        }
        Ok(keys.iter().map(|key| found.get(key).cloned()).collect())
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let mut expr = Expression::default();
        let (index_name, partition_attribute, partition_value) = match &query.index {
            Index::Table { pk } => (None, schema::PK, pk.clone()),
            Index::ByOwner(v) => (Some(schema::OWNER_INDEX), schema::OWNER_KEY, v.clone()),
            Index::ByTime { pk } => (Some(schema::TIME_INDEX), schema::PK, pk.clone()),
        };
        let mut key_condition =
            format!("{} = {}", expr.name(partition_attribute), expr.value(&Value::S(partition_value.clone())));
        if let Some(prefix) = &query.sk_prefix {
            if index_name.is_some() {
                return Err(StoreError::Invalid("a sort-key prefix applies to table queries only".into()));
            }
            key_condition.push_str(&format!(
                " AND begins_with({}, {})",
                expr.name(schema::SK),
                expr.value(&Value::S(prefix.clone()))
            ));
        }
        let start = query.after.as_ref().map(|after| {
            let mut start = key_map(&after.key);
            if index_name.is_some() {
                start.insert(partition_attribute.to_owned(), AttributeValue::S(partition_value.clone()));
            }
            if let Some(sort) = &after.index_sort {
                start.insert(schema::TIME_KEY.to_owned(), AttributeValue::S(sort.clone()));
            }
            start
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index_name.map(str::to_owned))
            .key_condition_expression(key_condition)
            .set_expression_attribute_names(expr.names())
            .set_expression_attribute_values(expr.values())
            .scan_index_forward(!query.descending)
            .set_limit(query.limit.map(|l| l.min(i32::MAX as usize) as i32))
            .set_exclusive_start_key(start)
            .set_consistent_read(index_name.is_none().then_some(true))
            .send()
            .await
            .map_err(backend)?;
        let items = output.items().iter().map(from_item).collect::<Result<Vec<_>, _>>()?;
        let next = output.last_evaluated_key().and_then(|k| {
            let key = Key::new(k.get(schema::PK)?.as_s().ok()?, k.get(schema::SK)?.as_s().ok()?);
            let index_sort = match query.index {
                Index::ByTime { .. } => Some(k.get(schema::TIME_KEY)?.as_s().ok()?.clone()),
                _ => None,
            };
            Some(Cursor { index_sort, key })
        });
        Ok(Page { items, next })
    }

    /// Reads which items exist already (one BatchGetItem per 100), then conditional
    /// PutItems of the others, up to [`PARALLEL_PUTS`] in flight: a redelivery costs reads,
    /// not writes. The condition stays, for a concurrent delivery of the same events;
    /// BatchWriteItem cannot carry conditions, and a transaction would fail every event for
    /// one duplicate.
    async fn put_each(&self, puts: Vec<(Item, Option<Condition>)>) -> Result<Vec<bool>, StoreError> {
        use futures_util::stream::{self, StreamExt, TryStreamExt};
        // Each put's condition decides; callers that expect many to exist already (a
        // redelivery) read them first and pass only the new ones.
        stream::iter(puts)
            .map(|(item, condition)| async move {
                match self.write_one(WriteOp::Put { item, condition }).await {
                    Ok(()) => Ok(true),
                    Err(StoreError::ConditionFailed { .. }) => Ok(false),
                    Err(other) => Err(other),
                }
            })
            .buffered(PARALLEL_PUTS)
            .try_collect()
            .await
    }

    async fn write(&self, mut ops: Vec<WriteOp>) -> Result<(), StoreError> {
        check_batch(&ops)?;
        if ops.len() == 1 { self.write_one(ops.remove(0)).await } else { self.transact(ops).await }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the code writes are the names the schema declares.
    #[test]
    fn the_schema_file_matches_the_attribute_names_in_code() {
        let schema: TableSchema = serde_json::from_str(TABLE_SCHEMA).unwrap();
        let keys: Vec<(&str, &str)> =
            schema.key_schema.iter().map(|k| (k.attribute_name.as_str(), k.key_type.as_str())).collect();
        assert_eq!(keys, vec![(schema::PK, "HASH"), (schema::SK, "RANGE")]);
        let indexes: Vec<(&str, &str)> = schema
            .global_secondary_indexes
            .iter()
            .map(|i| (i.index_name.as_str(), i.key_schema[0].attribute_name.as_str()))
            .collect();
        assert_eq!(indexes, vec![(schema::OWNER_INDEX, schema::OWNER_KEY), (schema::TIME_INDEX, schema::PK)]);
        assert_eq!(schema.time_to_live_specification.attribute_name, schema::TTL);
        assert!(schema.time_to_live_specification.enabled);
    }
}
