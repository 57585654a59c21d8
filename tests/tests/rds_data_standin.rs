//! The RDS Data stand-in, driven by the real `aws-sdk-rdsdata` client against a throw-away
//! PostgreSQL database and secrets in moto: every answer decodes into what the SDK reports for
//! the real service, so the agent's tests can trust what the stand-in makes the agent see.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_rdsdata::Client;
use aws_sdk_rdsdata::config::Credentials;
use aws_sdk_rdsdata::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rdsdata::operation::execute_statement::{
    ExecuteStatementError, ExecuteStatementOutput,
};
use aws_sdk_rdsdata::types::{
    ArrayValue, DecimalReturnType, Field, LongReturnType, RecordsFormatType, ResultSetOptions,
    SqlParameter, TypeHint,
};
use aws_smithy_types::Blob;
use serde_json::{Value, json};
use system_tests::moto::Moto;
use system_tests::postgres::TestDatabase;
use system_tests::process::ServerProcess;
use system_tests::rds_data::{
    CLUSTER_ARN, Operation, Options, RdsDataStandIn, create_db_secret, secrets_manager_client,
};

const PASSWORD: &str = "pa'ss word";

/// moto for the secrets, a database, the stand-in, and a secret for the database's superuser.
struct Setup {
    moto: Moto,
    db: TestDatabase,
    standin: RdsDataStandIn,
    client: Client,
    secrets: aws_sdk_secretsmanager::Client,
    /// `postgres` in the test database.
    admin_secret: String,
}

impl Setup {
    async fn new() -> Self {
        let moto = Moto::start().await.expect("moto starts");
        let db = TestDatabase::create().await.expect("a test database");
        let standin = RdsDataStandIn::start(&moto)
            .await
            .expect("the stand-in starts");
        let client = client(&standin.endpoint).await;
        let secrets = secrets_manager_client(&moto.endpoint).await;
        let admin_secret =
            create_db_secret(&secrets, "admin", "postgres", "unused", Some(db.name()))
                .await
                .expect("the admin secret is stored");
        Self {
            moto,
            db,
            standin,
            client,
            secrets,
            admin_secret,
        }
    }

    /// A login role with `grants`, and a secret for it.
    async fn role_secret(&self, prefix: &str, grants: &[&str]) -> (String, String) {
        let role = self
            .db
            .create_role(prefix, PASSWORD, grants)
            .await
            .expect("the role is created");
        let secret = create_db_secret(&self.secrets, prefix, &role, PASSWORD, Some(self.db.name()))
            .await
            .expect("the role's secret is stored");
        (role, secret)
    }

    /// An `ExecuteStatement` call as the superuser.
    fn execute(
        &self,
        sql: &str,
    ) -> aws_sdk_rdsdata::operation::execute_statement::builders::ExecuteStatementFluentBuilder
    {
        self.client
            .execute_statement()
            .resource_arn(CLUSTER_ARN)
            .secret_arn(&self.admin_secret)
            .sql(sql)
    }

    /// The rows of a query as the superuser, straight from PostgreSQL.
    async fn count(&self, sql: &str) -> i64 {
        let rows = self.db.query(sql, &[]).await.expect("the check query runs");
        rows[0].get(0)
    }
}

/// The real client, pointed at the stand-in, with static test credentials and no retries so
/// every error is observed as sent.
async fn client(endpoint: &str) -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "static"))
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    Client::new(&config)
}

fn string(name: &str, value: &str) -> SqlParameter {
    SqlParameter::builder()
        .name(name)
        .value(Field::StringValue(value.to_owned()))
        .build()
}

fn hinted(name: &str, value: &str, hint: TypeHint) -> SqlParameter {
    SqlParameter::builder()
        .name(name)
        .value(Field::StringValue(value.to_owned()))
        .type_hint(hint)
        .build()
}

fn long(name: &str, value: i64) -> SqlParameter {
    SqlParameter::builder()
        .name(name)
        .value(Field::LongValue(value))
        .build()
}

/// The service error of a failed call, with its HTTP status.
fn service_error(
    error: SdkError<ExecuteStatementError, aws_smithy_runtime_api::http::Response>,
) -> (ExecuteStatementError, u16) {
    match error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            (service.into_err(), status)
        }
        other => panic!("expected a service error, got {other:?}"),
    }
}

