//! Relationships between PostgreSQL tables through a query's `joins`, end to end.

use serde_json::{json, Value};

use crate::support::pg::PgCluster;
use crate::support::ripple::{free_port, Ripple};

const SCHEMA: &str = "
CREATE TABLE vehicles (id SERIAL PRIMARY KEY, plate TEXT, color TEXT);
CREATE TABLE orders (id SERIAL PRIMARY KEY, plate TEXT, item TEXT);
CREATE PUBLICATION pickup FOR ALL TABLES;
INSERT INTO vehicles (plate, color) VALUES ('AAA', 'red'), ('BBB', 'blue');
INSERT INTO orders (plate, item) VALUES ('AAA', 'tea'), (NULL, 'jam');
";

fn config(database: &str, pg_port: u16, api_port: u16) -> String {
    format!(
        r#"id: pickup
port: {api_port}
sources:
  - kind: postgres
    id: shop
    host: 127.0.0.1
    port: {pg_port}
    database: {database}
    user: postgres
    tables: [public.vehicles, public.orders]
    slot_name: slot_{database}
    publication_name: pickup
    bootstrap_provider: {{type: postgres}}
queries:
  - id: ready-for-pickup
    query: |
      MATCH (o:orders)-[:PICKUP_BY]->(v:vehicles)
      RETURN o.item AS item, v.color AS color
    sources:
      - source_id: shop
        nodes: [orders, vehicles]
    joins:
      - id: PICKUP_BY
        keys:
          - {{label: vehicles, property: plate}}
          - {{label: orders, property: plate}}
  - id: orders-per-color
    query: |
      MATCH (v:vehicles)
      OPTIONAL MATCH (v)-[:PICKUP_BY]-(o:orders)
      RETURN v.color AS color, count(o) AS orders
    sources:
      - source_id: shop
        nodes: [orders, vehicles]
    joins:
      - id: PICKUP_BY
        keys:
          - {{label: vehicles, property: plate}}
          - {{label: orders, property: plate}}
reactions: []
"#
    )
}

fn sorted(mut rows: Vec<Value>) -> Vec<Value> {
    rows.sort_by_key(|r| r.to_string());
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn joins_relate_rows_of_two_tables_and_follow_changes() {
    let pg = PgCluster::shared();
    let database = pg.create_database("joins").await;
    let db = pg.client(&database).await;
    db.batch_execute(SCHEMA).await.expect("schema");
    let api_port = free_port();
    let ripple = Ripple::start(&config(&database, pg.port, api_port), api_port, &[]).await;
    ripple.wait_streaming("shop").await;

    assert_eq!(
        ripple.results("ready-for-pickup").await,
        vec![json!({"item": "tea", "color": "red"})]
    );
    assert_eq!(
        sorted(ripple.results("orders-per-color").await),
        vec![json!({"color": "blue", "orders": 0}), json!({"color": "red", "orders": 1})]
    );

    // The unmatched order gets a plate; then a vehicle changes its plate away.
    db.execute("UPDATE orders SET plate = 'BBB' WHERE item = 'jam'", &[]).await.unwrap();
    db.execute("UPDATE vehicles SET plate = 'ZZZ' WHERE color = 'red'", &[]).await.unwrap();
    let expected = vec![json!({"item": "jam", "color": "blue"})];
    ripple
        .wait_for("the join to follow both updates", || async {
            ripple.results("ready-for-pickup").await == expected
        })
        .await;
    assert_eq!(
        sorted(ripple.results("orders-per-color").await),
        vec![json!({"color": "blue", "orders": 1}), json!({"color": "red", "orders": 0})]
    );
    drop(ripple);
    pg.drop_slots(&database).await;
}
