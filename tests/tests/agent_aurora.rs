//! The Aurora side end to end: `agent migrate` through the RDS Data API stand-in on a real
//! PostgreSQL database, and every Aurora tool called by the real agent binary (driven by the
//! scripted model), its answers checked against the fixture (amounts exactly as written); order
//! cursors continue only their own list, filter and caller.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::{Value, json};
use system_tests::agent::{Agent, Answer};
use system_tests::aurora::Aurora;
use system_tests::bedrock::{BedrockStandIn, ToolCall, Turn};
use system_tests::cognito::{
    CUSTOMER_ID, CUSTOMER_ID_ATTRIBUTE, CUSTOMER_USERNAME, CognitoPool, STAFF_GROUP, STAFF_USERNAME,
};
use system_tests::fixtures::{self, text};
use system_tests::moto::Moto;
use system_tests::rds_data::{self, CLUSTER_ARN};

async fn count(aurora: &Aurora, table: &str) -> i64 {
    let rows = aurora
        .database
        .query(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap();
    rows[0].get(0)
}

/// The agent with the Aurora tools only (authentication off), its tools listed.
async fn agent_on(aurora: &Aurora, bedrock: &BedrockStandIn) -> Agent {
    let env = aurora.agent_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let agent = Agent::start(bedrock, None, &env).await.unwrap();
    agent
        .wait_for_log("tools listed", Duration::from_secs(10))
        .await
        .unwrap();
    agent
}

/// A fixture amount (a JSON number with two places) as the tools write it: exact text with
/// two decimal places.
fn amount(number: &Value) -> String {
    format!("{:.2}", number.as_f64().unwrap())
}

/// An amount the tools wrote (`"229.97"`) in whole cents, read digit by digit: no float.
fn cents(text: &Value) -> i64 {
    let text = text
        .as_str()
        .unwrap_or_else(|| panic!("an amount is text: {text}"));
    let (whole, fraction) = text.split_once('.').unwrap();
    assert_eq!(fraction.len(), 2, "two decimal places: {text}");
    whole.parse::<i64>().unwrap() * 100 + fraction.parse::<i64>().unwrap()
}

/// The outputs of the answer's `tool_result` events, in order.
fn outputs(answer: &Answer) -> Vec<Value> {
    answer
        .of_type("tool_result")
        .iter()
        .map(|e| {
            assert_eq!(e["status"], json!("ok"), "{e}");
            e["output"].clone()
        })
        .collect()
}

#[tokio::test]
async fn migrate_builds_the_schema_seeds_the_fixture_and_can_run_again() {
    let moto = Moto::start().await.unwrap();
    let aurora = Aurora::start(&moto).await.unwrap();
    aurora.migrate(&["--seed"]).await.unwrap();
    aurora.migrate(&["--seed"]).await.unwrap();
    for (table, fixture) in [
        ("customers", "customers"),
        ("products", "products"),
        ("orders", "orders"),
    ] {
        assert_eq!(
            count(&aurora, table).await,
            i64::try_from(fixtures::load(fixture).len()).unwrap(),
            "{table}"
        );
    }
    let lines: usize = fixtures::load("orders")
        .iter()
        .map(|o| o["lines"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        count(&aurora, "order_lines").await,
        i64::try_from(lines).unwrap()
    );
    assert_eq!(
        count(&aurora, "schema_migrations").await,
        1,
        "each migration is recorded once"
    );
    let settings = aurora
        .database
        .query(
            "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = $1",
            &[&aurora.reader],
        )
        .await
        .unwrap();
    let settings: String = settings[0].get(0);
    assert!(
        settings.contains("default_transaction_read_only=on")
            && settings.contains("statement_timeout=5000"),
        "{settings}"
    );
}

#[tokio::test]
async fn the_read_only_user_can_read_but_not_write() {
    let moto = Moto::start().await.unwrap();
    let aurora = Aurora::seeded(&moto).await.unwrap();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&aurora.data_api.endpoint)
        .credentials_provider(aws_sdk_rdsdata::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    let client = aws_sdk_rdsdata::Client::new(&config);
    let read = client
        .execute_statement()
        .resource_arn(CLUSTER_ARN)
        .secret_arn(&aurora.reader_secret_arn)
        .database(aurora.database.name())
        .sql("SELECT count(*) AS n FROM orders")
        .format_records_as(aws_sdk_rdsdata::types::RecordsFormatType::Json)
        .send()
        .await
        .expect("the reader may read");
    assert!(read.formatted_records().unwrap().contains("100"));
    let write = client
        .execute_statement()
        .resource_arn(CLUSTER_ARN)
        .secret_arn(&aurora.reader_secret_arn)
        .database(aurora.database.name())
        .sql("UPDATE products SET stock = 0")
        .send()
        .await;
    let error = write.expect_err("the reader may not write");
    let message = format!(
        "{}",
        aws_smithy_types::error::display::DisplayErrorContext(&error)
    );
    assert!(
        message.contains("read-only transaction") || message.contains("permission denied"),
        "{message}"
    );
    let secrets = rds_data::secrets_manager_client(&moto.endpoint).await;
    assert!(
        secrets
            .get_secret_value()
            .secret_id(&aurora.reader_secret_arn)
            .send()
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn migrate_without_the_admin_secret_fails_naming_it() {
    let moto = Moto::start().await.unwrap();
    let aurora = Aurora::start(&moto).await.unwrap();
    let output = tokio::process::Command::new(system_tests::workspace::binary("agent"))
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .envs(aurora.agent_env())
        .arg("migrate")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("AURORA_ADMIN_SECRET_ARN"), "{text}");
}

#[tokio::test]
async fn every_aurora_tool_answers_from_the_database() {
    let moto = Moto::start().await.unwrap();
    let aurora = Aurora::seeded(&moto).await.unwrap();
    let order = fixtures::load("orders")
        .into_iter()
        .find(|o| o["order_id"] == json!("ORD-00093"))
        .unwrap();
    let products = fixtures::load("products");
    let bedrock = BedrockStandIn::start([
        Turn::tool_use([
            ToolCall::new(
                "t1",
                "get_customer_profile",
                json!({"customer_id": "CUST-001"}),
            ),
            ToolCall::new(
                "t2",
                "list_customer_orders",
                json!({"customer_id": "CUST-001", "page_size": 4}),
            ),
            ToolCall::new("t3", "get_order", json!({"order_id": "ORD-00093"})),
            ToolCall::new(
                "t4",
                "search_products",
                json!({"query": "headphones", "in_stock_only": true}),
            ),
            ToolCall::new("t5", "get_product", json!({"product_id": "PROD-001"})),
            ToolCall::new(
                "t6",
                "list_customer_orders",
                json!({"customer_id": "CUST-001", "status": "shipped"}),
            ),
        ]),
        Turn::text("Here is what I found."),
    ])
    .await;
    let agent = agent_on(&aurora, &bedrock).await;
    let answer = agent
        .invoke(&json!({"prompt": "Tell me about CUST-001"}), &[])
        .await
        .unwrap();
    let out = outputs(&answer);
    assert_eq!(out.len(), 6, "{:?}", answer.events);

    let customer = &fixtures::load("customers")[0];
    assert_eq!(out[0]["first_name"], customer["first_name"]);
    assert_eq!(out[0]["email"], customer["email"]);
    let own_orders: Vec<Value> = fixtures::load("orders")
        .into_iter()
        .filter(|o| o["customer_id"] == json!("CUST-001"))
        .collect();
    assert_eq!(out[0]["order_count"], json!(own_orders.len()));

    let page = out[1]["orders"].as_array().unwrap();
    assert_eq!(page.len(), 4);
    let newest_first: Vec<i64> = page
        .iter()
        .map(|o| {
            let id = o["order_id"].as_str().unwrap();
            own_orders
                .iter()
                .find(|f| f["order_id"] == json!(id))
                .unwrap()["placed_days_ago"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert!(
        newest_first.windows(2).all(|w| w[0] <= w[1]),
        "{newest_first:?}"
    );
    assert!(out[1]["next_cursor"].is_string(), "more pages remain");

    assert_eq!(out[2]["status"], order["status"]);
    assert_eq!(out[2]["tracking_number"], order["tracking_number"]);
    let lines = out[2]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), order["lines"].as_array().unwrap().len());
    for line in lines {
        let product = products
            .iter()
            .find(|p| p["product_id"] == line["product_id"])
            .unwrap();
        assert_eq!(line["product_name"], product["name"]);
    }

    let found = out[3]["products"].as_array().unwrap();
    assert!(!found.is_empty());
    for product in found {
        assert!(product["stock"].as_i64().unwrap() > 0);
        let fixture = products
            .iter()
            .find(|p| p["product_id"] == product["product_id"])
            .unwrap();
        let words =
            format!("{} {}", text(fixture, "name"), text(fixture, "description")).to_lowercase();
        assert!(words.contains("headphone"), "{fixture}");
    }

    assert_eq!(out[4]["price"], json!(amount(&products[0]["price"])));
    assert_eq!(out[4]["warranty_months"], products[0]["warranty_months"]);

    let shipped = out[5]["orders"].as_array().unwrap();
    let expected = own_orders
        .iter()
        .filter(|o| o["status"] == json!("shipped"))
        .count();
    assert_eq!(shipped.len(), expected);
    assert!(shipped.iter().all(|o| o["status"] == json!("shipped")));
}

#[tokio::test]
async fn seeded_prices_read_back_exactly_as_written() {
    let moto = Moto::start().await.unwrap();
    let aurora = Aurora::seeded(&moto).await.unwrap();
    let products = fixtures::load("products");
    let stored = aurora
        .database
        .query("SELECT product_id, price::text FROM products", &[])
        .await
        .unwrap();
    assert_eq!(stored.len(), products.len());
    for row in &stored {
        let (id, price): (String, String) = (row.get(0), row.get(1));
        let fixture = products
            .iter()
            .find(|p| p["product_id"] == json!(id))
            .unwrap();
        assert_eq!(price, amount(&fixture["price"]), "{id} as stored");
    }
    let calls: Vec<ToolCall> = products
        .iter()
        .enumerate()
        .map(|(i, p)| {
            ToolCall::new(
                format!("p{i}"),
                "get_product",
                json!({"product_id": p["product_id"]}),
            )
        })
        .collect();
    let bedrock = BedrockStandIn::start([Turn::tool_use(calls), Turn::text("Prices.")]).await;
    let agent = agent_on(&aurora, &bedrock).await;
    let answer = agent
        .invoke(&json!({"prompt": "every price"}), &[])
        .await
        .unwrap();
    let out = outputs(&answer);
    assert_eq!(out.len(), products.len());
    for (product, fixture) in out.iter().zip(&products) {
        assert_eq!(product["product_id"], fixture["product_id"]);
        assert_eq!(
            product["price"],
            json!(amount(&fixture["price"])),
            "{product}"
        );
    }
}

/// Orders whose lines, added up as binary floats, miss the total (as 0.1 + 0.2 misses 0.3):
/// their amounts come back as written and the lines add up to the total exactly.
#[tokio::test]
async fn order_totals_that_floats_get_wrong_read_back_exactly_and_add_up() {
    let moto = Moto::start().await.unwrap();
    let aurora = Aurora::seeded(&moto).await.unwrap();
    let float_sum = |order: &Value| -> f64 {
        order["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["quantity"].as_f64().unwrap() * l["unit_price"].as_f64().unwrap())
            .sum()
    };
    let orders: Vec<Value> = fixtures::load("orders")
        .into_iter()
        .filter(|o| float_sum(o) != o["total_amount"].as_f64().unwrap())
        .collect();
    assert!(!orders.is_empty(), "the fixture has such an order");
    let calls: Vec<ToolCall> = orders
        .iter()
        .enumerate()
        .map(|(i, o)| {
            ToolCall::new(
                format!("o{i}"),
                "get_order",
                json!({"order_id": o["order_id"]}),
            )
        })
        .collect();
    let bedrock = BedrockStandIn::start([Turn::tool_use(calls), Turn::text("Totals.")]).await;
    let agent = agent_on(&aurora, &bedrock).await;
    let answer = agent
        .invoke(&json!({"prompt": "these orders"}), &[])
        .await
        .unwrap();
    let out = outputs(&answer);
    assert_eq!(out.len(), orders.len());
    for (order, fixture) in out.iter().zip(&orders) {
        assert_eq!(order["order_id"], fixture["order_id"]);
        assert_eq!(
            order["total_amount"],
            json!(amount(&fixture["total_amount"])),
            "{order}"
        );
        let lines = order["lines"].as_array().unwrap();
        for (line, written) in lines.iter().zip(fixture["lines"].as_array().unwrap()) {
            assert_eq!(line["unit_price"], json!(amount(&written["unit_price"])));
        }
        let sum: i64 = lines
            .iter()
            .map(|l| l["quantity"].as_i64().unwrap() * cents(&l["unit_price"]))
            .sum();
        assert_eq!(sum, cents(&order["total_amount"]), "{order}");
    }
}

#[tokio::test]
async fn order_pages_follow_the_cursor_to_the_end_without_repeats() {
    let moto = Moto::start().await.unwrap();
    let aurora = Aurora::seeded(&moto).await.unwrap();
    let customer = "CUST-001";
    let expected = fixtures::load("orders")
        .into_iter()
        .filter(|o| o["customer_id"] == json!(customer))
        .count();
    let bedrock = BedrockStandIn::start([]).await;
    let agent = agent_on(&aurora, &bedrock).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0..10 {
        let mut input = json!({"customer_id": customer, "page_size": 2});
        if let Some(cursor) = &cursor {
            input["cursor"] = json!(cursor);
        }
        bedrock.push(Turn::tool_use([ToolCall::new(
            format!("p{page}"),
            "list_customer_orders",
            input,
        )]));
        bedrock.push(Turn::text("ok"));
        let answer = agent
            .invoke(&json!({"prompt": "next page"}), &[])
            .await
            .unwrap();
        let out = &outputs(&answer)[0];
        for order in out["orders"].as_array().unwrap() {
            seen.push(order["order_id"].as_str().unwrap().to_owned());
        }
        match out["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(seen.len(), expected, "{seen:?}");
    assert_eq!(unique.len(), expected, "no order twice");
}

#[tokio::test]
async fn bad_arguments_and_unknown_records_are_clear_errors() {
    let moto = Moto::start().await.unwrap();
    let aurora = Aurora::seeded(&moto).await.unwrap();
    let bedrock = BedrockStandIn::start([
        Turn::tool_use([
            ToolCall::new("a", "get_order", json!({"order_id": "ORD-99999"})),
            ToolCall::new(
                "b",
                "get_order",
                json!({"order_id": "x'; DROP TABLE orders; --"}),
            ),
            ToolCall::new(
                "c",
                "list_customer_orders",
                json!({"customer_id": "CUST-001", "page_size": 500}),
            ),
            ToolCall::new(
                "d",
                "list_customer_orders",
                json!({"customer_id": "CUST-001", "cursor": "not-a-cursor"}),
            ),
            ToolCall::new(
                "e",
                "get_product",
                json!({"product_id": "PROD-001", "sql": "x"}),
            ),
        ]),
        Turn::text("Sorry."),
    ])
    .await;
    let agent = agent_on(&aurora, &bedrock).await;
    let answer = agent
        .invoke(&json!({"prompt": "break things"}), &[])
        .await
        .unwrap();
    let results = answer.of_type("tool_result");
    let errors: Vec<&str> = results
        .iter()
        .map(|e| {
            assert_eq!(e["status"], json!("error"), "{e}");
            e["output"]["error"].as_str().unwrap()
        })
        .collect();
    assert!(errors[0].contains("no order with id"), "{}", errors[0]);
    assert!(errors[1].contains("order_id"), "{}", errors[1]);
    assert!(errors[2].contains("page_size"), "{}", errors[2]);
    assert!(errors[3].contains("cursor"), "{}", errors[3]);
    assert!(errors[4].contains("sql"), "{}", errors[4]);
    assert_eq!(count(&aurora, "orders").await, 100, "nothing was dropped");
}

/// What a refused order cursor's answer says.
const CURSOR_REFUSED: &str = "cursor is not valid";

/// The agent with the Aurora tools behind `pool`'s ID tokens, staff in the staff group.
async fn agent_with_auth(aurora: &Aurora, pool: &CognitoPool, bedrock: &BedrockStandIn) -> Agent {
    let mut env = pool.auth_env();
    env.extend(aurora.agent_env());
    env.push(("AUTH_TOKEN_USE".into(), "id".into()));
    env.push(("STAFF_GROUP".into(), STAFF_GROUP.into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let agent = Agent::start(bedrock, None, &env).await.unwrap();
    agent
        .wait_for_log("tools listed", Duration::from_secs(10))
        .await
        .unwrap();
    agent
}

/// One `list_customer_orders` call with `input` in a turn of its own, as `bearer` (an
/// `Authorization` value) when given: the call's `tool_result` event.
async fn list_orders(
    agent: &Agent,
    bedrock: &BedrockStandIn,
    bearer: Option<&str>,
    input: Value,
) -> Value {
    bedrock.push(Turn::tool_use([ToolCall::new(
        "orders",
        "list_customer_orders",
        input,
    )]));
    bedrock.push(Turn::text("ok"));
    let headers: Vec<(&str, &str)> = bearer.map(|b| ("authorization", b)).into_iter().collect();
    let answer = agent
        .invoke(&json!({"prompt": "my orders"}), &headers)
        .await
        .unwrap();
    answer.of_type("tool_result")[0].clone()
}

/// The `next_cursor` of a successful page.
fn next_cursor(result: &Value) -> String {
    assert_eq!(result["status"], json!("ok"), "{result}");
    result["output"]["next_cursor"]
        .as_str()
        .unwrap_or_else(|| panic!("more pages remain: {result}"))
        .to_owned()
}

/// Asserts that a call was refused for its cursor, with no page in its output.
fn assert_cursor_refused(case: &str, result: &Value) {
    assert_eq!(result["status"], json!("error"), "{case}: {result}");
    assert!(result["output"].get("orders").is_none(), "{case}: {result}");
    let message = result["output"]["error"].as_str().unwrap_or_default();
    assert!(
        message.contains(CURSOR_REFUSED) && message.contains("first page"),
        "{case}: {message}"
    );
}

async fn bearer(pool: &CognitoPool, username: &str) -> String {
    let tokens = pool.sign_in(username, &pool.client_id).await.unwrap();
    format!("Bearer {}", tokens.id_token)
}

#[tokio::test]
async fn an_order_cursor_is_refused_for_any_other_caller() {
    let moto = Moto::start().await.unwrap();
    let aurora = Aurora::seeded(&moto).await.unwrap();
    let pool = CognitoPool::create(&moto).await.unwrap();
    let other_customer = "CUST-002";
    pool.create_user(
        "customer-002",
        &[
            ("email", "customer-002@example.com"),
            (CUSTOMER_ID_ATTRIBUTE, other_customer),
        ],
        &[],
    )
    .await
    .unwrap();
    let bedrock = BedrockStandIn::start([]).await;
    let agent = agent_with_auth(&aurora, &pool, &bedrock).await;
    let customer = bearer(&pool, CUSTOMER_USERNAME).await;
    let other = bearer(&pool, "customer-002").await;
    let staff = bearer(&pool, STAFF_USERNAME).await;
    let own_list = json!({"customer_id": CUSTOMER_ID, "page_size": 2});

    let own = next_cursor(&list_orders(&agent, &bedrock, Some(&customer), own_list.clone()).await);
    let replayed = list_orders(
        &agent,
        &bedrock,
        Some(&other),
        json!({"page_size": 2, "cursor": own}),
    )
    .await;
    assert_cursor_refused("customer A's cursor replayed by customer B", &replayed);

    let staffs = next_cursor(&list_orders(&agent, &bedrock, Some(&staff), own_list.clone()).await);
    let mut same_list = own_list.clone();
    same_list["cursor"] = json!(staffs);
    let replayed = list_orders(&agent, &bedrock, Some(&customer), same_list).await;
    assert_cursor_refused(
        "staff's cursor of the customer's own list, replayed by the customer",
        &replayed,
    );

    let mut continued = own_list;
    continued["cursor"] = json!(own);
    let page = list_orders(&agent, &bedrock, Some(&customer), continued).await;
    assert_eq!(page["status"], json!("ok"), "{page}");
    assert_eq!(
        page["output"]["orders"].as_array().map(Vec::len),
        Some(2),
        "the caller it was issued to continues: {page}"
    );
}

#[tokio::test]
async fn order_cursors_bind_the_status_filter_refuse_edits_and_allow_a_new_page_size() {
    let moto = Moto::start().await.unwrap();
    let aurora = Aurora::seeded(&moto).await.unwrap();
    let customer = "CUST-001";
    let own_orders: Vec<Value> = fixtures::load("orders")
        .into_iter()
        .filter(|o| o["customer_id"] == json!(customer))
        .collect();
    let status = own_orders
        .iter()
        .map(|o| text(o, "status"))
        .find(|s| {
            own_orders
                .iter()
                .filter(|o| text(o, "status") == *s)
                .count()
                >= 2
        })
        .expect("the customer has two orders of one status");
    let bedrock = BedrockStandIn::start([]).await;
    let agent = agent_on(&aurora, &bedrock).await;

    let unfiltered = json!({"customer_id": customer, "page_size": 1});
    let cursor = next_cursor(&list_orders(&agent, &bedrock, None, unfiltered.clone()).await);
    let replayed = list_orders(
        &agent,
        &bedrock,
        None,
        json!({"customer_id": customer, "status": status, "page_size": 1, "cursor": cursor}),
    )
    .await;
    assert_cursor_refused("an unfiltered cursor with a status filter", &replayed);

    let filtered = json!({"customer_id": customer, "status": status, "page_size": 1});
    let filtered_cursor = next_cursor(&list_orders(&agent, &bedrock, None, filtered).await);
    for other_filter in [
        json!({"customer_id": customer, "page_size": 1, "cursor": filtered_cursor}),
        json!({"customer_id": customer, "status": if status == "shipped" { "pending" } else { "shipped" }, "page_size": 1, "cursor": filtered_cursor}),
    ] {
        let replayed = list_orders(&agent, &bedrock, None, other_filter.clone()).await;
        assert_cursor_refused(&format!("a {status} cursor in {other_filter}"), &replayed);
    }

    let length = cursor.chars().count();
    for position in [0, length / 2, length - 2] {
        let edited: String = cursor
            .chars()
            .enumerate()
            .map(|(i, c)| match (i == position, c) {
                (false, c) => c,
                (true, 'A') => 'B',
                (true, _) => 'A',
            })
            .collect();
        let mut input = unfiltered.clone();
        input["cursor"] = json!(edited);
        let replayed = list_orders(&agent, &bedrock, None, input).await;
        assert_cursor_refused(&format!("one character changed at {position}"), &replayed);
    }

    let page = list_orders(
        &agent,
        &bedrock,
        None,
        json!({"customer_id": customer, "page_size": 3, "cursor": cursor}),
    )
    .await;
    assert_eq!(page["status"], json!("ok"), "{page}");
    let orders = page["output"]["orders"].as_array().expect("orders");
    assert_eq!(
        orders.len(),
        3.min(own_orders.len() - 1),
        "the cursor continues with a new page size: {page}"
    );
}