/// A column's name, label, type name, type code, nullable, precision and scale.
type Described<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    i32,
    i32,
    i32,
    i32,
);

fn row(output: &ExecuteStatementOutput, index: usize) -> &[Field] {
    &output.records()[index]
}

#[tokio::test]
async fn every_mapped_type_arrives_as_its_typed_field() {
    let setup = Setup::new().await;
    setup
        .db
        .execute(
            "CREATE TYPE mood AS ENUM ('happy', 'sad');
             CREATE TABLE everything (
                 small int2, normal int4, big int8, real4 float4, real8 float8, exact numeric(10, 3),
                 flag bool, txt text, vc varchar(20), fixed char(4), nm name, day date,
                 at timestamp, at_tz timestamptz, id uuid, doc json, docb jsonb, bytes bytea,
                 numbers int4[], words text[], grid int8[][], feeling mood, span interval,
                 clock time, money_ money
             );
             INSERT INTO everything VALUES (
                 -2, 2147483647, 9007199254740993, 0.1, 2.5, 12345.678,
                 true, 'text', 'varchar', 'ab', 'a_name', '2024-02-29',
                 '2024-03-01 12:34:56.5', '2024-03-01 12:00:00+02',
                 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2]}', '{\"b\": true}',
                 '\\x00ff10', '{1, NULL, 3}', '{\"x\", \"y\"}', '{{1, 2}, {3, 4}}', 'sad',
                 '1 day 02:03:04', '08:30:00.25', 12.5
             );
             INSERT INTO everything DEFAULT VALUES;",
        )
        .await
        .expect("the table is filled");

    let output = setup
        .execute("SELECT * FROM everything ORDER BY small NULLS LAST")
        .send()
        .await
        .expect("the select runs");

    let expected = vec![
        Field::LongValue(-2),
        Field::LongValue(2_147_483_647),
        Field::LongValue(9_007_199_254_740_993),
        Field::DoubleValue(0.1),
        Field::DoubleValue(2.5),
        Field::StringValue("12345.678".into()),
        Field::BooleanValue(true),
        Field::StringValue("text".into()),
        Field::StringValue("varchar".into()),
        Field::StringValue("ab  ".into()),
        Field::StringValue("a_name".into()),
        Field::StringValue("2024-02-29".into()),
        Field::StringValue("2024-03-01 12:34:56.5".into()),
        Field::StringValue("2024-03-01 10:00:00".into()),
        Field::StringValue("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
        Field::StringValue("{\"a\": [1, 2]}".into()),
        Field::StringValue("{\"b\": true}".into()),
        Field::BlobValue(Blob::new(vec![0x00, 0xff, 0x10])),
        Field::ArrayValue(ArrayValue::LongValues(vec![Some(1), None, Some(3)])),
        Field::ArrayValue(ArrayValue::StringValues(vec![
            Some("x".into()),
            Some("y".into()),
        ])),
        Field::ArrayValue(ArrayValue::ArrayValues(vec![
            Some(ArrayValue::LongValues(vec![Some(1), Some(2)])),
            Some(ArrayValue::LongValues(vec![Some(3), Some(4)])),
        ])),
        Field::StringValue("sad".into()),
        Field::StringValue("1 day 02:03:04".into()),
        Field::StringValue("08:30:00.25".into()),
        Field::StringValue("$12.50".into()),
    ];
    assert_eq!(row(&output, 0), expected.as_slice());
    assert!(
        row(&output, 1).iter().all(|f| *f == Field::IsNull(true)),
        "a row of NULLs: {:?}",
        row(&output, 1)
    );
    assert_eq!(output.number_of_records_updated(), 0);
    assert!(
        output.column_metadata().is_empty(),
        "metadata only on request"
    );
    assert!(output.formatted_records().is_none());
}

#[tokio::test]
async fn anonymous_record_is_an_unsupported_result() {
    let setup = Setup::new().await;

    let record = setup
        .execute("SELECT ROW(1, 'a')")
        .send()
        .await
        .expect_err("an anonymous record has no text conversion");
    let (error, status) = service_error(record);
    assert_eq!(status, 400);
    assert!(error.is_unsupported_result_exception(), "{error:?}");

    let named = setup
        .execute("SELECT ROW(1, 'a')::text, ARRAY['1 day'::interval]")
        .send()
        .await
        .expect("text forms of other types");
    assert_eq!(
        row(&named, 0),
        [
            Field::StringValue("(1,a)".into()),
            Field::StringValue("{\"1 day\"}".into()),
        ]
        .as_slice()
    );
}

