//! Table metadata: the key schema, the secondary indexes, billing, streams, TTL and tags, and the
//! table-management operations' validation and JSON shapes.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{DdbError, DdbResult};
use snapstack_service::RequestContext;

pub const MAX_LSIS: usize = 5;
pub const MAX_GSIS: usize = 20;
pub const MAX_TAGS: usize = 50;
const MAX_NON_KEY_ATTRIBUTES: usize = 100;

/// The type of a key attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyType {
    S,
    N,
    B,
}

impl KeyType {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "S" => KeyType::S,
            "N" => KeyType::N,
            "B" => KeyType::B,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::S => "S",
            KeyType::N => "N",
            KeyType::B => "B",
        }
    }
}

/// One key attribute: its name and type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAttr {
    pub name: String,
    pub kind: KeyType,
}

/// What an index holds of each item besides the keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Projection {
    All,
    KeysOnly,
    Include(Vec<String>),
}

impl Projection {
    fn to_json(&self) -> Value {
        match self {
            Projection::All => json!({"ProjectionType": "ALL"}),
            Projection::KeysOnly => json!({"ProjectionType": "KEYS_ONLY"}),
            Projection::Include(a) => {
                json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": a})
            }
        }
    }
}

/// A secondary index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexMeta {
    pub name: String,
    pub hash: KeyAttr,
    pub range: Option<KeyAttr>,
    pub projection: Projection,
    pub throughput: Option<(u64, u64)>,
    pub item_count: u64,
    pub size_bytes: u64,
}

/// A table: everything but its items.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableMeta {
    pub name: String,
    /// Unique per creation in a partition: a re-created table never sees its predecessor's items.
    pub id: u64,
    pub created_ms: u64,
    pub hash: KeyAttr,
    pub range: Option<KeyAttr>,
    /// Every attribute definition (the table's and its indexes' key attributes).
    pub attributes: Vec<KeyAttr>,
    pub pay_per_request: bool,
    pub throughput: (u64, u64),
    pub gsis: Vec<IndexMeta>,
    pub lsis: Vec<IndexMeta>,
    /// `Some(view type)` when a stream is enabled.
    pub stream: Option<String>,
    pub stream_label: Option<String>,
    /// The TTL attribute, when TTL is enabled.
    pub ttl_attribute: Option<String>,
    pub tags: Vec<(String, String)>,
    pub deletion_protection: bool,
    pub table_class: String,
    pub item_count: u64,
    pub size_bytes: u64,
}

/// The warm throughput DynamoDB reports: a new table or index starts at 12,000 read and 4,000
/// write units per second, and provisioned capacity above that raises it.
fn warm_throughput(throughput: (u64, u64)) -> Value {
    json!({
        "ReadUnitsPerSecond": throughput.0.max(12_000),
        "WriteUnitsPerSecond": throughput.1.max(4_000),
        "Status": "ACTIVE",
    })
}

impl TableMeta {
    pub fn arn(&self, ctx: &RequestContext) -> String {
        table_arn(ctx, &self.name)
    }

    pub fn index(&self, name: &str) -> Option<&IndexMeta> {
        self.gsis
            .iter()
            .chain(self.lsis.iter())
            .find(|i| i.name == name)
    }

    pub fn index_mut(&mut self, name: &str) -> Option<&mut IndexMeta> {
        self.gsis
            .iter_mut()
            .chain(self.lsis.iter_mut())
            .find(|i| i.name == name)
    }

    pub fn indexes(&self) -> impl Iterator<Item = &IndexMeta> {
        self.gsis.iter().chain(self.lsis.iter())
    }

    /// The names of the table's key attributes.
    pub fn key_names(&self) -> Vec<&str> {
        let mut v = vec![self.hash.name.as_str()];
        if let Some(r) = &self.range {
            v.push(r.name.as_str());
        }
        v
    }

    /// A stable-looking UUID from the table id.
    pub fn table_id(&self) -> String {
        let h = blake3::hash(&self.id.to_be_bytes());
        let b = h.as_bytes();
        format!(
            "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            u16::from_be_bytes([b[4], b[5]]),
            u16::from_be_bytes([b[6], b[7]]) & 0xfff,
            u16::from_be_bytes([b[8], b[9]]) & 0xfff,
            u64::from_be_bytes([0, 0, b[10], b[11], b[12], b[13], b[14], b[15]])
        )
    }

