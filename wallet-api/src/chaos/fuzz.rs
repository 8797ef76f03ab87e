//! `gaswallet chaos fuzz`: hostile requests generated from the server's own OpenAPI document.
//!
//! The fuzzer starts `gaswallet serve`, reads `GET /v1/openapi.json`, and sets up two customers
//! (A and B, each with a meter and a payment at its own merchant) and two merchants (A and B),
//! plus a technician, a concentrator and a finance token. Then, from several clients until the
//! time is up, it picks an operation of the document at random and builds a request for it:
//! path ids from every principal's resources (its own, the other customer's or merchant's, random
//! UUIDs, junk), query parameters in and out of range, a body generated from the operation's
//! schema (valid-looking, with the examples and enums the document gives), then mutated (a field
//! dropped, an unknown field added, a value of the wrong type, a huge string, money as a JSON
//! number, negative, with an exponent or too many decimals, the whole body replaced by junk),
//! with the Idempotency-Key sometimes missing or reused, and the token of a random role.
//!
//! Oracles, on every answer:
//! - never a 5xx, and always an answer (a panicking handler drops the connection);
//! - every 4xx is `application/problem+json` with a string `code`;
//! - an answer to customer X's or merchant X's token never contains an id of the other customer
//!   or merchant (their party ids, wallet, meter, payments);
//! - a request with a customer's or merchant's token on another principal's resource (a foreign
//!   id in the path) is never answered 2xx: no unauthorized read or write.
//!
//! At the end the server must still be healthy, `verify` must pass, and its log must hold no
//! panic. Counts per operation and per status are reported; the first failures are printed with
//! the request that shows them, and the same seed replays the same requests.

use super::harness::{new_admin_token, set_up_parties, Answer, Api, Parties, ServerProcess, PROBLEM_JSON};
use anyhow::Context;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Failures kept with their request in the report (the counts cover all of them).
const FAILURE_SAMPLES_MAX: usize = 20;
/// Longest junk string the fuzzer sends in a field (past the general body limit on purpose).
const HUGE_STRING_BYTES_MAX: usize = 300_000;
/// How deep generated bodies nest before a schema is cut short (schemas can refer to themselves).
const SCHEMA_DEPTH_MAX: usize = 8;

/// Options of `gaswallet chaos fuzz`.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    pub seconds: u64,
    pub seed: u64,
    pub clients: usize,
}

/// One failed oracle, with the request that shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub oracle: &'static str,
    pub method: String,
    pub path: String,
    pub role: String,
    pub request_body: String,
    pub status: Option<u16>,
    pub answer: String,
}

/// What the fuzzer found. Every count under "failures" must be 0.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FuzzReport {
    pub seconds: f64,
    pub seed: u64,
    pub operations_in_document: usize,
    pub requests: u64,
    pub per_operation: BTreeMap<String, u64>,
    pub per_status: BTreeMap<String, u64>,
    pub server_errors: u64,
    pub no_answer: u64,
    /// Requests sent again on a new connection after the pooled one had been closed by the server.
    pub retried_on_new_connection: u64,
    pub not_problem_json: u64,
    pub foreign_ids_leaked: u64,
    pub unauthorized_successes: u64,
    pub panics_in_log: u64,
    pub healthy_at_end: bool,
    pub verify_ok: bool,
    pub failures: Vec<Failure>,
}

impl FuzzReport {
    pub fn clean(&self) -> bool {
        self.server_errors == 0
            && self.no_answer == 0
            && self.not_problem_json == 0
            && self.foreign_ids_leaked == 0
            && self.unauthorized_successes == 0
            && self.panics_in_log == 0
            && self.healthy_at_end
            && self.verify_ok
    }

    fn merge(&mut self, other: FuzzReport) {
        self.requests += other.requests;
        for (key, count) in other.per_operation {
            *self.per_operation.entry(key).or_default() += count;
        }
        for (key, count) in other.per_status {
            *self.per_status.entry(key).or_default() += count;
        }
        self.server_errors += other.server_errors;
        self.no_answer += other.no_answer;
        self.retried_on_new_connection += other.retried_on_new_connection;
        self.not_problem_json += other.not_problem_json;
        self.foreign_ids_leaked += other.foreign_ids_leaked;
        self.unauthorized_successes += other.unauthorized_successes;
        for failure in other.failures {
            if self.failures.len() < FAILURE_SAMPLES_MAX {
                self.failures.push(failure);
            }
        }
    }
}