#[tokio::test]
async fn column_metadata_describes_columns_as_pgjdbc_does() {
    let setup = Setup::new().await;
    setup
        .db
        .execute(
            "CREATE TABLE orders (id serial PRIMARY KEY, customer varchar(40) NOT NULL,
                                  total numeric(10, 2), placed timestamptz, tags text[])",
        )
        .await
        .expect("the table exists");

    let output = setup
        .execute("SELECT id, customer AS who, total, placed, tags, 1 + 1 AS two FROM orders")
        .include_result_metadata(true)
        .send()
        .await
        .expect("the select runs");

    assert!(output.records().is_empty());
    let columns = output.column_metadata();
    let summary: Vec<Described> = columns
        .iter()
        .map(|c| {
            (
                c.name(),
                c.label(),
                c.type_name(),
                c.r#type(),
                c.nullable(),
                c.precision(),
                c.scale(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (Some("id"), Some("id"), Some("serial"), 4, 0, 10, 0),
            (Some("who"), Some("who"), Some("varchar"), 12, 0, 40, 0),
            (Some("total"), Some("total"), Some("numeric"), 2, 1, 10, 2),
            (
                Some("placed"),
                Some("placed"),
                Some("timestamptz"),
                93,
                1,
                35,
                6
            ),
            (
                Some("tags"),
                Some("tags"),
                Some("_text"),
                2003,
                1,
                i32::MAX,
                0
            ),
            (Some("two"), Some("two"), Some("int4"), 4, 1, 10, 0),
        ]
    );
    assert!(columns[0].is_auto_increment() && !columns[1].is_auto_increment());
    assert!(columns[0].is_signed() && !columns[1].is_signed());
    assert!(columns[1].is_case_sensitive() && !columns[2].is_case_sensitive());
    assert_eq!(columns[4].array_base_column_type(), 12, "text elements");
    assert_eq!(columns[0].array_base_column_type(), 0);
    let tables: Vec<Option<&str>> = columns.iter().map(|c| c.table_name()).collect();
    assert_eq!(
        tables,
        vec![
            Some("orders"),
            Some("orders"),
            Some("orders"),
            Some("orders"),
            Some("orders"),
            Some("")
        ]
    );
    assert!(columns.iter().all(|c| c.schema_name() == Some("")));
}

#[tokio::test]
async fn json_format_returns_formatted_records_keyed_by_label() {
    let setup = Setup::new().await;

    let output = setup
        .execute(
            "SELECT 1 AS id, 'Ada' AS name, 9.99::numeric AS price, true AS ok, NULL AS none, \
                    2.5::float8 AS ratio, ARRAY[1, 2] AS list, '\\x01'::bytea AS raw",
        )
        .format_records_as(RecordsFormatType::Json)
        .include_result_metadata(true)
        .send()
        .await
        .expect("the select runs");

    assert!(output.records().is_empty(), "no records with JSON");
    assert!(output.column_metadata().is_empty(), "no metadata with JSON");
    let formatted: Value =
        serde_json::from_str(output.formatted_records().expect("formatted records"))
            .expect("formattedRecords is JSON");
    assert_eq!(
        formatted,
        json!([{
            "id": 1, "name": "Ada", "price": "9.99", "ok": true, "none": null,
            "ratio": 2.5, "list": [1, 2], "raw": "AQ==",
        }])
    );

    let duplicate = setup
        .execute("SELECT 1 AS a, 2 AS a")
        .format_records_as(RecordsFormatType::Json)
        .send()
        .await
        .expect_err("duplicate labels cannot be keys");
    let (error, status) = service_error(duplicate);
    assert!(error.is_bad_request_exception(), "{error:?}");
    assert_eq!(status, 400);
}

#[tokio::test]
async fn result_set_options_turn_decimals_into_numbers_and_longs_into_strings() {
    let setup = Setup::new().await;

    let output = setup
        .execute("SELECT 12.50::numeric AS d, 7::numeric AS whole, 42::int8 AS n")
        .result_set_options(
            ResultSetOptions::builder()
                .decimal_return_type(DecimalReturnType::DoubleOrLong)
                .long_return_type(LongReturnType::String)
                .build(),
        )
        .send()
        .await
        .expect("the select runs");

    assert_eq!(
        row(&output, 0),
        [
            Field::DoubleValue(12.5),
            Field::LongValue(7),
            Field::StringValue("42".into()),
        ]
        .as_slice(),
        "a whole decimal becomes a long; longReturnType applies to integer columns only"
    );
}

#[tokio::test]
async fn named_parameters_bind_outside_literals_and_casts() {
    let setup = Setup::new().await;

    let output = setup
        .execute(
            "SELECT :id::int8 + 1 AS next, ':id and :name' AS literal, :name AS name, \
                    \":id\" FROM (SELECT 5 AS \":id\") AS quoted -- :name",
        )
        .parameters(string("id", "41"))
        .parameters(string("name", "Ada"))
        .send()
        .await
        .expect("the select runs");

    assert_eq!(
        row(&output, 0),
        [
            Field::LongValue(42),
            Field::StringValue(":id and :name".into()),
            Field::StringValue("Ada".into()),
            Field::LongValue(5),
        ]
        .as_slice()
    );
    let recorded = setup.standin.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].operation, Operation::ExecuteStatement);
    assert_eq!(recorded[0].parameter_names, vec!["id", "name"]);
    assert!(
        recorded[0]
            .sql
            .as_deref()
            .is_some_and(|sql| sql.starts_with("SELECT :id::int8"))
    );
}