    /// The `TableDescription` shape.
    pub fn describe(&self, ctx: &RequestContext, status: &str) -> Value {
        let arn = self.arn(ctx);
        let created = self.created_ms as f64 / 1000.0;
        let mut d = json!({
            "TableName": self.name,
            "TableStatus": status,
            "TableArn": arn,
            "TableId": self.table_id(),
            "CreationDateTime": created,
            "AttributeDefinitions": self.attributes.iter().map(|a| json!({"AttributeName": a.name, "AttributeType": a.kind.as_str()})).collect::<Vec<_>>(),
            "KeySchema": key_schema_json(&self.hash, self.range.as_ref()),
            "ItemCount": self.item_count,
            "TableSizeBytes": self.size_bytes,
            "ProvisionedThroughput": throughput_json(Some(self.throughput)),
            "DeletionProtectionEnabled": self.deletion_protection,
            "WarmThroughput": warm_throughput(self.throughput),
        });
        // As DynamoDB answers: a billing mode summary for on-demand tables only, a table class
        // summary only for a class other than the default.
        if self.pay_per_request {
            d["BillingModeSummary"] = json!({"BillingMode": "PAY_PER_REQUEST", "LastUpdateToPayPerRequestDateTime": created});
        }
        if self.table_class != "STANDARD" {
            d["TableClassSummary"] = json!({"TableClass": self.table_class});
        }
        if !self.gsis.is_empty() {
            d["GlobalSecondaryIndexes"] = self
                .gsis
                .iter()
                .map(|i| {
                    let mut g = json!({
                        "IndexName": i.name,
                        "KeySchema": key_schema_json(&i.hash, i.range.as_ref()),
                        "Projection": i.projection.to_json(),
                        "IndexStatus": "ACTIVE",
                        "IndexSizeBytes": i.size_bytes,
                        "ItemCount": i.item_count,
                        "IndexArn": format!("{arn}/index/{}", i.name),
                    });
                    g["ProvisionedThroughput"] =
                        throughput_json(Some(i.throughput.unwrap_or((0, 0))));
                    g["WarmThroughput"] = warm_throughput(i.throughput.unwrap_or((0, 0)));
                    g
                })
                .collect();
        }
        if !self.lsis.is_empty() {
            d["LocalSecondaryIndexes"] = self
                .lsis
                .iter()
                .map(|i| {
                    json!({
                        "IndexName": i.name,
                        "KeySchema": key_schema_json(&i.hash, i.range.as_ref()),
                        "Projection": i.projection.to_json(),
                        "IndexSizeBytes": i.size_bytes,
                        "ItemCount": i.item_count,
                        "IndexArn": format!("{arn}/index/{}", i.name),
                    })
                })
                .collect();
        }
        if let Some(view) = &self.stream {
            d["StreamSpecification"] = json!({"StreamEnabled": true, "StreamViewType": view});
            if let Some(label) = &self.stream_label {
                d["LatestStreamLabel"] = json!(label);
                d["LatestStreamArn"] = json!(format!("{arn}/stream/{label}"));
            }
        }
        d
    }
}

pub fn table_arn(ctx: &RequestContext, name: &str) -> String {
    format!(
        "arn:aws:dynamodb:{}:{}:table/{name}",
        ctx.region(),
        ctx.account()
    )
}

/// The table name of a table ARN of this account and region.
pub fn table_from_arn(ctx: &RequestContext, arn: &str) -> DdbResult<String> {
    let prefix = format!("arn:aws:dynamodb:{}:{}:table/", ctx.region(), ctx.account());
    match arn.strip_prefix(&prefix) {
        Some(name) if !name.is_empty() && !name.contains('/') => Ok(name.to_string()),
        _ if arn.starts_with("arn:") => Err(DdbError::not_found()),
        _ => Err(DdbError::validation(format!(
            "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
        ))),
    }
}

fn key_schema_json(hash: &KeyAttr, range: Option<&KeyAttr>) -> Value {
    let mut v = vec![json!({"AttributeName": hash.name, "KeyType": "HASH"})];
    if let Some(r) = range {
        v.push(json!({"AttributeName": r.name, "KeyType": "RANGE"}));
    }
    Value::Array(v)
}