/// One operation of the document.
#[derive(Debug, Clone)]
struct Operation {
    method: String,
    template: String,
    parameters: Vec<Value>,
    body_schema: Option<Value>,
}

/// A token the fuzzer acts with, and the ids it must never see or touch.
#[derive(Debug, Clone)]
struct Actor {
    role: String,
    token: Option<String>,
    /// Ids of other customers and merchants (empty for staff roles and anonymous callers).
    foreign_ids: Vec<String>,
}

/// Everything the clients share.
#[derive(Debug)]
struct World {
    document: Value,
    operations: Vec<Operation>,
    actors: Vec<Actor>,
    /// Every id the fuzzer knows (all principals' resources).
    known_ids: Vec<String>,
}

/// Runs the fuzzer with the `gaswallet` binary at `binary`.
pub fn run_fuzz(binary: &Path, options: &FuzzOptions) -> anyhow::Result<FuzzReport> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(fuzz(binary, options))
}

async fn fuzz(binary: &Path, options: &FuzzOptions) -> anyhow::Result<FuzzReport> {
    let temporary = tempfile::tempdir()?;
    let data = temporary.path().join("data");
    let mut random = StdRng::seed_from_u64(options.seed);
    let admin_token = new_admin_token(&mut random);
    let server = ServerProcess::start(binary, &data, &admin_token).await?;
    let api = Api::new(server.address);
    let document = api.expect_status("GET", "/v1/openapi.json", &admin_token, None, 200).await?;
    let parties = set_up_parties(&api, &admin_token, 2, 2, "1000.00", &mut random).await?;
    let world = Arc::new(build_world(&api, document, &parties).await?);
    let mut report =
        FuzzReport { seed: options.seed, operations_in_document: world.operations.len(), ..FuzzReport::default() };

    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.seconds);
    let clients: Vec<_> = (0..options.clients.max(1))
        .map(|client| {
            let (api, world) = (api.clone(), Arc::clone(&world));
            let seed = options.seed.wrapping_mul(1_000_003).wrapping_add(client as u64);
            tokio::spawn(async move { run_client(&api, &world, seed, deadline).await })
        })
        .collect();
    for client in clients {
        report.merge(client.await.context("a fuzzing client panicked")?);
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.healthy_at_end =
        api.call("GET", "/healthz", None, None, None).await.is_ok_and(|answer| answer.status == 200);
    let checks = api.ledger_checks(&admin_token).await?;
    drop(server);
    report.verify_ok = (checks.verify_ok || checks.verify_timed_out) && super::harness::offline_verify(binary, &data)?;
    let log = std::fs::read_to_string(data.with_extension("server.log")).unwrap_or_default();
    report.panics_in_log = log.matches("panicked").count() as u64;
    if report.panics_in_log > 0 {
        eprintln!("PANICS in the server log:\n{log}");
    }
    Ok(report)
}

/// Reads the operations from the document and makes the fixtures the oracles need: a payment of
/// each customer at its own merchant.
async fn build_world(api: &Api, document: Value, parties: &Parties) -> anyhow::Result<World> {
    let mut operations = Vec::new();
    if let Some(paths) = document.get("paths").and_then(Value::as_object) {
        for (template, item) in paths {
            let Some(item) = item.as_object() else { continue };
            for (method, operation) in item {
                let body_schema = operation.pointer("/requestBody/content/application~1json/schema").cloned();
                let parameters = operation.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default();
                operations.push(Operation {
                    method: method.to_uppercase(),
                    template: template.clone(),
                    parameters,
                    body_schema,
                });
            }
        }
    }
    anyhow::ensure!(!operations.is_empty(), "the OpenAPI document lists no operations");
    let mut payments = Vec::new();
    for (customer, merchant) in parties.customers.iter().zip(&parties.merchants) {
        let code = api
            .expect_status(
                "POST",
                &format!("/v1/wallets/{}/payment-codes", customer.wallet_id),
                &customer.token,
                Some(&json!({})),
                201,
            )
            .await?;
        let code = code.get("code").and_then(Value::as_str).unwrap_or_default().to_owned();
        let body = json!({ "payment_code": code, "amount": "1.00", "order_ref": "fuzz-fixture" });
        let paid =
            api.post("/v1/payments", &merchant.token, Some(&format!("fuzz-fixture-{}", merchant.id)), &body).await?;
        anyhow::ensure!(paid.status == 201, "fixture payment: {} {}", paid.status, paid.text());
        payments.push(paid.field("id")?);
    }
    // Principal number i owns customer i, merchant i and payment i (customer i paid merchant i).
    let owned = |index: usize| -> Vec<String> {
        let customer = &parties.customers[index];
        vec![
            customer.id.clone(),
            customer.wallet_id.clone(),
            customer.meter_id.clone(),
            parties.merchants[index].id.clone(),
            payments[index].clone(),
        ]
    };
    let mut actors = vec![
        Actor { role: String::from("admin"), token: Some(parties.admin_token.clone()), foreign_ids: Vec::new() },
        Actor { role: String::from("finance"), token: Some(parties.finance_token.clone()), foreign_ids: Vec::new() },
        Actor {
            role: String::from("technician"),
            token: Some(parties.technician_token.clone()),
            foreign_ids: Vec::new(),
        },
        Actor {
            role: String::from("concentrator"),
            token: Some(parties.concentrator_token.clone()),
            foreign_ids: Vec::new(),
        },
        Actor { role: String::from("anonymous"), token: None, foreign_ids: Vec::new() },
        Actor {
            role: String::from("forged"),
            token: Some(String::from("gw_0000000000000000deadbeef")),
            foreign_ids: Vec::new(),
        },
    ];
    for index in 0..2 {
        let other = owned(1 - index);
        actors.push(Actor {
            role: format!("customer-{index}"),
            token: Some(parties.customers[index].token.clone()),
            foreign_ids: other.clone(),
        });
        actors.push(Actor {
            role: format!("merchant-{index}"),
            token: Some(parties.merchants[index].token.clone()),
            foreign_ids: other,
        });
    }
    let mut known_ids: Vec<String> = (0..2).flat_map(owned).collect();
    known_ids.push(parties.technician_id.clone());
    Ok(World { document, operations, actors, known_ids })
}