#[tokio::test]
async fn each_value_kind_binds_as_the_type_pgjdbc_sends() {
    let setup = Setup::new().await;
    let parameter =
        |name: &str, value: Field| SqlParameter::builder().name(name).value(value).build();

    let output = setup
        .execute(
            "SELECT pg_typeof(:s)::text, pg_typeof(:l)::text, pg_typeof(:d)::text, \
                    pg_typeof(:b)::text, pg_typeof(:blob)::text, :d, :b, :blob, \
                    CAST(:nothing AS int4) IS NULL",
        )
        .parameters(string("s", "text"))
        .parameters(long("l", i64::MIN))
        .parameters(parameter("d", Field::DoubleValue(-0.25)))
        .parameters(parameter("b", Field::BooleanValue(false)))
        .parameters(parameter(
            "blob",
            Field::BlobValue(Blob::new(vec![1, 2, 255])),
        ))
        .parameters(parameter("nothing", Field::IsNull(true)))
        .send()
        .await
        .expect("the select runs");

    assert_eq!(
        row(&output, 0),
        [
            Field::StringValue("character varying".into()),
            Field::StringValue("bigint".into()),
            Field::StringValue("double precision".into()),
            Field::StringValue("boolean".into()),
            Field::StringValue("bytea".into()),
            Field::DoubleValue(-0.25),
            Field::BooleanValue(false),
            Field::BlobValue(Blob::new(vec![1, 2, 255])),
            Field::BooleanValue(true),
        ]
        .as_slice()
    );
}