fn throughput_json(t: Option<(u64, u64)>) -> Value {
    let (r, w) = t.unwrap_or((0, 0));
    json!({"NumberOfDecreasesToday": 0, "ReadCapacityUnits": r, "WriteCapacityUnits": w})
}

// ---- Inputs -----------------------------------------------------------------------------------

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttrDefIn {
    pub attribute_name: Option<String>,
    pub attribute_type: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElemIn {
    pub attribute_name: Option<String>,
    pub key_type: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ThroughputIn {
    pub read_capacity_units: Option<i64>,
    pub write_capacity_units: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProjectionIn {
    pub projection_type: Option<String>,
    pub non_key_attributes: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexIn {
    pub index_name: Option<String>,
    pub key_schema: Option<Vec<KeyElemIn>>,
    pub projection: Option<ProjectionIn>,
    pub provisioned_throughput: Option<ThroughputIn>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpecIn {
    pub stream_enabled: Option<bool>,
    pub stream_view_type: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagIn {
    pub key: Option<String>,
    pub value: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateTableIn {
    pub table_name: Option<String>,
    pub attribute_definitions: Option<Vec<AttrDefIn>>,
    pub key_schema: Option<Vec<KeyElemIn>>,
    pub local_secondary_indexes: Option<Vec<IndexIn>>,
    pub global_secondary_indexes: Option<Vec<IndexIn>>,
    pub billing_mode: Option<String>,
    pub provisioned_throughput: Option<ThroughputIn>,
    pub stream_specification: Option<StreamSpecIn>,
    pub tags: Option<Vec<TagIn>>,
    pub table_class: Option<String>,
    pub deletion_protection_enabled: Option<bool>,
}

/// Check a table (or index) name: 3 to 255 characters of `[a-zA-Z0-9_.-]`.
pub fn validate_name(name: &str, field: &str) -> DdbResult<()> {
    if name.len() < 3 {
        return Err(DdbError::constraint(
            name,
            field,
            "Member must have length greater than or equal to 3",
        ));
    }
    if name.len() > 255 {
        return Err(DdbError::constraint(
            name,
            field,
            "Member must have length less than or equal to 255",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        return Err(DdbError::constraint(
            name,
            field,
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
        ));
    }
    Ok(())
}

/// A table name of a request (present and valid).
pub fn table_name(name: Option<&String>) -> DdbResult<String> {
    let name = name.ok_or_else(|| DdbError::missing("tableName"))?;
    validate_name(name, "tableName")?;
    Ok(name.clone())
}

pub fn parse_attribute_definitions(defs: &[AttrDefIn]) -> DdbResult<Vec<KeyAttr>> {
    let mut out: Vec<KeyAttr> = Vec::new();
    for d in defs {
        let name = d
            .attribute_name
            .clone()
            .ok_or_else(|| DdbError::missing("attributeDefinitions.member.attributeName"))?;
        if name.is_empty() || name.len() > 255 {
            return Err(DdbError::constraint(
                &name,
                "attributeDefinitions.member.attributeName",
                "Member must have length between 1 and 255",
            ));
        }
        let t = d
            .attribute_type
            .as_deref()
            .ok_or_else(|| DdbError::missing("attributeDefinitions.member.attributeType"))?;
        let kind = KeyType::parse(t).ok_or_else(|| {
            DdbError::constraint(
                t,
                "attributeDefinitions.member.attributeType",
                "Member must satisfy enum value set: [B, N, S]",
            )
        })?;
        if out.iter().any(|a| a.name == name) {
            return Err(DdbError::invalid_param(format!(
                "Duplicate AttributeName: {name}"
            )));
        }
        out.push(KeyAttr { name, kind });
    }
    Ok(out)
}

/// Parse a key schema against the attribute definitions: `(hash, range)`.
pub fn parse_key_schema(
    elems: &[KeyElemIn],
    field: &str,
    defs: &[KeyAttr],
    what: &str,
) -> DdbResult<(KeyAttr, Option<KeyAttr>)> {
    if elems.is_empty() {
        return Err(DdbError::constraint(
            "[]",
            field,
            "Member must have length greater than or equal to 1",
        ));
    }
    if elems.len() > 2 {
        return Err(DdbError::constraint(
            format!("{} elements", elems.len()),
            field,
            "Member must have length less than or equal to 2",
        ));
    }
    let mut names = Vec::new();
    for (i, e) in elems.iter().enumerate() {
        let name = e
            .attribute_name
            .clone()
            .ok_or_else(|| DdbError::missing(&format!("{field}.{}.member.attributeName", i + 1)))?;
        let kt = e
            .key_type
            .as_deref()
            .ok_or_else(|| DdbError::missing(&format!("{field}.{}.member.keyType", i + 1)))?;
        if kt != "HASH" && kt != "RANGE" {
            return Err(DdbError::constraint(
                kt,
                &format!("{field}.{}.member.keyType", i + 1),
                "Member must satisfy enum value set: [HASH, RANGE]",
            ));
        }
        names.push((name, kt));
    }
    if names[0].1 != "HASH" {
        return Err(DdbError::invalid_param(format!(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type{what}"
        )));
    }
    if names.len() == 2 {
        if names[1].1 != "RANGE" {
            return Err(DdbError::invalid_param(format!(
                "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type{what}"
            )));
        }
        if names[0].0 == names[1].0 {
            return Err(DdbError::invalid_param(format!(
                "Both the Hash Key and the Range Key element in the KeySchema have the same name{what}"
            )));
        }
    }
    let lookup = |n: &str| -> DdbResult<KeyAttr> {
        defs.iter().find(|a| a.name == n).cloned().ok_or_else(|| {
            DdbError::invalid_param(format!(
                "Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
                names.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "),
                defs.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })
    };
    let hash = lookup(&names[0].0)?;
    let range = match names.get(1) {
        Some((n, _)) => Some(lookup(n)?),
        None => None,
    };
    Ok((hash, range))
}

pub fn parse_throughput(t: Option<&ThroughputIn>, field: &str) -> DdbResult<Option<(u64, u64)>> {
    let Some(t) = t else { return Ok(None) };
    let r = t
        .read_capacity_units
        .ok_or_else(|| DdbError::missing(&format!("{field}.readCapacityUnits")))?;
    let w = t
        .write_capacity_units
        .ok_or_else(|| DdbError::missing(&format!("{field}.writeCapacityUnits")))?;
    for (v, f) in [(r, "readCapacityUnits"), (w, "writeCapacityUnits")] {
        if v < 1 {
            return Err(DdbError::constraint(
                v,
                &format!("{field}.{f}"),
                "Member must have value greater than or equal to 1",
            ));
        }
    }
    Ok(Some((r as u64, w as u64)))
}

pub fn parse_projection(p: Option<&ProjectionIn>, index: &str) -> DdbResult<Projection> {
    let p = p.ok_or_else(|| DdbError::missing("projection"))?;
    let nka = p.non_key_attributes.clone();
    match p.projection_type.as_deref() {
        Some("ALL") | Some("KEYS_ONLY") | None if nka.is_some() => {
            Err(DdbError::invalid_param(format!(
                "ProjectionType is {}, but NonKeyAttributes is specified",
                p.projection_type.as_deref().unwrap_or("null")
            )))
        }
        Some("ALL") => Ok(Projection::All),
        Some("KEYS_ONLY") => Ok(Projection::KeysOnly),
        Some("INCLUDE") => {
            let a = nka.ok_or_else(|| {
                DdbError::invalid_param(format!(
                    "NonKeyAttributes must be specified when ProjectionType is INCLUDE; index: {index}"
                ))
            })?;
            if a.is_empty() || a.len() > MAX_NON_KEY_ATTRIBUTES {
                return Err(DdbError::constraint(
                    format!("{} names", a.len()),
                    "projection.nonKeyAttributes",
                    "Member must have length between 1 and 100",
                ));
            }
            Ok(Projection::Include(a))
        }
        None => Err(DdbError::invalid_param(format!(
            "Unknown ProjectionType: null; index: {index}"
        ))),
        Some(other) => Err(DdbError::constraint(
            other,
            "projection.projectionType",
            "Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]",
        )),
    }
}

/// Parse one secondary index of a CreateTable or UpdateTable request.
pub fn parse_index(
    i: &IndexIn,
    defs: &[KeyAttr],
    global: bool,
    pay_per_request: bool,
) -> DdbResult<IndexMeta> {
    let name = i
        .index_name
        .clone()
        .ok_or_else(|| DdbError::missing("indexName"))?;
    validate_name(&name, "indexName")?;
    let ks = i
        .key_schema
        .as_deref()
        .ok_or_else(|| DdbError::missing("keySchema"))?;
    let (hash, range) = parse_key_schema(ks, "keySchema", defs, &format!("; index: {name}"))?;
    let projection = parse_projection(i.projection.as_ref(), &name)?;
    let throughput = if global {
        let t = parse_throughput(i.provisioned_throughput.as_ref(), "provisionedThroughput")?;
        match (pay_per_request, t) {
            (false, None) => {
                return Err(DdbError::invalid_param(format!(
                    "ProvisionedThroughput must be specified for index: {name}"
                )));
            }
            (true, Some(_)) => {
                return Err(DdbError::invalid_param(format!(
                    "ProvisionedThroughput should not be specified for index: {name} when BillingMode is PAY_PER_REQUEST"
                )));
            }
            (_, t) => t,
        }
    } else {
        None
    };
    Ok(IndexMeta {
        name,
        hash,
        range,
        projection,
        throughput,
        item_count: 0,
        size_bytes: 0,
    })
}

/// Parse billing mode and throughput: `(pay_per_request, throughput)`.
pub fn parse_billing(
    mode: Option<&str>,
    t: Option<&ThroughputIn>,
) -> DdbResult<(bool, (u64, u64))> {
    let ppr = match mode {
        None | Some("PROVISIONED") => false,
        Some("PAY_PER_REQUEST") => true,
        Some(other) => {
            return Err(DdbError::constraint(
                other,
                "billingMode",
                "Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]",
            ));
        }
    };
    let tp = parse_throughput(t, "provisionedThroughput")?;
    match (ppr, tp) {
        (false, None) => Err(DdbError::invalid_param(
            "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
        )),
        (true, Some(_)) => Err(DdbError::invalid_param(
            "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
        )),
        (false, Some(t)) => Ok((false, t)),
        (true, None) => Ok((true, (0, 0))),
    }
}

pub fn parse_stream(s: Option<&StreamSpecIn>) -> DdbResult<Option<String>> {
    let Some(s) = s else { return Ok(None) };
    let enabled = s
        .stream_enabled
        .ok_or_else(|| DdbError::missing("streamSpecification.streamEnabled"))?;
    match (enabled, s.stream_view_type.as_deref()) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(DdbError::invalid_param(
            "StreamViewType must not be specified when StreamEnabled is false",
        )),
        (true, None) => Err(DdbError::invalid_param(
            "StreamViewType must be specified when StreamEnabled is true",
        )),
        (true, Some(v @ ("NEW_IMAGE" | "OLD_IMAGE" | "NEW_AND_OLD_IMAGES" | "KEYS_ONLY"))) => {
            Ok(Some(v.to_string()))
        }
        (true, Some(v)) => Err(DdbError::constraint(
            v,
            "streamSpecification.streamViewType",
            "Member must satisfy enum value set: [NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY]",
        )),
    }
}

pub fn parse_tags(tags: &[TagIn]) -> DdbResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    for t in tags {
        let k = t
            .key
            .clone()
            .ok_or_else(|| DdbError::missing("tags.member.key"))?;
        let v = t
            .value
            .clone()
            .ok_or_else(|| DdbError::missing("tags.member.value"))?;
        if k.is_empty() || k.chars().count() > 128 {
            return Err(DdbError::constraint(
                &k,
                "tags.member.key",
                "Member must have length between 1 and 128",
            ));
        }
        if v.chars().count() > 256 {
            return Err(DdbError::constraint(
                &v,
                "tags.member.value",
                "Member must have length less than or equal to 256",
            ));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// Merge tags into a table's, replacing values of existing keys; bounded by [`MAX_TAGS`].
pub fn merge_tags(into: &mut Vec<(String, String)>, tags: Vec<(String, String)>) -> DdbResult<()> {
    for (k, v) in tags {
        match into.iter_mut().find(|(ek, _)| *ek == k) {
            Some(e) => e.1 = v,
            None => into.push((k, v)),
        }
    }
    if into.len() > MAX_TAGS {
        return Err(DdbError::validation(
            "One or more parameter values were invalid: The number of tags exceeds the limit of 50",
        ));
    }
    Ok(())
}

/// Validate a CreateTable request into a table (without id and timestamps).
pub fn build_table(input: &CreateTableIn, id: u64, created_ms: u64) -> DdbResult<TableMeta> {
    let name = table_name(input.table_name.as_ref())?;
    let defs_in = input
        .attribute_definitions
        .as_deref()
        .ok_or_else(|| DdbError::missing("attributeDefinitions"))?;
    let ks = input
        .key_schema
        .as_deref()
        .ok_or_else(|| DdbError::missing("keySchema"))?;
    let attributes = parse_attribute_definitions(defs_in)?;
    let (hash, range) = parse_key_schema(ks, "keySchema", &attributes, "")?;
    let (pay_per_request, throughput) = parse_billing(
        input.billing_mode.as_deref(),
        input.provisioned_throughput.as_ref(),
    )?;
    let mut lsis = Vec::new();
    if let Some(l) = &input.local_secondary_indexes {
        if l.is_empty() {
            return Err(DdbError::invalid_param(
                "List of LocalSecondaryIndexes is empty",
            ));
        }
        if l.len() > MAX_LSIS {
            return Err(DdbError::invalid_param(
                "Too many local secondary indexes (maximum is 5)",
            ));
        }
        if range.is_none() {
            return Err(DdbError::invalid_param(
                "Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
            ));
        }
        for i in l {
            let idx = parse_index(i, &attributes, false, pay_per_request)?;
            if idx.hash.name != hash.name {
                return Err(DdbError::invalid_param(format!(
                    "Index KeySchema does not have the same leading hash key as table KeySchema for index: {}. index hash key: {}, table hash key: {}",
                    idx.name, idx.hash.name, hash.name
                )));
            }
            if idx.range.is_none() {
                return Err(DdbError::invalid_param(format!(
                    "Index KeySchema does not have a range key for index: {}",
                    idx.name
                )));
            }
            lsis.push(idx);
        }
    }
    let mut gsis = Vec::new();
    if let Some(g) = &input.global_secondary_indexes {
        if g.is_empty() {
            return Err(DdbError::invalid_param(
                "List of GlobalSecondaryIndexes is empty",
            ));
        }
        if g.len() > MAX_GSIS {
            return Err(DdbError::invalid_param(
                "GlobalSecondaryIndex count exceeds the per-table limit of 20",
            ));
        }
        for i in g {
            gsis.push(parse_index(i, &attributes, true, pay_per_request)?);
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for i in lsis.iter().chain(gsis.iter()) {
        if seen.contains(&i.name.as_str()) {
            return Err(DdbError::invalid_param(format!(
                "Duplicate index name: {}",
                i.name
            )));
        }
        seen.push(&i.name);
    }
    // Every attribute definition must be a key of the table or of an index.
    let used = |n: &str| {
        hash.name == n
            || range.as_ref().is_some_and(|r| r.name == n)
            || lsis
                .iter()
                .chain(gsis.iter())
                .any(|i| i.hash.name == n || i.range.as_ref().is_some_and(|r| r.name == n))
    };
    if attributes.iter().any(|a| !used(&a.name)) {
        return Err(DdbError::invalid_param(
            "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
        ));
    }
    let stream = parse_stream(input.stream_specification.as_ref())?;
    let tags = match &input.tags {
        Some(t) => {
            let mut out = Vec::new();
            merge_tags(&mut out, parse_tags(t)?)?;
            out
        }
        None => Vec::new(),
    };
    let table_class = match input.table_class.as_deref() {
        None => "STANDARD".to_string(),
        Some(c @ ("STANDARD" | "STANDARD_INFREQUENT_ACCESS")) => c.to_string(),
        Some(c) => {
            return Err(DdbError::constraint(
                c,
                "tableClass",
                "Member must satisfy enum value set: [STANDARD, STANDARD_INFREQUENT_ACCESS]",
            ));
        }
    };
    let stream_label = stream.as_ref().map(|_| stream_label(created_ms));
    Ok(TableMeta {
        name,
        id,
        created_ms,
        hash,
        range,
        attributes,
        pay_per_request,
        throughput,
        gsis,
        lsis,
        stream,
        stream_label,
        ttl_attribute: None,
        tags,
        deletion_protection: input.deletion_protection_enabled.unwrap_or(false),
        table_class,
        item_count: 0,
        size_bytes: 0,
    })
}

/// A stream label: the time the stream was enabled, ISO 8601 UTC with milliseconds
/// (`2026-11-29T07:33:42.123`), as DynamoDB writes it.
pub fn stream_label(ms: u64) -> String {
    let mut s = snapstack_protocol::codec::time::iso8601_ms(ms);
    s.pop(); // S3's form ends in `Z`; DynamoDB's label does not.
    s
}

/// Drop attribute definitions no key uses any more (after an index is deleted).
pub fn prune_attributes(t: &mut TableMeta) {
    let keys: Vec<String> = std::iter::once(t.hash.name.clone())
        .chain(t.range.iter().map(|r| r.name.clone()))
        .chain(t.indexes().flat_map(|i| {
            std::iter::once(i.hash.name.clone()).chain(i.range.iter().map(|r| r.name.clone()))
        }))
        .collect();
    t.attributes.retain(|a| keys.contains(&a.name));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(v: Value) -> CreateTableIn {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_valid_table_with_indexes() {
        let t = build_table(
            &input(json!({
                "TableName": "orders",
                "AttributeDefinitions": [
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "N"},
                    {"AttributeName": "g", "AttributeType": "S"},
                    {"AttributeName": "l", "AttributeType": "B"}],
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                "BillingMode": "PAY_PER_REQUEST",
                "GlobalSecondaryIndexes": [{"IndexName": "byg", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}],
                "LocalSecondaryIndexes": [{"IndexName": "byl", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}], "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]}}]
            })),
            1,
            0,
        )
        .unwrap();
        assert_eq!(t.hash.name, "pk");
        assert_eq!(t.range.as_ref().unwrap().kind, KeyType::N);
        assert_eq!(t.gsis[0].projection, Projection::KeysOnly);
        assert_eq!(t.lsis[0].projection, Projection::Include(vec!["x".into()]));
    }

    #[test]
    fn invalid_schemas_get_dynamodb_messages() {
        let base = |ks: Value, defs: Value| {
            build_table(
                &input(json!({"TableName": "tbl", "KeySchema": ks, "AttributeDefinitions": defs, "BillingMode": "PAY_PER_REQUEST"})),
                1,
                0,
            )
            .unwrap_err()
            .message
        };
        let d = json!([{"AttributeName": "a", "AttributeType": "S"}]);
        assert!(
            base(
                json!([{"AttributeName": "a", "KeyType": "RANGE"}]),
                d.clone()
            )
            .contains("The first KeySchemaElement is not a HASH key type")
        );
        assert!(
            base(
                json!([{"AttributeName": "b", "KeyType": "HASH"}]),
                d.clone()
            )
            .contains("Some index key attributes are not defined")
        );
        assert!(base(json!([{"AttributeName": "a", "KeyType": "HASH"}]), json!([{"AttributeName": "a", "AttributeType": "S"}, {"AttributeName": "z", "AttributeType": "S"}])).contains("Number of attributes in KeySchema does not exactly match"));
        assert!(
            base(
                json!([{"AttributeName": "a", "KeyType": "HASH"}]),
                json!([{"AttributeName": "a", "AttributeType": "X"}])
            )
            .contains("Member must satisfy enum value set: [B, N, S]")
        );
        let e = build_table(
            &input(json!({"TableName": "x", "KeySchema": [], "AttributeDefinitions": []})),
            1,
            0,
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("Member must have length greater than or equal to 3"),
            "{}",
            e.message
        );
        let e = build_table(&input(json!({"TableName": "tbl", "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}], "AttributeDefinitions": d})), 1, 0).unwrap_err();
        assert!(
            e.message
                .contains("must both be specified when BillingMode is PROVISIONED")
        );
    }

    #[test]
    fn stream_labels_are_iso_timestamps() {
        assert_eq!(stream_label(0), "1970-01-01T00:00:00.000");
        assert_eq!(stream_label(1_709_210_096_789), "2024-02-29T12:34:56.789");
        assert_eq!(stream_label(951_782_400_000), "2000-02-29T00:00:00.000");
    }

    #[test]
    fn arns_name_tables_of_this_partition_only() {
        let ctx = RequestContext::from_scope(None);
        let arn = table_arn(&ctx, "t1");
        assert_eq!(table_from_arn(&ctx, &arn).unwrap(), "t1");
        assert_eq!(
            table_from_arn(&ctx, "arn:aws:dynamodb:eu-west-1:000000000000:table/t1")
                .unwrap_err()
                .code,
            "ResourceNotFoundException"
        );
        assert_eq!(
            table_from_arn(&ctx, "nope").unwrap_err().code,
            "ValidationException"
        );
    }
}