async fn run_client(api: &Api, world: &World, seed: u64, deadline: Instant) -> FuzzReport {
    let mut random = StdRng::seed_from_u64(seed);
    let mut report = FuzzReport::default();
    let mut used_keys: Vec<String> = Vec::new();
    while Instant::now() < deadline {
        let Some(operation) = world.operations.choose(&mut random) else { break };
        let Some(actor) = world.actors.choose(&mut random) else { break };
        let (path, foreign_in_path) = fill_path(operation, world, actor, &mut random);
        let key = idempotency_key(operation, &mut used_keys, &mut random);
        let body = operation.body_schema.as_ref().map(|schema| {
            let value = generate(&world.document, schema, world, &mut random, 0);
            mutate_body(value, &mut random)
        });
        let body_text = body.as_ref().map(|bytes| String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned());
        let sent = format!(
            "{path} {}",
            body.as_ref().map(|bytes| String::from_utf8_lossy(bytes).into_owned()).unwrap_or_default()
        );
        let mut answer = api.call(&operation.method, &path, actor.token.as_deref(), key.as_deref(), body.clone()).await;
        if answer.is_err() {
            // A pooled keep-alive connection the server closed after its previous answer (it
            // closes after refusing a body it did not read, e.g. a 413) fails the next request
            // before the server saw it: that is the client's race, not the server's fault. The
            // same request again on a new connection must be answered; a panicking handler would
            // also show in the server's log.
            report.retried_on_new_connection += 1;
            answer = api.fresh().call(&operation.method, &path, actor.token.as_deref(), key.as_deref(), body).await;
        }
        report.requests += 1;
        *report.per_operation.entry(format!("{} {}", operation.method, operation.template)).or_default() += 1;
        let failure = |oracle: &'static str, answer: Option<&Answer>| Failure {
            oracle,
            method: operation.method.clone(),
            path: path.chars().take(300).collect(),
            role: actor.role.clone(),
            request_body: body_text.clone().unwrap_or_default(),
            status: answer.map(|answer| answer.status),
            answer: answer.map(|answer| answer.text().chars().take(400).collect()).unwrap_or_default(),
        };
        let mut failed = Vec::new();
        match &answer {
            Err(error) => {
                report.no_answer += 1;
                *report.per_status.entry(String::from("none")).or_default() += 1;
                let mut record = failure("no_answer", None);
                record.answer = format!("{error:#}");
                failed.push(record);
            }
            Ok(answer) => {
                *report.per_status.entry(answer.status.to_string()).or_default() += 1;
                if answer.status >= 500 {
                    report.server_errors += 1;
                    failed.push(failure("no_5xx", Some(answer)));
                }
                if (400..500).contains(&answer.status)
                    && !(answer.content_type.starts_with(PROBLEM_JSON)
                        && answer.json.get("code").is_some_and(Value::is_string))
                {
                    report.not_problem_json += 1;
                    failed.push(failure("problem_json_with_code", Some(answer)));
                }
                let text = answer.text();
                // An id the caller sent itself may be echoed (e.g. "no bill <id>"); any other
                // foreign id in the answer is a leak.
                if actor.foreign_ids.iter().any(|id| text.contains(id.as_str()) && !sent.contains(id.as_str())) {
                    report.foreign_ids_leaked += 1;
                    failed.push(failure("no_foreign_ids", Some(answer)));
                }
                if foreign_in_path && (200..300).contains(&answer.status) {
                    report.unauthorized_successes += 1;
                    failed.push(failure("no_access_to_foreign_resources", Some(answer)));
                }
            }
        }
        for record in failed {
            eprintln!(
                "FUZZ FAILURE {}: {} {} as {}: {:?} {}",
                record.oracle, record.method, record.path, record.role, record.status, record.answer
            );
            if report.failures.len() < FAILURE_SAMPLES_MAX {
                report.failures.push(record);
            }
        }
    }
    report
}