#[tokio::test]
async fn type_hints_turn_strings_into_typed_values() {
    let setup = Setup::new().await;
    setup
        .db
        .execute(
            "CREATE TABLE events (day date, at timestamp, clock time, amount numeric(8, 2),
                                  id uuid, doc jsonb)",
        )
        .await
        .expect("the table exists");

    let inserted = setup
        .execute("INSERT INTO events VALUES (:day, :at, :clock, :amount, :id, :doc)")
        .parameters(hinted("day", "2024-05-06", TypeHint::Date))
        .parameters(hinted("at", "2024-05-06 07:08:09.123", TypeHint::Timestamp))
        .parameters(hinted("clock", "23:59:58", TypeHint::Time))
        .parameters(hinted("amount", "19.90", TypeHint::Decimal))
        .parameters(hinted(
            "id",
            "6f1c2a52-8f7e-4d43-9c55-3f3e6c1f0b2a",
            TypeHint::Uuid,
        ))
        .parameters(hinted("doc", "{\"k\": 1}", TypeHint::Json))
        .send()
        .await
        .expect("the insert runs");
    assert_eq!(inserted.number_of_records_updated(), 1);
    assert!(inserted.records().is_empty());
    assert!(inserted.generated_fields().is_empty());

    let output = setup
        .execute("SELECT * FROM events")
        .send()
        .await
        .expect("the select runs");
    assert_eq!(
        row(&output, 0),
        [
            Field::StringValue("2024-05-06".into()),
            Field::StringValue("2024-05-06 07:08:09.123".into()),
            Field::StringValue("23:59:58".into()),
            Field::StringValue("19.90".into()),
            Field::StringValue("6f1c2a52-8f7e-4d43-9c55-3f3e6c1f0b2a".into()),
            Field::StringValue("{\"k\": 1}".into()),
        ]
        .as_slice()
    );

    let nulls = setup
        .execute("INSERT INTO events (day, amount) VALUES (:day, :amount)")
        .parameters(
            SqlParameter::builder()
                .name("day")
                .value(Field::IsNull(true))
                .build(),
        )
        .parameters(
            SqlParameter::builder()
                .name("amount")
                .value(Field::IsNull(true))
                .type_hint(TypeHint::Decimal)
                .build(),
        )
        .send()
        .await
        .expect("untyped and hinted NULLs insert");
    assert_eq!(nulls.number_of_records_updated(), 1);
    assert_eq!(
        setup
            .count("SELECT count(*) FROM events WHERE day IS NULL AND amount IS NULL")
            .await,
        1
    );

    let unhinted = setup
        .execute("INSERT INTO events (day) VALUES (:day)")
        .parameters(string("day", "2024-05-06"))
        .send()
        .await
        .expect_err("a string is not a date without a hint");
    let (error, _) = service_error(unhinted);
    assert!(
        error.message().is_some_and(|m| m.contains(
            "column \"day\" is of type date but expression is of type character varying"
        )),
        "{error:?}"
    );
}

#[tokio::test]
async fn string_parameter_compared_with_integer_column_is_a_database_error() {
    let setup = Setup::new().await;
    setup
        .db
        .execute("CREATE TABLE orders (id int4); INSERT INTO orders VALUES (7)")
        .await
        .expect("the table exists");

    let mismatch = setup
        .execute("SELECT id FROM orders WHERE id = :id")
        .parameters(string("id", "7"))
        .send()
        .await
        .expect_err("integer = varchar has no operator");
    let (error, status) = service_error(mismatch);
    assert!(error.is_database_error_exception(), "{error:?}");
    assert_eq!(status, 400);
    let message = error.message().expect("a message");
    assert!(
        message.starts_with("ERROR: operator does not exist: integer = character varying")
            && message.contains("\n  Hint: No operator matches")
            && message.ends_with("; SQLState: 42883"),
        "{message}"
    );

    let cast = setup
        .execute("SELECT id FROM orders WHERE id = CAST(:id AS int4)")
        .parameters(string("id", "7"))
        .send()
        .await
        .expect("a cast makes it work");
    assert_eq!(row(&cast, 0), [Field::LongValue(7)].as_slice());
    let long = setup
        .execute("SELECT id FROM orders WHERE id = :id")
        .parameters(long("id", 7))
        .send()
        .await
        .expect("a long compares with an integer");
    assert_eq!(long.records().len(), 1);
}

#[tokio::test]
async fn syntax_error_reports_database_error_with_position_and_sql_state() {
    let setup = Setup::new().await;

    let failed = setup.execute("SELEC 1").send().await.expect_err("not SQL");
    let (error, status) = service_error(failed);
    assert_eq!(status, 400);
    assert_eq!(error.code(), Some("DatabaseErrorException"));
    assert!(error.is_database_error_exception());
    assert_eq!(
        error.message(),
        Some("ERROR: syntax error at or near \"SELEC\"\n  Position: 1; SQLState: 42601")
    );
}