/// Fills the path template; true when a path id belongs to another principal of the actor.
fn fill_path(operation: &Operation, world: &World, actor: &Actor, random: &mut StdRng) -> (String, bool) {
    let mut path = operation.template.clone();
    let mut foreign = false;
    let mut query = Vec::new();
    for parameter in &operation.parameters {
        let name = parameter.get("name").and_then(Value::as_str).unwrap_or_default();
        let example = parameter.get("example").and_then(Value::as_str);
        match parameter.get("in").and_then(Value::as_str) {
            Some("path") => {
                let value = match random.gen_range(0..10) {
                    0..=3 if !actor.foreign_ids.is_empty() => {
                        foreign = true;
                        actor.foreign_ids.choose(random).cloned().unwrap_or_default()
                    }
                    0..=5 => world.known_ids.choose(random).cloned().unwrap_or_default(),
                    6 => uuid::Uuid::from_u128(random.gen()).to_string(),
                    7 => example.map_or_else(|| junk_string(random), str::to_owned),
                    _ => junk_string(random),
                };
                foreign |= actor.foreign_ids.contains(&value);
                path = path.replace(&format!("{{{name}}}"), &percent_encode(&value));
            }
            Some("query") if random.gen_bool(0.5) => {
                let schema = parameter.get("schema").cloned().unwrap_or(Value::Null);
                let value = match generate(&world.document, &schema, world, random, 0) {
                    Value::String(text) => text,
                    other => other.to_string(),
                };
                let value = if random.gen_bool(0.3) { junk_string(random) } else { value };
                query.push(format!("{name}={}", percent_encode(&value)));
            }
            _ => {}
        }
    }
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    (path, foreign)
}

fn idempotency_key(operation: &Operation, used: &mut Vec<String>, random: &mut StdRng) -> Option<String> {
    let declared = operation
        .parameters
        .iter()
        .any(|parameter| parameter.get("name").and_then(Value::as_str) == Some("Idempotency-Key"));
    let roll = random.gen_range(0..10);
    let key = match roll {
        0 => return None,
        1 if !used.is_empty() => used.choose(random).cloned(),
        2 => Some("k".repeat(random.gen_range(200..400))),
        3 => Some(String::from("key with spaces\tand tabs")),
        _ if declared || roll == 4 => Some(format!("fuzz-{:016x}", random.gen::<u64>())),
        _ => None,
    };
    if let Some(key) = &key {
        if used.len() < 64 {
            used.push(key.clone());
        }
    }
    key
}

fn resolve<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => document.pointer(reference.trim_start_matches('#')).unwrap_or(schema),
        None => schema,
    }
}

/// A valid-looking value for a schema.
fn generate(document: &Value, schema: &Value, world: &World, random: &mut StdRng, depth: usize) -> Value {
    if depth > SCHEMA_DEPTH_MAX {
        return Value::Null;
    }
    let reference = schema.get("$ref").and_then(Value::as_str).unwrap_or_default();
    if reference.ends_with("/DecimalString") {
        return Value::String(decimal_string(random));
    }
    let schema = resolve(document, schema);
    if let Some(choices) = schema.get("enum").and_then(Value::as_array) {
        return choices.choose(random).cloned().unwrap_or(Value::Null);
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(choices) = schema.get(combinator).and_then(Value::as_array) {
            return match choices.choose(random) {
                Some(choice) => generate(document, choice, world, random, depth + 1),
                None => Value::Null,
            };
        }
    }
    if random.gen_bool(0.5) {
        if let Some(example) = schema.get("example").or_else(|| schema.pointer("/examples/0")) {
            return example.clone();
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        Some(Value::Array(kinds)) => kinds.choose(random).and_then(Value::as_str).unwrap_or("null").to_owned(),
        _ if schema.get("properties").is_some() => String::from("object"),
        _ => String::from("string"),
    };
    match kind.as_str() {
        "object" => {
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|names| names.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut object = Map::new();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    if required.contains(&name.as_str()) || random.gen_bool(0.6) {
                        object.insert(name.clone(), generate(document, property, world, random, depth + 1));
                    }
                }
            }
            Value::Object(object)
        }
        "array" => {
            let items = schema.get("items").cloned().unwrap_or(Value::Null);
            Value::Array(
                (0..random.gen_range(0..4)).map(|_| generate(document, &items, world, random, depth + 1)).collect(),
            )
        }
        "integer" => json!(match random.gen_range(0..6) {
            0 => 0,
            1 => -1,
            2 => i64::MAX,
            _ => random.gen_range(1..600),
        }),
        "number" => json!(random.gen_range(0..1000)),
        "boolean" => json!(random.gen_bool(0.5)),
        "null" => Value::Null,
        _ => Value::String(match schema.get("format").and_then(Value::as_str) {
            Some("uuid") => world.known_ids.choose(random).cloned().unwrap_or_default(),
            Some("date-time") => String::from(
                ["2026-03-01T03:00:00Z", "2026-11-01T00:00:00+08:00", "2099-01-01T00:00:00Z"][random.gen_range(0..3)],
            ),
            Some("date") => String::from(["2026-03-01", "2026-02-30", "1970-01-01"][random.gen_range(0..3)]),
            _ => format!("fuzz-{}", random.gen_range(0..1000)),
        }),
    }
}

fn decimal_string(random: &mut StdRng) -> String {
    let choices = [
        "12.50",
        "0.01",
        "1",
        "0",
        "-1.00",
        "1e3",
        "1.000000001",
        "99999999999999999999999999",
        "10000000.01",
        " 5",
        "+5",
        "NaN",
        "0.006",
    ];
    if random.gen_bool(0.5) {
        format!("{}.{:02}", random.gen_range(0..500), random.gen_range(0..100))
    } else {
        String::from(choices[random.gen_range(0..choices.len())])
    }
}

fn junk_string(random: &mut StdRng) -> String {
    match random.gen_range(0..8) {
        0 => String::new(),
        1 => String::from("../../etc/passwd"),
        2 => String::from("%00%ff"),
        3 => "x".repeat(random.gen_range(100..5_000)),
        4 => String::from("名字😀\u{202e}"),
        5 => String::from("-1"),
        6 => String::from("00000000-0000-0000-0000-000000000000"),
        _ => format!("{}", random.gen::<u64>()),
    }
}

fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Mutates a generated body (or leaves it valid-looking), and serializes it.
fn mutate_body(value: Value, random: &mut StdRng) -> Vec<u8> {
    let mut value = value;
    match random.gen_range(0..16) {
        0..=4 => {}
        5 => return Vec::new(),
        6 => return b"{\"unterminated\": ".to_vec(),
        7 => return vec![0xff, 0xfe, b'{', b'}'],
        8 => {
            let depth = random.gen_range(100..3_000);
            return format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes();
        }
        9 => value = json!([value]),
        _ => {
            if let Value::Object(object) = &mut value {
                mutate_field(object, random);
            }
        }
    }
    value.to_string().into_bytes()
}

fn mutate_field(object: &mut Map<String, Value>, random: &mut StdRng) {
    let names: Vec<String> = object.keys().cloned().collect();
    let Some(name) = names.choose(random).cloned() else {
        object.insert(String::from("unexpected"), json!(1));
        return;
    };
    match random.gen_range(0..9) {
        0 => {
            object.remove(&name);
        }
        1 => {
            object.insert(format!("{name}_extra"), json!("surprise"));
        }
        2 => {
            object.insert(name, json!(12.5));
        }
        3 => {
            object.insert(name, json!(1e300));
        }
        4 => {
            object.insert(name, Value::Null);
        }
        5 => {
            object.insert(name, json!({ "nested": [1, 2, 3] }));
        }
        6 => {
            let length = random.gen_range(1_000..HUGE_STRING_BYTES_MAX);
            object.insert(name, Value::String("A".repeat(length)));
        }
        7 => {
            object.insert(name, json!(-12345678901234567_i64));
        }
        _ => {
            object.insert(name, json!(true));
        }
    }
}