#[tokio::test]
async fn read_only_role_can_read_but_not_write() {
    let setup = Setup::new().await;
    setup
        .db
        .execute("CREATE TABLE orders (id int4); INSERT INTO orders VALUES (1)")
        .await
        .expect("the table exists");
    let (_, reader) = setup.role_secret("reader", &["SELECT ON orders"]).await;

    let read = setup
        .client
        .execute_statement()
        .resource_arn(CLUSTER_ARN)
        .secret_arn(&reader)
        .sql("SELECT count(*) FROM orders")
        .send()
        .await
        .expect("the reader may read");
    assert_eq!(row(&read, 0), [Field::LongValue(1)].as_slice());

    let write = setup
        .client
        .execute_statement()
        .resource_arn(CLUSTER_ARN)
        .secret_arn(&reader)
        .sql("INSERT INTO orders VALUES (2)")
        .send()
        .await
        .expect_err("the reader may not write");
    let (error, status) = service_error(write);
    assert_eq!(status, 400);
    assert!(error.is_database_error_exception(), "{error:?}");
    assert_eq!(
        error.message(),
        Some("ERROR: permission denied for table orders; SQLState: 42501")
    );
    assert_eq!(setup.count("SELECT count(*) FROM orders").await, 1);
}

#[tokio::test]
async fn statement_timeout_is_reported_as_statement_timeout_exception() {
    let setup = Setup::new().await;
    let (role, secret) = setup.role_secret("hasty", &[]).await;
    setup
        .db
        .execute(&format!(
            "ALTER ROLE \"{role}\" SET statement_timeout = '200ms'"
        ))
        .await
        .expect("the role gets a statement timeout");

    let started = Instant::now();
    let slow = setup
        .client
        .execute_statement()
        .resource_arn(CLUSTER_ARN)
        .secret_arn(&secret)
        .sql("SELECT pg_sleep(5)")
        .send()
        .await
        .expect_err("the statement is cancelled");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    let (error, status) = service_error(slow);
    assert_eq!(status, 400);
    let ExecuteStatementError::StatementTimeoutException(timeout) = error else {
        panic!("expected StatementTimeoutException, got {error:?}");
    };
    assert!(timeout.db_connection_id > 0);
    assert_eq!(
        timeout.message(),
        Some("ERROR: canceling statement due to statement timeout; SQLState: 57014")
    );
}

#[tokio::test]
async fn call_timeout_cancels_the_statement_unless_asked_to_continue() {
    let setup = Setup::new().await;
    setup
        .db
        .execute("CREATE TABLE marks (n int4)")
        .await
        .expect("the table exists");
    let options = Options {
        call_timeout: Duration::from_millis(300),
        ..Options::default()
    };
    let secrets = secrets_manager_client(&setup.moto.endpoint).await;
    let standin = RdsDataStandIn::bind(([127, 0, 0, 1], 0).into(), secrets, options)
        .await
        .expect("the stand-in starts");
    let client = client(&standin.endpoint).await;
    let slow_insert = |n: i64, keep_going: bool| {
        client
            .execute_statement()
            .resource_arn(CLUSTER_ARN)
            .secret_arn(&setup.admin_secret)
            .sql("INSERT INTO marks SELECT :n FROM pg_sleep(1)")
            .parameters(long("n", n))
            .continue_after_timeout(keep_going)
            .send()
    };

    for (n, keep_going) in [(1, false), (2, true)] {
        let timed_out = slow_insert(n, keep_going)
            .await
            .expect_err("the call outlives its timeout");
        let (error, status) = service_error(timed_out);
        assert_eq!(status, 400);
        let ExecuteStatementError::StatementTimeoutException(timeout) = error else {
            panic!("expected StatementTimeoutException, got {error:?}");
        };
        assert!(timeout.db_connection_id > 0);
        assert!(
            timeout
                .message()
                .is_some_and(|m| m.contains("call timeout")),
            "{timeout:?}"
        );
    }

    let deadline = Instant::now() + Duration::from_secs(10);
    while setup.count("SELECT count(*) FROM marks WHERE n = 2").await == 0 {
        assert!(
            Instant::now() < deadline,
            "the continued insert never finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        setup.count("SELECT count(*) FROM marks WHERE n = 1").await,
        0,
        "the cancelled insert left nothing"
    );
}

#[tokio::test]
async fn committed_transaction_persists_and_rolled_back_one_does_not() {
    let setup = Setup::new().await;
    setup
        .db
        .execute("CREATE TABLE notes (body text)")
        .await
        .expect("the table exists");
    let begin = || {
        setup
            .client
            .begin_transaction()
            .resource_arn(CLUSTER_ARN)
            .secret_arn(&setup.admin_secret)
            .send()
    };

    let kept = begin().await.expect("a transaction begins");
    let kept = kept.transaction_id().expect("an id").to_owned();
    setup
        .execute("INSERT INTO notes VALUES (:body)")
        .parameters(string("body", "kept"))
        .transaction_id(&kept)
        .send()
        .await
        .expect("the insert runs in the transaction");
    assert_eq!(
        setup.count("SELECT count(*) FROM notes").await,
        0,
        "not yet committed"
    );
    let committed = setup
        .client
        .commit_transaction()
        .resource_arn(CLUSTER_ARN)
        .secret_arn(&setup.admin_secret)
        .transaction_id(&kept)
        .send()
        .await
        .expect("the transaction commits");
    assert_eq!(
        committed.transaction_status(),
        Some("Transaction Committed")
    );
    assert_eq!(setup.count("SELECT count(*) FROM notes").await, 1);

    let dropped = begin().await.expect("a transaction begins");
    let dropped = dropped.transaction_id().expect("an id").to_owned();
    setup
        .execute("INSERT INTO notes VALUES ('dropped')")
        .transaction_id(&dropped)
        .send()
        .await
        .expect("the insert runs in the transaction");
    let rolled_back = setup
        .client
        .rollback_transaction()
        .resource_arn(CLUSTER_ARN)
        .secret_arn(&setup.admin_secret)
        .transaction_id(&dropped)
        .send()
        .await
        .expect("the transaction rolls back");
    assert_eq!(rolled_back.transaction_status(), Some("Rollback Complete"));
    assert_eq!(setup.count("SELECT count(*) FROM notes").await, 1);
    assert_eq!(setup.standin.open_transactions(), 0);

    let ended = setup
        .execute("SELECT 1")
        .transaction_id(&kept)
        .send()
        .await
        .expect_err("a committed transaction is gone");
    let (error, status) = service_error(ended);
    assert!(error.is_transaction_not_found_exception(), "{error:?}");
    assert_eq!(status, 404);
}

#[tokio::test]
async fn statement_error_in_a_transaction_ends_it() {
    let setup = Setup::new().await;
    setup
        .db
        .execute("CREATE TABLE notes (body text)")
        .await
        .expect("the table exists");
    let begun = setup
        .client
        .begin_transaction()
        .resource_arn(CLUSTER_ARN)
        .secret_arn(&setup.admin_secret)
        .send()
        .await
        .expect("a transaction begins");
    let id = begun.transaction_id().expect("an id");
    setup
        .execute("INSERT INTO notes VALUES ('lost')")
        .transaction_id(id)
        .send()
        .await
        .expect("the insert runs");

    let failed = setup
        .execute("SELECT no_such_column FROM notes")
        .transaction_id(id)
        .send()
        .await
        .expect_err("the column does not exist");
    assert!(service_error(failed).0.is_database_error_exception());
    let after = setup
        .execute("SELECT 1")
        .transaction_id(id)
        .send()
        .await
        .expect_err("the transaction was aborted");
    assert!(service_error(after).0.is_transaction_not_found_exception());
    assert_eq!(
        setup.count("SELECT count(*) FROM notes").await,
        0,
        "rolled back"
    );
    assert_eq!(setup.standin.open_transactions(), 0);
}

#[tokio::test]
async fn batch_execute_runs_every_set_in_one_transaction() {
    let setup = Setup::new().await;
    setup
        .db
        .execute("CREATE TABLE items (id int8 PRIMARY KEY, name text)")
        .await
        .expect("the table exists");
    let batch = |sets: Vec<Vec<SqlParameter>>| {
        setup
            .client
            .batch_execute_statement()
            .resource_arn(CLUSTER_ARN)
            .secret_arn(&setup.admin_secret)
            .sql("INSERT INTO items VALUES (:id, :name)")
            .set_parameter_sets(Some(sets))
            .send()
    };

    let inserted = batch(
        (1..=3)
            .map(|i| vec![long("id", i), string("name", &format!("item {i}"))])
            .collect(),
    )
    .await
    .expect("the batch runs");
    assert_eq!(inserted.update_results().len(), 3);
    assert!(
        inserted
            .update_results()
            .iter()
            .all(|r| r.generated_fields().is_empty())
    );
    assert_eq!(setup.count("SELECT count(*) FROM items").await, 3);

    let clash = batch(vec![
        vec![long("id", 4), string("name", "new")],
        vec![long("id", 1), string("name", "duplicate")],
    ])
    .await
    .expect_err("the second set violates the key");
    match clash {
        SdkError::ServiceError(service) => {
            assert!(
                service.err().is_database_error_exception(),
                "{:?}",
                service.err()
            );
            assert!(
                service
                    .err()
                    .message()
                    .is_some_and(|m| m.contains("SQLState: 23505")),
                "{:?}",
                service.err()
            );
        }
        other => panic!("expected a service error, got {other:?}"),
    }
    assert_eq!(
        setup.count("SELECT count(*) FROM items").await,
        3,
        "the first set was rolled back with the second"
    );
    let recorded = setup.standin.requests();
    assert_eq!(recorded[0].operation, Operation::BatchExecuteStatement);
    assert_eq!(recorded[0].parameter_names, vec!["id", "name"]);
}

#[tokio::test]
async fn unknown_secret_is_a_secrets_error() {
    let setup = Setup::new().await;

    let failed = setup
        .client
        .execute_statement()
        .resource_arn(CLUSTER_ARN)
        .secret_arn("arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf")
        .sql("SELECT 1")
        .send()
        .await
        .expect_err("the secret does not exist");
    let (error, status) = service_error(failed);
    assert_eq!(status, 400);
    assert!(error.is_secrets_error_exception(), "{error:?}");
    assert!(
        error
            .message()
            .is_some_and(|m| m.contains("can't find the specified secret")),
        "{error:?}"
    );
}

#[tokio::test]
async fn malformed_calls_are_bad_requests() {
    let setup = Setup::new().await;

    let bad_arn = setup
        .client
        .execute_statement()
        .resource_arn("arn:aws:rds:us-east-1:123456789012:db:instance")
        .secret_arn(&setup.admin_secret)
        .sql("SELECT 1")
        .send()
        .await
        .expect_err("not a cluster ARN");
    let (error, status) = service_error(bad_arn);
    assert!(error.is_bad_request_exception(), "{error:?}");
    assert_eq!(status, 400);

    let array = setup
        .execute("SELECT :ids")
        .parameters(
            SqlParameter::builder()
                .name("ids")
                .value(Field::ArrayValue(ArrayValue::LongValues(vec![Some(1)])))
                .build(),
        )
        .send()
        .await
        .expect_err("array parameters are not supported");
    let (error, _) = service_error(array);
    assert!(error.is_bad_request_exception(), "{error:?}");
    assert!(
        error
            .message()
            .is_some_and(|m| m.contains("Array parameters are not supported"))
    );
}

#[tokio::test]
async fn result_over_one_mebibyte_is_refused() {
    let setup = Setup::new().await;

    let large = setup
        .execute("SELECT repeat('x', 600000) FROM generate_series(1, 2)")
        .send()
        .await
        .expect_err("1.2 MB of result data");
    let (error, status) = service_error(large);
    assert_eq!(status, 400);
    assert!(error.is_bad_request_exception(), "{error:?}");
    assert_eq!(
        error.message(),
        Some("Database returned more than the allowed response size limit")
    );
    let fits = setup
        .execute("SELECT repeat('x', 600000)")
        .send()
        .await
        .expect("600 kB fit");
    assert_eq!(fits.records().len(), 1);
}

#[tokio::test]
async fn binary_serves_the_sdk_and_stops_on_sigterm() {
    let setup = Setup::new().await;
    let mut env = setup.moto.sdk_env();
    env.push(("RDS_DATA_STANDIN_PORT".into(), "0".into()));
    let mut server = ServerProcess::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_rds-data-standin")),
        &[],
        &env,
    )
    .await
    .expect("the stand-in binary starts");
    let client = client(&format!("http://{}", server.address)).await;

    let output = client
        .execute_statement()
        .resource_arn(CLUSTER_ARN)
        .secret_arn(&setup.admin_secret)
        .sql("SELECT current_database()::text")
        .send()
        .await
        .expect("the binary runs the statement");
    assert_eq!(
        row(&output, 0),
        [Field::StringValue(setup.db.name().to_owned())].as_slice()
    );

    let status = server
        .terminate(Duration::from_secs(10))
        .await
        .expect("the binary stops on SIGTERM");
    assert!(status.success(), "{status:?}");
}
